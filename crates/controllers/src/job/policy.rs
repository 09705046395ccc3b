//! Pure rules of the Job controller: which pods count as failed, the pod
//! failure policy, the back-off between pod recreations and the
//! conditions, as upstream's job controller computes them.

use k8s_openapi::api::batch::v1::{
    Job, JobCondition, PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement,
};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod, PodCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// The finalizer that keeps a finished pod until the Job has counted it.
pub const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";
/// Where an Indexed Job's pod carries its index (annotation and label).
pub const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";

/// Upstream's DefaultJobPodFailureBackOff and MaxJobPodFailureBackOff.
pub const POD_FAILURE_BACKOFF: std::time::Duration = std::time::Duration::from_secs(10);
pub const MAX_POD_FAILURE_BACKOFF: std::time::Duration = std::time::Duration::from_secs(600);

pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

pub fn has_tracking_finalizer(pod: &Pod) -> bool {
    pod.metadata
        .finalizers
        .as_ref()
        .is_some_and(|f| f.iter().any(|f| f == TRACKING_FINALIZER))
}

pub fn is_indexed(job: &Job) -> bool {
    job.spec.as_ref().and_then(|s| s.completion_mode.as_deref()) == Some("Indexed")
}

pub fn is_suspended(job: &Job) -> bool {
    job.spec.as_ref().and_then(|s| s.suspend) == Some(true)
}

/// Whether only failed pods are replaced, so terminating pods are waited
/// for (upstream's onlyReplaceFailedPods).
pub fn only_replace_failed(job: &Job) -> bool {
    let spec = job.spec.as_ref();
    spec.and_then(|s| s.pod_replacement_policy.as_deref()) == Some("Failed")
        || spec.is_some_and(|s| s.pod_failure_policy.is_some())
}

/// Whether the pod counts as failed: Failed, or deleted before it
/// succeeded unless only failed pods are replaced (upstream's isPodFailed).
pub fn is_pod_failed(pod: &Pod, job: &Job) -> bool {
    let phase = phase(pod);
    if phase == "Failed" {
        return true;
    }
    if only_replace_failed(job) {
        return false;
    }
    pod.metadata.deletion_timestamp.is_some() && phase != "Succeeded"
}

/// Being deleted but not yet finished (upstream's IsPodTerminating).
pub fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some() && !matches!(phase(pod), "Succeeded" | "Failed")
}

/// The completion index annotation of a pod, if it is a valid number.
pub fn completion_index(pod: &Pod) -> Option<u32> {
    pod.metadata
        .annotations
        .as_ref()?
        .get(COMPLETION_INDEX)?
        .parse()
        .ok()
}

/// What a pod failure policy says about a failed pod.
#[derive(Debug, PartialEq, Eq)]
pub struct PolicyVerdict {
    /// The message of a FailJob rule that matched.
    pub fail_job: Option<String>,
    /// Whether the failure counts towards the backoffLimit.
    pub count: bool,
    /// Whether a FailIndex rule matched: the pod's index fails at once.
    pub fail_index: bool,
}

/// Upstream's matchPodFailurePolicy: the first rule that matches decides.
pub fn match_pod_failure_policy(policy: Option<&PodFailurePolicy>, pod: &Pod) -> PolicyVerdict {
    let counted = PolicyVerdict {
        fail_job: None,
        count: true,
        fail_index: false,
    };
    let Some(policy) = policy else {
        return counted;
    };
    let status = pod.status.clone().unwrap_or_default();
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("");
    let name = pod.metadata.name.as_deref().unwrap_or("");
    for (index, rule) in policy.rules.iter().enumerate() {
        let matched = if let Some(requirement) = &rule.on_exit_codes {
            let containers = status.container_statuses.as_deref().unwrap_or(&[]);
            let init = status.init_container_statuses.as_deref().unwrap_or(&[]);
            matching_container(containers, requirement)
                .or_else(|| matching_container(init, requirement))
                .map(|c| {
                    let code = c
                        .state
                        .as_ref()
                        .and_then(|s| s.terminated.as_ref())
                        .map_or(0, |t| t.exit_code);
                    format!(
                        "Container {} for pod {namespace}/{name} failed with exit code {code} matching {} rule at index {index}",
                        c.name, rule.action
                    )
                })
        } else if let Some(patterns) = &rule.on_pod_conditions {
            matching_condition(status.conditions.as_deref().unwrap_or(&[]), patterns).map(|c| {
                format!(
                    "Pod {namespace}/{name} has condition {} matching {} rule at index {index}",
                    c.type_, rule.action
                )
            })
        } else {
            None
        };
        let Some(message) = matched else {
            continue;
        };
        match rule.action.as_str() {
            "Ignore" => {
                return PolicyVerdict {
                    count: false,
                    ..counted
                }
            }
            "Count" => return counted,
            "FailJob" => {
                return PolicyVerdict {
                    fail_job: Some(message),
                    ..counted
                }
            }
            // Validation allows FailIndex only with backoffLimitPerIndex.
            "FailIndex" => {
                return PolicyVerdict {
                    fail_index: true,
                    ..counted
                }
            }
            _ => {}
        }
    }
    counted
}

