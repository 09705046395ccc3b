//! Rule generation and application at scale: 1,000 pods on this node (3,000 in the cluster)
//! in 50 namespaces, each namespace with a default deny, an allow from its frontends on a
//! named port, an allow from a monitoring namespace, and egress limited to DNS, the
//! namespace's own pods and an external block.
//!
//! Prints the time to build the model and render the rules, to apply the full ruleset with
//! nft in a fresh network namespace (and over itself, as a restart does), and to apply
//! incremental updates (a pod starts; a pod is relabelled; a policy changes). Needs root and
//! nft for the apply figures; without them only the pure part runs.
//!
//! `cargo bench -p capstan-netpol --bench rules`

use capstan_netpol::model::NetpolModel;
use capstan_netpol::render::render;
use capstan_nft::testing::bench::{
    apply_full_in_fresh_netns, apply_update, build_and_plan, no_change,
};
use capstan_nft::Ruleset;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use serde_json::json;

const NAMESPACES: usize = 50;
const PODS: usize = 3000;
const NODES: usize = 3;
const TABLE: &str = "capstan-netpol";
const NODE: &str = "node-0";
/// Repetitions of the pure part; the best is reported.
const RUNS: usize = 5;

fn namespace(index: usize) -> Namespace {
    serde_json::from_value(json!({"metadata": {"name": format!("ns-{index}"),
        "labels": {"team": format!("team-{}", index % 5), "monitoring": (index == 0).to_string()}}}))
    .expect("Namespace")
}

fn pod(index: usize, role: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"namespace": format!("ns-{}", index % NAMESPACES), "name": format!("pod-{index}"),
                     "labels": {"app": format!("app-{}", index % 7), "role": role}},
        "spec": {"nodeName": format!("node-{}", index % NODES),
                 "containers": [{"name": "main", "ports": [{"name": "http", "containerPort": 8000 + index % 3}]}]},
        "status": {"phase": "Running", "podIP": format!("10.42.{}.{}", index / 250, index % 250 + 2)},
    }))
    .expect("Pod")
}

fn role(index: usize) -> &'static str {
    if index.is_multiple_of(4) {
        "frontend"
    } else {
        "backend"
    }
}

fn policies(namespace: usize, generation: usize) -> Vec<NetworkPolicy> {
    let policy = |name: &str, spec: serde_json::Value| -> NetworkPolicy {
        serde_json::from_value(json!({"metadata": {"namespace": format!("ns-{namespace}"), "name": name}, "spec": spec}))
            .expect("NetworkPolicy")
    };
    vec![
        policy(
            "default-deny",
            json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        ),
        policy(
            "from-frontends",
            json!({"podSelector": {"matchLabels": {"role": "backend"}},
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "frontend"}}}],
                         "ports": [{"port": "http"}, {"port": 9000 + generation}]}]}),
        ),
        policy(
            "from-monitoring",
            json!({"podSelector": {},
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"monitoring": "true"}}}], "ports": [{"port": 9100}]}]}),
        ),
        policy(
            "egress",
            json!({"podSelector": {}, "policyTypes": ["Egress"], "egress": [
                {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53}]},
                {"to": [{"podSelector": {}}], "ports": [{"port": "http"}]},
                {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8", "192.168.0.0/16"]}}], "ports": [{"port": 443}]},
            ]}),
        ),
    ]
}

struct Cluster {
    namespaces: Vec<Namespace>,
    pods: Vec<Pod>,
    policies: Vec<NetworkPolicy>,
}

impl Cluster {
    fn new() -> Cluster {
        Cluster {
            namespaces: (0..NAMESPACES).map(namespace).collect(),
            pods: (0..PODS).map(|index| pod(index, role(index))).collect(),
            policies: (0..NAMESPACES)
                .flat_map(|namespace| policies(namespace, 0))
                .collect(),
        }
    }

    fn build(&self) -> (NetpolModel, Ruleset) {
        let model = NetpolModel::build(&self.policies, &self.pods, &self.namespaces, NODE);
        let ruleset = render(&model);
        (model, ruleset)
    }
}

/// The cluster's rules applied over `applied`, with the figures printed; the new ruleset.
fn step(label: &str, cluster: &Cluster, applied: &Ruleset, nft_command: &[String]) -> Ruleset {
    apply_update(label, TABLE, nft_command, applied, || cluster.build().1)
}

fn main() {
    let mut cluster = Cluster::new();
    println!(
        "{PODS} pods on {NODES} nodes ({} here), {NAMESPACES} namespaces, {} policies",
        PODS / NODES,
        cluster.policies.len()
    );

    // (a) model + render + transaction text, best of RUNS.
    let (_, applied, full) = build_and_plan(
        RUNS,
        TABLE,
        || cluster.build(),
        |model| {
            let isolated = model.pods.len();
            let directions = model.rules.len();
            format!("{isolated} pods isolated, {directions} policy directions in effect")
        },
    );

    // (b) the full ruleset into an empty namespace, then again over itself (a restart).
    let Some(netns) = apply_full_in_fresh_netns(&full) else {
        return;
    };
    let nft_command = netns.nft();

    // (c) a pod starts on this node.
    cluster.pods.push(pod(PODS * NODES, "frontend"));
    let applied = step("(c) a pod starts here:", &cluster, &applied, &nft_command);

    // (d) a pod elsewhere changes role: peer sets change.
    cluster.pods[1] = pod(1, "frontend");
    let applied = step(
        "(d) a remote pod is relabelled:",
        &cluster,
        &applied,
        &nft_command,
    );

    // (e) one namespace's policies change: its pods' chains are rewritten.
    let namespace = 3;
    cluster
        .policies
        .retain(|policy| policy.metadata.namespace.as_deref() != Some("ns-3"));
    cluster.policies.extend(policies(namespace, 1));
    let applied = step(
        "(e) a namespace's policy changes:",
        &cluster,
        &applied,
        &nft_command,
    );

    // Nothing changed: no nft run at all.
    no_change(TABLE, &applied, || cluster.build().1);
}
