//! The HTTP client of httpGet probes and hooks, as upstream's prober: a
//! GET over HTTP/1.1 with its headers, HTTPS without checking the
//! container's certificate (upstream's `InsecureSkipVerify`), redirects
//! followed up to 10 times while they stay on the same host, and
//! failures worded as Go's `net/http` client words them.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use capstan_tls::AnyCertificate;
use futures_util::future::Either;
use http_body_util::{BodyExt, Empty};
use hyper::header::{
    HeaderMap, HeaderName, HeaderValue, ACCEPT, CONNECTION, HOST, LOCATION, REFERER, USER_AGENT,
};
use hyper::Request;
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::HTTPGetAction;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::{dial, join_host_port};

/// The prober's user agent, `kube-probe/<major>.<minor>` of the API
/// version served.
pub(in crate::pods) const PROBE_USER_AGENT: &str = "kube-probe/1.33";
/// Go's client stops after this many requests in a redirect chain.
const MAX_REDIRECTS: usize = 10;
/// Upstream reads at most this much of a body (`maxRespBodyLength`).
const MAX_BODY: usize = 10 << 10;

/// The final answer to a GET.
#[derive(Debug)]
pub(in crate::pods) struct Answer {
    pub code: u16,
    /// The start of the body, at most 10 KiB.
    pub body: String,
}

/// A GET as upstream's prober sends it to `scheme://host:port{path}`;
/// the final answer, whatever its code.
pub(in crate::pods) async fn http_get(
    host: &str,
    port: u16,
    path: &str,
    http: &HTTPGetAction,
) -> Result<Answer, String> {
    get(host, port, path, http, &mut String::new()).await
}

/// [`http_get`], keeping in `current` the URL being fetched: a timeout's
/// message names it.
pub(super) async fn get(
    host: &str,
    port: u16,
    path: &str,
    http: &HTTPGetAction,
    current: &mut String,
) -> Result<Answer, String> {
    let scheme = match http.scheme.as_deref().unwrap_or_default() {
        "" => "http".to_string(),
        scheme => scheme.to_ascii_lowercase(),
    };
    let first = Url::new(scheme, host, port, path);
    *current = first.to_string();
    let (mut headers, custom_host) =
        request_headers(http).map_err(|e| format!("Get {:?}: {e}", first.to_string()))?;
    let explicit_referer = headers.contains_key(REFERER);
    let mut url = first.clone();
    let mut host_header = custom_host.clone();
    let mut requests = 0;
    loop {
        *current = url.to_string();
        let failed = |why: String| format!("Get {:?}: {why}", url.to_string());
        let host = host_header.clone().unwrap_or_else(|| url.authority());
        let (answer, location) = send(&url, &headers, &host).await.map_err(failed)?;
        requests += 1;
        // Go follows these codes, when they say where to.
        if !matches!(answer.code, 301 | 302 | 303 | 307 | 308) {
            return Ok(answer);
        }
        let Some(location) = location.filter(|l| !l.is_empty()) else {
            return Ok(answer);
        };
        let next = url
            .join(&location)
            .map_err(|e| failed(format!("failed to parse Location header {location:?}: {e}")))?;
        // A redirect to another host ends the chain: its 3xx is the
        // answer (upstream's prober passes it with a warning).
        if next.host != first.host {
            return Ok(answer);
        }
        if requests >= MAX_REDIRECTS {
            return Err(format!("Get {location:?}: stopped after 10 redirects"));
        }
        // As Go: a custom Host survives a relative redirect only.
        let absolute = split_scheme(&location).is_some();
        host_header = custom_host
            .clone()
            .filter(|h| !absolute && *h != first.authority());
        if !explicit_referer {
            headers.remove(REFERER);
            if !(url.scheme == "https" && next.scheme == "http") {
                if let Ok(referer) = HeaderValue::from_str(&url.to_string()) {
                    headers.insert(REFERER, referer);
                }
            }
        }
        url = next;
    }
}

