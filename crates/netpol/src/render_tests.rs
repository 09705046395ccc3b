//! The rules rendered for given clusters: layout, and the rule text of each kind of allow.

use capstan_nft::transaction::full;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use serde_json::json;

use super::*;
use crate::model::tests::{namespace, pod, policy, NODE};

fn ruleset(policies: &[NetworkPolicy], pods: &[Pod], namespaces: &[Namespace]) -> Ruleset {
    render(&NetpolModel::build(policies, pods, namespaces, NODE))
}

fn pods() -> Vec<Pod> {
    vec![
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
    ]
}

fn rules<'r>(ruleset: &'r Ruleset, chain: &str) -> &'r [String] {
    &ruleset
        .chains
        .get(chain)
        .unwrap_or_else(|| panic!("no chain {chain}: {ruleset:#?}"))
        .rules
}

fn elements(ruleset: &Ruleset, set: &str) -> Vec<String> {
    let set = ruleset
        .sets
        .get(set)
        .unwrap_or_else(|| panic!("no set {set}: {ruleset:#?}"));
    set.elements
        .iter()
        .map(|(key, element)| match &element.value {
            Some(value) => format!("{key} : {value}"),
            None => key.clone(),
        })
        .collect()
}

#[test]
fn without_policies_only_the_skeleton() {
    let ruleset = ruleset(&[], &pods(), &[]);
    assert_eq!(
        rules(&ruleset, "forward-egress"),
        [
            "ct state established,related accept",
            "ip saddr . ip daddr @self-traffic accept",
            "ip saddr vmap @egress-pods"
        ]
    );
    assert_eq!(
        rules(&ruleset, "forward-ingress"),
        [
            "ct state established,related accept",
            "ip saddr . ip daddr @self-traffic accept",
            "ip daddr vmap @ingress-pods"
        ]
    );
    assert_eq!(
        rules(&ruleset, "input-egress"),
        [
            "ct state established,related accept",
            "ip saddr vmap @egress-pods"
        ]
    );
    assert_eq!(ruleset.chains.len(), 3);
    assert_eq!(ruleset.sets.len(), 3);
    assert_eq!(ruleset.element_count(), 0);
}

#[test]
fn default_deny_sends_the_pods_to_a_dropping_chain() {
    let ruleset = ruleset(
        &[policy("prod", "deny", json!({"podSelector": {}}))],
        &pods(),
        &[],
    );
    assert_eq!(
        elements(&ruleset, "ingress-pods"),
        [
            "10.0.0.2 : jump pods-ingress-prod/deny",
            "10.0.0.3 : jump pods-ingress-prod/deny"
        ]
    );
    assert!(elements(&ruleset, "egress-pods").is_empty());
    assert_eq!(
        elements(&ruleset, "self-traffic"),
        ["10.0.0.2 . 10.0.0.2", "10.0.0.3 . 10.0.0.3"]
    );
    assert_eq!(rules(&ruleset, "pods-ingress-prod/deny"), ["counter drop"]);
    assert!(
        !ruleset.chains.contains_key("policy-ingress-prod/deny"),
        "no rules, no chain"
    );
}

