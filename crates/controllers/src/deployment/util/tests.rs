use super::*;
use k8s_openapi::api::apps::v1::{
    DeploymentSpec, DeploymentStrategy, ReplicaSetSpec, ReplicaSetStatus, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

fn percent(text: &str) -> IntOrString {
    IntOrString::String(text.into())
}

fn deployment(replicas: i32, surge: IntOrString, unavailable: IntOrString) -> Deployment {
    Deployment {
        metadata: ObjectMeta {
            name: Some("web".into()),
            generation: Some(1),
            ..ObjectMeta::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(surge),
                    max_unavailable: Some(unavailable),
                }),
            }),
            template: template("nginx:1"),
            ..DeploymentSpec::default()
        }),
        status: None,
    }
}

fn template(image: &str) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some([("app".to_string(), "web".to_string())].into()),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "c".into(),
                image: Some(image.into()),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
    }
}

fn replica_set(
    name: &str,
    replicas: i32,
    available: i32,
    created: i64,
    annotations: &[(&str, &str)],
) -> ReplicaSet {
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(name.into()),
            uid: Some(name.into()),
            creation_timestamp: Some(Time(jiff::Timestamp::from_second(created).unwrap())),
            annotations: Some(
                annotations
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..ObjectMeta::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(replicas),
            template: Some(template(name)),
            ..ReplicaSetSpec::default()
        }),
        status: Some(ReplicaSetStatus {
            replicas,
            available_replicas: Some(available),
            ready_replicas: Some(available),
            ..ReplicaSetStatus::default()
        }),
    }
}

#[test]
fn percentages_round_surge_up_and_unavailability_down() {
    assert_eq!(
        resolve_fenceposts(&percent("25%"), &percent("25%"), 10),
        Ok((3, 2))
    );
    assert_eq!(
        resolve_fenceposts(&percent("25%"), &percent("25%"), 1),
        Ok((1, 0))
    );
    assert_eq!(
        resolve_fenceposts(&IntOrString::Int(2), &IntOrString::Int(0), 5),
        Ok((2, 0))
    );
    // Both zero: one pod may be unavailable.
    assert_eq!(
        resolve_fenceposts(&IntOrString::Int(0), &percent("1%"), 10),
        Ok((0, 1))
    );
    assert!(resolve_fenceposts(&percent("abc"), &IntOrString::Int(1), 10).is_err());
    assert!(scaled_value(&percent("10"), 10, true).is_err());
}

#[test]
fn max_unavailable_is_capped_by_replicas() {
    let d = deployment(3, IntOrString::Int(1), IntOrString::Int(5));
    assert_eq!(max_unavailable(&d), 3);
    assert_eq!(max_surge(&d), 1);
    let empty = deployment(0, IntOrString::Int(1), IntOrString::Int(5));
    assert_eq!(max_unavailable(&empty), 0);
}

#[test]
fn new_replica_set_grows_within_the_surge() {
    let d = deployment(10, percent("25%"), percent("25%"));
    // 10 old + 0 new; maxSurge 3 allows 3 more.
    assert_eq!(new_rs_new_replicas(&d, 10, 0), Ok(3));
    // At the ceiling already.
    assert_eq!(new_rs_new_replicas(&d, 13, 3), Ok(3));
    // Never beyond the desired count.
    assert_eq!(new_rs_new_replicas(&d, 9, 9), Ok(10));
}

#[test]
fn scaling_mid_rollout_is_proportional() {
    let mut d = deployment(10, IntOrString::Int(0), IntOrString::Int(1));
    d.status = Some(DeploymentStatus {
        replicas: Some(5),
        ..DeploymentStatus::default()
    });
    let old = replica_set("old", 3, 3, 1, &[(MAX_REPLICAS, "5")]);
    let new = replica_set("new", 2, 0, 2, &[(MAX_REPLICAS, "5")]);
    let sizes: Vec<(String, i32)> = proportional_sizes(&d, &[&old, &new])
        .into_iter()
        .map(|(rs, size)| (rs.name_any_for_test(), size))
        .collect();
    assert_eq!(sizes, [("old".to_string(), 6), ("new".to_string(), 4)]);

    // Down to 4: larger first, older first among equals; leftovers go to
    // the first.
    let d = deployment(4, IntOrString::Int(0), IntOrString::Int(1));
    let a = replica_set("a", 5, 5, 1, &[(MAX_REPLICAS, "10")]);
    let b = replica_set("b", 5, 5, 2, &[(MAX_REPLICAS, "10")]);
    let sizes: Vec<i32> = proportional_sizes(&d, &[&b, &a])
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    assert_eq!(sizes.iter().sum::<i32>(), 4);
    assert_eq!(sizes, [2, 2]);
}

trait NameForTest {
    fn name_any_for_test(&self) -> String;
}

impl NameForTest for ReplicaSet {
    fn name_any_for_test(&self) -> String {
        self.metadata.name.clone().unwrap_or_default()
    }
}

