//! Whole-cycle tests: filters, scores and messages together, against
//! upstream's documented behaviour.

use super::*;
use crate::config::Profile;
use crate::plugins::node_resources_fit::{default_resources, ScoringStrategy, StrategyType};
use k8s_openapi::api::core::v1::Node;
use serde_json::{json, Value};

fn node(name: &str, labels: Value, cpu: &str) -> Node {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "status": {"allocatable": {"cpu": cpu, "memory": "16Gi", "pods": "110"}},
    }))
    .unwrap()
}

fn pod(name: &str, labels: Value, spec: Value) -> Pod {
    let mut spec = spec;
    if spec.get("containers").is_none() {
        spec["containers"] = json!([{"name": "c", "image": "x"}]);
    }
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default", "labels": labels, "uid": name},
        "spec": spec,
    }))
    .unwrap()
}

fn with_cpu(cpu: &str) -> Value {
    json!({"containers": [{"name": "c", "image": "x", "resources": {"requests": {"cpu": cpu, "memory": "1Gi"}}}]})
}

fn place(snapshot: &mut Snapshot, pod: &Pod, node: &str) {
    snapshot.add_pod(PodInfo::new(pod, node));
}

/// Filters every node; the feasible names and the failure message.
fn schedule(snapshot: &Snapshot, pod: &Pod) -> (Vec<String>, String) {
    let ctx = PodContext::new(pod, snapshot);
    let filtered = find_feasible(&ctx, snapshot, 0, usize::MAX);
    let names = filtered
        .feasible
        .iter()
        .map(|&i| snapshot.nodes[i].name.clone())
        .collect();
    let message = fit_error_message(
        snapshot.nodes.len(),
        filtered.failed.iter().map(|(_, s)| s),
        None,
    );
    (names, message)
}

fn best(snapshot: &Snapshot, pod: &Pod, profile: &Profile) -> String {
    let ctx = PodContext::new(pod, snapshot);
    let filtered = find_feasible(&ctx, snapshot, 0, usize::MAX);
    let scores = score_nodes(&ctx, snapshot, profile, &filtered.feasible);
    let chosen = select_host(&scores, &mut Random::seeded()).expect("a feasible node");
    snapshot.nodes[filtered.feasible[chosen]].name.clone()
}

#[test]
fn the_failure_message_counts_and_sorts_reasons_as_upstream() {
    let cpu = Status::unschedulable("NodeResourcesFit", "Insufficient cpu");
    let taint = Status::unresolvable(
        "TaintToleration",
        "node(s) had untolerated taint {dedicated: gpu}",
    );
    let statuses = [cpu.clone(), cpu.clone(), cpu, taint.clone(), taint];
    let message = fit_error_message(
        5,
        &statuses,
        Some("preemption: 0/5 nodes are available: 5 Preemption is not helpful for scheduling."),
    );
    assert_eq!(
        message,
        "0/5 nodes are available: 2 node(s) had untolerated taint {dedicated: gpu}, 3 Insufficient cpu. \
         preemption: 0/5 nodes are available: 5 Preemption is not helpful for scheduling."
    );
    // A plain string sort: "10 ..." sorts before "2 ...".
    let many: Vec<Status> = (0..10)
        .map(|_| {
            Status::unresolvable(
                "NodeAffinity",
                "node(s) didn't match Pod's node affinity/selector",
            )
        })
        .chain((0..2).map(|_| Status::unschedulable("NodeResourcesFit", "Insufficient memory")))
        .collect();
    assert_eq!(
        fit_error_message(12, &many, None),
        "0/12 nodes are available: 10 node(s) didn't match Pod's node affinity/selector, 2 Insufficient memory."
    );
    assert_eq!(fit_error_message(0, &[], None), "0/0 nodes are available:");
}

