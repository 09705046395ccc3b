//! Containers: names, images, ports, environment, mounts, probes, lifecycle
//! hooks, resources and security context (pkg/apis/core/validation).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::names::{
    is_config_map_key, is_dns1123_label, is_dns1123_subdomain, is_http_header_name,
    is_qualified_name, is_relaxed_env_var_name, is_valid_port_name, is_valid_port_num,
};
use super::path::{arr, boolean, get, int, int0, s, Path};
use crate::status::FieldError;

pub const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];

/// What a volume name refers to, for mounts and devices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VolumeKind {
    Claim,
    Image,
    Other,
}

pub type Volumes = BTreeMap<String, VolumeKind>;

pub fn dns_label(value: &str, path: &Path) -> Vec<FieldError> {
    path.invalid_each(value, is_dns1123_label(value))
}

pub fn nonnegative(value: Option<i64>, path: &Path) -> Vec<FieldError> {
    match value {
        Some(v) if v < 0 => vec![path.invalid(v, super::meta::NEGATIVE)],
        _ => Vec::new(),
    }
}

/// `ValidatePortNumOrName` for an IntOrString.
pub fn port_num_or_name(port: Option<&Value>, path: &Path) -> Vec<FieldError> {
    match port {
        Some(Value::String(name)) => path.invalid_each(name, is_valid_port_name(name)),
        Some(Value::Number(n)) => {
            let n = n.as_i64().unwrap_or(0);
            is_valid_port_num(n)
                .iter()
                .map(|m| path.invalid(n, m))
                .collect()
        }
        _ => is_valid_port_num(0)
            .iter()
            .map(|m| path.invalid(0, m))
            .collect(),
    }
}

/// Everything every kind of container must satisfy.
pub fn validate_container_common(c: &Value, volumes: &Volumes, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = s(c, "name");
    if name.is_empty() {
        errs.push(path.child("name").required(""));
    } else {
        errs.extend(dns_label(name, &path.child("name")));
    }
    if s(c, "image").is_empty() {
        errs.push(path.child("image").required(""));
    }
    let tmp = s(c, "terminationMessagePolicy");
    match tmp {
        "File" | "FallbackToLogsOnError" => {}
        "" => errs.push(path.child("terminationMessagePolicy").required("")),
        other => errs.push(
            path.child("terminationMessagePolicy")
                .not_supported(other, &["File", "FallbackToLogsOnError"]),
        ),
    }
    errs.extend(validate_ports(arr(c, "ports"), &path.child("ports")));
    errs.extend(validate_env(arr(c, "env"), &path.child("env")));
    errs.extend(validate_env_from(arr(c, "envFrom"), &path.child("envFrom")));
    let device_paths: BTreeMap<&str, &str> = arr(c, "volumeDevices")
        .iter()
        .map(|d| (s(d, "name"), s(d, "devicePath")))
        .collect();
    let mount_paths: BTreeMap<&str, &str> = arr(c, "volumeMounts")
        .iter()
        .map(|m| (s(m, "name"), s(m, "mountPath")))
        .collect();
    errs.extend(validate_mounts(
        c,
        &device_paths,
        volumes,
        &path.child("volumeMounts"),
    ));
    errs.extend(validate_devices(
        c,
        &mount_paths,
        volumes,
        &path.child("volumeDevices"),
    ));
    match s(c, "imagePullPolicy") {
        "Always" | "IfNotPresent" | "Never" => {}
        "" => errs.push(path.child("imagePullPolicy").required("")),
        other => errs.push(
            path.child("imagePullPolicy")
                .not_supported(other, &["Always", "IfNotPresent", "Never"]),
        ),
    }
    if let Some(resources) = get(c, "resources") {
        errs.extend(super::resources::validate_resource_requirements(
            resources,
            &path.child("resources"),
            true,
        ));
    }
    if let Some(sc) = get(c, "securityContext") {
        errs.extend(super::security::validate_security_context(
            sc,
            &path.child("securityContext"),
        ));
    }
    errs
}

