//! What may change in a running pod: images, a shorter deadline, added
//! tolerations, removed scheduling gates; nothing else.

use serde_json::{Map, Value};

use super::meta::validate_object_meta_update;
use super::path::{arr, get, int, s, same, Path};
use super::pod::validate_pod_metadata_and_spec;
use super::pod_extra::validate_tolerations;
use crate::status::FieldError;

const UPDATABLE: &str = "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

fn container_updates(new: &[Value], old: &[Value], path: &Path) -> (Vec<FieldError>, bool) {
    if new.len() != old.len() {
        return (
            vec![path.forbidden("pod updates may not add or remove containers")],
            true,
        );
    }
    let mut errs = Vec::new();
    for (i, c) in new.iter().enumerate() {
        let image = s(c, "image");
        if image.is_empty() {
            errs.push(path.index(i).child("image").required(""));
        }
        if image.trim() != image {
            errs.push(
                path.index(i)
                    .child("image")
                    .invalid(image, "must not have leading or trailing whitespace"),
            );
        }
    }
    (errs, false)
}

fn only_added_tolerations(new: &[Value], old: &[Value], path: &Path) -> Vec<FieldError> {
    let strip = |t: &Value| {
        let mut t = t.clone();
        if let Some(map) = t.as_object_mut() {
            map.remove("tolerationSeconds");
        }
        t
    };
    for o in old {
        if !new.iter().any(|n| same(&strip(n), &strip(o))) {
            return vec![path.forbidden(
                "existing toleration can not be modified except its tolerationSeconds",
            )];
        }
    }
    validate_tolerations(new, path)
}

