//! ControllerRevisions as the DaemonSet and StatefulSet controllers keep
//! them (upstream's `controller/history` package and the daemon set's
//! `controller_history.go`): a revision stores the owner's pod template as a
//! patch `{"spec":{"template":{..., "$patch":"replace"}}}` in `.data`, so
//! that `kubectl rollout undo` can apply it back; revisions are numbered,
//! named `<owner>-<hash>`, and the oldest unused ones are pruned beyond the
//! owner's `revisionHistoryLimit`. Also here: how both controllers claim
//! what they own (pods and revisions alike) by controller reference and
//! label selector.

use std::collections::{BTreeMap, HashSet};

use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{json, Value};

use crate::pods::controller_of;
use crate::{status_code, Error};

/// The owner of kind `K` that controls `meta` (a pod or a revision), if
/// its controller reference names one.
pub fn controlling_owner<K>(meta: &ObjectMeta) -> Option<kube::runtime::reflector::ObjectRef<K>>
where
    K: kube::Resource<DynamicType = ()>,
{
    let owner = controller_of(meta)?;
    let group = K::group(&());
    let same_group = owner
        .api_version
        .split_once('/')
        .map_or("", |(group, _)| group)
        == group;
    (owner.kind == K::kind(&()) && same_group).then(|| {
        kube::runtime::reflector::ObjectRef::new(&owner.name)
            .within(meta.namespace.as_deref().unwrap_or_default())
    })
}

/// The label on revisions holding the hash of their data, as upstream's
/// `ControllerRevisionHashLabel`.
pub const REVISION_HASH_LABEL: &str = "controller.kubernetes.io/hash";

/// The label on pods (and DaemonSet revisions) naming their revision.
pub const POD_REVISION_LABEL: &str = "controller-revision-hash";

/// Longest owner name kept in a revision name, so that `<name>-<hash>`
/// stays a valid object name (upstream truncates the same way).
const MAX_PREFIX: usize = 223;

/// The characters upstream's `rand.SafeEncodeString` maps bytes onto: no
/// vowels (no words) and no confusable characters.
const SAFE_ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Upstream's `rand.SafeEncodeString`: every byte becomes one safe
/// character.
pub fn safe_encode(text: &str) -> String {
    text.bytes()
        .map(|b| SAFE_ALPHANUMS[usize::from(b) % SAFE_ALPHANUMS.len()] as char)
        .collect()
}

const FNV_OFFSET: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 0x0100_0193;

/// 32-bit FNV-1 (Go's `fnv.New32`).
fn fnv1(bytes: &[u8]) -> u32 {
    bytes.iter().fold(FNV_OFFSET, |hash, &b| {
        hash.wrapping_mul(FNV_PRIME) ^ u32::from(b)
    })
}

/// 32-bit FNV-1a (Go's `fnv.New32a`).
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(FNV_OFFSET, |hash, &b| {
        (hash ^ u32::from(b)).wrapping_mul(FNV_PRIME)
    })
}

/// The hash of a pod template as upstream's `controller.ComputeHash`
/// (FNV-1a over the template, then the collision count as eight
/// little-endian bytes), encoded as a label value. The DaemonSet
/// controller names revisions and labels pods with it.
pub fn template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut bytes = serde_json::to_vec(template).unwrap_or_default();
    if let Some(count) = collision_count {
        let mut extra = [0u8; 8];
        extra[..4].copy_from_slice(&(count as u32).to_le_bytes());
        bytes.extend_from_slice(&extra);
    }
    safe_encode(&fnv1a(&bytes).to_string())
}

/// The hash of a revision's data as upstream's `HashControllerRevision`
/// (FNV-1 over the data, then the probe in decimal). The StatefulSet
/// controller names revisions with it.
pub fn data_hash(data: &[u8], probe: Option<i32>) -> String {
    let mut bytes = data.to_vec();
    if let Some(probe) = probe {
        bytes.extend_from_slice(probe.to_string().as_bytes());
    }
    safe_encode(&fnv1(&bytes).to_string())
}

/// `<prefix>-<hash>`, the prefix cut so the name stays valid.
pub fn revision_name(prefix: &str, hash: &str) -> String {
    let prefix = match prefix.char_indices().nth(MAX_PREFIX) {
        Some((cut, _)) => &prefix[..cut],
        None => prefix,
    };
    format!("{prefix}-{hash}")
}