/// The probe's headers as upstream's request carries them, and the Host
/// it names (sent as the request's host rather than as a header).
fn request_headers(http: &HTTPGetAction) -> Result<(HeaderMap, Option<String>), String> {
    let mut headers = HeaderMap::new();
    let mut host = None;
    for header in http.http_headers.iter().flatten() {
        if header.name.eq_ignore_ascii_case("host") {
            host.get_or_insert_with(|| header.value.clone());
            continue;
        }
        let name = HeaderName::from_bytes(header.name.as_bytes())
            .map_err(|_| format!("net/http: invalid header field name {:?}", header.name))?;
        let value = HeaderValue::from_str(&header.value)
            .map_err(|_| format!("net/http: invalid header field value for {:?}", header.name))?;
        headers.append(name, value);
    }
    // Go writes the first User-Agent only, and none when it is empty.
    match headers.get(USER_AGENT).cloned() {
        None => {
            headers.insert(USER_AGENT, HeaderValue::from_static(PROBE_USER_AGENT));
        }
        Some(first) => {
            headers.remove(USER_AGENT);
            if !first.is_empty() {
                headers.insert(USER_AGENT, first);
            }
        }
    }
    // An Accept set empty means none.
    match headers.get(ACCEPT) {
        None => {
            headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
        }
        Some(first) if first.is_empty() => {
            headers.remove(ACCEPT);
        }
        Some(_) => {}
    }
    // Upstream's transport keeps no connection alive.
    headers
        .entry(CONNECTION)
        .or_insert(HeaderValue::from_static("close"));
    Ok((headers, host.filter(|h| !h.is_empty())))
}

/// One request over a new connection: the answer and its Location.
async fn send(
    url: &Url,
    headers: &HeaderMap,
    host: &str,
) -> Result<(Answer, Option<String>), String> {
    if url.scheme != "http" && url.scheme != "https" {
        return Err(format!("unsupported protocol scheme {:?}", url.scheme));
    }
    let mut request = Request::get(url.target())
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let host = HeaderValue::from_str(host).map_err(|_| format!("invalid Host header {host:?}"))?;
    let own = request.headers_mut();
    own.insert(HOST, host);
    for (name, value) in headers {
        own.append(name, value.clone());
    }
    let tcp = dial(&url.host, url.port).await?;
    if url.scheme == "https" {
        let tls = handshake(&url.host, tcp).await?;
        exchange(tls, request).await
    } else {
        exchange(tcp, request).await
    }
}

/// Sends `request` over `stream` and reads the answer.
async fn exchange<S>(
    stream: S,
    request: Request<Empty<Bytes>>,
) -> Result<(Answer, Option<String>), String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
        .title_case_headers(true)
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|e| hyper_error(&e, false))?;
    let exchange = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| hyper_error(&e, false))?;
        let code = response.status().as_u16();
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .map(str::to_string);
        let mut body = response.into_body();
        let mut read = Vec::new();
        while read.len() < MAX_BODY {
            let Some(frame) = body.frame().await else {
                break;
            };
            let frame = frame.map_err(|e| hyper_error(&e, true))?;
            if let Ok(data) = frame.into_data() {
                read.extend_from_slice(&data);
            }
        }
        read.truncate(MAX_BODY);
        let body = String::from_utf8_lossy(&read).into_owned();
        Ok((Answer { code, body }, location))
    };
    // The connection is driven here, not spawned, so that a timeout
    // dropping the probe closes it.
    let exchange = std::pin::pin!(exchange);
    let connection = std::pin::pin!(connection);
    match futures_util::future::select(exchange, connection).await {
        Either::Left((result, _)) => result,
        // The connection ended: the exchange has all it will get.
        Either::Right((_, exchange)) => exchange.await,
    }
}

/// A failed exchange as Go words it, where it can.
fn hyper_error(error: &hyper::Error, in_body: bool) -> String {
    if error.is_incomplete_message() || (in_body && error.is_closed()) {
        return if in_body { "unexpected EOF" } else { "EOF" }.into();
    }
    if error.is_parse() {
        return "net/http: HTTP/1.x transport connection broken: malformed HTTP response".into();
    }
    let io = std::error::Error::source(error).and_then(|s| s.downcast_ref::<io::Error>());
    match io.map(io::Error::kind) {
        Some(io::ErrorKind::ConnectionReset) => "read: connection reset by peer".into(),
        Some(io::ErrorKind::BrokenPipe) => "write: broken pipe".into(),
        Some(io::ErrorKind::UnexpectedEof) => "EOF".into(),
        _ => match std::error::Error::source(error) {
            Some(source) => format!("{error}: {source}"),
            None => error.to_string(),
        },
    }
}

