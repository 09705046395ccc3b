//! Pod volumes: one source each, with the checks upstream makes for the
//! sources people use; the rarer in-tree plugins only count as a source.

use std::collections::BTreeSet;

use serde_json::Value;

use super::container::{
    dns_label, local_descending_path, local_non_reserved_path, no_backsteps,
    validate_field_selector, validate_resource_field_selector, VolumeKind, Volumes,
    VOLUME_FIELD_PATHS,
};
use super::path::{arr, get, int, s, Path};
use super::quantity::from_json;
use crate::status::FieldError;

const FILE_MODE: &str = "must be a number between 0 and 0777 (octal), both inclusive";

/// Every volume source, in upstream's order of checking.
const SOURCES: &[&str] = &[
    "emptyDir",
    "hostPath",
    "gitRepo",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "flocker",
    "persistentVolumeClaim",
    "rbd",
    "cinder",
    "cephfs",
    "quobyte",
    "downwardAPI",
    "fc",
    "flexVolume",
    "configMap",
    "azureFile",
    "vsphereVolume",
    "photonPersistentDisk",
    "portworxVolume",
    "azureDisk",
    "storageos",
    "projected",
    "scaleIO",
    "csi",
    "ephemeral",
    "image",
];

/// Validates `spec.volumes` and returns what each valid name refers to.
pub fn validate_volumes(
    volumes: &[Value],
    pod_name: Option<&str>,
    path: &Path,
) -> (Volumes, Vec<FieldError>) {
    let mut errs = Vec::new();
    let mut known = Volumes::new();
    let mut names = BTreeSet::new();
    let created_claims: BTreeSet<String> = match pod_name {
        Some(pod) if !pod.is_empty() => volumes
            .iter()
            .filter(|v| get(v, "ephemeral").is_some())
            .map(|v| format!("{pod}-{}", s(v, "name")))
            .collect(),
        _ => BTreeSet::new(),
    };
    for (i, volume) in volumes.iter().enumerate() {
        let p = path.index(i);
        let name = s(volume, "name");
        let (kind, mut errors) = validate_source(volume, &p);
        if name.is_empty() {
            errors.push(p.child("name").required(""));
        } else {
            errors.extend(dns_label(name, &p.child("name")));
        }
        if names.contains(name) {
            errors.push(p.child("name").duplicate(name));
        }
        if errors.is_empty() {
            names.insert(name.to_string());
            known.insert(name.to_string(), kind);
        } else {
            errs.extend(errors);
        }
        if let Some(claim) = get(volume, "persistentVolumeClaim") {
            let claim_name = s(claim, "claimName");
            if created_claims.contains(claim_name) {
                errs.push(p.child("persistentVolumeClaim").child("claimName").invalid(
                    claim_name,
                    "must not reference a PVC that gets created for an ephemeral volume",
                ));
            }
        }
    }
    (known, errs)
}

fn mode(value: &Value, field: &str, path: &Path) -> Vec<FieldError> {
    match int(value, field) {
        Some(m) if !(0..=0o777).contains(&m) => vec![path.child(field).invalid(m, FILE_MODE)],
        _ => Vec::new(),
    }
}

fn key_to_path(item: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if s(item, "key").is_empty() {
        errs.push(path.child("key").required(""));
    }
    let target = s(item, "path");
    if target.is_empty() {
        errs.push(path.child("path").required(""));
    }
    errs.extend(local_non_reserved_path(target, &path.child("path")));
    errs.extend(mode(item, "mode", path));
    errs
}

fn downward_file(file: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let target = s(file, "path");
    if target.is_empty() {
        errs.push(path.child("path").required(""));
    }
    errs.extend(local_non_reserved_path(target, &path.child("path")));
    match (get(file, "fieldRef"), get(file, "resourceFieldRef")) {
        (Some(field_ref), resource) => {
            errs.extend(validate_field_selector(
                field_ref,
                VOLUME_FIELD_PATHS,
                &path.child("fieldRef"),
            ));
            if resource.is_some() {
                errs.push(path.invalid(
                    "resource",
                    "fieldRef and resourceFieldRef can not be specified simultaneously",
                ));
            }
        }
        (None, Some(resource)) => errs.extend(validate_resource_field_selector(
            resource,
            true,
            &path.child("resourceFieldRef"),
        )),
        (None, None) => {
            errs.push(path.required("one of fieldRef and resourceFieldRef is required"))
        }
    }
    errs.extend(mode(file, "mode", path));
    errs
}

