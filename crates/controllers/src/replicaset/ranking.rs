//! Which pods a replica controller deletes first when it scales down:
//! upstream's `ActivePodsWithRanks` order, and the slow-start batches it
//! creates pods in.

use std::cmp::Ordering;
use std::collections::HashMap;

use k8s_openapi::api::core::v1::Pod;

use crate::pods::{is_active, is_ready};

/// The annotation that lets users say which pods are cheaper to delete.
pub const DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

/// Pods created at once in the first batch (upstream's
/// SlowStartInitialBatchSize); each batch doubles while they succeed.
pub const SLOW_START_INITIAL_BATCH: usize = 1;

/// The sizes of upstream's slowStartBatch for `count` creations: 1, 2, 4,
/// ... until the count is reached.
pub fn slow_start_batches(count: usize) -> Vec<usize> {
    let mut batches = Vec::new();
    let mut remaining = count;
    let mut size = SLOW_START_INITIAL_BATCH.min(remaining);
    while size > 0 {
        batches.push(size);
        remaining -= size;
        size = (2 * size).min(remaining);
    }
    batches
}

/// `count` pods to delete among `pods`, the ones to go first, as upstream's
/// getPodsToDelete: ranked by how many `related` active pods share their
/// node, then by [`deletion_order`].
pub fn pods_to_delete<'a>(
    pods: &[&'a Pod],
    related: &[&Pod],
    count: usize,
    now: jiff::Timestamp,
) -> Vec<&'a Pod> {
    let mut on_node: HashMap<&str, usize> = HashMap::new();
    for pod in related.iter().filter(|pod| is_active(pod)) {
        *on_node.entry(node_name(pod)).or_default() += 1;
    }
    let mut ranked: Vec<(&Pod, usize)> = pods
        .iter()
        .map(|pod| (*pod, on_node.get(node_name(pod)).copied().unwrap_or(0)))
        .collect();
    if count < ranked.len() {
        ranked.sort_by(|a, b| deletion_order(a, b, now));
    }
    ranked.into_iter().take(count).map(|(pod, _)| pod).collect()
}

fn node_name(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or("")
}

fn phase_ordinal(pod: &Pod) -> u8 {
    match pod.status.as_ref().and_then(|s| s.phase.as_deref()) {
        Some("Unknown") => 1,
        Some("Running") => 2,
        _ => 0,
    }
}

fn deletion_cost(pod: &Pod) -> i32 {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DELETION_COST))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn ready_time(pod: &Pod) -> Option<jiff::Timestamp> {
    let conditions = pod.status.as_ref()?.conditions.as_ref()?;
    let ready = conditions
        .iter()
        .find(|c| c.type_ == "Ready" && c.status == "True")?;
    ready.last_transition_time.as_ref().map(|t| t.0)
}

fn max_restarts(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .map(|c| c.restart_count)
        .max()
        .unwrap_or(0)
}

