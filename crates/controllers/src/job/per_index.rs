//! `spec.backoffLimitPerIndex` and `spec.maxFailedIndexes` of Indexed Jobs
//! (upstream's indexed_job_utils.go and backoff_utils.go): every index has
//! its own failure budget, kept on the pods in an annotation that each
//! replacement carries one higher than the pod it replaces.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use k8s_openapi::api::batch::v1::{Job, JobCondition};
use k8s_openapi::api::core::v1::Pod;

use super::indexes::Indexes;
use super::policy::*;

/// Failures of the index so far that counted, on each of its pods.
pub const INDEX_FAILURE_COUNT: &str = "batch.kubernetes.io/job-index-failure-count";
/// Failures of the index so far that a pod failure policy ignored.
pub const INDEX_IGNORED_FAILURE_COUNT: &str = "batch.kubernetes.io/job-index-ignored-failure-count";

pub fn has_backoff_limit_per_index(job: &Job) -> bool {
    job.spec
        .as_ref()
        .is_some_and(|s| s.backoff_limit_per_index.is_some())
}

/// An annotation as a count; missing, unreadable, negative or too large
/// values count as 0, as upstream's parseInt32.
fn annotation_count(pod: &Pod, key: &str) -> i32 {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|v| (0..=i64::from(i32::MAX)).contains(v))
        .map_or(0, |v| v as i32)
}

pub fn index_failure_count(pod: &Pod) -> i32 {
    annotation_count(pod, INDEX_FAILURE_COUNT)
}

/// Counted and ignored failures of the index before this pod.
fn absolute_failure_count(pod: &Pod) -> i32 {
    index_failure_count(pod).saturating_add(annotation_count(pod, INDEX_IGNORED_FAILURE_COUNT))
}

/// Whether this failed pod fails its index: a FailIndex rule matched, or
/// the index used up its backoffLimitPerIndex (upstream's isIndexFailed).
pub fn is_index_failed(job: &Job, pod: &Pod) -> bool {
    if !is_pod_failed(pod, job) {
        return false;
    }
    let spec = job.spec.as_ref();
    let verdict = match_pod_failure_policy(spec.and_then(|s| s.pod_failure_policy.as_ref()), pod);
    if verdict.fail_index {
        return true;
    }
    let limit = spec.and_then(|s| s.backoff_limit_per_index).unwrap_or(0);
    verdict.count && index_failure_count(pod) >= limit
}

/// `status.failedIndexes` with the indexes that failed since it was written
/// (upstream's calculateFailedIndexes); `tracked` tells the pods still
/// waiting to be counted (they carry the tracking finalizer).
pub fn failed_indexes(
    job: &Job,
    pods: &[&Pod],
    completions: u32,
    tracked: impl Fn(&Pod) -> bool,
) -> Indexes {
    let previous = job
        .status
        .as_ref()
        .and_then(|s| s.failed_indexes.as_deref());
    let mut failed = Indexes::parse(previous.unwrap_or(""), completions);
    for pod in pods.iter().filter(|p| tracked(p)) {
        if let Some(ix) = completion_index(pod).filter(|ix| *ix < completions) {
            if is_index_failed(job, pod) {
                failed.insert(ix);
            }
        }
    }
    failed
}

/// The interim condition when failed indexes end the Job: more than
/// maxFailedIndexes, or every index finished and some failed.
pub fn failure_condition(
    job: &Job,
    failed: &Indexes,
    succeeded: &Indexes,
    completions: u32,
) -> Option<JobCondition> {
    let max_failed = job.spec.as_ref().and_then(|s| s.max_failed_indexes);
    if max_failed.is_some_and(|max| failed.total() as i64 > i64::from(max)) {
        return Some(new_condition(
            "FailureTarget",
            "True",
            "MaxFailedIndexesExceeded",
            "Job has exceeded the specified maximal number of failed indexes",
        ));
    }
    if !failed.is_empty() && failed.total() + succeeded.total() >= completions as usize {
        return Some(new_condition(
            "FailureTarget",
            "True",
            "FailedIndexes",
            "Job has failed indexes",
        ));
    }
    None
}

