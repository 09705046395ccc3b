//! NodeResourcesFit: a pod fits a node when its requests fit in what is
//! left of the node's allocatable (and the pod count allows one more);
//! nodes score by LeastAllocated (spread, the default) or MostAllocated
//! (bin packing).

use crate::framework::{Status, MAX_NODE_SCORE};
use crate::resources::{PodRequests, Resources};
use crate::snapshot::NodeInfo;

pub const NAME: &str = "NodeResourcesFit";

/// How nodes are scored (NodeResourcesFitArgs.scoringStrategy.type).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrategyType {
    LeastAllocated,
    MostAllocated,
}

/// The strategy and the resources it weighs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScoringStrategy {
    pub kind: StrategyType,
    pub resources: Vec<(String, i64)>,
}

impl Default for ScoringStrategy {
    fn default() -> ScoringStrategy {
        ScoringStrategy {
            kind: StrategyType::LeastAllocated,
            resources: default_resources(),
        }
    }
}

/// cpu and memory, weight 1 each: upstream's default.
pub fn default_resources() -> Vec<(String, i64)> {
    vec![("cpu".into(), 1), ("memory".into(), 1)]
}

/// What else is held on the node for this pod's cycle: pods nominated
/// there by preemption with at least this pod's priority.
#[derive(Clone, Debug, Default)]
pub struct Held {
    pub requests: Resources,
    pub pods: i64,
}

/// Upstream's `fitsRequest`: every resource short is a reason of its own.
pub fn filter(pod: &Resources, node: &NodeInfo, held: Option<&Held>) -> Result<(), Status> {
    let mut reasons = Vec::new();
    let held_pods = held.map_or(0, |h| h.pods);
    if node.pods.len() as i64 + held_pods + 1 > node.allocatable.allowed_pods {
        reasons.push("Too many pods".to_string());
    }
    if !pod.is_zero() {
        let mut used = node.requested.clone();
        if let Some(held) = held {
            used.add(&held.requests);
        }
        let free = |allocatable: i64, used: i64| allocatable.saturating_sub(used);
        if pod.milli_cpu > 0 && pod.milli_cpu > free(node.allocatable.milli_cpu, used.milli_cpu) {
            reasons.push("Insufficient cpu".into());
        }
        if pod.memory > 0 && pod.memory > free(node.allocatable.memory, used.memory) {
            reasons.push("Insufficient memory".into());
        }
        if pod.ephemeral_storage > 0
            && pod.ephemeral_storage
                > free(node.allocatable.ephemeral_storage, used.ephemeral_storage)
        {
            reasons.push("Insufficient ephemeral-storage".into());
        }
        for (name, &amount) in &pod.scalar {
            if amount > 0 && amount > free(node.allocatable.scalar(name), used.scalar(name)) {
                reasons.push(format!("Insufficient {name}"));
            }
        }
    }
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(Status {
            code: crate::framework::Code::Unschedulable,
            plugin: NAME,
            reasons,
        })
    }
}

/// Allocatable and what would be requested with this pod, per resource:
/// cpu and memory count the non-zero defaults of empty containers
/// (`use_requested` = false) so that empty pods still spread.
pub fn allocatable_and_requested(
    resource: &str,
    node: &NodeInfo,
    pod: &PodRequests,
    use_requested: bool,
) -> (i64, i64) {
    let node_requested = if use_requested {
        &node.requested
    } else {
        &node.non_zero_requested
    };
    let pod_requested = if use_requested {
        &pod.requests
    } else {
        &pod.non_zero
    };
    match resource {
        "cpu" => (
            node.allocatable.milli_cpu,
            node_requested.milli_cpu + pod_requested.milli_cpu,
        ),
        "memory" => (
            node.allocatable.memory,
            node_requested.memory + pod_requested.memory,
        ),
        "ephemeral-storage" => (
            node.allocatable.ephemeral_storage,
            node.requested.ephemeral_storage + pod.requests.ephemeral_storage,
        ),
        other => {
            // An extended resource the pod does not ask for does not count.
            if pod.requests.scalar(other) == 0 {
                return (0, 0);
            }
            (
                node.allocatable.scalar(other),
                node.requested.scalar(other) + pod.requests.scalar(other),
            )
        }
    }
}

