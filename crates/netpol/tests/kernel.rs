//! The rules in a real kernel: applied with the real nft in a "node" network namespace whose
//! "pods" are namespaces on its bridge, and checked with TCP connections. Skipped, with the
//! reason printed, when not root or without nft or busybox.

mod support;

use capstan_netpol::model::NetpolModel;
use capstan_netpol::render::render;
use capstan_netpol::{remove_rules, NetpolOptions};
use capstan_nft::command::{apply, list_table, table_exists};
use capstan_nft::testing::{
    connect_until_hello, connects, kernel_table, traffic_unavailable, Hello,
};
use capstan_nft::{plan, Ruleset};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use serde_json::json;
use support::pods::{Node, GATEWAY};

const TABLE: &str = "capstan-netpol";
const NODE: &str = "node-a";

macro_rules! skip_unless_possible {
    () => {
        if let Some(reason) = traffic_unavailable() {
            eprintln!("skipped: {reason}");
            return;
        }
    };
}

fn pod(name: &str, labels: serde_json::Value, ip: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"namespace": "ns", "name": name, "labels": labels},
        "spec": {"nodeName": NODE, "containers": [{"name": "main", "ports": [{"name": "http", "containerPort": 8080}]}]},
        "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]},
    }))
    .expect("Pod")
}

fn policy(name: &str, spec: serde_json::Value) -> NetworkPolicy {
    serde_json::from_value(json!({"metadata": {"namespace": "ns", "name": name}, "spec": spec}))
        .expect("NetworkPolicy")
}

fn namespaces() -> Vec<Namespace> {
    vec![serde_json::from_value(json!({"metadata": {"name": "ns"}})).expect("Namespace")]
}

/// Applies what `policies` give for `pods` in the node, as the sync does: the change from
/// `applied` (a full replace when None); returns the new applied ruleset.
fn enforce(
    node: &Node,
    applied: Option<Ruleset>,
    policies: &[NetworkPolicy],
    pods: &[Pod],
) -> Ruleset {
    let desired = render(&NetpolModel::build(policies, pods, &namespaces(), NODE));
    let transaction = plan(TABLE, applied.as_ref(), &desired);
    assert_eq!(transaction.full, applied.is_none());
    if !transaction.is_empty() {
        apply(&node.netns.nft(), &transaction.text)
            .unwrap_or_else(|err| panic!("{err}\n{}", transaction.text));
    }
    desired
}

/// server 10.97.0.2 (app=server, listening on 8080 and 9090), client 10.97.0.3 (app=client),
/// other 10.97.0.4 (app=other).
fn three_pods() -> (Node, Vec<Pod>) {
    let mut node = Node::create().expect("node namespace");
    for host in [2, 3, 4] {
        node.add_pod(host).expect("pod namespace");
    }
    let pods = vec![
        pod("server", json!({"app": "server"}), "10.97.0.2"),
        pod("client", json!({"app": "client"}), "10.97.0.3"),
        pod("other", json!({"app": "other"}), "10.97.0.4"),
    ];
    (node, pods)
}

#[test]
fn ingress_policies_block_and_allow_connections() {
    skip_unless_possible!();
    let (node, pods) = three_pods();
    let (server, client, other) = (&node.pods[0], &node.pods[1].netns, &node.pods[2].netns);
    let _http = Hello::listen(&server.netns, 8080);
    let _admin = Hello::listen(&server.netns, 9090);

    // No policy: traffic flows (and the listeners are up).
    let applied = enforce(&node, None, &[], &pods);
    assert!(
        connect_until_hello(client, &server.ip, 8080).contains("hello"),
        "no policy: client → server"
    );
    assert!(
        connect_until_hello(other, &server.ip, 9090).contains("hello"),
        "no policy: other → server"
    );

    // Default deny for the server: nobody gets in, except the node itself (probes).
    let deny = policy(
        "deny",
        json!({"podSelector": {"matchLabels": {"app": "server"}}}),
    );
    let applied = enforce(&node, Some(applied), std::slice::from_ref(&deny), &pods);
    assert!(
        !connects(client, &server.ip, 8080),
        "default deny: client → server"
    );
    assert!(
        !connects(other, &server.ip, 8080),
        "default deny: other → server"
    );
    assert!(
        connects(&node.netns, &server.ip, 8080),
        "the node always reaches its pods"
    );

    // Allow the client's labels on the named port "http" (8080): that opens again, nothing else.
    let allow = policy(
        "allow-client",
        json!({"podSelector": {"matchLabels": {"app": "server"}},
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}], "ports": [{"port": "http"}]}]}),
    );
    let applied = enforce(&node, Some(applied), &[deny.clone(), allow], &pods);
    assert!(
        connects(client, &server.ip, 8080),
        "allowed: client → server:http"
    );
    assert!(
        !connects(client, &server.ip, 9090),
        "other ports stay closed"
    );
    assert!(!connects(other, &server.ip, 8080), "other labels stay out");

    // An ipBlock with an exception: the pod range but not `other`.
    let block = policy(
        "allow-block",
        json!({"podSelector": {"matchLabels": {"app": "server"}},
        "ingress": [{"from": [{"ipBlock": {"cidr": "10.97.0.0/24", "except": ["10.97.0.4/32"]}}], "ports": [{"port": 9090}]}]}),
    );
    let applied = enforce(&node, Some(applied), &[deny, block], &pods);
    assert!(
        connects(client, &server.ip, 9090),
        "in the block: client → server:9090"
    );
    assert!(
        !connects(other, &server.ip, 9090),
        "excepted: other → server:9090"
    );

    // Drops are counted in the pod's chain.
    let listing = list_table(&node.netns.nft(), TABLE).expect("list table");
    assert!(
        listing.contains("chain pods-ingress-ns/allow-block/deny"),
        "{listing}"
    );
    assert!(
        !listing.contains("counter packets 0 bytes 0 drop"),
        "drops counted:\n{listing}"
    );

    // Policies gone: everything flows again.
    enforce(&node, Some(applied), &[], &pods);
    assert!(
        connects(other, &server.ip, 8080),
        "no policy again: other → server"
    );
}

