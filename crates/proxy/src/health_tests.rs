use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

/// A LoadBalancer `ns/web` with ports http (80) and metrics (9090), with
/// `spec` merged in.
fn web(spec: serde_json::Value) -> Service {
    let mut base = json!({
        "metadata": {"namespace": "ns", "name": "web"},
        "spec": {"type": "LoadBalancer", "clusterIP": "10.43.0.10", "clusterIPs": ["10.43.0.10"],
                 "externalTrafficPolicy": "Local", "healthCheckNodePort": 31000,
                 "ports": [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080},
                           {"name": "metrics", "port": 9090, "protocol": "TCP", "nodePort": 30090}]},
    });
    for (key, value) in spec.as_object().expect("an object") {
        base["spec"][key] = value.clone();
    }
    serde_json::from_value(base).expect("test Service")
}

/// A slice of `ns/web` with both ports: a ready endpoint on this node, a
/// ready one elsewhere and a not-ready one here.
fn slice() -> EndpointSlice {
    serde_json::from_value(json!({
        "metadata": {"namespace": "ns", "name": "web-1", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"},
                  {"name": "metrics", "port": 9091, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": ["10.42.0.1"], "nodeName": "here", "conditions": {"ready": true}},
            {"addresses": ["10.42.1.1"], "nodeName": "there", "conditions": {"ready": true}},
            {"addresses": ["10.42.0.2"], "nodeName": "here", "conditions": {"ready": false}},
        ],
    }))
    .expect("test EndpointSlice")
}

#[test]
fn local_ready_endpoints_are_counted_over_every_port() {
    let model = ProxyModel::build(&[web(json!({}))], &[slice()], "here");
    let checks = health_checks(&model);
    assert_eq!(
        checks,
        BTreeMap::from([(
            31000,
            HealthCheck {
                namespace: "ns".into(),
                name: "web".into(),
                local_endpoints: 2,
            }
        )])
    );
    let elsewhere = ProxyModel::build(&[web(json!({}))], &[slice()], "nowhere");
    assert_eq!(health_checks(&elsewhere)[&31000].local_endpoints, 0);
}

#[test]
fn only_local_load_balancers_have_a_health_check() {
    for spec in [
        json!({"externalTrafficPolicy": "Cluster"}),
        json!({"type": "NodePort"}),
        json!({"healthCheckNodePort": 0}),
    ] {
        let model = ProxyModel::build(&[web(spec.clone())], &[slice()], "here");
        assert!(health_checks(&model).is_empty(), "{spec}");
    }
}

/// A port free on loopback now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

/// The status line, headers and body of `GET /` on `port`.
async fn get(port: u16) -> std::io::Result<(u16, String, serde_json::Value)> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n\r\n")
        .await?;
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut text))
        .await
        .map_err(|_| std::io::Error::other("no answer in 5 s"))??;
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    let status = head[9..12].parse().expect("a status code");
    Ok((
        status,
        head.to_ascii_lowercase(),
        serde_json::from_str(body).expect("a JSON body"),
    ))
}

#[tokio::test]
async fn the_server_follows_the_local_endpoint_count() {
    let servers = HealthServers::on(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let port = free_port();
    let check = |local_endpoints| {
        BTreeMap::from([(
            port,
            HealthCheck {
                namespace: "ns".into(),
                name: "web".into(),
                local_endpoints,
            },
        )])
    };

    servers.sync(&check(0));
    assert_eq!(servers.ports(), [port]);
    let (status, head, body) = get(port).await.expect("an answer");
    assert_eq!(status, 503);
    assert_eq!(
        body,
        json!({"service": {"namespace": "ns", "name": "web"}, "localEndpoints": 0,
               "serviceProxyHealthy": true})
    );
    assert!(head.contains("content-type: application/json"), "{head}");
    assert!(
        head.contains("x-load-balancing-endpoint-weight: 0"),
        "{head}"
    );

    servers.sync(&check(2));
    let (status, head, body) = get(port).await.expect("an answer");
    assert_eq!(status, 200);
    assert_eq!(body["localEndpoints"], 2);
    assert!(
        head.contains("x-load-balancing-endpoint-weight: 2"),
        "{head}"
    );

    // Gone from the wanted set: the port is closed.
    servers.sync(&BTreeMap::new());
    assert!(servers.ports().is_empty());
    let deadline = Instant::now() + Duration::from_secs(5);
    while get(port).await.is_ok() {
        assert!(Instant::now() < deadline, "port {port} still answers");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_taken_port_is_tried_again_at_the_next_sync() {
    let servers = HealthServers::on(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = holder.local_addr().expect("address").port();
    let wanted = BTreeMap::from([(
        port,
        HealthCheck {
            namespace: "ns".into(),
            name: "web".into(),
            local_endpoints: 1,
        },
    )]);
    servers.sync(&wanted);
    assert!(servers.ports().is_empty());
    drop(holder);
    servers.sync(&wanted);
    assert_eq!(servers.ports(), [port]);
    assert_eq!(get(port).await.expect("an answer").0, 200);
}
