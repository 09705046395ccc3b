//! The stable identity of a StatefulSet's pods (upstream's
//! stateful_set_utils.go): names `<set>-<ordinal>`, the pod-name and
//! pod-index labels, hostname and subdomain, and one PersistentVolumeClaim
//! per volumeClaimTemplate named `<claim>-<set>-<ordinal>`.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, Pod, PodTemplateSpec, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::ResourceExt;

use crate::history::POD_REVISION_LABEL;
use crate::pods::{controller_ref, from_template};

/// The label with a pod's own name, as upstream's StatefulSetPodNameLabel.
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";

/// The label with a pod's ordinal, as upstream's PodIndexLabel.
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

/// The first ordinal (spec.ordinals.start, default 0).
pub fn start_ordinal(set: &StatefulSet) -> i32 {
    set.spec
        .as_ref()
        .and_then(|s| s.ordinals.as_ref())
        .and_then(|o| o.start)
        .unwrap_or(0)
}

/// spec.replicas, default 1.
pub fn replicas(set: &StatefulSet) -> i32 {
    set.spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1)
        .max(0)
}

/// The ordinals the set should have pods for: `start .. start+replicas`.
pub fn wanted_ordinals(set: &StatefulSet) -> std::ops::Range<i32> {
    let start = start_ordinal(set);
    start..start.saturating_add(replicas(set))
}

/// `<set>-<ordinal>`.
pub fn pod_name(set_name: &str, ordinal: i32) -> String {
    format!("{set_name}-{ordinal}")
}

/// The parent name and ordinal a pod name encodes (upstream's
/// getParentNameAndOrdinal: `(.*)-([0-9]+)$`).
pub fn parent_and_ordinal(name: &str) -> Option<(&str, i32)> {
    let (parent, ordinal) = name.rsplit_once('-')?;
    if ordinal.is_empty() || !ordinal.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((parent, ordinal.parse().ok()?))
}

/// The ordinal of a pod of `set`, if its name makes it one
/// (upstream's isMemberOf).
pub fn ordinal_of(set_name: &str, pod: &Pod) -> Option<i32> {
    let name = pod.metadata.name.as_deref()?;
    match parent_and_ordinal(name) {
        Some((parent, ordinal)) if parent == set_name => Some(ordinal),
        _ => None,
    }
}

/// `<claim>-<set>-<ordinal>`.
pub fn claim_name(template_name: &str, set_name: &str, ordinal: i32) -> String {
    format!("{template_name}-{set_name}-{ordinal}")
}

/// The claims the pod with `ordinal` uses, one per volumeClaimTemplate,
/// labelled with the set's selector labels (upstream's
/// getPersistentVolumeClaims).
pub fn claims(set: &StatefulSet, ordinal: i32) -> Vec<PersistentVolumeClaim> {
    let Some(spec) = set.spec.as_ref() else {
        return Vec::new();
    };
    let set_name = set.name_any();
    let selector_labels = spec.selector.match_labels.clone().unwrap_or_default();
    spec.volume_claim_templates
        .iter()
        .flatten()
        .map(|template| {
            let mut claim = template.clone();
            let template_name = template.metadata.name.clone().unwrap_or_default();
            claim.metadata.name = Some(claim_name(&template_name, &set_name, ordinal));
            claim.metadata.namespace = set.namespace();
            let labels = claim.metadata.labels.get_or_insert_with(BTreeMap::new);
            labels.extend(selector_labels.clone());
            claim.metadata.owner_references = None;
            claim.metadata.resource_version = None;
            claim.metadata.uid = None;
            claim.status = None;
            claim
        })
        .collect()
}

/// A pod for `ordinal` from `template` at revision `revision` (upstream's
/// newVersionedStatefulSetPod, with the template of that revision).
pub fn new_pod(set: &StatefulSet, template: &PodTemplateSpec, revision: &str, ordinal: i32) -> Pod {
    let set_name = set.name_any();
    let name = pod_name(&set_name, ordinal);
    let mut pod = from_template(
        template,
        controller_ref(set),
        &set.namespace().unwrap_or_default(),
        Some(name.clone()),
        &set_name,
    );
    let labels = pod.metadata.labels.get_or_insert_with(BTreeMap::new);
    labels.insert(POD_NAME_LABEL.into(), name.clone());
    labels.insert(POD_INDEX_LABEL.into(), ordinal.to_string());
    labels.insert(POD_REVISION_LABEL.into(), revision.into());
    let service = set
        .spec
        .as_ref()
        .and_then(|s| s.service_name.clone())
        .unwrap_or_default();
    let spec = pod.spec.get_or_insert_with(Default::default);
    spec.hostname = Some(name);
    spec.subdomain = (!service.is_empty()).then_some(service);
    // Claims first, then the template's other volumes (a template volume
    // named like a claim template is replaced by the claim).
    let claim_volumes: Vec<Volume> = set
        .spec
        .as_ref()
        .and_then(|s| s.volume_claim_templates.as_ref())
        .into_iter()
        .flatten()
        .map(|template| {
            let template_name = template.metadata.name.clone().unwrap_or_default();
            Volume {
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: claim_name(&template_name, &set_name, ordinal),
                    read_only: None,
                }),
                name: template_name,
                ..Volume::default()
            }
        })
        .collect();
    let others: Vec<Volume> = spec
        .volumes
        .take()
        .unwrap_or_default()
        .into_iter()
        .filter(|v| !claim_volumes.iter().any(|c| c.name == v.name))
        .collect();
    let volumes: Vec<Volume> = claim_volumes.into_iter().chain(others).collect();
    spec.volumes = (!volumes.is_empty()).then_some(volumes);
    pod
}