/// The TLS handshake with the container, its certificate unchecked. The
/// server name is the URL's host (an IP address sends none), as Go's.
async fn handshake(host: &str, tcp: TcpStream) -> Result<TlsStream<Recorded>, String> {
    let connector = CONNECTOR.clone()?;
    let name = ServerName::try_from(host.to_string()).map_err(|e| format!("tls: {e}"))?;
    let stream = Recorded {
        stream: tcp,
        first: Vec::new(),
    };
    match connector.connect(name, stream).into_fallible().await {
        Ok(tls) => Ok(tls),
        Err((_, stream)) if stream.first.starts_with(b"HTTP/") => {
            Err("http: server gave HTTP response to HTTPS client".into())
        }
        Err((error, _)) => Err(tls_error(&error)),
    }
}

/// A failed handshake as Go words it, where it can.
fn tls_error(error: &io::Error) -> String {
    if error.kind() == io::ErrorKind::UnexpectedEof {
        return "EOF".into();
    }
    if error.kind() == io::ErrorKind::ConnectionReset {
        return "read: connection reset by peer".into();
    }
    let text = error.to_string();
    if text.contains("InvalidContentType") {
        return "tls: first record does not look like a TLS handshake".into();
    }
    if let Some(alert) = text.strip_prefix("received fatal alert: ") {
        // `HandshakeFailure` reads `handshake failure`.
        let mut words = String::new();
        for c in alert.chars() {
            if c.is_ascii_uppercase() && !words.is_empty() {
                words.push(' ');
            }
            words.push(c.to_ascii_lowercase());
        }
        return format!("remote error: tls: {words}");
    }
    format!("tls: {text}")
}

/// One client configuration for all HTTPS probes.
static CONNECTOR: LazyLock<Result<TlsConnector, String>> = LazyLock::new(|| {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate::new(provider)))
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
});

/// A connection keeping the first bytes it read: a plain HTTP answer to
/// the TLS hello is told apart by them, as Go does.
struct Recorded {
    stream: TcpStream,
    first: Vec<u8>,
}

impl AsyncRead for Recorded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.stream).poll_read(cx, buf);
        let wanted = 5usize.saturating_sub(this.first.len());
        if wanted > 0 {
            let new = buf.filled().get(before..).unwrap_or_default();
            this.first
                .extend_from_slice(new.get(..wanted.min(new.len())).unwrap_or_default());
        }
        poll
    }
}

impl AsyncWrite for Recorded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// Where a request goes.
#[derive(Clone, Debug, PartialEq)]
struct Url {
    scheme: String,
    /// The host, without brackets.
    host: String,
    port: u16,
    /// The host and port as the URL writes them (the port may be left
    /// out); the Host header's default.
    authority: String,
    /// The path and query as given (maybe empty).
    path: String,
}

impl Url {
    /// Upstream's URL of a probe: a path not starting with `/` gets one.
    fn new(scheme: String, host: &str, port: u16, path: &str) -> Url {
        let path = if path.is_empty() || path.starts_with(['/', '?']) {
            path.to_string()
        } else {
            format!("/{path}")
        };
        Url {
            scheme,
            host: host.to_string(),
            port,
            authority: join_host_port(host, port),
            path,
        }
    }

    fn authority(&self) -> String {
        self.authority.clone()
    }

    /// The request target: the path and query, without a fragment.
    fn target(&self) -> String {
        let path = self.path.split('#').next().unwrap_or_default();
        if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        }
    }

    /// `location` resolved against this URL (RFC 3986, as Go does).
    fn join(&self, location: &str) -> Result<Url, String> {
        let location = location.split('#').next().unwrap_or_default();
        if let Some((scheme, rest)) = split_scheme(location) {
            let rest = rest
                .strip_prefix("//")
                .ok_or_else(|| format!("no host in {location:?}"))?;
            return Url::from_authority(scheme.to_ascii_lowercase(), rest);
        }
        if let Some(rest) = location.strip_prefix("//") {
            return Url::from_authority(self.scheme.clone(), rest);
        }
        let own = self.target();
        let own_path = own.split('?').next().unwrap_or_default();
        let path = if location.starts_with('/') {
            location.to_string()
        } else if location.starts_with('?') {
            format!("{own_path}{location}")
        } else {
            let directory = own_path.rsplit_once('/').map_or("", |(d, _)| d);
            format!("{directory}/{location}")
        };
        Ok(Url {
            path: remove_dot_segments(&path),
            ..self.clone()
        })
    }

    /// The URL of `authority[/path]` (after `scheme://`).
    fn from_authority(scheme: String, rest: &str) -> Result<Url, String> {
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        let authority = authority.rsplit('@').next().unwrap_or_default();
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| format!("missing ']' in host {authority:?}"))?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        let port = match port.filter(|p| !p.is_empty()) {
            Some(port) => port
                .parse::<u16>()
                .map_err(|_| format!("invalid port {port:?} after host"))?,
            None if scheme == "https" => 443,
            None => 80,
        };
        Ok(Url {
            authority: authority.to_string(),
            ..Url::new(scheme, host, port, &remove_dot_segments(path))
        })
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}{}", self.scheme, self.authority(), self.path)
    }
}

