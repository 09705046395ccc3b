//! Pod affinity terms parsed once per pod (upstream's `AffinityTerm`):
//! which pods a term selects, in which namespaces, over which topology.

use std::collections::{BTreeMap, BTreeSet};

use capstan_api::selector::label::Selector;
use k8s_openapi::api::core::v1::{Pod, PodAffinityTerm, WeightedPodAffinityTerm};

/// One `podAffinityTerm`.
#[derive(Debug)]
pub struct AffinityTerm {
    /// Explicit namespaces, or the pod's own when neither these nor a
    /// namespace selector are given.
    pub namespaces: BTreeSet<String>,
    /// `None` selects no namespace (upstream's nil selector), `{}` all.
    pub namespace_selector: Selector,
    pub selector: Selector,
    pub topology_key: String,
}

impl AffinityTerm {
    fn new(
        namespace: &str,
        term: &PodAffinityTerm,
        pod_labels: &BTreeMap<String, String>,
    ) -> AffinityTerm {
        let mut namespaces: BTreeSet<String> = term.namespaces.iter().flatten().cloned().collect();
        if namespaces.is_empty() && term.namespace_selector.is_none() {
            namespaces.insert(namespace.to_string());
        }
        // A selector that does not parse selects nothing rather than
        // everything: a typo must not pull or push every pod.
        let mut selector = Selector::from_label_selector(term.label_selector.as_ref())
            .unwrap_or_else(|_| Selector::nothing());
        // matchLabelKeys: the incoming pod's values for those keys join the
        // selector, as upstream merges them at admission.
        let extra: Vec<String> = term
            .match_label_keys
            .iter()
            .flatten()
            .filter_map(|key| pod_labels.get(key).map(|v| format!("{key}={v}")))
            .chain(
                term.mismatch_label_keys
                    .iter()
                    .flatten()
                    .filter_map(|key| pod_labels.get(key).map(|v| format!("{key}!={v}"))),
            )
            .collect();
        if !extra.is_empty() && !selector.requirements().is_empty() {
            let mut text: Vec<String> = selector
                .requirements()
                .iter()
                .map(|r| r.to_string())
                .collect();
            text.extend(extra);
            selector = Selector::parse(&text.join(",")).unwrap_or_else(|_| Selector::nothing());
        }
        AffinityTerm {
            namespaces,
            namespace_selector: Selector::from_label_selector(term.namespace_selector.as_ref())
                .unwrap_or_else(|_| Selector::nothing()),
            selector,
            topology_key: term.topology_key.clone(),
        }
    }

    /// Upstream's `AffinityTerm.Matches`: the pod is in one of the term's
    /// namespaces and carries labels the term selects.
    pub fn matches(
        &self,
        namespace: &str,
        labels: &BTreeMap<String, String>,
        namespace_labels: Option<&BTreeMap<String, String>>,
    ) -> bool {
        let in_namespace = self.namespaces.contains(namespace)
            || namespace_labels.is_some_and(|l| self.namespace_selector.matches(l));
        in_namespace && self.selector.matches(labels)
    }
}

/// A preferred term with its weight.
#[derive(Debug)]
pub struct WeightedTerm {
    pub term: AffinityTerm,
    pub weight: i64,
}

/// All of a pod's pod-affinity terms.
#[derive(Debug, Default)]
pub struct PodAffinityTerms {
    pub required_affinity: Vec<AffinityTerm>,
    pub required_anti_affinity: Vec<AffinityTerm>,
    pub preferred_affinity: Vec<WeightedTerm>,
    pub preferred_anti_affinity: Vec<WeightedTerm>,
}

impl PodAffinityTerms {
    /// None for a pod without pod affinity or anti-affinity.
    pub fn of(pod: &Pod) -> Option<PodAffinityTerms> {
        let affinity = pod.spec.as_ref()?.affinity.as_ref()?;
        let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
        let empty = BTreeMap::new();
        let labels = pod.metadata.labels.as_ref().unwrap_or(&empty);
        let required = |terms: Option<&Vec<PodAffinityTerm>>| -> Vec<AffinityTerm> {
            terms
                .into_iter()
                .flatten()
                .map(|t| AffinityTerm::new(namespace, t, labels))
                .collect()
        };
        let preferred = |terms: Option<&Vec<WeightedPodAffinityTerm>>| -> Vec<WeightedTerm> {
            terms
                .into_iter()
                .flatten()
                .map(|t| WeightedTerm {
                    term: AffinityTerm::new(namespace, &t.pod_affinity_term, labels),
                    weight: i64::from(t.weight),
                })
                .collect()
        };
        let pa = affinity.pod_affinity.as_ref();
        let anti = affinity.pod_anti_affinity.as_ref();
        let terms = PodAffinityTerms {
            required_affinity: required(pa.and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            required_anti_affinity: required(anti.and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            preferred_affinity: preferred(pa.and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            preferred_anti_affinity: preferred(anti.and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
        };
        let none = terms.required_affinity.is_empty()
            && terms.required_anti_affinity.is_empty()
            && terms.preferred_affinity.is_empty()
            && terms.preferred_anti_affinity.is_empty();
        (!none).then_some(terms)
    }
}
