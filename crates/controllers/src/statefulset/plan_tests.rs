use super::*;
use k8s_openapi::api::apps::v1::{
    RollingUpdateStatefulSetStrategy, StatefulSetSpec, StatefulSetUpdateStrategy,
};
use k8s_openapi::api::core::v1::{PodCondition, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use crate::history::POD_REVISION_LABEL;
use crate::statefulset::identity::{POD_INDEX_LABEL, POD_NAME_LABEL};

fn set(replicas: i32, parallel: bool, partition: Option<i32>) -> StatefulSet {
    StatefulSet {
        metadata: ObjectMeta {
            name: Some("web".into()),
            generation: Some(4),
            ..ObjectMeta::default()
        },
        spec: Some(StatefulSetSpec {
            replicas: Some(replicas),
            pod_management_policy: Some(if parallel { "Parallel" } else { "OrderedReady" }.into()),
            update_strategy: Some(StatefulSetUpdateStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: partition.map(|p| RollingUpdateStatefulSetStrategy {
                    partition: Some(p),
                    max_unavailable: None,
                }),
            }),
            ..StatefulSetSpec::default()
        }),
        status: None,
    }
}

/// A pod of `web` at `revision` in `phase`, ready or not.
fn pod(ordinal: i32, revision: &str, phase: &str, ready: bool) -> Arc<Pod> {
    let name = format!("web-{ordinal}");
    Arc::new(Pod {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            labels: Some(
                [
                    (POD_REVISION_LABEL.to_string(), revision.to_string()),
                    (POD_NAME_LABEL.to_string(), name),
                    (POD_INDEX_LABEL.to_string(), ordinal.to_string()),
                ]
                .into(),
            ),
            ..ObjectMeta::default()
        },
        spec: None,
        status: Some(PodStatus {
            phase: Some(phase.into()),
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: if ready { "True" } else { "False" }.into(),
                ..PodCondition::default()
            }]),
            ..PodStatus::default()
        }),
    })
}

fn running(ordinal: i32, revision: &str) -> Arc<Pod> {
    pod(ordinal, revision, "Running", true)
}

fn terminating(pod: Arc<Pod>) -> Arc<Pod> {
    let mut pod = (*pod).clone();
    pod.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::now()));
    Arc::new(pod)
}

fn steps(set: &StatefulSet, pods: Vec<Arc<Pod>>, current: &str, update: &str) -> Vec<Step> {
    let pods: BTreeMap<i32, Arc<Pod>> = pods
        .into_iter()
        .map(|p| (p.name_any().rsplit_once('-').unwrap().1.parse().unwrap(), p))
        .collect();
    Pass {
        set,
        pods: &pods,
        current_revision: current,
        update_revision: update,
        now: jiff::Timestamp::now(),
    }
    .steps()
}

fn create(ordinal: i32, revision: Revision) -> Step {
    Step::Create { ordinal, revision }
}

fn delete(ordinal: i32, why: Why) -> Step {
    Step::Delete {
        name: format!("web-{ordinal}"),
        why,
    }
}

#[test]
fn ordered_ready_creates_one_at_a_time() {
    let set = set(3, false, None);
    assert_eq!(
        steps(&set, vec![], "r1", "r1"),
        vec![create(0, Revision::Update)]
    );
    // web-0 not ready yet: wait.
    let pending = pod(0, "r1", "Pending", false);
    assert_eq!(
        steps(&set, vec![pending], "r1", "r1"),
        vec![Step::EnsureClaims { ordinal: 0 }]
    );
    let not_ready = pod(0, "r1", "Running", false);
    assert_eq!(steps(&set, vec![not_ready], "r1", "r1"), vec![]);
    assert_eq!(
        steps(&set, vec![running(0, "r1")], "r1", "r1"),
        vec![create(1, Revision::Update)]
    );
}

#[test]
fn parallel_creates_all_at_once() {
    let set = set(3, true, None);
    assert_eq!(
        steps(&set, vec![pod(1, "r1", "Pending", false)], "r1", "r1"),
        vec![
            create(0, Revision::Update),
            Step::EnsureClaims { ordinal: 1 },
            create(2, Revision::Update)
        ]
    );
}

#[test]
fn scale_down_deletes_from_the_highest_ordinal_one_at_a_time() {
    let set = set(1, false, None);
    let all = vec![running(0, "r1"), running(1, "r1"), running(2, "r1")];
    assert_eq!(
        steps(&set, all, "r1", "r1"),
        vec![delete(2, Why::ScaleDown)]
    );
    // While web-2 terminates nothing else happens.
    let going = vec![
        running(0, "r1"),
        running(1, "r1"),
        terminating(running(2, "r1")),
    ];
    assert_eq!(steps(&set, going, "r1", "r1"), vec![]);
    let next = vec![running(0, "r1"), running(1, "r1")];
    assert_eq!(
        steps(&set, next, "r1", "r1"),
        vec![delete(1, Why::ScaleDown)]
    );
    // Parallel deletes all condemned pods together.
    let parallel = self::set(1, true, None);
    let all = vec![running(0, "r1"), running(1, "r1"), running(2, "r1")];
    assert_eq!(
        steps(&parallel, all, "r1", "r1"),
        vec![delete(2, Why::ScaleDown), delete(1, Why::ScaleDown)]
    );
}

