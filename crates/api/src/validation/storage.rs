//! PersistentVolumes, PersistentVolumeClaims and storage.k8s.io.

use serde_json::Value;

use super::container::no_backsteps;
use super::meta::{
    validate_label_selector, validate_object_meta, validate_object_meta_update, NameRule, IMMUTABLE,
};
use super::names::{is_dns1123_subdomain, is_qualified_name};
use super::path::{arr, dig, dig_or_null, get, s, same, Path};
use super::quantity::from_json;
use crate::status::FieldError;

const ACCESS_MODES: &[&str] = &[
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOnce",
    "ReadWriteOncePod",
];

/// PersistentVolume sources, in upstream's order.
const PV_SOURCES: &[&str] = &[
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "glusterfs",
    "flocker",
    "nfs",
    "rbd",
    "quobyte",
    "cinder",
    "cephfs",
    "iscsi",
    "fc",
    "flexVolume",
    "azureFile",
    "vsphereVolume",
    "photonPersistentDisk",
    "portworxVolume",
    "azureDisk",
    "scaleIO",
    "local",
    "storageos",
    "csi",
];

fn access_modes(spec: &Value, path: &Path, required_detail: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let modes = arr(spec, "accessModes");
    if modes.is_empty() {
        errs.push(path.child("accessModes").required(required_detail));
    }
    let (mut once_pod, mut other) = (false, false);
    for mode in modes {
        let mode = mode.as_str().unwrap_or("");
        if !ACCESS_MODES.contains(&mode) {
            errs.push(path.child("accessModes").not_supported(mode, ACCESS_MODES));
        }
        if mode == "ReadWriteOncePod" {
            once_pod = true;
        } else if ACCESS_MODES.contains(&mode) {
            other = true;
        }
    }
    if once_pod && other {
        errs.push(
            path.child("accessModes")
                .forbidden("may not use ReadWriteOncePod with other access modes"),
        );
    }
    errs
}

fn positive_quantity(value: &Value, path: &Path) -> Vec<FieldError> {
    match from_json(value) {
        Err(msg) => vec![path.invalid(value.clone(), &msg)],
        Ok(q) if q.is_negative() || q.is_zero() => {
            vec![path.invalid(q.canonical(), "must be greater than zero")]
        }
        Ok(_) => Vec::new(),
    }
}

fn volume_mode(spec: &Value, path: &Path) -> Vec<FieldError> {
    match spec.get("volumeMode").and_then(Value::as_str) {
        Some(mode) if mode != "Block" && mode != "Filesystem" => {
            vec![path
                .child("volumeMode")
                .not_supported(mode, &["Block", "Filesystem"])]
        }
        _ => Vec::new(),
    }
}

fn class_name(spec: &Value, field: &str, path: &Path) -> Vec<FieldError> {
    match spec.get(field).and_then(Value::as_str) {
        Some(name) if !name.is_empty() => path
            .child(field)
            .invalid_each(name, is_dns1123_subdomain(name)),
        _ => Vec::new(),
    }
}

/// `ValidatePersistentVolumeClaimSpec`, also for ephemeral volume and
/// StatefulSet claim templates.
pub fn validate_claim_spec(spec: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = access_modes(spec, path, "at least 1 access mode is required");
    errs.extend(validate_label_selector(
        get(spec, "selector"),
        &path.child("selector"),
    ));
    let storage_path = path.child("resources").key("storage");
    match dig(spec, &["resources", "requests", "storage"]) {
        None => errs.push(storage_path.required("")),
        Some(value) => errs.extend(positive_quantity(value, &storage_path)),
    }
    errs.extend(class_name(spec, "storageClassName", path));
    errs.extend(volume_mode(spec, path));
    for field in ["dataSource", "dataSourceRef"] {
        if let Some(source) = get(spec, field) {
            let p = path.child(field);
            if s(source, "name").is_empty() {
                errs.push(p.child("name").required(""));
            }
            let kind = s(source, "kind");
            if kind.is_empty() {
                errs.push(p.child("kind").required(""));
            }
            let group = s(source, "apiGroup");
            if group.is_empty() && kind != "PersistentVolumeClaim" {
                errs.push(p.invalid(
                    kind,
                    "must be 'PersistentVolumeClaim' when referencing the default apiGroup",
                ));
            }
        }
    }
    errs
}