/// Upstream's ActivePodsWithRanks.Less as an ordering, the pod to delete
/// first being the least: unscheduled before scheduled, pending before
/// unknown before running, not ready before ready, lower deletion cost,
/// more pods of the owner on the same node, ready for less time, more
/// restarts, newer (the last two in logarithmic age buckets).
pub fn deletion_order(a: &(&Pod, usize), b: &(&Pod, usize), now: jiff::Timestamp) -> Ordering {
    let (pa, rank_a) = (a.0, a.1);
    let (pb, rank_b) = (b.0, b.1);
    let (node_a, node_b) = (node_name(pa), node_name(pb));
    if node_a != node_b && (node_a.is_empty() || node_b.is_empty()) {
        return if node_a.is_empty() {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    let by = phase_ordinal(pa).cmp(&phase_ordinal(pb));
    if by != Ordering::Equal {
        return by;
    }
    let (ready_a, ready_b) = (is_ready(pa), is_ready(pb));
    if ready_a != ready_b {
        return if ready_a {
            Ordering::Greater
        } else {
            Ordering::Less
        };
    }
    let by = deletion_cost(pa).cmp(&deletion_cost(pb));
    if by != Ordering::Equal {
        return by;
    }
    // More pods on the same node first.
    let by = rank_b.cmp(&rank_a);
    if by != Ordering::Equal {
        return by;
    }
    if ready_a && ready_b {
        let (since_a, since_b) = (ready_time(pa), ready_time(pb));
        if since_a != since_b {
            return newer_first(since_a, since_b, now, pa, pb);
        }
    }
    let by = max_restarts(pb).cmp(&max_restarts(pa));
    if by != Ordering::Equal {
        return by;
    }
    let created_a = pa.metadata.creation_timestamp.as_ref().map(|t| t.0);
    let created_b = pb.metadata.creation_timestamp.as_ref().map(|t| t.0);
    if created_a != created_b {
        return newer_first(created_a, created_b, now, pa, pb);
    }
    Ordering::Equal
}

/// Newer (or unknown) times first; with both known, times in the same
/// power-of-two age bucket are ordered by uid (upstream's
/// LogarithmicScaleDown, so that scale-down does not always pick the very
/// newest pods).
fn newer_first(
    a: Option<jiff::Timestamp>,
    b: Option<jiff::Timestamp>,
    now: jiff::Timestamp,
    pa: &Pod,
    pb: &Pod,
) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => {
            let bucket = |t: jiff::Timestamp| -> i64 {
                let nanos = now.as_nanosecond() - t.as_nanosecond();
                if nanos > 0 {
                    // Go's int64(math.Log2(float64(d))) on nanoseconds.
                    (nanos as f64).log2() as i64
                } else {
                    -1
                }
            };
            match bucket(a).cmp(&bucket(b)) {
                Ordering::Equal => pa.metadata.uid.cmp(&pb.metadata.uid),
                other => other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodCondition, PodSpec, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    fn at(seconds: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(seconds).unwrap()
    }

    fn pod(name: &str, node: &str, phase: &str, ready: bool, created: i64) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                uid: Some(name.into()),
                creation_timestamp: Some(Time(at(created))),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                node_name: (!node.is_empty()).then(|| node.to_string()),
                ..PodSpec::default()
            }),
            status: Some(PodStatus {
                phase: Some(phase.into()),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: if ready { "True" } else { "False" }.into(),
                    last_transition_time: Some(Time(at(created))),
                    ..PodCondition::default()
                }]),
                ..PodStatus::default()
            }),
        }
    }

    fn names(pods: Vec<&Pod>) -> Vec<String> {
        pods.into_iter()
            .filter_map(|p| p.metadata.name.clone())
            .collect()
    }

    #[test]
    fn batches_double_from_one() {
        assert_eq!(slow_start_batches(0), Vec::<usize>::new());
        assert_eq!(slow_start_batches(1), vec![1]);
        assert_eq!(slow_start_batches(10), vec![1, 2, 4, 3]);
        assert_eq!(slow_start_batches(15), vec![1, 2, 4, 8]);
    }

    #[test]
    fn unscheduled_then_pending_then_not_ready_go_first() {
        let now = at(100_000);
        let running = pod("running", "n1", "Running", true, 1_000);
        let not_ready = pod("not-ready", "n2", "Running", false, 1_000);
        let pending = pod("pending", "n3", "Pending", false, 1_000);
        let unscheduled = pod("unscheduled", "", "Pending", false, 1_000);
        let pods = [&running, &not_ready, &pending, &unscheduled];
        let order = names(pods_to_delete(&pods, &pods, 3, now));
        assert_eq!(order, ["unscheduled", "pending", "not-ready"]);
    }

    #[test]
    fn doubled_up_nodes_then_newer_pods_go_first() {
        let now = at(100_000);
        let old = pod("old", "n1", "Running", true, 1_000);
        let young = pod("young", "n2", "Running", true, 99_990);
        let crowded_a = pod("crowded-a", "n3", "Running", true, 1_000);
        let crowded_b = pod("crowded-b", "n3", "Running", true, 1_000);
        let pods = [&old, &young];
        assert_eq!(names(pods_to_delete(&pods, &pods, 1, now)), ["young"]);
        let pods = [&old, &young, &crowded_a, &crowded_b];
        let order = names(pods_to_delete(&pods, &pods, 2, now));
        assert_eq!(order, ["crowded-a", "crowded-b"]);
    }

    #[test]
    fn deletion_cost_overrides_age() {
        let now = at(100_000);
        let mut old = pod("old", "n1", "Running", true, 1_000);
        old.metadata.annotations = Some([(DELETION_COST.to_string(), "-5".to_string())].into());
        let young = pod("young", "n2", "Running", true, 99_990);
        let pods = [&young, &old];
        assert_eq!(names(pods_to_delete(&pods, &pods, 1, now)), ["old"]);
    }

    #[test]
    fn all_pods_go_when_all_are_asked_for() {
        let now = at(100_000);
        let a = pod("a", "n1", "Running", true, 1_000);
        let pods = [&a];
        assert_eq!(names(pods_to_delete(&pods, &pods, 5, now)), ["a"]);
    }
}
