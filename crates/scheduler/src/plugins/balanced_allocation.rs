//! NodeResourcesBalancedAllocation: prefers nodes whose CPU and memory
//! would be used in similar proportions after placing the pod.

use crate::framework::MAX_NODE_SCORE;
use crate::plugins::node_resources_fit::allocatable_and_requested;
use crate::resources::PodRequests;
use crate::snapshot::NodeInfo;

pub const NAME: &str = "NodeResourcesBalancedAllocation";

/// Upstream skips pods that request nothing.
pub fn applies(pod: &PodRequests) -> bool {
    !pod.requests.is_zero()
}

/// `(1 - standard deviation of the used fractions) * 100`.
pub fn score(resources: &[(String, i64)], pod: &PodRequests, node: &NodeInfo) -> i64 {
    let mut fractions = Vec::with_capacity(resources.len());
    for (resource, _) in resources {
        let (allocatable, requested) = allocatable_and_requested(resource, node, pod, true);
        if allocatable == 0 {
            continue;
        }
        fractions.push((requested as f64 / allocatable as f64).min(1.0));
    }
    let std = match fractions.len() {
        2 => ((fractions[0] - fractions[1]) / 2.0).abs(),
        n if n > 2 => {
            let mean = fractions.iter().sum::<f64>() / n as f64;
            (fractions
                .iter()
                .map(|f| (f - mean) * (f - mean))
                .sum::<f64>()
                / n as f64)
                .sqrt()
        }
        _ => 0.0,
    };
    ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::node_resources_fit::default_resources;
    use k8s_openapi::api::core::v1::{Node, Pod};
    use serde_json::json;

    #[test]
    fn equal_fractions_score_full_and_skew_lowers_the_score() {
        let node: Node = serde_json::from_value(json!({"metadata": {"name": "n"},
            "status": {"allocatable": {"cpu": "4", "memory": "4Gi", "pods": "10"}}}))
        .unwrap();
        let node = NodeInfo::new(&node);
        let pod = |cpu: &str, memory: &str| -> PodRequests {
            let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": {"containers": [
                {"name": "c", "image": "x", "resources": {"requests": {"cpu": cpu, "memory": memory}}}]}}))
            .unwrap();
            PodRequests::of(&pod)
        };
        assert_eq!(score(&default_resources(), &pod("2", "2Gi"), &node), 100);
        // fractions 1.0 and 0.0: std 0.5.
        assert_eq!(score(&default_resources(), &pod("4", "0"), &node), 50);
    }
}