fn matching_container<'a>(
    statuses: &'a [ContainerStatus],
    requirement: &PodFailurePolicyOnExitCodesRequirement,
) -> Option<&'a ContainerStatus> {
    statuses.iter().find(|status| {
        let Some(terminated) = status.state.as_ref().and_then(|s| s.terminated.as_ref()) else {
            return false;
        };
        let name_matches = requirement
            .container_name
            .as_ref()
            .is_none_or(|name| *name == status.name);
        let code = terminated.exit_code;
        let listed = requirement.values.contains(&code);
        let operator_matches = match requirement.operator.as_str() {
            "In" => listed,
            "NotIn" => !listed,
            _ => false,
        };
        name_matches && code != 0 && operator_matches
    })
}

fn matching_condition<'a>(
    conditions: &'a [PodCondition],
    patterns: &[k8s_openapi::api::batch::v1::PodFailurePolicyOnPodConditionsPattern],
) -> Option<&'a PodCondition> {
    conditions.iter().find(|condition| {
        patterns
            .iter()
            .any(|p| p.type_ == condition.type_ && p.status == condition.status)
    })
}

/// The FailJob message of the first failed pod a FailJob rule matches
/// (upstream's getFailJobMessage).
pub fn fail_job_message(job: &Job, pods: &[&Pod]) -> Option<String> {
    let policy = job.spec.as_ref()?.pod_failure_policy.as_ref()?;
    pods.iter()
        .filter(|pod| is_pod_failed(pod, job))
        .find_map(|pod| match_pod_failure_policy(Some(policy), pod).fail_job)
}

/// With restartPolicy OnFailure, whether the container restarts of running
/// pods reached the backoffLimit (upstream's pastBackoffLimitOnFailure).
pub fn past_backoff_limit_on_failure(job: &Job, pods: &[&Pod]) -> bool {
    let Some(spec) = job.spec.as_ref() else {
        return false;
    };
    let restart = spec
        .template
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref());
    if restart != Some("OnFailure") {
        return false;
    }
    let restarts: i64 = pods
        .iter()
        .filter(|pod| matches!(phase(pod), "Running" | "Pending"))
        .filter_map(|pod| pod.status.as_ref())
        .flat_map(|status| {
            let init = status.init_container_statuses.iter().flatten();
            init.chain(status.container_statuses.iter().flatten())
        })
        .map(|status| i64::from(status.restart_count))
        .sum();
    let limit = i64::from(spec.backoff_limit.unwrap_or(6));
    if limit == 0 {
        restarts > 0
    } else {
        restarts >= limit
    }
}

/// How long to wait before creating a replacement after `failures`
/// consecutive failures, the last `since_last` ago: 10 s doubling, capped
/// (upstream's getRemainingTimeForFailuresCount).
pub fn remaining_backoff(failures: u32, since_last: std::time::Duration) -> std::time::Duration {
    if failures == 0 {
        return std::time::Duration::ZERO;
    }
    let mut delay = POD_FAILURE_BACKOFF;
    for _ in 1..failures {
        delay *= 2;
        if delay >= MAX_POD_FAILURE_BACKOFF {
            delay = MAX_POD_FAILURE_BACKOFF;
            break;
        }
    }
    delay.saturating_sub(since_last)
}

