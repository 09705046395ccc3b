//! The bridge from client-side apply: kubectl's
//! `last-applied-configuration` annotation lets `kubectl apply
//! --server-side` take over the fields it names without conflicts, and is
//! kept up to date by it.

use serde_json::Value;

use super::fieldpath::Set;
use super::fields_v1::go_json;
use super::typed::{compare, field_set, validate};
use crate::patch::schema::Ty;

pub(crate) const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

fn annotation(object: &Value) -> Option<&str> {
    object
        .pointer("/metadata/annotations")?
        .get(LAST_APPLIED)?
        .as_str()
        .filter(|text| !text.is_empty())
}

pub(crate) fn has_last_applied(object: &Value) -> bool {
    annotation(object).is_some()
}

/// The fields the annotation of `live` names with the value `live` still
/// has: client-side apply set them, so a server-side apply by `kubectl`
/// may take them over. `None` without a usable annotation.
pub(crate) fn allowed_conflicts(live: &Value, api_version: &str, ty: Ty) -> Option<Set> {
    let last: Value = serde_json::from_str(annotation(live)?).ok()?;
    if !last.is_object() || last.get("apiVersion").and_then(Value::as_str) != Some(api_version) {
        return None;
    }
    validate(&last, ty).ok()?;
    let comparison = compare(&last, live, ty);
    Some(
        field_set(&last, ty)
            .difference(&comparison.modified)
            .difference(&comparison.added)
            .difference(&comparison.removed),
    )
}

/// Rewrites the annotation of `object` to the configuration just applied,
/// as client-side apply would have written it.
pub(crate) fn update_annotation(object: &mut Value, applied: &Value) {
    let mut last = applied.clone();
    if let Some(Value::Object(annotations)) = last.pointer_mut("/metadata/annotations") {
        annotations.remove(LAST_APPLIED);
    }
    let text = format!("{}\n", go_json(&last));
    if let Some(Value::Object(annotations)) = object.pointer_mut("/metadata/annotations") {
        annotations.insert(LAST_APPLIED.into(), Value::String(text));
    }
}