fn validate_ports(ports: &[Value], path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut names = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        let p = path.index(i);
        let name = s(port, "name");
        if !name.is_empty() {
            let msgs = is_valid_port_name(name);
            if !msgs.is_empty() {
                errs.extend(p.child("name").invalid_each(name, msgs));
            } else if !names.insert(name) {
                errs.push(p.child("name").duplicate(name));
            }
        }
        let container_port = int0(port, "containerPort");
        if container_port == 0 {
            errs.push(p.child("containerPort").required(""));
        } else {
            for msg in is_valid_port_num(container_port) {
                errs.push(p.child("containerPort").invalid(container_port, &msg));
            }
        }
        let host_port = int0(port, "hostPort");
        if host_port != 0 {
            for msg in is_valid_port_num(host_port) {
                errs.push(p.child("hostPort").invalid(host_port, &msg));
            }
        }
        match s(port, "protocol") {
            "" => errs.push(p.child("protocol").required("")),
            proto if !PROTOCOLS.contains(&proto) => {
                errs.push(p.child("protocol").not_supported(proto, PROTOCOLS))
            }
            _ => {}
        }
    }
    errs
}

/// Host ports must not collide across the given containers.
pub fn host_port_conflicts(
    containers: &[&Value],
    indices: &[usize],
    path: &Path,
) -> Vec<FieldError> {
    let mut seen = BTreeSet::new();
    let mut errs = Vec::new();
    for (c, &ci) in containers.iter().zip(indices) {
        for (pi, port) in arr(c, "ports").iter().enumerate() {
            let host_port = int0(port, "hostPort");
            if host_port == 0 {
                continue;
            }
            let key = format!("{}/{}/{host_port}", s(port, "protocol"), s(port, "hostIP"));
            if !seen.insert(key.clone()) {
                errs.push(
                    path.index(ci)
                        .child("ports")
                        .index(pi)
                        .child("hostPort")
                        .duplicate(key),
                );
            }
        }
    }
    errs
}

const ENV_FIELD_PATHS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];
pub const VOLUME_FIELD_PATHS: &[&str] = &[
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
];
pub const RESOURCE_FIELD_PATHS: &[&str] = &[
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
];

fn validate_env(vars: &[Value], path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, var) in vars.iter().enumerate() {
        let p = path.index(i);
        let name = s(var, "name");
        if name.is_empty() {
            errs.push(p.child("name").required(""));
        } else {
            errs.extend(
                p.child("name")
                    .invalid_each(name, is_relaxed_env_var_name(name)),
            );
        }
        let Some(from) = get(var, "valueFrom") else {
            continue;
        };
        let fp = p.child("valueFrom");
        let mut sources = 0;
        if let Some(field_ref) = get(from, "fieldRef") {
            sources += 1;
            errs.extend(validate_field_selector(
                field_ref,
                ENV_FIELD_PATHS,
                &fp.child("fieldRef"),
            ));
        }
        if let Some(resource_ref) = get(from, "resourceFieldRef") {
            sources += 1;
            errs.extend(validate_resource_field_selector(
                resource_ref,
                false,
                &fp.child("resourceFieldRef"),
            ));
        }
        for key in ["configMapKeyRef", "secretKeyRef"] {
            if let Some(selector) = get(from, key) {
                sources += 1;
                let kp = fp.child(key);
                let ref_name = s(selector, "name");
                errs.extend(
                    kp.child("name")
                        .invalid_each(ref_name, is_dns1123_subdomain(ref_name)),
                );
                let k = s(selector, "key");
                if k.is_empty() {
                    errs.push(kp.child("key").required(""));
                } else {
                    errs.extend(kp.child("key").invalid_each(k, is_config_map_key(k)));
                }
            }
        }
        if sources == 0 {
            errs.push(fp.invalid(
                "",
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            ));
        } else if !s(var, "value").is_empty() {
            errs.push(fp.invalid("", "may not be specified when `value` is not empty"));
        } else if sources > 1 {
            errs.push(fp.invalid("", "may not have more than one field specified at a time"));
        }
    }
    errs
}

/// A downward API `fieldRef`.
pub fn validate_field_selector(fs: &Value, allowed: &[&str], path: &Path) -> Vec<FieldError> {
    let api_version = s(fs, "apiVersion");
    if api_version.is_empty() {
        return vec![path.child("apiVersion").required("")];
    }
    let field_path = s(fs, "fieldPath");
    if field_path.is_empty() {
        return vec![path.child("fieldPath").required("")];
    }
    if api_version != "v1" {
        return vec![path.child("fieldPath").invalid(
            field_path,
            &format!("error converting fieldPath: unsupported pod version: {api_version}"),
        )];
    }
    if let Some(open) = field_path.find('[') {
        let base = &field_path[..open];
        let subscript = field_path[open..]
            .strip_prefix("['")
            .and_then(|r| r.strip_suffix("']"));
        if let Some(subscript) = subscript {
            return match base {
                "metadata.annotations" => {
                    let lower = subscript.to_lowercase();
                    path.invalid_each(&lower, is_qualified_name(&lower))
                }
                "metadata.labels" => path.invalid_each(subscript, is_qualified_name(subscript)),
                _ => vec![path.invalid(base, "does not support subscript")],
            };
        }
    }
    if !allowed.contains(&field_path) {
        return vec![path.child("fieldPath").not_supported(field_path, allowed)];
    }
    Vec::new()
}

