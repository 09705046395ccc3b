//! The reverse proxy: one request routed by the current configuration and
//! relayed to a backend endpoint over pooled HTTP/1.1 connections, bodies
//! streamed both ways, upgrades (WebSocket) tunnelled through.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST, LOCATION, UPGRADE};
use http::uri::{Authority, PathAndQuery};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body as _, Incoming};
use hyper::upgrade::OnUpgrade;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use crate::config::SharedConfig;
use crate::headers::{remove_hop_by_hop, requested_upgrade, set_forwarded, Forwarded};
use crate::hosts;
use crate::routes::Backend;

/// The body of requests to backends and of responses to clients.
pub(crate) type Body = UnsyncBoxBody<Bytes, hyper::Error>;

/// How long connecting to a backend endpoint may take (ingress-nginx's
/// `proxy-connect-timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an idle pooled backend connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How many endpoints a request without a body may try when connecting
/// fails (ingress-nginx's `proxy-next-upstream-tries`).
const MAX_ATTEMPTS: usize = 3;
/// ACME HTTP-01 challenges must stay reachable over plain HTTP for a
/// certificate to be issued, so they are never redirected.
const ACME_CHALLENGE_PREFIX: &str = "/.well-known/acme-challenge/";

/// The connection a request came in on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Connection {
    pub(crate) remote: SocketAddr,
    pub(crate) local: SocketAddr,
    pub(crate) tls: bool,
}

/// Routes and relays requests; shared by all connections of both listeners.
pub(crate) struct Proxy {
    config: Arc<SharedConfig>,
    client: Client<HttpConnector, Body>,
    /// The port of the HTTPS listener, for redirects to it.
    https_port: u16,
}

impl Proxy {
    pub(crate) fn new(config: Arc<SharedConfig>, https_port: u16) -> Proxy {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(connector);
        Proxy {
            config,
            client,
            https_port,
        }
    }

    /// Answers one request, writing the access log line.
    pub(crate) async fn handle(
        &self,
        connection: Connection,
        request: Request<Incoming>,
    ) -> Response<Body> {
        let started = Instant::now();
        let host = request_host(&request).map(str::to_string);
        // What the access log names, kept only when it is written: this
        // runs for every request.
        let logged = tracing::enabled!(target: "capstan_ingress::access", tracing::Level::DEBUG)
            .then(|| (request.method().clone(), request.uri().path().to_string()));
        let (response, upstream) = self.dispatch(connection, request, host.as_deref()).await;
        if let Some((method, path)) = logged {
            tracing::debug!(
                target: "capstan_ingress::access",
                remote = %connection.remote,
                method = %method,
                host = host.as_deref().unwrap_or_default(),
                path,
                status = response.status().as_u16(),
                upstream = upstream.as_ref().map(Authority::as_str).unwrap_or("-"),
                elapsed_ms = started.elapsed().as_millis() as u64,
            );
        }
        response
    }

    /// The response, and the endpoint that gave it if any did.
    async fn dispatch(
        &self,
        connection: Connection,
        request: Request<Incoming>,
        host: Option<&str>,
    ) -> (Response<Body>, Option<Authority>) {
        if request.method() == Method::CONNECT {
            return (
                text(StatusCode::METHOD_NOT_ALLOWED, "405 Method Not Allowed\n"),
                None,
            );
        }
        let backend = {
            let config = self.config.current();
            let Some(route) = config
                .routes
                .route(host.unwrap_or_default(), request.uri().path())
            else {
                return (text(StatusCode::NOT_FOUND, "404 Not Found\n"), None);
            };
            let path = request.uri().path();
            if route.ssl_redirect && !connection.tls && !path.starts_with(ACME_CHALLENGE_PREFIX) {
                return (
                    self.redirect_to_https(host.unwrap_or_default(), request.uri()),
                    None,
                );
            }
            route.backend.clone()
        };
        self.forward(connection, request, host, &backend).await
    }

    /// A 308 to the same URL over HTTPS, as ingress-nginx's `ssl-redirect`.
    fn redirect_to_https(&self, host: &str, uri: &Uri) -> Response<Body> {
        let host = hosts::normalize(host);
        let port = match self.https_port {
            443 => String::new(),
            port => format!(":{port}"),
        };
        let path = uri
            .path_and_query()
            .map(PathAndQuery::as_str)
            .unwrap_or("/");
        match HeaderValue::from_str(&format!("https://{host}{port}{path}")) {
            Ok(location) => {
                let mut response = text(StatusCode::PERMANENT_REDIRECT, "308 Permanent Redirect\n");
                response.headers_mut().insert(LOCATION, location);
                response
            }
            Err(_) => text(StatusCode::BAD_REQUEST, "400 Bad Request\n"),
        }
    }

