//! capstan-netpol: NetworkPolicy (networking.k8s.io/v1) enforcement on one node, as the node
//! agents of kube-router or Calico do it, by programming an nftables table (family ip, IPv4).
//!
//! The core is pure and layered:
//! - [`policy`], [`selector`], [`ports`], [`addresses`]: NetworkPolicy objects parsed;
//! - [`model`]: policies + pods + namespaces (+ node name) → for each pod of this node, whether
//!   it is isolated for ingress and egress and what its policies allow;
//! - [`render`]: model → the desired [`capstan_nft::Ruleset`]: one chain per policy, one per
//!   set of policies isolating some pods, per-rule peer sets, and verdict maps from each
//!   isolated pod's address to its chain; [`capstan_nft::transaction`] turns it into nft
//!   commands (full or incremental).
//!
//! I/O lives at the edges: `sync` hands the kube reflector caches to the sync loop of
//! [`capstan_nft::sync`], which runs nft, and [`run`] wires the watches.

pub mod addresses;
pub mod model;
pub mod names;
pub mod policy;
pub mod ports;
pub mod render;
pub mod selector;
mod slim;
mod sync;

use std::future::Future;
use std::time::Duration;

use capstan_nft::command::{delete_table, validate_table_name};
use capstan_nft::{spawn_change_notifier, sync_loop, RuleSource, Syncer};
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::runtime::{reflector, watcher, WatchStreamExt};
use kube::Api;

use crate::sync::PolicyRules;

/// How enforcement runs on this node.
#[derive(Clone, Debug)]
pub struct NetpolOptions {
    /// This node's name: only pods with spec.nodeName == node_name are enforced here.
    pub node_name: String,
    /// The nftables table (family ip) [default "capstan-netpol"].
    pub table: String,
    /// How nft is run [default ["nft"]]; tests use ["ip","netns","exec",NS,"nft"].
    pub nft: Vec<String>,
    /// At most one sync per this period [default 100 ms].
    pub min_sync_period: Duration,
}

impl Default for NetpolOptions {
    fn default() -> Self {
        NetpolOptions {
            node_name: String::new(),
            table: "capstan-netpol".to_string(),
            nft: vec!["nft".to_string()],
            min_sync_period: Duration::from_millis(100),
        }
    }
}

/// Watches NetworkPolicies, Pods and Namespaces through `client` (kube reflectors) and keeps
/// the rules in step until `shutdown`; rules stay in place at shutdown (a restart must not
/// open what policies close, nor cut what they allow).
pub async fn run(
    client: kube::Client,
    options: NetpolOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    if let Err(err) = validate_table_name(&options.table) {
        tracing::error!(error = %err, "network policy enforcement not started");
        return;
    }
    if options.node_name.is_empty() {
        tracing::warn!("no node name: no pod is enforced here");
    }

    let (policies, policies_writer) = reflector::store::<NetworkPolicy>();
    let (pods, pods_writer) = reflector::store::<Pod>();
    let (namespaces, namespaces_writer) = reflector::store::<Namespace>();
    let policy_events = watcher(
        Api::<NetworkPolicy>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .modify(slim::policy)
    .reflect(policies_writer)
    .map(|event| event.map(drop).map_err(|err| ("NetworkPolicies", err)));
    // Every node's pods: they are the peers that policies select.
    let pod_events = watcher(Api::<Pod>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .modify(slim::pod)
        .reflect(pods_writer)
        .map(|event| event.map(drop).map_err(|err| ("Pods", err)));
    let namespace_events = watcher(Api::<Namespace>::all(client), watcher::Config::default())
        .default_backoff()
        .modify(slim::namespace)
        .reflect(namespaces_writer)
        .map(|event| event.map(drop).map_err(|err| ("Namespaces", err)));

    let events = futures_util::stream::select(
        policy_events,
        futures_util::stream::select(pod_events, namespace_events),
    );
    let (changes, watches) = spawn_change_notifier(PolicyRules::COMPONENT, events);

    let rules = PolicyRules {
        policies,
        pods,
        namespaces,
        node_name: options.node_name,
    };
    let syncer = Syncer::new(options.table, options.nft, rules);
    sync_loop(syncer, changes, options.min_sync_period, shutdown).await;
    watches.abort();
}

/// Removes the table (for `capstan killall`).
pub fn remove_rules(options: &NetpolOptions) -> Result<(), String> {
    validate_table_name(&options.table)?;
    delete_table(&options.nft, &options.table)
}