pub fn validate_resource_field_selector(fs: &Value, volume: bool, path: &Path) -> Vec<FieldError> {
    let resource = s(fs, "resource");
    if volume && s(fs, "containerName").is_empty() {
        vec![path.child("containerName").required("")]
    } else if resource.is_empty() {
        vec![path.child("resource").required("")]
    } else if !RESOURCE_FIELD_PATHS.contains(&resource)
        && !resource.starts_with("requests.hugepages-")
        && !resource.starts_with("limits.hugepages-")
    {
        vec![path
            .child("resource")
            .not_supported(resource, RESOURCE_FIELD_PATHS)]
    } else {
        Vec::new()
    }
}

fn validate_env_from(sources: &[Value], path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, source) in sources.iter().enumerate() {
        let p = path.index(i);
        let prefix = s(source, "prefix");
        if !prefix.is_empty() {
            errs.extend(
                p.child("prefix")
                    .invalid_each(prefix, is_relaxed_env_var_name(prefix)),
            );
        }
        let mut count = 0;
        for key in ["configMapRef", "secretRef"] {
            if let Some(reference) = get(source, key) {
                count += 1;
                let name = s(reference, "name");
                if name.is_empty() {
                    errs.push(p.child(key).child("name").required(""));
                } else {
                    let masked = super::names::name_is_dns_subdomain(name, true);
                    errs.extend(p.child(key).child("name").invalid_each(name, masked));
                }
            }
        }
        if count == 0 {
            errs.push(path.invalid("", "must specify one of: `configMapRef` or `secretRef`"));
        } else if count > 1 {
            errs.push(path.invalid("", "may not have more than one field specified at a time"));
        }
    }
    errs
}

pub fn local_descending_path(target: &str, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if target.starts_with('/') {
        errs.push(path.invalid(target, "must be a relative path"));
    }
    errs.extend(no_backsteps(target, path));
    errs
}

pub fn no_backsteps(target: &str, path: &Path) -> Vec<FieldError> {
    if target.split('/').any(|part| part == "..") {
        vec![path.invalid(target, "must not contain '..'")]
    } else {
        Vec::new()
    }
}

pub fn local_non_reserved_path(target: &str, path: &Path) -> Vec<FieldError> {
    let mut errs = local_descending_path(target, path);
    if target.starts_with("..") && !target.starts_with("../") {
        errs.push(path.invalid(target, "must not start with '..'"));
    }
    errs
}

fn validate_mounts(
    c: &Value,
    devices: &BTreeMap<&str, &str>,
    volumes: &Volumes,
    path: &Path,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut mount_points = BTreeSet::new();
    let privileged = get(c, "securityContext")
        .and_then(|sc| boolean(sc, "privileged"))
        .unwrap_or(false);
    for (i, mount) in arr(c, "volumeMounts").iter().enumerate() {
        let p = path.index(i);
        let name = s(mount, "name");
        let mount_path = s(mount, "mountPath");
        if name.is_empty() {
            errs.push(p.child("name").required(""));
        }
        if !volumes.contains_key(name) {
            errs.push(p.child("name").not_found(name));
        }
        if mount_path.is_empty() {
            errs.push(p.child("mountPath").required(""));
        }
        if !mount_points.insert(mount_path) {
            errs.push(p.child("mountPath").invalid(mount_path, "must be unique"));
        }
        if devices.contains_key(name) {
            errs.push(
                p.child("name")
                    .invalid(name, "must not already exist in volumeDevices"),
            );
        }
        if devices.values().any(|d| *d == mount_path) {
            errs.push(p.child("mountPath").invalid(
                mount_path,
                "must not already exist as a path in volumeDevices",
            ));
        }
        let sub_path = s(mount, "subPath");
        let sub_path_expr = s(mount, "subPathExpr");
        if volumes.get(name) == Some(&VolumeKind::Image) {
            if !sub_path.is_empty() {
                errs.push(
                    p.child("subPath")
                        .invalid(sub_path, "not allowed in image volume sources"),
                );
            }
            if !sub_path_expr.is_empty() {
                errs.push(
                    p.child("subPathExpr")
                        .invalid(sub_path_expr, "not allowed in image volume sources"),
                );
            }
        }
        if !sub_path.is_empty() {
            errs.extend(local_descending_path(sub_path, &path.child("subPath")));
        }
        if !sub_path_expr.is_empty() {
            if !sub_path.is_empty() {
                errs.push(p.child("subPathExpr").invalid(
                    sub_path_expr,
                    "subPathExpr and subPath are mutually exclusive",
                ));
            }
            errs.extend(local_descending_path(
                sub_path_expr,
                &path.child("subPathExpr"),
            ));
        }
        if let Some(propagation) = mount.get("mountPropagation").and_then(Value::as_str) {
            let pp = path.child("mountPropagation");
            match propagation {
                "None" | "HostToContainer" => {}
                "Bidirectional" if !privileged => errs.push(pp.forbidden(
                    "Bidirectional mount propagation is available only to privileged containers",
                )),
                "Bidirectional" => {}
                other => errs
                    .push(pp.not_supported(other, &["Bidirectional", "HostToContainer", "None"])),
            }
        }
    }
    errs
}

