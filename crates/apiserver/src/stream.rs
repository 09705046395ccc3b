//! `pods/exec`, `pods/attach` and `pods/portforward`: upstream's
//! `streamLocation` picks the container and the node, the options become
//! the kubelet's query (`stdin=1`, `command=...`, `port=80,443`), and the
//! client's upgrade request (SPDY or WebSocket) is proxied to the node's
//! endpoint. A 101 from the node splices the client's connection to it;
//! any other answer goes back to the client as the node gave it, which
//! is how kubectl learns to fall back from WebSocket to SPDY.

use bytes::Bytes;
use capstan_api::ApiError;
use http_body_util::BodyExt;
use hyper::header::{HeaderMap, AUTHORIZATION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::{Node, Pod};

use crate::kubelet::KubeletClient;
use crate::local::RequestBody;
use crate::logs::{choose_container, decode, node_location};
use crate::response::Body;
use crate::rest::Rest;

/// Which stream a request opens; the subresource names it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Exec,
    Attach,
    PortForward,
}

impl Kind {
    pub fn of(subresource: &str) -> Option<Kind> {
        match subresource {
            "exec" => Some(Kind::Exec),
            "attach" => Some(Kind::Attach),
            "portforward" => Some(Kind::PortForward),
            _ => None,
        }
    }

    /// The path on the node's endpoint.
    fn node_path(self, namespace: &str, name: &str, container: &str) -> String {
        match self {
            Kind::Exec => format!("/exec/{namespace}/{name}/{container}"),
            Kind::Attach => format!("/attach/{namespace}/{name}/{container}"),
            Kind::PortForward => format!("/portForward/{namespace}/{name}"),
        }
    }
}

/// PodExecOptions, PodAttachOptions or PodPortForwardOptions, read from
/// the query as upstream's parameter codec reads them.
#[derive(Debug, Default, PartialEq)]
struct Options {
    container: Option<String>,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    tty: bool,
    command: Vec<String>,
    ports: Vec<i32>,
}

impl Options {
    fn parse(query: Option<&str>) -> Result<Options, ApiError> {
        // A flag is on unless it reads as false (`0`, `f`, `false`).
        let flag = |value: &str| {
            !(value == "0"
                || value.eq_ignore_ascii_case("f")
                || value.eq_ignore_ascii_case("false"))
        };
        let mut options = Options::default();
        for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match key.as_ref() {
                "container" if !value.is_empty() => options.container = Some(value.into_owned()),
                "stdin" => options.stdin = flag(&value),
                "stdout" => options.stdout = flag(&value),
                "stderr" => options.stderr = flag(&value),
                "tty" => options.tty = flag(&value),
                "command" => options.command.push(value.into_owned()),
                "ports" => options.ports.push(value.parse().map_err(|_| {
                    ApiError::bad_request(format!(
                        "strconv.ParseInt: parsing {value:?}: invalid syntax"
                    ))
                })?),
                _ => {}
            }
        }
        Ok(options)
    }

    /// The kubelet's query: streams as `1`, commands repeated, ports
    /// joined by commas.
    fn node_query(&self, kind: Kind) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if kind == Kind::PortForward {
            if !self.ports.is_empty() {
                let ports: Vec<String> = self.ports.iter().map(i32::to_string).collect();
                query.append_pair("port", &ports.join(","));
            }
            return query.finish();
        }
        for (name, on) in [
            ("stdin", self.stdin),
            ("stdout", self.stdout),
            ("stderr", self.stderr),
            ("tty", self.tty),
        ] {
            if on {
                query.append_pair(name, "1");
            }
        }
        if kind == Kind::Exec {
            for command in &self.command {
                query.append_pair("command", command);
            }
        }
        query.finish()
    }
}

