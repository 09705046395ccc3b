//! InterPodAffinity: required pod affinity and anti-affinity (the incoming
//! pod's and, symmetrically, the anti-affinity of pods already placed)
//! filter; preferred terms of both sides score. Counts are per topology
//! pair (label key and value), computed once per pod.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::affinity::{AffinityTerm, PodAffinityTerms, WeightedTerm};
use crate::framework::{Status, MAX_NODE_SCORE};
use crate::snapshot::{NodeInfo, Snapshot};

pub const NAME: &str = "InterPodAffinity";
pub const ERR_AFFINITY: &str = "node(s) didn't match pod affinity rules";
pub const ERR_ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";
pub const ERR_EXISTING_ANTI_AFFINITY: &str =
    "node(s) didn't satisfy existing pods anti-affinity rules";
/// Upstream's default `hardPodAffinityWeight`.
const HARD_POD_AFFINITY_WEIGHT: i64 = 1;

/// Counts per topology key, then value.
type TopologyCounts = HashMap<String, HashMap<String, i64>>;

fn bump(counts: &mut TopologyCounts, node: &NodeInfo, key: &str, by: i64) {
    if let Some(value) = node.labels.get(key) {
        *counts
            .entry(key.to_string())
            .or_default()
            .entry(value.clone())
            .or_default() += by;
    }
}

fn count(counts: &TopologyCounts, key: &str, value: &str) -> i64 {
    counts
        .get(key)
        .and_then(|v| v.get(value))
        .copied()
        .unwrap_or(0)
}

/// The incoming pod as the terms see it.
pub struct Incoming<'a> {
    pub namespace: &'a str,
    pub labels: &'a BTreeMap<String, String>,
    pub terms: Option<&'a Arc<PodAffinityTerms>>,
}

/// What the filter needs, computed once per pod (upstream's PreFilter).
#[derive(Debug, Default)]
pub struct FilterState {
    /// Pairs where a placed pod's required anti-affinity selects this pod.
    existing_anti_affinity: TopologyCounts,
    /// Pairs with pods matching all of this pod's required affinity terms.
    affinity: TopologyCounts,
    /// Pairs with pods matching this pod's required anti-affinity terms.
    anti_affinity: TopologyCounts,
    required_affinity: Option<Arc<PodAffinityTerms>>,
    /// The pod matches its own required affinity (it may found a group).
    matches_own_affinity: bool,
}

fn matches_all(terms: &[AffinityTerm], namespace: &str, labels: &BTreeMap<String, String>) -> bool {
    // The incoming pod's terms carry their namespaces already; a selector
    // on namespaces compares with no labels, as upstream passes nil.
    terms.iter().all(|t| t.matches(namespace, labels, None))
}

pub fn pre_filter(incoming: &Incoming, snapshot: &Snapshot) -> FilterState {
    let mut state = FilterState::default();
    let own_namespace_labels = snapshot.namespace_labels(incoming.namespace);
    for node in snapshot
        .nodes
        .iter()
        .filter(|n| n.pods_with_required_anti_affinity > 0)
    {
        for pod in node.pods.values() {
            let Some(terms) = pod.affinity.as_ref() else {
                continue;
            };
            for term in &terms.required_anti_affinity {
                if term.matches(incoming.namespace, incoming.labels, own_namespace_labels) {
                    bump(
                        &mut state.existing_anti_affinity,
                        node,
                        &term.topology_key,
                        1,
                    );
                }
            }
        }
    }
    let Some(terms) = incoming.terms else {
        return state;
    };
    if terms.required_affinity.is_empty() && terms.required_anti_affinity.is_empty() {
        return state;
    }
    for (node, pod) in snapshot.pods_on_nodes() {
        let namespace_labels = snapshot.namespace_labels(&pod.namespace);
        if !terms.required_affinity.is_empty()
            && terms
                .required_affinity
                .iter()
                .all(|t| t.matches(&pod.namespace, &pod.labels, namespace_labels))
        {
            for term in &terms.required_affinity {
                bump(&mut state.affinity, node, &term.topology_key, 1);
            }
        }
        for term in &terms.required_anti_affinity {
            if term.matches(&pod.namespace, &pod.labels, namespace_labels) {
                bump(&mut state.anti_affinity, node, &term.topology_key, 1);
            }
        }
    }
    state.matches_own_affinity = matches_all(
        &terms.required_affinity,
        incoming.namespace,
        incoming.labels,
    );
    state.required_affinity = Some(terms.clone());
    state
}

