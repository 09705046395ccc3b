use std::convert::Infallible;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::HeaderMap;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tonic_health::ServingStatus;

use super::*;
use crate::runtime::{Exited, RuntimeContainer, RuntimeError};

/// A runtime whose exec probes exit with `code`.
struct Fake {
    code: i32,
}

impl Runtime for Fake {
    async fn start_container(&self, _: &Pod, _: &Container, _: u32) -> Result<(), RuntimeError> {
        Ok(())
    }
    async fn stop_pod(&self, _: &str, _: Duration) -> Result<(), RuntimeError> {
        Ok(())
    }
    async fn remove_pod(&self, _: &str) {}
    async fn pod_status(&self, _: &str) -> RuntimePodStatus {
        RuntimePodStatus::default()
    }
    async fn exec_sync(&self, _: &str, _: &[String], _: Duration) -> Result<Exited, RuntimeError> {
        Ok(Exited {
            code: self.code,
            output: String::new(),
        })
    }
}

fn pod() -> Pod {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": "p", "uid": "u"},
        "spec": {"containers": [{"name": "c",
            "livenessProbe": {"exec": {"command": ["check"]}, "periodSeconds": 1, "failureThreshold": 2},
            "readinessProbe": {"exec": {"command": ["check"]}, "periodSeconds": 1}}]}
    }))
    .unwrap()
}

fn status(started: Timestamp) -> RuntimePodStatus {
    RuntimePodStatus {
        sandbox_ready: true,
        ip: Some("127.0.0.1".into()),
        containers: vec![RuntimeContainer {
            name: "c".into(),
            id: "containerd://1".into(),
            image: String::new(),
            image_id: String::new(),
            attempt: 0,
            state: ContainerState::Running {
                started_at: started,
            },
            previous: None,
            ready: None,
        }],
    }
}

#[tokio::test]
async fn failing_probes_unready_then_kill() {
    let pod = pod();
    let started = Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_secs(5);
    let mut results = HashMap::new();
    let failing = Fake { code: 1 };
    let mut current = status(started);
    let first = run(
        &failing,
        &Events::default(),
        &pod,
        &mut current,
        &mut results,
    )
    .await;
    assert!(first.kill.is_empty(), "one failure is under the threshold");
    assert_eq!(current.containers[0].ready, Some(false));
    assert!(first
        .wake_after
        .is_some_and(|w| w <= Duration::from_secs(1)));
    // The next period: a second failure kills.
    for track in results.values_mut() {
        track.liveness.last_run =
            Some(Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_secs(2));
    }
    let mut current = status(started);
    let second = run(
        &failing,
        &Events::default(),
        &pod,
        &mut current,
        &mut results,
    )
    .await;
    assert_eq!(
        second.kill,
        vec![("c".to_string(), "containerd://1".to_string())]
    );

    let passing = Fake { code: 0 };
    let mut results = HashMap::new();
    let mut current = status(started);
    run(
        &passing,
        &Events::default(),
        &pod,
        &mut current,
        &mut results,
    )
    .await;
    assert_eq!(current.containers[0].ready, Some(true));
}

/// A container whose only probe is `probe` (JSON), checked once against
/// 127.0.0.1.
async fn probe_once(probe: serde_json::Value) -> Result<Option<String>, String> {
    let container: Container = serde_json::from_value(serde_json::json!({
        "name": "c", "ports": [{"name": "web", "containerPort": 1}]
    }))
    .unwrap();
    let probe: Probe = serde_json::from_value(probe).unwrap();
    check(
        &Fake { code: 0 },
        &container,
        "containerd://1",
        "127.0.0.1",
        &probe,
    )
    .await
}

/// An HTTPS server with a self-signed certificate: `/moved` redirects to
/// `/healthz`, `/loop` to itself, `/away` to another host; any other path
/// answers `code`. It keeps each request's path and headers.
struct HttpsServer {
    port: u16,
    code: Arc<AtomicU16>,
    seen: Arc<Mutex<Vec<(String, HeaderMap)>>>,
}

