//! DefaultPreemption (PostFilter): when a pod fits nowhere, find a node
//! where removing lower-priority pods lets it fit, keep as many of those
//! pods as possible (those a PodDisruptionBudget protects first), and pick
//! the node whose victims break the fewest budgets and matter least.

use std::collections::HashMap;
use std::sync::Arc;

use crate::budgets::split_by_violation;
use crate::framework::{filter_node, fit_error_message, Code, PodContext, Status};
use crate::snapshot::{NodeInfo, PodInfo, Snapshot};

pub const NAME: &str = "DefaultPreemption";
const NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
const NO_VICTIMS: &str = "No preemption victims found for incoming pod";

/// The chosen node and the pods to delete there.
#[derive(Debug)]
pub struct Preemption {
    pub node: String,
    pub victims: Vec<Arc<PodInfo>>,
    /// How many victims break a PodDisruptionBudget.
    pub violations: usize,
}

/// What preemption decided, and its message for the failure event
/// ("preemption: ..."), empty when it found a node.
#[derive(Debug)]
pub struct Outcome {
    pub preemption: Option<Preemption>,
    pub message: String,
}

impl Outcome {
    fn refused(message: String) -> Outcome {
        Outcome {
            preemption: None,
            message: format!("preemption: {message}"),
        }
    }
}

pub fn post_filter(ctx: &PodContext, snapshot: &Snapshot, failed: &[(usize, Status)]) -> Outcome {
    if let Some(reason) = not_eligible(ctx, snapshot) {
        return Outcome::refused(reason.to_string());
    }
    let codes: HashMap<usize, Code> = failed.iter().map(|(i, s)| (*i, s.code)).collect();
    let mut statuses: Vec<Status> = Vec::new();
    let mut candidates: Vec<Preemption> = Vec::new();
    for (index, node) in snapshot.nodes.iter().enumerate() {
        if codes.get(&index) != Some(&Code::Unschedulable) {
            statuses.push(Status::unresolvable(NAME, NOT_HELPFUL));
            continue;
        }
        match select_victims(ctx, snapshot, node) {
            Ok((victims, violations)) => candidates.push(Preemption {
                node: node.name.clone(),
                victims,
                violations,
            }),
            Err(status) => statuses.push(status),
        }
    }
    if candidates.is_empty() {
        return Outcome::refused(fit_error_message(snapshot.nodes.len(), &statuses, None));
    }
    Outcome {
        preemption: pick_one(candidates),
        message: String::new(),
    }
}

/// Upstream's `PodEligibleToPreemptOthers`.
fn not_eligible(ctx: &PodContext, snapshot: &Snapshot) -> Option<&'static str> {
    let spec = ctx.pod.spec.as_ref();
    if spec.and_then(|s| s.preemption_policy.as_deref()) == Some("Never") {
        return Some("not eligible due to preemptionPolicy=Never.");
    }
    let nominated = ctx
        .pod
        .status
        .as_ref()
        .and_then(|s| s.nominated_node_name.as_deref())
        .filter(|n| !n.is_empty())?;
    // Victims of an earlier preemption still terminating there: wait.
    let node = snapshot.node(nominated)?;
    node.pods
        .values()
        .any(|p| p.priority < ctx.priority && p.terminating)
        .then_some("not eligible due to a terminating pod on the nominated node.")
}

/// Upstream's `SelectVictimsOnNode`: remove every lower-priority pod; if
/// the pod then fits, add them back while it still fits, first those whose
/// removal would break a disruption budget, each group most important
/// first; the rest are the victims, with how many of them break a budget.
fn select_victims(
    ctx: &PodContext,
    snapshot: &Snapshot,
    node: &NodeInfo,
) -> Result<(Vec<Arc<PodInfo>>, usize), Status> {
    let mut lower: Vec<Arc<PodInfo>> = node
        .pods
        .values()
        .filter(|p| p.priority < ctx.priority)
        .cloned()
        .collect();
    if lower.is_empty() {
        return Err(Status::unresolvable(NAME, NO_VICTIMS));
    }
    let mut trial = NodeInfo {
        name: node.name.clone(),
        labels: node.labels.clone(),
        taints: node.taints.clone(),
        unschedulable: node.unschedulable,
        allocatable: node.allocatable.clone(),
        requested: Default::default(),
        non_zero_requested: Default::default(),
        pods: HashMap::new(),
        used_ports: Vec::new(),
        pods_with_affinity: 0,
        pods_with_required_anti_affinity: 0,
    };
    for pod in node.pods.values().filter(|p| p.priority >= ctx.priority) {
        trial.add_pod(pod.clone());
    }
    filter_node(ctx, snapshot, &trial)?;
    // Most important first: higher priority, then started earlier.
    lower.sort_by(|a, b| {
        b.priority
            .cmp(&a.priority)
            .then(a.start_time.cmp(&b.start_time))
    });
    let (violating, fine) = split_by_violation(lower, &snapshot.budgets);
    let mut victims = Vec::new();
    let mut violations = 0;
    for (pod, breaks) in violating
        .into_iter()
        .map(|p| (p, true))
        .chain(fine.into_iter().map(|p| (p, false)))
    {
        trial.add_pod(pod.clone());
        if filter_node(ctx, snapshot, &trial).is_err() {
            trial.remove_pod(&pod.key);
            victims.push(pod);
            violations += usize::from(breaks);
        }
    }
    Ok((victims, violations))
}