    /// Relays the request to an endpoint of `backend`. A request without a
    /// body is tried on the next endpoints when connecting fails, since it
    /// cannot have reached the first.
    async fn forward(
        &self,
        connection: Connection,
        request: Request<Incoming>,
        host: Option<&str>,
        backend: &Backend,
    ) -> (Response<Body>, Option<Authority>) {
        let (mut parts, body) = request.into_parts();
        let upgrade = match parts.version {
            Version::HTTP_11 => requested_upgrade(&parts.headers),
            _ => None,
        };
        let client_upgrade = upgrade
            .as_ref()
            .and_then(|_| parts.extensions.remove::<OnUpgrade>());
        let mut headers = std::mem::take(&mut parts.headers);
        remove_hop_by_hop(&mut headers, upgrade);
        if let Some(authority) = parts.uri.authority() {
            // HTTP/2 and absolute-form requests name the host in the URI;
            // HTTP/1.1 backends need it in `Host`.
            let host = authority.as_str().rsplit('@').next().unwrap_or_default();
            if let Ok(value) = HeaderValue::from_str(host) {
                headers.insert(HOST, value);
            }
        }
        set_forwarded(
            &mut headers,
            &Forwarded {
                client: connection.remote.ip(),
                proto: if connection.tls { "https" } else { "http" },
                host,
                port: connection.local.port(),
            },
        );
        let path = parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        let attempts = match body.is_end_stream() {
            true => backend.endpoints().len().clamp(1, MAX_ATTEMPTS),
            false => 1,
        };
        let mut body = Some(body.boxed_unsync());
        let mut headers = Some(headers);
        for attempt in 1..=attempts {
            let Some(endpoint) = backend.next_endpoint() else {
                tracing::debug!(backend = %backend.name, "no ready endpoints");
                return (
                    text(StatusCode::SERVICE_UNAVAILABLE, "503 Service Unavailable\n"),
                    None,
                );
            };
            let last = attempt == attempts;
            let outgoing = OutgoingRequest {
                method: &parts.method,
                endpoint,
                path: &path,
                headers: if last {
                    headers.take().unwrap_or_default()
                } else {
                    headers.clone().unwrap_or_default()
                },
                body: body.take().unwrap_or_else(empty),
            };
            let request = match outgoing.build() {
                Ok(request) => request,
                Err(error) => {
                    tracing::warn!(backend = %backend.name, %endpoint, %error, "cannot build the backend request");
                    return (
                        text(StatusCode::BAD_GATEWAY, "502 Bad Gateway\n"),
                        Some(endpoint.clone()),
                    );
                }
            };
            match self.client.request(request).await {
                Ok(response) => return (relay(response, client_upgrade), Some(endpoint.clone())),
                Err(error) if error.is_connect() && !last => {
                    tracing::warn!(backend = %backend.name, %endpoint, error = %error_chain(&error), "cannot connect to the endpoint; trying the next");
                }
                Err(error) => {
                    tracing::warn!(backend = %backend.name, %endpoint, error = %error_chain(&error), "backend request failed");
                    return (
                        text(StatusCode::BAD_GATEWAY, "502 Bad Gateway\n"),
                        Some(endpoint.clone()),
                    );
                }
            }
        }
        (text(StatusCode::BAD_GATEWAY, "502 Bad Gateway\n"), None)
    }
}

/// What goes to the backend: the client's request, re-addressed.
struct OutgoingRequest<'a> {
    method: &'a Method,
    endpoint: &'a Authority,
    path: &'a PathAndQuery,
    headers: HeaderMap,
    body: Body,
}

impl OutgoingRequest<'_> {
    fn build(self) -> Result<Request<Body>, http::Error> {
        let uri = Uri::builder()
            .scheme("http")
            .authority(self.endpoint.clone())
            .path_and_query(self.path.clone())
            .build()?;
        let mut request = Request::builder()
            .method(self.method.clone())
            .uri(uri)
            .version(Version::HTTP_11)
            .body(self.body)?;
        *request.headers_mut() = self.headers;
        Ok(request)
    }
}

/// The backend's response as the client gets it. A switch of protocols
/// the client asked for joins the two upgraded connections.
fn relay(response: Response<Incoming>, client_upgrade: Option<OnUpgrade>) -> Response<Body> {
    let (mut parts, body) = response.into_parts();
    if parts.status == StatusCode::SWITCHING_PROTOCOLS {
        let backend_upgrade = parts.extensions.remove::<OnUpgrade>();
        let (Some(client_side), Some(backend_side)) = (client_upgrade, backend_upgrade) else {
            tracing::warn!("backend switched protocols without being asked to");
            return text(StatusCode::BAD_GATEWAY, "502 Bad Gateway\n");
        };
        tokio::spawn(tunnel(client_side, backend_side));
        let protocol = parts.headers.get(UPGRADE).cloned();
        remove_hop_by_hop(&mut parts.headers, protocol);
        return Response::from_parts(parts, empty());
    }
    remove_hop_by_hop(&mut parts.headers, None);
    Response::from_parts(parts, body.boxed_unsync())
}

/// Copies bytes both ways between an upgraded client connection and the
/// upgraded backend connection until either side closes.
async fn tunnel(client: OnUpgrade, backend: OnUpgrade) {
    let (client, backend) = match tokio::try_join!(client, backend) {
        Ok(both) => both,
        Err(error) => {
            tracing::debug!(%error, "upgrade did not complete");
            return;
        }
    };
    let (mut client, mut backend) = (TokioIo::new(client), TokioIo::new(backend));
    if let Err(error) = tokio::io::copy_bidirectional(&mut client, &mut backend).await {
        tracing::debug!(%error, "upgraded connection ended");
    }
}

/// The host a request is for: the URI's authority (HTTP/2, absolute-form)
/// or the `Host` header, as the client wrote it.
fn request_host<B>(request: &Request<B>) -> Option<&str> {
    match request.uri().authority() {
        Some(authority) => authority.as_str().rsplit('@').next(),
        None => request
            .headers()
            .get(HOST)
            .and_then(|value| value.to_str().ok()),
    }
}

/// A short plain-text response made by the proxy itself.
fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut response = Response::new(
        Full::new(Bytes::from_static(body.as_bytes()))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// An error with its causes, which hyper keeps apart ("client error
/// (Connect)" says little without "Connection refused").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