#[test]
fn pods_isolated_by_the_same_policies_share_a_chain() {
    let deny = policy("prod", "deny", json!({"podSelector": {}}));
    let web = policy(
        "prod",
        "web",
        json!({"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{}]}),
    );
    let ruleset = ruleset(&[deny, web], &pods(), &[]);
    assert_eq!(
        elements(&ruleset, "ingress-pods"),
        [
            "10.0.0.2 : jump pods-ingress-prod/deny/web",
            "10.0.0.3 : jump pods-ingress-prod/deny"
        ]
    );
    assert_eq!(
        rules(&ruleset, "pods-ingress-prod/deny/web"),
        ["jump policy-ingress-prod/web", "counter drop"]
    );
    assert_eq!(rules(&ruleset, "policy-ingress-prod/web"), ["accept"]);
}

#[test]
fn peers_and_ports_become_sets_and_matches() {
    let namespaces = [namespace("dev", json!({"team": "dev"}))];
    let spec = json!({"podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress", "Egress"],
    "ingress": [
        {"from": [{"podSelector": {"matchLabels": {"app": "client"}}},
                  {"namespaceSelector": {"matchLabels": {"team": "dev"}}},
                  {"ipBlock": {"cidr": "192.168.0.0/16", "except": ["192.168.1.0/24"]}}],
         "ports": [{"port": 5432}, {"port": 6000, "endPort": 6010}, {"port": 6005}, {"protocol": "UDP", "port": 53},
                   {"protocol": "SCTP"}, {"port": "http"}]},
        {"from": [{"podSelector": {"matchLabels": {"app": "web"}}}]},
    ],
    "egress": [
        {"to": [{"podSelector": {}}], "ports": [{"port": "http"}, {"port": 443}]},
        {"ports": [{"protocol": "UDP", "port": 53}]},
    ]});
    let ruleset = ruleset(&[policy("prod", "db", spec)], &pods(), &namespaces);

    assert_eq!(
        elements(&ruleset, "peers-ingress-prod/db/0"),
        [
            "10.0.0.4",
            "10.0.1.5",
            "192.168.0.0/24",
            "192.168.2.0-192.168.255.255"
        ]
    );
    assert_eq!(
        elements(&ruleset, "ports-ingress-prod/db/0"),
        ["10.0.0.3 . tcp . 8080"],
        "db's own http"
    );
    assert_eq!(elements(&ruleset, "peers-ingress-prod/db/1"), ["10.0.0.2"]);
    assert_eq!(
        rules(&ruleset, "policy-ingress-prod/db"),
        [
            "ip saddr @peers-ingress-prod/db/0 meta l4proto tcp th dport { 5432, 6000-6010 } accept",
            "ip saddr @peers-ingress-prod/db/0 meta l4proto udp th dport 53 accept",
            "ip saddr @peers-ingress-prod/db/0 meta l4proto sctp accept",
            "ip saddr @peers-ingress-prod/db/0 ip daddr . meta l4proto . th dport @ports-ingress-prod/db/0 accept",
            "ip saddr @peers-ingress-prod/db/1 accept",
        ]
    );

    assert_eq!(
        elements(&ruleset, "peers-egress-prod/db/0"),
        ["10.0.0.2-10.0.0.4"],
        "the prod pods, merged into one range"
    );
    assert_eq!(
        elements(&ruleset, "ports-egress-prod/db/0"),
        [
            "10.0.0.2 . tcp . 8080",
            "10.0.0.3 . tcp . 8080",
            "10.0.0.4 . tcp . 8080"
        ]
    );
    assert!(
        !ruleset.sets.contains_key("peers-egress-prod/db/1"),
        "no `to`: no set"
    );
    assert_eq!(
        rules(&ruleset, "policy-egress-prod/db"),
        [
            "ip daddr @peers-egress-prod/db/0 meta l4proto tcp th dport 443 accept",
            "ip daddr @peers-egress-prod/db/0 ip daddr . meta l4proto . th dport @ports-egress-prod/db/0 accept",
            "meta l4proto udp th dport 53 accept",
        ]
    );
    assert_eq!(
        elements(&ruleset, "egress-pods"),
        ["10.0.0.3 : jump pods-egress-prod/db"]
    );
}

#[test]
fn duplicate_rules_are_written_once() {
    let spec = json!({"podSelector": {}, "ingress": [{"ports": [{"port": 80}]}, {"ports": [{"port": 80}]}]});
    let ruleset = ruleset(&[policy("prod", "p", spec)], &pods(), &[]);
    assert_eq!(
        rules(&ruleset, "policy-ingress-prod/p"),
        ["meta l4proto tcp th dport 80 accept"]
    );
}

#[test]
fn named_ports_keep_their_set_when_nothing_resolves() {
    let spec = json!({"podSelector": {}, "ingress": [{"ports": [{"port": "no-such-port"}]}]});
    let ruleset = ruleset(&[policy("prod", "p", spec)], &pods(), &[]);
    assert!(elements(&ruleset, "ports-ingress-prod/p/0").is_empty());
    assert_eq!(
        rules(&ruleset, "policy-ingress-prod/p"),
        ["ip daddr . meta l4proto . th dport @ports-ingress-prod/p/0 accept"]
    );
}

#[test]
fn port_ranges_merge() {
    let ports = [
        PortMatch::single(Protocol::Tcp, 80),
        PortMatch {
            protocol: Protocol::Tcp,
            range: Some((81, 90)),
        },
        PortMatch {
            protocol: Protocol::Tcp,
            range: Some((85, 100)),
        },
        PortMatch::single(Protocol::Tcp, 65535),
        PortMatch::single(Protocol::Udp, 1),
        PortMatch {
            protocol: Protocol::Udp,
            range: None,
        },
    ];
    assert_eq!(
        port_matches(&ports),
        [
            "meta l4proto tcp th dport { 80-100, 65535 }",
            "meta l4proto udp"
        ]
    );
}

#[test]
fn full_transaction_text() {
    let spec = json!({"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}], "ports": [{"port": 8080}]}]});
    let ruleset = ruleset(&[policy("prod", "web", spec)], &pods(), &[]);
    let expected = "\
add table ip t
delete table ip t
add table ip t { comment \"NetworkPolicy rules of capstan\" ; }
add map ip t egress-pods { type ipv4_addr : verdict ; }
add map ip t ingress-pods { type ipv4_addr : verdict ; }
add set ip t peers-ingress-prod/web/0 { type ipv4_addr ; flags interval ; }
add set ip t self-traffic { type ipv4_addr . ipv4_addr ; }
add chain ip t forward-egress { type filter hook forward priority 0 ; policy accept ; }
add chain ip t forward-ingress { type filter hook forward priority 0 ; policy accept ; }
add chain ip t input-egress { type filter hook input priority 0 ; policy accept ; }
add chain ip t pods-egress-prod/web
add chain ip t pods-ingress-prod/web
add chain ip t policy-ingress-prod/web
add rule ip t forward-egress ct state established,related accept
add rule ip t forward-egress ip saddr . ip daddr @self-traffic accept
add rule ip t forward-egress ip saddr vmap @egress-pods
add rule ip t forward-ingress ct state established,related accept
add rule ip t forward-ingress ip saddr . ip daddr @self-traffic accept
add rule ip t forward-ingress ip daddr vmap @ingress-pods
add rule ip t input-egress ct state established,related accept
add rule ip t input-egress ip saddr vmap @egress-pods
add rule ip t pods-egress-prod/web counter drop
add rule ip t pods-ingress-prod/web jump policy-ingress-prod/web
add rule ip t pods-ingress-prod/web counter drop
add rule ip t policy-ingress-prod/web ip saddr @peers-ingress-prod/web/0 meta l4proto tcp th dport 8080 accept
add element ip t egress-pods { 10.0.0.2 : jump pods-egress-prod/web }
add element ip t ingress-pods { 10.0.0.2 : jump pods-ingress-prod/web }
add element ip t peers-ingress-prod/web/0 { 10.0.0.4 }
add element ip t self-traffic { 10.0.0.2 . 10.0.0.2 }
";
    assert_eq!(full("t", &ruleset).text, expected);
}
