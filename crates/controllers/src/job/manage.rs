//! Keeping the right number of pods running (upstream's manageJob):
//! parallelism, remaining completions and pending indexes, suspension,
//! and the back-off before a failed pod is replaced.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;

use super::actions::Context;
use super::indexes::Indexes;
use super::memory::Backoff;
use super::per_index::{creatable_now, has_backoff_limit_per_index};
use super::policy::*;
use super::sync::MAX_POD_CHANGES_PER_SYNC;
use crate::pods::is_ready;
use crate::Error;

/// What an Indexed Job knows of its indexes in this pass.
#[derive(Default)]
pub struct IndexState<'a> {
    pub succeeded: Indexes,
    /// With backoffLimitPerIndex: the indexes out of retries.
    pub failed: Option<Indexes>,
    /// Indexes of pods still terminating, when only failed pods are
    /// replaced: they get no second pod meanwhile.
    pub terminating: BTreeSet<u32>,
    /// With backoffLimitPerIndex: the last failed pod of each index that
    /// waits for a replacement.
    pub delayed: HashMap<u32, &'a Pod>,
}

pub struct Managed {
    pub active: i32,
    pub removed: i32,
    pub removed_ready: i32,
    pub requeue: Option<Duration>,
    pub error: Option<Error>,
}

/// Keeps as many pods running as parallelism and the remaining
/// completions allow, none while suspended (upstream's manageJob).
#[allow(clippy::too_many_arguments)]
pub async fn manage(
    ctx: &Context,
    job: &Job,
    key: &str,
    active_pods: &[&Pod],
    succeeded: i32,
    index_state: &IndexState<'_>,
    terminating: i32,
    backoff: Backoff,
) -> Managed {
    let spec = job.spec.clone().unwrap_or_default();
    let mut outcome = Managed {
        active: active_pods.len() as i32,
        removed: 0,
        removed_ready: 0,
        requeue: None,
        error: None,
    };
    let parallelism = spec.parallelism.unwrap_or(1).max(0);
    let want = if is_suspended(job) {
        0
    } else {
        match spec.completions {
            None if succeeded > 0 => outcome.active,
            None => parallelism,
            Some(completions) => (completions - succeeded).clamp(0, parallelism),
        }
    };
    let excess = (outcome.active - want).max(0) as usize;
    let mut doomed = pods_for_removal(job, active_pods, excess);
    doomed.truncate(MAX_POD_CHANGES_PER_SYNC);
    if !doomed.is_empty() {
        for pod in doomed {
            match ctx.delete_pod(job, key, pod, true).await {
                Ok(()) => {
                    outcome.active -= 1;
                    outcome.removed += 1;
                    outcome.removed_ready += i32::from(is_ready(pod));
                }
                Err(error) => outcome.error = Some(error),
            }
        }
        return outcome;
    }
    let waiting = if only_replace_failed(job) {
        terminating
    } else {
        0
    };
    let mut missing = (want - waiting - outcome.active).max(0) as usize;
    if missing == 0 {
        return outcome;
    }
    // With backoffLimitPerIndex each index has its own back-off, below.
    let per_index = has_backoff_limit_per_index(job);
    if let Some(last) = backoff.last_failure.filter(|_| !per_index) {
        let since = Duration::try_from(jiff::Timestamp::now().duration_since(last))
            .unwrap_or(Duration::ZERO);
        let left = remaining_backoff(backoff.failures, since);
        if !left.is_zero() {
            outcome.requeue = Some(left);
            return outcome;
        }
    }
    missing = missing.min(MAX_POD_CHANGES_PER_SYNC);
    let indexes: Vec<Option<u32>> = if is_indexed(job) {
        let mut taken: BTreeSet<u32> = active_pods
            .iter()
            .filter_map(|p| completion_index(p))
            .collect();
        taken.extend(index_state.terminating.iter().copied());
        if let Some(failed) = &index_state.failed {
            taken.extend(failed.iter());
        }
        let completions = spec.completions.unwrap_or(0).max(0) as u32;
        let mut pending = index_state
            .succeeded
            .first_pending(&taken, missing, completions);
        if per_index {
            let now = jiff::Timestamp::now();
            let (ready, wait) = creatable_now(pending, &index_state.delayed, now);
            outcome.requeue = wait;
            pending = ready;
        }
        pending.into_iter().map(Some).collect()
    } else {
        vec![None; missing]
    };
    // Slow start, as upstream: batches of 1, 2, 4, ... stop at the first
    // failure so a quota or admission refusal costs one request, not many.
    let mut next = indexes.into_iter();
    let mut batch = 1;
    loop {
        let chunk: Vec<Option<u32>> = next.by_ref().take(batch).collect();
        if chunk.is_empty() {
            break;
        }
        let results = futures_util::future::join_all(chunk.into_iter().map(|ix| {
            let replaced = ix.and_then(|ix| index_state.delayed.get(&ix).copied());
            ctx.create_pod(job, key, ix, replaced)
        }))
        .await;
        let mut failed = false;
        for result in results {
            match result {
                Ok(()) => outcome.active += 1,
                Err(error) => {
                    failed = true;
                    outcome.error = Some(error);
                }
            }
        }
        if failed {
            break;
        }
        batch *= 2;
    }
    outcome
}

