//! The scheduler's view of the cluster: nodes with per-node aggregates
//! (requested resources, host ports, pods with affinity) kept up to date as
//! pods come and go, so a scheduling cycle never walks every pod.
//!
//! Pods the scheduler has decided on but whose binding the watch has not
//! shown yet are "assumed": counted on their node like bound pods, so pods
//! scheduled back to back do not overcommit a node.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::budgets::DisruptionBudget;
use k8s_openapi::api::core::v1::{Node, Pod, Taint};

use crate::affinity::PodAffinityTerms;
use crate::plugins::node_ports::{host_ports, HostPort};
use crate::resources::{node_allocatable, PodRequests, Resources};

/// `namespace/name`, as upstream keys pods.
pub type PodKey = String;

pub fn pod_key(pod: &Pod) -> PodKey {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}

/// Upstream's `PodPriority`: spec.priority, 0 when admission set none.
pub fn pod_priority(pod: &Pod) -> i32 {
    pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
}

/// What the scheduler keeps of a pod on a node.
#[derive(Debug)]
pub struct PodInfo {
    pub key: PodKey,
    pub uid: String,
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    pub node: String,
    pub priority: i32,
    pub requests: PodRequests,
    pub host_ports: Vec<HostPort>,
    /// Parsed affinity and anti-affinity terms; None when the pod has none.
    pub affinity: Option<Arc<PodAffinityTerms>>,
    /// When the pod started (or was created): preemption spares older pods.
    pub start_time: i64,
    pub terminating: bool,
    /// Decided on by this scheduler, not yet seen bound by the watch.
    pub assumed: bool,
}

impl PodInfo {
    /// The pod as placed on `node` (its own nodeName, or the one chosen).
    pub fn new(pod: &Pod, node: &str) -> PodInfo {
        let meta = &pod.metadata;
        let start = pod
            .status
            .as_ref()
            .and_then(|s| s.start_time.as_ref())
            .or(meta.creation_timestamp.as_ref())
            .map(|t| t.0.as_millisecond())
            .unwrap_or(0);
        PodInfo {
            key: pod_key(pod),
            uid: meta.uid.clone().unwrap_or_default(),
            namespace: meta.namespace.clone().unwrap_or_default(),
            labels: meta.labels.clone().unwrap_or_default(),
            node: node.to_string(),
            priority: pod_priority(pod),
            requests: PodRequests::of(pod),
            host_ports: host_ports(pod),
            affinity: PodAffinityTerms::of(pod).map(Arc::new),
            start_time: start,
            terminating: meta.deletion_timestamp.is_some(),
            assumed: false,
        }
    }

    pub fn has_required_anti_affinity(&self) -> bool {
        self.affinity
            .as_ref()
            .is_some_and(|a| !a.required_anti_affinity.is_empty())
    }
}

/// A node and what its pods already take.
#[derive(Debug)]
pub struct NodeInfo {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    pub unschedulable: bool,
    pub allocatable: Resources,
    pub requested: Resources,
    /// Requests with defaults for empty containers, for scoring.
    pub non_zero_requested: Resources,
    pub pods: HashMap<PodKey, Arc<PodInfo>>,
    pub used_ports: Vec<HostPort>,
    /// How many of its pods have any pod (anti-)affinity terms.
    pub pods_with_affinity: usize,
    /// How many of its pods have required anti-affinity terms.
    pub pods_with_required_anti_affinity: usize,
}

impl NodeInfo {
    pub fn new(node: &Node) -> NodeInfo {
        let mut info = NodeInfo {
            name: node.metadata.name.clone().unwrap_or_default(),
            labels: BTreeMap::new(),
            taints: Vec::new(),
            unschedulable: false,
            allocatable: Resources::default(),
            requested: Resources::default(),
            non_zero_requested: Resources::default(),
            pods: HashMap::new(),
            used_ports: Vec::new(),
            pods_with_affinity: 0,
            pods_with_required_anti_affinity: 0,
        };
        info.set_node(node);
        info
    }

