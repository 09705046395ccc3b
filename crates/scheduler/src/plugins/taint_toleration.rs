//! TaintToleration: NoSchedule and NoExecute taints keep out pods that do
//! not tolerate them; PreferNoSchedule taints only lower a node's score.

use k8s_openapi::api::core::v1::{Taint, Toleration};

pub use capstan_api::toleration::tolerates;

use crate::framework::Status;
use crate::snapshot::NodeInfo;

pub const NAME: &str = "TaintToleration";

/// The first NoSchedule or NoExecute taint no toleration tolerates.
pub fn first_untolerated<'a>(taints: &'a [Taint], tolerations: &[Toleration]) -> Option<&'a Taint> {
    taints.iter().find(|taint| {
        matches!(taint.effect.as_str(), "NoSchedule" | "NoExecute")
            && !tolerations.iter().any(|t| tolerates(t, taint))
    })
}

pub fn filter(tolerations: &[Toleration], node: &NodeInfo) -> Result<(), Status> {
    match first_untolerated(&node.taints, tolerations) {
        None => Ok(()),
        Some(taint) => Err(Status::unresolvable(
            NAME,
            format!(
                "node(s) had untolerated taint {{{}: {}}}",
                taint.key,
                taint.value.as_deref().unwrap_or_default()
            ),
        )),
    }
}

/// The tolerations that count for scoring: those with no effect or
/// PreferNoSchedule.
pub fn prefer_no_schedule_tolerations(tolerations: &[Toleration]) -> Vec<Toleration> {
    tolerations
        .iter()
        .filter(|t| {
            matches!(
                t.effect.as_deref().unwrap_or_default(),
                "" | "PreferNoSchedule"
            )
        })
        .cloned()
        .collect()
}

/// Raw score: how many PreferNoSchedule taints the pod does not tolerate
/// (normalized in reverse: fewer is better).
pub fn score(scoring_tolerations: &[Toleration], node: &NodeInfo) -> i64 {
    node.taints
        .iter()
        .filter(|taint| taint.effect == "PreferNoSchedule")
        .filter(|taint| !scoring_tolerations.iter().any(|t| tolerates(t, taint)))
        .count() as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn taint(key: &str, value: &str, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            value: Some(value.into()),
            effect: effect.into(),
            ..Taint::default()
        }
    }

    fn toleration(v: serde_json::Value) -> Toleration {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn equal_needs_the_same_key_value_and_effect() {
        let t = taint("dedicated", "gpu", "NoSchedule");
        assert!(tolerates(
            &toleration(
                json!({"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"})
            ),
            &t
        ));
        assert!(
            tolerates(&toleration(json!({"key": "dedicated", "value": "gpu"})), &t),
            "default operator is Equal, empty effect any"
        );
        assert!(!tolerates(
            &toleration(json!({"key": "dedicated", "value": "cpu"})),
            &t
        ));
        assert!(!tolerates(
            &toleration(json!({"key": "dedicated", "value": "gpu", "effect": "NoExecute"})),
            &t
        ));
        assert!(!tolerates(
            &toleration(json!({"key": "other", "value": "gpu"})),
            &t
        ));
    }

    #[test]
    fn exists_ignores_the_value_and_an_empty_key_matches_every_taint() {
        let t = taint("dedicated", "gpu", "NoExecute");
        assert!(tolerates(
            &toleration(json!({"key": "dedicated", "operator": "Exists"})),
            &t
        ));
        assert!(tolerates(&toleration(json!({"operator": "Exists"})), &t));
        assert!(!tolerates(
            &toleration(json!({"operator": "Exists", "effect": "NoSchedule"})),
            &t
        ));
        assert!(!tolerates(
            &toleration(json!({"key": "dedicated", "operator": "Bogus"})),
            &t
        ));
    }

    #[test]
    fn prefer_no_schedule_taints_do_not_filter() {
        let taints = vec![taint("a", "b", "PreferNoSchedule")];
        assert!(first_untolerated(&taints, &[]).is_none());
        let taints = vec![
            taint("a", "b", "PreferNoSchedule"),
            taint("dedicated", "gpu", "NoExecute"),
        ];
        assert_eq!(first_untolerated(&taints, &[]).unwrap().key, "dedicated");
    }

    #[test]
    fn the_filter_reason_names_the_taint_as_upstream() {
        let mut node = NodeInfo::new(&Default::default());
        node.taints = vec![taint("dedicated", "gpu", "NoSchedule")];
        let status = filter(&[], &node).unwrap_err();
        assert_eq!(
            status.reasons,
            vec!["node(s) had untolerated taint {dedicated: gpu}"]
        );
        node.taints = vec![Taint {
            key: "node-role.kubernetes.io/control-plane".into(),
            effect: "NoSchedule".into(),
            ..Taint::default()
        }];
        let status = filter(&[], &node).unwrap_err();
        assert_eq!(
            status.reasons,
            vec!["node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"]
        );
    }

    #[test]
    fn score_counts_untolerated_prefer_no_schedule_taints() {
        let mut node = NodeInfo::new(&Default::default());
        node.taints = vec![
            taint("a", "1", "PreferNoSchedule"),
            taint("b", "1", "PreferNoSchedule"),
        ];
        assert_eq!(score(&[], &node), 2);
        let tolerations = prefer_no_schedule_tolerations(&[
            toleration(json!({"key": "a", "operator": "Exists", "effect": "PreferNoSchedule"})),
            toleration(json!({"key": "b", "operator": "Exists", "effect": "NoSchedule"})),
        ]);
        assert_eq!(
            score(&tolerations, &node),
            1,
            "a NoSchedule toleration does not count"
        );
    }
}