fn validate_devices(
    c: &Value,
    mounts: &BTreeMap<&str, &str>,
    volumes: &Volumes,
    path: &Path,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut names = BTreeSet::new();
    let mut paths = BTreeSet::new();
    for (i, device) in arr(c, "volumeDevices").iter().enumerate() {
        let p = path.index(i);
        let name = s(device, "name");
        let device_path = s(device, "devicePath");
        if name.is_empty() {
            errs.push(p.child("name").required(""));
        }
        if names.contains(name) {
            errs.push(p.child("name").invalid(name, "must be unique"));
        }
        match volumes.get(name) {
            Some(VolumeKind::Claim) => {}
            Some(_) => errs.push(p.child("name").invalid(
                name,
                "can only use volume source type of PersistentVolumeClaim or Ephemeral for block mode",
            )),
            None => errs.push(p.child("name").not_found(name)),
        }
        if device_path.is_empty() {
            errs.push(p.child("devicePath").required(""));
        }
        if paths.contains(device_path) {
            errs.push(p.child("devicePath").invalid(device_path, "must be unique"));
        }
        if !device_path.is_empty() && device_path.split('/').any(|x| x == "..") {
            errs.push(
                p.child("devicePath")
                    .invalid(device_path, "can not contain backsteps ('..')"),
            );
        } else {
            paths.insert(device_path);
        }
        if mounts.contains_key(name) {
            errs.push(
                p.child("name")
                    .invalid(name, "must not already exist in volumeMounts"),
            );
        }
        if mounts.values().any(|m| *m == device_path) {
            errs.push(p.child("devicePath").invalid(
                device_path,
                "must not already exist as a path in volumeMounts",
            ));
        }
        if !name.is_empty() {
            names.insert(name);
        }
    }
    errs
}

/// A probe, for liveness, readiness or startup.
pub fn validate_probe(
    probe: &Value,
    kind: &str,
    grace: Option<i64>,
    path: &Path,
) -> Vec<FieldError> {
    let mut errs = validate_handler(probe, grace, false, path);
    for field in [
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ] {
        errs.extend(nonnegative(int(probe, field), &path.child(field)));
    }
    if let Some(t) = int(probe, "terminationGracePeriodSeconds") {
        if kind == "readiness" {
            errs.push(
                path.child("terminationGracePeriodSeconds")
                    .invalid(t, "must not be set for readinessProbes"),
            );
        } else if t <= 0 {
            errs.push(
                path.child("terminationGracePeriodSeconds")
                    .invalid(t, "must be greater than 0"),
            );
        }
    }
    if kind != "readiness" {
        let success = int0(probe, "successThreshold");
        if success != 1 {
            errs.push(path.child("successThreshold").invalid(success, "must be 1"));
        }
    }
    errs
}