/// The patch a revision stores: the owner's template replacing whatever
/// template the owner has when applied as a strategic merge patch.
pub fn template_patch(template: &PodTemplateSpec) -> Value {
    let mut template = serde_json::to_value(template).unwrap_or_else(|_| json!({}));
    if let Value::Object(fields) = &mut template {
        fields.insert("$patch".into(), Value::from("replace"));
    }
    json!({ "spec": { "template": template } })
}

/// The patch as bytes, with keys in order as Go's encoder writes maps.
pub fn patch_bytes(patch: &Value) -> Vec<u8> {
    serde_json::to_vec(patch).unwrap_or_default()
}

/// The pod template a revision records, if its data is such a patch.
pub fn template_of(revision: &ControllerRevision) -> Option<PodTemplateSpec> {
    let data = revision.data.as_ref()?;
    let mut template = data.0.pointer("/spec/template")?.clone();
    if let Value::Object(fields) = &mut template {
        fields.remove("$patch");
    }
    serde_json::from_value(template).ok()
}

/// Whether a revision records exactly this patch.
pub fn records(revision: &ControllerRevision, patch: &Value) -> bool {
    revision.data.as_ref().is_some_and(|data| &data.0 == patch)
}

/// The number the next revision gets: one more than the highest.
pub fn next_revision(revisions: &[ControllerRevision]) -> i64 {
    revisions.iter().map(|r| r.revision).max().unwrap_or(0) + 1
}