pub fn validate_pvc(pvc: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(pvc, NameRule::Subdomain);
    errs.extend(validate_claim_spec(
        dig_or_null(pvc, &["spec"]),
        &Path::new("spec"),
    ));
    errs
}

pub fn validate_pvc_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    errs.extend(validate_pvc(new));
    let mut new_spec = dig_or_null(new, &["spec"]).clone();
    let old_spec = dig_or_null(old, &["spec"]);
    if s(old_spec, "volumeName").is_empty() {
        if let Some(map) = new_spec.as_object_mut() {
            match old_spec.get("volumeName") {
                Some(v) => map.insert("volumeName".into(), v.clone()),
                None => map.remove("volumeName"),
            };
        }
    }
    let phase = dig(new, &["status", "phase"])
        .or_else(|| dig(old, &["status", "phase"]))
        .and_then(Value::as_str)
        .unwrap_or("");
    if phase == "Bound" {
        if let Some(requests) = new_spec
            .pointer_mut("/resources/requests")
            .and_then(Value::as_object_mut)
        {
            match dig(old_spec, &["resources", "requests", "storage"]) {
                Some(v) => requests.insert("storage".into(), v.clone()),
                None => requests.remove("storage"),
            };
        }
        if let Some(map) = new_spec.as_object_mut() {
            match old_spec.get("volumeAttributesClassName") {
                Some(v) => map.insert("volumeAttributesClassName".into(), v.clone()),
                None => map.remove("volumeAttributesClassName"),
            };
        }
    }
    if !same(&new_spec, old_spec) {
        errs.push(Path::new("spec").forbidden(&format!(
            "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n{}",
            "  core.PersistentVolumeClaimSpec{...}"
        )));
    }
    let size = |obj: &Value, keys: &[&str]| dig(obj, keys).and_then(|v| from_json(v).ok());
    let new_size = size(new, &["spec", "resources", "requests", "storage"]);
    let old_size = size(old, &["spec", "resources", "requests", "storage"]);
    if let (Some(n), Some(o)) = (new_size, old_size) {
        if n.cmp_value(&o) == std::cmp::Ordering::Less {
            let status = size(old, &["status", "capacity", "storage"]);
            if status.is_none_or(|st| n.cmp_value(&st) != std::cmp::Ordering::Greater) {
                errs.push(
                    Path::new("spec.resources.requests.storage")
                        .forbidden("field can not be less than status.capacity"),
                );
            }
        }
    }
    let (nm, om) = (
        dig_or_null(new, &["spec", "volumeMode"]),
        dig_or_null(old, &["spec", "volumeMode"]),
    );
    if nm != om {
        errs.push(Path::new("volumeMode").invalid(nm.clone(), IMMUTABLE));
    }
    errs
}

pub fn validate_pv(pv: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(pv, NameRule::Subdomain);
    let path = Path::new("spec");
    let spec = dig_or_null(pv, &["spec"]);
    errs.extend(access_modes(spec, &path, ""));
    let capacity = get(spec, "capacity").and_then(Value::as_object);
    let cp = path.child("capacity");
    match capacity {
        None => errs.push(cp.required("")),
        Some(map) if map.is_empty() => errs.push(cp.required("")),
        _ => {}
    }
    if let Some(map) = capacity {
        if !map.contains_key("storage") || map.len() > 1 {
            errs.push(FieldError::new(
                crate::status::FieldErrorKind::NotSupported,
                cp.as_str(),
                None,
                "core.ResourceList{...}: supported values: \"storage\"",
            ));
        }
        for (name, value) in map {
            errs.extend(positive_quantity(value, &cp.key(name)));
        }
    }
    let reclaim = s(spec, "persistentVolumeReclaimPolicy");
    if !reclaim.is_empty() && !["Delete", "Recycle", "Retain"].contains(&reclaim) {
        errs.push(
            path.child("persistentVolumeReclaimPolicy")
                .not_supported(reclaim, &["Delete", "Recycle", "Retain"]),
        );
    }
    errs.extend(class_name(spec, "storageClassName", &path));
    errs.extend(volume_mode(spec, &path));
    let mut count = 0;
    for &source in PV_SOURCES {
        let Some(value) = get(spec, source) else {
            continue;
        };
        if count > 0 {
            errs.push(
                path.child(source)
                    .forbidden("may not specify more than 1 volume type"),
            );
            continue;
        }
        count += 1;
        let p = path.child(source);
        match source {
            "hostPath" | "local" => {
                let target = s(value, "path");
                if target.is_empty() {
                    errs.push(p.child("path").required(""));
                } else {
                    errs.extend(no_backsteps(target, &p.child("path")));
                }
            }
            "nfs" => {
                if s(value, "server").is_empty() {
                    errs.push(p.child("server").required(""));
                }
                let target = s(value, "path");
                if target.is_empty() {
                    errs.push(p.child("path").required(""));
                }
                if !target.starts_with('/') {
                    errs.push(p.child("path").invalid(target, "must be an absolute path"));
                }
            }
            "csi" => {
                if s(value, "driver").is_empty() {
                    errs.push(p.child("driver").required(""));
                }
                if s(value, "volumeHandle").is_empty() {
                    errs.push(p.child("volumeHandle").required(""));
                }
            }
            _ => {}
        }
    }
    if count == 0 {
        errs.push(path.required("must specify a volume type"));
    }
    if let Some(affinity) = get(spec, "nodeAffinity") {
        match get(affinity, "required") {
            Some(required) => errs.extend(super::pod_extra::validate_node_selector(
                required,
                &path.child("nodeAffinity").child("required"),
            )),
            None => errs.push(
                path.child("nodeAffinity")
                    .child("required")
                    .required("must specify required node constraints"),
            ),
        }
    }
    errs
}

