//! Node IPAM (upstream's range allocator): gives each node without a
//! podCIDR the next free /24 of the cluster CIDR, in `spec.podCIDR` and
//! `spec.podCIDRs`. CIDRs held by existing nodes are never handed out
//! again; the set of used ones is rebuilt from the nodes on every (re)list.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::ObjectRef;
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::Semaphore;

use crate::informers::Subscription;
use crate::watch_util::Change;

/// The size of each node's CIDR (upstream's `--node-cidr-mask-size`).
pub const NODE_MASK: u32 = 24;
/// How soon a node whose CIDR could not be written is tried again.
const RETRY: Duration = Duration::from_secs(2);
/// How many podCIDR writes may be under way at once.
const MAX_WRITES: usize = 16;

/// The /24s of the cluster CIDR, which are taken, and where the next
/// search starts (round robin, as upstream's cidrset).
#[derive(Debug)]
pub struct CidrSet {
    base: u32,
    bits: u32,
    count: u32,
    used: BTreeSet<u32>,
    next: u32,
}

impl CidrSet {
    /// `None` unless `cidr` is an IPv4 `ADDRESS/BITS` with BITS at most 24.
    pub fn parse(cidr: &str) -> Option<CidrSet> {
        let (address, bits) = cidr.trim().split_once('/')?;
        let address: Ipv4Addr = address.parse().ok()?;
        let bits: u32 = bits.parse().ok()?;
        if !(8..=NODE_MASK).contains(&bits) {
            return None;
        }
        Some(CidrSet {
            base: u32::from(address) & (u32::MAX << (32 - bits)),
            bits,
            count: 1 << (NODE_MASK - bits),
            used: BTreeSet::new(),
            next: 0,
        })
    }

    fn index_of(&self, cidr: &str) -> Option<u32> {
        let (address, bits) = cidr.trim().split_once('/')?;
        let address: Ipv4Addr = address.parse().ok()?;
        if bits != NODE_MASK.to_string() {
            return None;
        }
        let offset = u32::from(address).checked_sub(self.base)? >> (32 - NODE_MASK);
        (offset < self.count
            && (u32::from(address) >> (32 - self.bits)) == (self.base >> (32 - self.bits)))
            .then_some(offset)
    }

    fn cidr(&self, index: u32) -> String {
        let address = Ipv4Addr::from(self.base + (index << (32 - NODE_MASK)));
        format!("{address}/{NODE_MASK}")
    }

    /// Marks a CIDR a node holds; CIDRs outside the cluster CIDR are ignored.
    pub fn occupy(&mut self, cidr: &str) {
        if let Some(index) = self.index_of(cidr) {
            self.used.insert(index);
        }
    }

    pub fn release(&mut self, cidr: &str) {
        if let Some(index) = self.index_of(cidr) {
            self.used.remove(&index);
        }
    }

    /// The next free CIDR, now taken; `None` when the cluster CIDR is full.
    pub fn allocate(&mut self) -> Option<String> {
        for step in 0..self.count {
            let index = (self.next + step) % self.count;
            if self.used.insert(index) {
                self.next = (index + 1) % self.count;
                return Some(self.cidr(index));
            }
        }
        None
    }

    pub fn clear(&mut self) {
        self.used.clear();
    }
}

fn pod_cidrs(node: &Node) -> Vec<String> {
    let spec = node.spec.as_ref();
    let mut cidrs: Vec<String> = spec.and_then(|s| s.pod_cidrs.clone()).unwrap_or_default();
    if let Some(cidr) = spec.and_then(|s| s.pod_cidr.clone()) {
        if !cidrs.contains(&cidr) {
            cidrs.push(cidr);
        }
    }
    cidrs
}

/// Runs the controller until `shutdown` completes, from the shared nodes.
pub async fn run(
    client: Client,
    cluster_cidr: String,
    nodes: Subscription<Node>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let Some(set) = CidrSet::parse(&cluster_cidr) else {
        tracing::warn!(
            cluster_cidr,
            "node IPAM off: the cluster CIDR must be IPv4 with at most 24 bits"
        );
        // Unsubscribed, so that node changes do not pile up unread.
        drop(nodes);
        shutdown.await;
        return;
    };
    tokio::select! {
        _ = shutdown => {}
        _ = allocate_forever(client, set, nodes) => {}
    }
}

