//! Policy semantics, checked by asking the model whether given packets would pass.

use serde_json::json;

use super::*;

pub(crate) const NODE: &str = "node-a";

pub(crate) fn pod(
    namespace: &str,
    name: &str,
    labels: serde_json::Value,
    ip: &str,
    node: &str,
) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"namespace": namespace, "name": name, "labels": labels},
        "spec": {"nodeName": node, "containers": [{"name": "main", "ports": [
            {"name": "http", "containerPort": 8080},
            {"name": "dns", "containerPort": 5353, "protocol": "UDP"},
        ]}]},
        "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]},
    }))
    .expect("Pod")
}

pub(crate) fn namespace(name: &str, labels: serde_json::Value) -> Namespace {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}}))
        .expect("Namespace")
}

pub(crate) fn policy(namespace: &str, name: &str, spec: serde_json::Value) -> NetworkPolicy {
    serde_json::from_value(
        json!({"metadata": {"namespace": namespace, "name": name}, "spec": spec}),
    )
    .expect("NetworkPolicy")
}

fn build(policies: &[NetworkPolicy], pods: &[Pod], namespaces: &[Namespace]) -> NetpolModel {
    NetpolModel::build(policies, pods, namespaces, NODE)
}

fn ip(text: &str) -> Ipv4Addr {
    text.parse().expect("IPv4 address")
}

/// Whether the model lets a packet through in `direction` of the local pod at `local`, from or
/// to `peer` on `protocol`/`port`: the reference the rendered rules must agree with.
pub(crate) fn allows(
    model: &NetpolModel,
    direction: Direction,
    local: &str,
    peer: &str,
    protocol: Protocol,
    port: u16,
) -> bool {
    let (local, peer) = (ip(local), ip(peer));
    let Some(pod) = model.pods.iter().find(|pod| pod.ip == local) else {
        return true;
    };
    let Some(policies) = pod.policies(direction) else {
        return true;
    };
    let destination = match direction {
        Direction::Ingress => local,
        Direction::Egress => peer,
    };
    let rules = policies.iter().flat_map(|policy| {
        model
            .rules
            .get(&(policy.clone(), direction))
            .into_iter()
            .flatten()
    });
    rules.into_iter().any(|rule| {
        let peer_ok = rule
            .peers
            .as_ref()
            .is_none_or(|addresses| addresses.contains(peer));
        let port_ok = match &rule.ports {
            Ports::Any => true,
            Ports::Listed(ports) => ports.iter().any(|allowed| {
                allowed.protocol == protocol
                    && allowed
                        .range
                        .is_none_or(|(first, last)| (first..=last).contains(&port))
            }),
        };
        let named_ok = rule
            .named_ports
            .as_ref()
            .is_some_and(|named| named.contains(&(destination, protocol, port)));
        peer_ok && (port_ok || named_ok)
    })
}

fn ingress_ok(model: &NetpolModel, local: &str, peer: &str, port: u16) -> bool {
    allows(model, Direction::Ingress, local, peer, Protocol::Tcp, port)
}

fn egress_ok(model: &NetpolModel, local: &str, peer: &str, port: u16) -> bool {
    allows(model, Direction::Egress, local, peer, Protocol::Tcp, port)
}

/// web (10.0.0.2) and db (10.0.0.3) in `prod` on this node; client (10.0.0.4) in `prod` on
/// another node; tool (10.0.1.5) in `dev` (labelled team=dev) on this node.
fn cluster() -> (Vec<Pod>, Vec<Namespace>) {
    let pods = vec![
        pod("prod", "web", json!({"app": "web"}), "10.0.0.2", NODE),
        pod("prod", "db", json!({"app": "db"}), "10.0.0.3", NODE),
        pod(
            "prod",
            "client",
            json!({"app": "client"}),
            "10.0.0.4",
            "node-b",
        ),
        pod("dev", "tool", json!({"app": "client"}), "10.0.1.5", NODE),
    ];
    let namespaces = vec![
        namespace("prod", json!({"team": "prod"})),
        namespace("dev", json!({"team": "dev"})),
    ];
    (pods, namespaces)
}