#[test]
fn resources_taints_and_selectors_filter_with_upstream_reasons() {
    let mut snapshot = Snapshot::default();
    snapshot.upsert_node(&node("small-1", json!({}), "1"));
    snapshot.upsert_node(&node("small-2", json!({}), "1"));
    let mut tainted = node("gpu", json!({"disk": "ssd"}), "8");
    tainted.spec = Some(
        serde_json::from_value(
            json!({"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]}),
        )
        .unwrap(),
    );
    snapshot.upsert_node(&tainted);
    snapshot.upsert_node(&node("big", json!({"disk": "hdd"}), "8"));

    let (fits, _) = schedule(&snapshot, &pod("p", json!({}), with_cpu("2")));
    assert_eq!(fits, vec!["big"]);

    let mut selected = with_cpu("2");
    selected["nodeSelector"] = json!({"disk": "ssd"});
    let (fits, message) = schedule(&snapshot, &pod("p", json!({}), selected.clone()));
    assert!(fits.is_empty());
    assert_eq!(
        message,
        "0/4 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, \
         3 node(s) didn't match Pod's node affinity/selector."
    );

    selected["tolerations"] =
        json!([{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]);
    let (fits, _) = schedule(&snapshot, &pod("p", json!({}), selected));
    assert_eq!(fits, vec!["gpu"]);
}

#[test]
fn assumed_pods_use_up_a_node() {
    let mut snapshot = Snapshot::default();
    snapshot.upsert_node(&node("n", json!({}), "2"));
    let first = pod("first", json!({}), with_cpu("1500m"));
    let mut info = PodInfo::new(&first, "n");
    info.assumed = true;
    snapshot.add_pod(info);
    let (fits, message) = schedule(&snapshot, &pod("second", json!({}), with_cpu("1")));
    assert!(fits.is_empty());
    assert_eq!(message, "0/1 nodes are available: 1 Insufficient cpu.");
}

#[test]
fn a_cordoned_node_takes_only_pods_tolerating_unschedulable() {
    let mut snapshot = Snapshot::default();
    let mut cordoned = node("n", json!({}), "2");
    cordoned.spec = Some(serde_json::from_value(json!({"unschedulable": true})).unwrap());
    snapshot.upsert_node(&cordoned);
    let (fits, message) = schedule(&snapshot, &pod("p", json!({}), json!({})));
    assert!(fits.is_empty());
    assert_eq!(
        message,
        "0/1 nodes are available: 1 node(s) were unschedulable."
    );
    let tolerant = pod(
        "p",
        json!({}),
        json!({"tolerations": [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]}),
    );
    assert_eq!(schedule(&snapshot, &tolerant).0, vec!["n"]);
}

#[test]
fn anti_affinity_by_hostname_keeps_replicas_apart_both_ways() {
    let mut snapshot = Snapshot::default();
    for name in ["a", "b", "c"] {
        snapshot.upsert_node(&node(name, json!({"kubernetes.io/hostname": name}), "4"));
    }
    let anti = json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}
    ]}}});
    place(
        &mut snapshot,
        &pod("web-1", json!({"app": "web"}), anti.clone()),
        "a",
    );
    let (fits, _) = schedule(
        &snapshot,
        &pod("web-2", json!({"app": "web"}), anti.clone()),
    );
    assert_eq!(fits, vec!["b", "c"]);
    place(
        &mut snapshot,
        &pod("web-2", json!({"app": "web"}), anti.clone()),
        "b",
    );
    place(
        &mut snapshot,
        &pod("web-3", json!({"app": "web"}), anti.clone()),
        "c",
    );
    let (fits, message) = schedule(&snapshot, &pod("web-4", json!({"app": "web"}), anti));
    assert!(fits.is_empty());
    assert_eq!(
        message,
        "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules."
    );
    // A pod without terms is kept out by the placed pods' anti-affinity.
    let (fits, message) = schedule(&snapshot, &pod("plain", json!({"app": "web"}), json!({})));
    assert!(fits.is_empty());
    assert_eq!(
        message,
        "0/3 nodes are available: 3 node(s) didn't satisfy existing pods anti-affinity rules."
    );
    assert_eq!(
        schedule(&snapshot, &pod("other", json!({"app": "db"}), json!({})))
            .0
            .len(),
        3
    );
}

#[test]
fn pod_affinity_follows_matching_pods_and_lets_the_first_one_in() {
    let mut snapshot = Snapshot::default();
    for (name, zone) in [("a", "z1"), ("b", "z1"), ("c", "z2")] {
        snapshot.upsert_node(&node(name, json!({"zone": zone}), "4"));
    }
    let affinity = json!({"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "cache"}}, "topologyKey": "zone"}
    ]}}});
    // No cache pod anywhere and the pod is one itself: any node with the key.
    assert_eq!(
        schedule(
            &snapshot,
            &pod("cache-1", json!({"app": "cache"}), affinity.clone())
        )
        .0
        .len(),
        3
    );
    // Not one itself: nowhere.
    let (fits, message) = schedule(
        &snapshot,
        &pod("web", json!({"app": "web"}), affinity.clone()),
    );
    assert!(fits.is_empty());
    assert_eq!(
        message,
        "0/3 nodes are available: 3 node(s) didn't match pod affinity rules."
    );
    place(
        &mut snapshot,
        &pod("cache-1", json!({"app": "cache"}), json!({})),
        "c",
    );
    assert_eq!(
        schedule(&snapshot, &pod("web", json!({"app": "web"}), affinity)).0,
        vec!["c"]
    );
}

