//! What the shared planner makes of the proxy's rulesets: the commands a Service or
//! EndpointSlice change costs, and their order.

use capstan_nft::plan;
use serde_json::json;

use super::*;
use crate::model::tests::{service, slice};

const TABLE: &str = "t";

fn web(name: &str, ip: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut spec = json!({"clusterIP": ip, "ports": [{"name": "http", "port": 80}]});
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    json!({"metadata": {"namespace": "ns", "name": name}, "spec": spec})
}

fn endpoints(name: &str, ips: &[&str]) -> serde_json::Value {
    let endpoints: Vec<_> = ips.iter().map(|ip| json!({"addresses": [ip]})).collect();
    json!({
        "metadata": {"namespace": "ns", "name": format!("{name}-abc"), "labels": {"kubernetes.io/service-name": name}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080}],
        "endpoints": endpoints,
    })
}

fn ruleset(services: &[serde_json::Value], slices: &[serde_json::Value]) -> Ruleset {
    let services: Vec<_> = services.iter().cloned().map(service).collect();
    let slices: Vec<_> = slices.iter().cloned().map(slice).collect();
    let cidrs: Vec<Ipv4Cidr> = vec!["10.42.0.0/16".parse().unwrap()];
    render(&ProxyModel::build(&services, &slices, "node"), &cidrs)
}

fn two_services() -> (Vec<serde_json::Value>, Vec<serde_json::Value>) {
    (
        vec![
            web("a", "10.43.0.1", json!({})),
            web("b", "10.43.0.2", json!({})),
        ],
        vec![
            endpoints("a", &["10.42.0.1"]),
            endpoints("b", &["10.42.1.1", "10.42.1.2"]),
        ],
    )
}

/// The line numbers of the lines containing `needle`.
fn positions(text: &str, needle: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| line.contains(needle))
        .map(|(n, _)| n)
        .collect()
}

#[test]
fn first_sync_replaces_the_table() {
    let (services, slices) = two_services();
    let desired = ruleset(&services, &slices);
    let transaction = plan(TABLE, None, &desired);
    assert!(transaction.full);
    let mut lines = transaction.text.lines();
    assert_eq!(lines.next(), Some("add table ip t"));
    assert_eq!(lines.next(), Some("delete table ip t"));
    assert_eq!(transaction.commands, transaction.text.lines().count());
    // Declarations before use: every set and chain is added before any rule or element.
    let lines: Vec<&str> = transaction.text.lines().collect();
    let last_declaration = lines.iter().rposition(|line| {
        line.starts_with("add chain") || line.starts_with("add set") || line.starts_with("add map")
    });
    let first_use = lines
        .iter()
        .position(|line| line.starts_with("add rule") || line.starts_with("add element"));
    assert!(last_declaration < first_use);
}

#[test]
fn nothing_changed_is_an_empty_transaction() {
    let (services, slices) = two_services();
    let applied = ruleset(&services, &slices);
    let transaction = plan(TABLE, Some(&applied), &ruleset(&services, &slices));
    assert!(
        transaction.is_empty() && !transaction.full,
        "{}",
        transaction.text
    );
    assert_eq!(transaction.commands, 0);
}

#[test]
fn an_endpoint_slice_change_rewrites_only_that_service() {
    let (services, slices) = two_services();
    let applied = ruleset(&services, &slices);
    let changed = [
        endpoints("a", &["10.42.0.1", "10.42.0.9"]),
        slices[1].clone(),
    ];
    let transaction = plan(TABLE, Some(&applied), &ruleset(&services, &changed));
    assert!(!transaction.full);
    let text = &transaction.text;
    assert!(!text.contains("ns/b/"), "service b untouched:\n{text}");
    let expected_prefixes = [
        "add chain ip t endpoint-",
        "flush chain ip t service-",
        "add rule ip t service-",
        "add rule ip t endpoint-",
    ];
    for line in text.lines() {
        assert!(
            expected_prefixes
                .iter()
                .any(|prefix| line.starts_with(prefix)),
            "unexpected {line:?}"
        );
        assert!(line.contains("ns/a/"), "{line}");
    }
    // The new endpoint chain exists before the service chain refers to it.
    assert!(positions(text, "add chain ip t endpoint-")[0] < positions(text, "numgen")[0]);
    assert_eq!(positions(text, "flush chain").len(), 1);
    assert!(text.contains("numgen random mod 2 vmap"));
}

