//! What the shared planner makes of enforcement's rulesets: the commands a pod or policy
//! change costs, and their order.

use capstan_nft::transaction::full;
use capstan_nft::{plan, Transaction};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use serde_json::json;

use super::*;
use crate::model::tests::{pod, policy, NODE};

const TABLE: &str = "t";

fn ruleset(policies: &[NetworkPolicy], pods: &[Pod]) -> Ruleset {
    render(&NetpolModel::build(policies, pods, [], NODE))
}

fn from_client() -> NetworkPolicy {
    policy(
        "ns",
        "p",
        json!({"podSelector": {"matchLabels": {"app": "web"}},
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}]}]}),
    )
}

fn web(name: &str, ip: &str) -> Pod {
    pod("ns", name, json!({"app": "web"}), ip, NODE)
}

fn client(name: &str, ip: &str) -> Pod {
    pod("ns", name, json!({"app": "client"}), ip, "node-b")
}

fn lines(transaction: &Transaction) -> Vec<&str> {
    transaction.text.lines().collect()
}

#[test]
fn without_a_known_table_the_plan_is_a_full_replace() {
    let desired = ruleset(&[from_client()], &[web("w1", "10.0.0.2")]);
    let transaction = plan(TABLE, None, &desired);
    assert!(transaction.full);
    assert_eq!(
        lines(&transaction)[..2],
        ["add table ip t", "delete table ip t"]
    );
    assert_eq!(transaction.commands, transaction.text.lines().count());
}

#[test]
fn no_change_no_commands() {
    let desired = ruleset(
        &[from_client()],
        &[web("w1", "10.0.0.2"), client("c1", "10.0.1.1")],
    );
    let transaction = plan(TABLE, Some(&desired), &desired.clone());
    assert!(transaction.is_empty() && !transaction.full && transaction.commands == 0);
}

#[test]
fn a_new_peer_changes_one_set_element() {
    let before = ruleset(
        &[from_client()],
        &[web("w1", "10.0.0.2"), client("c1", "10.0.1.1")],
    );
    let after = ruleset(
        &[from_client()],
        &[
            web("w1", "10.0.0.2"),
            client("c1", "10.0.1.1"),
            client("c2", "10.0.1.7"),
        ],
    );
    let transaction = plan(TABLE, Some(&before), &after);
    assert!(!transaction.full);
    assert_eq!(
        lines(&transaction),
        ["add element ip t peers-ingress-ns/p/0 { 10.0.1.7 }"]
    );

    // Next to an existing peer: the range grows, the old element goes.
    let adjacent = ruleset(
        &[from_client()],
        &[
            web("w1", "10.0.0.2"),
            client("c1", "10.0.1.1"),
            client("c2", "10.0.1.2"),
        ],
    );
    assert_eq!(
        lines(&plan(TABLE, Some(&before), &adjacent)),
        [
            "delete element ip t peers-ingress-ns/p/0 { 10.0.1.1 }",
            "add element ip t peers-ingress-ns/p/0 { 10.0.1.1-10.0.1.2 }"
        ]
    );
}

#[test]
fn a_new_and_a_removed_local_pod_change_elements_only() {
    let before = ruleset(&[from_client()], &[web("w1", "10.0.0.2")]);
    let after = ruleset(&[from_client()], &[web("w2", "10.0.0.3")]);
    assert_eq!(
        lines(&plan(TABLE, Some(&before), &after)),
        [
            "delete element ip t ingress-pods { 10.0.0.2 }",
            "add element ip t ingress-pods { 10.0.0.3 : jump pods-ingress-ns/p }",
            "delete element ip t self-traffic { 10.0.0.2 . 10.0.0.2 }",
            "add element ip t self-traffic { 10.0.0.3 . 10.0.0.3 }",
        ]
    );
}

#[test]
fn a_new_combination_of_policies_gets_its_chain_and_the_unused_one_goes() {
    let extra = policy(
        "ns",
        "w1-only",
        json!({"podSelector": {"matchLabels": {"name": "w1"}}, "ingress": [{"ports": [{"port": 80}]}]}),
    );
    let mut w1 = web("w1", "10.0.0.2");
    let pods = [w1.clone()];
    let before = ruleset(&[from_client(), extra.clone()], &pods);
    w1.metadata
        .labels
        .get_or_insert_default()
        .insert("name".into(), "w1".into());
    let after = ruleset(&[from_client(), extra], &[w1]);
    assert_eq!(
        lines(&plan(TABLE, Some(&before), &after)),
        [
            "add chain ip t pods-ingress-ns/p/w1-only",
            "add chain ip t policy-ingress-ns/w1-only",
            "add rule ip t pods-ingress-ns/p/w1-only jump policy-ingress-ns/p",
            "add rule ip t pods-ingress-ns/p/w1-only jump policy-ingress-ns/w1-only",
            "add rule ip t pods-ingress-ns/p/w1-only counter drop",
            "add rule ip t policy-ingress-ns/w1-only meta l4proto tcp th dport 80 accept",
            "flush chain ip t pods-ingress-ns/p",
            "delete element ip t ingress-pods { 10.0.0.2 }",
            "add element ip t ingress-pods { 10.0.0.2 : jump pods-ingress-ns/p/w1-only }",
            "delete chain ip t pods-ingress-ns/p",
        ]
    );
}

#[test]
fn a_changed_policy_rewrites_its_chain_and_drops_unused_sets() {
    let before = ruleset(
        &[from_client()],
        &[web("w1", "10.0.0.2"), client("c1", "10.0.1.1")],
    );
    let open = policy(
        "ns",
        "p",
        json!({"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"ports": [{"port": 80}]}]}),
    );
    let after = ruleset(&[open], &[web("w1", "10.0.0.2"), client("c1", "10.0.1.1")]);
    assert_eq!(
        lines(&plan(TABLE, Some(&before), &after)),
        [
            "flush chain ip t policy-ingress-ns/p",
            "add rule ip t policy-ingress-ns/p meta l4proto tcp th dport 80 accept",
            "delete set ip t peers-ingress-ns/p/0",
        ]
    );
    // And back: the set is declared before the rules that use it, then filled.
    let back = plan(TABLE, Some(&after), &before);
    assert_eq!(
        lines(&back)[0],
        "add set ip t peers-ingress-ns/p/0 { type ipv4_addr ; flags interval ; }"
    );
    assert_eq!(
        lines(&back).last(),
        Some(&"add element ip t peers-ingress-ns/p/0 { 10.0.1.1 }")
    );
}

#[test]
fn many_elements_are_split_into_several_commands() {
    let pods: Vec<Pod> = (0..2500u32)
        .map(|index| {
            web(
                &format!("w{index}"),
                &format!("10.0.{}.{}", index / 250, index % 250 + 1),
            )
        })
        .collect();
    let transaction = full(TABLE, &ruleset(&[from_client()], &pods));
    let map_commands = transaction
        .text
        .lines()
        .filter(|line| line.starts_with("add element ip t ingress-pods"))
        .count();
    assert_eq!(map_commands, 3);
}
