use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::json;

use super::*;

/// `ns/dns` on UDP 53 (NodePort 30053, external IP 192.0.2.9), with `serving` endpoint
/// addresses plus 10.42.0.99, which is not serving.
fn model(protocol: &str, serving: &[&str]) -> ProxyModel {
    let service: Service = serde_json::from_value(json!({
        "metadata": {"namespace": "ns", "name": "dns"},
        "spec": {"type": "NodePort", "clusterIP": "10.43.0.10", "externalIPs": ["192.0.2.9"],
                 "ports": [{"name": "dns", "port": 53, "protocol": protocol, "nodePort": 30053}]},
    }))
    .unwrap();
    let mut endpoints: Vec<_> = serving
        .iter()
        .map(|ip| json!({"addresses": [ip], "conditions": {"ready": true}}))
        .collect();
    endpoints.push(json!({"addresses": ["10.42.0.99"],
        "conditions": {"ready": false, "serving": false, "terminating": true}}));
    let slice: EndpointSlice = serde_json::from_value(json!({
        "metadata": {"namespace": "ns", "name": "dns-1",
                     "labels": {"kubernetes.io/service-name": "dns"}},
        "addressType": "IPv4",
        "ports": [{"name": "dns", "port": 5353, "protocol": protocol}],
        "endpoints": endpoints,
    }))
    .unwrap();
    ProxyModel::build([&service], [&slice], "node-a")
}

const LISTING: &str = "\
udp      17 28 src=10.42.0.5 dst=10.43.0.10 sport=40000 dport=53 src=10.42.0.7 dst=10.42.0.5 sport=5353 dport=40000 mark=0 use=1
udp      17 29 src=10.42.0.5 dst=10.43.0.10 sport=40001 dport=53 [UNREPLIED] src=10.42.0.8 dst=10.42.0.5 sport=5353 dport=40001 mark=0 use=1
udp      17 29 src=198.51.100.1 dst=192.168.1.2 sport=5000 dport=30053 src=10.42.0.99 dst=10.42.0.1 sport=5353 dport=5000 mark=0 use=1
udp      17 29 src=10.42.0.5 dst=192.0.2.9 sport=5001 dport=53 src=10.42.0.8 dst=10.42.0.5 sport=5353 dport=5001 mark=0 use=1
udp      17 29 src=10.42.0.5 dst=10.43.0.11 sport=5002 dport=53 src=10.42.0.8 dst=10.42.0.5 sport=5353 dport=5002 mark=0 use=1
tcp      6 431999 ESTABLISHED src=10.42.0.5 dst=10.43.0.10 sport=40002 dport=53 src=10.42.0.8 dst=10.42.0.5 sport=5353 dport=40002 [ASSURED] mark=0 use=1
";

#[test]
fn flows_are_read_from_the_listing() {
    let flows = parse_flows(LISTING);
    assert_eq!(flows.len(), 5, "the TCP line is skipped: {flows:?}");
    assert_eq!(
        flows[1],
        Flow {
            original_destination: "10.43.0.10".parse().unwrap(),
            original_destination_port: 53,
            reply_source: "10.42.0.8".parse().unwrap(),
        }
    );
    assert!(parse_flows("conntrack v1.4.7: 0 flow entries have been shown.\n").is_empty());
    assert!(parse_flows("udp 17 29 src=garbage dst=\n").is_empty());
}

#[test]
fn flows_answered_by_a_gone_endpoint_are_stale() {
    let services = UdpServices::from_model(&model("UDP", &["10.42.0.7"]));
    let stale = stale(&services, &parse_flows(LISTING));
    let reply = |ip: &str| ip.parse::<Ipv4Addr>().unwrap();
    assert_eq!(
        stale,
        BTreeSet::from([
            // The ClusterIP flow now answered by 10.42.0.8, which is gone.
            StaleFlows::ToAddress {
                address: "10.43.0.10".parse().unwrap(),
                port: 53,
                reply_source: reply("10.42.0.8"),
            },
            // The external IP, likewise.
            StaleFlows::ToAddress {
                address: "192.0.2.9".parse().unwrap(),
                port: 53,
                reply_source: reply("10.42.0.8"),
            },
            // The NodePort flow to an endpoint that is no longer serving.
            StaleFlows::ToNodePort {
                port: 30053,
                reply_source: reply("10.42.0.99"),
            },
        ]),
        "the flow to 10.42.0.7 stays; 10.43.0.11 is not a service address"
    );
    assert_eq!(
        stale.first().unwrap().arguments(),
        [
            "-D",
            "-p",
            "udp",
            "--orig-dst",
            "10.43.0.10",
            "--orig-port-dst",
            "53",
            "--reply-src",
            "10.42.0.8"
        ]
    );
}

#[test]
fn services_without_serving_endpoints_and_tcp_services_are_left_alone() {
    assert!(UdpServices::from_model(&model("UDP", &[])).is_empty());
    assert!(UdpServices::from_model(&model("TCP", &["10.42.0.7"])).is_empty());
    assert_eq!(clear_stale(&[], &UdpServices::default()), Ok(0));
}
