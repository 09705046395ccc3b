//! The server over real sockets on loopback, with a fake upstream resolver.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use super::Dns;
use crate::options::DnsOptions;
use crate::records::Records;
use crate::testing::{cluster_ip, edns_query, query, service, slice};

/// The longest any single exchange in these tests may take.
const WAIT: Duration = Duration::from_secs(5);

/// What the fake upstream answers for every A query.
const UPSTREAM_ADDRESS: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

/// A resolver on 127.0.0.1 (UDP and TCP on one port) answering every A
/// query with [`UPSTREAM_ADDRESS`].
async fn fake_upstream() -> (SocketAddr, JoinHandle<()>) {
    let mut attempts = 0;
    let (udp, tcp) = loop {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        match TcpListener::bind(udp.local_addr().unwrap()).await {
            Ok(tcp) => break (udp, tcp),
            Err(error) => {
                attempts += 1;
                assert!(attempts < 16, "no port free for UDP and TCP: {error}");
            }
        }
    };
    let address = udp.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut buffer = vec![0; 65535];
        loop {
            tokio::select! {
                Ok((length, peer)) = udp.recv_from(&mut buffer) => {
                    if let Some(reply) = upstream_reply(&buffer[..length]) {
                        let _ = udp.send_to(&reply, peer).await;
                    }
                }
                Ok((mut stream, _)) = tcp.accept() => {
                    let Ok(length) = stream.read_u16().await else { continue };
                    let mut packet = vec![0; usize::from(length)];
                    if stream.read_exact(&mut packet).await.is_err() {
                        continue;
                    }
                    if let Some(reply) = upstream_reply(&packet) {
                        let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
                        framed.extend_from_slice(&reply);
                        let _ = stream.write_all(&framed).await;
                    }
                }
            }
        }
    });
    (address, task)
}

fn upstream_reply(packet: &[u8]) -> Option<Vec<u8>> {
    let query = Message::from_vec(packet).ok()?;
    let mut reply = Message::new();
    reply
        .set_id(query.id())
        .set_message_type(MessageType::Response)
        .set_recursion_desired(query.recursion_desired())
        .set_recursion_available(true)
        .add_queries(query.queries().to_vec());
    for question in query.queries() {
        if question.query_type() == RecordType::A {
            let data = RData::A(A(UPSTREAM_ADDRESS));
            reply.add_answer(Record::from_rdata(question.name().clone(), 60, data));
        }
    }
    reply.to_vec().ok()
}

async fn udp_exchange(server: SocketAddr, query: &Message) -> Message {
    let bytes = udp_exchange_bytes(server, &query.to_vec().unwrap())
        .await
        .expect("a UDP reply");
    Message::from_vec(&bytes).unwrap()
}

/// The reply to a datagram, or `None` if none comes within a short wait.
async fn udp_exchange_bytes(server: SocketAddr, packet: &[u8]) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(packet, server).await.unwrap();
    let mut buffer = vec![0; 65535];
    match tokio::time::timeout(Duration::from_millis(500), socket.recv(&mut buffer)).await {
        Ok(Ok(length)) => Some(buffer[..length].to_vec()),
        _ => None,
    }
}

async fn tcp_send(stream: &mut TcpStream, packet: &[u8]) {
    let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(packet);
    stream.write_all(&framed).await.unwrap();
}

async fn tcp_receive(stream: &mut TcpStream) -> Message {
    let length = tokio::time::timeout(WAIT, stream.read_u16())
        .await
        .unwrap()
        .unwrap();
    let mut reply = vec![0; usize::from(length)];
    tokio::time::timeout(WAIT, stream.read_exact(&mut reply))
        .await
        .unwrap()
        .unwrap();
    Message::from_vec(&reply).unwrap()
}

fn addresses(reply: &Message) -> Vec<String> {
    reply
        .answers()
        .iter()
        .filter_map(|record| match record.data() {
            RData::A(a) => Some(a.0.to_string()),
            RData::CNAME(cname) => Some(format!("CNAME {}", cname.0)),
            _ => None,
        })
        .collect()
}

fn options(upstream: Vec<SocketAddr>) -> DnsOptions {
    DnsOptions {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        cluster_domain: "cluster.local".to_string(),
        upstream,
    }
}

