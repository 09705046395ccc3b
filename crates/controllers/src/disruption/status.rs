//! The arithmetic of a PodDisruptionBudget's status, as upstream's
//! disruption controller does it: how many pods are expected and must stay
//! healthy, how many are, which evicted pods are still expected to go, and
//! the DisruptionAllowed condition.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;

use crate::pods::is_ready;

/// How long after an eviction the pod is expected to be seen deleting; an
/// evicted pod counts as unhealthy until then (upstream's DeletionTimeout).
pub const DELETION_TIMEOUT: SignedDuration = SignedDuration::from_secs(120);

/// The condition's type and reasons.
pub const DISRUPTION_ALLOWED: &str = "DisruptionAllowed";
pub const SUFFICIENT_PODS: &str = "SufficientPods";
pub const INSUFFICIENT_PODS: &str = "InsufficientPods";
pub const SYNC_FAILED: &str = "SyncFailed";

/// An int, or a percentage of `total` rounded up (upstream's
/// GetScaledValueFromIntOrPercent with roundUp).
pub fn scaled_value(value: &IntOrString, total: i32) -> Result<i32, String> {
    match value {
        IntOrString::Int(number) => Ok(*number),
        IntOrString::String(text) => {
            let Some(percent) = text.strip_suffix('%') else {
                return Err(
                    "invalid value for IntOrString: invalid type: string is not a percentage"
                        .into(),
                );
            };
            let percent: i64 = percent.parse().map_err(|error| {
                format!("invalid value for IntOrString: invalid value {text:?}: {error}")
            })?;
            let scaled = (percent * i64::from(total) + 99).div_euclid(100);
            i32::try_from(scaled)
                .map_err(|_| format!("invalid value for IntOrString: {text:?} is too large"))
        }
    }
}

/// Whether the budget needs the scale of the pods' controllers: for
/// maxUnavailable, or a percentage minAvailable. An int minAvailable
/// counts the pods themselves.
pub fn needs_scale(budget: &PodDisruptionBudget) -> bool {
    let spec = budget.spec.as_ref();
    let max_unavailable = spec.and_then(|s| s.max_unavailable.as_ref());
    let min_available = spec.and_then(|s| s.min_available.as_ref());
    max_unavailable.is_some() || matches!(min_available, Some(IntOrString::String(_)))
}

/// The expected pod count and the number that must stay healthy (upstream's
/// getExpectedPodCount), given the pods' count and, when
/// [`needs_scale`], the sum of their controllers' scales.
pub fn expected_and_desired(
    budget: &PodDisruptionBudget,
    pod_count: i32,
    scale: Option<i32>,
) -> Result<(i32, i32), String> {
    let spec = budget.spec.as_ref();
    if let Some(max_unavailable) = spec.and_then(|s| s.max_unavailable.as_ref()) {
        let expected = scale.unwrap_or(pod_count);
        let unavailable = scaled_value(max_unavailable, expected)?;
        return Ok((expected, (expected - unavailable).max(0)));
    }
    match spec.and_then(|s| s.min_available.as_ref()) {
        Some(IntOrString::Int(min)) => Ok((pod_count, *min)),
        Some(percent @ IntOrString::String(_)) => {
            let expected = scale.unwrap_or(pod_count);
            Ok((expected, scaled_value(percent, expected)?))
        }
        None => Ok((0, 0)),
    }
}

/// The evicted pods still expected to be deleted, and when to look again
/// (upstream's buildDisruptedPodMap). Pods already deleting, gone, or
/// overdue drop out; the overdue ones are returned too.
pub fn still_disrupted(
    pods: &[Arc<Pod>],
    recorded: Option<&BTreeMap<String, Time>>,
    now: Timestamp,
) -> (BTreeMap<String, Time>, Option<Timestamp>, Vec<String>) {
    let mut kept = BTreeMap::new();
    let mut recheck: Option<Timestamp> = None;
    let mut overdue = Vec::new();
    let Some(recorded) = recorded else {
        return (kept, recheck, overdue);
    };
    for pod in pods {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let name = pod.name_any();
        let Some(when) = recorded.get(&name) else {
            continue;
        };
        let expected_deletion = when.0 + DELETION_TIMEOUT;
        if expected_deletion < now {
            overdue.push(name);
        } else {
            recheck = Some(recheck.map_or(expected_deletion, |r| r.min(expected_deletion)));
            kept.insert(name, when.clone());
        }
    }
    (kept, recheck, overdue)
}

