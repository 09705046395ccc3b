//! One pass of the Job controller over a Job and its pods, as upstream's
//! syncJob: count finished pods through the tracking finalizer and
//! `uncountedTerminatedPods`, decide whether the Job failed or succeeded,
//! otherwise keep the right number of pods running.

use std::collections::HashSet;
use std::time::Duration;

use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus, UncountedTerminatedPods};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::events::EventType;

use super::actions::Context;
use super::indexes::Indexes;
use super::manage::IndexState;
use super::per_index::{
    delayed_deletion, failed_indexes, failure_condition, has_backoff_limit_per_index,
};
use super::policy::*;
use super::success::matched_rule;
use crate::pods::{is_active, is_ready};
use crate::Error;

/// At most this many pods are created or deleted in one pass, as upstream.
pub const MAX_POD_CHANGES_PER_SYNC: usize = 500;

fn uid(pod: &Pod) -> &str {
    pod.metadata.uid.as_deref().unwrap_or("")
}

/// Syncs one Job; returns when it wants to look again regardless of
/// changes (deadline, back-off).
pub async fn sync(
    ctx: &Context,
    shared: &Job,
    key: &str,
    pods: &[&Pod],
) -> Result<Option<Duration>, Error> {
    let mut job = shared.clone();
    let spec = job.spec.clone().unwrap_or_default();
    let indexed = is_indexed(&job);
    let suspended = is_suspended(&job);
    let completions = spec.completions;
    let mut status = job.status.clone().unwrap_or_default();
    let uncounted = status.uncounted_terminated_pods.clone().unwrap_or_default();
    let uncounted_succeeded: HashSet<String> =
        uncounted.succeeded.iter().flatten().cloned().collect();
    let uncounted_failed: HashSet<String> = uncounted.failed.iter().flatten().cloned().collect();

    let satisfied = ctx.memory.satisfied(key, pods);
    let removed = ctx.memory.removed_finalizers(key, pods);
    let tracked = |pod: &Pod| has_tracking_finalizer(pod) && !removed.contains(uid(pod));
    let valid_index = |pod: &Pod| {
        !indexed
            || completion_index(pod)
                .is_some_and(|ix| completions.is_some_and(|c| i64::from(ix) < i64::from(c)))
    };

    let active_pods: Vec<&Pod> = pods.iter().copied().filter(|p| is_active(p)).collect();
    let mut active = active_pods.len() as i32;
    let mut ready = active_pods.iter().filter(|p| is_ready(p)).count() as i32;
    let mut terminating = pods.iter().filter(|p| is_terminating(p)).count() as i32;
    let policy = spec.pod_failure_policy.as_ref();
    let new_succeeded: Vec<&Pod> = pods
        .iter()
        .copied()
        .filter(|p| tracked(p) && valid_index(p) && !uncounted_succeeded.contains(uid(p)))
        .filter(|p| phase(p) == "Succeeded")
        .collect();
    let new_failed: Vec<&Pod> = pods
        .iter()
        .copied()
        .filter(|p| tracked(p) && valid_index(p) && !uncounted_failed.contains(uid(p)))
        .filter(|p| is_pod_failed(p, &job))
        .collect();
    let counted_failures = new_failed
        .iter()
        .filter(|p| match_pod_failure_policy(policy, p).count)
        .count();
    let mut succeeded =
        status.succeeded.unwrap_or(0) + (new_succeeded.len() + uncounted_succeeded.len()) as i32;
    let failed = status.failed.unwrap_or(0) + (counted_failures + uncounted_failed.len()) as i32;

    let now = jiff::Timestamp::now();
    if status.start_time.is_none() && !suspended {
        status.start_time = Some(Time(now));
    }
    let backoff = ctx.memory.backoff(key).after(
        new_succeeded.iter().map(|p| finished_at(p)).collect(),
        new_failed.iter().map(|p| finished_at(p)).collect(),
    );

    // What ends the Job, if anything: first the interim conditions of an
    // earlier pass, then the failure policy, backoff limit and deadline.
    let mut finished: Option<JobCondition> = condition(&job, "SuccessCriteriaMet")
        .filter(|c| c.status == "True")
        .cloned();
    if finished.is_none() {
        if let Some(target) = condition(&job, "FailureTarget").filter(|c| c.status == "True") {
            finished = Some(final_from(target, "Failed"));
        } else if let Some(message) = fail_job_message(&job, pods) {
            finished = Some(new_condition(
                "FailureTarget",
                "True",
                "PodFailurePolicy",
                &message,
            ));
        }
    }
    let mut requeue = None;
    if finished.is_none() {
        let backoff_limit = spec.backoff_limit.unwrap_or(6);
        if failed > backoff_limit || past_backoff_limit_on_failure(&job, pods) {
            finished = Some(new_condition(
                "FailureTarget",
                "True",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            ));
        } else if let Some(left) =
            deadline_left(&spec.active_deadline_seconds, &status, suspended, now)
        {
            if left.is_zero() {
                finished = Some(new_condition(
                    "FailureTarget",
                    "True",
                    "DeadlineExceeded",
                    "Job was active longer than specified deadline",
                ));
            } else {
                requeue = Some(left);
            }
        }
    }

    let mut previous_indexes = Indexes::default();
    let mut index_state = IndexState::default();
    let per_index = indexed && has_backoff_limit_per_index(&job);
    if indexed {
        let total = completions.unwrap_or(0).max(0) as u32;
        previous_indexes = Indexes::parse(status.completed_indexes.as_deref().unwrap_or(""), total);
        let mut succeeded_indexes = previous_indexes.clone();
        for pod in pods
            .iter()
            .filter(|p| phase(p) == "Succeeded" && has_tracking_finalizer(p))
        {
            if let Some(ix) = completion_index(pod).filter(|ix| *ix < total) {
                succeeded_indexes.insert(ix);
            }
        }
        succeeded = succeeded_indexes.total() as i32;
        if per_index {
            let failed_indexes = failed_indexes(&job, pods, total, tracked);
            if finished.is_none() {
                finished = failure_condition(&job, &failed_indexes, &succeeded_indexes, total);
            }
            let done = succeeded_indexes.union(&failed_indexes);
            index_state.delayed = delayed_deletion(&job, pods, &active_pods, &done, total, tracked);
            index_state.failed = Some(failed_indexes);
        }
        if finished.is_none() {
            let policy = spec.success_policy.as_ref();
            if let Some(message) = matched_rule(policy, total, &succeeded_indexes) {
                finished = Some(new_condition(
                    "SuccessCriteriaMet",
                    "True",
                    "SuccessPolicy",
                    &message,
                ));
            }
        }
        if only_replace_failed(&job) {
            let terminating = pods.iter().filter(|p| is_terminating(p));
            index_state.terminating = terminating.filter_map(|p| completion_index(p)).collect();
        }
        index_state.succeeded = succeeded_indexes;
    }

    let mut manage_error = None;
    let mut suspend_changed = false;
    if finished.is_some() {
        // The Job has failed or met its success criteria: stop what runs,
        // keeping finalizers until each pod is counted.
        let mut deleted = 0;
        for pod in &active_pods {
            match ctx.delete_pod(&job, key, pod, false).await {
                Ok(()) => {
                    deleted += 1;
                    if is_ready(pod) {
                        ready -= 1;
                    }
                }
                Err(error) => manage_error = Some(error),
            }
        }
        if deleted != active || !satisfied {
            finished = None;
        }
        active -= deleted;
        terminating += deleted;
    } else {
        let mut managed = false;
        if satisfied && job.metadata.deletion_timestamp.is_none() {
            let outcome = super::manage::manage(
                ctx,
                &job,
                key,
                &active_pods,
                succeeded,
                &index_state,
                terminating,
                backoff,
            )
            .await;
            active = outcome.active;
            ready -= outcome.removed_ready;
            terminating += outcome.removed;
            requeue = earliest(requeue, outcome.requeue);
            manage_error = outcome.error;
            managed = true;
        }
        let complete = match completions {
            None => succeeded > 0 && active == 0,
            Some(wanted) => succeeded >= wanted && active == 0,
        };
        let conditions = status.conditions.get_or_insert_with(Vec::new);
        if complete {
            finished = Some(new_condition(
                "SuccessCriteriaMet",
                "True",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
            ));
        } else if managed && suspended {
            if ensure_condition(
                conditions,
                "Suspended",
                "True",
                "JobSuspended",
                "Job suspended",
            ) {
                suspend_changed = true;
                ctx.event(&job, EventType::Normal, "Suspended", "Job suspended".into())
                    .await;
            }
        } else if managed
            && ensure_condition(
                conditions,
                "Suspended",
                "False",
                "JobResumed",
                "Job resumed",
            )
        {
            suspend_changed = true;
            ctx.event(&job, EventType::Normal, "Resumed", "Job resumed".into())
                .await;
            // The deadline counts the time the Job runs without a pause.
            status.start_time = Some(Time(jiff::Timestamp::now()));
        }
    }

    let old = shared.status.clone().unwrap_or_default();
    let mut needs_flush = suspend_changed
        || Some(active) != old.active.or(Some(0))
        || Some(ready) != old.ready
        || Some(terminating) != old.terminating
        || status.start_time != old.start_time;
    status.active = Some(active);
    status.ready = Some(ready);
    status.terminating = Some(terminating);

    // Count finished pods: record their uids as uncounted, remove their
    // finalizers, then move them into the counters.
    let mut with_finalizer: HashSet<String> = pods
        .iter()
        .filter(|p| tracked(p))
        .map(|p| uid(p).to_owned())
        .collect();
    needs_flush |= count_released(&mut status, &with_finalizer);
    let mut new_uncounted_succeeded: Vec<String> = status_uncounted(&status, true);
    let mut new_uncounted_failed: Vec<String> = status_uncounted(&status, false);
    let failing = finished
        .as_ref()
        .is_some_and(|c| c.type_ != "SuccessCriteriaMet");
    let mut to_release: Vec<&Pod> = Vec::new();
    let mut ordered: Vec<&Pod> = pods.to_vec();
    if indexed {
        ordered.sort_by_key(|p| completion_index(p).unwrap_or(u32::MAX));
    }
    for pod in ordered {
        if !tracked(pod) {
            continue;
        }
        let considered_failed = is_pod_failed(pod, &job);
        // The last failure of an index keeps its finalizer until its
        // replacement exists, which reads the failure count from it.
        let awaits_replacement = per_index
            && completion_index(pod)
                .and_then(|ix| index_state.delayed.get(&ix))
                .is_some_and(|kept| uid(kept) == uid(pod));
        let releasable = job.metadata.deletion_timestamp.is_some()
            || finished.is_some()
            || phase(pod) == "Succeeded"
            || (considered_failed && !awaits_replacement);
        if !releasable {
            continue;
        }
        to_release.push(pod);
        let id = uid(pod).to_owned();
        if phase(pod) == "Succeeded" && !uncounted_failed.contains(&id) {
            if indexed {
                let fresh = completion_index(pod)
                    .filter(|ix| valid_index(pod) && !previous_indexes.contains(*ix));
                if let Some(ix) = fresh {
                    index_state.succeeded.insert(ix);
                    needs_flush = true;
                }
            } else if !new_uncounted_succeeded.contains(&id) {
                new_uncounted_succeeded.push(id);
                needs_flush = true;
            }
        } else if (considered_failed || failing)
            && !new_uncounted_failed.contains(&id)
            && valid_index(pod)
            && match_pod_failure_policy(policy, pod).count
        {
            new_uncounted_failed.push(id);
            needs_flush = true;
        }
        if to_release.len() >= MAX_POD_CHANGES_PER_SYNC {
            break;
        }
    }
    if indexed {
        let text = index_state.succeeded.to_string();
        if status.completed_indexes.as_deref().unwrap_or("") != text {
            needs_flush = true;
        }
        status.succeeded = Some(index_state.succeeded.total() as i32);
        status.completed_indexes = Some(text);
        let failed_text = index_state.failed.as_ref().map(ToString::to_string);
        if status.failed_indexes != failed_text {
            status.failed_indexes = failed_text;
            needs_flush = true;
        }
    }
    status.uncounted_terminated_pods = Some(UncountedTerminatedPods {
        succeeded: Some(new_uncounted_succeeded),
        failed: Some(new_uncounted_failed),
    });
    // The interim condition goes in before the finalizers come off; the
    // final one follows once every pod is counted and none terminates.
    if let Some(interim) = finished.take() {
        let conditions = status.conditions.get_or_insert_with(Vec::new);
        let final_type = match interim.type_.as_str() {
            "FailureTarget" => {
                conditions.push(interim.clone());
                needs_flush = true;
                "Failed"
            }
            "SuccessCriteriaMet" => {
                if !conditions.iter().any(|c| c.type_ == "SuccessCriteriaMet") {
                    conditions.push(interim.clone());
                    needs_flush = true;
                }
                "Complete"
            }
            other => other,
        };
        finished = Some(final_from(&interim, final_type));
    }
    job.status = Some(status);

    if needs_flush {
        job = ctx.update_status(&job).await?;
        ctx.memory.set_backoff(key, backoff);
        needs_flush = false;
    }
    let mut release_error = None;
    for pod in to_release {
        match ctx.remove_finalizer(key, pod).await {
            Ok(()) => {
                with_finalizer.remove(uid(pod));
            }
            Err(error) => release_error = Some(error),
        }
    }
    if let Some(status) = job.status.as_mut() {
        needs_flush |= count_released(status, &with_finalizer);
    }
    if let Some(error) = release_error {
        if needs_flush {
            ctx.update_status(&job).await?;
        }
        return Err(error);
    }
    let done = enact_finished(&mut job, finished.as_ref(), terminating);
    if needs_flush || done {
        job = ctx.update_status(&job).await?;
        if let (true, Some(condition)) = (done, finished.as_ref()) {
            record_finished(ctx, &job, condition).await;
        }
    }
    if !satisfied {
        // Pods created or deleted are not all in the cache yet: their
        // events bring the Job back, this is only in case one is lost.
        requeue = earliest(requeue, Some(Duration::from_secs(5)));
    }
    match manage_error {
        Some(error) => Err(error),
        None => Ok(requeue),
    }
}

