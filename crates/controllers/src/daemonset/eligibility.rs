//! Which nodes a DaemonSet's pods belong on, as upstream's
//! NodeShouldRunDaemonPod: the template's nodeName, nodeSelector and
//! required node affinity must admit the node, and its taints must be
//! tolerated by the template's tolerations plus the ones every daemon pod
//! gets. Also the per-node shaping of a daemon pod: those tolerations and a
//! required node affinity on the node's name.

use std::collections::BTreeMap;

use capstan_api::toleration::tolerates;
use k8s_openapi::api::core::v1::{
    Affinity, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod,
    PodSpec, Toleration,
};

/// Upstream's `metav1.ObjectNameField`: the one field node affinity can
/// select on.
const NODE_NAME_FIELD: &str = "metadata.name";

/// Whether a daemon pod should be created on a node, and whether one
/// already there may stay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub should_run: bool,
    pub should_continue_running: bool,
}

/// Upstream's NodeShouldRunDaemonPod for a template's pod spec.
pub fn placement(node: &Node, template: Option<&PodSpec>) -> Placement {
    const NOWHERE: Placement = Placement {
        should_run: false,
        should_continue_running: false,
    };
    let name = node.metadata.name.as_deref().unwrap_or("");
    let empty = PodSpec::default();
    let spec = template.unwrap_or(&empty);
    if spec
        .node_name
        .as_deref()
        .is_some_and(|n| !n.is_empty() && n != name)
    {
        return NOWHERE;
    }
    if !node_selector_admits(spec, node) {
        return NOWHERE;
    }
    let mut tolerations = spec.tolerations.clone().unwrap_or_default();
    add_daemon_tolerations(&mut tolerations, spec.host_network == Some(true));
    let taints = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_deref())
        .unwrap_or(&[]);
    let untolerated = |effects: &[&str]| {
        taints
            .iter()
            .filter(|t| effects.contains(&t.effect.as_str()))
            .any(|taint| !tolerations.iter().any(|t| tolerates(t, taint)))
    };
    if untolerated(&["NoSchedule", "NoExecute"]) {
        // A pod already there keeps running unless a NoExecute taint would
        // evict it anyway.
        return Placement {
            should_run: false,
            should_continue_running: !untolerated(&["NoExecute"]),
        };
    }
    Placement {
        should_run: true,
        should_continue_running: true,
    }
}

/// The tolerations upstream's AddOrUpdateDaemonPodTolerations gives every
/// daemon pod: node problems must not evict or keep out a daemon.
pub fn add_daemon_tolerations(tolerations: &mut Vec<Toleration>, host_network: bool) {
    let mut wanted = vec![
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ];
    if host_network {
        wanted.push(("node.kubernetes.io/network-unavailable", "NoSchedule"));
    }
    for (key, effect) in wanted {
        let toleration = Toleration {
            key: Some(key.into()),
            operator: Some("Exists".into()),
            effect: Some(effect.into()),
            ..Toleration::default()
        };
        // Upstream's AddOrUpdateTolerationInPodSpec: one with the same key,
        // operator, value and effect is replaced, else this is added.
        let same = |t: &Toleration| {
            t.key == toleration.key
                && t.operator.as_deref().unwrap_or("Equal") == "Exists"
                && t.value.as_deref().unwrap_or("").is_empty()
                && t.effect == toleration.effect
        };
        match tolerations.iter_mut().find(|t| same(t)) {
            Some(existing) => *existing = toleration,
            None => tolerations.push(toleration),
        }
    }
}

/// Whether the pod spec's nodeSelector and required node affinity admit
/// the node (upstream's GetRequiredNodeAffinity(pod).Match(node)).
pub fn node_selector_admits(spec: &PodSpec, node: &Node) -> bool {
    let empty = BTreeMap::new();
    let labels = node.metadata.labels.as_ref().unwrap_or(&empty);
    let by_selector = spec
        .node_selector
        .iter()
        .flatten()
        .all(|(key, value)| labels.get(key) == Some(value));
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    let name = node.metadata.name.as_deref().unwrap_or("");
    by_selector
        && required.is_none_or(|selector| {
            selector
                .node_selector_terms
                .iter()
                .any(|term| term_matches(term, labels, name))
        })
}

/// A term matches when it has at least one requirement and all hold; an
/// empty term matches no node, as upstream.
fn term_matches(term: &NodeSelectorTerm, labels: &BTreeMap<String, String>, name: &str) -> bool {
    let expressions = term.match_expressions.as_deref().unwrap_or(&[]);
    let fields = term.match_fields.as_deref().unwrap_or(&[]);
    if expressions.is_empty() && fields.is_empty() {
        return false;
    }
    expressions
        .iter()
        .all(|req| requirement_matches(req, labels.get(&req.key).map(String::as_str)))
        && fields.iter().all(|req| {
            let value = (req.key == NODE_NAME_FIELD).then_some(name);
            matches!(req.operator.as_str(), "In" | "NotIn") && requirement_matches(req, value)
        })
}