/// When a pod finished: the latest container termination, else its Ready
/// condition's last transition, else its deletion or creation.
pub fn finished_at(pod: &Pod) -> jiff::Timestamp {
    let status = pod.status.as_ref();
    let terminated = status
        .into_iter()
        .flat_map(|s| s.container_statuses.iter().flatten())
        .filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref())
        .map(|t| t.0)
        .max();
    let ready = || {
        status?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == "Ready")?
            .last_transition_time
            .as_ref()
            .map(|t| t.0)
    };
    terminated
        .or_else(ready)
        .or_else(|| pod.metadata.deletion_timestamp.as_ref().map(|t| t.0))
        .or_else(|| pod.metadata.creation_timestamp.as_ref().map(|t| t.0))
        .unwrap_or_else(jiff::Timestamp::now)
}

pub fn condition<'a>(job: &'a Job, type_: &str) -> Option<&'a JobCondition> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

fn condition_true(job: &Job, type_: &str) -> bool {
    condition(job, type_).is_some_and(|c| c.status == "True")
}

/// Complete or Failed: the Job is done (upstream's IsJobFinished).
pub fn is_finished(job: &Job) -> bool {
    condition_true(job, "Complete") || condition_true(job, "Failed")
}

pub fn new_condition(type_: &str, status: &str, reason: &str, message: &str) -> JobCondition {
    let now = Some(Time(jiff::Timestamp::now()));
    JobCondition {
        type_: type_.into(),
        status: status.into(),
        reason: (!reason.is_empty()).then(|| reason.into()),
        message: (!message.is_empty()).then(|| message.into()),
        last_probe_time: now.clone(),
        last_transition_time: now,
    }
}