/// A URL's scheme and what follows its colon, when it has one.
fn split_scheme(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once(':')?;
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some((scheme, rest))
}

/// A path with its `.` and `..` segments resolved; the query kept.
fn remove_dot_segments(path: &str) -> String {
    if path.is_empty() {
        return String::new();
    }
    let (path, query) = match path.find('?') {
        Some(at) => path.split_at(at),
        None => (path, ""),
    };
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let mut kept: Vec<&str> = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *segment {
            "." => {}
            ".." => {
                kept.pop();
            }
            other => {
                kept.push(other);
                continue;
            }
        }
        // A trailing `.` or `..` leaves a directory.
        if last {
            kept.push("");
        }
    }
    format!("/{}{query}", kept.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        let (scheme, rest) = split_scheme(text).unwrap();
        Url::from_authority(scheme.into(), rest.strip_prefix("//").unwrap()).unwrap()
    }

    #[test]
    fn locations_resolve_as_go_resolves_them() {
        let base = url("http://10.42.0.5:8080/a/b/c?x=1");
        assert_eq!(base.path, "/a/b/c?x=1");
        let joined = |l: &str| base.join(l).unwrap().to_string();
        assert_eq!(joined("/healthz"), "http://10.42.0.5:8080/healthz");
        assert_eq!(joined("d"), "http://10.42.0.5:8080/a/b/d");
        assert_eq!(joined("../d?y=2"), "http://10.42.0.5:8080/a/d?y=2");
        assert_eq!(joined("./"), "http://10.42.0.5:8080/a/b/");
        assert_eq!(joined("?y=2"), "http://10.42.0.5:8080/a/b/c?y=2");
        assert_eq!(joined("//other:81/p"), "http://other:81/p");
        assert_eq!(joined("HTTPS://10.42.0.5/p#f"), "https://10.42.0.5/p");
        assert_eq!(base.join("https://10.42.0.5/p").unwrap().port, 443);
        assert_eq!(joined("http://[fd00::1]:81"), "http://[fd00::1]:81");
        assert_eq!(base.join("http://[fd00::1]:81").unwrap().host, "fd00::1");
        assert!(base.join("http://host:port/").is_err());
        assert_eq!(
            Url::new("http".into(), "h", 80, "healthz").target(),
            "/healthz"
        );
        assert_eq!(Url::new("http".into(), "h", 80, "").target(), "/");
        assert_eq!(Url::new("http".into(), "h", 80, "?a=b").target(), "/?a=b");
    }

    #[test]
    fn headers_as_upstream_sets_them() {
        let action = |headers: serde_json::Value| -> HTTPGetAction {
            serde_json::from_value(serde_json::json!({"port": 80, "httpHeaders": headers})).unwrap()
        };
        let (headers, host) = request_headers(&action(serde_json::json!([]))).unwrap();
        assert_eq!(headers[USER_AGENT], PROBE_USER_AGENT);
        assert_eq!(headers[ACCEPT], "*/*");
        assert_eq!(headers[CONNECTION], "close");
        assert_eq!(host, None);
        let (headers, host) = request_headers(&action(serde_json::json!([
            {"name": "host", "value": "example.com"},
            {"name": "Accept", "value": ""},
            {"name": "User-Agent", "value": "mine"},
            {"name": "X-Custom", "value": "a"},
            {"name": "X-Custom", "value": "b"},
        ])))
        .unwrap();
        assert_eq!(host.as_deref(), Some("example.com"));
        assert!(!headers.contains_key(ACCEPT) && !headers.contains_key(HOST));
        assert_eq!(headers[USER_AGENT], "mine");
        assert_eq!(headers.get_all("x-custom").iter().count(), 2);
        let bad = request_headers(&action(serde_json::json!([{"name": "a b", "value": "c"}])));
        assert_eq!(
            bad.unwrap_err(),
            "net/http: invalid header field name \"a b\""
        );
    }
}