    /// Takes the node's labels, taints and allocatable; keeps its pods.
    pub fn set_node(&mut self, node: &Node) {
        self.labels = node.metadata.labels.clone().unwrap_or_default();
        let spec = node.spec.as_ref();
        self.taints = spec.and_then(|s| s.taints.clone()).unwrap_or_default();
        self.unschedulable = spec.and_then(|s| s.unschedulable).unwrap_or(false);
        self.allocatable = node_allocatable(node);
    }

    pub fn add_pod(&mut self, pod: Arc<PodInfo>) {
        self.requested.add(&pod.requests.requests);
        self.non_zero_requested.add(&pod.requests.non_zero);
        self.used_ports.extend(pod.host_ports.iter().cloned());
        if pod.affinity.is_some() {
            self.pods_with_affinity += 1;
        }
        if pod.has_required_anti_affinity() {
            self.pods_with_required_anti_affinity += 1;
        }
        if let Some(old) = self.pods.insert(pod.key.clone(), pod) {
            self.forget_counts(&old);
        }
    }

    pub fn remove_pod(&mut self, key: &str) -> Option<Arc<PodInfo>> {
        let pod = self.pods.remove(key)?;
        self.forget_counts(&pod);
        Some(pod)
    }

    fn forget_counts(&mut self, pod: &PodInfo) {
        self.requested.subtract(&pod.requests.requests);
        self.non_zero_requested.subtract(&pod.requests.non_zero);
        for port in &pod.host_ports {
            if let Some(i) = self.used_ports.iter().position(|p| p == port) {
                self.used_ports.swap_remove(i);
            }
        }
        if pod.affinity.is_some() {
            self.pods_with_affinity -= 1;
        }
        if pod.has_required_anti_affinity() {
            self.pods_with_required_anti_affinity -= 1;
        }
    }
}

/// A pod nominated to a node by preemption: its requests are held there
/// against pods of lower priority until it is scheduled.
#[derive(Clone, Debug)]
pub struct Nomination {
    pub node: String,
    pub priority: i32,
    pub requests: Resources,
}

/// Nodes, the pods on them, and namespace labels (for namespaceSelector).
#[derive(Debug, Default)]
pub struct Snapshot {
    /// In a stable order, so the rotating start of the node search is fair.
    pub nodes: Vec<NodeInfo>,
    index: HashMap<String, usize>,
    /// Every bound or assumed pod, also those on nodes not (yet) known.
    pods: HashMap<PodKey, Arc<PodInfo>>,
    pub namespaces: HashMap<String, BTreeMap<String, String>>,
    pub nominations: HashMap<PodKey, Nomination>,
    /// PodDisruptionBudgets by `namespace/name`, for preemption.
    pub budgets: HashMap<String, DisruptionBudget>,
}

/// Whether a node change can make a waiting pod schedulable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeChange {
    None,
    Added,
    Changed,
}

