use super::*;
use k8s_openapi::api::apps::v1::{DaemonSetSpec, DaemonSetUpdateStrategy, RollingUpdateDaemonSet};
use k8s_openapi::api::core::v1::{
    NodeSpec, PodCondition, PodSpec, PodStatus, PodTemplateSpec, Taint,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use crate::daemonset::eligibility::pin_to_node;

fn now() -> jiff::Timestamp {
    jiff::Timestamp::from_second(10_000).unwrap()
}

fn node(name: &str, taint: Option<&str>) -> Arc<Node> {
    Arc::new(Node {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        spec: Some(NodeSpec {
            taints: taint.map(|effect| {
                vec![Taint {
                    key: "dedicated".into(),
                    effect: effect.into(),
                    ..Taint::default()
                }]
            }),
            ..NodeSpec::default()
        }),
        status: None,
    })
}

fn daemon_set(max_unavailable: i32, max_surge: i32) -> DaemonSet {
    DaemonSet {
        metadata: ObjectMeta {
            name: Some("ds".into()),
            generation: Some(2),
            ..ObjectMeta::default()
        },
        spec: Some(DaemonSetSpec {
            template: PodTemplateSpec::default(),
            update_strategy: Some(DaemonSetUpdateStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDaemonSet {
                    max_unavailable: Some(IntOrString::Int(max_unavailable)),
                    max_surge: Some(IntOrString::Int(max_surge)),
                }),
            }),
            ..DaemonSetSpec::default()
        }),
        status: None,
    }
}

/// A daemon pod on `node` with revision `hash`; `age` seconds old.
fn pod(name: &str, node: &str, hash: &str, ready: bool, age: i64) -> Arc<Pod> {
    Arc::new(Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some([(POD_REVISION_LABEL.to_string(), hash.to_string())].into()),
            creation_timestamp: Some(Time(now() - jiff::SignedDuration::from_secs(age))),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            node_name: Some(node.into()),
            affinity: Some(pin_to_node(None, node)),
            ..PodSpec::default()
        }),
        status: Some(PodStatus {
            phase: Some("Running".into()),
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: if ready { "True" } else { "False" }.into(),
                ..PodCondition::default()
            }]),
            ..PodStatus::default()
        }),
    })
}

fn view<'a>(
    ds: &'a DaemonSet,
    nodes: &'a [Arc<Node>],
    pods: Vec<Arc<Pod>>,
    hash: &'a str,
) -> View<'a> {
    View {
        ds,
        nodes,
        pods_by_node: by_node(pods),
        hash,
        now: now(),
    }
}

fn deleted(plan: &Plan) -> Vec<&str> {
    plan.delete.iter().map(|(n, _)| n.as_str()).collect()
}

#[test]
fn creates_on_every_eligible_node_and_removes_from_evicting_ones() {
    let ds = daemon_set(1, 0);
    let nodes = [
        node("a", None),
        node("b", Some("NoSchedule")),
        node("c", Some("NoExecute")),
        node("d", Some("NoSchedule")),
    ];
    let pods = vec![
        pod("on-c", "c", "h1", true, 10),
        pod("on-d", "d", "h1", true, 10),
    ];
    let view = view(&ds, &nodes, pods, "h1");
    let plan = view.manage();
    assert_eq!(plan.create_on, vec!["a"]);
    // The NoSchedule node keeps its pod; the NoExecute one loses it.
    assert_eq!(deleted(&plan), vec!["on-c"]);
    let status = view.status(None);
    assert_eq!(status.desired_number_scheduled, 1);
    assert_eq!(status.current_number_scheduled, 0);
    assert_eq!(status.number_misscheduled, 2);
    assert_eq!(status.number_unavailable, Some(1));
    assert_eq!(status.observed_generation, Some(2));
}

#[test]
fn keeps_the_oldest_of_several_pods_and_replaces_failed_ones() {
    let ds = daemon_set(1, 0);
    let nodes = [node("a", None), node("b", None)];
    let mut failed = (*pod("failed", "b", "h1", false, 5)).clone();
    failed.status.as_mut().unwrap().phase = Some("Failed".into());
    let pods = vec![
        pod("young", "a", "h1", true, 5),
        pod("old", "a", "h1", true, 50),
        Arc::new(failed),
    ];
    let plan = view(&ds, &nodes, pods, "h1").manage();
    assert!(plan.create_on.is_empty());
    assert_eq!(
        plan.delete,
        vec![
            ("young".to_string(), Removal::Other),
            ("failed".to_string(), Removal::Failed { node: "b".into() })
        ]
    );
}

#[test]
fn pods_for_vanished_nodes_are_deleted() {
    let ds = daemon_set(1, 0);
    let nodes = [node("a", None)];
    let pods = vec![
        pod("here", "a", "h1", true, 5),
        pod("gone", "z", "h1", true, 5),
    ];
    assert_eq!(
        deleted(&view(&ds, &nodes, pods, "h1").manage()),
        vec!["gone"]
    );
}

