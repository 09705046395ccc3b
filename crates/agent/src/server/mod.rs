//! The node's HTTPS endpoint (the kubelet's port 10250), which the API
//! server proxies `pods/log`, `exec`, `attach` and `portforward` to:
//! `GET /containerLogs/{ns}/{pod}/{container}` with upstream's query
//! parameters, and the streams of stream.rs. Only clients with a certificate of
//! the cluster CA (the API server's `kube-apiserver-kubelet-client`) are
//! served; others get 401.

mod container;
pub mod logs;
mod stream;

use std::convert::Infallible;
use std::net::Ipv4Addr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use k8s_openapi::jiff::Timestamp;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

pub use container::Finder;
use container::Refusal;
use logs::LogOptions;
use stream::Kind;

/// The port upstream's kubelet serves on.
pub const DEFAULT_PORT: u16 = 10250;

/// How long a client has to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The serving certificate of a node's endpoint and the CA its clients'
/// certificates must come from, all PEM.
#[derive(Clone)]
pub struct ServingTls {
    pub ca_cert: String,
    pub cert: String,
    pub key: String,
}

impl std::fmt::Debug for ServingTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServingTls { .. }")
    }
}

type Body = BoxBody<Bytes, Infallible>;

/// Starts the endpoint on `0.0.0.0:port` (0 picks a free port); returns
/// the port it listens on and the task serving it (abort it to stop).
pub async fn start(
    port: u16,
    tls: Option<&ServingTls>,
    finder: Finder,
) -> Result<(u16, tokio::task::JoinHandle<()>), String> {
    let tls = tls_config(tls.ok_or("it has no serving certificate")?)?;
    let listener = bind(port).await?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    Ok((port, tokio::spawn(serve(listener, tls, finder))))
}

/// Listens on `0.0.0.0:port` (0 picks a free port).
pub async fn bind(port: u16) -> Result<TcpListener, String> {
    TcpListener::bind((Ipv4Addr::UNSPECIFIED, port))
        .await
        .map_err(|e| format!("cannot listen on 0.0.0.0:{port}: {e}"))
}