fn requirement_matches(req: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = req.values.as_deref().unwrap_or(&[]);
    let number = |text: &str| text.parse::<i64>().ok();
    match req.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|w| w == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|w| w == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(have), [bound]) = (value.and_then(number), values) else {
                return false;
            };
            let Some(bound) = number(bound) else {
                return false;
            };
            if req.operator == "Gt" {
                have > bound
            } else {
                have < bound
            }
        }
        _ => false,
    }
}

/// Upstream's ReplaceDaemonSetPodNodeNameNodeAffinity: the pod may only
/// be scheduled to `node`; other required terms are replaced (the node was
/// found to satisfy them already).
pub fn pin_to_node(affinity: Option<Affinity>, node: &str) -> Affinity {
    let selector = NodeSelector {
        node_selector_terms: vec![NodeSelectorTerm {
            match_fields: Some(vec![NodeSelectorRequirement {
                key: NODE_NAME_FIELD.into(),
                operator: "In".into(),
                values: Some(vec![node.to_owned()]),
            }]),
            ..NodeSelectorTerm::default()
        }],
    };
    let mut affinity = affinity.unwrap_or_default();
    let node_affinity = affinity
        .node_affinity
        .get_or_insert_with(NodeAffinity::default);
    node_affinity.required_during_scheduling_ignored_during_execution = Some(selector);
    affinity
}

