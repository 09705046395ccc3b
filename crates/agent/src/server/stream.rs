//! `exec`, `attach` and `portForward` on the node's endpoint, as
//! upstream's kubelet serves them: the request's options become a CRI
//! Exec, Attach or PortForward call, and the client's upgrade request
//! (SPDY or WebSocket) is proxied to the streaming URL the runtime
//! answers with. The runtime's streaming server speaks the protocols
//! (channels, resize, the exit status); the agent only splices bytes.

use std::collections::HashMap;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, HOST};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use k8s_cri::v1 as cri;
use tokio::net::TcpStream;

use super::container::{Finder, Refusal};
use super::{text, Body};
use crate::cri::config::{CONTAINER_NAME, POD_UID};

/// Which stream a request opens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Exec,
    Attach,
    PortForward,
}

/// The kubelet's remote command options: `stdin`, `stdout`, `stderr`
/// and `tty` are on when `1`; `command` repeats.
#[derive(Debug, Default, PartialEq)]
struct Options {
    stdin: bool,
    stdout: bool,
    stderr: bool,
    tty: bool,
    command: Vec<String>,
    ports: Vec<i32>,
}

impl Options {
    fn parse(kind: Kind, query: Option<&str>) -> Result<Options, Refusal> {
        let mut options = Options::default();
        for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match key.as_ref() {
                "stdin" => options.stdin = value == "1",
                "stdout" => options.stdout = value == "1",
                "stderr" => options.stderr = value == "1",
                "tty" => options.tty = value == "1",
                "command" => options.command.push(value.into_owned()),
                "port" => {
                    for port in value.split(',').filter(|p| !p.is_empty()) {
                        options.ports.push(parse_port(port)?);
                    }
                }
                _ => {}
            }
        }
        if kind == Kind::PortForward {
            return Ok(options);
        }
        // A terminal merges stderr into stdout.
        if options.tty {
            options.stderr = false;
        }
        if !options.stdin && !options.stdout && !options.stderr {
            return Err((
                StatusCode::BAD_REQUEST,
                "you must specify at least 1 of stdin, stdout, stderr".into(),
            ));
        }
        Ok(options)
    }
}

/// Upstream's port check for forwarded ports.
fn parse_port(text: &str) -> Result<i32, Refusal> {
    let bad = |why: String| (StatusCode::BAD_REQUEST, why);
    let port: u64 = text
        .parse()
        .map_err(|_| bad(format!("unable to parse {text:?} as a port")))?;
    if port == 0 || port > 65535 {
        return Err(bad(format!("port {port} must be > 0 and < 65536")));
    }
    Ok(port as i32)
}

/// Serves `/exec/{ns}/{pod}/{container}`, `/attach/{ns}/{pod}/{container}`
/// and `/portForward/{ns}/{pod}`.
pub async fn serve(
    finder: &Finder,
    kind: Kind,
    request: Request<Incoming>,
    namespace: &str,
    pod: &str,
    container: Option<&str>,
) -> Response<Body> {
    if !matches!(*request.method(), Method::GET | Method::POST) {
        return text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed".into());
    }
    match streaming_url(finder, kind, &request, namespace, pod, container).await {
        Ok(url) => proxy(request, &url).await,
        Err((status, message)) => text(status, message),
    }
}

/// Asks the runtime for the streaming URL of the request.
async fn streaming_url(
    finder: &Finder,
    kind: Kind,
    request: &Request<Incoming>,
    namespace: &str,
    name: &str,
    container: Option<&str>,
) -> Result<String, Refusal> {
    let options = Options::parse(kind, request.uri().query())?;
    let pod = finder.pod(namespace, name).await?;
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let mut runtime = finder.cri.runtime.clone();
    let failed = |status: tonic::Status| (StatusCode::INTERNAL_SERVER_ERROR, status.to_string());
    if kind == Kind::PortForward {
        let sandbox = running_sandbox(finder, &uid)
            .await?
            .ok_or_else(|| (StatusCode::NOT_FOUND, format!("pod not found ({name:?})")))?;
        let answer = runtime
            .port_forward(cri::PortForwardRequest {
                pod_sandbox_id: sandbox,
                port: options.ports,
            })
            .await
            .map_err(failed)?;
        return Ok(answer.into_inner().url);
    }
    let container = container.unwrap_or_default();
    let not_found = || {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("container not found ({container:?})"),
        )
    };
    let id = running_container(finder, &uid, container)
        .await?
        .ok_or_else(not_found)?;
    let url = if kind == Kind::Exec {
        runtime
            .exec(cri::ExecRequest {
                container_id: id,
                cmd: options.command,
                tty: options.tty,
                stdin: options.stdin,
                stdout: options.stdout,
                stderr: options.stderr,
            })
            .await
            .map_err(failed)?
            .into_inner()
            .url
    } else {
        runtime
            .attach(cri::AttachRequest {
                container_id: id,
                stdin: options.stdin,
                tty: options.tty,
                stdout: options.stdout,
                stderr: options.stderr,
            })
            .await
            .map_err(failed)?
            .into_inner()
            .url
    };
    Ok(url)
}