/// Upstream's `pickOneNodeForPreemption`: the fewest budgets broken, then
/// the lowest highest-priority victim, then the lowest priority sum, then
/// the fewest victims, then the latest-started most important victim.
fn pick_one(candidates: Vec<Preemption>) -> Option<Preemption> {
    let key = |c: &Preemption| {
        let highest = c
            .victims
            .iter()
            .map(|v| v.priority)
            .max()
            .unwrap_or(i32::MIN);
        let sum: i64 = c
            .victims
            .iter()
            .map(|v| i64::from(v.priority) + i64::from(i32::MAX) + 1)
            .sum();
        let earliest_of_highest = c
            .victims
            .iter()
            .filter(|v| v.priority == highest)
            .map(|v| v.start_time)
            .min()
            .unwrap_or(0);
        (
            c.violations,
            highest,
            sum,
            c.victims.len(),
            std::cmp::Reverse(earliest_of_highest),
        )
    };
    candidates.into_iter().min_by_key(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::find_feasible;
    use k8s_openapi::api::core::v1::{Node, Pod};
    use serde_json::json;

    fn node(name: &str, cpu: &str) -> Node {
        serde_json::from_value(json!({"metadata": {"name": name},
            "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"}}}))
        .unwrap()
    }

    fn pod(name: &str, priority: i32, cpu: &str) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default"},
            "spec": {"priority": priority, "containers": [{"name": "c", "image": "x",
                "resources": {"requests": {"cpu": cpu}}}]}}))
        .unwrap()
    }

    fn run(snapshot: &Snapshot, preemptor: &Pod) -> Outcome {
        let ctx = PodContext::new(preemptor, snapshot);
        let filtered = find_feasible(&ctx, snapshot, 0, usize::MAX);
        assert!(filtered.feasible.is_empty());
        post_filter(&ctx, snapshot, &filtered.failed)
    }

    #[test]
    fn preempts_the_fewest_least_important_pods() {
        let mut snapshot = Snapshot::default();
        snapshot.upsert_node(&node("a", "2"));
        snapshot.upsert_node(&node("b", "2"));
        snapshot.add_pod(PodInfo::new(&pod("a-low", 1, "1"), "a"));
        snapshot.add_pod(PodInfo::new(&pod("a-mid", 5, "1"), "a"));
        snapshot.add_pod(PodInfo::new(&pod("b-mid-1", 5, "1"), "b"));
        snapshot.add_pod(PodInfo::new(&pod("b-mid-2", 5, "1"), "b"));
        let outcome = run(&snapshot, &pod("urgent", 10, "1"));
        let chosen = outcome.preemption.expect("a node");
        assert_eq!(chosen.node, "a");
        let victims: Vec<&str> = chosen.victims.iter().map(|v| v.key.as_str()).collect();
        assert_eq!(victims, vec!["default/a-low"], "a-mid is reprieved");
        assert!(outcome.message.is_empty());
    }

    #[test]
    fn no_lower_priority_pods_means_no_victims() {
        let mut snapshot = Snapshot::default();
        snapshot.upsert_node(&node("a", "1"));
        let mut tainted = node("t", "8");
        tainted.spec = Some(
            serde_json::from_value(json!({"taints": [{"key": "k", "effect": "NoSchedule"}]}))
                .unwrap(),
        );
        snapshot.upsert_node(&tainted);
        snapshot.add_pod(PodInfo::new(&pod("same", 10, "1"), "a"));
        let outcome = run(&snapshot, &pod("p", 10, "1"));
        assert!(outcome.preemption.is_none());
        assert_eq!(
            outcome.message,
            "preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, \
             1 Preemption is not helpful for scheduling."
        );
        let mut never = pod("p", 100, "1");
        never.spec.as_mut().unwrap().preemption_policy = Some("Never".into());
        assert_eq!(
            run(&snapshot, &never).message,
            "preemption: not eligible due to preemptionPolicy=Never."
        );
    }

    #[test]
    fn removing_every_lower_pod_not_being_enough_keeps_the_filter_reason() {
        let mut snapshot = Snapshot::default();
        snapshot.upsert_node(&node("a", "2"));
        snapshot.add_pod(PodInfo::new(&pod("low", 1, "1"), "a"));
        let outcome = run(&snapshot, &pod("huge", 10, "4"));
        assert!(outcome.preemption.is_none());
        assert_eq!(
            outcome.message,
            "preemption: 0/1 nodes are available: 1 Insufficient cpu."
        );
    }

    #[test]
    fn prefers_victims_no_disruption_budget_protects() {
        use crate::budgets::DisruptionBudget;
        let mut snapshot = Snapshot::default();
        snapshot.upsert_node(&node("a", "1"));
        snapshot.upsert_node(&node("b", "1"));
        let mut guarded = pod("a-db", 1, "1");
        guarded.metadata.labels = Some([("app".to_string(), "db".to_string())].into());
        snapshot.add_pod(PodInfo::new(&guarded, "a"));
        // b's pod matters more by priority, but only a's is protected.
        snapshot.add_pod(PodInfo::new(&pod("b-web", 2, "1"), "b"));
        let budget = serde_json::from_value(json!({
            "metadata": {"name": "db", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "db"}}},
            "status": {"disruptionsAllowed": 0, "currentHealthy": 1,
                "desiredHealthy": 1, "expectedPods": 1}
        }))
        .unwrap();
        snapshot
            .budgets
            .insert("default/db".into(), DisruptionBudget::new(&budget));
        let chosen = run(&snapshot, &pod("urgent", 10, "1"))
            .preemption
            .expect("a node");
        assert_eq!(chosen.node, "b");
        assert_eq!(chosen.violations, 0);

        // With the budget gone, the lower-priority victim wins again.
        snapshot.budgets.clear();
        let chosen = run(&snapshot, &pod("urgent", 10, "1"))
            .preemption
            .expect("a node");
        assert_eq!(chosen.node, "a");
    }
}