#[test]
fn without_policies_nothing_is_isolated() {
    let (pods, namespaces) = cluster();
    let model = build(&[], &pods, &namespaces);
    assert!(model.pods.is_empty());
    assert!(ingress_ok(&model, "10.0.0.2", "192.0.2.1", 1));
}

#[test]
fn default_deny_ingress_isolates_the_namespace_for_ingress_only() {
    let (pods, namespaces) = cluster();
    let model = build(
        &[policy("prod", "deny", json!({"podSelector": {}}))],
        &pods,
        &namespaces,
    );
    let names: Vec<&str> = model.pods.iter().map(|pod| pod.name.as_str()).collect();
    assert_eq!(
        names,
        ["db", "web"],
        "only this node's pods of the policy's namespace"
    );
    assert!(model
        .pods
        .iter()
        .all(|pod| pod.ingress.as_ref().is_some_and(|p| p.len() == 1) && pod.egress.is_none()));
    assert!(model.rules.values().all(Vec::is_empty), "isolation only");
    assert!(!ingress_ok(&model, "10.0.0.2", "10.0.0.4", 80));
    assert!(
        egress_ok(&model, "10.0.0.2", "192.0.2.1", 443),
        "egress is not isolated"
    );
    assert!(
        ingress_ok(&model, "10.0.1.5", "10.0.0.4", 80),
        "other namespaces are not isolated"
    );
    assert_eq!(model.policies_in_effect(), 1);
}

#[test]
fn egress_isolation_follows_policy_types() {
    let (pods, namespaces) = cluster();
    let with_rules = policy(
        "prod",
        "e",
        json!({"podSelector": {"matchLabels": {"app": "web"}},
        "egress": [{"ports": [{"port": 53, "protocol": "UDP"}]}]}),
    );
    let model = build(&[with_rules], &pods, &namespaces);
    assert_eq!(model.pods.len(), 1);
    let web = &model.pods[0];
    assert!(
        web.ingress.is_some() && web.egress.is_some(),
        "Ingress always, Egress because of egress rules"
    );
    assert!(allows(
        &model,
        Direction::Egress,
        "10.0.0.2",
        "192.0.2.53",
        Protocol::Udp,
        53
    ));
    assert!(!allows(
        &model,
        Direction::Egress,
        "10.0.0.2",
        "192.0.2.53",
        Protocol::Tcp,
        53
    ));

    let egress_only = policy(
        "prod",
        "e",
        json!({"podSelector": {}, "policyTypes": ["Egress"]}),
    );
    let model = build(&[egress_only], &pods, &namespaces);
    assert!(model
        .pods
        .iter()
        .all(|pod| pod.ingress.is_none() && pod.egress.is_some()));
    assert!(!egress_ok(&model, "10.0.0.2", "10.0.0.3", 80));
    assert!(ingress_ok(&model, "10.0.0.2", "10.0.0.3", 80));
}

#[test]
fn pod_selectors_pick_the_isolated_pods() {
    let (pods, namespaces) = cluster();
    let only_db = policy(
        "prod",
        "db",
        json!({"podSelector": {"matchExpressions": [
        {"key": "app", "operator": "In", "values": ["db"]}]}}),
    );
    let model = build(&[only_db], &pods, &namespaces);
    assert_eq!(
        model
            .pods
            .iter()
            .map(|pod| pod.name.as_str())
            .collect::<Vec<_>>(),
        ["db"]
    );
    assert!(!ingress_ok(&model, "10.0.0.3", "10.0.0.2", 5432));
    assert!(ingress_ok(&model, "10.0.0.2", "10.0.0.3", 80));
}

