//! PodTopologySpread: `topologySpreadConstraints` keep the count of
//! matching pods across topology domains within `maxSkew`
//! (DoNotSchedule filters, ScheduleAnyway scores).

use std::collections::{BTreeMap, HashMap, HashSet};

use capstan_api::selector::label::Selector;
use k8s_openapi::api::core::v1::{Pod, TopologySpreadConstraint};

use crate::framework::{Status, MAX_NODE_SCORE};
use crate::plugins::node_affinity::RequiredNodeAffinity;
use crate::plugins::taint_toleration;
use crate::snapshot::{NodeInfo, Snapshot};

pub const NAME: &str = "PodTopologySpread";
pub const ERR_CONSTRAINTS: &str = "node(s) didn't match pod topology spread constraints";
pub const ERR_MISSING_LABEL: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";
const HOSTNAME: &str = "kubernetes.io/hostname";

/// One constraint, its selector parsed (with matchLabelKeys merged).
#[derive(Debug)]
pub struct Constraint {
    pub max_skew: i64,
    pub topology_key: String,
    pub selector: Selector,
    pub min_domains: i64,
    /// nodeAffinityPolicy: Honor (default) counts only nodes the pod's
    /// node selector and required affinity admit.
    pub honor_node_affinity: bool,
    /// nodeTaintsPolicy: Ignore (default); Honor skips nodes with taints
    /// the pod does not tolerate.
    pub honor_node_taints: bool,
}

fn constraints(pod: &Pod, when_unsatisfiable: &str) -> Vec<Constraint> {
    let empty = BTreeMap::new();
    let labels = pod.metadata.labels.as_ref().unwrap_or(&empty);
    pod.spec
        .as_ref()
        .and_then(|s| s.topology_spread_constraints.as_ref())
        .into_iter()
        .flatten()
        .filter(|c| c.when_unsatisfiable == when_unsatisfiable)
        .map(|c| Constraint::new(c, labels))
        .collect()
}

impl Constraint {
    fn new(c: &TopologySpreadConstraint, pod_labels: &BTreeMap<String, String>) -> Constraint {
        let mut selector = Selector::from_label_selector(c.label_selector.as_ref())
            .unwrap_or_else(|_| Selector::nothing());
        let extra: Vec<String> = c
            .match_label_keys
            .iter()
            .flatten()
            .filter_map(|key| pod_labels.get(key).map(|v| format!("{key}={v}")))
            .collect();
        if !extra.is_empty() && c.label_selector.is_some() {
            let mut text: Vec<String> = selector
                .requirements()
                .iter()
                .map(|r| r.to_string())
                .collect();
            text.extend(extra);
            selector = Selector::parse(&text.join(",")).unwrap_or_else(|_| Selector::nothing());
        }
        Constraint {
            max_skew: i64::from(c.max_skew),
            topology_key: c.topology_key.clone(),
            selector,
            min_domains: i64::from(c.min_domains.unwrap_or(1)),
            honor_node_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
            honor_node_taints: c.node_taints_policy.as_deref() == Some("Honor"),
        }
    }

    fn includes(&self, pod: &Pod, required: &RequiredNodeAffinity, node: &NodeInfo) -> bool {
        if self.honor_node_affinity && !required.matches(node) {
            return false;
        }
        if self.honor_node_taints {
            let tolerations = pod
                .spec
                .as_ref()
                .and_then(|s| s.tolerations.as_deref())
                .unwrap_or_default();
            if taint_toleration::first_untolerated(&node.taints, tolerations).is_some() {
                return false;
            }
        }
        true
    }
}

/// Matching pods on a node: same namespace, not terminating, selected.
fn count_matching(node: &NodeInfo, selector: &Selector, namespace: &str) -> i64 {
    node.pods
        .values()
        .filter(|p| !p.terminating && p.namespace == namespace && selector.matches(&p.labels))
        .count() as i64
}

fn has_all_keys(node: &NodeInfo, constraints: &[Constraint]) -> bool {
    constraints
        .iter()
        .all(|c| node.labels.contains_key(&c.topology_key))
}

/// The DoNotSchedule constraints and the matching counts per domain.
#[derive(Debug, Default)]
pub struct FilterState {
    constraints: Vec<Constraint>,
    /// Per constraint: matching pods per topology value.
    counts: Vec<HashMap<String, i64>>,
    self_matches: Vec<bool>,
}