/// The id of the pod's ready sandbox.
async fn running_sandbox(finder: &Finder, uid: &str) -> Result<Option<String>, Refusal> {
    let mut runtime = finder.cri.runtime.clone();
    let filter = cri::PodSandboxFilter {
        state: Some(cri::PodSandboxStateValue {
            state: cri::PodSandboxState::SandboxReady as i32,
        }),
        label_selector: HashMap::from([(POD_UID.to_string(), uid.to_string())]),
        ..Default::default()
    };
    let items = runtime
        .list_pod_sandbox(cri::ListPodSandboxRequest {
            filter: Some(filter),
        })
        .await
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .into_inner()
        .items;
    Ok(items.into_iter().max_by_key(|s| s.created_at).map(|s| s.id))
}

/// The id of the running instance of the pod's `container`.
async fn running_container(
    finder: &Finder,
    uid: &str,
    container: &str,
) -> Result<Option<String>, Refusal> {
    let mut runtime = finder.cri.runtime.clone();
    let filter = cri::ContainerFilter {
        state: Some(cri::ContainerStateValue {
            state: cri::ContainerState::ContainerRunning as i32,
        }),
        label_selector: HashMap::from([
            (POD_UID.to_string(), uid.to_string()),
            (CONTAINER_NAME.to_string(), container.to_string()),
        ]),
        ..Default::default()
    };
    let containers = runtime
        .list_containers(cri::ListContainersRequest {
            filter: Some(filter),
        })
        .await
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .into_inner()
        .containers;
    Ok(containers
        .into_iter()
        .max_by_key(|c| c.created_at)
        .map(|c| c.id))
}

/// Proxies the client's upgrade request to the runtime's streaming
/// server at `url` (plain HTTP on loopback). A 101 answer splices the
/// two connections; any other answer goes back to the client as is.
async fn proxy(mut request: Request<Incoming>, url: &str) -> Response<Body> {
    let failed = |why: String| text(StatusCode::INTERNAL_SERVER_ERROR, why);
    let Some((authority, path)) = url
        .strip_prefix("http://")
        .and_then(|rest| rest.find('/').map(|slash| rest.split_at(slash)))
    else {
        return failed(format!("unsupported streaming URL {url:?}"));
    };
    let tcp = match TcpStream::connect(authority).await {
        Ok(tcp) => tcp,
        Err(error) => return failed(format!("dial tcp {authority}: {error}")),
    };
    let _ = tcp.set_nodelay(true);
    let (mut sender, connection) =
        match hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await {
            Ok(handshake) => handshake,
            Err(error) => return failed(error.to_string()),
        };
    tokio::spawn(async move {
        let _ = connection.with_upgrades().await;
    });
    let mut upstream = Request::builder()
        .method(request.method().clone())
        .uri(path)
        .body(Empty::<Bytes>::new())
        .expect("a request of valid parts");
    for (name, value) in request.headers() {
        if name != HOST {
            upstream.headers_mut().append(name, value.clone());
        }
    }
    if let Ok(host) = HeaderValue::from_str(authority) {
        upstream.headers_mut().insert(HOST, host);
    }
    let mut answer = match sender.send_request(upstream).await {
        Ok(answer) => answer,
        Err(error) => return failed(error.to_string()),
    };
    if answer.status() != StatusCode::SWITCHING_PROTOCOLS {
        let (parts, body) = answer.into_parts();
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        return Response::from_parts(parts, Full::new(body).boxed());
    }
    let client = hyper::upgrade::on(&mut request);
    let runtime = hyper::upgrade::on(&mut answer);
    tokio::spawn(async move {
        let (Ok(client), Ok(runtime)) = (client.await, runtime.await) else {
            return;
        };
        let (mut client, mut runtime) = (TokioIo::new(client), TokioIo::new(runtime));
        let _ = tokio::io::copy_bidirectional(&mut client, &mut runtime).await;
    });
    let (parts, _) = answer.into_parts();
    Response::from_parts(parts, Full::new(Bytes::new()).boxed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_read_as_the_kubelet_reads_them() {
        let parsed = Options::parse(
            Kind::Exec,
            Some("command=sh&command=-c&command=echo+hi&stdin=1&stdout=1&stderr=1&tty=1"),
        )
        .unwrap();
        assert_eq!(parsed.command, ["sh", "-c", "echo hi"]);
        // A terminal has no separate stderr.
        assert!(parsed.stdin && parsed.stdout && parsed.tty && !parsed.stderr);
        // Only `1` turns a stream on.
        let refused = Options::parse(Kind::Attach, Some("stdout=true")).unwrap_err();
        assert_eq!(refused.0, StatusCode::BAD_REQUEST);
        assert_eq!(
            refused.1,
            "you must specify at least 1 of stdin, stdout, stderr"
        );
        let ports = Options::parse(Kind::PortForward, Some("port=80,8080&port=9090")).unwrap();
        assert_eq!(ports.ports, [80, 8080, 9090]);
        assert!(Options::parse(Kind::PortForward, Some("port=0")).is_err());
        assert!(Options::parse(Kind::PortForward, Some("port=http")).is_err());
    }
}