#[test]
fn egress_policies_block_and_allow_connections() {
    skip_unless_possible!();
    let (node, pods) = three_pods();
    let (server, client) = (&node.pods[0], &node.pods[1].netns);
    let _http = Hello::listen(&server.netns, 8080);
    let _admin = Hello::listen(&server.netns, 9090);
    let _node_service = Hello::listen(&node.netns, 7070);

    let applied = enforce(&node, None, &[], &pods);
    assert!(
        connect_until_hello(client, &server.ip, 8080).contains("hello"),
        "no policy: client → server"
    );
    assert!(
        connect_until_hello(client, GATEWAY, 7070).contains("hello"),
        "no policy: client → node"
    );

    // Egress deny for the client: it reaches neither pods (forward) nor the node (input).
    let deny = policy(
        "deny-egress",
        json!({"podSelector": {"matchLabels": {"app": "client"}}, "policyTypes": ["Egress"]}),
    );
    let applied = enforce(&node, Some(applied), std::slice::from_ref(&deny), &pods);
    assert!(
        !connects(client, &server.ip, 8080),
        "egress deny: client → server"
    );
    assert!(
        !connects(client, GATEWAY, 7070),
        "egress deny: client → node"
    );
    assert!(
        connects(&node.pods[2].netns, &server.ip, 8080),
        "other pods are not isolated"
    );
    assert!(connects(&server.netns, GATEWAY, 7070), "nor is the server");

    // Allow the client to the server's named port "http", resolved on the server.
    let allow = policy(
        "allow-server",
        json!({"podSelector": {"matchLabels": {"app": "client"}}, "policyTypes": ["Egress"],
        "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "server"}}}], "ports": [{"port": "http"}]}]}),
    );
    let applied = enforce(&node, Some(applied), &[deny.clone(), allow], &pods);
    assert!(
        connects(client, &server.ip, 8080),
        "allowed: client → server:http"
    );
    assert!(
        !connects(client, &server.ip, 9090),
        "other ports stay closed"
    );
    assert!(!connects(client, GATEWAY, 7070), "the node stays closed");

    // Allow the node's port by ipBlock: input hook traffic follows egress rules.
    let to_node = policy(
        "allow-node",
        json!({"podSelector": {"matchLabels": {"app": "client"}}, "policyTypes": ["Egress"],
        "egress": [{"to": [{"ipBlock": {"cidr": format!("{GATEWAY}/32")}}], "ports": [{"port": 7070}]}]}),
    );
    enforce(&node, Some(applied), &[deny, to_node], &pods);
    assert!(
        connects(client, GATEWAY, 7070),
        "allowed: client → node:7070"
    );
    assert!(
        !connects(client, &server.ip, 8080),
        "the server is closed again"
    );
}

fn many_pods(generation: u8) -> Vec<Pod> {
    (0..40u8)
        .map(|index| {
            let role = if (index + generation).is_multiple_of(3) {
                "client"
            } else {
                "server"
            };
            pod(
                &format!("p{index}"),
                json!({"app": role}),
                &format!("10.42.0.{}", index + 2),
            )
        })
        .collect()
}

#[test]
fn incremental_changes_leave_what_a_full_apply_gives() {
    skip_unless_possible!();
    let node = Node::create().expect("node namespace");
    let policies = [
        policy(
            "servers",
            json!({"podSelector": {"matchLabels": {"app": "server"}}, "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}},
                                  {"ipBlock": {"cidr": "192.168.0.0/16", "except": ["192.168.7.0/24"]}}],
                         "ports": [{"port": "http"}, {"protocol": "UDP", "port": 53, "endPort": 60}]}],
            "egress": [{"to": [{"podSelector": {}}], "ports": [{"port": "http"}]}]}),
        ),
        policy("deny", json!({"podSelector": {}})),
    ];
    let first = enforce(&node, None, &policies, &many_pods(0));
    // Again in full over itself: a restart's first sync.
    apply(&node.netns.nft(), &plan(TABLE, None, &first).text)
        .expect("full apply over an existing table");

    // Pods change roles, one goes, the second policy goes.
    let mut pods = many_pods(1);
    pods.remove(7);
    let second = enforce(&node, Some(first), &policies[..1], &pods);
    let incremental = kernel_table(&node.netns, TABLE);

    let fresh = Node::create().expect("second node namespace");
    enforce(&fresh, None, &policies[..1], &pods);
    assert_eq!(incremental, kernel_table(&fresh.netns, TABLE));
    assert!(plan(TABLE, Some(&second), &second).is_empty());
}

#[test]
fn remove_rules_deletes_the_table_and_tolerates_its_absence() {
    skip_unless_possible!();
    let node = Node::create().expect("node namespace");
    let options = NetpolOptions {
        nft: node.netns.nft(),
        ..NetpolOptions::default()
    };
    enforce(
        &node,
        None,
        &[policy("deny", json!({"podSelector": {}}))],
        &many_pods(0),
    );
    assert!(table_exists(&node.netns.nft(), TABLE).expect("list tables"));
    remove_rules(&options).expect("remove rules");
    assert!(!table_exists(&node.netns.nft(), TABLE).expect("list tables"));
    remove_rules(&options).expect("removing again is fine");
}
