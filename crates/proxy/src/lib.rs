//! capstan-proxy: the service proxy. It implements Service virtual IPs, NodePorts, external
//! IPs and load balancer addresses on one node by programming nftables, as kube-proxy's
//! nftables mode does, for IPv4.
//!
//! The core is pure and layered:
//! - [`model`]: Services + EndpointSlices (+ node name) → service ports with their endpoints;
//! - [`render`]: model (+ cluster CIDRs) → the desired [`capstan_nft::Ruleset`] (chains, sets,
//!   maps), which [`capstan_nft::transaction`] turns into nft commands (full or incremental).
//!
//! I/O lives at the edges: `sync` hands the kube reflector caches to the sync loop of
//! [`capstan_nft::sync`], which runs nft, and [`run`] wires the watches. [`health`] serves
//! the health check node ports of LoadBalancers with `externalTrafficPolicy: Local`.

pub mod cidr;
pub mod conntrack;
pub mod health;
pub mod model;
pub mod names;
pub mod render;
mod sync;
mod sysctl;

use std::future::Future;
use std::time::Duration;

use capstan_nft::command::{delete_table, validate_table_name};
use capstan_nft::{spawn_change_notifier, sync_loop, RuleSource, Syncer};
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::{reflector, watcher, WatchStreamExt};
use kube::{Api, Resource};

use crate::cidr::Ipv4Cidr;
use crate::health::HealthServers;
use crate::model::{LABEL_HEADLESS, LABEL_SERVICE_NAME, LABEL_SERVICE_PROXY_NAME};
use crate::sync::ServiceRules;

/// How the proxy runs on this node.
#[derive(Clone, Debug)]
pub struct ProxyOptions {
    /// This node's name: endpoints with this nodeName are local (traffic policies Local).
    pub node_name: String,
    /// The pods' CIDR(s), e.g. "10.42.0.0/16": traffic to a ClusterIP from outside it is masqueraded.
    pub cluster_cidr: String,
    /// The nftables table (family ip) [default "capstan-proxy"].
    pub table: String,
    /// How nft is run [default ["nft"]]; tests and the bench use ["ip","netns","exec",NS,"nft"].
    pub nft: Vec<String>,
    /// How conntrack is run, to clear stale UDP flows [default ["conntrack"]].
    pub conntrack: Vec<String>,
    /// Changes are batched: at most one sync per this period [default 100 ms].
    pub min_sync_period: Duration,
}

impl Default for ProxyOptions {
    fn default() -> Self {
        ProxyOptions {
            node_name: String::new(),
            cluster_cidr: String::new(),
            table: "capstan-proxy".to_string(),
            nft: vec!["nft".to_string()],
            conntrack: vec!["conntrack".to_string()],
            min_sync_period: Duration::from_millis(100),
        }
    }
}

/// Watches Services and EndpointSlices through `client` (kube reflectors) and keeps the rules in step until
/// `shutdown`; rules stay in place at shutdown (a restart must not cut traffic), as kube-proxy.
pub async fn run(
    client: kube::Client,
    options: ProxyOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let Some(cluster_cidrs) = check_options(&options) else {
        return;
    };
    sysctl::prepare_kernel();
    watch_and_sync(client, options, cluster_cidrs, shutdown).await;
}

/// Validates the options, logging what is wrong or ignored; returns the IPv4 cluster CIDRs, or
/// None when the proxy cannot run.
fn check_options(options: &ProxyOptions) -> Option<Vec<Ipv4Cidr>> {
    if let Err(err) = validate_table_name(&options.table) {
        tracing::error!(error = %err, "service proxy not started");
        return None;
    }
    let (cluster_cidrs, ignored) = Ipv4Cidr::parse_list(&options.cluster_cidr);
    if !ignored.is_empty() {
        tracing::warn!(ignored = ?ignored, "cluster CIDR entries that are not IPv4 CIDRs are ignored");
    }
    if cluster_cidrs.is_empty() {
        tracing::warn!("no IPv4 cluster CIDR: traffic to ClusterIPs from outside the pod network is not masqueraded");
    }
    Some(cluster_cidrs)
}

/// The watches feeding reflector caches, and the sync loop reading them.
async fn watch_and_sync(
    client: kube::Client,
    options: ProxyOptions,
    cluster_cidrs: Vec<Ipv4Cidr>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let (services, services_writer) = reflector::store::<Service>();
    let (slices, slices_writer) = reflector::store::<EndpointSlice>();
    // The selectors kube-proxy uses: not another proxy's services, not headless ones.
    let service_config = watcher::Config::default().labels(&format!("!{LABEL_SERVICE_PROXY_NAME}"));
    let slice_config = watcher::Config::default().labels(&format!(
        "{LABEL_SERVICE_NAME},!{LABEL_SERVICE_PROXY_NAME},!{LABEL_HEADLESS}"
    ));
    let service_events = watcher(Api::<Service>::all(client.clone()), service_config)
        .default_backoff()
        .modify(drop_managed_fields)
        .reflect(services_writer)
        .map(|event| event.map(drop).map_err(|err| ("Services", err)));
    let slice_events = watcher(Api::<EndpointSlice>::all(client), slice_config)
        .default_backoff()
        .modify(drop_managed_fields)
        .reflect(slices_writer)
        .map(|event| event.map(drop).map_err(|err| ("EndpointSlices", err)));

    let events = futures_util::stream::select(service_events, slice_events);
    let (changes, watches) = spawn_change_notifier(ServiceRules::COMPONENT, events);

    let rules = ServiceRules {
        services,
        slices,
        node_name: options.node_name,
        cluster_cidrs,
        conntrack: options.conntrack,
        flows: Default::default(),
        health: HealthServers::default(),
    };
    let syncer = Syncer::new(options.table, options.nft, rules);
    sync_loop(syncer, changes, options.min_sync_period, shutdown).await;
    watches.abort();
}

/// Removes the table (for `capstan killall`).
pub fn remove_rules(options: &ProxyOptions) -> Result<(), String> {
    validate_table_name(&options.table)?;
    delete_table(&options.nft, &options.table)
}

/// The cache keeps only what the rules use; managed fields are the bulk of most objects.
fn drop_managed_fields<K: Resource>(object: &mut K) {
    object.meta_mut().managed_fields = None;
}

#[cfg(test)]
#[path = "lib_tests.rs"]
mod tests;