#[test]
fn scale_down_waits_for_unhealthy_replicas_but_may_delete_the_first_unhealthy() {
    let set = set(1, false, None);
    let pods = vec![
        running(0, "r1"),
        running(1, "r1"),
        pod(2, "r1", "Running", false),
    ];
    // web-2 is the first unhealthy pod: it may go.
    assert_eq!(
        steps(&set, pods, "r1", "r1"),
        vec![delete(2, Why::ScaleDown)]
    );
    let pods = vec![
        running(0, "r1"),
        pod(1, "r1", "Running", false),
        pod(2, "r1", "Running", false),
    ];
    // web-2 is unhealthy but web-1 is the first unhealthy pod: wait.
    assert_eq!(steps(&set, pods, "r1", "r1"), vec![]);
}

#[test]
fn finished_pods_are_replaced() {
    let set = set(2, false, None);
    let pods = vec![pod(0, "r1", "Failed", false), running(1, "r1")];
    assert_eq!(
        steps(&set, pods, "r1", "r1"),
        vec![delete(0, Why::Finished)]
    );
}

#[test]
fn rolling_update_goes_from_the_top_down_to_the_partition() {
    let set = set(3, false, Some(2));
    let old = vec![running(0, "r1"), running(1, "r1"), running(2, "r1")];
    assert_eq!(steps(&set, old, "r1", "r2"), vec![delete(2, Why::Update)]);
    // web-2 recreated at the new revision: the partition stops the roll.
    let done = vec![running(0, "r1"), running(1, "r1")];
    assert_eq!(
        steps(&set, done.clone(), "r1", "r2"),
        vec![create(2, Revision::Update)]
    );
    let mut all = done;
    all.push(running(2, "r2"));
    assert_eq!(steps(&set, all, "r1", "r2"), vec![]);
    // Below the partition a recreated pod keeps the current revision.
    let lost = vec![running(1, "r1"), running(2, "r2")];
    assert_eq!(
        steps(&set, lost, "r1", "r2"),
        vec![create(0, Revision::Current)]
    );
}

#[test]
fn rolling_update_waits_for_the_updated_pod_to_be_healthy() {
    let set = set(3, false, None);
    let pods = vec![
        running(0, "r1"),
        running(1, "r1"),
        pod(2, "r2", "Running", false),
    ];
    assert_eq!(steps(&set, pods, "r1", "r2"), vec![]);
    let pods = vec![running(0, "r1"), running(1, "r1"), running(2, "r2")];
    assert_eq!(steps(&set, pods, "r1", "r2"), vec![delete(1, Why::Update)]);
}

#[test]
fn on_delete_leaves_old_pods_alone() {
    let mut set = set(2, false, None);
    set.spec.as_mut().unwrap().update_strategy = Some(StatefulSetUpdateStrategy {
        type_: Some("OnDelete".into()),
        rolling_update: None,
    });
    let pods = vec![running(0, "r1"), running(1, "r1")];
    assert_eq!(steps(&set, pods, "r1", "r2"), vec![]);
    // A deleted pod comes back at the update revision.
    assert_eq!(
        steps(&set, vec![running(0, "r1")], "r1", "r2"),
        vec![create(1, Revision::Update)]
    );
}

#[test]
fn start_ordinal_shifts_the_range() {
    let mut set = set(2, false, None);
    set.spec.as_mut().unwrap().ordinals =
        Some(k8s_openapi::api::apps::v1::StatefulSetOrdinals { start: Some(3) });
    assert_eq!(
        steps(&set, vec![running(0, "r1")], "r1", "r1"),
        vec![create(3, Revision::Update)]
    );
    let pods = vec![running(0, "r1"), running(3, "r1"), running(4, "r1")];
    assert_eq!(
        steps(&set, pods, "r1", "r1"),
        vec![delete(0, Why::ScaleDown)]
    );
}

#[test]
fn status_counts_and_completes_the_rollout() {
    let set = set(3, false, None);
    let pods: BTreeMap<i32, Arc<Pod>> = [
        (0, running(0, "r2")),
        (1, running(1, "r2")),
        (2, pod(2, "r1", "Running", false)),
    ]
    .into();
    let pass = Pass {
        set: &set,
        pods: &pods,
        current_revision: "r1",
        update_revision: "r2",
        now: jiff::Timestamp::now(),
    };
    let status = pass.status(0);
    assert_eq!(status.replicas, 3);
    assert_eq!(status.ready_replicas, Some(2));
    assert_eq!(status.available_replicas, Some(2));
    assert_eq!(status.current_replicas, Some(1));
    assert_eq!(status.updated_replicas, Some(2));
    assert_eq!(status.current_revision.as_deref(), Some("r1"));
    assert_eq!(status.observed_generation, Some(4));

    let pods: BTreeMap<i32, Arc<Pod>> = (0..3).map(|o| (o, running(o, "r2"))).collect();
    let pass = Pass {
        pods: &pods,
        ..pass
    };
    let status = pass.status(0);
    assert_eq!(status.current_revision.as_deref(), Some("r2"));
    assert_eq!(status.current_replicas, Some(3));
}