#[test]
fn pod_and_namespace_peers() {
    let (pods, namespaces) = cluster();
    let rule = |from: serde_json::Value| {
        let spec =
            json!({"podSelector": {"matchLabels": {"app": "db"}}, "ingress": [{"from": from}]});
        build(&[policy("prod", "p", spec)], &pods, &namespaces)
    };

    // podSelector alone: pods of the policy's namespace only.
    let model = rule(json!([{"podSelector": {"matchLabels": {"app": "client"}}}]));
    assert!(
        ingress_ok(&model, "10.0.0.3", "10.0.0.4", 5432),
        "prod/client, on another node"
    );
    assert!(
        !ingress_ok(&model, "10.0.0.3", "10.0.1.5", 5432),
        "dev/tool has the label but not the namespace"
    );
    assert!(!ingress_ok(&model, "10.0.0.3", "10.0.0.2", 5432));

    // namespaceSelector alone: every pod of matching namespaces.
    let model = rule(json!([{"namespaceSelector": {"matchLabels": {"team": "dev"}}}]));
    assert!(ingress_ok(&model, "10.0.0.3", "10.0.1.5", 5432));
    assert!(!ingress_ok(&model, "10.0.0.3", "10.0.0.4", 5432));

    // Both in one peer: those pods in those namespaces.
    let model =
        rule(json!([{"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "client"}}}]));
    assert!(ingress_ok(&model, "10.0.0.3", "10.0.0.4", 5432));
    assert!(ingress_ok(&model, "10.0.0.3", "10.0.1.5", 5432));
    assert!(!ingress_ok(&model, "10.0.0.3", "10.0.0.2", 5432));

    // The namespace name label works even when the Namespace object lacks it.
    let model = rule(
        json!([{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "dev"}}}]),
    );
    assert!(ingress_ok(&model, "10.0.0.3", "10.0.1.5", 5432));
    assert!(!ingress_ok(&model, "10.0.0.3", "10.0.0.4", 5432));

    // Two peers in one rule: either.
    let model = rule(json!([{"podSelector": {"matchLabels": {"app": "web"}}},
                            {"namespaceSelector": {"matchLabels": {"team": "dev"}}}]));
    assert!(ingress_ok(&model, "10.0.0.3", "10.0.0.2", 5432));
    assert!(ingress_ok(&model, "10.0.0.3", "10.0.1.5", 5432));
    assert!(!ingress_ok(&model, "10.0.0.3", "10.0.0.4", 5432));

    // No `from`: everybody, pods or not.
    let model = rule(json!(null));
    assert!(ingress_ok(&model, "10.0.0.3", "192.0.2.1", 5432));
    assert!(model
        .rules
        .values()
        .flatten()
        .all(|rule| rule.peers.is_none()));
}

#[test]
fn ip_blocks_with_exceptions() {
    let (pods, namespaces) = cluster();
    let spec = json!({"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [
        {"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.0.0.0/30"]}},
        {"ipBlock": {"cidr": "192.0.2.0/24"}},
    ]}]});
    let model = build(&[policy("prod", "p", spec)], &pods, &namespaces);
    assert!(egress_ok(&model, "10.0.0.2", "192.0.2.77", 443));
    assert!(
        egress_ok(&model, "10.0.0.2", "10.0.0.4", 80),
        "pod addresses match ipBlocks too"
    );
    assert!(egress_ok(&model, "10.0.0.2", "10.0.1.5", 80));
    assert!(!egress_ok(&model, "10.0.0.2", "10.0.0.3", 80), "excepted");
    assert!(!egress_ok(&model, "10.0.0.2", "198.51.100.1", 80));
}

#[test]
fn numeric_ports_protocols_and_ranges() {
    let (pods, namespaces) = cluster();
    let spec = json!({"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"ports": [
        {"port": 80},
        {"protocol": "UDP", "port": 5000, "endPort": 5010},
        {"protocol": "SCTP"},
    ]}]});
    let model = build(&[policy("prod", "p", spec)], &pods, &namespaces);
    let check = |protocol, port| {
        allows(
            &model,
            Direction::Ingress,
            "10.0.0.2",
            "192.0.2.1",
            protocol,
            port,
        )
    };
    assert!(check(Protocol::Tcp, 80));
    assert!(!check(Protocol::Tcp, 81));
    assert!(!check(Protocol::Udp, 80));
    assert!(check(Protocol::Udp, 5000) && check(Protocol::Udp, 5007) && check(Protocol::Udp, 5010));
    assert!(!check(Protocol::Udp, 5011) && !check(Protocol::Udp, 4999));
    assert!(check(Protocol::Sctp, 1) && check(Protocol::Sctp, 65535));
}