/// The cluster the socket tests see, with `web` at `web_ip`.
fn snapshot(dns: &Dns, web_ip: &str) -> Arc<Records> {
    let endpoints: Vec<_> = (0..100)
        .map(|i| json!({"addresses": [format!("10.42.1.{i}")]}))
        .collect();
    let services = [
        cluster_ip(
            "default",
            "web",
            &[web_ip],
            json!([{"name": "http", "port": 80}]),
        ),
        service(
            "default",
            "ext",
            json!({"type": "ExternalName", "externalName": "example.com"}),
        ),
        service("default", "big", json!({"clusterIP": "None"})),
    ];
    let slices = [slice(
        "default",
        "big-1",
        "big",
        "IPv4",
        json!(endpoints),
        json!([]),
    )];
    Arc::new(Records::build(
        dns.zone.clone(),
        &services,
        &slices,
        &[],
        true,
    ))
}

#[tokio::test]
async fn serves_the_zone_over_udp_and_tcp_and_forwards_the_rest() {
    let (upstream, upstream_task) = fake_upstream().await;
    let dns = Dns::bind(options(vec![upstream])).await.unwrap();
    let [server] = dns.local_addrs()[..] else {
        panic!()
    };
    assert_ne!(server.port(), 0);
    let (publish, records) = watch::channel(snapshot(&dns, "10.43.0.20"));
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = tokio::spawn(dns.serve_records(records, async {
        let _ = stopped.await;
    }));

    // The zone over UDP.
    let reply = udp_exchange(
        server,
        &query("web.default.svc.cluster.local.", RecordType::A),
    )
    .await;
    assert_eq!(reply.id(), 0x5a5a);
    assert!(reply.authoritative());
    assert_eq!(addresses(&reply), ["10.43.0.20"]);

    // The zone over TCP, two queries on one connection.
    let mut stream = TcpStream::connect(server).await.unwrap();
    tcp_send(
        &mut stream,
        &query("web.default.svc.cluster.local.", RecordType::A)
            .to_vec()
            .unwrap(),
    )
    .await;
    tcp_send(
        &mut stream,
        &query("_http._tcp.web.default.svc.cluster.local.", RecordType::SRV)
            .to_vec()
            .unwrap(),
    )
    .await;
    assert_eq!(addresses(&tcp_receive(&mut stream).await), ["10.43.0.20"]);
    let reply = tcp_receive(&mut stream).await;
    assert_eq!(reply.answers()[0].record_type(), RecordType::SRV);

    // Other names go to the upstream, over the transport they came by, and
    // come back with the client's id.
    let mut forwarded = query("example.com.", RecordType::A);
    forwarded.set_id(0x1111);
    let reply = udp_exchange(server, &forwarded).await;
    assert_eq!(reply.id(), 0x1111);
    assert!(!reply.authoritative());
    assert!(reply.recursion_available());
    assert_eq!(addresses(&reply), ["192.0.2.1"]);
    tcp_send(
        &mut stream,
        &query("example.org.", RecordType::A).to_vec().unwrap(),
    )
    .await;
    assert_eq!(addresses(&tcp_receive(&mut stream).await), ["192.0.2.1"]);

    // An ExternalName is completed from the upstream.
    let reply = udp_exchange(
        server,
        &query("ext.default.svc.cluster.local.", RecordType::A),
    )
    .await;
    assert_eq!(addresses(&reply), ["CNAME example.com.", "192.0.2.1"]);

    // Too big for plain UDP: truncated; whole over EDNS or TCP.
    let big = query("big.default.svc.cluster.local.", RecordType::A);
    let reply = udp_exchange(server, &big).await;
    assert!(reply.truncated());
    let reply = udp_exchange(
        server,
        &edns_query("big.default.svc.cluster.local.", RecordType::A, 4096),
    )
    .await;
    assert!(!reply.truncated());
    assert_eq!(reply.answers().len(), 100);
    assert!(reply.extensions().is_some());
    tcp_send(&mut stream, &big.to_vec().unwrap()).await;
    let reply = tcp_receive(&mut stream).await;
    assert!(!reply.truncated());
    assert_eq!(reply.answers().len(), 100);

    // A new snapshot is used at once.
    publish.send_replace(snapshot_with_web(&publish, "10.43.0.99"));
    let reply = udp_exchange(
        server,
        &query("web.default.svc.cluster.local.", RecordType::A),
    )
    .await;
    assert_eq!(addresses(&reply), ["10.43.0.99"]);

    // Garbage: dropped when not even a header, FORMERR when it has one.
    assert_eq!(udp_exchange_bytes(server, &[1, 2, 3]).await, None);
    let mut unreadable = query("web.default.svc.cluster.local.", RecordType::A)
        .to_vec()
        .unwrap();
    unreadable.truncate(20);
    let reply = udp_exchange_bytes(server, &unreadable)
        .await
        .expect("FORMERR");
    let reply = Message::from_vec(&reply).unwrap();
    assert_eq!(
        (reply.id(), reply.response_code()),
        (0x5a5a, ResponseCode::FormErr)
    );
    // Over TCP, a frame without a header closes the connection.
    tcp_send(&mut stream, &[1, 2, 3]).await;
    let mut rest = Vec::new();
    let read = tokio::time::timeout(WAIT, stream.read_to_end(&mut rest))
        .await
        .unwrap();
    assert_eq!(read.unwrap(), 0);
    // And the server still answers.
    let reply = udp_exchange(
        server,
        &query("web.default.svc.cluster.local.", RecordType::A),
    )
    .await;
    assert_eq!(addresses(&reply), ["10.43.0.99"]);

    stop.send(()).unwrap();
    tokio::time::timeout(WAIT, serving).await.unwrap().unwrap();
    assert!(
        TcpStream::connect(server).await.is_err(),
        "the listener is closed"
    );
    upstream_task.abort();
}