pub fn validate_pv_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    errs.extend(validate_pv(new));
    let (ns, os) = (dig_or_null(new, &["spec"]), dig_or_null(old, &["spec"]));
    let changed = PV_SOURCES
        .iter()
        .any(|k| !same(dig_or_null(ns, &[k]), dig_or_null(os, &[k])));
    if changed {
        errs.push(Path::new("spec.persistentvolumesource").forbidden(
            "spec.persistentvolumesource is immutable after creation\n  core.PersistentVolumeSource{...}",
        ));
    }
    if dig_or_null(ns, &["volumeMode"]) != dig_or_null(os, &["volumeMode"]) {
        errs.push(
            Path::new("volumeMode").invalid(dig_or_null(ns, &["volumeMode"]).clone(), IMMUTABLE),
        );
    }
    if get(os, "nodeAffinity").is_some()
        && !same(
            dig_or_null(ns, &["nodeAffinity"]),
            dig_or_null(os, &["nodeAffinity"]),
        )
    {
        errs.push(
            Path::new("nodeAffinity").invalid_shown("&core.VolumeNodeAffinity{...}", IMMUTABLE),
        );
    }
    errs
}

pub fn validate_storage_class(sc: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(sc, NameRule::Subdomain);
    let provisioner = s(sc, "provisioner");
    if provisioner.is_empty() {
        errs.push(Path::new("provisioner").required(provisioner));
    } else {
        let lower = provisioner.to_lowercase();
        errs.extend(Path::new("provisioner").invalid_each(provisioner, is_qualified_name(&lower)));
    }
    if let Some(params) = get(sc, "parameters").and_then(Value::as_object) {
        let total: usize = params
            .iter()
            .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
            .sum();
        if total > 256 * 1024 {
            errs.push(Path::new("parameters").too_long(256 * 1024));
        }
    }
    if let Some(policy) = sc.get("reclaimPolicy").and_then(Value::as_str) {
        if policy != "Delete" && policy != "Retain" {
            errs.push(Path::new("reclaimPolicy").not_supported(policy, &["Delete", "Retain"]));
        }
    }
    match sc.get("volumeBindingMode").and_then(Value::as_str) {
        None => errs.push(Path::new("volumeBindingMode").required("")),
        Some("Immediate" | "WaitForFirstConsumer") => {}
        Some(other) => errs.push(
            Path::new("volumeBindingMode")
                .not_supported(other, &["Immediate", "WaitForFirstConsumer"]),
        ),
    }
    errs
}

pub fn validate_storage_class_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    errs.extend(validate_storage_class(new));
    if !same(
        dig_or_null(new, &["parameters"]),
        dig_or_null(old, &["parameters"]),
    ) {
        errs.push(Path::new("parameters").forbidden("updates to parameters are forbidden."));
    }
    if s(new, "provisioner") != s(old, "provisioner") {
        errs.push(Path::new("provisioner").forbidden("updates to provisioner are forbidden."));
    }
    if s(new, "reclaimPolicy") != s(old, "reclaimPolicy") {
        errs.push(Path::new("reclaimPolicy").forbidden("updates to reclaimPolicy are forbidden."));
    }
    let mode = s(new, "volumeBindingMode");
    if mode != s(old, "volumeBindingMode") {
        errs.push(Path::new("volumeBindingMode").invalid(mode, IMMUTABLE));
    }
    errs
}

