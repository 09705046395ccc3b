use super::*;
use k8s_openapi::api::core::v1::{PodCondition, PodStatus};
use k8s_openapi::api::policy::v1::PodDisruptionBudgetSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

fn budget(
    min_available: Option<IntOrString>,
    max_unavailable: Option<IntOrString>,
) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: ObjectMeta {
            name: Some("web".into()),
            generation: Some(2),
            ..ObjectMeta::default()
        },
        spec: Some(PodDisruptionBudgetSpec {
            min_available,
            max_unavailable,
            ..PodDisruptionBudgetSpec::default()
        }),
        status: None,
    }
}

fn pod(name: &str, ready: bool) -> Arc<Pod> {
    Arc::new(Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        status: Some(PodStatus {
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: if ready { "True" } else { "False" }.into(),
                ..PodCondition::default()
            }]),
            ..PodStatus::default()
        }),
        ..Pod::default()
    })
}

fn at(second: i64) -> Timestamp {
    Timestamp::from_second(second).unwrap()
}

fn percent(text: &str) -> IntOrString {
    IntOrString::String(text.into())
}

#[test]
fn percentages_round_up() {
    assert_eq!(scaled_value(&percent("50%"), 3), Ok(2));
    assert_eq!(scaled_value(&percent("34%"), 3), Ok(2));
    assert_eq!(scaled_value(&percent("33%"), 3), Ok(1));
    assert_eq!(scaled_value(&percent("1%"), 1), Ok(1));
    assert_eq!(scaled_value(&percent("0%"), 10), Ok(0));
    assert_eq!(scaled_value(&percent("100%"), 7), Ok(7));
    assert_eq!(scaled_value(&IntOrString::Int(2), 7), Ok(2));
    assert!(scaled_value(&percent("2"), 7)
        .unwrap_err()
        .contains("is not a percentage"));
    assert!(scaled_value(&percent("x%"), 7).is_err());
}

#[test]
fn int_min_available_counts_pods() {
    let b = budget(Some(IntOrString::Int(2)), None);
    assert!(!needs_scale(&b));
    assert_eq!(expected_and_desired(&b, 3, None), Ok((3, 2)));
}

#[test]
fn percentage_min_available_uses_the_controllers_scale() {
    let b = budget(Some(percent("50%")), None);
    assert!(needs_scale(&b));
    // Five replicas wanted, three pods exist: 50% of 5 rounds up to 3.
    assert_eq!(expected_and_desired(&b, 3, Some(5)), Ok((5, 3)));
}

#[test]
fn max_unavailable_subtracts_from_the_scale() {
    let b = budget(None, Some(IntOrString::Int(1)));
    assert_eq!(expected_and_desired(&b, 3, Some(3)), Ok((3, 2)));
    // 25% of 3 rounds up to 1 unavailable.
    let b = budget(None, Some(percent("25%")));
    assert_eq!(expected_and_desired(&b, 3, Some(3)), Ok((3, 2)));
    // Never below zero.
    let b = budget(None, Some(IntOrString::Int(5)));
    assert_eq!(expected_and_desired(&b, 3, Some(3)), Ok((3, 0)));
}

#[test]
fn min_available_two_of_three_allows_one() {
    let b = budget(Some(IntOrString::Int(2)), None);
    let pods = [pod("a", true), pod("b", true), pod("c", true)];
    let counts = Counts {
        current_healthy: count_healthy(&pods, &BTreeMap::new(), at(1000)),
        desired_healthy: 2,
        expected_pods: 3,
        disrupted_pods: BTreeMap::new(),
    };
    let status = new_status(&b, counts, at(1000)).unwrap();
    assert_eq!(
        (
            status.current_healthy,
            status.desired_healthy,
            status.expected_pods,
            status.disruptions_allowed
        ),
        (3, 2, 3, 1)
    );
    assert_eq!(status.observed_generation, Some(2));
    let condition = &status.conditions.as_ref().unwrap()[0];
    assert_eq!(
        (
            condition.type_.as_str(),
            condition.status.as_str(),
            condition.reason.as_str()
        ),
        (DISRUPTION_ALLOWED, "True", SUFFICIENT_PODS)
    );
}

#[test]
fn an_unchanged_status_is_not_rewritten_and_transitions_keep_time() {
    let mut b = budget(Some(IntOrString::Int(2)), None);
    let counts = |healthy| Counts {
        current_healthy: healthy,
        desired_healthy: 2,
        expected_pods: 3,
        disrupted_pods: BTreeMap::new(),
    };
    b.status = new_status(&b, counts(3), at(1000));
    assert!(new_status(&b, counts(3), at(2000)).is_none());
    let lower = new_status(&b, counts(2), at(3000)).unwrap();
    assert_eq!(lower.disruptions_allowed, 0);
    let condition = &lower.conditions.as_ref().unwrap()[0];
    assert_eq!(
        (condition.status.as_str(), condition.reason.as_str()),
        ("False", INSUFFICIENT_PODS)
    );
    assert_eq!(condition.last_transition_time.0, at(3000));
}

#[test]
fn no_expected_pods_allow_nothing() {
    let b = budget(Some(IntOrString::Int(0)), None);
    let counts = Counts {
        current_healthy: 0,
        desired_healthy: 0,
        expected_pods: 0,
        disrupted_pods: BTreeMap::new(),
    };
    assert_eq!(
        new_status(&b, counts, at(0)).unwrap().disruptions_allowed,
        0
    );
}

#[test]
fn evicted_pods_count_unhealthy_until_overdue() {
    let pods = [pod("a", true), pod("b", true), pod("c", true)];
    let recorded = BTreeMap::from([
        ("a".to_string(), Time(at(1000))),
        ("b".to_string(), Time(at(700))),
        ("gone".to_string(), Time(at(1000))),
    ]);
    let (kept, recheck, overdue) = still_disrupted(&pods, Some(&recorded), at(1010));
    assert_eq!(kept.keys().collect::<Vec<_>>(), ["a"]);
    assert_eq!(recheck, Some(at(1120)));
    assert_eq!(overdue, ["b"]);
    assert_eq!(count_healthy(&pods, &kept, at(1010)), 2);
}

#[test]
fn fail_safe_allows_nothing_and_says_why() {
    let mut b = budget(Some(IntOrString::Int(1)), None);
    b.status = Some(PodDisruptionBudgetStatus {
        disruptions_allowed: 2,
        observed_generation: Some(1),
        ..PodDisruptionBudgetStatus::default()
    });
    let status = fail_safe_status(&b, "found no controllers for pod \"x\"", at(5));
    assert_eq!(status.disruptions_allowed, 0);
    let condition = &status.conditions.as_ref().unwrap()[0];
    assert_eq!(
        (condition.reason.as_str(), condition.observed_generation),
        (SYNC_FAILED, Some(1))
    );
    assert_eq!(condition.message, "found no controllers for pod \"x\"");
}