/// Revisions oldest first (by number, then name for a stable order).
pub fn sort_by_revision(revisions: &mut [ControllerRevision]) {
    revisions.sort_by(|a, b| {
        a.revision
            .cmp(&b.revision)
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
}

/// The revisions to delete, oldest first, never a `live` one. With
/// `limit_all` false (upstream's StatefulSet truncateHistory) at most
/// `limit` of the others remain; with it true (the DaemonSet's
/// cleanupHistory) as many are deleted as all revisions exceed `limit`.
pub fn revisions_to_prune(
    revisions: &[ControllerRevision],
    live: &HashSet<String>,
    limit: i32,
    limit_all: bool,
) -> Vec<String> {
    let mut dead: Vec<&ControllerRevision> = revisions
        .iter()
        .filter(|r| !live.contains(r.metadata.name.as_deref().unwrap_or("")))
        .collect();
    dead.sort_by(|a, b| {
        a.revision
            .cmp(&b.revision)
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
    let counted = if limit_all {
        revisions.len()
    } else {
        dead.len()
    };
    let excess = counted.saturating_sub(usize::try_from(limit).unwrap_or(0));
    dead.into_iter()
        .take(excess)
        .filter_map(|r| r.metadata.name.clone())
        .collect()
}

/// What an owner makes of an object in its namespace, as upstream's
/// ClaimObject: its own while it is controlled by the owner and matches the
/// selector; an orphan that matches is adopted; one that is controlled but
/// no longer matches is released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    Owned,
    Adopt,
    Release,
    NotOurs,
}

/// How `owner_uid` with `selector` claims an object with `meta`;
/// `member` adds an owner's own condition (StatefulSets only adopt pods
/// named after them).
pub fn claim(meta: &ObjectMeta, owner_uid: &str, selector: &LabelSelector, member: bool) -> Claim {
    let matches = member && selector_matches(selector, meta.labels.as_ref());
    match controller_of(meta) {
        Some(owner) if owner.uid == owner_uid => {
            if matches {
                Claim::Owned
            } else if meta.deletion_timestamp.is_none() {
                Claim::Release
            } else {
                // Released objects being deleted are left to go.
                Claim::NotOurs
            }
        }
        Some(_) => Claim::NotOurs,
        None if matches && meta.deletion_timestamp.is_none() => Claim::Adopt,
        None => Claim::NotOurs,
    }
}

/// Whether labels satisfy a label selector. An empty selector matches
/// everything, as upstream's LabelSelectorAsSelector; an operator it does
/// not know matches nothing.
pub fn selector_matches(
    selector: &LabelSelector,
    labels: Option<&BTreeMap<String, String>>,
) -> bool {
    let empty = BTreeMap::new();
    let labels = labels.unwrap_or(&empty);
    let by_label = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(key, value)| labels.get(key) == Some(value));
    let by_expression = selector.match_expressions.iter().flatten().all(|req| {
        let values = req.values.as_deref().unwrap_or(&[]);
        let value = labels.get(&req.key);
        match req.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    by_label && by_expression
}

/// The merge patch that adopts `meta` for `owner`, or releases it from the
/// owner with `owner_uid` (`owner` None), guarded by uid and
/// resourceVersion so that it never applies to another object or version.
pub fn ownership_patch(
    meta: &ObjectMeta,
    owner_uid: &str,
    owner: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>,
) -> Value {
    let mut references: Vec<_> = meta
        .owner_references
        .iter()
        .flatten()
        .filter(|r| r.uid != owner_uid)
        .cloned()
        .collect();
    references.extend(owner);
    json!({
        "metadata": {
            "ownerReferences": references,
            "uid": meta.uid,
            "resourceVersion": meta.resource_version,
        }
    })
}

/// A revision to make: everything but the number, which depends on what
/// exists.
pub struct Wanted {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: Option<BTreeMap<String, String>>,
    pub owner: k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference,
    pub patch: Value,
}

/// The outcome of [`ensure`].
pub enum Ensured {
    /// The revision recording the owner's template, now the newest.
    Revision(Box<ControllerRevision>),
    /// Another revision already has the wanted name: the owner's collision
    /// count must go up.
    Collision,
}

/// Makes the owner's current template the newest revision, as upstream:
/// an existing revision that records it is reused (renumbered to the top
/// if an older one, which is how a rollback shows in the history);
/// otherwise one is created with the next number.
pub async fn ensure(
    api: &Api<ControllerRevision>,
    existing: &[ControllerRevision],
    wanted: Wanted,
) -> Result<Ensured, Error> {
    let top = existing.iter().map(|r| r.revision).max().unwrap_or(0);
    let mut equal: Vec<&ControllerRevision> = existing
        .iter()
        .filter(|r| records(r, &wanted.patch))
        .collect();
    equal.sort_by_key(|r| r.revision);
    if let Some(last) = equal.last() {
        if last.revision == top {
            return Ok(Ensured::Revision(Box::new((*last).clone())));
        }
        return renumber(api, last, top + 1).await.map(Ensured::Revision);
    }
    let revision = ControllerRevision {
        metadata: ObjectMeta {
            name: Some(wanted.name.clone()),
            labels: Some(wanted.labels),
            annotations: wanted.annotations,
            owner_references: Some(vec![wanted.owner]),
            ..ObjectMeta::default()
        },
        data: Some(RawExtension(wanted.patch.clone())),
        revision: top + 1,
    };
    match api.create(&PostParams::default(), &revision).await {
        Ok(created) => Ok(Ensured::Revision(Box::new(created))),
        Err(error) if status_code(&error) == Some(409) => {
            let found = api.get(&wanted.name).await?;
            if records(&found, &wanted.patch) && found.revision > top {
                Ok(Ensured::Revision(Box::new(found)))
            } else if records(&found, &wanted.patch) {
                renumber(api, &found, top + 1).await.map(Ensured::Revision)
            } else {
                Ok(Ensured::Collision)
            }
        }
        Err(error) => Err(error.into()),
    }
}

async fn renumber(
    api: &Api<ControllerRevision>,
    revision: &ControllerRevision,
    number: i64,
) -> Result<Box<ControllerRevision>, Error> {
    let name = revision.metadata.name.clone().unwrap_or_default();
    let patch = json!({ "revision": number });
    let updated = api
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(Box::new(updated))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, PodSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
        LabelSelectorRequirement, OwnerReference,
    };

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

    fn revision(name: &str, number: i64, patch: Value) -> ControllerRevision {
        ControllerRevision {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            data: Some(RawExtension(patch)),
            revision: number,
        }
    }

    #[test]
    fn fnv_matches_reference_vectors() {
        // Published FNV test vectors.
        assert_eq!(fnv1(b""), 0x811c_9dc5);
        assert_eq!(fnv1(b"a"), 0x050c_5d7e);
        assert_eq!(fnv1a(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a(b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn safe_encoding_uses_only_safe_characters() {
        let encoded = safe_encode("3735928559");
        assert_eq!(encoded.len(), 10);
        assert!(encoded.bytes().all(|b| SAFE_ALPHANUMS.contains(&b)));
        // '0' is byte 48: 48 % 27 = 21 -> '4'.
        assert_eq!(safe_encode("0"), "4");
    }

    #[test]
    fn hashes_follow_the_template_and_the_collision_count() {
        let a = template_hash(&template("nginx:1"), None);
        assert_eq!(a, template_hash(&template("nginx:1"), None));
        assert_ne!(a, template_hash(&template("nginx:2"), None));
        assert_ne!(a, template_hash(&template("nginx:1"), Some(1)));
        let data = patch_bytes(&template_patch(&template("nginx:1")));
        assert_ne!(data_hash(&data, Some(0)), data_hash(&data, Some(1)));
        assert_eq!(data_hash(&data, Some(0)), data_hash(&data, Some(0)));
    }

    #[test]
    fn names_are_owner_dash_hash_with_the_owner_cut_short() {
        assert_eq!(revision_name("web", "5d8f"), "web-5d8f");
        let long = "x".repeat(300);
        assert_eq!(revision_name(&long, "h").len(), MAX_PREFIX + 2);
    }

    #[test]
    fn the_patch_replaces_the_template_and_reads_back() {
        let patch = template_patch(&template("nginx:1"));
        assert_eq!(patch["spec"]["template"]["$patch"], "replace");
        let bytes = String::from_utf8(patch_bytes(&patch)).unwrap();
        assert!(bytes.starts_with(r#"{"spec":{"template":{"$patch":"replace""#));
        let stored = revision("web-1", 1, patch.clone());
        assert_eq!(template_of(&stored), Some(template("nginx:1")));
        assert!(records(&stored, &patch));
        assert!(!records(&stored, &template_patch(&template("nginx:2"))));
    }

    #[test]
    fn pruning_keeps_live_revisions_and_the_newest_dead_ones() {
        let revisions: Vec<_> = (1..=5)
            .map(|n| revision(&format!("r{n}"), n, json!({})))
            .collect();
        let live: HashSet<String> = ["r1".to_string(), "r5".to_string()].into();
        assert_eq!(
            revisions_to_prune(&revisions, &live, 1, false),
            vec!["r2", "r3"]
        );
        assert_eq!(
            revisions_to_prune(&revisions, &live, 0, false),
            vec!["r2", "r3", "r4"]
        );
        assert!(revisions_to_prune(&revisions, &live, 10, false).is_empty());
        // Counting live ones too, five exceed a limit of three by two.
        assert_eq!(
            revisions_to_prune(&revisions, &live, 3, true),
            vec!["r2", "r3"]
        );
        assert_eq!(revisions_to_prune(&revisions, &live, 4, true), vec!["r2"]);
        assert_eq!(next_revision(&revisions), 6);
        assert_eq!(next_revision(&[]), 1);
    }

    #[test]
    fn selectors_match_labels_and_expressions() {
        let labels: BTreeMap<String, String> = [
            ("app".into(), "web".into()),
            ("tier".into(), "front".into()),
        ]
        .into();
        let mut selector = LabelSelector {
            match_labels: Some([("app".into(), "web".into())].into()),
            ..LabelSelector::default()
        };
        assert!(selector_matches(&selector, Some(&labels)));
        assert!(!selector_matches(&selector, None));
        selector.match_expressions = Some(vec![LabelSelectorRequirement {
            key: "tier".into(),
            operator: "NotIn".into(),
            values: Some(vec!["front".into()]),
        }]);
        assert!(!selector_matches(&selector, Some(&labels)));
        assert!(selector_matches(&LabelSelector::default(), None));
    }

    #[test]
    fn claims_adopt_orphans_and_release_mismatches() {
        let selector = LabelSelector {
            match_labels: Some([("app".into(), "web".into())].into()),
            ..LabelSelector::default()
        };
        let owned_by = |uid: &str| {
            Some(vec![OwnerReference {
                uid: uid.into(),
                controller: Some(true),
                ..OwnerReference::default()
            }])
        };
        let mut meta = ObjectMeta {
            labels: Some([("app".into(), "web".into())].into()),
            ..ObjectMeta::default()
        };
        assert_eq!(claim(&meta, "u1", &selector, true), Claim::Adopt);
        assert_eq!(claim(&meta, "u1", &selector, false), Claim::NotOurs);
        meta.owner_references = owned_by("u1");
        assert_eq!(claim(&meta, "u1", &selector, true), Claim::Owned);
        meta.owner_references = owned_by("u2");
        assert_eq!(claim(&meta, "u1", &selector, true), Claim::NotOurs);
        meta.owner_references = owned_by("u1");
        meta.labels = None;
        assert_eq!(claim(&meta, "u1", &selector, true), Claim::Release);
    }
}