async fn https_server() -> HttpsServer {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = HttpsServer {
        port: listener.local_addr().unwrap().port(),
        code: Arc::new(AtomicU16::new(200)),
        seen: Arc::default(),
    };
    let (code, seen) = (server.code.clone(), server.seen.clone());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, code, seen) = (acceptor.clone(), code.clone(), seen.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let path = request.uri().path().to_string();
                    seen.lock()
                        .unwrap()
                        .push((path.clone(), request.headers().clone()));
                    let (status, location) = match path.as_str() {
                        "/moved" => (302, Some("/healthz")),
                        "/loop" => (302, Some("/loop")),
                        "/away" => (302, Some("http://elsewhere.invalid/")),
                        _ => (code.load(Ordering::SeqCst), None),
                    };
                    let mut response = Response::builder().status(status);
                    if let Some(location) = location {
                        response = response.header("location", location);
                    }
                    let response = response.body(Full::new(Bytes::from("body"))).unwrap();
                    async move { Ok::<_, Infallible>(response) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    server
}

fn https_probe(port: u16, path: &str) -> serde_json::Value {
    serde_json::json!({"timeoutSeconds": 1, "httpGet": {
        "scheme": "HTTPS", "port": port, "path": path,
        "httpHeaders": [{"name": "Host", "value": "example.com"}, {"name": "X-Test", "value": "yes"}]
    }})
}

#[tokio::test]
async fn https_probes_pass_then_fail_on_the_status() {
    let server = https_server().await;
    let probe = https_probe(server.port, "/healthz");
    assert_eq!(probe_once(probe.clone()).await, Ok(None));
    {
        let seen = server.seen.lock().unwrap();
        let (path, headers) = &seen[0];
        assert_eq!(path, "/healthz");
        assert_eq!(headers["user-agent"], "kube-probe/1.33");
        assert_eq!(headers["accept"], "*/*");
        assert_eq!(headers["host"], "example.com");
        assert_eq!(headers["x-test"], "yes");
        assert_eq!(headers.get_all("host").iter().count(), 1);
    }
    server.code.store(503, Ordering::SeqCst);
    assert_eq!(
        probe_once(probe).await,
        Err("HTTP probe failed with statuscode: 503".into())
    );
}

#[tokio::test]
async fn https_probes_follow_redirects_on_the_same_host() {
    let server = https_server().await;
    assert_eq!(
        probe_once(https_probe(server.port, "/moved")).await,
        Ok(None)
    );
    {
        let seen = server.seen.lock().unwrap();
        let paths: Vec<&str> = seen.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["/moved", "/healthz"]);
        let (_, followed) = &seen[1];
        // A relative redirect keeps the custom Host.
        assert_eq!(followed["host"], "example.com");
        assert_eq!(followed["x-test"], "yes");
        let referer = format!("https://127.0.0.1:{}/moved", server.port);
        assert_eq!(followed["referer"], referer.as_str());
    }
    // A redirect to another host is not followed and passes, with a
    // warning (a ProbeWarning event).
    assert_eq!(
        probe_once(https_probe(server.port, "/away")).await,
        Ok(Some(
            "Probe terminated redirects, Response body: body".into()
        ))
    );
    server.code.store(500, Ordering::SeqCst);
    assert_eq!(
        probe_once(https_probe(server.port, "/moved")).await,
        Err("HTTP probe failed with statuscode: 500".into())
    );
    assert_eq!(
        probe_once(https_probe(server.port, "/loop")).await,
        Err("Get \"/loop\": stopped after 10 redirects".into())
    );
}

