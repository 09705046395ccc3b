use serde_json::json;

use super::*;

pub(crate) fn service(value: serde_json::Value) -> Service {
    serde_json::from_value(value).expect("test Service")
}

pub(crate) fn slice(value: serde_json::Value) -> EndpointSlice {
    serde_json::from_value(value).expect("test EndpointSlice")
}

/// A ClusterIP service `ns/name` with one TCP port named `http` on 80.
fn web(spec: serde_json::Value) -> Service {
    let mut base = json!({
        "metadata": {"namespace": "ns", "name": "web"},
        "spec": {"clusterIP": "10.43.0.10", "clusterIPs": ["10.43.0.10"],
                 "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]},
    });
    if let (Some(base_spec), Some(extra)) = (base["spec"].as_object_mut(), spec.as_object()) {
        for (key, value) in extra {
            base_spec.insert(key.clone(), value.clone());
        }
    }
    service(base)
}

/// A slice of `ns/web` with port `http` → 8080 and the given endpoints.
fn web_slice(name: &str, endpoints: serde_json::Value) -> EndpointSlice {
    slice(json!({
        "metadata": {"namespace": "ns", "name": name, "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": endpoints,
    }))
}

fn ips(endpoints: &[&Endpoint]) -> Vec<String> {
    endpoints
        .iter()
        .map(|ep| format!("{}:{}", ep.ip, ep.port))
        .collect()
}

fn only_port(model: &ProxyModel) -> &ServicePort {
    assert_eq!(model.service_ports.len(), 1, "{model:#?}");
    &model.service_ports[0]
}

#[test]
fn readiness_defaults_and_filtering() {
    let slices = [web_slice(
        "web-1",
        json!([
            {"addresses": ["10.42.0.1"]},
            {"addresses": ["10.42.0.2"], "conditions": {"ready": true}},
            {"addresses": ["10.42.0.3"], "conditions": {"ready": false}},
        ]),
    )];
    let model = ProxyModel::build(&[web(json!({}))], &slices, "node-a");
    let port = only_port(&model);
    assert_eq!(port.endpoints.len(), 3);
    let categorized = port.categorize();
    assert_eq!(
        ips(&categorized.cluster),
        ["10.42.0.1:8080", "10.42.0.2:8080"]
    );
    assert_eq!(ips(&categorized.reachable), ips(&categorized.cluster));
    assert!(categorized.local.is_empty());
    assert!(categorized.has_any);
}

#[test]
fn serving_terminating_endpoints_are_used_only_when_none_is_ready() {
    let terminating = json!({"ready": false, "serving": true, "terminating": true});
    let gone = json!({"ready": false, "serving": false, "terminating": true});
    let slices = [web_slice(
        "web-1",
        json!([
            {"addresses": ["10.42.0.1"], "conditions": terminating},
            {"addresses": ["10.42.0.2"], "conditions": gone},
        ]),
    )];
    let model = ProxyModel::build(&[web(json!({}))], &slices, "node-a");
    let categorized = only_port(&model).categorize();
    assert_eq!(ips(&categorized.cluster), ["10.42.0.1:8080"]);
    assert!(categorized.has_any);

    let slices = [web_slice(
        "web-1",
        json!([
            {"addresses": ["10.42.0.1"], "conditions": terminating},
            {"addresses": ["10.42.0.3"]},
        ]),
    )];
    let model = ProxyModel::build(&[web(json!({}))], &slices, "node-a");
    assert_eq!(
        ips(&only_port(&model).categorize().cluster),
        ["10.42.0.3:8080"]
    );

    let slices = [web_slice(
        "web-1",
        json!([{"addresses": ["10.42.0.2"], "conditions": gone}]),
    )];
    let model = ProxyModel::build(&[web(json!({}))], &slices, "node-a");
    let categorized = only_port(&model).categorize();
    assert!(categorized.cluster.is_empty() && !categorized.has_any);
}

#[test]
fn local_policies_keep_local_endpoints() {
    let slices = [web_slice(
        "web-1",
        json!([
            {"addresses": ["10.42.0.1"], "nodeName": "node-a"},
            {"addresses": ["10.42.1.1"], "nodeName": "node-b"},
        ]),
    )];
    let internal_local = web(json!({"internalTrafficPolicy": "Local"}));
    let model = ProxyModel::build(&[internal_local], &slices, "node-a");
    let categorized = only_port(&model).categorize();
    assert!(categorized.cluster.is_empty());
    assert_eq!(ips(&categorized.local), ["10.42.0.1:8080"]);
    assert_eq!(ips(&categorized.reachable), ["10.42.0.1:8080"]);

    // On a node with no local endpoint the service still has endpoints, just none here.
    let model = ProxyModel::build(
        &[web(json!({"internalTrafficPolicy": "Local"}))],
        &slices,
        "node-c",
    );
    let categorized = only_port(&model).categorize();
    assert!(categorized.local.is_empty() && categorized.reachable.is_empty());
    assert!(categorized.has_any);

    // External Local policy keeps the cluster endpoints too (for short-circuited traffic).
    let node_port = web(json!({"type": "NodePort", "externalTrafficPolicy": "Local",
        "ports": [{"name": "http", "port": 80, "nodePort": 30080}]}));
    let model = ProxyModel::build(&[node_port], &slices, "node-a");
    let port = only_port(&model);
    assert!(port.external_policy_local && port.node_port == Some(30080));
    let categorized = port.categorize();
    assert_eq!(
        ips(&categorized.cluster),
        ["10.42.0.1:8080", "10.42.1.1:8080"]
    );
    assert_eq!(ips(&categorized.local), ["10.42.0.1:8080"]);
    assert_eq!(ips(&categorized.reachable), ips(&categorized.cluster));
}

#[test]
fn local_terminating_endpoints_join_the_reachable_list() {
    let slices = [web_slice(
        "web-1",
        json!([
            {"addresses": ["10.42.0.1"], "nodeName": "node-a",
             "conditions": {"ready": false, "serving": true, "terminating": true}},
            {"addresses": ["10.42.1.1"], "nodeName": "node-b"},
        ]),
    )];
    let lb = web(json!({"type": "NodePort", "externalTrafficPolicy": "Local",
        "ports": [{"name": "http", "port": 80, "nodePort": 30080}]}));
    let model = ProxyModel::build(&[lb], &slices, "node-a");
    let categorized = only_port(&model).categorize();
    assert_eq!(ips(&categorized.cluster), ["10.42.1.1:8080"]);
    assert_eq!(ips(&categorized.local), ["10.42.0.1:8080"]);
    assert_eq!(
        ips(&categorized.reachable),
        ["10.42.0.1:8080", "10.42.1.1:8080"]
    );
}

#[test]
fn ports_match_by_name_and_protocol() {
    let service = service(json!({
        "metadata": {"namespace": "ns", "name": "dns"},
        "spec": {"clusterIP": "10.43.0.10", "ports": [
            {"name": "dns", "port": 53, "protocol": "UDP"},
            {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
            {"name": "metrics", "port": 9153},
        ]},
    }));
    let slices = [slice(json!({
        "metadata": {"namespace": "ns", "name": "dns-x", "labels": {"kubernetes.io/service-name": "dns"}},
        "addressType": "IPv4",
        "ports": [
            {"name": "dns", "port": 5353, "protocol": "UDP"},
            {"name": "dns-tcp", "port": 5354, "protocol": "TCP"},
            {"name": "metrics", "port": 9153, "protocol": "UDP"},
        ],
        "endpoints": [{"addresses": ["10.42.0.5"]}],
    }))];
    let model = ProxyModel::build(&[service], &slices, "node-a");
    let by_port: Vec<(String, Protocol, Vec<u16>)> = model
        .service_ports
        .iter()
        .map(|port| {
            (
                port.name.port.clone(),
                port.name.protocol,
                port.endpoints.iter().map(|ep| ep.port).collect(),
            )
        })
        .collect();
    assert_eq!(
        by_port,
        [
            ("dns".into(), Protocol::Udp, vec![5353]),
            ("dns-tcp".into(), Protocol::Tcp, vec![5354]),
            // The slice's "metrics" port is UDP: no match for the TCP service port.
            ("metrics".into(), Protocol::Tcp, vec![]),
        ]
    );
    assert_eq!(model.service_count(), 1);
    assert_eq!(model.endpoint_count(), 2);
}

#[test]
fn unnamed_ports_match_each_other() {
    let service = service(json!({
        "metadata": {"namespace": "ns", "name": "web"},
        "spec": {"clusterIP": "10.43.0.10", "ports": [{"port": 80}]},
    }));
    let slices = [slice(json!({
        "metadata": {"namespace": "ns", "name": "web-1", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "ports": [{"port": 8080}],
        "endpoints": [{"addresses": ["10.42.0.5"]}],
    }))];
    let model = ProxyModel::build(&[service], &slices, "node-a");
    assert_eq!(only_port(&model).endpoints.len(), 1);
    assert_eq!(only_port(&model).name.to_string(), "ns/web");
}

#[test]
fn endpoints_in_several_slices_count_once() {
    let slices = [
        web_slice(
            "web-1",
            json!([{"addresses": ["10.42.0.1"], "conditions": {"ready": false}}]),
        ),
        web_slice(
            "web-2",
            json!([{"addresses": ["10.42.0.1"], "nodeName": "node-a"}, {"addresses": ["10.42.0.10"]}]),
        ),
    ];
    let model = ProxyModel::build(&[web(json!({}))], &slices, "node-a");
    let port = only_port(&model);
    // Sorted as `ip:port` text, as kube-proxy sorts them ("10.42.0.10:…" < "10.42.0.1:…").
    assert_eq!(
        port.endpoints
            .iter()
            .map(|ep| ep.ip.to_string())
            .collect::<Vec<_>>(),
        ["10.42.0.10", "10.42.0.1"]
    );
    assert!(port.endpoints[1].local && port.endpoints[1].ready);
}

#[test]
fn skipped_objects() {
    let headless = web(json!({"clusterIP": "None", "clusterIPs": ["None"]}));
    let external_name = web(json!({"type": "ExternalName", "externalName": "example.com"}));
    let ipv6_only = web(json!({"clusterIP": "fd00::10", "clusterIPs": ["fd00::10"]}));
    let mut other_proxy = web(json!({}));
    other_proxy.metadata.labels =
        Some([(LABEL_SERVICE_PROXY_NAME.to_string(), "x".to_string())].into());
    for service in [headless, external_name, ipv6_only, other_proxy] {
        assert!(ProxyModel::build(&[service], &[], "n")
            .service_ports
            .is_empty());
    }

    let mut ipv6 = web_slice("web-1", json!([{"addresses": ["fd00::1"]}]));
    ipv6.address_type = "IPv6".into();
    let mut unlabelled = web_slice("web-2", json!([{"addresses": ["10.42.0.2"]}]));
    unlabelled.metadata.labels = None;
    let mut headless_slice = web_slice("web-3", json!([{"addresses": ["10.42.0.3"]}]));
    if let Some(labels) = headless_slice.metadata.labels.as_mut() {
        labels.insert(LABEL_HEADLESS.into(), String::new());
    }
    let garbage = web_slice(
        "web-4",
        json!([{"addresses": ["not-an-ip"]}, {"addresses": []}]),
    );
    let model = ProxyModel::build(
        &[web(json!({}))],
        &[ipv6, unlabelled, headless_slice, garbage],
        "n",
    );
    assert!(only_port(&model).endpoints.is_empty());
}

#[test]
fn dual_stack_services_use_their_ipv4_cluster_ip() {
    let dual = web(json!({"clusterIP": "fd00::10", "clusterIPs": ["fd00::10", "10.43.0.20"]}));
    let model = ProxyModel::build(&[dual], &[], "n");
    assert_eq!(only_port(&model).cluster_ip, Ipv4Addr::new(10, 43, 0, 20));
}

#[test]
fn external_addresses_and_affinity() {
    let lb = service(json!({
        "metadata": {"namespace": "ns", "name": "lb"},
        "spec": {"type": "LoadBalancer", "clusterIP": "10.43.0.30",
                 "externalIPs": ["192.0.2.1", "2001:db8::1", "192.0.2.1"],
                 "loadBalancerSourceRanges": [" 203.0.113.0/25", "bogus"],
                 "sessionAffinity": "ClientIP",
                 "ports": [{"name": "http", "port": 80, "nodePort": 30080}]},
        "status": {"loadBalancer": {"ingress": [
            {"ip": "198.51.100.1"}, {"ip": "198.51.100.2", "ipMode": "Proxy"},
            {"hostname": "lb.example.com"}, {"ip": "198.51.100.3", "ipMode": "VIP"}]}},
    }));
    let model = ProxyModel::build(&[lb], &[], "n");
    let port = only_port(&model);
    assert_eq!(port.external_ips, [Ipv4Addr::new(192, 0, 2, 1)]);
    assert_eq!(
        port.load_balancer_ips,
        [
            Ipv4Addr::new(198, 51, 100, 1),
            Ipv4Addr::new(198, 51, 100, 3)
        ]
    );
    assert_eq!(
        port.load_balancer_source_ranges
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["203.0.113.0/25"]
    );
    assert_eq!(port.node_port, Some(30080));
    assert_eq!(
        port.affinity_timeout_seconds,
        Some(DEFAULT_AFFINITY_TIMEOUT_SECONDS)
    );
    assert!(!port.external_policy_local);

    // A node port left on a ClusterIP service is not served; nor is an ingress status.
    let cluster_ip = web(
        json!({"ports": [{"name": "http", "port": 80, "nodePort": 30081}],
        "sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}}}),
    );
    let model = ProxyModel::build(&[cluster_ip], &[], "n");
    assert_eq!(only_port(&model).node_port, None);
    assert_eq!(only_port(&model).affinity_timeout_seconds, Some(60));
}

#[test]
fn malformed_ports_are_skipped() {
    let bad = web(json!({"ports": [
        {"name": "a", "port": 0}, {"name": "b", "port": 70000}, {"name": "c", "port": 80, "protocol": "ICMP"},
        {"name": "d", "port": 81},
    ]}));
    let model = ProxyModel::build(&[bad], &[], "n");
    assert_eq!(only_port(&model).name.port, "d");
}