impl Snapshot {
    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.index.get(name).map(|i| &self.nodes[*i])
    }

    pub fn node_index(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    pub fn pod(&self, key: &str) -> Option<&Arc<PodInfo>> {
        self.pods.get(key)
    }

    pub fn node_names(&self) -> impl Iterator<Item = &str> {
        self.nodes.iter().map(|n| n.name.as_str())
    }

    /// Adds or updates a node; says whether that matters to waiting pods.
    pub fn upsert_node(&mut self, node: &Node) -> NodeChange {
        let name = node.metadata.name.clone().unwrap_or_default();
        if let Some(&i) = self.index.get(&name) {
            let info = &mut self.nodes[i];
            let before = (
                info.labels.clone(),
                info.taints.clone(),
                info.unschedulable,
                info.allocatable.clone(),
            );
            info.set_node(node);
            let after = (
                &info.labels,
                &info.taints,
                info.unschedulable,
                &info.allocatable,
            );
            if (&before.0, &before.1, before.2, &before.3) == after {
                return NodeChange::None;
            }
            return NodeChange::Changed;
        }
        let mut info = NodeInfo::new(node);
        for pod in self.pods.values().filter(|p| p.node == name) {
            info.add_pod(pod.clone());
        }
        self.index.insert(name, self.nodes.len());
        self.nodes.push(info);
        NodeChange::Added
    }

    pub fn remove_node(&mut self, name: &str) {
        let Some(i) = self.index.remove(name) else {
            return;
        };
        self.nodes.swap_remove(i);
        if let Some(moved) = self.nodes.get(i) {
            self.index.insert(moved.name.clone(), i);
        }
    }

    /// Records a pod bound (or assumed) to its node, replacing what was
    /// known of it.
    pub fn add_pod(&mut self, pod: PodInfo) {
        let pod = Arc::new(pod);
        self.remove_pod(&pod.key);
        self.nominations.remove(&pod.key);
        if let Some(&i) = self.index.get(&pod.node) {
            self.nodes[i].add_pod(pod.clone());
        }
        self.pods.insert(pod.key.clone(), pod);
    }

    pub fn remove_pod(&mut self, key: &str) -> Option<Arc<PodInfo>> {
        let pod = self.pods.remove(key)?;
        if let Some(&i) = self.index.get(&pod.node) {
            self.nodes[i].remove_pod(key);
        }
        Some(pod)
    }

    pub fn namespace_labels(&self, namespace: &str) -> Option<&BTreeMap<String, String>> {
        self.namespaces.get(namespace)
    }

    /// Every pod on a known node: what inter-pod plugins look at.
    pub fn pods_on_nodes(&self) -> impl Iterator<Item = (&NodeInfo, &Arc<PodInfo>)> {
        self.nodes
            .iter()
            .flat_map(|node| node.pods.values().map(move |pod| (node, pod)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}},
        }))
        .unwrap()
    }

    fn pod(name: &str, node: &str, cpu: &str) -> PodInfo {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "x",
                "resources": {"requests": {"cpu": cpu}},
                "ports": [{"containerPort": 80, "hostPort": 8080}]}]},
        }))
        .unwrap();
        PodInfo::new(&pod, node)
    }

    #[test]
    fn pods_are_counted_on_their_node_and_uncounted_when_removed() {
        let mut snapshot = Snapshot::default();
        snapshot.upsert_node(&node("a"));
        snapshot.add_pod(pod("p1", "a", "1"));
        snapshot.add_pod(pod("p2", "a", "500m"));
        let a = snapshot.node("a").unwrap();
        assert_eq!(a.requested.milli_cpu, 1500);
        assert_eq!(a.pods.len(), 2);
        assert_eq!(a.used_ports.len(), 2);
        snapshot.remove_pod("default/p1");
        let a = snapshot.node("a").unwrap();
        assert_eq!(a.requested.milli_cpu, 500);
        assert_eq!(a.used_ports.len(), 1);
    }

    #[test]
    fn replacing_a_pod_does_not_count_it_twice() {
        let mut snapshot = Snapshot::default();
        snapshot.upsert_node(&node("a"));
        snapshot.add_pod(pod("p1", "a", "1"));
        snapshot.add_pod(pod("p1", "a", "1"));
        assert_eq!(snapshot.node("a").unwrap().requested.milli_cpu, 1000);
    }

    #[test]
    fn pods_bound_before_their_node_is_known_count_once_it_appears() {
        let mut snapshot = Snapshot::default();
        snapshot.add_pod(pod("p1", "late", "1"));
        assert_eq!(snapshot.upsert_node(&node("late")), NodeChange::Added);
        assert_eq!(snapshot.node("late").unwrap().requested.milli_cpu, 1000);
        assert_eq!(snapshot.upsert_node(&node("late")), NodeChange::None);
    }

    #[test]
    fn removing_a_node_keeps_the_index_of_the_others() {
        let mut snapshot = Snapshot::default();
        for name in ["a", "b", "c"] {
            snapshot.upsert_node(&node(name));
        }
        snapshot.remove_node("a");
        assert_eq!(snapshot.node("c").unwrap().name, "c");
        assert_eq!(snapshot.node("b").unwrap().name, "b");
        assert!(snapshot.node("a").is_none());
    }
}
