//! Enforcement's rule source in the shared sync loop, against in-memory caches and the
//! recording stand-in for nft. The loop's batching, back-off and retries are tested in
//! capstan-nft; here, what this source adds: three caches to wait for, and pod churn that
//! changes elements only, or nothing.

use std::time::Duration;

use capstan_nft::testing::{FakeNft, RunningLoop};
use capstan_nft::Syncer;
use kube::runtime::reflector::{self, store::Writer};
use kube::runtime::watcher::Event;
use serde_json::json;

use super::*;
use crate::model::tests::{namespace, pod, policy, NODE};

const MIN_SYNC_PERIOD: Duration = Duration::from_millis(300);

struct Harness {
    nft: FakeNft,
    policies: Writer<NetworkPolicy>,
    pods: Writer<Pod>,
    namespaces: Writer<Namespace>,
    sync: RunningLoop,
}

/// A cache's initial list, as a watch's first events.
fn initial_list<K>(writer: &mut Writer<K>, objects: Vec<K>)
where
    K: kube::Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    writer.apply_watcher_event(&Event::Init);
    for object in objects {
        writer.apply_watcher_event(&Event::InitApply(object));
    }
    writer.apply_watcher_event(&Event::InitDone);
}

impl Harness {
    fn start() -> Harness {
        let nft = FakeNft::new("t");
        let (policies_store, policies) = reflector::store();
        let (pods_store, pods) = reflector::store();
        let (namespaces_store, namespaces) = reflector::store();
        let rules = PolicyRules {
            policies: policies_store,
            pods: pods_store,
            namespaces: namespaces_store,
            node_name: NODE.into(),
        };
        let syncer = Syncer::new("t".into(), nft.command(), rules);
        Harness {
            nft,
            policies,
            pods,
            namespaces,
            sync: RunningLoop::start(syncer, MIN_SYNC_PERIOD),
        }
    }

    fn update_pod(&mut self, pod: Pod) {
        self.pods.apply_watcher_event(&Event::Apply(pod));
        self.sync.changes.notify_one();
    }
}

fn deny_all() -> NetworkPolicy {
    policy(
        "ns",
        "deny",
        json!({"podSelector": {}, "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}]}]}),
    )
}

fn client(name: &str, ip: &str) -> Pod {
    pod("ns", name, json!({"app": "client"}), ip, "node-b")
}

#[tokio::test]
async fn waits_for_all_caches_then_syncs_pod_churn_as_elements_only() {
    let mut harness = Harness::start();
    // Two of three caches listed: still nothing.
    initial_list(&mut harness.policies, vec![deny_all()]);
    initial_list(
        &mut harness.pods,
        vec![pod("ns", "web", json!({}), "10.0.0.2", NODE)],
    );
    harness.sync.changes.notify_one();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        harness.nft.transactions().is_empty(),
        "no sync before the initial lists"
    );

    initial_list(&mut harness.namespaces, vec![namespace("ns", json!({}))]);
    harness.sync.changes.notify_one();
    let first = &harness.nft.wait_for_transactions(1).await[0].text;
    assert!(
        first.starts_with("add table ip t\ndelete table ip t\n"),
        "{first}"
    );
    assert!(
        first.contains("10.0.0.2 : jump pods-ingress-ns/deny"),
        "{first}"
    );

    // New peers: the sets that hold them change, no chain does.
    harness.update_pod(client("c1", "10.0.1.1"));
    harness.update_pod(client("c2", "10.0.1.5"));
    tokio::time::sleep(MIN_SYNC_PERIOD * 4).await;
    let count = harness.nft.transactions().len();
    let later = harness.nft.text_after(1);
    assert!(
        !later.contains("add table") && !later.contains("chain"),
        "incremental, elements only: {later}"
    );
    assert!(
        later.contains("10.0.1.1") && later.contains("10.0.1.5"),
        "{later}"
    );

    // A change that does not matter to the rules: no transaction.
    let mut relabelled = client("c2", "10.0.1.5");
    relabelled.metadata.annotations = Some([("note".to_string(), "x".to_string())].into());
    harness.update_pod(relabelled);
    tokio::time::sleep(MIN_SYNC_PERIOD * 2).await;
    assert_eq!(harness.nft.transactions().len(), count);
    harness.sync.stop().await;
}
