//! What the socket tests drive the controller with: backend HTTP servers
//! on loopback, a controller serving a given configuration, and clients.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use capstan_tls::AnyCertificate;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress as IngressObject;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::certificates::CertificateCache;
use crate::class::default_class;
use crate::config::{ClusterObjects, Config, SharedConfig};
use crate::testing::{endpoint_slice, service, SliceEndpoint};
use crate::{Ingress, IngressOptions};

/// Every wait in these tests ends within this.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(10);
/// The pause between the parts of the slow backend's response.
pub(crate) const SLOW_PART_PAUSE: Duration = Duration::from_millis(300);

type TestBody = UnsyncBoxBody<Bytes, Infallible>;

/// An HTTP/1.1 server on loopback that names itself in each answer:
/// `backend=NAME path=… host=… xff=… proto=… xfhost=… xfport=… body=…`.
/// `/slow` answers in three parts over a second; a request to upgrade to
/// `echo` switches protocols and echoes bytes.
pub(crate) struct TestBackend {
    pub(crate) addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for TestBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestBackend {
    pub(crate) async fn start(name: &'static str) -> TestBackend {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a backend");
        let addr = listener.local_addr().expect("backend address");
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let service = service_fn(move |request| answer(name, request));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await;
                });
            }
        });
        TestBackend { addr, task }
    }
}

async fn answer(
    name: &'static str,
    mut request: Request<Incoming>,
) -> Result<Response<TestBody>, Infallible> {
    if request
        .headers()
        .get("upgrade")
        .is_some_and(|value| value == "echo")
    {
        let upgrade = hyper::upgrade::on(&mut request);
        tokio::spawn(async move {
            if let Ok(upgraded) = upgrade.await {
                let mut io = TokioIo::new(upgraded);
                let mut buffer = [0u8; 1024];
                while let Ok(read) = io.read(&mut buffer).await {
                    if read == 0 || io.write_all(&buffer[..read]).await.is_err() {
                        break;
                    }
                }
            }
        });
        let response = Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header("connection", "upgrade")
            .header("upgrade", "echo")
            .body(full(""));
        return Ok(response.unwrap_or_default());
    }
    if request.uri().path() == "/slow" {
        let parts = futures_util::stream::unfold(0, |part| async move {
            if part == 3 {
                return None;
            }
            if part > 0 {
                tokio::time::sleep(SLOW_PART_PAUSE).await;
            }
            Some((
                Ok::<_, Infallible>(Frame::data(Bytes::from(format!("part{part};")))),
                part + 1,
            ))
        });
        return Ok(Response::new(StreamBody::new(parts).boxed_unsync()));
    }
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("-")
            .to_string()
    };
    let summary = format!(
        "backend={name} path={} host={} xff={} proto={} xfhost={} xfport={}",
        request.uri().path(),
        header("host"),
        header("x-forwarded-for"),
        header("x-forwarded-proto"),
        header("x-forwarded-host"),
        header("x-forwarded-port"),
    );
    let body = request
        .into_body()
        .collect()
        .await
        .map(|body| body.to_bytes())
        .unwrap_or_default();
    Ok(Response::new(full(&format!(
        "{summary} body={}",
        String::from_utf8_lossy(&body)
    ))))
}

fn full(text: &str) -> TestBody {
    Full::new(Bytes::from(text.to_string())).boxed_unsync()
}

/// Services each backed by one test backend: (service name, backend).
pub(crate) fn services_for(
    backends: &[(&str, &TestBackend)],
) -> (Vec<Arc<Service>>, Vec<Arc<EndpointSlice>>) {
    let services = backends
        .iter()
        .map(|(name, _)| service(name, &[("http", 80)]))
        .collect();
    let slices = backends
        .iter()
        .map(|(name, backend)| {
            endpoint_slice(
                name,
                &[("http", i32::from(backend.addr.port()))],
                &[SliceEndpoint::ready("127.0.0.1")],
            )
        })
        .collect();
    (services, slices)
}

/// The configuration for these objects, with the `capstan` class.
pub(crate) fn config(
    ingresses: &[Arc<IngressObject>],
    services: &[Arc<Service>],
    slices: &[Arc<EndpointSlice>],
    secrets: &[Arc<Secret>],
) -> Config {
    let lookup = |namespace: &str, name: &str| {
        secrets
            .iter()
            .find(|secret| {
                secret.metadata.namespace.as_deref() == Some(namespace)
                    && secret.metadata.name.as_deref() == Some(name)
            })
            .cloned()
    };
    let objects = ClusterObjects {
        classes: &[Arc::new(default_class())],
        ingresses,
        services,
        endpoint_slices: slices,
        secrets: &lookup,
    };
    Config::build(&objects, &mut CertificateCache::default())
}