/// The current snapshot's zone with `web` moved to `web_ip`.
fn snapshot_with_web(publish: &watch::Sender<Arc<Records>>, web_ip: &str) -> Arc<Records> {
    let zone = Arc::new(publish.borrow().zone().clone());
    let services = [cluster_ip(
        "default",
        "web",
        &[web_ip],
        json!([{"name": "http", "port": 80}]),
    )];
    Arc::new(Records::build(zone, &services, &[], &[], true))
}

#[tokio::test]
async fn unreachable_upstreams_give_servfail() {
    let closed = UdpSocket::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let dns = Dns::bind(options(vec![closed])).await.unwrap();
    let [server] = dns.local_addrs()[..] else {
        panic!()
    };
    let (_publish, records) = watch::channel(snapshot(&dns, "10.43.0.20"));
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = tokio::spawn(dns.serve_records(records, async {
        let _ = stopped.await;
    }));
    let reply = udp_exchange_bytes(
        server,
        &query("example.com.", RecordType::A).to_vec().unwrap(),
    )
    .await;
    let reply = Message::from_vec(&reply.expect("a reply")).unwrap();
    assert_eq!(reply.response_code(), ResponseCode::ServFail);
    stop.send(()).unwrap();
    tokio::time::timeout(WAIT, serving).await.unwrap().unwrap();
}

#[tokio::test]
async fn a_taken_port_is_reported_with_its_address() {
    let taken = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let address = taken.local_addr().unwrap();
    let mut options = options(vec![]);
    options.listen = vec!["127.0.0.1:0".parse().unwrap(), address];
    let error = Dns::bind(options).await.err().expect("the port is taken");
    assert!(error.contains(&address.to_string()), "{error}");

    let mut options = DnsOptions {
        listen: vec![],
        cluster_domain: "cluster.local".into(),
        upstream: vec![],
    };
    assert!(Dns::bind(options.clone()).await.is_err());
    options.listen = vec!["127.0.0.1:0".parse().unwrap()];
    options.cluster_domain = "bad..domain".into();
    assert!(Dns::bind(options).await.is_err());
}

/// With the API server unreachable, the watches keep retrying: the zone
/// fails (it is unknown), other names still resolve, and shutdown works.
#[tokio::test]
async fn serve_survives_an_unreachable_api_server() {
    let (upstream, upstream_task) = fake_upstream().await;
    let dns = Dns::bind(options(vec![upstream])).await.unwrap();
    let [server] = dns.local_addrs()[..] else {
        panic!()
    };
    // Nothing listens there: every list and watch fails.
    let nowhere = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let config = kube::Config::new(format!("http://{nowhere}").parse().unwrap());
    let client = kube::Client::try_from(config).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = tokio::spawn(dns.serve(client, async {
        let _ = stopped.await;
    }));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!serving.is_finished());
    let reply = udp_exchange(
        server,
        &query("web.default.svc.cluster.local.", RecordType::A),
    )
    .await;
    assert_eq!(reply.response_code(), ResponseCode::ServFail);
    let reply = udp_exchange(server, &query("example.com.", RecordType::A)).await;
    assert_eq!(addresses(&reply), ["192.0.2.1"]);
    stop.send(()).unwrap();
    tokio::time::timeout(WAIT, serving).await.unwrap().unwrap();
    upstream_task.abort();
}

