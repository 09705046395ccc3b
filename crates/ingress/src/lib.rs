//! capstan-ingress: the built-in ingress controller. Every node runs one;
//! it serves the Ingresses of the `capstan` IngressClass (the default
//! class) as an HTTP/1.1 and HTTP/2 reverse proxy on ports 80 and 443,
//! with upstream Ingress semantics: hosts and wildcard hosts, `Exact` and
//! `Prefix` paths, `defaultBackend`, TLS by SNI from Secrets, and
//! `status.loadBalancer` listing the nodes.
//!
//! ```no_run
//! # async fn run(client: kube::Client) -> Result<(), String> {
//! use capstan_ingress::{Ingress, IngressOptions};
//! let options = IngressOptions { node_name: "node-1".into(), ..IngressOptions::default() };
//! let ingress = Ingress::bind(options).await?;
//! ingress.serve(client, async { let _ = tokio::signal::ctrl_c().await; }).await;
//! # Ok(()) }
//! ```
//!
//! The pieces: [`class`] decides which Ingresses are served, [`routes`]
//! and `certificates` turn them into a routing table and certificates,
//! `cluster` keeps those current from kube reflectors, `proxy` and
//! `server` serve traffic, and `status` publishes the node addresses.

mod certificates;
pub mod class;
mod cluster;
mod config;
mod headers;
mod hosts;
mod proxy;
pub mod routes;
mod server;
mod status;
mod tls;

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use k8s_openapi::api::networking::v1::IngressClass;
use kube::{Api, Client};
use rustls::sign::CertifiedKey;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};

pub use class::{ClassSelection, CLASS_NAME, CONTROLLER};
pub use routes::{Backend, Route, RouteTable};

use cluster::Watches;
use config::SharedConfig;
use proxy::Proxy;
use status::StatusCaches;

/// How one node's ingress controller runs.
#[derive(Clone, Debug)]
pub struct IngressOptions {
    /// This node's name, for the log. (The addresses written to Ingress
    /// status are those of all Ready nodes.)
    pub node_name: String,
    /// Where plain HTTP is served [default 0.0.0.0:80].
    pub http: SocketAddr,
    /// Where HTTPS is served [default 0.0.0.0:443].
    pub https: SocketAddr,
    /// Whether this instance writes Ingress status and creates the
    /// IngressClass (only one per cluster needs to; every node serves
    /// traffic).
    pub manage_status: bool,
}

impl Default for IngressOptions {
    fn default() -> Self {
        IngressOptions {
            node_name: String::new(),
            http: SocketAddr::from(([0, 0, 0, 0], 80)),
            https: SocketAddr::from(([0, 0, 0, 0], 443)),
            manage_status: false,
        }
    }
}

/// An ingress controller with its listeners bound, ready to serve.
pub struct Ingress {
    options: IngressOptions,
    http: TcpListener,
    https: TcpListener,
    addrs: (SocketAddr, SocketAddr),
    /// Presented to TLS clients that name no host with a certificate.
    default_certificate: Arc<CertifiedKey>,
}

impl Ingress {
    /// Binds both listeners now (a taken port is an error string naming
    /// the address) and generates the default certificate.
    pub async fn bind(options: IngressOptions) -> Result<Ingress, String> {
        let http = listen(options.http).await?;
        let https = listen(options.https).await?;
        let local = |listener: &TcpListener, wanted: SocketAddr| {
            listener.local_addr().map_err(|error| {
                format!("ingress: cannot read the address bound for {wanted}: {error}")
            })
        };
        let addrs = (local(&http, options.http)?, local(&https, options.https)?);
        let default_certificate = Arc::new(certificates::default_certificate()?);
        Ok(Ingress {
            options,
            http,
            https,
            addrs,
            default_certificate,
        })
    }

    /// The bound (HTTP, HTTPS) addresses, with the ports chosen for port 0.
    pub fn local_addrs(&self) -> (SocketAddr, SocketAddr) {
        self.addrs
    }

    /// Watches IngressClasses, Ingresses, Services, EndpointSlices and TLS
    /// Secrets (and Nodes, when managing status) and serves until
    /// `shutdown` completes; open connections then get a while to finish.
    pub async fn serve(self, client: Client, shutdown: impl Future<Output = ()> + Send + 'static) {
        let config = Arc::new(SharedConfig::default());
        let config_changed = Arc::new(Notify::new());
        let status_changed = self.options.manage_status.then(|| Arc::new(Notify::new()));
        let mut watches = Watches::start(&client, config_changed.clone(), status_changed.clone());
        let mut tasks = std::mem::take(&mut watches.tasks);
        tasks.push(tokio::spawn(cluster::keep_config_current(
            watches.routing.clone(),
            config.clone(),
            config_changed,
        )));
        if let (Some(changed), Some(nodes)) = (status_changed, watches.nodes.clone()) {
            let api: Api<IngressClass> = Api::all(client.clone());
            tasks.push(tokio::spawn(class::ensure_class_exists(api)));
            let caches = StatusCaches {
                classes: watches.routing.classes.clone(),
                ingresses: watches.routing.ingresses.clone(),
                nodes,
            };
            tasks.push(tokio::spawn(status::keep_status_current(
                client, caches, changed,
            )));
        }
        self.serve_config(config, shutdown).await;
        for task in tasks {
            task.abort();
        }
    }

    /// Serves whatever `config` holds, however it is kept current, until
    /// `shutdown` completes.
    pub(crate) async fn serve_config(
        self,
        config: Arc<SharedConfig>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) {
        let acceptor = match tls::acceptor(config.clone(), self.default_certificate.clone()) {
            Ok(acceptor) => acceptor,
            Err(error) => {
                tracing::warn!(%error, "cannot serve HTTPS");
                return;
            }
        };
        let (stop, stopped) = watch::channel(false);
        let signal = tokio::spawn(async move {
            shutdown.await;
            let _ = stop.send(true);
        });
        let (http, https) = self.addrs;
        tracing::info!(node = %self.options.node_name, %http, %https, "ingress controller serving");
        let proxy = Arc::new(Proxy::new(config, https.port()));
        server::serve(self.http, self.https, proxy, acceptor, stopped).await;
        signal.abort();
        tracing::info!(node = %self.options.node_name, "ingress controller stopped");
    }
}

async fn listen(address: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(address)
        .await
        .map_err(|error| format!("ingress: cannot listen on {address}: {error}"))
}
