//! Ephemeral containers (`kubectl debug`): what each must satisfy within a
//! pod spec, and what a write to `pods/ephemeralcontainers` may change
//! (pkg/apis/core/validation `validateEphemeralContainers`,
//! `ValidatePodEphemeralContainersUpdate`).

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::container::{validate_container_common, Volumes};
use super::meta::validate_object_meta_update;
use super::path::{arr, get, s, same, Path};
use super::pod::validate_pod_metadata_and_spec;
use super::pod_update::{go_diff, validate_pod_annotation_updates, MIRROR_ANNOTATION};
use crate::status::FieldError;

/// The fields of `EphemeralContainerCommon`, in Go's order, that an
/// ephemeral container may not set: they would make it part of the
/// workload (ports, probes, hooks, resources, restarts).
const FORBIDDEN_FIELDS: &[&str] = &[
    "ports",
    "resources",
    "resizePolicy",
    "restartPolicy",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "lifecycle",
];

const NOT_FOR_EPHEMERAL: &str = "cannot be set for an Ephemeral Container";

/// Whether a field differs from Go's zero value. Lists and maps decoded
/// from `[]` or `{}` are not nil, so they count as set; `resources` is a
/// struct, set when any of its own fields is.
fn is_set(container: &Value, field: &str) -> bool {
    match get(container, field) {
        None => false,
        Some(Value::Object(resources)) if field == "resources" => {
            resources.values().any(|value| !value.is_null())
        }
        Some(_) => true,
    }
}

/// `validateEphemeralContainers` over `spec.ephemeralContainers` at `path`.
pub fn validate_ephemeral_containers(
    spec: &Value,
    volumes: &Volumes,
    path: &Path,
) -> Vec<FieldError> {
    let ephemeral = arr(spec, "ephemeralContainers");
    if ephemeral.is_empty() {
        return Vec::new();
    }
    let others: BTreeSet<&str> = ["containers", "initContainers"]
        .iter()
        .flat_map(|list| arr(spec, list))
        .map(|c| s(c, "name"))
        .collect();
    let mut all_names = others.clone();
    let mut errs = Vec::new();
    for (i, c) in ephemeral.iter().enumerate() {
        let p = path.index(i);
        errs.extend(validate_container_common(c, volumes, &p));
        let image = s(c, "image");
        if image.trim() != image {
            errs.push(
                p.child("image")
                    .invalid(image, "must not have leading or trailing whitespace"),
            );
        }
        let name = s(c, "name");
        if !all_names.insert(name) {
            errs.push(p.child("name").duplicate(name));
        }
        let target = s(c, "targetContainerName");
        if !target.is_empty() && !others.contains(target) {
            errs.push(p.child("targetContainerName").not_found(target));
        }
        for field in FORBIDDEN_FIELDS {
            if is_set(c, field) {
                errs.push(p.child(field).forbidden(NOT_FOR_EPHEMERAL));
            }
        }
        // Subpaths are bind mounts that outlive the container.
        for (j, mount) in arr(c, "volumeMounts").iter().enumerate() {
            for field in ["subPath", "subPathExpr"] {
                if !s(mount, field).is_empty() {
                    errs.push(
                        p.child("volumeMounts")
                            .index(j)
                            .child(field)
                            .forbidden(NOT_FOR_EPHEMERAL),
                    );
                }
            }
        }
    }
    errs
}

/// `ValidatePodEphemeralContainersUpdate`: `new` is `old` with the
/// ephemeral containers of the write. New ones are validated with the rest
/// of the pod; existing ones may be neither changed nor removed.
pub fn validate_pod_ephemeral_containers_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    errs.extend(validate_pod_metadata_and_spec(new));
    errs.extend(validate_pod_annotation_updates(new, old));
    let mirror = old
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(MIRROR_ANNOTATION));
    if mirror.is_some() {
        return vec![Path::new("").forbidden("static pods do not support ephemeral containers")];
    }
    let path = Path::new("spec").child("ephemeralContainers");
    let empty = Value::Null;
    let new_spec = get(new, "spec").unwrap_or(&empty);
    let old_spec = get(old, "spec").unwrap_or(&empty);
    // Patches do not keep the order, so containers are matched by name.
    let wanted: std::collections::HashMap<&str, &Value> = arr(new_spec, "ephemeralContainers")
        .iter()
        .map(|c| (s(c, "name"), c))
        .collect();
    let no_fields = Map::new();
    for existing in arr(old_spec, "ephemeralContainers") {
        let name = s(existing, "name");
        match wanted.get(name) {
            None => errs.push(path.forbidden(&format!(
                "existing ephemeral containers {name:?} may not be removed\n"
            ))),
            Some(sent) if !same(existing, sent) => {
                let fields =
                    |c: &Value| c.as_object().cloned().unwrap_or_else(|| no_fields.clone());
                let diff = go_diff("core.EphemeralContainer", &fields(existing), &fields(sent));
                errs.push(path.forbidden(&format!(
                    "existing ephemeral containers {name:?} may not be changed\n{diff}"
                )));
            }
            Some(_) => {}
        }
    }
    errs
}

#[cfg(test)]
#[path = "ephemeral_tests.rs"]
mod tests;