#[test]
fn rolling_update_replaces_within_max_unavailable() {
    let ds = daemon_set(2, 0);
    let nodes = [
        node("a", None),
        node("b", None),
        node("c", None),
        node("d", None),
    ];
    let pods = vec![
        pod("a-old", "a", "h1", true, 5),
        pod("b-old", "b", "h1", true, 5),
        pod("c-old", "c", "h1", true, 5),
        pod("d-new", "d", "h2", false, 1),
    ];
    let plan = view(&ds, &nodes, pods, "h2").rolling_update().unwrap();
    // d's new pod is not ready yet: one of the two allowed is used up.
    assert_eq!(deleted(&plan), vec!["a-old"]);

    let pods = vec![
        pod("a-old", "a", "h1", true, 5),
        pod("b-old", "b", "h1", false, 5),
        pod("c-old", "c", "h1", true, 5),
        pod("d-new", "d", "h2", true, 1),
    ];
    let plan = view(&ds, &nodes, pods, "h2").rolling_update().unwrap();
    // Unavailable old pods are replaced regardless; then two available.
    assert_eq!(deleted(&plan), vec!["b-old", "a-old", "c-old"]);
}

#[test]
fn rolling_update_waits_for_missing_pods() {
    let ds = daemon_set(1, 0);
    let nodes = [node("a", None), node("b", None)];
    let pods = vec![pod("a-old", "a", "h1", true, 5)];
    let plan = view(&ds, &nodes, pods, "h2").rolling_update().unwrap();
    // b has no pod yet and counts as unavailable.
    assert!(plan.is_empty());
}

#[test]
fn surge_starts_new_pods_before_removing_old_ones() {
    let ds = daemon_set(0, 1);
    let nodes = [node("a", None), node("b", None)];
    let pods = vec![
        pod("a-old", "a", "h1", true, 5),
        pod("b-old", "b", "h1", true, 5),
    ];
    let plan = view(&ds, &nodes, pods, "h2").rolling_update().unwrap();
    assert_eq!(plan.create_on, vec!["a"]);
    assert!(plan.delete.is_empty());

    let pods = vec![
        pod("a-old", "a", "h1", true, 5),
        pod("a-new", "a", "h2", true, 1),
        pod("b-old", "b", "h1", true, 5),
    ];
    let view = view(&ds, &nodes, pods, "h2");
    let plan = view.rolling_update().unwrap();
    assert_eq!(deleted(&plan), vec!["a-old"]);
    assert_eq!(plan.create_on, vec!["b"]);
    // manage leaves the two pods of a surging node to the rolling update,
    // but drops the old one once the new one is available.
    assert_eq!(deleted(&view.manage()), vec!["a-old"]);
}

#[test]
fn status_counts_ready_available_and_updated() {
    let mut ds = daemon_set(1, 0);
    ds.spec.as_mut().unwrap().min_ready_seconds = Some(30);
    let nodes = [node("a", None), node("b", None), node("c", None)];
    let ready_since = |pod: Arc<Pod>, seconds: i64| {
        let mut pod = (*pod).clone();
        pod.status.as_mut().unwrap().conditions.as_mut().unwrap()[0].last_transition_time =
            Some(Time(now() - jiff::SignedDuration::from_secs(seconds)));
        Arc::new(pod)
    };
    let pods = vec![
        ready_since(pod("a-old", "a", "h1", true, 100), 60),
        ready_since(pod("b-new", "b", "h2", true, 5), 10),
    ];
    let status = view(&ds, &nodes, pods, "h2").status(None);
    assert_eq!(status.desired_number_scheduled, 3);
    assert_eq!(status.current_number_scheduled, 2);
    assert_eq!(status.number_ready, 2);
    assert_eq!(status.number_available, Some(1));
    assert_eq!(status.number_unavailable, Some(2));
    assert_eq!(status.updated_number_scheduled, Some(1));
}

#[test]
fn percentages_scale_up() {
    assert_eq!(scaled(&IntOrString::String("25%".into()), 5), Ok(2));
    assert_eq!(scaled(&IntOrString::String("100%".into()), 5), Ok(5));
    assert_eq!(scaled(&IntOrString::Int(3), 5), Ok(3));
    assert!(scaled(&IntOrString::String("x".into()), 5).is_err());
}

#[test]
fn updated_by_hash_or_generation() {
    let mut labelled = (*pod("p", "a", "h1", true, 1)).clone();
    assert!(is_updated(&labelled, "h1", None));
    assert!(!is_updated(&labelled, "h2", Some(3)));
    labelled
        .metadata
        .labels
        .as_mut()
        .unwrap()
        .insert(TEMPLATE_GENERATION_LABEL.into(), "3".into());
    assert!(is_updated(&labelled, "h2", Some(3)));
}