/// The final condition that follows an interim one, keeping its words.
fn final_from(interim: &JobCondition, type_: &str) -> JobCondition {
    new_condition(
        type_,
        "True",
        interim.reason.as_deref().unwrap_or(""),
        interim.message.as_deref().unwrap_or(""),
    )
}

fn earliest(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Time left before activeDeadlineSeconds runs out; `None` without a
/// deadline, a start time, or while suspended.
fn deadline_left(
    deadline: &Option<i64>,
    status: &JobStatus,
    suspended: bool,
    now: jiff::Timestamp,
) -> Option<Duration> {
    let seconds = (*deadline)?;
    let start = status.start_time.as_ref()?.0;
    if suspended {
        return None;
    }
    let end = start
        .checked_add(jiff::SignedDuration::from_secs(seconds))
        .ok()?;
    let left = end.duration_since(now);
    Some(Duration::try_from(left).unwrap_or(Duration::ZERO))
}

fn status_uncounted(status: &JobStatus, succeeded: bool) -> Vec<String> {
    let uncounted = status.uncounted_terminated_pods.as_ref();
    let list = uncounted.and_then(|u| {
        if succeeded {
            u.succeeded.clone()
        } else {
            u.failed.clone()
        }
    });
    list.unwrap_or_default()
}

/// Moves uncounted pods whose finalizer is gone into the counters
/// (upstream's cleanUncountedPodsWithoutFinalizers).
fn count_released(status: &mut JobStatus, with_finalizer: &HashSet<String>) -> bool {
    let Some(uncounted) = status.uncounted_terminated_pods.as_mut() else {
        return false;
    };
    let mut changed = false;
    let mut take = |list: &mut Option<Vec<String>>| -> i32 {
        let Some(uids) = list.as_mut() else {
            return 0;
        };
        let before = uids.len();
        uids.retain(|u| with_finalizer.contains(u));
        let moved = (before - uids.len()) as i32;
        changed |= moved > 0;
        moved
    };
    let succeeded = take(&mut uncounted.succeeded);
    let failed = take(&mut uncounted.failed);
    status.succeeded = Some(status.succeeded.unwrap_or(0) + succeeded);
    status.failed = Some(status.failed.unwrap_or(0) + failed);
    changed
}

/// Adds the final condition once no pod is left uncounted or terminating
/// (upstream's enactJobFinished).
fn enact_finished(job: &mut Job, finished: Option<&JobCondition>, terminating: i32) -> bool {
    let Some(finished) = finished else {
        return false;
    };
    let Some(status) = job.status.as_mut() else {
        return false;
    };
    let uncounted = status.uncounted_terminated_pods.as_ref();
    let left = uncounted.map_or(0, |u| {
        u.succeeded.as_ref().map_or(0, Vec::len) + u.failed.as_ref().map_or(0, Vec::len)
    });
    if left > 0 || terminating > 0 {
        return false;
    }
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    let reason = finished.reason.as_deref().unwrap_or("");
    let message = finished.message.as_deref().unwrap_or("");
    ensure_condition(conditions, &finished.type_, "True", reason, message);
    if finished.type_ == "Complete" {
        let at = conditions
            .iter()
            .find(|c| c.type_ == "Complete")
            .and_then(|c| c.last_transition_time.clone());
        status.completion_time = at;
    }
    true
}

async fn record_finished(ctx: &Context, job: &Job, finished: &JobCondition) {
    if finished.type_ == "Complete" {
        let spec = job.spec.as_ref();
        let succeeded = job.status.as_ref().and_then(|s| s.succeeded).unwrap_or(0);
        if spec
            .and_then(|s| s.completions)
            .is_some_and(|c| succeeded > c)
        {
            let note = "Too many succeeded pods running after completion count reached".into();
            ctx.event(job, EventType::Warning, "TooManySucceededPods", note)
                .await;
        }
        ctx.event(job, EventType::Normal, "Completed", "Job completed".into())
            .await;
    } else {
        let reason = finished.reason.as_deref().unwrap_or("Failed");
        let message = finished.message.clone().unwrap_or_default();
        ctx.event(job, EventType::Warning, reason, message).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counting_moves_released_pods_only() {
        let mut status = JobStatus {
            succeeded: Some(1),
            uncounted_terminated_pods: Some(UncountedTerminatedPods {
                succeeded: Some(vec!["a".into(), "b".into()]),
                failed: Some(vec!["c".into()]),
            }),
            ..Default::default()
        };
        let still = HashSet::from(["b".to_string()]);
        assert!(count_released(&mut status, &still));
        assert_eq!(status.succeeded, Some(2));
        assert_eq!(status.failed, Some(1));
        assert_eq!(status_uncounted(&status, true), vec!["b".to_string()]);
        assert!(!count_released(&mut status, &still));
    }

    #[test]
    fn job_finishes_only_when_nothing_is_left() {
        let mut job = Job {
            status: Some(JobStatus {
                uncounted_terminated_pods: Some(UncountedTerminatedPods {
                    succeeded: Some(vec!["a".into()]),
                    failed: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let complete = new_condition(
            "Complete",
            "True",
            "CompletionsReached",
            "Reached expected number of succeeded pods",
        );
        assert!(!enact_finished(&mut job, Some(&complete), 0));
        job.status.as_mut().unwrap().uncounted_terminated_pods = None;
        assert!(!enact_finished(&mut job, Some(&complete), 1));
        assert!(enact_finished(&mut job, Some(&complete), 0));
        assert!(is_finished(&job));
        assert!(job.status.unwrap().completion_time.is_some());
    }

    #[test]
    fn deadline_counts_from_start_and_pauses_when_suspended() {
        let start = jiff::Timestamp::from_second(1_000).unwrap();
        let status = JobStatus {
            start_time: Some(Time(start)),
            ..Default::default()
        };
        let now = jiff::Timestamp::from_second(1_004).unwrap();
        assert_eq!(
            deadline_left(&Some(10), &status, false, now),
            Some(Duration::from_secs(6))
        );
        assert_eq!(
            deadline_left(&Some(3), &status, false, now),
            Some(Duration::ZERO)
        );
        assert_eq!(deadline_left(&Some(3), &status, true, now), None);
        assert_eq!(deadline_left(&None, &status, false, now), None);
    }
}