pub fn pre_filter(pod: &Pod, required: &RequiredNodeAffinity, snapshot: &Snapshot) -> FilterState {
    let constraints = constraints(pod, "DoNotSchedule");
    if constraints.is_empty() {
        return FilterState::default();
    }
    let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
    let mut counts = vec![HashMap::new(); constraints.len()];
    for node in &snapshot.nodes {
        if !has_all_keys(node, &constraints) {
            continue;
        }
        for (i, c) in constraints.iter().enumerate() {
            if !c.includes(pod, required, node) {
                continue;
            }
            let value = node.labels[&c.topology_key].clone();
            *counts[i].entry(value).or_insert(0) += count_matching(node, &c.selector, namespace);
        }
    }
    let empty = BTreeMap::new();
    let labels = pod.metadata.labels.as_ref().unwrap_or(&empty);
    let self_matches = constraints
        .iter()
        .map(|c| c.selector.matches(labels))
        .collect();
    FilterState {
        constraints,
        counts,
        self_matches,
    }
}

pub fn filter(state: &FilterState, node: &NodeInfo) -> Result<(), Status> {
    for (i, c) in state.constraints.iter().enumerate() {
        let Some(value) = node.labels.get(&c.topology_key) else {
            return Err(Status::unresolvable(NAME, ERR_MISSING_LABEL));
        };
        let domains = &state.counts[i];
        let mut min = domains
            .values()
            .copied()
            .min()
            .unwrap_or(i64::from(i32::MAX));
        // Fewer domains than minDomains: the missing ones count as empty.
        if (domains.len() as i64) < c.min_domains {
            min = 0;
        }
        let matching = domains.get(value).copied().unwrap_or(0);
        let skew = matching + i64::from(state.self_matches[i]) - min;
        if skew > c.max_skew {
            return Err(Status::unschedulable(NAME, ERR_CONSTRAINTS));
        }
    }
    Ok(())
}

/// The ScheduleAnyway constraints with counts over the feasible nodes'
/// domains (upstream's PreScore); None skips the plugin.
#[derive(Debug)]
pub struct ScoreState {
    constraints: Vec<Constraint>,
    namespace: String,
    pair_counts: HashMap<(usize, String), i64>,
    weights: Vec<f64>,
    ignored: HashSet<String>,
}

pub fn pre_score(
    pod: &Pod,
    required: &RequiredNodeAffinity,
    snapshot: &Snapshot,
    feasible: &[&NodeInfo],
) -> Option<ScoreState> {
    let constraints = constraints(pod, "ScheduleAnyway");
    if constraints.is_empty() || feasible.is_empty() {
        return None;
    }
    let mut ignored = HashSet::new();
    let mut pair_counts = HashMap::new();
    let mut sizes = vec![0usize; constraints.len()];
    for node in feasible {
        if !has_all_keys(node, &constraints) {
            ignored.insert(node.name.clone());
            continue;
        }
        for (i, c) in constraints.iter().enumerate() {
            if c.topology_key == HOSTNAME {
                continue;
            }
            let pair = (i, node.labels[&c.topology_key].clone());
            if let std::collections::hash_map::Entry::Vacant(entry) = pair_counts.entry(pair) {
                entry.insert(0);
                sizes[i] += 1;
            }
        }
    }
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    for node in &snapshot.nodes {
        if !has_all_keys(node, &constraints) {
            continue;
        }
        for (i, c) in constraints.iter().enumerate() {
            if !c.includes(pod, required, node) {
                continue;
            }
            let pair = (i, node.labels[&c.topology_key].clone());
            if let Some(count) = pair_counts.get_mut(&pair) {
                *count += count_matching(node, &c.selector, &namespace);
            }
        }
    }
    let weights = constraints
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let size = if c.topology_key == HOSTNAME {
                feasible.len() - ignored.len()
            } else {
                sizes[i]
            };
            ((size + 2) as f64).ln()
        })
        .collect();
    Some(ScoreState {
        constraints,
        namespace,
        pair_counts,
        weights,
        ignored,
    })
}

/// Raw score: more matching pods in the node's domains is worse; None for
/// nodes left out (missing a topology key).
pub fn score(state: &ScoreState, node: &NodeInfo) -> Option<i64> {
    if state.ignored.contains(&node.name) {
        return None;
    }
    let mut score = 0.0;
    for (i, c) in state.constraints.iter().enumerate() {
        let Some(value) = node.labels.get(&c.topology_key) else {
            continue;
        };
        let count = if c.topology_key == HOSTNAME {
            count_matching(node, &c.selector, &state.namespace)
        } else {
            state
                .pair_counts
                .get(&(i, value.clone()))
                .copied()
                .unwrap_or(0)
        };
        score += count as f64 * state.weights[i] + (c.max_skew - 1) as f64;
    }
    Some(score.round() as i64)
}

/// Fewer matching pods scores higher; left-out nodes score 0.
pub fn normalize(raw: &[Option<i64>]) -> Vec<i64> {
    let present = raw.iter().flatten().copied();
    let min = present.clone().min().unwrap_or(0);
    let max = present.max().unwrap_or(0);
    raw.iter()
        .map(|score| match score {
            None => 0,
            Some(_) if max == 0 => MAX_NODE_SCORE,
            Some(s) => MAX_NODE_SCORE * (max + min - s) / max,
        })
        .collect()
}