#[test]
fn a_removed_service_loses_its_chains_and_elements() {
    let (services, slices) = two_services();
    let applied = ruleset(&services, &slices);
    let transaction = plan(
        TABLE,
        Some(&applied),
        &ruleset(&services[..1], &slices[..1]),
    );
    let text = &transaction.text;
    assert!(!text.contains("ns/a/"), "service a untouched:\n{text}");
    assert!(
        text.contains("delete element ip t service-ips { 10.43.0.2 . tcp . 80 }"),
        "{text}"
    );
    assert!(
        text.contains("delete element ip t cluster-ips { 10.43.0.2 }"),
        "{text}"
    );
    let deleted: Vec<_> = text
        .lines()
        .filter(|line| line.starts_with("delete chain"))
        .collect();
    assert_eq!(
        deleted.len(),
        3,
        "service chain and two endpoint chains:\n{text}"
    );
    // Chains are emptied first and deleted only after the elements pointing at them.
    let last_element = *positions(text, "delete element").last().unwrap();
    let first_delete = positions(text, "delete chain")[0];
    assert!(last_element < first_delete);
    for line in &deleted {
        let chain = line.trim_start_matches("delete chain ip t ");
        assert!(positions(text, &format!("flush chain ip t {chain}"))[0] < first_delete);
    }
    assert!(!text.contains("add "), "{text}");
}

#[test]
fn losing_all_endpoints_moves_the_service_to_reject() {
    let (services, slices) = two_services();
    let applied = ruleset(&services, &slices);
    let transaction = plan(TABLE, Some(&applied), &ruleset(&services, &slices[..1]));
    let text = &transaction.text;
    assert!(text.contains("delete element ip t service-ips { 10.43.0.2 . tcp . 80 }"));
    assert!(text.contains(
        "add element ip t no-endpoint-services { 10.43.0.2 . tcp . 80 comment \"ns/b:http\" : goto reject-chain }"
    ));
    assert_eq!(positions(text, "delete chain").len(), 3);
}

#[test]
fn a_changed_element_is_deleted_then_added() {
    let (services, slices) = two_services();
    let applied = ruleset(&services, &slices);
    // internalTrafficPolicy Local (with a local endpoint) retargets the ClusterIP element from
    // the service chain to the local chain.
    let local = vec![
        web("a", "10.43.0.1", json!({"internalTrafficPolicy": "Local"})),
        services[1].clone(),
    ];
    let local_slices = vec![
        json!({"metadata": {"namespace": "ns", "name": "a-abc", "labels": {"kubernetes.io/service-name": "a"}},
               "addressType": "IPv4", "ports": [{"name": "http", "port": 8080}],
               "endpoints": [{"addresses": ["10.42.0.1"], "nodeName": "node"}]}),
        slices[1].clone(),
    ];
    let transaction = plan(TABLE, Some(&applied), &ruleset(&local, &local_slices));
    let text = &transaction.text;
    let delete = positions(
        text,
        "delete element ip t service-ips { 10.43.0.1 . tcp . 80 }",
    );
    let add = positions(
        text,
        "add element ip t service-ips { 10.43.0.1 . tcp . 80 : goto local-",
    );
    assert!(
        delete.len() == 1 && add.len() == 1 && delete[0] < add[0],
        "{text}"
    );
}

#[test]
fn affinity_sets_come_and_go_with_their_chains() {
    let (services, slices) = two_services();
    let applied = ruleset(&services, &slices);
    let sticky = vec![
        web("a", "10.43.0.1", json!({"sessionAffinity": "ClientIP"})),
        services[1].clone(),
    ];
    let desired = ruleset(&sticky, &slices);
    let text = plan(TABLE, Some(&applied), &desired).text;
    let add_set = positions(&text, "add set ip t affinity-");
    assert_eq!(add_set.len(), 1);
    assert!(add_set[0] < positions(&text, "update @affinity-")[0]);

    let back = plan(TABLE, Some(&desired), &applied).text;
    let delete_set = positions(&back, "delete set ip t affinity-");
    assert_eq!(delete_set.len(), 1);
    assert!(
        positions(&back, "flush chain ip t endpoint-")[0] < delete_set[0],
        "{back}"
    );
}

#[test]
fn a_changed_set_declaration_needs_a_full_replace() {
    let (services, slices) = two_services();
    let timeout = |seconds: u32| {
        let config = json!({"sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": seconds}}});
        vec![web("a", "10.43.0.1", config), services[1].clone()]
    };
    let applied = ruleset(&timeout(60), &slices);
    let transaction = plan(TABLE, Some(&applied), &ruleset(&timeout(120), &slices));
    assert!(transaction.full);
}

#[test]
fn element_commands_are_batched() {
    let services: Vec<_> = (0..2500)
        .map(|i| {
            web(
                &format!("s{i}"),
                &format!("10.43.{}.{}", i / 250, i % 250),
                json!({}),
            )
        })
        .collect();
    let transaction = plan(TABLE, None, &ruleset(&services, &[]));
    // 2500 cluster IPs and 2500 no-endpoint elements, 1000 per command.
    assert_eq!(
        positions(&transaction.text, "add element ip t cluster-ips").len(),
        3
    );
    assert_eq!(
        positions(&transaction.text, "add element ip t no-endpoint-services").len(),
        3
    );
}