fn go_field(key: &str) -> String {
    let mut chars = key.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A short account of what differs between two structs of Go type
/// `type_name`, in place of upstream's `cmp.Diff`.
pub(super) fn go_diff(
    type_name: &str,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
) -> String {
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut out = format!("  {type_name}{{\n");
    for key in keys {
        let a = old.get(key).unwrap_or(&Value::Null);
        let b = new.get(key).unwrap_or(&Value::Null);
        if !same(a, b) {
            out.push_str(&format!("- \t{}: {},\n", go_field(key), a));
            out.push_str(&format!("+ \t{}: {},\n", go_field(key), b));
        }
    }
    out.push_str("  }\n");
    out
}

pub const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// The part of `ValidatePodSpecificAnnotationUpdates` kept here: the mirror
/// pod annotation may be neither added, changed nor removed.
pub fn validate_pod_annotation_updates(new: &Value, old: &Value) -> Vec<FieldError> {
    let annotation = |pod: &Value| {
        super::path::dig(pod, &["metadata", "annotations", MIRROR_ANNOTATION])
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let path = Path::new("metadata.annotations").key(MIRROR_ANNOTATION);
    match (annotation(old), annotation(new)) {
        (Some(a), Some(b)) if a == b => Vec::new(),
        (Some(_), _) => vec![path.forbidden("may not remove or update mirror pod annotation")],
        (None, Some(_)) => vec![path.forbidden("may not add mirror pod annotation")],
        (None, None) => Vec::new(),
    }
}

pub fn validate_pod_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    errs.extend(validate_pod_metadata_and_spec(new));
    errs.extend(validate_pod_annotation_updates(new, old));
    let spec_path = Path::new("spec");
    let empty = Value::Object(Map::new());
    let new_spec = get(new, "spec").unwrap_or(&empty);
    let old_spec = get(old, "spec").unwrap_or(&empty);
    for field in ["containers", "initContainers"] {
        let (e, stop) = container_updates(
            arr(new_spec, field),
            arr(old_spec, field),
            &spec_path.child(field),
        );
        errs.extend(e);
        if stop {
            return errs;
        }
    }
    let deadline_path = spec_path.child("activeDeadlineSeconds");
    match (
        int(new_spec, "activeDeadlineSeconds"),
        int(old_spec, "activeDeadlineSeconds"),
    ) {
        (Some(n), _) if !(0..=i32::MAX as i64).contains(&n) => {
            errs.push(
                deadline_path.invalid(n, &super::names::inclusive_range_error(0, i32::MAX as i64)),
            );
            return errs;
        }
        (Some(n), Some(o)) if o < n => {
            errs.push(deadline_path.invalid(n, "must be less than or equal to previous value"));
            return errs;
        }
        (None, Some(_)) => errs.push(deadline_path.invalid(
            Value::Null,
            "must not update from a positive integer to nil value",
        )),
        _ => {}
    }
    errs.extend(only_added_tolerations(
        arr(new_spec, "tolerations"),
        arr(old_spec, "tolerations"),
        &spec_path.child("tolerations"),
    ));
    let old_gates: Vec<&str> = arr(old_spec, "schedulingGates")
        .iter()
        .map(|g| s(g, "name"))
        .collect();
    for (i, gate) in arr(new_spec, "schedulingGates").iter().enumerate() {
        let name = s(gate, "name");
        if !old_gates.contains(&name) {
            errs.push(
                spec_path
                    .child("schedulingGates")
                    .index(i)
                    .child("name")
                    .forbidden(&format!(
                        "only deletion is allowed, but found new scheduling gate '{name}'"
                    )),
            );
        }
    }
    if same(new_spec, old_spec) {
        return errs;
    }
    let mut munged = new_spec.as_object().cloned().unwrap_or_default();
    for field in ["containers", "initContainers"] {
        if let Some(Value::Array(list)) = munged.get_mut(field) {
            for (c, o) in list.iter_mut().zip(arr(old_spec, field)) {
                if let (Some(c), Some(image)) = (c.as_object_mut(), o.get("image")) {
                    c.insert("image".into(), image.clone());
                }
            }
        }
    }
    let old_map = old_spec.as_object().cloned().unwrap_or_default();
    for field in ["activeDeadlineSeconds", "schedulingGates", "tolerations"] {
        match old_map.get(field) {
            Some(v) => munged.insert(field.into(), v.clone()),
            None => munged.remove(field),
        };
    }
    let old_grace = int(old_spec, "terminationGracePeriodSeconds");
    if old_grace.is_some_and(|g| g < 0) && int(new_spec, "terminationGracePeriodSeconds") == Some(1)
    {
        munged.insert("terminationGracePeriodSeconds".into(), old_grace.into());
    }
    if !same(&Value::Object(munged.clone()), old_spec) {
        errs.push(spec_path.forbidden(&format!(
            "pod updates may not change fields other than {UPDATABLE}\n{}",
            go_diff("core.PodSpec", &old_map, &munged)
        )));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(image: &str, port: i64) -> Value {
        let mut p = json!({"metadata": {"name": "p", "uid": "u"}, "spec": {"containers": [{"name": "c", "image": image, "ports": [{"containerPort": port}]}]}});
        crate::defaults::apply_defaults("", "Pod", &mut p);
        p
    }

    #[test]
    fn images_may_change() {
        assert!(validate_pod_update(&pod("nginx:2", 80), &pod("nginx:1", 80)).is_empty());
    }

    #[test]
    fn other_fields_may_not() {
        let errs = validate_pod_update(&pod("nginx:1", 81), &pod("nginx:1", 80));
        assert_eq!(errs.len(), 1);
        let text = errs[0].to_string();
        assert!(text.starts_with("spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"), "{text}");
        assert!(text.contains("- \tContainers:"));
    }

    #[test]
    fn containers_may_not_be_added() {
        let mut new = pod("nginx", 80);
        new["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "d", "image": "x"}));
        let errs = validate_pod_update(&new, &pod("nginx", 80));
        assert_eq!(
            errs.last().unwrap().to_string(),
            "spec.containers: Forbidden: pod updates may not add or remove containers"
        );
    }
}