/// Labels a pod lacks for its identity (upstream's identityMatches and
/// updateIdentity); empty when it has them.
pub fn missing_identity_labels(pod: &Pod, ordinal: i32) -> BTreeMap<String, String> {
    let name = pod.name_any();
    let wanted = [
        (POD_NAME_LABEL, name),
        (POD_INDEX_LABEL, ordinal.to_string()),
    ];
    let labels = pod.labels();
    wanted
        .into_iter()
        .filter(|(key, value)| labels.get(*key) != Some(value))
        .map(|(key, value)| (key.to_owned(), value))
        .collect()
}

/// The revision a pod was made from.
pub fn revision_of(pod: &Pod) -> &str {
    pod.labels()
        .get(POD_REVISION_LABEL)
        .map(String::as_str)
        .unwrap_or("")
}

/// A (non-controller) owner reference, as set on claims for the
/// persistentVolumeClaimRetentionPolicy.
pub fn owner_reference(api_version: &str, kind: &str, name: &str, uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: api_version.into(),
        kind: kind.into(),
        name: name.into(),
        uid: uid.into(),
        ..OwnerReference::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{StatefulSetOrdinals, StatefulSetSpec};
    use k8s_openapi::api::core::v1::PersistentVolumeClaimSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

    fn set(replicas: i32, start: Option<i32>) -> StatefulSet {
        StatefulSet {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("default".into()),
                uid: Some("u1".into()),
                ..ObjectMeta::default()
            },
            spec: Some(StatefulSetSpec {
                replicas: Some(replicas),
                ordinals: start.map(|start| StatefulSetOrdinals { start: Some(start) }),
                service_name: Some("nginx".into()),
                selector: LabelSelector {
                    match_labels: Some([("app".into(), "web".into())].into()),
                    ..LabelSelector::default()
                },
                volume_claim_templates: Some(vec![PersistentVolumeClaim {
                    metadata: ObjectMeta {
                        name: Some("www".into()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(PersistentVolumeClaimSpec::default()),
                    status: None,
                }]),
                ..StatefulSetSpec::default()
            }),
            status: None,
        }
    }

    #[test]
    fn ordinals_start_where_asked() {
        assert_eq!(wanted_ordinals(&set(3, None)), 0..3);
        assert_eq!(wanted_ordinals(&set(2, Some(5))), 5..7);
        assert_eq!(wanted_ordinals(&set(0, Some(5))), 5..5);
    }

    #[test]
    fn names_parse_back_to_parent_and_ordinal() {
        assert_eq!(parent_and_ordinal("web-0"), Some(("web", 0)));
        assert_eq!(parent_and_ordinal("my-web-12"), Some(("my-web", 12)));
        assert_eq!(parent_and_ordinal("web-x"), None);
        assert_eq!(parent_and_ordinal("web-"), None);
        assert_eq!(parent_and_ordinal("web"), None);
        let pod = |name: &str| Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            ..Pod::default()
        };
        assert_eq!(ordinal_of("web", &pod("web-2")), Some(2));
        assert_eq!(ordinal_of("web", &pod("webby-2")), None);
    }

    #[test]
    fn pods_carry_identity_revision_and_claims() {
        let set = set(3, None);
        let pod = new_pod(&set, &PodTemplateSpec::default(), "web-abc", 1);
        assert_eq!(pod.metadata.name.as_deref(), Some("web-1"));
        let labels = pod.metadata.labels.clone().unwrap();
        assert_eq!(labels[POD_NAME_LABEL], "web-1");
        assert_eq!(labels[POD_INDEX_LABEL], "1");
        assert_eq!(labels[POD_REVISION_LABEL], "web-abc");
        let spec = pod.spec.clone().unwrap();
        assert_eq!(spec.hostname.as_deref(), Some("web-1"));
        assert_eq!(spec.subdomain.as_deref(), Some("nginx"));
        let volume = &spec.volumes.unwrap()[0];
        assert_eq!(volume.name, "www");
        assert_eq!(
            volume.persistent_volume_claim.as_ref().unwrap().claim_name,
            "www-web-1"
        );
        assert!(missing_identity_labels(&pod, 1).is_empty());
        assert_eq!(missing_identity_labels(&pod, 2).len(), 1);

        let claims = claims(&set, 1);
        assert_eq!(claims[0].metadata.name.as_deref(), Some("www-web-1"));
        assert_eq!(claims[0].metadata.labels.as_ref().unwrap()["app"], "web");
    }
}