/// The healthy pods: ready, not deleting, and not just evicted.
pub fn count_healthy(pods: &[Arc<Pod>], disrupted: &BTreeMap<String, Time>, now: Timestamp) -> i32 {
    let healthy = pods
        .iter()
        .filter(|pod| pod.metadata.deletion_timestamp.is_none())
        .filter(|pod| {
            disrupted
                .get(&pod.name_any())
                .is_none_or(|when| when.0 + DELETION_TIMEOUT <= now)
        })
        .filter(|pod| is_ready(pod))
        .count();
    i32::try_from(healthy).unwrap_or(i32::MAX)
}

/// Sets the condition of this type as upstream's SetStatusCondition: the
/// transition time moves only when the status changes.
fn set_condition(conditions: &mut Vec<Condition>, wanted: Condition) {
    match conditions.iter_mut().find(|c| c.type_ == wanted.type_) {
        Some(existing) => {
            if existing.status != wanted.status {
                existing.status = wanted.status;
                existing.last_transition_time = wanted.last_transition_time;
            }
            existing.reason = wanted.reason;
            existing.message = wanted.message;
            existing.observed_generation = wanted.observed_generation;
        }
        None => conditions.push(wanted),
    }
}

fn condition(
    status: &str,
    reason: &str,
    message: String,
    generation: Option<i64>,
    now: Timestamp,
) -> Condition {
    Condition {
        type_: DISRUPTION_ALLOWED.into(),
        status: status.into(),
        reason: reason.into(),
        message,
        observed_generation: generation,
        last_transition_time: Time(now),
    }
}

/// Whether the status's condition agrees with its numbers (upstream's
/// ConditionsAreUpToDate).
fn condition_up_to_date(status: &PodDisruptionBudgetStatus, generation: Option<i64>) -> bool {
    let Some(found) = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == DISRUPTION_ALLOWED)
    else {
        return false;
    };
    if status.observed_generation != generation {
        return false;
    }
    if status.disruptions_allowed > 0 {
        found.status == "True" && found.reason == SUFFICIENT_PODS
    } else {
        found.status == "False" && found.reason == INSUFFICIENT_PODS
    }
}

/// What a sync found.
#[derive(Debug, Clone, PartialEq)]
pub struct Counts {
    pub current_healthy: i32,
    pub desired_healthy: i32,
    pub expected_pods: i32,
    pub disrupted_pods: BTreeMap<String, Time>,
}

/// The budget's new status, or `None` when it already says this (upstream's
/// updatePdbStatus). Disruptions are allowed only while pods are expected,
/// so a budget whose pods appear before it is synced stays safe.
pub fn new_status(
    budget: &PodDisruptionBudget,
    counts: Counts,
    now: Timestamp,
) -> Option<PodDisruptionBudgetStatus> {
    let allowed = if counts.expected_pods <= 0 {
        0
    } else {
        (counts.current_healthy - counts.desired_healthy).max(0)
    };
    let generation = budget.metadata.generation;
    let old = budget.status.clone().unwrap_or_default();
    let old_disrupted = old.disrupted_pods.clone().unwrap_or_default();
    let unchanged = old.current_healthy == counts.current_healthy
        && old.desired_healthy == counts.desired_healthy
        && old.expected_pods == counts.expected_pods
        && old.disruptions_allowed == allowed
        && old_disrupted == counts.disrupted_pods
        && old.observed_generation == generation
        && condition_up_to_date(&old, generation);
    if unchanged {
        return None;
    }
    let mut conditions = old.conditions.unwrap_or_default();
    let wanted = if allowed > 0 {
        condition("True", SUFFICIENT_PODS, String::new(), generation, now)
    } else {
        condition("False", INSUFFICIENT_PODS, String::new(), generation, now)
    };
    set_condition(&mut conditions, wanted);
    Some(PodDisruptionBudgetStatus {
        current_healthy: counts.current_healthy,
        desired_healthy: counts.desired_healthy,
        expected_pods: counts.expected_pods,
        disruptions_allowed: allowed,
        disrupted_pods: (!counts.disrupted_pods.is_empty()).then_some(counts.disrupted_pods),
        observed_generation: generation,
        conditions: Some(conditions),
    })
}

/// The status written when a sync fails: no disruptions allowed, and why
/// (upstream's failSafe), so evictions are refused rather than let through.
pub fn fail_safe_status(
    budget: &PodDisruptionBudget,
    message: &str,
    now: Timestamp,
) -> PodDisruptionBudgetStatus {
    let mut status = budget.status.clone().unwrap_or_default();
    status.disruptions_allowed = 0;
    let mut conditions = status.conditions.take().unwrap_or_default();
    set_condition(
        &mut conditions,
        condition(
            "False",
            SYNC_FAILED,
            message.into(),
            status.observed_generation,
            now,
        ),
    );
    status.conditions = Some(conditions);
    status
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
