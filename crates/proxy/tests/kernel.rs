//! The rules in a real kernel: applied with the real nft inside network namespaces the tests
//! create (and delete), and traffic sent through them. Skipped, with the reason printed, when
//! not root or without nft.

use std::time::{Duration, Instant};

use capstan_nft::command::{apply, list_table, table_exists};
use capstan_nft::testing::{
    connect, connect_until_hello, kernel_table, netns_or_skip, traffic_unavailable, Hello, Netns,
};
use capstan_nft::{plan, Ruleset};
use capstan_proxy::cidr::Ipv4Cidr;
use capstan_proxy::conntrack::{clear_stale, UdpServices};
use capstan_proxy::model::ProxyModel;
use capstan_proxy::render::render;
use capstan_proxy::{remove_rules, ProxyOptions};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::json;

const TABLE: &str = "capstan-proxy";
const NODE: &str = "node-a";

fn service(namespace: &str, name: &str, spec: serde_json::Value) -> Service {
    serde_json::from_value(
        json!({"metadata": {"namespace": namespace, "name": name}, "spec": spec}),
    )
    .expect("Service")
}

fn slice(namespace: &str, service: &str, port: u16, ips: &[&str]) -> EndpointSlice {
    let endpoints: Vec<_> = ips
        .iter()
        .map(|ip| json!({"addresses": [ip], "nodeName": NODE}))
        .collect();
    serde_json::from_value(json!({
        "metadata": {"namespace": namespace, "name": format!("{service}-1"),
                     "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
        "endpoints": endpoints,
    }))
    .expect("EndpointSlice")
}

fn ruleset(services: &[Service], slices: &[EndpointSlice]) -> Ruleset {
    let cidrs: Vec<Ipv4Cidr> = vec!["10.42.0.0/16".parse().expect("cidr")];
    render(&ProxyModel::build(services, slices, NODE), &cidrs)
}

fn listing(netns: &Netns) -> String {
    list_table(&netns.nft(), TABLE).expect("nft list table")
}

fn initial_objects() -> (Vec<Service>, Vec<EndpointSlice>) {
    let services = vec![
        service(
            "ns",
            "web",
            json!({"clusterIP": "10.43.0.10", "ports": [{"name": "http", "port": 80}]}),
        ),
        service(
            "ns",
            "np",
            json!({"type": "NodePort", "externalTrafficPolicy": "Local", "clusterIP": "10.43.0.11",
            "ports": [{"name": "http", "port": 80, "nodePort": 30080}]}),
        ),
        service(
            "ns",
            "sticky",
            json!({"clusterIP": "10.43.0.12", "sessionAffinity": "ClientIP",
            "ports": [{"name": "http", "port": 80}]}),
        ),
        service(
            "ns",
            "empty",
            json!({"clusterIP": "10.43.0.13", "ports": [{"name": "http", "port": 80}]}),
        ),
    ];
    let slices = vec![
        slice("ns", "web", 8080, &["10.42.0.1", "10.42.0.2"]),
        slice("ns", "np", 8080, &["10.42.0.3"]),
        slice("ns", "sticky", 8080, &["10.42.0.4"]),
    ];
    (services, slices)
}

#[test]
fn full_then_incremental_apply_in_the_kernel() {
    let Some(netns) = netns_or_skip() else {
        return;
    };
    let (mut services, mut slices) = initial_objects();
    let first = ruleset(&services, &slices);
    let full = plan(TABLE, None, &first);
    apply(&netns.nft(), &full.text).expect("full apply");
    // Applying it again replaces the table: a restart's first sync.
    apply(&netns.nft(), &full.text).expect("full apply over an existing table");

    let text = listing(&netns);
    for expected in [
        "chain nat-prerouting {",
        "type nat hook prerouting priority dstnat; policy accept;",
        "ip daddr . meta l4proto . th dport vmap @service-ips",
        "10.43.0.10 . tcp . 80 : goto service-",
        "tcp . 30080 : goto external-",
        "10.43.0.13 . tcp . 80 comment \"ns/empty:http\" : goto reject-chain",
        "meta l4proto tcp dnat to 10.42.0.2:8080",
        "flags dynamic,timeout",
        "masquerade fully-random",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    let table_after_full = kernel_table(&netns, TABLE);

    // web gains an endpoint, empty gets one, sticky goes away.
    slices[0] = slice("ns", "web", 8080, &["10.42.0.1", "10.42.0.2", "10.42.0.9"]);
    slices.push(slice("ns", "empty", 9090, &["10.42.0.5"]));
    services.retain(|service| service.metadata.name.as_deref() != Some("sticky"));
    slices.retain(|slice| slice.metadata.name.as_deref() != Some("sticky-1"));
    let second = ruleset(&services, &slices);
    let incremental = plan(TABLE, Some(&first), &second);
    assert!(!incremental.full && !incremental.is_empty());
    assert!(
        incremental.commands < full.commands / 2,
        "{}",
        incremental.text
    );
    apply(&netns.nft(), &incremental.text).expect("incremental apply");

    let text = listing(&netns);
    assert!(text.contains("dnat to 10.42.0.9:8080"), "{text}");
    assert!(
        text.contains("10.43.0.13 . tcp . 80 : goto service-"),
        "{text}"
    );
    assert!(!text.contains("ns/empty:http"), "{text}");
    assert!(
        !text.contains("sticky") && !text.contains("10.43.0.12"),
        "{text}"
    );
    assert!(!text.contains("affinity-"), "{text}");
    assert_ne!(kernel_table(&netns, TABLE), table_after_full);

    // The kernel now holds exactly what a full apply of the second ruleset gives.
    let incremental_table = kernel_table(&netns, TABLE);
    let fresh = Netns::create().expect("second namespace");
    apply(&fresh.nft(), &plan(TABLE, None, &second).text)
        .expect("full apply of the second ruleset");
    assert_eq!(incremental_table, kernel_table(&fresh, TABLE));

    assert!(plan(TABLE, Some(&second), &second).is_empty());
}

#[test]
fn remove_rules_deletes_the_table_and_tolerates_its_absence() {
    let Some(netns) = netns_or_skip() else {
        return;
    };
    let options = ProxyOptions {
        nft: netns.nft(),
        ..ProxyOptions::default()
    };
    let (services, slices) = initial_objects();
    apply(
        &netns.nft(),
        &plan(TABLE, None, &ruleset(&services, &slices)).text,
    )
    .expect("apply");
    assert!(table_exists(&netns.nft(), TABLE).expect("list tables"));
    remove_rules(&options).expect("remove rules");
    assert!(!table_exists(&netns.nft(), TABLE).expect("list tables"));
    remove_rules(&options).expect("removing again is fine");
}

#[test]
fn traffic_reaches_the_endpoint_through_cluster_ip_and_node_port() {
    if let Some(reason) = traffic_unavailable() {
        eprintln!("skipped: {reason}");
        return;
    }
    let netns = Netns::create().expect("network namespace");
    // An interface holding the endpoint address, and a route for the service range. A dummy
    // interface where the kernel has the module, else one end of a veth pair.
    if netns.ip(&["link", "add", "svc0", "type", "dummy"]).is_err() {
        netns
            .ip(&[
                "link", "add", "svc0", "type", "veth", "peer", "name", "svc1",
            ])
            .expect("dummy or veth interface");
        netns.ip(&["link", "set", "svc1", "up"]).expect("svc1 up");
    }
    netns
        .ip(&["addr", "add", "10.99.0.2/32", "dev", "svc0"])
        .expect("address");
    netns.ip(&["link", "set", "svc0", "up"]).expect("svc0 up");
    netns
        .ip(&["route", "add", "10.43.0.0/16", "dev", "svc0"])
        .expect("service route");

    let _server = Hello::listen(&netns, 8080);
    assert!(
        connect_until_hello(&netns, "10.99.0.2", 8080).contains("hello"),
        "the server answers directly"
    );

    let services = [
        service(
            "ns",
            "web",
            json!({"type": "NodePort", "clusterIP": "10.43.7.7",
            "ports": [{"name": "http", "port": 80, "nodePort": 30080}]}),
        ),
        service(
            "ns",
            "none",
            json!({"clusterIP": "10.43.7.8", "ports": [{"name": "http", "port": 80}]}),
        ),
    ];
    let slices = [slice("ns", "web", 8080, &["10.99.0.2"])];
    apply(
        &netns.nft(),
        &plan(TABLE, None, &ruleset(&services, &slices)).text,
    )
    .expect("apply");

    let reply = connect_until_hello(&netns, "10.43.7.7", 80);
    assert!(reply.contains("hello"), "ClusterIP: {reply}");
    let reply = connect_until_hello(&netns, "10.99.0.2", 30080);
    assert!(reply.contains("hello"), "NodePort: {reply}");
    // No endpoints: rejected at once rather than left to time out.
    let started = Instant::now();
    let reply = connect(&netns, "10.43.7.8", 80, Duration::from_secs(3));
    assert!(
        !reply.contains("hello") && started.elapsed() < Duration::from_secs(3),
        "no endpoints: {reply}"
    );
    assert!(
        reply.to_lowercase().contains("refused"),
        "rejected: {reply}"
    );
}

/// A UDP flow balanced to an endpoint that then goes away is deleted, so the client's next
/// packet is balanced afresh; a flow to an endpoint that stays is kept.
#[test]
fn stale_udp_flows_are_cleared_when_their_endpoint_goes() {
    if !std::path::Path::new("/usr/sbin/conntrack").exists() {
        eprintln!("skipped: conntrack is not installed (apt-get install conntrack)");
        return;
    }
    let Some(netns) = netns_or_skip() else {
        return;
    };
    if netns.ip(&["link", "add", "svc0", "type", "dummy"]).is_err() {
        netns
            .ip(&[
                "link", "add", "svc0", "type", "veth", "peer", "name", "svc1",
            ])
            .expect("dummy or veth interface");
    }
    netns.ip(&["link", "set", "svc0", "up"]).expect("svc0 up");
    netns
        .ip(&["route", "add", "10.43.0.0/16", "dev", "svc0"])
        .expect("service route");
    // The endpoints are out there, behind svc0.
    netns
        .ip(&["route", "add", "10.99.0.0/24", "dev", "svc0"])
        .expect("endpoint route");
    let conntrack = ["ip", "netns", "exec", &netns.name, "conntrack"].map(String::from);
    let udp_service = |ips: &[&str]| {
        let services = [service(
            "ns",
            "dns",
            json!({"clusterIP": "10.43.7.9",
                   "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}]}),
        )];
        let mut slice = slice("ns", "dns", 5353, ips);
        slice.ports.as_mut().expect("ports")[0].protocol = Some("UDP".into());
        slice.ports.as_mut().expect("ports")[0].name = Some("dns".into());
        ProxyModel::build(&services, &[slice], NODE)
    };
    let program = |model: &ProxyModel, current: Option<&Ruleset>| {
        let cidrs: Vec<Ipv4Cidr> = vec!["10.42.0.0/16".parse().expect("cidr")];
        let rules = render(model, &cidrs);
        apply(&netns.nft(), &plan(TABLE, current, &rules).text).expect("apply");
        rules
    };
    // A datagram from a fresh source port each time: a new flow.
    let send = || {
        let sent = netns
            .command("bash")
            .args(["-c", "exec 3<>/dev/udp/10.43.7.9/53; echo query >&3"])
            .output()
            .expect("bash");
        assert!(sent.status.success(), "send: {sent:?}");
    };
    // Two clients' flows, both balanced to the only endpoint.
    let first = program(&udp_service(&["10.99.0.2"]), None);
    send();
    send();
    let flows = |reply_source: &str| {
        let listing = std::process::Command::new(&conntrack[0])
            .args(&conntrack[1..])
            .args(["-L", "-p", "udp", "--reply-src", reply_source])
            .output()
            .expect("conntrack -L");
        String::from_utf8_lossy(&listing.stdout)
            .lines()
            .filter(|l| l.starts_with("udp"))
            .count()
    };
    assert_eq!(flows("10.99.0.2"), 2, "two flows balanced to the endpoint");

    // The endpoint is replaced: its flows are stale.
    let replaced = udp_service(&["10.99.0.3"]);
    program(&replaced, Some(&first));
    let services = UdpServices::from_model(&replaced);
    assert!(clear_stale(&conntrack, &services).expect("clear") >= 1);
    assert_eq!(flows("10.99.0.2"), 0, "stale flows are gone");

    // A flow to the endpoint that stays is kept.
    send();
    assert_eq!(flows("10.99.0.3"), 1);
    assert_eq!(clear_stale(&conntrack, &services), Ok(0));
    assert_eq!(flows("10.99.0.3"), 1, "a live flow is kept");
}
