//! NodeAffinity: `nodeSelector` and required node affinity filter; the
//! weights of matching preferred terms score.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod, PreferredSchedulingTerm,
};

use crate::framework::Status;
use crate::snapshot::NodeInfo;

pub const NAME: &str = "NodeAffinity";
pub const ERR_REASON: &str = "node(s) didn't match Pod's node affinity/selector";

/// Upstream's `RequiredNodeAffinity`: the pod's nodeSelector and required
/// node affinity, both of which a node must satisfy.
#[derive(Debug, Default)]
pub struct RequiredNodeAffinity {
    node_selector: Option<BTreeMap<String, String>>,
    required: Option<NodeSelector>,
}

impl RequiredNodeAffinity {
    pub fn of(pod: &Pod) -> RequiredNodeAffinity {
        let Some(spec) = pod.spec.as_ref() else {
            return RequiredNodeAffinity::default();
        };
        RequiredNodeAffinity {
            node_selector: spec.node_selector.clone().filter(|s| !s.is_empty()),
            required: spec
                .affinity
                .as_ref()
                .and_then(|a| a.node_affinity.as_ref())
                .and_then(|a| {
                    a.required_during_scheduling_ignored_during_execution
                        .clone()
                }),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.node_selector.is_none() && self.required.is_none()
    }

    pub fn matches(&self, node: &NodeInfo) -> bool {
        if let Some(selector) = &self.node_selector {
            if !selector.iter().all(|(k, v)| node.labels.get(k) == Some(v)) {
                return false;
            }
        }
        match &self.required {
            Some(required) => node_selector_matches(required, &node.name, &node.labels),
            None => true,
        }
    }
}

/// Terms are ORed; an empty list of terms matches no node.
pub fn node_selector_matches(
    selector: &NodeSelector,
    node_name: &str,
    labels: &BTreeMap<String, String>,
) -> bool {
    selector
        .node_selector_terms
        .iter()
        .any(|term| term_matches(term, node_name, labels))
}

/// Expressions and fields are ANDed; a term with neither matches nothing.
pub fn term_matches(
    term: &NodeSelectorTerm,
    node_name: &str,
    labels: &BTreeMap<String, String>,
) -> bool {
    let expressions = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if expressions.is_empty() && fields.is_empty() {
        return false;
    }
    expressions
        .iter()
        .all(|r| requirement_matches(r, labels.get(&r.key).map(String::as_str)))
        && fields.iter().all(|r| {
            // Only `metadata.name` is a node field selector, with In/NotIn.
            r.key == "metadata.name"
                && matches!(r.operator.as_str(), "In" | "NotIn")
                && requirement_matches(r, Some(node_name))
        })
}

/// One node selector requirement against a label's value (None: absent).
pub fn requirement_matches(requirement: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = requirement.values.as_deref().unwrap_or_default();
    let contains = |v: &str| values.iter().any(|x| x == v);
    match requirement.operator.as_str() {
        "In" => !values.is_empty() && value.is_some_and(contains),
        "NotIn" => !values.is_empty() && !value.is_some_and(contains),
        "Exists" => values.is_empty() && value.is_some(),
        "DoesNotExist" => values.is_empty() && value.is_none(),
        "Gt" | "Lt" => {
            let ([bound], Some(value)) = (values, value) else {
                return false;
            };
            let (Ok(bound), Ok(value)) = (bound.parse::<i64>(), value.parse::<i64>()) else {
                return false;
            };
            if requirement.operator == "Gt" {
                value > bound
            } else {
                value < bound
            }
        }
        _ => false,
    }
}

pub fn filter(required: &RequiredNodeAffinity, node: &NodeInfo) -> Result<(), Status> {
    if required.matches(node) {
        Ok(())
    } else {
        Err(Status::unresolvable(NAME, ERR_REASON))
    }
}

/// The pod's preferred terms (empty: the plugin does not score this pod).
pub fn preferred_terms(pod: &Pod) -> Vec<PreferredSchedulingTerm> {
    pod.spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.preferred_during_scheduling_ignored_during_execution
                .clone()
        })
        .unwrap_or_default()
}