/// Serves a stream subresource of a pod.
pub async fn serve(
    rest: &Rest,
    kubelet: &KubeletClient,
    mut request: Request<RequestBody>,
    kind: Kind,
    namespace: &str,
    name: &str,
) -> Result<Response<Body>, ApiError> {
    if !matches!(*request.method(), Method::GET | Method::POST) {
        return Err(failure(
            405,
            "MethodNotAllowed",
            format!(
                "{} is not supported on pods/{}",
                request.method(),
                request.uri().path().rsplit('/').next().unwrap_or_default()
            ),
        ));
    }
    let options = Options::parse(request.uri().query())?;
    let pods = capstan_api::resource::find("", "v1", "pods").expect("pods are served");
    let pod: Pod = decode(rest.get(pods, Some(namespace), name).await?)?;
    let container = match kind {
        Kind::PortForward => String::new(),
        _ => choose_container(&pod, name, options.container.as_deref())?,
    };
    let node_name = pod.spec.as_ref().and_then(|s| s.node_name.clone());
    let Some(node_name) = node_name.filter(|n| !n.is_empty()) else {
        return Err(ApiError::bad_request(format!(
            "pod {name} does not have a host assigned"
        )));
    };
    let nodes = capstan_api::resource::find("", "v1", "nodes").expect("nodes are served");
    let node: Node = decode(rest.get(nodes, None, &node_name).await?)?;
    let (host, port) = node_location(&node)?;
    let mut path = kind.node_path(namespace, name, &container);
    let query = options.node_query(kind);
    if !query.is_empty() {
        path = format!("{path}?{query}");
    }
    let method = request.method().clone();
    let answer = kubelet
        .send(
            &host,
            port,
            method,
            &path,
            forwarded(request.headers()),
            false,
        )
        .await
        .map_err(|why| {
            failure(
                500,
                "InternalError",
                format!("error dialing backend: {why}"),
            )
        })?;
    if answer.status() != StatusCode::SWITCHING_PROTOCOLS {
        let (parts, body) = answer.into_parts();
        let body = body.map_err(std::io::Error::other).boxed();
        return Ok(Response::from_parts(parts, body));
    }
    let mut answer = answer;
    let client = hyper::upgrade::on(&mut request);
    let node_side = hyper::upgrade::on(&mut answer);
    tokio::spawn(async move {
        let (Ok(client), Ok(node_side)) = (client.await, node_side.await) else {
            return;
        };
        let (mut client, mut node_side) = (TokioIo::new(client), TokioIo::new(node_side));
        let _ = tokio::io::copy_bidirectional(&mut client, &mut node_side).await;
    });
    let (parts, _) = answer.into_parts();
    Ok(Response::from_parts(
        parts,
        crate::response::full(Bytes::new()),
    ))
}

/// The client's headers the node needs (the upgrade's): not its
/// credentials, which were for the API server, nor its framing.
fn forwarded(headers: &HeaderMap) -> HeaderMap {
    let mut kept = headers.clone();
    for name in [AUTHORIZATION, HOST, CONTENT_LENGTH, TRANSFER_ENCODING] {
        kept.remove(name);
    }
    let impersonation: Vec<_> = kept
        .keys()
        .filter(|name| name.as_str().starts_with("impersonate-"))
        .cloned()
        .collect();
    for name in impersonation {
        kept.remove(name);
    }
    kept
}

fn failure(code: u16, reason: &'static str, message: String) -> ApiError {
    ApiError {
        code,
        reason,
        message,
        details: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_become_the_kubelets_query() {
        let options = Options::parse(Some(
            "command=sh&command=-c&command=echo+a%26b&container=app&stdin=true&stdout=1&stderr=false&tty=t",
        ))
        .unwrap();
        assert_eq!(options.container.as_deref(), Some("app"));
        assert_eq!(
            options.node_query(Kind::Exec),
            "stdin=1&stdout=1&tty=1&command=sh&command=-c&command=echo+a%26b"
        );
        assert_eq!(options.node_query(Kind::Attach), "stdin=1&stdout=1&tty=1");
        let ports = Options::parse(Some("ports=8080&ports=9090")).unwrap();
        assert_eq!(ports.node_query(Kind::PortForward), "port=8080%2C9090");
        let bad = Options::parse(Some("ports=http")).unwrap_err();
        assert_eq!((bad.code, bad.reason), (400, "BadRequest"));
    }

    #[test]
    fn credentials_stay_with_the_api_server() {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, "Bearer secret".parse().unwrap());
        headers.insert("impersonate-user", "admin".parse().unwrap());
        headers.insert("upgrade", "SPDY/3.1".parse().unwrap());
        headers.insert(
            "x-stream-protocol-version",
            "v4.channel.k8s.io".parse().unwrap(),
        );
        let kept = forwarded(&headers);
        assert_eq!(kept.len(), 2);
        assert!(kept.contains_key("upgrade") && kept.contains_key("x-stream-protocol-version"));
    }
}