async fn allocate_forever(client: Client, set: CidrSet, mut changes: Subscription<Node>) {
    let cache = changes.store();
    let nodes: Api<Node> = Api::all(client);
    let (written, mut results) = tokio::sync::mpsc::unbounded_channel();
    let mut allocator = Allocator {
        nodes: nodes.clone(),
        set,
        in_flight: HashMap::new(),
        waiting: Vec::new(),
        written,
        permits: Arc::new(Semaphore::new(MAX_WRITES)),
        full: false,
    };
    // Nodes are handed CIDRs only once the used ones are known.
    let mut listed = false;
    let mut retry = tokio::time::interval(RETRY);
    loop {
        let change = tokio::select! {
            change = changes.next() => change,
            Some((name, cidr, ok)) = results.recv() => {
                allocator.written(name, cidr, ok);
                continue;
            }
            _ = retry.tick() => {
                for name in std::mem::take(&mut allocator.waiting) {
                    if let Ok(Some(node)) = nodes.get_opt(&name).await {
                        allocator.assign(&node);
                    }
                }
                continue;
            }
        };
        match change {
            Some(Change::Relisted) => {
                // What the nodes hold is the truth: start over from it,
                // keeping the CIDRs of writes still under way.
                listed = true;
                let listing = cache.state();
                allocator.set.clear();
                for cidr in allocator.in_flight.values() {
                    allocator.set.occupy(cidr);
                }
                for node in &listing {
                    for cidr in pod_cidrs(node) {
                        allocator.set.occupy(&cidr);
                    }
                }
                for node in &listing {
                    allocator.assign(node);
                }
            }
            Some(Change::Applied { new, .. }) if listed => {
                // The cache may be ahead of this change: go by the newest
                // version, and not at all by a node deleted since.
                if let Some(node) = cache.get(&ObjectRef::from_obj(new.as_ref())) {
                    allocator.assign(&node);
                }
            }
            Some(Change::Applied { .. }) => {}
            Some(Change::Deleted(node)) => {
                for cidr in pod_cidrs(&node) {
                    allocator.set.release(&cidr);
                }
            }
            None => return,
        }
    }
}

/// The allocation state; writes to nodes go out concurrently and report
/// back through `written`.
struct Allocator {
    nodes: Api<Node>,
    set: CidrSet,
    /// Nodes whose CIDR is being written, and that CIDR.
    in_flight: HashMap<String, String>,
    /// Nodes to try again.
    waiting: Vec<String>,
    written: UnboundedSender<(String, String, bool)>,
    permits: Arc<Semaphore>,
    /// The cluster CIDR ran out (said once, not per node).
    full: bool,
}

impl Allocator {
    /// Gives `node` a CIDR if it has none; marks the ones it has as used.
    fn assign(&mut self, node: &Node) {
        let held = pod_cidrs(node);
        if !held.is_empty() {
            for cidr in &held {
                self.set.occupy(cidr);
            }
            return;
        }
        let name = node.name_any();
        if node.metadata.deletion_timestamp.is_some() || self.in_flight.contains_key(&name) {
            return;
        }
        let Some(cidr) = self.set.allocate() else {
            if !self.full {
                self.full = true;
                tracing::warn!(
                    node = name,
                    "no podCIDR left in the cluster CIDR: nodes stay without one"
                );
            }
            return;
        };
        self.full = false;
        self.in_flight.insert(name.clone(), cidr.clone());
        let (nodes, written, permits) = (
            self.nodes.clone(),
            self.written.clone(),
            self.permits.clone(),
        );
        tokio::spawn(async move {
            let _permit = permits.acquire_owned().await;
            let patch = json!({ "spec": { "podCIDR": cidr, "podCIDRs": [cidr] } });
            let ok = match nodes
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => true,
                Err(error) => {
                    tracing::debug!(node = name, %error, "podCIDR not written");
                    false
                }
            };
            let _ = written.send((name, cidr, ok));
        });
    }

    fn written(&mut self, name: String, cidr: String, ok: bool) {
        self.in_flight.remove(&name);
        if !ok {
            self.set.release(&cidr);
            if !self.waiting.contains(&name) {
                self.waiting.push(name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hands_out_24s_in_order_skipping_used_ones() {
        let mut set = CidrSet::parse("10.42.0.0/16").unwrap();
        set.occupy("10.42.1.0/24");
        assert_eq!(set.allocate().as_deref(), Some("10.42.0.0/24"));
        assert_eq!(set.allocate().as_deref(), Some("10.42.2.0/24"));
        set.release("10.42.0.0/24");
        // Round robin: a released CIDR is not the next one handed out.
        assert_eq!(set.allocate().as_deref(), Some("10.42.3.0/24"));
    }

    #[test]
    fn runs_out_and_ignores_foreign_cidrs() {
        let mut set = CidrSet::parse("10.0.0.0/23").unwrap();
        set.occupy("192.168.0.0/24");
        set.occupy("10.0.0.0/25");
        assert_eq!(set.allocate().as_deref(), Some("10.0.0.0/24"));
        assert_eq!(set.allocate().as_deref(), Some("10.0.1.0/24"));
        assert_eq!(set.allocate(), None);
    }

    #[test]
    fn refuses_unusable_cluster_cidrs() {
        assert!(CidrSet::parse("10.0.0.0/25").is_none());
        assert!(CidrSet::parse("fd00::/48").is_none());
        assert!(CidrSet::parse("10.0.0.0").is_none());
    }
}