/// For every index that is neither finished nor running, its last failed
/// pod still waiting to be counted. Its finalizer stays until the
/// replacement exists, so the replacement can read its failure count
/// (upstream's getPodsWithDelayedDeletionPerIndex).
pub fn delayed_deletion<'a>(
    job: &Job,
    pods: &[&'a Pod],
    active: &[&Pod],
    finished: &Indexes,
    completions: u32,
    tracked: impl Fn(&Pod) -> bool,
) -> HashMap<u32, &'a Pod> {
    let running: BTreeSet<u32> = active.iter().filter_map(|p| completion_index(p)).collect();
    let mut last: HashMap<u32, &'a Pod> = HashMap::new();
    for &pod in pods {
        if !tracked(pod) || !is_pod_failed(pod, job) {
            continue;
        }
        let Some(ix) = completion_index(pod).filter(|ix| *ix < completions) else {
            continue;
        };
        if finished.contains(ix) || running.contains(&ix) {
            continue;
        }
        let later = |kept: &Pod| {
            absolute_failure_count(kept) <= absolute_failure_count(pod)
                && finished_at(pod) >= finished_at(kept)
        };
        match last.get(&ix) {
            Some(kept) if !later(kept) => {}
            _ => {
                last.insert(ix, pod);
            }
        }
    }
    last
}

/// The failure counts a replacement of `replaced` carries: counted and
/// ignored (upstream's getNewIndexFailureCounts).
pub fn new_failure_counts(job: &Job, replaced: Option<&Pod>) -> (i32, i32) {
    let Some(pod) = replaced else {
        return (0, 0);
    };
    let counted = index_failure_count(pod);
    let ignored = annotation_count(pod, INDEX_IGNORED_FAILURE_COUNT);
    let policy = job
        .spec
        .as_ref()
        .and_then(|s| s.pod_failure_policy.as_ref());
    if match_pod_failure_policy(policy, pod).count {
        (counted.saturating_add(1), ignored)
    } else {
        (counted, ignored.saturating_add(1))
    }
}

/// Back-off before an index's replacement, from the failures of the index
/// (upstream's getRemainingTimePerIndex).
pub fn remaining_backoff_of(last_failed: Option<&Pod>, now: jiff::Timestamp) -> Duration {
    let Some(pod) = last_failed else {
        return Duration::ZERO;
    };
    let failures = absolute_failure_count(pod).saturating_add(1) as u32;
    let since = Duration::try_from(now.duration_since(finished_at(pod))).unwrap_or(Duration::ZERO);
    remaining_backoff(failures, since)
}

