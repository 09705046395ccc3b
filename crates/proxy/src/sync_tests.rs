//! The proxy's rule source against in-memory caches: when it is ready, and what it renders.
//! The loop itself is capstan-nft's, tested there; `run` drives both in lib_tests.

use std::time::Duration;

use kube::runtime::reflector::{self, store::Writer};
use kube::runtime::watcher::Event;
use serde_json::json;

use super::*;
use crate::model::tests::{service, slice};
use crate::render::SERVICE_IPS_MAP;

fn web_service(name: &str, ip: &str) -> Service {
    service(json!({"metadata": {"namespace": "ns", "name": name},
                   "spec": {"clusterIP": ip, "ports": [{"name": "http", "port": 80}]}}))
}

fn web_slice(name: &str, ips: &[&str]) -> EndpointSlice {
    let endpoints: Vec<_> = ips.iter().map(|ip| json!({"addresses": [ip]})).collect();
    slice(json!({
        "metadata": {"namespace": "ns", "name": format!("{name}-1"), "labels": {"kubernetes.io/service-name": name}},
        "addressType": "IPv4", "ports": [{"name": "http", "port": 8080}], "endpoints": endpoints,
    }))
}

/// The rule source with the writers of its caches, as the watches would feed them.
struct Caches {
    rules: ServiceRules,
    services: Writer<Service>,
    slices: Writer<EndpointSlice>,
}

impl Caches {
    fn new() -> Caches {
        let (services_store, services) = reflector::store();
        let (slices_store, slices) = reflector::store();
        let rules = ServiceRules {
            services: services_store,
            slices: slices_store,
            node_name: "node".into(),
            cluster_cidrs: vec!["10.42.0.0/16".parse().expect("CIDR")],
            conntrack: vec!["conntrack".into()],
            flows: Default::default(),
            health: Default::default(),
        };
        Caches {
            rules,
            services,
            slices,
        }
    }

    /// The initial list of Services, as a watch's first events.
    fn list_services(&mut self, objects: Vec<Service>) {
        self.services.apply_watcher_event(&Event::Init);
        for object in objects {
            self.services.apply_watcher_event(&Event::InitApply(object));
        }
        self.services.apply_watcher_event(&Event::InitDone);
    }

    /// The initial list of EndpointSlices.
    fn list_slices(&mut self, objects: Vec<EndpointSlice>) {
        self.slices.apply_watcher_event(&Event::Init);
        for object in objects {
            self.slices.apply_watcher_event(&Event::InitApply(object));
        }
        self.slices.apply_watcher_event(&Event::InitDone);
    }

    /// Whether the source is ready within 100 ms.
    async fn ready_soon(&self) -> Option<bool> {
        tokio::time::timeout(Duration::from_millis(100), self.rules.ready())
            .await
            .ok()
    }
}

#[tokio::test]
async fn ready_once_both_caches_have_listed() {
    let mut caches = Caches::new();
    assert_eq!(caches.ready_soon().await, None, "nothing listed");
    caches.list_services(vec![web_service("a", "10.43.0.1")]);
    assert_eq!(caches.ready_soon().await, None, "no slices listed");
    caches.list_slices(Vec::new());
    assert_eq!(caches.ready_soon().await, Some(true));
}

#[tokio::test]
async fn renders_what_the_caches_hold_at_each_sync() {
    let mut caches = Caches::new();
    caches.list_services(vec![
        web_service("a", "10.43.0.1"),
        web_service("b", "10.43.0.2"),
    ]);
    caches.list_slices(vec![
        web_slice("a", &["10.42.0.1"]),
        web_slice("b", &["10.42.0.2"]),
    ]);
    let (ruleset, counts) = caches.rules.render();
    assert_eq!(
        (counts.services, counts.service_ports, counts.endpoints),
        (2, 2, 2)
    );
    assert_eq!(ruleset.table_comment, Some("rules for capstan-proxy"));
    assert!(ruleset.sets[SERVICE_IPS_MAP]
        .elements
        .contains_key("10.43.0.2 . tcp . 80"));

    caches
        .slices
        .apply_watcher_event(&Event::Apply(web_slice("a", &["10.42.0.1", "10.42.0.3"])));
    let (changed, counts) = caches.rules.render();
    assert_eq!(counts.endpoints, 3);
    let transaction = capstan_nft::plan("t", Some(&ruleset), &changed);
    assert!(!transaction.full);
    assert!(
        transaction.text.contains("dnat to 10.42.0.3:8080"),
        "{}",
        transaction.text
    );
}
