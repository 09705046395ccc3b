//! Health check node ports, as kube-proxy's service health server: for each
//! LoadBalancer Service with `externalTrafficPolicy: Local`, an HTTP server
//! on its `healthCheckNodePort` tells an external load balancer whether
//! this node has ready endpoints of it (200) or not (503), so the balancer
//! only sends traffic to nodes that keep it local.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::model::ProxyModel;

/// One Service's health check as the last sync found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthCheck {
    pub namespace: String,
    pub name: String,
    /// Ready endpoints on this node, summed over the Service's ports, as
    /// kube-proxy's `LocalReadyEndpoints` counts them.
    pub local_endpoints: usize,
}

/// The health checks `model` asks for, by node port.
pub fn health_checks(model: &ProxyModel) -> BTreeMap<u16, HealthCheck> {
    let mut checks: BTreeMap<u16, HealthCheck> = BTreeMap::new();
    for port in &model.service_ports {
        let Some(node_port) = port.health_check_node_port else {
            continue;
        };
        let local = port
            .endpoints
            .iter()
            .filter(|endpoint| endpoint.local && endpoint.ready)
            .count();
        let check = checks.entry(node_port).or_insert_with(|| HealthCheck {
            namespace: port.name.namespace.clone(),
            name: port.name.name.clone(),
            local_endpoints: 0,
        });
        check.local_endpoints += local;
    }
    checks
}

/// The running health check servers, started and stopped to match each
/// sync.
pub struct HealthServers {
    address: IpAddr,
    servers: Mutex<BTreeMap<u16, Server>>,
}

struct Server {
    namespace: String,
    name: String,
    local_endpoints: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Default for HealthServers {
    /// Servers on every address of the node, as kube-proxy's default.
    fn default() -> HealthServers {
        HealthServers::on(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }
}

impl HealthServers {
    /// Servers on `address` only (tests use loopback).
    pub fn on(address: IpAddr) -> HealthServers {
        HealthServers {
            address,
            servers: Mutex::new(BTreeMap::new()),
        }
    }

    /// Serves exactly `wanted`: new ports get a server, gone ones lose
    /// theirs, and the counts of the others are updated in place. A port
    /// that cannot be bound is logged and tried again at the next sync.
    /// Servers run on the calling thread's tokio runtime; outside one,
    /// none is started.
    pub fn sync(&self, wanted: &BTreeMap<u16, HealthCheck>) {
        let runtime = Handle::try_current().ok();
        let mut servers = self.servers.lock().unwrap_or_else(PoisonError::into_inner);
        servers.retain(|port, server| {
            wanted.get(port).is_some_and(|check| {
                check.namespace == server.namespace && check.name == server.name
            })
        });
        for (port, check) in wanted {
            if let Some(server) = servers.get(port) {
                server
                    .local_endpoints
                    .store(check.local_endpoints, Ordering::Relaxed);
                continue;
            }
            let Some(runtime) = runtime.as_ref() else {
                tracing::warn!(port, "no runtime to serve the health check node port on");
                continue;
            };
            let listener = match bind(SocketAddr::new(self.address, *port)) {
                Ok(listener) => listener,
                Err(error) => {
                    tracing::warn!(port, service = %format!("{}/{}", check.namespace, check.name), %error,
                        "cannot serve the health check node port");
                    continue;
                }
            };
            let local_endpoints = Arc::new(AtomicUsize::new(check.local_endpoints));
            let task = {
                let _entered = runtime.enter();
                let listener = match TcpListener::from_std(listener) {
                    Ok(listener) => listener,
                    Err(error) => {
                        tracing::warn!(port, %error, "cannot serve the health check node port");
                        continue;
                    }
                };
                runtime.spawn(serve(
                    listener,
                    check.namespace.clone(),
                    check.name.clone(),
                    local_endpoints.clone(),
                ))
            };
            servers.insert(
                *port,
                Server {
                    namespace: check.namespace.clone(),
                    name: check.name.clone(),
                    local_endpoints,
                    task,
                },
            );
        }
    }

    /// The ports served now.
    pub fn ports(&self) -> Vec<u16> {
        let servers = self.servers.lock().unwrap_or_else(PoisonError::into_inner);
        servers.keys().copied().collect()
    }
}

fn bind(address: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(address)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Answers every request on `listener` with the Service's local endpoint
/// count, until the task is aborted.
async fn serve(
    listener: TcpListener,
    namespace: String,
    name: String,
    local_endpoints: Arc<AtomicUsize>,
) {
    let identity = Arc::new((namespace, name));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of descriptors, most likely: do not spin.
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            continue;
        };
        let identity = identity.clone();
        let local_endpoints = local_endpoints.clone();
        tokio::spawn(async move {
            let service = service_fn(move |_request: Request<hyper::body::Incoming>| {
                let count = local_endpoints.load(Ordering::Relaxed);
                let response = answer(&identity.0, &identity.1, count);
                async move { Ok::<_, Infallible>(response) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// kube-proxy's answer: 200 with local endpoints, else 503, and the same
/// JSON body either way.
fn answer(namespace: &str, name: &str, local_endpoints: usize) -> Response<Full<Bytes>> {
    let status = if local_endpoints > 0 {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = format!(
        "{{\n\t\"service\": {{\n\t\t\"namespace\": {},\n\t\t\"name\": {}\n\t}},\n\t\"localEndpoints\": {local_endpoints},\n\t\"serviceProxyHealthy\": true\n}}",
        quoted(namespace),
        quoted(name),
    );
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert("Content-Type", "application/json".parse().expect("valid"));
    headers.insert("X-Content-Type-Options", "nosniff".parse().expect("valid"));
    headers.insert(
        "X-Load-Balancing-Endpoint-Weight",
        local_endpoints.to_string().parse().expect("digits"),
    );
    response
}

/// A name as a JSON string.
fn quoted(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

#[cfg(test)]
#[path = "health_tests.rs"]
mod tests;