/// TLS that asks every client for a certificate of the cluster CA. A
/// client without one completes the handshake and is answered 401.
pub fn tls_config(tls: &ServingTls) -> Result<rustls::ServerConfig, String> {
    let error = |what: &str, e: &dyn std::fmt::Display| format!("{what}: {e}");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(tls.ca_cert.as_bytes()) {
        roots
            .add(cert.map_err(|e| error("CA", &e))?)
            .map_err(|e| error("CA", &e))?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()
    .map_err(|e| error("client verifier", &e))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(tls.cert.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| error("serving certificate", &e))?;
    let key =
        PrivateKeyDer::from_pem_slice(tls.key.as_bytes()).map_err(|e| error("serving key", &e))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| error("TLS", &e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| error("TLS", &e))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Serves connections until the task is dropped (which ends them all).
pub async fn serve(listener: TcpListener, tls: rustls::ServerConfig, finder: Finder) {
    let acceptor = TlsAcceptor::from(Arc::new(tls));
    let finder = Arc::new(finder);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!(%error, "node server: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (acceptor, finder) = (acceptor.clone(), finder.clone());
        connections.spawn(async move {
            let Ok(Ok(tls)) =
                tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
            else {
                return;
            };
            // The verifier only lets through certificates of the CA.
            let authenticated = tls
                .get_ref()
                .1
                .peer_certificates()
                .is_some_and(|c| !c.is_empty());
            let service = hyper::service::service_fn(move |request| {
                let finder = finder.clone();
                async move { Ok::<_, Infallible>(handle(&finder, request, authenticated).await) }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection_with_upgrades(TokioIo::new(tls), service)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
}

async fn handle(
    finder: &Finder,
    request: Request<Incoming>,
    authenticated: bool,
) -> Response<Body> {
    if !authenticated {
        return text(StatusCode::UNAUTHORIZED, "Unauthorized".into());
    }
    let path = request.uri().path().to_string();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["healthz"] => text(StatusCode::OK, "ok".into()),
        ["containerLogs", namespace, pod, container] => {
            if request.method() != Method::GET {
                return text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed".into());
            }
            container_logs(finder, namespace, pod, container, request.uri().query()).await
        }
        ["exec", namespace, pod, container] => {
            stream::serve(finder, Kind::Exec, request, namespace, pod, Some(container)).await
        }
        ["attach", namespace, pod, container] => {
            stream::serve(
                finder,
                Kind::Attach,
                request,
                namespace,
                pod,
                Some(container),
            )
            .await
        }
        ["portForward", namespace, pod] => {
            stream::serve(finder, Kind::PortForward, request, namespace, pod, None).await
        }
        _ => text(StatusCode::NOT_FOUND, "404 page not found\n".into()),
    }
}

/// Upstream's `getContainerLogs`.
async fn container_logs(
    finder: &Finder,
    namespace: &str,
    pod: &str,
    container: &str,
    query: Option<&str>,
) -> Response<Body> {
    let missing = |what: &str| {
        text(
            StatusCode::BAD_REQUEST,
            format!(r#"{{"message": "Missing {what}."}}"#),
        )
    };
    if pod.is_empty() {
        return missing("podID");
    }
    if container.is_empty() {
        return missing("container name");
    }
    if namespace.is_empty() {
        return missing("podNamespace");
    }
    let (options, previous) = match parse_query(query, Timestamp::now()) {
        Ok(parsed) => parsed,
        Err((status, message)) => return text(status, message),
    };
    let instance = match finder.find(namespace, pod, container, previous).await {
        Ok(instance) => instance,
        Err((status, message)) => return text(status, message),
    };
    let (path, read) = (instance.path.clone(), options.clone());
    let opened = tokio::task::spawn_blocking(move || logs::open(&path, &read)).await;
    let (file, start) = match opened {
        Ok(Ok(opened)) => opened,
        Ok(Err(message)) => return text(StatusCode::BAD_REQUEST, message),
        Err(error) => return text(StatusCode::INTERNAL_SERVER_ERROR, error.to_string()),
    };
    let (sender, received) = mpsc::channel(16);
    let cri = finder.cri.clone();
    let id = instance.id;
    tokio::spawn(async move {
        let running = || {
            let (cri, id) = (cri.clone(), id.clone());
            async move {
                match id {
                    Some(id) => Finder::running(&cri, &id).await,
                    None => false,
                }
            }
        };
        if let Err(error) = logs::stream(file, start, options, running, sender).await {
            tracing::debug!(%error, "reading a container log");
        }
    });
    let mut response = Response::new(ChannelBody(received).boxed());
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Reads `PodLogOptions` from the query, as the kubelet decodes them
/// (with the old `tail` parameter); returns them and `previous`.
fn parse_query(query: Option<&str>, now: Timestamp) -> Result<(LogOptions, bool), Refusal> {
    let undecodable = || {
        let message = r#"{"message": "Unable to decode query."}"#;
        (StatusCode::BAD_REQUEST, message.to_string())
    };
    let invalid = || {
        let message = r#"{"message": "Invalid request."}"#;
        (StatusCode::UNPROCESSABLE_ENTITY, message.to_string())
    };
    let mut options = LogOptions::default();
    let mut previous = false;
    let (mut since_seconds, mut since_time) = (None, None);
    let flag = |value: &str| match value {
        "true" | "1" | "True" | "TRUE" | "t" | "T" => Ok(true),
        "false" | "0" | "" | "False" | "FALSE" | "f" | "F" => Ok(false),
        _ => Err(()),
    };
    let number = |value: &str| value.parse::<i64>().map_err(|_| ());
    let pairs = form_urlencoded::parse(query.unwrap_or_default().as_bytes());
    let (mut tail, mut limit) = (None, None);
    for (key, value) in pairs {
        let parsed = match key.as_ref() {
            "follow" => flag(&value).map(|v| options.follow = v),
            "previous" => flag(&value).map(|v| previous = v),
            "timestamps" => flag(&value).map(|v| options.timestamps = v),
            "tailLines" => number(&value).map(|v| tail = Some(v)),
            "tail" if value == "all" => {
                tail = None;
                Ok(())
            }
            "tail" => number(&value).map(|v| tail = Some(v)),
            "limitBytes" => number(&value).map(|v| limit = Some(v)),
            "sinceSeconds" => number(&value).map(|v| since_seconds = Some(v)),
            "sinceTime" => value
                .parse::<Timestamp>()
                .map(|v| since_time = Some(v))
                .map_err(|_| ()),
            _ => Ok(()),
        };
        if parsed.is_err() {
            return Err(undecodable());
        }
    }
    options.tail = match tail {
        Some(lines) => Some(u64::try_from(lines).map_err(|_| invalid())?),
        None => None,
    };
    options.limit_bytes = match limit {
        Some(bytes) if bytes < 1 => return Err(invalid()),
        Some(bytes) => Some(bytes.unsigned_abs()),
        None => None,
    };
    match (since_seconds, since_time) {
        (Some(_), Some(_)) => return Err(invalid()),
        (Some(seconds), None) if seconds < 1 => return Err(invalid()),
        (Some(seconds), None) => {
            options.since = now
                .checked_sub(k8s_openapi::jiff::SignedDuration::from_secs(seconds))
                .ok();
        }
        (None, since) => options.since = since,
    }
    Ok((options, previous))
}

fn text(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body)).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// A response body fed by a channel: it ends when the sender does.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| Ok(Frame::data(c))))
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