fn validate_source(volume: &Value, path: &Path) -> (VolumeKind, Vec<FieldError>) {
    let mut errs = Vec::new();
    let mut count = 0;
    let mut kind = VolumeKind::Other;
    for &source in SOURCES {
        let Some(value) = get(volume, source) else {
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
            "emptyDir" => {
                if let Some(limit) = get(value, "sizeLimit") {
                    if from_json(limit).map(|q| q.is_negative()).unwrap_or(true) {
                        errs.push(
                            p.child("sizeLimit")
                                .forbidden("SizeLimit field must be a valid resource quantity"),
                        );
                    }
                }
            }
            "hostPath" => {
                let target = s(value, "path");
                if target.is_empty() {
                    errs.push(p.child("path").required(""));
                } else {
                    errs.extend(no_backsteps(target, &p.child("path")));
                    let t = s(value, "type");
                    const TYPES: &[&str] = &[
                        "",
                        "BlockDevice",
                        "CharDevice",
                        "Directory",
                        "DirectoryOrCreate",
                        "File",
                        "FileOrCreate",
                        "Socket",
                    ];
                    if value.get("type").is_some() && !TYPES.contains(&t) {
                        errs.push(p.child("type").not_supported(t, TYPES));
                    }
                }
            }
            "secret" | "configMap" => {
                let name_field = if source == "secret" {
                    "secretName"
                } else {
                    "name"
                };
                if s(value, name_field).is_empty() {
                    errs.push(p.child(name_field).required(""));
                }
                errs.extend(mode(value, "defaultMode", &p));
                for (j, item) in arr(value, "items").iter().enumerate() {
                    errs.extend(key_to_path(item, &p.child("items").index(j)));
                }
            }
            "persistentVolumeClaim" => {
                kind = VolumeKind::Claim;
                if s(value, "claimName").is_empty() {
                    errs.push(p.child("claimName").required(""));
                }
            }
            "ephemeral" => {
                kind = VolumeKind::Claim;
                match get(value, "volumeClaimTemplate") {
                    None => errs.push(p.child("volumeClaimTemplate").required("")),
                    Some(template) => {
                        let spec = get(template, "spec").unwrap_or(&Value::Null);
                        errs.extend(super::storage::validate_claim_spec(
                            spec,
                            &p.child("volumeClaimTemplate").child("spec"),
                        ));
                    }
                }
            }
            "image" => kind = VolumeKind::Image,
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
            "downwardAPI" => {
                errs.extend(mode(value, "defaultMode", &p));
                for item in arr(value, "items") {
                    errs.extend(downward_file(item, &p));
                }
            }
            "projected" => errs.extend(validate_projected(value, &p)),
            "csi" if s(value, "driver").is_empty() => {
                errs.push(p.child("driver").required(""));
            }
            "gitRepo" => {
                if s(value, "repository").is_empty() {
                    errs.push(p.child("repository").required(""));
                }
                errs.extend(local_descending_path(
                    s(value, "directory"),
                    &p.child("directory"),
                ));
            }
            _ => {}
        }
    }
    if count == 0 {
        errs.push(path.required("must specify a volume type"));
    }
    (kind, errs)
}

fn validate_projected(value: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = mode(value, "defaultMode", path);
    let mut paths = BTreeSet::new();
    for (i, source) in arr(value, "sources").iter().enumerate() {
        let sp = path.child("sources").index(i);
        let mut count = 0;
        for kind in ["secret", "configMap"] {
            if let Some(projection) = get(source, kind) {
                count += 1;
                let pp = sp.child(kind);
                let name = s(projection, "name");
                if name.is_empty() {
                    errs.push(pp.child("name").required(""));
                }
                for (j, item) in arr(projection, "items").iter().enumerate() {
                    errs.extend(key_to_path(item, &pp.child("items").index(j)));
                    let target = s(item, "path");
                    if !target.is_empty() && !paths.insert(target.to_string()) {
                        errs.push(path.invalid(name, "conflicting duplicate paths"));
                    }
                }
            }
        }
        if let Some(projection) = get(source, "downwardAPI") {
            count += 1;
            for item in arr(projection, "items") {
                errs.extend(downward_file(item, &sp.child("downwardAPI")));
            }
        }
        if let Some(token) = get(source, "serviceAccountToken") {
            count += 1;
            let tp = sp.child("serviceAccountToken");
            if let Some(seconds) = int(token, "expirationSeconds") {
                if seconds < 600 {
                    errs.push(
                        tp.child("expirationSeconds")
                            .invalid(seconds, "may not specify a duration less than 10 minutes"),
                    );
                } else if seconds > 1 << 32 {
                    errs.push(tp.child("expirationSeconds").invalid(
                        seconds,
                        "may not specify a duration larger than 2^32 seconds",
                    ));
                }
            }
            if s(token, "path").is_empty() {
                errs.push(tp.child("path").required(""));
            }
        }
        if get(source, "clusterTrustBundle").is_some() {
            count += 1;
        }
        if count > 1 {
            errs.push(sp.forbidden("may not specify more than 1 volume type per source"));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn volumes_need_one_source() {
        let (known, errs) = validate_volumes(
            &[
                json!({"name": "a"}),
                json!({"name": "b", "emptyDir": {}, "hostPath": {"path": "/x"}}),
                json!({"name": "c", "emptyDir": {}}),
            ],
            None,
            &Path::new("spec.volumes"),
        );
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            vec![
                "spec.volumes[0]: Required value: must specify a volume type",
                "spec.volumes[1].hostPath: Forbidden: may not specify more than 1 volume type",
            ]
        );
        assert!(known.contains_key("c"));
    }

    #[test]
    fn file_modes() {
        let (_, errs) = validate_volumes(
            &[json!({"name": "s", "secret": {"secretName": "x", "defaultMode": 1000}})],
            None,
            &Path::new("spec.volumes"),
        );
        assert_eq!(errs[0].to_string(), "spec.volumes[0].secret.defaultMode: Invalid value: 1000: must be a number between 0 and 0777 (octal), both inclusive");
    }
}