fn least_requested(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 || requested > capacity {
        return 0;
    }
    (capacity - requested) * MAX_NODE_SCORE / capacity
}

fn most_requested(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 {
        return 0;
    }
    requested.min(capacity) * MAX_NODE_SCORE / capacity
}

/// The weighted average of the per-resource scores (0..=100).
pub fn score(strategy: &ScoringStrategy, pod: &PodRequests, node: &NodeInfo) -> i64 {
    let (mut total, mut weights) = (0i64, 0i64);
    for (resource, weight) in &strategy.resources {
        let (allocatable, requested) = allocatable_and_requested(resource, node, pod, false);
        if allocatable == 0 {
            continue;
        }
        let score = match strategy.kind {
            StrategyType::LeastAllocated => least_requested(requested, allocatable),
            StrategyType::MostAllocated => most_requested(requested, allocatable),
        };
        total += score * weight;
        weights += weight;
    }
    if weights == 0 {
        0
    } else {
        total / weights
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Node, Pod};
    use serde_json::json;

    fn node(cpu: &str, memory: &str, pods: &str) -> NodeInfo {
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": "n"},
            "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": pods, "example.com/gpu": "2"}},
        }))
        .unwrap();
        NodeInfo::new(&node)
    }

    fn requests(cpu: &str, memory: &str) -> PodRequests {
        let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": {"containers": [
            {"name": "c", "image": "x", "resources": {"requests": {"cpu": cpu, "memory": memory}}}
        ]}}))
        .unwrap();
        PodRequests::of(&pod)
    }

    #[test]
    fn every_short_resource_is_a_reason() {
        let n = node("1", "1Gi", "110");
        let status = filter(&requests("2", "2Gi").requests, &n, None).unwrap_err();
        assert_eq!(
            status.reasons,
            vec!["Insufficient cpu", "Insufficient memory"]
        );
        assert_eq!(status.code, crate::framework::Code::Unschedulable);
        assert!(
            filter(&requests("1", "1Gi").requests, &n, None).is_ok(),
            "exactly full fits"
        );
    }

    #[test]
    fn the_pod_count_is_checked_even_for_pods_requesting_nothing() {
        let n = node("1", "1Gi", "0");
        let status = filter(&Resources::default(), &n, None).unwrap_err();
        assert_eq!(status.reasons, vec!["Too many pods"]);
    }

    #[test]
    fn extended_resources_and_held_requests_count() {
        let n = node("4", "4Gi", "110");
        let mut gpu = Resources::default();
        gpu.scalar.insert("example.com/gpu".into(), 3);
        let status = filter(&gpu, &n, None).unwrap_err();
        assert_eq!(status.reasons, vec!["Insufficient example.com/gpu"]);
        let held = Held {
            requests: requests("3500m", "0").requests,
            pods: 1,
        };
        let status = filter(&requests("1", "0").requests, &n, Some(&held)).unwrap_err();
        assert_eq!(status.reasons, vec!["Insufficient cpu"]);
    }

    #[test]
    fn least_allocated_prefers_the_emptier_node_and_most_allocated_the_fuller() {
        let empty = node("4", "8Gi", "110");
        let mut busy = node("4", "8Gi", "110");
        busy.requested = requests("2", "4Gi").requests;
        busy.non_zero_requested = busy.requested.clone();
        let pod = requests("1", "2Gi");
        let least = ScoringStrategy::default();
        // (4-1)/4 = 75 for both resources on the empty node, (4-3)/4 = 25.
        assert_eq!(score(&least, &pod, &empty), 75);
        assert_eq!(score(&least, &pod, &busy), 25);
        let most = ScoringStrategy {
            kind: StrategyType::MostAllocated,
            resources: default_resources(),
        };
        assert_eq!(score(&most, &pod, &empty), 25);
        assert_eq!(score(&most, &pod, &busy), 75);
    }

    #[test]
    fn weights_average_the_resources() {
        let n = node("4", "8Gi", "110");
        let pod = requests("2", "0");
        let strategy = ScoringStrategy {
            kind: StrategyType::LeastAllocated,
            resources: vec![("cpu".into(), 3), ("memory".into(), 1)],
        };
        // cpu (4-2)/4 = 50; memory is asked for (as 0), so no default
        // applies and it scores 100.
        assert_eq!(score(&strategy, &pod, &n), (50 * 3 + 100) / 4);
    }
}