/// Which of `pending` may get a pod now, and else how long until the
/// first of the others may (upstream's
/// getPodCreationInfoForIndependentIndexes).
pub fn creatable_now(
    pending: Vec<u32>,
    delayed: &HashMap<u32, &Pod>,
    now: jiff::Timestamp,
) -> (Vec<u32>, Option<Duration>) {
    let mut ready = Vec::new();
    let mut wait: Option<Duration> = None;
    for ix in pending {
        let left = remaining_backoff_of(delayed.get(&ix).copied(), now);
        if left.is_zero() {
            ready.push(ix);
        } else {
            wait = Some(wait.map_or(left, |w| w.min(left)));
        }
    }
    (ready, wait)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::{
        JobSpec, JobStatus, PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement,
        PodFailurePolicyRule,
    };
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateTerminated, ContainerStatus, PodStatus,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use std::collections::BTreeMap;

    fn job(limit: i32, max_failed: Option<i32>) -> Job {
        Job {
            spec: Some(JobSpec {
                completions: Some(4),
                completion_mode: Some("Indexed".into()),
                backoff_limit_per_index: Some(limit),
                max_failed_indexes: max_failed,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn pod(uid: &str, index: u32, phase: &str, failures: i32, finished: i64, code: i32) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.uid = Some(uid.into());
        pod.metadata.finalizers = Some(vec![TRACKING_FINALIZER.into()]);
        pod.metadata.annotations = Some(BTreeMap::from([
            (COMPLETION_INDEX.into(), index.to_string()),
            (INDEX_FAILURE_COUNT.into(), failures.to_string()),
        ]));
        let at = jiff::Timestamp::from_second(finished).unwrap();
        pod.status = Some(PodStatus {
            phase: Some(phase.into()),
            container_statuses: Some(vec![ContainerStatus {
                name: "main".into(),
                state: Some(ContainerState {
                    terminated: Some(ContainerStateTerminated {
                        exit_code: code,
                        finished_at: Some(Time(at)),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            ..Default::default()
        });
        pod
    }

    #[test]
    fn an_index_fails_once_its_budget_is_spent() {
        let job = job(1, None);
        assert!(!is_index_failed(&job, &pod("a", 1, "Failed", 0, 10, 1)));
        assert!(is_index_failed(&job, &pod("b", 1, "Failed", 1, 10, 1)));
        assert!(!is_index_failed(&job, &pod("c", 1, "Succeeded", 5, 10, 0)));
        let pods = [
            pod("a", 1, "Failed", 0, 10, 1),
            pod("b", 3, "Failed", 1, 10, 1),
        ];
        let refs: Vec<&Pod> = pods.iter().collect();
        let mut with_status = job.clone();
        with_status.status = Some(JobStatus {
            failed_indexes: Some("0".into()),
            ..Default::default()
        });
        let failed = failed_indexes(&with_status, &refs, 4, |_| true);
        assert_eq!(failed.to_string(), "0,3");
    }

    #[test]
    fn fail_index_rule_fails_the_index_at_once() {
        let mut job = job(5, None);
        job.spec.as_mut().unwrap().pod_failure_policy = Some(PodFailurePolicy {
            rules: vec![PodFailurePolicyRule {
                action: "FailIndex".into(),
                on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
                    container_name: None,
                    operator: "In".into(),
                    values: vec![42],
                }),
                on_pod_conditions: None,
            }],
        });
        assert!(is_index_failed(&job, &pod("a", 0, "Failed", 0, 10, 42)));
        assert!(!is_index_failed(&job, &pod("b", 0, "Failed", 0, 10, 1)));
    }

    #[test]
    fn failed_indexes_end_the_job() {
        let succeeded = Indexes::parse("0,2-3", 4);
        let failed = Indexes::parse("1", 4);
        let all_done = failure_condition(&job(1, None), &failed, &succeeded, 4).unwrap();
        assert_eq!(all_done.reason.as_deref(), Some("FailedIndexes"));
        assert_eq!(all_done.message.as_deref(), Some("Job has failed indexes"));
        let running = Indexes::parse("0", 4);
        assert!(failure_condition(&job(1, None), &failed, &running, 4).is_none());
        let too_many = failure_condition(&job(1, Some(0)), &failed, &running, 4).unwrap();
        assert_eq!(too_many.type_, "FailureTarget");
        assert_eq!(too_many.reason.as_deref(), Some("MaxFailedIndexesExceeded"));
        assert_eq!(
            too_many.message.as_deref(),
            Some("Job has exceeded the specified maximal number of failed indexes")
        );
        assert!(failure_condition(&job(1, Some(1)), &failed, &running, 4).is_none());
    }

    #[test]
    fn replacements_wait_for_the_last_failure_of_their_index() {
        let job = job(3, None);
        let pods = [
            pod("old", 1, "Failed", 0, 10, 1),
            pod("new", 1, "Failed", 1, 40, 1),
            pod("done", 2, "Failed", 0, 10, 1),
            pod("busy", 3, "Failed", 0, 10, 1),
        ];
        let mut running = pod("run", 3, "Running", 1, 10, 0);
        running.status.as_mut().unwrap().container_statuses = None;
        let refs: Vec<&Pod> = pods.iter().collect();
        let finished = Indexes::parse("2", 4);
        let delayed = delayed_deletion(&job, &refs, &[&running], &finished, 4, |_| true);
        assert_eq!(delayed.len(), 1);
        assert_eq!(delayed[&1].metadata.uid.as_deref(), Some("new"));
        assert_eq!(new_failure_counts(&job, Some(delayed[&1])), (2, 0));
        assert_eq!(new_failure_counts(&job, None), (0, 0));

        // The second failure of index 1 waits 20 s from its end at 40 s.
        let now = jiff::Timestamp::from_second(45).unwrap();
        let (ready, wait) = creatable_now(vec![0, 1], &delayed, now);
        assert_eq!(ready, vec![0]);
        assert_eq!(wait, Some(Duration::from_secs(15)));
        let later = jiff::Timestamp::from_second(61).unwrap();
        assert_eq!(creatable_now(vec![1], &delayed, later), (vec![1], None));
    }
}