#[test]
fn named_ports_resolve_on_the_destination_pod() {
    let (mut pods, namespaces) = cluster();
    // A pod whose "http" port is another number.
    pods.push(serde_json::from_value(json!({
        "metadata": {"namespace": "prod", "name": "alt", "labels": {"app": "alt"}},
        "spec": {"nodeName": "node-b", "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 9090}]}]},
        "status": {"phase": "Running", "podIP": "10.0.0.9"},
    }))
    .unwrap());

    let ingress = policy(
        "prod",
        "in",
        json!({"podSelector": {"matchLabels": {"app": "web"}},
        "ingress": [{"ports": [{"port": "http"}, {"port": "dns", "protocol": "UDP"}, {"port": "missing"}]}]}),
    );
    let model = build(&[ingress], &pods, &namespaces);
    assert!(
        ingress_ok(&model, "10.0.0.2", "192.0.2.1", 8080),
        "web's own http port"
    );
    assert!(!ingress_ok(&model, "10.0.0.2", "192.0.2.1", 9090));
    assert!(allows(
        &model,
        Direction::Ingress,
        "10.0.0.2",
        "192.0.2.1",
        Protocol::Udp,
        5353
    ));
    assert!(
        !allows(
            &model,
            Direction::Ingress,
            "10.0.0.2",
            "192.0.2.1",
            Protocol::Tcp,
            5353
        ),
        "protocol must match"
    );

    let egress = policy(
        "prod",
        "out",
        json!({"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Egress"],
        "egress": [{"to": [{"podSelector": {}}, {"ipBlock": {"cidr": "192.0.2.0/24"}}], "ports": [{"port": "http"}]}]}),
    );
    let model = build(&[egress], &pods, &namespaces);
    assert!(egress_ok(&model, "10.0.0.2", "10.0.0.3", 8080), "db's http");
    assert!(
        egress_ok(&model, "10.0.0.2", "10.0.0.9", 9090),
        "alt's http is 9090"
    );
    assert!(!egress_ok(&model, "10.0.0.2", "10.0.0.9", 8080));
    assert!(
        !egress_ok(&model, "10.0.0.2", "10.0.1.5", 8080),
        "dev/tool is not a peer"
    );
    assert!(
        !egress_ok(&model, "10.0.0.2", "192.0.2.1", 8080),
        "addresses have no named ports"
    );

    // No `to`: any pod having the named port.
    let egress_anywhere = policy(
        "prod",
        "out",
        json!({"podSelector": {"matchLabels": {"app": "web"}},
        "policyTypes": ["Egress"], "egress": [{"ports": [{"port": "http"}, {"port": 443}]}]}),
    );
    let model = build(&[egress_anywhere], &pods, &namespaces);
    assert!(egress_ok(&model, "10.0.0.2", "10.0.1.5", 8080));
    assert!(egress_ok(&model, "10.0.0.2", "10.0.0.9", 9090));
    assert!(!egress_ok(&model, "10.0.0.2", "192.0.2.1", 8080));
    assert!(egress_ok(&model, "10.0.0.2", "192.0.2.1", 443));
}

