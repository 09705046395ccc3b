//! One scheduling cycle: prepare the pod's plugin state, filter nodes
//! (stopping once enough feasible ones are found, from a rotating start),
//! score the feasible ones, pick the best, or explain why none fits in
//! upstream's words.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{Pod, PreferredSchedulingTerm, Toleration};

use crate::config::Profile;
use crate::plugins::node_affinity::{self, RequiredNodeAffinity};
use crate::plugins::node_ports::{self, HostPort};
use crate::plugins::node_resources_fit::{self, Held};
use crate::plugins::{
    balanced_allocation, default_normalize, inter_pod_affinity, node_name, node_unschedulable,
    pod_topology_spread, taint_toleration,
};
use crate::resources::PodRequests;
use crate::snapshot::{pod_key, pod_priority, NodeInfo, PodInfo, PodKey, Snapshot};

pub const MAX_NODE_SCORE: i64 = 100;
/// Below this many nodes every node is examined.
const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND: usize = 5;

/// Upstream's status codes for a node a pod does not fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// Preemption might help (resources, ports, anti-affinity).
    Unschedulable,
    /// Preemption cannot help (taints, selectors, names).
    UnschedulableAndUnresolvable,
}

/// Why one node does not fit, from the first plugin that said no.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub code: Code,
    pub plugin: &'static str,
    pub reasons: Vec<String>,
}

impl Status {
    pub fn unschedulable(plugin: &'static str, reason: impl Into<String>) -> Status {
        Status {
            code: Code::Unschedulable,
            plugin,
            reasons: vec![reason.into()],
        }
    }

    pub fn unresolvable(plugin: &'static str, reason: impl Into<String>) -> Status {
        Status {
            code: Code::UnschedulableAndUnresolvable,
            plugin,
            reasons: vec![reason.into()],
        }
    }
}

/// Upstream's FitError message: "0/N nodes are available: <counted
/// reasons, sorted>." followed by what preemption said.
pub fn fit_error_message<'a>(
    all_nodes: usize,
    statuses: impl IntoIterator<Item = &'a Status>,
    post_filter: Option<&str>,
) -> String {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for status in statuses {
        for reason in &status.reasons {
            *counts.entry(reason.as_str()).or_default() += 1;
        }
    }
    let mut reasons: Vec<String> = counts
        .into_iter()
        .map(|(reason, count)| format!("{count} {reason}"))
        .collect();
    // As upstream: a plain string sort, count first.
    reasons.sort();
    let mut message = format!("0/{all_nodes} nodes are available:");
    if !reasons.is_empty() {
        message.push_str(&format!(" {}.", reasons.join(", ")));
    }
    if let Some(post_filter) = post_filter.filter(|m| !m.is_empty()) {
        message.push_str(&format!(" {post_filter}"));
    }
    message
}

