//! The API server as a client of nodes' endpoints (the kubelet's port):
//! HTTPS with the `kube-apiserver-kubelet-client` certificate, the node's
//! certificate checked against the cluster CA unless a request asks
//! otherwise (`insecureSkipTLSVerifyBackend`). Failures read as Go's
//! `net/http` client reports them, which is what upstream shows.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use capstan_tls::AnyCertificate;
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue, USER_AGENT};
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::pki::Pki;

/// How long a node has to accept the connection: one that does not is
/// unreachable, and the request fails rather than hangs.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the TLS handshake and then the response headers may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// Clients of nodes' endpoints: one checking their certificates, one not.
pub struct KubeletClient {
    verified: TlsConnector,
    insecure: TlsConnector,
}

impl KubeletClient {
    pub fn new(pki: &Pki) -> Result<KubeletClient, String> {
        let error = |what: &str, e: &dyn std::fmt::Display| format!("{what}: {e}");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(pki.ca_cert()).map_err(|e| error("CA", &e))? {
            roots
                .add(cert.map_err(|e| error("CA", &e))?)
                .map_err(|e| error("CA", &e))?;
        }
        let identity = || -> Result<_, String> {
            let what = "kubelet client certificate";
            let chain: Vec<CertificateDer<'static>> =
                CertificateDer::pem_file_iter(pki.kubelet_client_cert())
                    .map_err(|e| error(what, &e))?
                    .collect::<Result<_, _>>()
                    .map_err(|e| error(what, &e))?;
            let key = PrivateKeyDer::from_pem_file(pki.kubelet_client_key())
                .map_err(|e| error(what, &e))?;
            Ok((chain, key))
        };
        let builder = || {
            rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| error("TLS", &e))
        };
        let (chain, key) = identity()?;
        let verified = builder()?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| error("TLS", &e))?;
        let (chain, key) = identity()?;
        let insecure = builder()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate::new(provider.clone())))
            .with_client_auth_cert(chain, key)
            .map_err(|e| error("TLS", &e))?;
        Ok(KubeletClient {
            verified: TlsConnector::from(Arc::new(verified)),
            insecure: TlsConnector::from(Arc::new(insecure)),
        })
    }

    /// GET `https://host:port{path}` (path with its query). Fails with
    /// Go's wording: `Get "URL": dial tcp HOST:PORT: connect: connection
    /// refused`.
    pub async fn get(
        &self,
        host: &str,
        port: u16,
        path: &str,
        skip_verify: bool,
    ) -> Result<Response<Incoming>, String> {
        self.send(host, port, Method::GET, path, HeaderMap::new(), skip_verify)
            .await
    }

    /// Sends `method path` with `headers` (an upgrade request's, say) to
    /// the node. The connection is kept for an upgrade: a 101 answer's
    /// `hyper::upgrade::on` gives the node's side of the stream.
    pub async fn send(
        &self,
        host: &str,
        port: u16,
        method: Method,
        path: &str,
        headers: HeaderMap,
        skip_verify: bool,
    ) -> Result<Response<Incoming>, String> {
        let authority = match host.parse::<IpAddr>() {
            Ok(IpAddr::V6(v6)) => format!("[{v6}]:{port}"),
            _ => format!("{host}:{port}"),
        };
        let url = format!("https://{authority}{path}");
        let verb = method.as_str().to_ascii_lowercase();
        let verb = verb[..1].to_ascii_uppercase() + &verb[1..];
        let failed = |why: String| format!("{verb} {url:?}: {why}");
        let dial = |why: String| failed(format!("dial tcp {authority}: {why}"));
        let tcp = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&authority)).await
        {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(error)) => return Err(dial(connect_error(&error))),
            Err(_) => return Err(dial("i/o timeout".into())),
        };
        let _ = tcp.set_nodelay(true);
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| failed(format!("invalid host: {e}")))?;
        let connector = if skip_verify {
            &self.insecure
        } else {
            &self.verified
        };
        let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, connector.connect(name, tcp)).await
        {
            Ok(Ok(tls)) => tls,
            Ok(Err(error)) => return Err(failed(tls_error(&error))),
            Err(_) => return Err(failed("net/http: TLS handshake timeout".into())),
        };
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| failed(e.to_string()))?;
        // The connection lives as long as the response body is read, or
        // the upgraded stream is used.
        tokio::spawn(async move {
            let _ = connection.with_upgrades().await;
        });
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .body(Empty::<Bytes>::new())
            .map_err(|e| failed(e.to_string()))?;
        *request.headers_mut() = headers;
        let own = [
            (hyper::header::HOST, HeaderValue::from_str(&authority)),
            (USER_AGENT, Ok(HeaderValue::from_static("kube-apiserver"))),
        ];
        for (name, value) in own {
            if let Ok(value) = value {
                request.headers_mut().entry(name).or_insert(value);
            }
        }
        match tokio::time::timeout(RESPONSE_TIMEOUT, sender.send_request(request)).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(error)) => Err(failed(error.to_string())),
            Err(_) => Err(failed("net/http: timeout awaiting response headers".into())),
        }
    }
}

/// A failed connect as Go words it.
fn connect_error(error: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    let why = match error.kind() {
        ConnectionRefused => "connection refused",
        NetworkUnreachable => "network is unreachable",
        HostUnreachable => "no route to host",
        TimedOut => return "i/o timeout".into(),
        _ => return format!("connect: {error}"),
    };
    format!("connect: {why}")
}

/// A failed handshake as Go words it, where it can.
fn tls_error(error: &std::io::Error) -> String {
    let text = error.to_string();
    if text.contains("UnknownIssuer") {
        return "tls: failed to verify certificate: x509: certificate signed by unknown authority"
            .into();
    }
    if text.contains("NotValidForName") {
        return format!("tls: failed to verify certificate: x509: {text}");
    }
    format!("tls: {text}")
}