#[test]
fn topology_spread_keeps_the_skew_within_max_skew() {
    let mut snapshot = Snapshot::default();
    for (name, zone) in [("a", "z1"), ("b", "z2"), ("c", "z3")] {
        snapshot.upsert_node(&node(name, json!({"zone": zone}), "8"));
    }
    snapshot.upsert_node(&node("unlabelled", json!({}), "8"));
    let spread = json!({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone",
        "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "web"}}}]});
    place(
        &mut snapshot,
        &pod("w1", json!({"app": "web"}), json!({})),
        "a",
    );
    place(
        &mut snapshot,
        &pod("w2", json!({"app": "web"}), json!({})),
        "b",
    );
    // z1 and z2 have one each, z3 none: only z3 keeps the skew at 1.
    let (fits, message) = schedule(&snapshot, &pod("w3", json!({"app": "web"}), spread.clone()));
    assert_eq!(fits, vec!["c"]);
    assert_eq!(
        message,
        "0/4 nodes are available: 1 node(s) didn't match pod topology spread constraints (missing required label), \
         2 node(s) didn't match pod topology spread constraints."
    );
    place(
        &mut snapshot,
        &pod("w3", json!({"app": "web"}), json!({})),
        "c",
    );
    assert_eq!(
        schedule(&snapshot, &pod("w4", json!({"app": "web"}), spread.clone())).0,
        vec!["a", "b", "c"]
    );
    // minDomains above the number of domains: the minimum counts as 0.
    let mut strict = spread;
    strict["topologySpreadConstraints"][0]["minDomains"] = json!(4);
    assert!(
        schedule(&snapshot, &pod("w4", json!({"app": "web"}), strict))
            .0
            .is_empty()
    );
}

#[test]
fn least_allocated_spreads_and_most_allocated_packs() {
    let mut snapshot = Snapshot::default();
    snapshot.upsert_node(&node("empty", json!({}), "8"));
    snapshot.upsert_node(&node("busy", json!({}), "8"));
    place(
        &mut snapshot,
        &pod("load", json!({}), with_cpu("6")),
        "busy",
    );
    let incoming = pod("p", json!({}), with_cpu("1"));
    assert_eq!(best(&snapshot, &incoming, &Profile::default()), "empty");
    let packing = Profile {
        scoring: ScoringStrategy {
            kind: StrategyType::MostAllocated,
            resources: default_resources(),
        },
        ..Profile::default()
    };
    assert_eq!(best(&snapshot, &incoming, &packing), "busy");
}

#[test]
fn prefer_no_schedule_and_preferred_affinity_steer_the_choice() {
    let mut snapshot = Snapshot::default();
    let mut tainted = node("tainted", json!({"zone": "a"}), "8");
    tainted.spec = Some(
        serde_json::from_value(json!({"taints": [{"key": "spot", "effect": "PreferNoSchedule"}]}))
            .unwrap(),
    );
    snapshot.upsert_node(&tainted);
    snapshot.upsert_node(&node("clean", json!({"zone": "b"}), "8"));
    let plain = pod("p", json!({}), json!({}));
    assert_eq!(best(&snapshot, &plain, &Profile::default()), "clean");
    let preferring = pod(
        "p",
        json!({}),
        json!({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}}
        ]}}}),
    );
    // The preference adds 2×100, the untolerated taint costs 3×100.
    assert_eq!(best(&snapshot, &preferring, &Profile::default()), "clean");
    let tolerating = pod(
        "p",
        json!({}),
        json!({
        "tolerations": [{"key": "spot", "operator": "Exists", "effect": "PreferNoSchedule"}],
        "affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}}
        ]}}}),
    );
    assert_eq!(best(&snapshot, &tolerating, &Profile::default()), "tainted");
}

#[test]
fn big_clusters_stop_filtering_after_enough_feasible_nodes() {
    assert_eq!(num_feasible_nodes_to_find(None, 50), 50);
    assert_eq!(num_feasible_nodes_to_find(None, 1000), 420);
    assert_eq!(num_feasible_nodes_to_find(None, 5000), 5000 * 10 / 100);
    assert_eq!(num_feasible_nodes_to_find(None, 100_000), 5000);
    assert_eq!(num_feasible_nodes_to_find(Some(100), 1000), 1000);
    assert_eq!(num_feasible_nodes_to_find(Some(1), 1000), 100);
}