/// Raw score: the sum of the weights of matching preferred terms.
pub fn score(preferred: &[PreferredSchedulingTerm], node: &NodeInfo) -> i64 {
    preferred
        .iter()
        .filter(|t| t.weight != 0 && term_matches(&t.preference, &node.name, &node.labels))
        .map(|t| i64::from(t.weight))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(labels: serde_json::Value) -> NodeInfo {
        NodeInfo::new(
            &serde_json::from_value(json!({"metadata": {"name": "n1", "labels": labels}})).unwrap(),
        )
    }

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": spec})).unwrap()
    }

    fn required(expressions: serde_json::Value) -> RequiredNodeAffinity {
        RequiredNodeAffinity::of(&pod(
            json!({"containers": [], "affinity": {"nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": expressions}]}
            }}}),
        ))
    }

    #[test]
    fn node_selector_needs_every_label() {
        let r = RequiredNodeAffinity::of(&pod(
            json!({"containers": [], "nodeSelector": {"disk": "ssd", "zone": "a"}}),
        ));
        assert!(r.matches(&node(json!({"disk": "ssd", "zone": "a", "x": "y"}))));
        assert!(!r.matches(&node(json!({"disk": "ssd"}))));
        assert!(!r.matches(&node(json!({"disk": "hdd", "zone": "a"}))));
    }

    #[test]
    fn operators_behave_as_upstream() {
        let n = node(json!({"zone": "a", "cores": "8"}));
        let cases = [
            (
                json!([{"key": "zone", "operator": "In", "values": ["a", "b"]}]),
                true,
            ),
            (
                json!([{"key": "zone", "operator": "In", "values": ["b"]}]),
                false,
            ),
            (
                json!([{"key": "zone", "operator": "NotIn", "values": ["b"]}]),
                true,
            ),
            (
                json!([{"key": "zone", "operator": "NotIn", "values": ["a"]}]),
                false,
            ),
            (
                json!([{"key": "absent", "operator": "NotIn", "values": ["a"]}]),
                true,
            ),
            (json!([{"key": "zone", "operator": "Exists"}]), true),
            (json!([{"key": "absent", "operator": "Exists"}]), false),
            (json!([{"key": "absent", "operator": "DoesNotExist"}]), true),
            (json!([{"key": "zone", "operator": "DoesNotExist"}]), false),
            (
                json!([{"key": "cores", "operator": "Gt", "values": ["4"]}]),
                true,
            ),
            (
                json!([{"key": "cores", "operator": "Gt", "values": ["8"]}]),
                false,
            ),
            (
                json!([{"key": "cores", "operator": "Lt", "values": ["16"]}]),
                true,
            ),
            (
                json!([{"key": "zone", "operator": "Lt", "values": ["16"]}]),
                false,
            ),
            (
                json!([{"key": "absent", "operator": "Gt", "values": ["1"]}]),
                false,
            ),
            (
                json!([{"key": "zone", "operator": "In", "values": ["a"]}, {"key": "cores", "operator": "Lt", "values": ["4"]}]),
                false,
            ),
        ];
        for (expressions, expected) in cases {
            assert_eq!(
                required(expressions.clone()).matches(&n),
                expected,
                "{expressions}"
            );
        }
    }

    #[test]
    fn terms_are_ored_and_an_empty_term_matches_nothing() {
        let n = node(json!({"zone": "a"}));
        let r = RequiredNodeAffinity::of(&pod(
            json!({"containers": [], "affinity": {"nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z"]}]},
                    {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]},
                ]}
            }}}),
        ));
        assert!(r.matches(&n));
        let empty = RequiredNodeAffinity::of(&pod(
            json!({"containers": [], "affinity": {"nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{}]}
            }}}),
        ));
        assert!(!empty.matches(&n));
        assert_eq!(filter(&empty, &n).unwrap_err().reasons, vec![ERR_REASON]);
    }

    #[test]
    fn preferred_terms_add_their_weights() {
        let p = pod(json!({"containers": [], "affinity": {"nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 5, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}},
                {"weight": 20, "preference": {"matchExpressions": [{"key": "disk", "operator": "Exists"}]}},
            ]
        }}}));
        let terms = preferred_terms(&p);
        assert_eq!(score(&terms, &node(json!({"zone": "a"}))), 5);
        assert_eq!(
            score(&terms, &node(json!({"zone": "a", "disk": "ssd"}))),
            25
        );
        assert_eq!(score(&terms, &node(json!({}))), 0);
    }
}