#[test]
fn revisions_and_history_follow_rollbacks() {
    let mut d = deployment(3, percent("25%"), percent("25%"));
    d.metadata.annotations = Some(
        [
            (
                "kubernetes.io/change-cause".to_string(),
                "set image".to_string(),
            ),
            (LAST_APPLIED.to_string(), "{}".to_string()),
            (REVISION.to_string(), "9".to_string()),
        ]
        .into(),
    );
    let mut created = BTreeMap::new();
    assert!(set_new_rs_annotations(&d, &mut created, 1, false));
    assert_eq!(created.get(REVISION).map(String::as_str), Some("1"));
    assert_eq!(
        created
            .get("kubernetes.io/change-cause")
            .map(String::as_str),
        Some("set image")
    );
    assert_eq!(created.get(DESIRED_REPLICAS).map(String::as_str), Some("3"));
    assert_eq!(created.get(MAX_REPLICAS).map(String::as_str), Some("4"));
    assert!(!created.contains_key(LAST_APPLIED));
    assert!(!created.contains_key(REVISION_HISTORY));

    // Rolled back to: the old revision goes to the history.
    assert!(set_new_rs_annotations(&d, &mut created, 3, true));
    assert_eq!(created.get(REVISION).map(String::as_str), Some("3"));
    assert_eq!(created.get(REVISION_HISTORY).map(String::as_str), Some("1"));
    assert!(set_new_rs_annotations(&d, &mut created, 5, true));
    assert_eq!(
        created.get(REVISION_HISTORY).map(String::as_str),
        Some("1,3")
    );
    // Nothing new: nothing changes.
    assert!(!set_new_rs_annotations(&d, &mut created, 5, true));
}

#[test]
fn the_new_replica_set_is_the_one_with_the_template_ignoring_the_hash() {
    let d = deployment(3, percent("25%"), percent("25%"));
    let mut same = replica_set("same", 1, 1, 5, &[]);
    let mut with_hash = template("nginx:1");
    with_hash
        .metadata
        .as_mut()
        .unwrap()
        .labels
        .as_mut()
        .unwrap()
        .insert(POD_TEMPLATE_HASH.into(), "abc".into());
    same.spec.as_mut().unwrap().template = Some(with_hash);
    let other = replica_set("other", 1, 1, 1, &[]);
    let found = find_new(&d, &[&other, &same]).map(|rs| rs.name_any_for_test());
    assert_eq!(found.as_deref(), Some("same"));
    // Nil and empty are the same, as upstream's semantic equality.
    let mut empty_env = template("nginx:1");
    empty_env.spec.as_mut().unwrap().containers[0].env = Some(Vec::new());
    assert!(equal_ignore_hash(&empty_env, &template("nginx:1")));
    assert!(!equal_ignore_hash(
        &template("nginx:2"),
        &template("nginx:1")
    ));
}

#[test]
fn template_hashes_look_like_upstream() {
    let hash = crate::history::template_hash(&template("nginx:1"), None);
    assert!(!hash.is_empty() && hash.len() <= 10);
    // Decimal digits map onto these characters in rand.SafeEncodeString.
    assert!(hash.chars().all(|c| "456789bcdf".contains(c)), "{hash}");
}

#[test]
fn status_counts_and_availability() {
    let d = deployment(4, IntOrString::Int(1), IntOrString::Int(1));
    let now = jiff::Timestamp::from_second(100).unwrap();
    let old = replica_set("old", 2, 2, 1, &[]);
    let new = replica_set("new", 3, 1, 2, &[]);
    let status = calculate_status(&[&old, &new], Some(&new), &d, now);
    assert_eq!(status.replicas, Some(5));
    assert_eq!(status.updated_replicas, Some(3));
    assert_eq!(status.available_replicas, Some(3));
    assert_eq!(status.unavailable_replicas, Some(2));
    let available = condition(&status, AVAILABLE).unwrap();
    assert_eq!(available.status, "True");
    assert_eq!(
        available.reason.as_deref(),
        Some(MINIMUM_REPLICAS_AVAILABLE)
    );
    assert!(!complete(&d, &status));

    let low = replica_set("new", 3, 2, 2, &[]);
    let status = calculate_status(&[&low], Some(&low), &d, now);
    let available = condition(&status, AVAILABLE).unwrap();
    assert_eq!(
        available.reason.as_deref(),
        Some(MINIMUM_REPLICAS_UNAVAILABLE)
    );
    assert_eq!(
        available.message.as_deref(),
        Some("Deployment does not have minimum availability.")
    );
}

#[test]
fn conditions_keep_their_transition_time_while_the_status_holds() {
    let mut status = DeploymentStatus::default();
    let t1 = jiff::Timestamp::from_second(1).unwrap();
    let t2 = jiff::Timestamp::from_second(2).unwrap();
    set_condition(
        &mut status,
        new_condition(PROGRESSING, "True", NEW_REPLICA_SET, "a".into(), t1),
    );
    set_condition(
        &mut status,
        new_condition(PROGRESSING, "True", REPLICA_SET_UPDATED, "b".into(), t2),
    );
    let current = condition(&status, PROGRESSING).unwrap();
    assert_eq!(current.reason.as_deref(), Some(REPLICA_SET_UPDATED));
    assert_eq!(current.last_transition_time, Some(Time(t1)));
    assert_eq!(current.last_update_time, Some(Time(t2)));
}

#[test]
fn deadlines_pass_only_without_progress() {
    let mut d = deployment(1, percent("25%"), percent("25%"));
    d.spec.as_mut().unwrap().progress_deadline_seconds = Some(10);
    let mut status = DeploymentStatus::default();
    let t0 = jiff::Timestamp::from_second(0).unwrap();
    set_condition(
        &mut status,
        new_condition(PROGRESSING, "True", REPLICA_SET_UPDATED, "x".into(), t0),
    );
    assert!(!timed_out(
        &d,
        &status,
        jiff::Timestamp::from_second(5).unwrap()
    ));
    assert!(timed_out(
        &d,
        &status,
        jiff::Timestamp::from_second(11).unwrap()
    ));
    d.spec.as_mut().unwrap().progress_deadline_seconds = Some(i32::MAX);
    assert!(!timed_out(
        &d,
        &status,
        jiff::Timestamp::from_second(11).unwrap()
    ));
}