pub fn validate_csi_driver(driver: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(driver, NameRule::Subdomain);
    let name = dig(driver, &["metadata", "name"])
        .and_then(Value::as_str)
        .unwrap_or("");
    if name.len() > 63 {
        errs.push(Path::new("metadata.name").too_long(63));
    }
    let spec = dig_or_null(driver, &["spec"]);
    let p = Path::new("spec");
    for field in ["attachRequired", "podInfoOnMount"] {
        if get(spec, field).is_none() {
            errs.push(p.child(field).required(""));
        }
    }
    for mode in arr(spec, "volumeLifecycleModes") {
        let mode = mode.as_str().unwrap_or("");
        if mode != "Persistent" && mode != "Ephemeral" {
            errs.push(
                p.child("volumeLifecycleModes")
                    .not_supported(mode, &["Ephemeral", "Persistent"]),
            );
        }
    }
    if let Some(policy) = spec.get("fsGroupPolicy").and_then(Value::as_str) {
        const POLICIES: &[&str] = &["File", "None", "ReadWriteOnceWithFSType"];
        if !POLICIES.contains(&policy) {
            errs.push(p.child("fsGroupPolicy").not_supported(policy, POLICIES));
        }
    }
    errs
}

pub fn validate_volume_attachment(va: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(va, NameRule::Subdomain);
    let spec = dig_or_null(va, &["spec"]);
    let p = Path::new("spec");
    let attacher = s(spec, "attacher");
    if attacher.is_empty() {
        errs.push(p.child("attacher").required(""));
    }
    let source = dig_or_null(spec, &["source"]);
    let count = ["persistentVolumeName", "inlineVolumeSpec"]
        .iter()
        .filter(|k| get(source, k).is_some())
        .count();
    if count != 1 {
        errs.push(
            p.child("source")
                .required("must specify exactly one of inlineVolumeSpec and persistentVolumeName"),
        );
    }
    if s(spec, "nodeName").is_empty() {
        errs.push(p.child("nodeName").required(""));
    }
    errs
}

pub fn validate_csi_node(node: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(node, NameRule::Subdomain);
    let mut names = std::collections::BTreeSet::new();
    for (i, driver) in arr(dig_or_null(node, &["spec"]), "drivers")
        .iter()
        .enumerate()
    {
        let p = Path::new("spec.drivers").index(i);
        let name = s(driver, "name");
        if name.is_empty() {
            errs.push(p.child("name").required(""));
        } else if !names.insert(name) {
            errs.push(p.child("name").duplicate(name));
        }
        if s(driver, "nodeID").is_empty() {
            errs.push(p.child("nodeID").required(""));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claims_need_modes_and_storage() {
        let pvc = json!({"metadata": {"name": "c"}, "spec": {"volumeMode": "Filesystem"}});
        let errs: Vec<String> = validate_pvc(&pvc).iter().map(ToString::to_string).collect();
        assert_eq!(
            errs,
            vec![
                "spec.accessModes: Required value: at least 1 access mode is required",
                "spec.resources[storage]: Required value",
            ]
        );
    }

    #[test]
    fn claim_spec_is_immutable_except_growth_when_bound() {
        let old = json!({"metadata": {"name": "c"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}, "status": {"phase": "Bound"}});
        let mut grown = old.clone();
        grown["spec"]["resources"]["requests"]["storage"] = json!("2Gi");
        assert!(validate_pvc_update(&grown, &old).is_empty());
        let mut changed = old.clone();
        changed["spec"]["accessModes"] = json!(["ReadWriteMany"]);
        assert!(validate_pvc_update(&changed, &old)[0]
            .to_string()
            .starts_with("spec: Forbidden: spec is immutable after creation"));
    }

    #[test]
    fn storage_classes() {
        let sc = json!({"metadata": {"name": "fast"}, "provisioner": "x.io/y", "reclaimPolicy": "Keep", "volumeBindingMode": "Immediate"});
        let errs: Vec<String> = validate_storage_class(&sc)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(errs, vec!["reclaimPolicy: Unsupported value: \"Keep\": supported values: \"Delete\", \"Retain\""]);
    }
}
