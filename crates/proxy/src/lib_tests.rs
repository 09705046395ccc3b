//! `run`'s wiring end to end: a kube client against a minimal fake API server on loopback
//! (lists, then watches streaming events), and the recording stand-in for nft.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use capstan_nft::testing::FakeNft;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;

use super::*;

const SERVICES_PATH: &str = "/api/v1/services";
const SLICES_PATH: &str = "/apis/discovery.k8s.io/v1/endpointslices";

/// Serves one list per resource and streams watch events sent through `events`.
struct FakeApiServer {
    url: String,
    /// Request targets seen, in order.
    requests: Arc<Mutex<Vec<String>>>,
    /// (collection path, watch event JSON).
    events: broadcast::Sender<(&'static str, String)>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeApiServer {
    async fn start(services: serde_json::Value, slices: serde_json::Value) -> FakeApiServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (events, _) = broadcast::channel(16);
        let lists = Arc::new([
            (
                SERVICES_PATH,
                json!({"apiVersion": "v1", "kind": "ServiceList", "metadata": {"resourceVersion": "10"}, "items": services}),
            ),
            (
                SLICES_PATH,
                json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSliceList", "metadata": {"resourceVersion": "10"}, "items": slices}),
            ),
        ]);
        let task = tokio::spawn({
            let requests = requests.clone();
            let events = events.clone();
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(serve(
                        stream,
                        lists.clone(),
                        requests.clone(),
                        events.subscribe(),
                    ));
                }
            }
        });
        FakeApiServer {
            url,
            requests,
            events,
            task,
        }
    }

    fn send(&self, path: &'static str, event: serde_json::Value) {
        let _ = self.events.send((path, event.to_string()));
    }

    fn watching(&self, path: &str) -> bool {
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        requests
            .iter()
            .any(|target| target.starts_with(path) && target.contains("watch=true"))
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One connection: requests in turn; a watch keeps the connection until the test ends.
async fn serve(
    stream: TcpStream,
    lists: Arc<[(&'static str, serde_json::Value); 2]>,
    requests: Arc<Mutex<Vec<String>>>,
    mut events: broadcast::Receiver<(&'static str, String)>,
) {
    let mut stream = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if stream.read_line(&mut request_line).await.unwrap_or(0) == 0 {
            return;
        }
        loop {
            let mut header = String::new();
            if stream.read_line(&mut header).await.unwrap_or(0) == 0 {
                return;
            }
            if header.trim().is_empty() {
                break;
            }
        }
        let target = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string();
        requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(target.clone());
        let path = target.split('?').next().unwrap_or_default();
        let Some((collection, list)) = lists.iter().find(|(collection, _)| *collection == path)
        else {
            let body = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}).to_string();
            let head = format!("HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n", body.len());
            if stream
                .write_all(format!("{head}{body}").as_bytes())
                .await
                .is_err()
            {
                return;
            }
            continue;
        };
        if !target.contains("watch=true") {
            let body = list.to_string();
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                body.len()
            );
            if stream
                .write_all(format!("{head}{body}").as_bytes())
                .await
                .is_err()
            {
                return;
            }
            continue;
        }
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
        if stream.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        while let Ok((event_collection, event)) = events.recv().await {
            if event_collection != *collection {
                continue;
            }
            let line = format!("{event}\n");
            let chunk = format!("{:x}\r\n{line}\r\n", line.len());
            if stream.write_all(chunk.as_bytes()).await.is_err() || stream.flush().await.is_err() {
                return;
            }
        }
        return;
    }
}

fn slice_json(ips: &[&str], resource_version: &str) -> serde_json::Value {
    let endpoints: Vec<_> = ips
        .iter()
        .map(|ip| json!({"addresses": [ip], "conditions": {"ready": true}}))
        .collect();
    json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"namespace": "default", "name": "web-abcde", "resourceVersion": resource_version,
                     "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": endpoints,
    })
}

#[tokio::test]
async fn run_lists_watches_and_syncs() {
    let service = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"namespace": "default", "name": "web", "resourceVersion": "5"},
        "spec": {"clusterIP": "10.43.0.80", "clusterIPs": ["10.43.0.80"], "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]},
    });
    let api =
        FakeApiServer::start(json!([service]), json!([slice_json(&["10.42.0.7"], "6")])).await;
    let config = kube::Config::new(api.url.parse().expect("URL"));
    let client = kube::Client::try_from(config).expect("client");

    let nft = FakeNft::new("t");
    let options = ProxyOptions {
        node_name: "node".into(),
        cluster_cidr: "10.42.0.0/16".into(),
        table: "t".into(),
        nft: nft.command(),
        min_sync_period: Duration::from_millis(50),
        ..ProxyOptions::default()
    };
    let cidrs = check_options(&options).expect("valid options");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let proxy = tokio::spawn(watch_and_sync(client, options, cidrs, async move {
        let _ = stopped.await;
    }));

    let first = &nft.wait_for_transactions(1).await[0].text;
    assert!(first.starts_with("add table ip t\n"), "{first}");
    assert!(
        first.contains("10.43.0.80 . tcp . 80 : goto service-"),
        "{first}"
    );
    assert!(first.contains("dnat to 10.42.0.7:8080"), "{first}");
    {
        let requests = api
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let selector = |path: &str| {
            requests
                .iter()
                .find(|target| target.starts_with(path))
                .cloned()
                .unwrap_or_default()
        };
        assert!(
            selector(SERVICES_PATH)
                .contains("labelSelector=%21service.kubernetes.io%2Fservice-proxy-name"),
            "{requests:?}"
        );
        assert!(selector(SLICES_PATH).contains("labelSelector=kubernetes.io%2Fservice-name%2C%21service.kubernetes.io%2Fservice-proxy-name%2C%21service.kubernetes.io%2Fheadless"), "{requests:?}");
    }

    // Wait for the slice watch, then change the slice through it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !api.watching(SLICES_PATH) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no watch on EndpointSlices"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    api.send(
        SLICES_PATH,
        json!({"type": "MODIFIED", "object": slice_json(&["10.42.0.7", "10.42.0.8"], "11")}),
    );
    let second = &nft.wait_for_transactions(2).await[1].text;
    assert!(!second.contains("add table"), "incremental: {second}");
    assert!(second.contains("dnat to 10.42.0.8:8080"), "{second}");

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), proxy)
        .await
        .expect("run stops on shutdown")
        .expect("run task");
}

#[test]
fn bad_options_are_refused_or_reported() {
    let bad_table = ProxyOptions {
        table: "bad name".into(),
        ..ProxyOptions::default()
    };
    assert!(check_options(&bad_table).is_none());
    assert!(remove_rules(&bad_table).is_err());
    let mixed = ProxyOptions {
        cluster_cidr: "10.42.0.0/16,fd00::/56".into(),
        ..ProxyOptions::default()
    };
    assert_eq!(check_options(&mixed).map(|cidrs| cidrs.len()), Some(1));
}