#[tokio::test]
async fn https_probe_failures_read_as_upstream() {
    // Nothing listening.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    assert_eq!(
        probe_once(https_probe(port, "/healthz")).await,
        Err(format!(
            "Get \"https://127.0.0.1:{port}/healthz\": dial tcp 127.0.0.1:{port}: connect: connection refused"
        ))
    );

    // A plain HTTP server, and one that never answers.
    let plain = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let plain_port = plain.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = plain.accept().await {
            let mut buffer = [0u8; 1024];
            let _ = tcp.read(&mut buffer).await;
            let _ = tcp
                .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                .await;
        }
    });
    assert_eq!(
        probe_once(https_probe(plain_port, "/healthz")).await,
        Err(format!(
            "Get \"https://127.0.0.1:{plain_port}/healthz\": http: server gave HTTP response to HTTPS client"
        ))
    );
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let started = std::time::Instant::now();
    assert_eq!(
        probe_once(https_probe(silent_port, "healthz")).await,
        Err(format!(
            "Get \"https://127.0.0.1:{silent_port}/healthz\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
        ))
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    drop(silent);
}

#[tokio::test]
async fn http_probes_send_upstreams_request() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (sent, mut received) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let mut request = Vec::new();
            let mut buffer = [0u8; 1024];
            while !request.ends_with(b"\r\n\r\n") {
                match tcp.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buffer[..n]),
                }
            }
            let _ = sent.send(String::from_utf8_lossy(&request).into_owned());
            let _ = tcp
                .write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
                .await;
        }
    });
    let probe = serde_json::json!({"httpGet": {"port": "web", "path": "/ready?x=1",
        "httpHeaders": [{"name": "x-custom", "value": "a"}]}});
    let probe = serde_json::from_value::<Probe>(probe).unwrap();
    let container: Container = serde_json::from_value(serde_json::json!({
        "name": "c", "ports": [{"name": "web", "containerPort": port}]
    }))
    .unwrap();
    let checked = check(&Fake { code: 0 }, &container, "id", "127.0.0.1", &probe).await;
    assert_eq!(checked, Ok(None));
    let request = received.recv().await.unwrap();
    let lines: Vec<&str> = request.split("\r\n").collect();
    assert_eq!(lines[0], "GET /ready?x=1 HTTP/1.1");
    for header in [
        format!("Host: 127.0.0.1:{port}"),
        "User-Agent: kube-probe/1.33".into(),
        "Accept: */*".into(),
        "Connection: close".into(),
        "X-Custom: a".into(),
    ] {
        assert!(lines.contains(&header.as_str()), "{header} in {request}");
    }
}

fn grpc_probe(port: u16, service: Option<&str>) -> serde_json::Value {
    serde_json::json!({"timeoutSeconds": 1, "grpc": {"port": port, "service": service}})
}

#[tokio::test]
async fn grpc_probes_ask_the_health_service() {
    let (reporter, service) = tonic_health::server::health_reporter();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(tonic::transport::Server::builder().serve_with_incoming(
        service,
        tonic::transport::server::TcpIncoming::from(listener),
    ));
    assert_eq!(probe_once(grpc_probe(port, None)).await, Ok(None));
    reporter
        .set_service_status("", ServingStatus::NotServing)
        .await;
    assert_eq!(
        probe_once(grpc_probe(port, None)).await,
        Err("service unhealthy (responded with \"NOT_SERVING\")".into())
    );
    reporter
        .set_service_status("shop", ServingStatus::Serving)
        .await;
    assert_eq!(probe_once(grpc_probe(port, Some("shop"))).await, Ok(None));
    assert_eq!(
        probe_once(grpc_probe(port, Some("nope"))).await,
        Err("error: health rpc probe failed: rpc error: code = NotFound desc = service not registered".into())
    );

    // Nothing listening: upstream's blocking dial runs out of time.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let started = std::time::Instant::now();
    assert_eq!(
        probe_once(grpc_probe(port, None)).await,
        Err(format!(
            "timeout: failed to connect service \"127.0.0.1:{port}\" within 1s: context deadline exceeded"
        ))
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}
