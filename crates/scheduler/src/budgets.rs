//! PodDisruptionBudgets as preemption reads them: which pods each budget
//! covers and how many more of them may go (upstream's
//! `filterPodsWithPDBViolation`). Preemption prefers victims whose removal
//! breaks no budget, and nodes where fewer budgets break; a budget never
//! forbids preemption outright, as upstream.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use capstan_api::selector::label::Selector;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::ResourceExt;

use crate::snapshot::PodInfo;

/// One budget, reduced to what preemption needs.
#[derive(Debug)]
pub struct DisruptionBudget {
    namespace: String,
    selector: Selector,
    /// `status.disruptionsAllowed`.
    allowed: i32,
    /// `status.disruptedPods`: evictions already counted against it.
    disrupted: HashSet<String>,
}

impl DisruptionBudget {
    pub fn new(budget: &PodDisruptionBudget) -> DisruptionBudget {
        let spec = budget.spec.as_ref();
        let status = budget.status.as_ref();
        // As upstream: a selector that is missing, empty or not valid
        // covers no pod here.
        let selector = Selector::from_label_selector(spec.and_then(|s| s.selector.as_ref()))
            .ok()
            .filter(|s| !s.requirements().is_empty())
            .unwrap_or_else(Selector::nothing);
        DisruptionBudget {
            namespace: budget.namespace().unwrap_or_default(),
            selector,
            allowed: status.map_or(0, |s| s.disruptions_allowed),
            disrupted: status
                .and_then(|s| s.disrupted_pods.as_ref())
                .map(|pods| pods.keys().cloned().collect())
                .unwrap_or_default(),
        }
    }

    fn covers(&self, pod: &PodInfo) -> bool {
        pod.namespace == self.namespace && self.selector.matches(&pod.labels)
    }
}

/// Splits `pods` (most important first) into those whose removal would
/// break a budget and those whose removal would not, each in the order
/// given: removing a pod uses up one allowed disruption of every budget
/// covering it, and breaks the budgets left below zero.
pub fn split_by_violation(
    pods: Vec<Arc<PodInfo>>,
    budgets: &HashMap<String, DisruptionBudget>,
) -> (Vec<Arc<PodInfo>>, Vec<Arc<PodInfo>>) {
    let mut allowed: HashMap<&str, i32> = budgets
        .iter()
        .map(|(key, budget)| (key.as_str(), budget.allowed))
        .collect();
    let (mut violating, mut fine) = (Vec::new(), Vec::new());
    for pod in pods {
        let mut breaks = false;
        for (key, budget) in budgets {
            if !budget.covers(&pod) {
                continue;
            }
            let name = pod.key.rsplit('/').next().unwrap_or(&pod.key);
            // Already counted in the budget's status.
            if budget.disrupted.contains(name) {
                continue;
            }
            let left = allowed.entry(key.as_str()).or_default();
            *left -= 1;
            if *left < 0 {
                breaks = true;
            }
        }
        if breaks {
            violating.push(pod);
        } else {
            fine.push(pod);
        }
    }
    (violating, fine)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use serde_json::json;

    fn budget(selector: serde_json::Value, allowed: i32) -> DisruptionBudget {
        DisruptionBudget::new(
            &serde_json::from_value::<PodDisruptionBudget>(json!({
                "metadata": {"name": "b", "namespace": "default"},
                "spec": {"selector": selector},
                "status": {"disruptionsAllowed": allowed, "currentHealthy": 0,
                    "desiredHealthy": 0, "expectedPods": 0}
            }))
            .unwrap(),
        )
    }

    fn pod(name: &str, app: &str) -> Arc<PodInfo> {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default", "labels": {"app": app}},
            "spec": {"containers": [{"name": "c", "image": "x"}]}
        }))
        .unwrap();
        Arc::new(PodInfo::new(&pod, "n"))
    }

    fn names(pods: &[Arc<PodInfo>]) -> Vec<&str> {
        pods.iter().map(|p| p.key.as_str()).collect()
    }

    #[test]
    fn pods_past_the_allowed_disruptions_violate() {
        let budgets = HashMap::from([(
            "default/b".to_string(),
            budget(json!({"matchLabels": {"app": "db"}}), 1),
        )]);
        let pods = vec![pod("db-0", "db"), pod("web", "web"), pod("db-1", "db")];
        let (violating, fine) = split_by_violation(pods, &budgets);
        assert_eq!(names(&violating), ["default/db-1"]);
        assert_eq!(names(&fine), ["default/db-0", "default/web"]);
    }

    #[test]
    fn an_empty_selector_covers_nothing() {
        let budgets = HashMap::from([("default/b".to_string(), budget(json!({}), 0))]);
        let (violating, fine) = split_by_violation(vec![pod("a", "db")], &budgets);
        assert!(violating.is_empty());
        assert_eq!(names(&fine), ["default/a"]);
    }
}