pub fn filter(state: &FilterState, node: &NodeInfo) -> Result<(), Status> {
    if let Some(terms) = &state.required_affinity {
        if !satisfies_affinity(state, terms, node) {
            return Err(Status::unresolvable(NAME, ERR_AFFINITY));
        }
        for term in &terms.required_anti_affinity {
            if let Some(value) = node.labels.get(&term.topology_key) {
                if count(&state.anti_affinity, &term.topology_key, value) > 0 {
                    return Err(Status::unschedulable(NAME, ERR_ANTI_AFFINITY));
                }
            }
        }
    }
    if !state.existing_anti_affinity.is_empty()
        && node
            .labels
            .iter()
            .any(|(key, value)| count(&state.existing_anti_affinity, key, value) > 0)
    {
        return Err(Status::unschedulable(NAME, ERR_EXISTING_ANTI_AFFINITY));
    }
    Ok(())
}

fn satisfies_affinity(state: &FilterState, terms: &PodAffinityTerms, node: &NodeInfo) -> bool {
    let mut pods_exist = true;
    for term in &terms.required_affinity {
        match node.labels.get(&term.topology_key) {
            // Every topology key must be on the node.
            None => return false,
            Some(value) => {
                if count(&state.affinity, &term.topology_key, value) <= 0 {
                    pods_exist = false;
                }
            }
        }
    }
    // The first pod of a group with affinity to itself may go anywhere
    // with the topology, or it would wait forever.
    pods_exist || (state.affinity.is_empty() && state.matches_own_affinity)
}

/// Scores per topology pair (upstream's PreScore); None when nothing
/// applies and the plugin is skipped.
pub fn pre_score(incoming: &Incoming, snapshot: &Snapshot) -> Option<TopologyCounts> {
    let own = incoming
        .terms
        .filter(|t| !t.preferred_affinity.is_empty() || !t.preferred_anti_affinity.is_empty());
    let own_namespace_labels = snapshot.namespace_labels(incoming.namespace);
    let mut scores = TopologyCounts::new();
    let process = |scores: &mut TopologyCounts,
                   terms: &[WeightedTerm],
                   node: &NodeInfo,
                   matches: &dyn Fn(&AffinityTerm) -> bool,
                   sign: i64| {
        for weighted in terms {
            if matches(&weighted.term) {
                bump(
                    scores,
                    node,
                    &weighted.term.topology_key,
                    weighted.weight * sign,
                );
            }
        }
    };
    for node in &snapshot.nodes {
        if node.labels.is_empty() || (own.is_none() && node.pods_with_affinity == 0) {
            continue;
        }
        for pod in node.pods.values() {
            if own.is_none() && pod.affinity.is_none() {
                continue;
            }
            if let Some(own) = own {
                let existing = |t: &AffinityTerm| t.matches(&pod.namespace, &pod.labels, None);
                process(&mut scores, &own.preferred_affinity, node, &existing, 1);
                process(
                    &mut scores,
                    &own.preferred_anti_affinity,
                    node,
                    &existing,
                    -1,
                );
            }
            let Some(theirs) = pod.affinity.as_ref() else {
                continue;
            };
            let incoming_matches = |t: &AffinityTerm| {
                t.matches(incoming.namespace, incoming.labels, own_namespace_labels)
            };
            for term in &theirs.required_affinity {
                if incoming_matches(term) {
                    bump(
                        &mut scores,
                        node,
                        &term.topology_key,
                        HARD_POD_AFFINITY_WEIGHT,
                    );
                }
            }
            process(
                &mut scores,
                &theirs.preferred_affinity,
                node,
                &incoming_matches,
                1,
            );
            process(
                &mut scores,
                &theirs.preferred_anti_affinity,
                node,
                &incoming_matches,
                -1,
            );
        }
    }
    (!scores.is_empty()).then_some(scores)
}

pub fn score(scores: &TopologyCounts, node: &NodeInfo) -> i64 {
    scores
        .iter()
        .filter_map(|(key, values)| node.labels.get(key).and_then(|v| values.get(v)))
        .sum()
}

/// Min-max scaling to 0..=100 (scores may be negative).
pub fn normalize(scores: &mut [i64]) {
    let (Some(min), Some(max)) = (scores.iter().min().copied(), scores.iter().max().copied())
    else {
        return;
    };
    let spread = max - min;
    for score in scores.iter_mut() {
        *score = if spread > 0 {
            (MAX_NODE_SCORE as f64 * ((*score - min) as f64 / spread as f64)) as i64
        } else {
            0
        };
    }
}