/// A probe or lifecycle handler: exactly one action.
pub fn validate_handler(
    handler: &Value,
    grace: Option<i64>,
    lifecycle: bool,
    path: &Path,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut count = 0;
    let kinds: &[&str] = if lifecycle {
        &["exec", "httpGet", "tcpSocket", "sleep"]
    } else {
        &["exec", "httpGet", "tcpSocket", "grpc"]
    };
    for &kind in kinds {
        let Some(action) = get(handler, kind) else {
            continue;
        };
        let p = path.child(kind);
        if count > 0 {
            errs.push(p.forbidden("may not specify more than 1 handler type"));
            continue;
        }
        count += 1;
        match kind {
            "exec" => {
                if arr(action, "command").is_empty() {
                    errs.push(p.child("command").required(""));
                }
            }
            "httpGet" => {
                if s(action, "path").is_empty() {
                    errs.push(p.child("path").required(""));
                }
                errs.extend(port_num_or_name(get(action, "port"), &p.child("port")));
                let scheme = s(action, "scheme");
                if scheme != "HTTP" && scheme != "HTTPS" {
                    errs.push(p.child("scheme").not_supported(scheme, &["HTTP", "HTTPS"]));
                }
                for header in arr(action, "httpHeaders") {
                    let name = s(header, "name");
                    errs.extend(
                        p.child("httpHeaders")
                            .invalid_each(name, is_http_header_name(name)),
                    );
                }
            }
            "tcpSocket" => errs.extend(port_num_or_name(get(action, "port"), &p.child("port"))),
            "grpc" => {
                let port = int0(action, "port");
                errs.extend(port_num_or_name(Some(&Value::from(port)), &p.child("port")));
            }
            _ => {
                let seconds = int0(action, "seconds");
                if let Some(grace) = grace {
                    if seconds <= 0 || seconds > grace {
                        errs.push(p.invalid(seconds, &format!("must be greater than 0 and less than terminationGracePeriodSeconds ({grace}). Enable AllowPodLifecycleSleepActionZeroValue feature gate for zero sleep.")));
                    }
                }
            }
        }
    }
    if count == 0 {
        errs.push(path.required("must specify a handler type"));
    }
    errs
}

pub fn validate_lifecycle(lifecycle: &Value, grace: Option<i64>, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for hook in ["postStart", "preStop"] {
        if let Some(handler) = get(lifecycle, hook) {
            errs.extend(validate_handler(handler, grace, true, &path.child(hook)));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(c: Value) -> Vec<String> {
        let volumes = Volumes::from([("data".to_string(), VolumeKind::Other)]);
        validate_container_common(&c, &volumes, &Path::new("spec.containers").index(0))
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn defaulted(mut c: Value) -> Value {
        c["imagePullPolicy"] = json!("IfNotPresent");
        c["terminationMessagePolicy"] = json!("File");
        c
    }

    #[test]
    fn image_is_required() {
        assert_eq!(
            check(defaulted(json!({"name": "web"}))),
            vec!["spec.containers[0].image: Required value"]
        );
    }

    #[test]
    fn ports_and_protocols() {
        let errs = check(defaulted(json!({"name": "web", "image": "nginx",
            "ports": [{"containerPort": 70000, "protocol": "TCP"}, {"containerPort": 80, "protocol": "ICMP"}]})));
        assert_eq!(errs, vec![
            "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
            "spec.containers[0].ports[1].protocol: Unsupported value: \"ICMP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
        ]);
    }

    #[test]
    fn requests_above_limits() {
        let errs = check(defaulted(json!({"name": "web", "image": "nginx",
            "resources": {"limits": {"cpu": "500m"}, "requests": {"cpu": "1", "memory": "-1"}}})));
        assert_eq!(errs, vec![
            "spec.containers[0].resources.requests: Invalid value: \"1\": must be less than or equal to cpu limit of 500m",
            "spec.containers[0].resources.requests[memory]: Invalid value: \"-1\": must be greater than or equal to 0",
        ]);
    }

    #[test]
    fn mounts_must_name_volumes() {
        let errs = check(defaulted(json!({"name": "web", "image": "nginx",
            "volumeMounts": [{"name": "nope", "mountPath": "/x"}]})));
        assert_eq!(
            errs,
            vec!["spec.containers[0].volumeMounts[0].name: Not found: \"nope\""]
        );
    }

    #[test]
    fn env_sources() {
        let errs = check(defaulted(json!({"name": "web", "image": "nginx",
            "env": [{"name": "A=B"}, {"name": "X", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.bogus"}}}]})));
        assert_eq!(errs.len(), 2);
        assert!(errs[0].contains("printable ASCII characters other than '='"));
        assert!(errs[1].starts_with("spec.containers[0].env[1].valueFrom.fieldRef.fieldPath: Unsupported value: \"spec.bogus\""));
    }
}