/// Which active pods to delete: for Indexed Jobs first those with a
/// missing, out-of-range or repeated index, then the least advanced
/// (upstream's activePodsForRemoval).
fn pods_for_removal<'a>(job: &Job, pods: &[&'a Pod], at_least: usize) -> Vec<&'a Pod> {
    let mut remove = Vec::new();
    let mut left: Vec<&Pod> = Vec::new();
    if is_indexed(job) {
        let completions = job
            .spec
            .as_ref()
            .and_then(|s| s.completions)
            .unwrap_or(0)
            .max(0) as u32;
        let mut sorted = pods.to_vec();
        sorted.sort_by(|a, b| {
            completion_index(a)
                .cmp(&completion_index(b))
                .then_with(|| removal_order(b, a))
        });
        let mut seen = HashSet::new();
        for pod in sorted {
            match completion_index(pod) {
                Some(ix) if ix < completions && seen.insert(ix) => left.push(pod),
                _ => remove.push(pod),
            }
        }
    } else {
        left = pods.to_vec();
    }
    if remove.len() < at_least {
        left.sort_by(|a, b| removal_order(a, b));
        let more = at_least - remove.len();
        remove.extend(left.into_iter().take(more));
    }
    remove
}

/// Less advanced pods first: unscheduled, then pending, then not ready,
/// then the newest (upstream's ActivePods ordering, shortened).
fn removal_order(a: &Pod, b: &Pod) -> std::cmp::Ordering {
    let scheduled = |p: &Pod| {
        p.spec
            .as_ref()
            .and_then(|s| s.node_name.as_ref())
            .is_some_and(|n| !n.is_empty())
    };
    let phase_rank = |p: &Pod| match phase(p) {
        "Pending" => 0,
        "Running" => 2,
        _ => 1,
    };
    let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
    scheduled(a)
        .cmp(&scheduled(b))
        .then_with(|| phase_rank(a).cmp(&phase_rank(b)))
        .then_with(|| is_ready(a).cmp(&is_ready(b)))
        .then_with(|| created(b).cmp(&created(a)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::JobSpec;
    use std::collections::BTreeMap;

    fn indexed_job(completions: i32) -> Job {
        Job {
            spec: Some(JobSpec {
                completions: Some(completions),
                completion_mode: Some("Indexed".into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn pod(name: &str, index: Option<&str>) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.name = Some(name.into());
        if let Some(ix) = index {
            pod.metadata.annotations = Some(BTreeMap::from([(COMPLETION_INDEX.into(), ix.into())]));
        }
        pod
    }

    #[test]
    fn indexed_removal_takes_bad_and_repeated_indexes() {
        let job = indexed_job(3);
        let pods = [
            pod("a", Some("0")),
            pod("b", Some("0")),
            pod("c", Some("7")),
            pod("d", None),
            pod("e", Some("1")),
        ];
        let refs: Vec<&Pod> = pods.iter().collect();
        let mut names: Vec<String> = pods_for_removal(&job, &refs, 0)
            .iter()
            .map(|p| p.metadata.name.clone().unwrap())
            .collect();
        names.sort();
        assert_eq!(names.len(), 3);
        assert!(names.contains(&"c".to_string()) && names.contains(&"d".to_string()));
    }
}