/// A controller on loopback serving a configuration the test controls.
pub(crate) struct RunningIngress {
    pub(crate) http: SocketAddr,
    pub(crate) https: SocketAddr,
    pub(crate) config: Arc<SharedConfig>,
    /// The certificate presented when no Ingress has one for the name.
    pub(crate) default_certificate: Vec<u8>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RunningIngress {
    pub(crate) async fn start(config: Config) -> RunningIngress {
        let options = IngressOptions {
            node_name: "test".into(),
            http: "127.0.0.1:0".parse().expect("address"),
            https: "127.0.0.1:0".parse().expect("address"),
            manage_status: false,
        };
        let ingress = Ingress::bind(options)
            .await
            .expect("bind the ingress listeners");
        let (http, https) = ingress.local_addrs();
        let default_certificate = ingress
            .default_certificate
            .end_entity_cert()
            .map(|cert| cert.to_vec())
            .unwrap_or_default();
        let config = Arc::new(SharedConfig::new(config));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(ingress.serve_config(config.clone(), async move {
            let _ = stopped.await;
        }));
        RunningIngress {
            http,
            https,
            config,
            default_certificate,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops serving and waits for the drain.
    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(TIMEOUT, task).await;
        }
    }
}

impl Drop for RunningIngress {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// A plain-HTTP/1.1 connection to the controller.
pub(crate) struct HttpConnection {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl HttpConnection {
    pub(crate) async fn open(addr: SocketAddr) -> HttpConnection {
        let stream = TcpStream::connect(addr)
            .await
            .expect("connect to the ingress");
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("HTTP/1.1 handshake");
        tokio::spawn(connection);
        HttpConnection { sender }
    }

    /// Sends a request for `host` and `path` and returns the response head.
    pub(crate) async fn send(
        &mut self,
        method: &str,
        host: &str,
        path: &str,
        body: &str,
    ) -> Response<Incoming> {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", host)
            .header("x-forwarded-for", "6.6.6.6")
            .body(Full::new(Bytes::from(body.to_string())))
            .expect("request");
        self.sender.ready().await.expect("connection ready");
        self.sender.send_request(request).await.expect("response")
    }

    /// A GET on this connection: (status, body).
    pub(crate) async fn get(&mut self, host: &str, path: &str) -> (StatusCode, String) {
        let response = self.send("GET", host, path, "").await;
        (response.status(), body_text(response).await)
    }
}

/// A GET over a new plain-HTTP connection: (status, body).
pub(crate) async fn get(addr: SocketAddr, host: &str, path: &str) -> (StatusCode, String) {
    HttpConnection::open(addr).await.get(host, path).await
}

pub(crate) async fn body_text(response: Response<Incoming>) -> String {
    let body = response
        .into_body()
        .collect()
        .await
        .expect("response body")
        .to_bytes();
    String::from_utf8_lossy(&body).into_owned()
}

/// What an HTTPS exchange showed.
pub(crate) struct HttpsExchange {
    pub(crate) certificate: Vec<u8>,
    pub(crate) alpn: Option<Vec<u8>>,
    pub(crate) status: StatusCode,
    pub(crate) body: String,
}

/// A GET over HTTPS, with `sni` as the server name (None: no SNI) and
/// `alpn` offered; HTTP/2 when the server picks `h2`.
pub(crate) async fn https_get(
    addr: SocketAddr,
    sni: Option<&str>,
    host: &str,
    path: &str,
    alpn: &[&[u8]],
) -> HttpsExchange {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut client = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate::new(provider)))
        .with_no_client_auth();
    client.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
    client.enable_sni = sni.is_some();
    let name =
        ServerName::try_from(sni.unwrap_or("unnamed.invalid").to_string()).expect("server name");
    let stream = TcpStream::connect(addr)
        .await
        .expect("connect to the ingress");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(client))
        .connect(name, stream)
        .await
        .expect("TLS handshake");
    let (_, session) = tls.get_ref();
    let certificate = session
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|cert| cert.to_vec())
        .unwrap_or_default();
    let alpn = session.alpn_protocol().map(<[u8]>::to_vec);
    let response = if alpn.as_deref() == Some(b"h2") {
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
                .await
                .expect("HTTP/2 handshake");
        tokio::spawn(connection);
        let request = Request::builder()
            .uri(format!("https://{host}{path}"))
            .version(http::Version::HTTP_2)
            .body(Full::new(Bytes::new()))
            .expect("request");
        sender.send_request(request).await.expect("response")
    } else {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .expect("HTTP/1.1 handshake");
        tokio::spawn(connection);
        let request = Request::builder()
            .uri(path)
            .header("host", host)
            .body(Full::new(Bytes::new()))
            .expect("request");
        sender.send_request(request).await.expect("response")
    };
    let status = response.status();
    HttpsExchange {
        certificate,
        alpn,
        status,
        body: body_text(response).await,
    }
}

/// The port of a loopback socket nothing listens on.
pub(crate) async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("address").port()
}
