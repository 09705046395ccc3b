use std::collections::BTreeSet;

use capstan_nft::transaction;
use serde_json::json;

use super::*;
use crate::model::tests::{service, slice};

const NODE: &str = "test-node";

fn cluster_cidrs() -> Vec<Ipv4Cidr> {
    vec!["10.0.0.0/8".parse().unwrap()]
}

fn render_objects(services: &[serde_json::Value], slices: &[serde_json::Value]) -> Ruleset {
    let services: Vec<_> = services.iter().cloned().map(service).collect();
    let slices: Vec<_> = slices.iter().cloned().map(slice).collect();
    let ruleset = render(
        &ProxyModel::build(&services, &slices, NODE),
        &cluster_cidrs(),
    );
    assert_references_resolve(&ruleset);
    ruleset
}

fn svc(namespace: &str, name: &str, spec: serde_json::Value) -> serde_json::Value {
    json!({"metadata": {"namespace": namespace, "name": name}, "spec": spec})
}

/// A slice with port p80 → 80 and one endpoint per (address, node name).
fn eps(namespace: &str, name: &str, endpoints: &[(&str, Option<&str>)]) -> serde_json::Value {
    let endpoints: Vec<_> = endpoints
        .iter()
        .map(|(ip, node)| match node {
            Some(node) => json!({"addresses": [ip], "nodeName": node}),
            None => json!({"addresses": [ip]}),
        })
        .collect();
    json!({
        "metadata": {"namespace": namespace, "name": format!("{name}-1"),
                     "labels": {"kubernetes.io/service-name": name}},
        "addressType": "IPv4",
        "ports": [{"name": "p80", "port": 80, "protocol": "TCP"}],
        "endpoints": endpoints,
    })
}

/// Every chain named by a jump, goto or vmap, and every set named by `@`, exists.
pub(crate) fn assert_references_resolve(ruleset: &Ruleset) {
    let mut texts: Vec<&str> = ruleset
        .chains
        .values()
        .flat_map(|c| c.rules.iter().map(String::as_str))
        .collect();
    for set in ruleset.sets.values() {
        texts.extend(set.elements.values().filter_map(|e| e.value.as_deref()));
    }
    for text in texts {
        let words: Vec<&str> = text.split_whitespace().collect();
        for pair in words.windows(2) {
            if matches!(pair[0], "jump" | "goto") {
                let target = pair[1].trim_end_matches(',');
                assert!(
                    ruleset.chains.contains_key(target),
                    "{text}: no chain {target}"
                );
            }
        }
        for word in words.iter().filter_map(|word| word.strip_prefix('@')) {
            assert!(ruleset.sets.contains_key(word), "{text}: no set {word}");
        }
    }
}

/// The service-specific lines of a full transaction (not the fixed part), as a set.
fn service_lines(ruleset: &Ruleset) -> BTreeSet<String> {
    let fixed = transaction::full(
        "kube-proxy",
        &render(&ProxyModel::default(), &cluster_cidrs()),
    );
    let fixed: BTreeSet<&str> = fixed.text.lines().collect();
    transaction::full("kube-proxy", ruleset)
        .text
        .lines()
        .filter(|line| !fixed.contains(line))
        .flat_map(split_elements)
        .collect()
}

/// One line per element, as kube-proxy's test dumps show them.
fn split_elements(line: &str) -> Vec<String> {
    match line.strip_prefix("add element ip kube-proxy ") {
        Some(rest) => {
            let (set, elements) = rest.split_once(" { ").unwrap();
            elements
                .trim_end_matches(" }")
                .split(", ")
                .map(|element| format!("add element ip kube-proxy {set} {{ {element} }}"))
                .collect()
        }
        None => vec![line.to_string()],
    }
}

fn lines(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(String::from)
        .collect()
}