/// The node a daemon pod is for: its nodeName once bound, else the node
/// its required affinity pins it to (upstream's GetTargetNodeName).
pub fn target_node(pod: &Pod) -> Option<&str> {
    let spec = pod.spec.as_ref()?;
    if let Some(name) = spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        return Some(name);
    }
    let terms = &spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    terms.iter().find_map(|term| {
        term.match_fields.iter().flatten().find_map(|req| {
            let values = req.values.as_deref().unwrap_or(&[]);
            match (req.key.as_str(), req.operator.as_str(), values) {
                (NODE_NAME_FIELD, "In", [one]) => Some(one.as_str()),
                _ => None,
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Taint;
    use k8s_openapi::api::core::v1::{NodeSpec, PodSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn node(name: &str, labels: &[(&str, &str)], taints: &[(&str, &str, &str)]) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                ..ObjectMeta::default()
            },
            spec: Some(NodeSpec {
                taints: Some(
                    taints
                        .iter()
                        .map(|(key, value, effect)| Taint {
                            key: key.to_string(),
                            value: (!value.is_empty()).then(|| value.to_string()),
                            effect: effect.to_string(),
                            ..Taint::default()
                        })
                        .collect(),
                ),
                ..NodeSpec::default()
            }),
            status: None,
        }
    }

    fn toleration(key: &str, operator: &str, value: &str, effect: &str) -> Toleration {
        Toleration {
            key: (!key.is_empty()).then(|| key.into()),
            operator: Some(operator.into()),
            value: (!value.is_empty()).then(|| value.into()),
            effect: (!effect.is_empty()).then(|| effect.into()),
            ..Toleration::default()
        }
    }

    const RUN: Placement = Placement {
        should_run: true,
        should_continue_running: true,
    };
    const KEEP_ONLY: Placement = Placement {
        should_run: false,
        should_continue_running: true,
    };
    const NEVER: Placement = Placement {
        should_run: false,
        should_continue_running: false,
    };

    #[test]
    fn untainted_nodes_run_daemons() {
        assert_eq!(placement(&node("a", &[], &[]), None), RUN);
    }

    #[test]
    fn no_schedule_taints_keep_new_pods_out_but_not_running_ones() {
        let tainted = node("a", &[], &[("dedicated", "gpu", "NoSchedule")]);
        assert_eq!(placement(&tainted, None), KEEP_ONLY);
        let tolerating = PodSpec {
            tolerations: Some(vec![toleration("dedicated", "Equal", "gpu", "NoSchedule")]),
            ..PodSpec::default()
        };
        assert_eq!(placement(&tainted, Some(&tolerating)), RUN);
        let wrong_value = PodSpec {
            tolerations: Some(vec![toleration("dedicated", "Equal", "cpu", "")]),
            ..PodSpec::default()
        };
        assert_eq!(placement(&tainted, Some(&wrong_value)), KEEP_ONLY);
    }

    #[test]
    fn no_execute_taints_evict_daemons() {
        let tainted = node("a", &[], &[("dedicated", "", "NoExecute")]);
        assert_eq!(placement(&tainted, None), NEVER);
        let everything = PodSpec {
            tolerations: Some(vec![toleration("", "Exists", "", "")]),
            ..PodSpec::default()
        };
        assert_eq!(placement(&tainted, Some(&everything)), RUN);
    }

    #[test]
    fn node_problem_taints_are_tolerated_by_default() {
        for (key, effect) in [
            ("node.kubernetes.io/not-ready", "NoExecute"),
            ("node.kubernetes.io/unreachable", "NoExecute"),
            ("node.kubernetes.io/unschedulable", "NoSchedule"),
            ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ] {
            assert_eq!(
                placement(&node("a", &[], &[(key, "", effect)]), None),
                RUN,
                "{key}"
            );
        }
        let network = node(
            "a",
            &[],
            &[("node.kubernetes.io/network-unavailable", "", "NoSchedule")],
        );
        assert_eq!(placement(&network, None), KEEP_ONLY);
        let host_network = PodSpec {
            host_network: Some(true),
            ..PodSpec::default()
        };
        assert_eq!(placement(&network, Some(&host_network)), RUN);
    }

    #[test]
    fn default_tolerations_replace_equal_ones_and_add_the_rest() {
        let mut tolerations = vec![Toleration {
            toleration_seconds: Some(300),
            ..toleration("node.kubernetes.io/not-ready", "Exists", "", "NoExecute")
        }];
        add_daemon_tolerations(&mut tolerations, false);
        assert_eq!(tolerations.len(), 6);
        assert_eq!(tolerations[0].toleration_seconds, None);
        add_daemon_tolerations(&mut tolerations, true);
        assert_eq!(tolerations.len(), 7);
    }

    #[test]
    fn node_selector_and_required_affinity_choose_nodes() {
        let ssd = node("a", &[("disk", "ssd"), ("zone", "3")], &[]);
        let hdd = node("b", &[("disk", "hdd")], &[]);
        let by_selector = PodSpec {
            node_selector: Some([("disk".to_string(), "ssd".to_string())].into()),
            ..PodSpec::default()
        };
        assert!(placement(&ssd, Some(&by_selector)).should_run);
        assert_eq!(placement(&hdd, Some(&by_selector)), NEVER);

        let requirement = |key: &str, operator: &str, values: &[&str]| NodeSelectorRequirement {
            key: key.into(),
            operator: operator.into(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        };
        let affinity = |terms: Vec<NodeSelectorTerm>| PodSpec {
            affinity: Some(Affinity {
                node_affinity: Some(NodeAffinity {
                    required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                        node_selector_terms: terms,
                    }),
                    ..NodeAffinity::default()
                }),
                ..Affinity::default()
            }),
            ..PodSpec::default()
        };
        let zone_above_2 = affinity(vec![NodeSelectorTerm {
            match_expressions: Some(vec![requirement("zone", "Gt", &["2"])]),
            ..NodeSelectorTerm::default()
        }]);
        assert!(placement(&ssd, Some(&zone_above_2)).should_run);
        assert!(!placement(&hdd, Some(&zone_above_2)).should_run);
        // Terms are ORed.
        let either = affinity(vec![
            NodeSelectorTerm {
                match_expressions: Some(vec![requirement("disk", "In", &["nvme"])]),
                ..NodeSelectorTerm::default()
            },
            NodeSelectorTerm {
                match_fields: Some(vec![requirement(NODE_NAME_FIELD, "In", &["b"])]),
                ..NodeSelectorTerm::default()
            },
        ]);
        assert!(!placement(&ssd, Some(&either)).should_run);
        assert!(placement(&hdd, Some(&either)).should_run);
        // An empty term selects nothing.
        assert!(!placement(&ssd, Some(&affinity(vec![NodeSelectorTerm::default()]))).should_run);
    }

    #[test]
    fn template_node_name_restricts_to_that_node() {
        let spec = PodSpec {
            node_name: Some("b".into()),
            ..PodSpec::default()
        };
        assert_eq!(placement(&node("a", &[], &[]), Some(&spec)), NEVER);
        assert_eq!(placement(&node("b", &[], &[]), Some(&spec)), RUN);
    }

    #[test]
    fn pods_are_pinned_to_their_node_and_found_there() {
        let affinity = pin_to_node(None, "sim-3");
        let pod = Pod {
            spec: Some(PodSpec {
                affinity: Some(affinity.clone()),
                ..PodSpec::default()
            }),
            ..Pod::default()
        };
        assert_eq!(target_node(&pod), Some("sim-3"));
        // Pinning again replaces the earlier node.
        let again = pin_to_node(Some(affinity), "sim-4");
        let terms = &again
            .node_affinity
            .unwrap()
            .required_during_scheduling_ignored_during_execution
            .unwrap()
            .node_selector_terms;
        assert_eq!(terms.len(), 1);
        let mut bound = pod.clone();
        bound.spec.as_mut().unwrap().node_name = Some("sim-1".into());
        assert_eq!(target_node(&bound), Some("sim-1"));
    }
}