/// Upstream's ensureJobConditionStatus: sets the condition, appending it
/// only when it is not False; returns whether anything changed.
pub fn ensure_condition(
    conditions: &mut Vec<JobCondition>,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
) -> bool {
    if let Some(existing) = conditions.iter_mut().find(|c| c.type_ == type_) {
        let same = existing.status == status
            && existing.reason.as_deref().unwrap_or("") == reason
            && existing.message.as_deref().unwrap_or("") == message;
        if !same {
            *existing = new_condition(type_, status, reason, message);
        }
        return !same;
    }
    if status != "False" {
        conditions.push(new_condition(type_, status, reason, message));
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::{
        JobSpec, PodFailurePolicyOnPodConditionsPattern, PodFailurePolicyRule,
    };
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateTerminated, PodSpec, PodStatus, PodTemplateSpec,
    };
    use std::time::Duration;

    fn failed_pod(exit_code: i32, conditions: &[(&str, &str)]) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.name = Some("p".into());
        pod.metadata.namespace = Some("ns".into());
        pod.status = Some(PodStatus {
            phase: Some("Failed".into()),
            container_statuses: Some(vec![ContainerStatus {
                name: "main".into(),
                state: Some(ContainerState {
                    terminated: Some(ContainerStateTerminated {
                        exit_code,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            conditions: Some(
                conditions
                    .iter()
                    .map(|(t, s)| PodCondition {
                        type_: (*t).into(),
                        status: (*s).into(),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        });
        pod
    }

    fn exit_rule(action: &str, operator: &str, values: Vec<i32>) -> PodFailurePolicyRule {
        PodFailurePolicyRule {
            action: action.into(),
            on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
                container_name: None,
                operator: operator.into(),
                values,
            }),
            on_pod_conditions: None,
        }
    }

    #[test]
    fn failure_policy_first_matching_rule_decides() {
        let policy = PodFailurePolicy {
            rules: vec![
                exit_rule("Ignore", "In", vec![2]),
                exit_rule("FailJob", "In", vec![42]),
                exit_rule("Count", "NotIn", vec![42]),
                PodFailurePolicyRule {
                    action: "Ignore".into(),
                    on_exit_codes: None,
                    on_pod_conditions: Some(vec![PodFailurePolicyOnPodConditionsPattern {
                        type_: "DisruptionTarget".into(),
                        status: "True".into(),
                    }]),
                },
            ],
        };
        let ignored = match_pod_failure_policy(Some(&policy), &failed_pod(2, &[]));
        assert!(!ignored.count && ignored.fail_job.is_none());
        let fatal = match_pod_failure_policy(Some(&policy), &failed_pod(42, &[]));
        assert_eq!(
            fatal.fail_job.as_deref(),
            Some("Container main for pod ns/p failed with exit code 42 matching FailJob rule at index 1")
        );
        let counted = match_pod_failure_policy(Some(&policy), &failed_pod(1, &[]));
        assert!(counted.count && counted.fail_job.is_none() && !counted.fail_index);
        // Exit code 0 never matches an exit-code rule: the condition rule does.
        let disrupted = match_pod_failure_policy(
            Some(&policy),
            &failed_pod(0, &[("DisruptionTarget", "True")]),
        );
        assert!(!disrupted.count);
        assert!(match_pod_failure_policy(None, &failed_pod(42, &[])).count);
    }

    #[test]
    fn fail_index_rule_counts_and_fails_the_index() {
        let policy = PodFailurePolicy {
            rules: vec![exit_rule("FailIndex", "In", vec![3])],
        };
        let verdict = match_pod_failure_policy(Some(&policy), &failed_pod(3, &[]));
        assert!(verdict.count && verdict.fail_index && verdict.fail_job.is_none());
        let other = match_pod_failure_policy(Some(&policy), &failed_pod(1, &[]));
        assert!(other.count && !other.fail_index);
    }

    #[test]
    fn condition_rule_message_names_the_condition() {
        let policy = PodFailurePolicy {
            rules: vec![PodFailurePolicyRule {
                action: "FailJob".into(),
                on_exit_codes: None,
                on_pod_conditions: Some(vec![PodFailurePolicyOnPodConditionsPattern {
                    type_: "ConfigIssue".into(),
                    status: "True".into(),
                }]),
            }],
        };
        let verdict =
            match_pod_failure_policy(Some(&policy), &failed_pod(0, &[("ConfigIssue", "True")]));
        assert_eq!(
            verdict.fail_job.as_deref(),
            Some("Pod ns/p has condition ConfigIssue matching FailJob rule at index 0")
        );
    }

    #[test]
    fn backoff_doubles_from_ten_seconds_and_is_capped() {
        let zero = Duration::ZERO;
        assert_eq!(remaining_backoff(0, zero), zero);
        assert_eq!(remaining_backoff(1, zero), Duration::from_secs(10));
        assert_eq!(remaining_backoff(2, zero), Duration::from_secs(20));
        assert_eq!(remaining_backoff(4, zero), Duration::from_secs(80));
        assert_eq!(remaining_backoff(30, zero), MAX_POD_FAILURE_BACKOFF);
        assert_eq!(
            remaining_backoff(2, Duration::from_secs(15)),
            Duration::from_secs(5)
        );
        assert_eq!(remaining_backoff(1, Duration::from_secs(15)), zero);
    }

    #[test]
    fn deleted_pods_count_as_failed_unless_only_failed_are_replaced() {
        let mut job = Job {
            spec: Some(JobSpec {
                template: PodTemplateSpec {
                    spec: Some(PodSpec {
                        restart_policy: Some("OnFailure".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                backoff_limit: Some(2),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut pod = Pod {
            status: Some(PodStatus {
                phase: Some("Running".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        pod.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::now()));
        assert!(is_pod_failed(&pod, &job));
        job.spec.as_mut().unwrap().pod_replacement_policy = Some("Failed".into());
        assert!(!is_pod_failed(&pod, &job));

        let mut restarting = failed_pod(1, &[]);
        let status = restarting.status.as_mut().unwrap();
        status.phase = Some("Running".into());
        status.container_statuses.as_mut().unwrap()[0].restart_count = 1;
        assert!(!past_backoff_limit_on_failure(&job, &[&restarting]));
        restarting
            .status
            .as_mut()
            .unwrap()
            .container_statuses
            .as_mut()
            .unwrap()[0]
            .restart_count = 2;
        assert!(past_backoff_limit_on_failure(&job, &[&restarting]));
    }

    #[test]
    fn false_conditions_are_not_appended() {
        let mut conditions = Vec::new();
        assert!(!ensure_condition(
            &mut conditions,
            "Suspended",
            "False",
            "JobResumed",
            "Job resumed"
        ));
        assert!(ensure_condition(
            &mut conditions,
            "Suspended",
            "True",
            "JobSuspended",
            "Job suspended"
        ));
        assert!(!ensure_condition(
            &mut conditions,
            "Suspended",
            "True",
            "JobSuspended",
            "Job suspended"
        ));
        assert!(ensure_condition(
            &mut conditions,
            "Suspended",
            "False",
            "JobResumed",
            "Job resumed"
        ));
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].status, "False");
    }
}