/// A fake API server on loopback: lists from `lists` (by path), and watches
/// that stay open without events. Serves until the task is aborted.
async fn fake_api_server(
    lists: Vec<(&'static str, serde_json::Value)>,
) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let lists = Arc::new(lists);
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            connections.spawn(fake_api_connection(stream, lists.clone()));
        }
    });
    (address, task)
}

/// Answers the requests of one keep-alive connection in turn.
async fn fake_api_connection(
    mut stream: TcpStream,
    lists: Arc<Vec<(&'static str, serde_json::Value)>>,
) {
    let mut pending = Vec::new();
    loop {
        let mut chunk = [0; 4096];
        let Ok(read) = stream.read(&mut chunk).await else {
            return;
        };
        if read == 0 {
            return;
        }
        pending.extend_from_slice(&chunk[..read]);
        let Some(end) = pending.windows(4).position(|window| window == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&pending[..end]).to_string();
        pending.drain(..end + 4);
        let target = head
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string();
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        if query
            .split('&')
            .any(|pair| pair == "watch=true" || pair == "watch=1")
        {
            // A watch without events: headers, then silence.
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
            let _ = stream.write_all(head.as_bytes()).await;
            std::future::pending::<()>().await;
        }
        let body = match lists.iter().find(|(list_path, _)| *list_path == path) {
            Some((_, items)) => {
                json!({"metadata": {"resourceVersion": "1"}, "items": items}).to_string()
            }
            None => json!({"metadata": {"resourceVersion": "1"}, "items": []}).to_string(),
        };
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// `serve` fills its zone through kube's watches of the API server.
#[tokio::test]
async fn serve_reads_the_cluster_from_the_api_server() {
    let (api, api_task) = fake_api_server(vec![
        (
            "/api/v1/services",
            json!([{
                "metadata": {"namespace": "default", "name": "web"},
                "spec": {"clusterIP": "10.43.0.20", "clusterIPs": ["10.43.0.20"], "ports": [{"port": 80}]},
            }]),
        ),
        (
            "/apis/discovery.k8s.io/v1/endpointslices",
            json!([{
                "metadata": {
                    "namespace": "default",
                    "name": "web-1",
                    "labels": {"kubernetes.io/service-name": "web"},
                },
                "addressType": "IPv4",
                "endpoints": [{"addresses": ["10.42.0.5"]}],
            }]),
        ),
        ("/api/v1/namespaces", json!([{"metadata": {"name": "quiet"}}])),
    ])
    .await;
    let dns = Dns::bind(options(vec![])).await.unwrap();
    let [server] = dns.local_addrs()[..] else {
        panic!()
    };
    let config = kube::Config::new(format!("http://{api}").parse().unwrap());
    let client = kube::Client::try_from(config).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = tokio::spawn(dns.serve(client, async {
        let _ = stopped.await;
    }));

    // Bounded wait for the first lists to arrive.
    let web = query("web.default.svc.cluster.local.", RecordType::A);
    let mut reply = udp_exchange(server, &web).await;
    for _ in 0..50 {
        if reply.response_code() != ResponseCode::ServFail {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        reply = udp_exchange(server, &web).await;
    }
    assert_eq!(addresses(&reply), ["10.43.0.20"]);
    let reply = udp_exchange(
        server,
        &query("10-42-0-5.web.default.svc.cluster.local.", RecordType::A),
    )
    .await;
    assert_eq!(addresses(&reply), ["10.42.0.5"]);
    // The namespace watch counts too: a namespace without Services.
    let reply = udp_exchange(
        server,
        &query("10-42-0-9.quiet.pod.cluster.local.", RecordType::A),
    )
    .await;
    assert_eq!(addresses(&reply), ["10.42.0.9"]);

    stop.send(()).unwrap();
    tokio::time::timeout(WAIT, serving).await.unwrap().unwrap();
    api_task.abort();
}