/// Upstream's `numFeasibleNodesToFind`.
pub fn num_feasible_nodes_to_find(percentage: Option<u32>, all_nodes: usize) -> usize {
    if all_nodes < MIN_FEASIBLE_NODES_TO_FIND {
        return all_nodes;
    }
    let percentage = match percentage {
        Some(p) if p > 0 => (p as usize).min(100),
        _ => 50usize
            .saturating_sub(all_nodes / 125)
            .max(MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND),
    };
    (all_nodes * percentage / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// The pod and what every plugin prepared for it (upstream's PreFilter and
/// CycleState).
pub struct PodContext<'a> {
    pub pod: &'a Pod,
    pub key: PodKey,
    pub priority: i32,
    pub info: PodInfo,
    pub requests: PodRequests,
    pub host_ports: Vec<HostPort>,
    pub tolerations: &'a [Toleration],
    pub required_node_affinity: RequiredNodeAffinity,
    pub preferred_node_affinity: Vec<PreferredSchedulingTerm>,
    pub inter_pod: inter_pod_affinity::FilterState,
    pub spread: pod_topology_spread::FilterState,
}

impl<'a> PodContext<'a> {
    pub fn new(pod: &'a Pod, snapshot: &Snapshot) -> PodContext<'a> {
        let info = PodInfo::new(pod, "");
        let incoming = inter_pod_affinity::Incoming {
            namespace: &info.namespace,
            labels: &info.labels,
            terms: info.affinity.as_ref(),
        };
        let inter_pod = inter_pod_affinity::pre_filter(&incoming, snapshot);
        let required_node_affinity = RequiredNodeAffinity::of(pod);
        let spread = pod_topology_spread::pre_filter(pod, &required_node_affinity, snapshot);
        PodContext {
            pod,
            key: pod_key(pod),
            priority: pod_priority(pod),
            requests: info.requests.clone(),
            host_ports: info.host_ports.clone(),
            tolerations: pod
                .spec
                .as_ref()
                .and_then(|s| s.tolerations.as_deref())
                .unwrap_or_default(),
            required_node_affinity,
            preferred_node_affinity: node_affinity::preferred_terms(pod),
            inter_pod,
            spread,
            info,
        }
    }

    /// What pods nominated to this node with at least this pod's priority
    /// hold there.
    fn held(&self, snapshot: &Snapshot, node: &NodeInfo) -> Option<Held> {
        if snapshot.nominations.is_empty() {
            return None;
        }
        let mut held: Option<Held> = None;
        for (key, nomination) in &snapshot.nominations {
            if nomination.node == node.name
                && nomination.priority >= self.priority
                && *key != self.key
            {
                let held = held.get_or_insert_with(Held::default);
                held.requests.add(&nomination.requests);
                held.pods += 1;
            }
        }
        held
    }
}

/// Runs the filters in upstream's order; the first to refuse decides.
pub fn filter_node(ctx: &PodContext, snapshot: &Snapshot, node: &NodeInfo) -> Result<(), Status> {
    node_unschedulable::filter(ctx.tolerations, node)?;
    node_name::filter(ctx.pod, node)?;
    taint_toleration::filter(ctx.tolerations, node)?;
    node_affinity::filter(&ctx.required_node_affinity, node)?;
    node_ports::filter(&ctx.host_ports, node)?;
    node_resources_fit::filter(
        &ctx.requests.requests,
        node,
        ctx.held(snapshot, node).as_ref(),
    )?;
    pod_topology_spread::filter(&ctx.spread, node)?;
    inter_pod_affinity::filter(&ctx.inter_pod, node)?;
    Ok(())
}

/// The outcome of filtering.
pub struct Filtered {
    /// Indexes into `snapshot.nodes` of the nodes that fit.
    pub feasible: Vec<usize>,
    /// The nodes that do not, by index, with why.
    pub failed: Vec<(usize, Status)>,
    /// How many nodes were looked at (to move the rotating start on).
    pub examined: usize,
}

/// Filters from `start`, wrapping around, until `wanted` nodes fit or all
/// were examined.
pub fn find_feasible(
    ctx: &PodContext,
    snapshot: &Snapshot,
    start: usize,
    wanted: usize,
) -> Filtered {
    let total = snapshot.nodes.len();
    let mut result = Filtered {
        feasible: Vec::new(),
        failed: Vec::new(),
        examined: 0,
    };
    for offset in 0..total {
        let index = (start + offset) % total;
        result.examined += 1;
        match filter_node(ctx, snapshot, &snapshot.nodes[index]) {
            Ok(()) => {
                result.feasible.push(index);
                if result.feasible.len() >= wanted {
                    break;
                }
            }
            Err(status) => result.failed.push((index, status)),
        }
    }
    result
}

/// Scores the feasible nodes: each plugin's scores normalized to 0..=100,
/// weighted and summed.
pub fn score_nodes(
    ctx: &PodContext,
    snapshot: &Snapshot,
    profile: &Profile,
    feasible: &[usize],
) -> Vec<i64> {
    let nodes: Vec<&NodeInfo> = feasible.iter().map(|&i| &snapshot.nodes[i]).collect();
    let mut total = vec![0i64; nodes.len()];
    let mut add = |weight: i64, scores: Vec<i64>| {
        for (t, s) in total.iter_mut().zip(scores) {
            *t += weight * s;
        }
    };
    let weights = &profile.weights;

    // TaintToleration: fewer untolerated PreferNoSchedule taints.
    let scoring_tolerations = taint_toleration::prefer_no_schedule_tolerations(ctx.tolerations);
    let mut taints: Vec<i64> = nodes
        .iter()
        .map(|n| taint_toleration::score(&scoring_tolerations, n))
        .collect();
    default_normalize(&mut taints, true);
    add(weights.taint_toleration, taints);

    if !ctx.preferred_node_affinity.is_empty() {
        let mut affinity: Vec<i64> = nodes
            .iter()
            .map(|n| node_affinity::score(&ctx.preferred_node_affinity, n))
            .collect();
        default_normalize(&mut affinity, false);
        add(weights.node_affinity, affinity);
    }

    let fit = nodes
        .iter()
        .map(|n| node_resources_fit::score(&profile.scoring, &ctx.requests, n))
        .collect();
    add(weights.node_resources_fit, fit);

    if balanced_allocation::applies(&ctx.requests) {
        let balanced = nodes
            .iter()
            .map(|n| balanced_allocation::score(&profile.scoring.resources, &ctx.requests, n))
            .collect();
        add(weights.balanced_allocation, balanced);
    }

    let incoming = inter_pod_affinity::Incoming {
        namespace: &ctx.info.namespace,
        labels: &ctx.info.labels,
        terms: ctx.info.affinity.as_ref(),
    };
    if let Some(topology) = inter_pod_affinity::pre_score(&incoming, snapshot) {
        let mut scores: Vec<i64> = nodes
            .iter()
            .map(|n| inter_pod_affinity::score(&topology, n))
            .collect();
        inter_pod_affinity::normalize(&mut scores);
        add(weights.inter_pod_affinity, scores);
    }

    if let Some(spread) =
        pod_topology_spread::pre_score(ctx.pod, &ctx.required_node_affinity, snapshot, &nodes)
    {
        let raw: Vec<Option<i64>> = nodes
            .iter()
            .map(|n| pod_topology_spread::score(&spread, n))
            .collect();
        add(
            weights.pod_topology_spread,
            pod_topology_spread::normalize(&raw),
        );
    }
    total
}

/// The best-scoring node; ties broken at random so equal nodes share load.
pub fn select_host(scores: &[i64], random: &mut Random) -> Option<usize> {
    let mut best: Option<(usize, i64)> = None;
    let mut ties = 0u64;
    for (i, &score) in scores.iter().enumerate() {
        match best {
            Some((_, top)) if score < top => {}
            Some((_, top)) if score == top => {
                ties += 1;
                if random.below(ties + 1) == 0 {
                    best = Some((i, score));
                }
            }
            _ => {
                best = Some((i, score));
                ties = 0;
            }
        }
    }
    best.map(|(i, _)| i)
}

/// A small xorshift generator: tie-breaking needs no more.
pub struct Random(u64);

impl Random {
    pub fn seeded() -> Random {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e37_79b9_7f4a_7c15);
        Random(nanos | 1)
    }

    pub fn below(&mut self, bound: u64) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x % bound.max(1)
    }
}

#[cfg(test)]
#[path = "framework_tests.rs"]
mod tests;