/// kube-proxy's TestOverallNFTablesRules (pkg/proxy/nftables/proxier_test.go), without the
/// health check node ports; ClusterIP masquerade rules also match the port, as current
/// kube-proxy writes them.
#[test]
fn matches_kube_proxy_overall_rules() {
    let services = [
        svc(
            "ns1",
            "svc1",
            json!({"clusterIP": "172.30.0.41", "ports": [{"name": "p80", "port": 80, "protocol": "TCP"}]}),
        ),
        json!({"metadata": {"namespace": "ns2", "name": "svc2"},
               "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local", "clusterIP": "172.30.0.42",
                        "ports": [{"name": "p80", "port": 80, "protocol": "TCP", "nodePort": 3001}],
                        "externalIPs": ["192.168.99.22"]},
               "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}}),
        svc(
            "ns3",
            "svc3",
            json!({"type": "NodePort", "clusterIP": "172.30.0.43",
            "ports": [{"name": "p80", "port": 80, "protocol": "TCP", "nodePort": 3003}]}),
        ),
        svc(
            "ns4",
            "svc4",
            json!({"type": "NodePort", "clusterIP": "172.30.0.44", "externalIPs": ["192.168.99.33"],
            "ports": [{"name": "p80", "port": 80, "protocol": "TCP", "targetPort": 80}]}),
        ),
        json!({"metadata": {"namespace": "ns5", "name": "svc5"},
               "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Cluster", "clusterIP": "172.30.0.45",
                        "ports": [{"name": "p80", "port": 80, "protocol": "TCP", "nodePort": 3002}],
                        "loadBalancerSourceRanges": [" 203.0.113.0/25"],
                        "sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}}},
               "status": {"loadBalancer": {"ingress": [{"ip": "5.6.7.8"}]}}}),
        svc(
            "ns6",
            "svc6",
            json!({"type": "ClusterIP", "clusterIP": "172.30.0.46",
            "ports": [{"name": "p80", "port": 80, "protocol": "TCP", "targetPort": 80}]}),
        ),
    ];
    let slices = [
        eps("ns1", "svc1", &[("10.180.0.1", None)]),
        eps("ns2", "svc2", &[("10.180.0.2", None)]),
        eps("ns3", "svc3", &[("10.180.0.3", None)]),
        eps(
            "ns4",
            "svc4",
            &[("10.180.0.4", None), ("10.180.0.5", Some(NODE))],
        ),
        eps("ns5", "svc5", &[("10.180.0.3", None)]),
    ];
    let ruleset = render_objects(&services, &slices);
    let expected = lines(include_str!("render_tests_overall.nft"));
    let actual = service_lines(&ruleset);
    let missing: Vec<_> = expected.difference(&actual).collect();
    let extra: Vec<_> = actual.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing: {missing:#?}\nextra: {extra:#?}"
    );
}

#[test]
fn fixed_part_has_hooks_masquerade_and_dispatch() {
    let text = transaction::full("t", &render(&ProxyModel::default(), &cluster_cidrs())).text;
    for expected in [
        "add chain ip t nat-prerouting { type nat hook prerouting priority -100 ; policy accept ; }",
        "add chain ip t nat-output { type nat hook output priority -100 ; policy accept ; }",
        "add chain ip t nat-postrouting { type nat hook postrouting priority 100 ; policy accept ; }",
        "add chain ip t filter-input { type filter hook input priority -110 ; policy accept ; }",
        "add rule ip t nat-prerouting jump services",
        "add rule ip t nat-output jump services",
        "add rule ip t nat-postrouting jump masquerading",
        "add rule ip t filter-input ct state new jump service-endpoints-check",
        "add rule ip t filter-forward ct state new jump service-endpoints-check",
        "add rule ip t filter-output ct state new jump service-endpoints-check",
        "add rule ip t services ip daddr . meta l4proto . th dport vmap @service-ips",
        "add rule ip t services fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports",
        "add rule ip t mark-for-masquerade mark set mark or 0x4000",
        "add rule ip t masquerading mark and 0x4000 == 0 return",
        "add rule ip t masquerading mark set mark xor 0x4000",
        "add rule ip t masquerading masquerade fully-random",
        "add rule ip t reject-chain reject",
    ] {
        assert!(text.lines().any(|line| line == expected), "missing {expected:?} in\n{text}");
    }
}

#[test]
fn cluster_ip_with_several_endpoints_and_udp() {
    let services = [svc(
        "ns",
        "dns",
        json!({"clusterIP": "10.43.0.10",
        "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}]}),
    )];
    let slices = [json!({
        "metadata": {"namespace": "ns", "name": "dns-1", "labels": {"kubernetes.io/service-name": "dns"}},
        "addressType": "IPv4",
        "ports": [{"name": "dns", "port": 5353, "protocol": "UDP"}],
        "endpoints": [{"addresses": ["10.42.0.2"]}, {"addresses": ["10.42.0.3"]}],
    })];
    let ruleset = render_objects(&services, &slices);
    let name = crate::model::ServicePortName {
        namespace: "ns".into(),
        name: "dns".into(),
        port: "dns".into(),
        protocol: crate::model::Protocol::Udp,
    };
    let chain = &ruleset.chains[&names::service_chain(&name)];
    let ep2 = names::endpoint_chain(&name, "10.42.0.2".parse().unwrap(), 5353);
    let ep3 = names::endpoint_chain(&name, "10.42.0.3".parse().unwrap(), 5353);
    assert_eq!(
        chain.rules,
        [
            "ip daddr 10.43.0.10 udp dport 53 ip saddr != 10.0.0.0/8 jump mark-for-masquerade"
                .to_string(),
            format!("numgen random mod 2 vmap {{ 0 : goto {ep2}, 1 : goto {ep3} }}"),
        ]
    );
    assert_eq!(
        ruleset.chains[&ep3].rules,
        [
            "ip saddr 10.42.0.3 jump mark-for-masquerade",
            "meta l4proto udp dnat to 10.42.0.3:5353"
        ]
    );
    let service_ips = &ruleset.sets[SERVICE_IPS_MAP].elements;
    assert_eq!(
        service_ips["10.43.0.10 . udp . 53"].value.as_deref(),
        Some(format!("goto {}", names::service_chain(&name)).as_str())
    );
    assert!(ruleset.sets[CLUSTER_IPS_SET]
        .elements
        .contains_key("10.43.0.10"));
}

#[test]
fn without_cluster_cidr_cluster_ip_traffic_is_not_masqueraded() {
    let services = [service(svc(
        "ns1",
        "svc1",
        json!({"clusterIP": "172.30.0.41", "ports": [{"name": "p80", "port": 80}]}),
    ))];
    let slices = [slice(eps("ns1", "svc1", &[("10.180.0.1", None)]))];
    let ruleset = render(&ProxyModel::build(&services, &slices, NODE), &[]);
    assert_references_resolve(&ruleset);
    let chain = ruleset
        .chains
        .iter()
        .find(|(name, _)| name.starts_with("service-"))
        .unwrap()
        .1;
    assert_eq!(chain.rules.len(), 1);
    assert!(chain.rules[0].starts_with("numgen"));
}

#[test]
fn several_cluster_cidrs_form_a_set() {
    let services = [service(svc(
        "ns1",
        "svc1",
        json!({"clusterIP": "172.30.0.41", "ports": [{"name": "p80", "port": 80}]}),
    ))];
    let slices = [slice(eps("ns1", "svc1", &[("10.180.0.1", None)]))];
    let cidrs = [
        ("10.42.0.0/16").parse().unwrap(),
        ("10.44.0.0/16").parse().unwrap(),
    ];
    let ruleset = render(&ProxyModel::build(&services, &slices, NODE), &cidrs);
    let chain = ruleset
        .chains
        .iter()
        .find(|(name, _)| name.starts_with("service-"))
        .unwrap()
        .1;
    assert!(
        chain.rules[0].contains("ip saddr != { 10.42.0.0/16, 10.44.0.0/16 } jump"),
        "{:?}",
        chain.rules
    );
}

#[test]
fn internal_traffic_policy_local() {
    let spec = json!({"clusterIP": "172.30.0.41", "internalTrafficPolicy": "Local", "ports": [{"name": "p80", "port": 80}]});
    // A local endpoint: ClusterIP goes to the local chain, which has only it.
    let ruleset = render_objects(
        &[svc("ns1", "svc1", spec.clone())],
        &[eps(
            "ns1",
            "svc1",
            &[("10.180.0.1", Some(NODE)), ("10.180.0.2", Some("other"))],
        )],
    );
    let service_ips = &ruleset.sets[SERVICE_IPS_MAP].elements;
    let target = service_ips["172.30.0.41 . tcp . 80"]
        .value
        .as_deref()
        .unwrap();
    assert!(target.starts_with("goto local-"), "{target}");
    let local = &ruleset.chains[target.trim_start_matches("goto ")];
    assert!(local
        .rules
        .last()
        .unwrap()
        .starts_with("numgen random mod 1 "));
    assert_eq!(
        ruleset
            .chains
            .keys()
            .filter(|name| name.starts_with("endpoint-"))
            .count(),
        1
    );

    // None local: dropped (not rejected: the service has endpoints, just not here).
    let ruleset = render_objects(
        &[svc("ns1", "svc1", spec)],
        &[eps("ns1", "svc1", &[("10.180.0.2", Some("other"))])],
    );
    let no_endpoints = &ruleset.sets[NO_ENDPOINT_SERVICES_MAP].elements;
    assert_eq!(
        no_endpoints["172.30.0.41 . tcp . 80"].value.as_deref(),
        Some("drop")
    );
    assert!(ruleset.sets[SERVICE_IPS_MAP].elements.is_empty());
    assert!(!ruleset
        .chains
        .keys()
        .any(|name| names::is_service_object(name)));
}

#[test]
fn external_traffic_policy_local_without_local_endpoints() {
    let ruleset = render_objects(
        &[svc(
            "ns",
            "np",
            json!({"type": "NodePort", "externalTrafficPolicy": "Local", "clusterIP": "172.30.0.50",
            "externalIPs": ["192.0.2.10"], "ports": [{"name": "p80", "port": 80, "nodePort": 30080}]}),
        )],
        &[eps("ns", "np", &[("10.180.0.9", Some("other"))])],
    );
    // ClusterIP still works (Cluster internal policy).
    assert!(
        ruleset.sets[SERVICE_IPS_MAP].elements["172.30.0.50 . tcp . 80"]
            .value
            .as_deref()
            .unwrap()
            .starts_with("goto service-")
    );
    // External traffic: through the external chain (for short-circuits), else dropped.
    let nodeports = &ruleset.sets[SERVICE_NODEPORTS_MAP].elements;
    let external = nodeports["tcp . 30080"]
        .value
        .as_deref()
        .unwrap()
        .trim_start_matches("goto ");
    let rules = &ruleset.chains[external].rules;
    assert_eq!(rules.len(), 3, "{rules:?}");
    assert!(rules[0].starts_with("ip saddr 10.0.0.0/8 goto service-"));
    assert!(rules[1].starts_with("fib saddr type local jump mark-for-masquerade"));
    assert!(rules[2].starts_with("fib saddr type local goto service-"));
    assert_eq!(
        ruleset.sets[NO_ENDPOINT_NODEPORTS_MAP].elements["tcp . 30080"]
            .value
            .as_deref(),
        Some("drop")
    );
    assert_eq!(
        ruleset.sets[NO_ENDPOINT_SERVICES_MAP].elements["192.0.2.10 . tcp . 80"]
            .value
            .as_deref(),
        Some("drop")
    );
}

#[test]
fn no_endpoints_reject_every_address() {
    let ruleset = render_objects(
        &[json!({"metadata": {"namespace": "ns", "name": "lb"},
                 "spec": {"type": "LoadBalancer", "clusterIP": "172.30.0.41", "externalIPs": ["192.168.99.11"],
                          "ports": [{"name": "p80", "port": 80, "nodePort": 3001}]},
                 "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}})],
        &[],
    );
    let no_endpoints = &ruleset.sets[NO_ENDPOINT_SERVICES_MAP].elements;
    for key in [
        "172.30.0.41 . tcp . 80",
        "192.168.99.11 . tcp . 80",
        "1.2.3.4 . tcp . 80",
    ] {
        assert_eq!(
            no_endpoints[key].value.as_deref(),
            Some("goto reject-chain"),
            "{key}"
        );
        assert_eq!(no_endpoints[key].comment.as_deref(), Some("ns/lb:p80"));
    }
    assert_eq!(
        ruleset.sets[NO_ENDPOINT_NODEPORTS_MAP].elements["tcp . 3001"]
            .value
            .as_deref(),
        Some("goto reject-chain")
    );
    assert!(ruleset.sets[SERVICE_IPS_MAP].elements.is_empty());
    assert!(ruleset.sets[SERVICE_NODEPORTS_MAP].elements.is_empty());
}

#[test]
fn session_affinity_sets_and_rules() {
    let ruleset = render_objects(
        &[svc(
            "ns",
            "sticky",
            json!({"clusterIP": "172.30.0.60", "sessionAffinity": "ClientIP",
            "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 300}}, "ports": [{"name": "p80", "port": 80}]}),
        )],
        &[eps(
            "ns",
            "sticky",
            &[("10.180.0.1", None), ("10.180.0.2", None)],
        )],
    );
    let sets: Vec<_> = ruleset
        .sets
        .iter()
        .filter(|(name, _)| name.starts_with("affinity-"))
        .collect();
    assert_eq!(sets.len(), 2);
    for (_, set) in &sets {
        assert_eq!(set.spec.timeout_seconds, Some(300));
        assert_eq!(set.spec.flags, Some("dynamic,timeout"));
    }
    let service = ruleset
        .chains
        .iter()
        .find(|(name, _)| name.starts_with("service-"))
        .unwrap()
        .1;
    assert_eq!(service.rules.len(), 4);
    assert!(
        service.rules[1].starts_with("ip saddr @affinity-")
            && service.rules[1].contains(" goto endpoint-")
    );
    assert!(service.rules[3].starts_with("numgen random mod 2 "));
    let endpoint = ruleset
        .chains
        .iter()
        .find(|(name, _)| name.starts_with("endpoint-"))
        .unwrap()
        .1;
    assert!(
        endpoint.rules[1].starts_with("update @affinity-")
            && endpoint.rules[1].ends_with("{ ip saddr }")
    );
}

#[test]
fn headless_and_external_name_services_get_nothing() {
    let ruleset = render_objects(
        &[
            svc(
                "ns",
                "headless",
                json!({"clusterIP": "None", "ports": [{"name": "p80", "port": 80}]}),
            ),
            svc(
                "ns",
                "ext",
                json!({"type": "ExternalName", "externalName": "example.com"}),
            ),
        ],
        &[eps("ns", "headless", &[("10.180.0.1", None)])],
    );
    assert_eq!(ruleset, render(&ProxyModel::default(), &cluster_cidrs()));
}

#[test]
fn load_balancer_without_ingress_keeps_cluster_ip_and_node_port() {
    let ruleset = render_objects(
        &[svc(
            "ns",
            "lb",
            json!({"type": "LoadBalancer", "clusterIP": "172.30.0.70",
            "ports": [{"name": "p80", "port": 80, "nodePort": 30070}]}),
        )],
        &[eps("ns", "lb", &[("10.180.0.1", None)])],
    );
    assert!(ruleset.sets[SERVICE_IPS_MAP]
        .elements
        .contains_key("172.30.0.70 . tcp . 80"));
    assert!(ruleset.sets[SERVICE_NODEPORTS_MAP]
        .elements
        .contains_key("tcp . 30070"));
    assert!(ruleset.sets[FIREWALL_IPS_MAP].elements.is_empty());
}

#[test]
fn comments_are_bounded_and_quoted_safely() {
    assert_eq!(truncate_comment("a\"b"), "a_b");
    assert_eq!(truncate_comment(&"x".repeat(200)).len(), COMMENT_LENGTH_MAX);
}