#[test]
fn policies_add_up() {
    let (pods, namespaces) = cluster();
    let from_client = policy(
        "prod",
        "a",
        json!({"podSelector": {"matchLabels": {"app": "db"}},
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}], "ports": [{"port": 5432}]}]}),
    );
    let from_web = policy(
        "prod",
        "b",
        json!({"podSelector": {},
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}]}]}),
    );
    let deny = policy("prod", "c", json!({"podSelector": {}}));
    let model = build(&[from_client, from_web, deny], &pods, &namespaces);
    assert!(ingress_ok(&model, "10.0.0.3", "10.0.0.4", 5432));
    assert!(
        !ingress_ok(&model, "10.0.0.3", "10.0.0.4", 22),
        "rule a is limited to 5432"
    );
    assert!(
        ingress_ok(&model, "10.0.0.3", "10.0.0.2", 22),
        "rule b allows any port from web"
    );
    assert!(
        !ingress_ok(&model, "10.0.0.2", "10.0.0.4", 5432),
        "web is only selected by b and c"
    );
    assert_eq!(model.policies_in_effect(), 3);
    assert_eq!(
        model.rules.len(),
        3,
        "one entry per policy and direction, shared by the pods it selects"
    );
}

#[test]
fn pods_policies_ignore() {
    let mut pods = vec![
        serde_json::from_value(json!({"metadata": {"namespace": "ns", "name": "pending"},
            "spec": {"nodeName": NODE, "containers": []}, "status": {"phase": "Pending"}}))
        .unwrap(),
        serde_json::from_value(json!({"metadata": {"namespace": "ns", "name": "host"},
            "spec": {"nodeName": NODE, "hostNetwork": true, "containers": []},
            "status": {"phase": "Running", "podIP": "192.0.2.10"}}))
        .unwrap(),
        serde_json::from_value(json!({"metadata": {"namespace": "ns", "name": "done"},
            "spec": {"nodeName": NODE, "containers": []},
            "status": {"phase": "Succeeded", "podIP": "10.0.0.7"}}))
        .unwrap(),
        serde_json::from_value(json!({"metadata": {"namespace": "ns", "name": "v6"},
            "spec": {"nodeName": NODE, "containers": []},
            "status": {"phase": "Running", "podIP": "fd00::7", "podIPs": [{"ip": "fd00::7"}, {"ip": "10.0.0.8"}]}}))
        .unwrap(),
        pod("ns", "other-node", json!({}), "10.0.0.9", "node-b"),
    ];
    pods.push(Pod::default());
    let allow_all_pods = policy(
        "ns",
        "p",
        json!({"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}]}]}),
    );
    let model = build(&[allow_all_pods], &pods, &[]);
    let names: Vec<&str> = model.pods.iter().map(|pod| pod.name.as_str()).collect();
    assert_eq!(names, ["v6"], "its IPv4 address is used");
    assert_eq!(model.pods[0].ip, ip("10.0.0.8"));
    let peers = model
        .rules
        .values()
        .next()
        .and_then(|rules| rules[0].peers.clone())
        .unwrap();
    let listed: Vec<String> = peers.ranges().iter().map(ToString::to_string).collect();
    assert_eq!(
        listed,
        ["10.0.0.8/31"],
        "no terminated or host-network peers"
    );
}

#[test]
fn one_pod_per_address() {
    let mut leaving = pod("ns", "a-leaving", json!({}), "10.0.0.5", NODE);
    leaving.metadata.deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
        ));
    let pods = [leaving, pod("ns", "b-new", json!({}), "10.0.0.5", NODE)];
    let model = build(
        &[policy("ns", "deny", json!({"podSelector": {}}))],
        &pods,
        &[],
    );
    assert_eq!(model.pods.len(), 1);
    assert_eq!(model.pods[0].name, "b-new");
}

#[test]
fn malformed_parts_allow_nothing_more() {
    let (pods, namespaces) = cluster();
    let spec = json!({"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [
        {"from": [{}], "ports": [{"port": 80}]},
        {"from": [{"ipBlock": {"cidr": "not-a-cidr"}}]},
        {"ports": [{"protocol": "ICMP"}]},
        {"from": [{"podSelector": {"matchExpressions": [{"key": "app", "operator": "Bogus"}]}}]},
    ]});
    let model = build(&[policy("prod", "p", spec)], &pods, &namespaces);
    for peer in ["10.0.0.3", "10.0.0.4", "192.0.2.1"] {
        assert!(!ingress_ok(&model, "10.0.0.2", peer, 80), "{peer}");
    }
}
