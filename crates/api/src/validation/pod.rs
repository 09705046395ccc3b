//! Pods, pod specs and pod templates (pkg/apis/core/validation).

use serde_json::Value;

use super::container::{
    dns_label, host_port_conflicts, validate_container_common, validate_lifecycle, validate_probe,
    Volumes,
};
use super::meta::{validate_annotations, validate_labels, validate_object_meta, NameRule};
use super::names::{inclusive_range_error, is_dns1123_subdomain};
use super::path::{arr, boolean, dig, get, int, s, Path};
use super::pod_extra::{
    validate_affinity, validate_dns_config, validate_pod_security_context,
    validate_scheduling_gates, validate_tolerations, validate_topology_spread,
};
use super::resources::validate_resource_requirements;
use super::volume::validate_volumes;
use crate::status::FieldError;

/// Whether the spec belongs to a Pod (not a template): some checks are
/// only made for real pods.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum SpecOf {
    Pod,
    Template,
}

pub fn validate_pod_spec(
    spec: &Value,
    pod_name: Option<&str>,
    path: &Path,
    of: SpecOf,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let grace = int(spec, "terminationGracePeriodSeconds");
    if grace.is_none() {
        errs.push(path.child("terminationGracePeriodSeconds").required(""));
    }
    let (volumes, volume_errs) =
        validate_volumes(arr(spec, "volumes"), pod_name, &path.child("volumes"));
    errs.extend(volume_errs);
    errs.extend(validate_containers(spec, &volumes, grace, path));
    errs.extend(validate_init_containers(spec, &volumes, grace, path));
    errs.extend(super::ephemeral::validate_ephemeral_containers(
        spec,
        &volumes,
        &path.child("ephemeralContainers"),
    ));
    errs.extend(validate_host_network_ports(spec, path, of));
    match s(spec, "restartPolicy") {
        "Always" | "OnFailure" | "Never" => {}
        "" => errs.push(path.child("restartPolicy").required("")),
        other => errs.push(
            path.child("restartPolicy")
                .not_supported(other, &["Always", "OnFailure", "Never"]),
        ),
    }
    let dns_policy = s(spec, "dnsPolicy");
    match dns_policy {
        "ClusterFirstWithHostNet" | "ClusterFirst" | "Default" | "None" => {}
        "" => errs.push(path.child("dnsPolicy").required("")),
        other => errs.push(path.child("dnsPolicy").not_supported(
            other,
            &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        )),
    }
    errs.extend(validate_labels(
        get(spec, "nodeSelector"),
        &path.child("nodeSelector"),
    ));
    if let Some(sc) = get(spec, "securityContext") {
        errs.extend(validate_pod_security_context(
            sc,
            &path.child("securityContext"),
        ));
    }
    for (i, secret) in arr(spec, "imagePullSecrets").iter().enumerate() {
        if secret
            .as_object()
            .is_some_and(|m| m.keys().any(|k| k != "name"))
        {
            errs.push(path.child("imagePullSecrets").index(i).invalid_shown(
                &format!("core.LocalObjectReference{{Name:{:?}}}", s(secret, "name")),
                "only name may be set",
            ));
        }
    }
    if let Some(affinity) = get(spec, "affinity") {
        errs.extend(validate_affinity(affinity, &path.child("affinity")));
    }
    errs.extend(validate_dns_config(
        get(spec, "dnsConfig"),
        dns_policy,
        &path.child("dnsConfig"),
    ));
    for (i, gate) in arr(spec, "readinessGates").iter().enumerate() {
        let condition = s(gate, "conditionType");
        let p = path.child("readinessGates").index(i).child("conditionType");
        errs.extend(super::meta::validate_label_name(condition, &p));
    }
    errs.extend(validate_scheduling_gates(
        arr(spec, "schedulingGates"),
        &path.child("schedulingGates"),
    ));
    errs.extend(validate_topology_spread(
        arr(spec, "topologySpreadConstraints"),
        &path.child("topologySpreadConstraints"),
    ));
    for (field, rule) in [
        ("serviceAccountName", NameRule::Subdomain),
        ("nodeName", NameRule::Subdomain),
    ] {
        let value = s(spec, field);
        if !value.is_empty() {
            errs.extend(
                path.child(field)
                    .invalid_each(value, rule.check(value, false)),
            );
        }
    }
    if let Some(deadline) = int(spec, "activeDeadlineSeconds") {
        if !(1..=i32::MAX as i64).contains(&deadline) {
            errs.push(
                path.child("activeDeadlineSeconds")
                    .invalid(deadline, &inclusive_range_error(1, i32::MAX as i64)),
            );
        }
    }
    for field in ["hostname", "subdomain"] {
        let value = s(spec, field);
        if !value.is_empty() {
            errs.extend(dns_label(value, &path.child(field)));
        }
    }
    errs.extend(validate_tolerations(
        arr(spec, "tolerations"),
        &path.child("tolerations"),
    ));
    for (i, alias) in arr(spec, "hostAliases").iter().enumerate() {
        let p = path.child("hostAliases").index(i);
        let ip = s(alias, "ip");
        if !super::names::is_valid_ip(ip) {
            errs.push(p.child("ip").invalid(ip, super::names::ip_error_text()));
        }
        for (j, host) in arr(alias, "hostnames").iter().enumerate() {
            let host = host.as_str().unwrap_or("");
            errs.extend(
                p.child("hostnames")
                    .index(j)
                    .invalid_each(host, is_dns1123_subdomain(host)),
            );
        }
    }
    let priority_class = s(spec, "priorityClassName");
    if !priority_class.is_empty() {
        errs.extend(
            path.child("priorityClassName")
                .invalid_each(priority_class, is_dns1123_subdomain(priority_class)),
        );
    }
    if let Some(runtime_class) = spec.get("runtimeClassName").and_then(Value::as_str) {
        errs.extend(
            path.child("runtimeClassName")
                .invalid_each(runtime_class, is_dns1123_subdomain(runtime_class)),
        );
    }
    if let Some(policy) = spec.get("preemptionPolicy").and_then(Value::as_str) {
        match policy {
            "PreemptLowerPriority" | "Never" => {}
            "" => errs.push(path.child("preemptionPolicy").required("")),
            other => errs.push(
                path.child("preemptionPolicy")
                    .not_supported(other, &["PreemptLowerPriority", "Never"]),
            ),
        }
    }
    if let Some(overhead) = get(spec, "overhead") {
        let wrapped = serde_json::json!({ "limits": overhead });
        let errors = validate_resource_requirements(&wrapped, &path.child("overhead"), true);
        errs.extend(errors.into_iter().map(|mut e| {
            e.field = e.field.replacen("overhead.limits", "overhead", 1);
            e
        }));
    }
    if let Some(os) = get(spec, "os") {
        let name = s(os, "name");
        if name.is_empty() {
            errs.push(path.child("os").child("name").required("cannot be empty"));
        } else if name != "linux" && name != "windows" {
            errs.push(path.child("os").not_supported(name, &["linux", "windows"]));
        }
    }
    errs
}

fn validate_containers(
    spec: &Value,
    volumes: &Volumes,
    grace: Option<i64>,
    path: &Path,
) -> Vec<FieldError> {
    let containers = arr(spec, "containers");
    let cp = path.child("containers");
    if containers.is_empty() {
        return vec![cp.required("")];
    }
    let mut errs = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    for (i, c) in containers.iter().enumerate() {
        let p = cp.index(i);
        errs.extend(validate_container_common(c, volumes, &p));
        let name = s(c, "name");
        if !names.insert(name) {
            errs.push(p.child("name").duplicate(name));
        }
        if let Some(lifecycle) = get(c, "lifecycle") {
            errs.extend(validate_lifecycle(lifecycle, grace, &p.child("lifecycle")));
        }
        errs.extend(probes(c, grace, &p));
        if c.get("restartPolicy").is_some_and(|v| !v.is_null()) {
            errs.push(
                p.child("restartPolicy")
                    .forbidden("may not be set for non-init containers"),
            );
        }
    }
    let all: Vec<&Value> = containers.iter().collect();
    let indices: Vec<usize> = (0..containers.len()).collect();
    errs.extend(host_port_conflicts(&all, &indices, &cp));
    errs
}

fn probes(c: &Value, grace: Option<i64>, p: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (field, kind) in [
        ("livenessProbe", "liveness"),
        ("readinessProbe", "readiness"),
        ("startupProbe", "startup"),
    ] {
        if let Some(probe) = get(c, field) {
            errs.extend(validate_probe(probe, kind, grace, &p.child(field)));
        }
    }
    errs
}

fn validate_init_containers(
    spec: &Value,
    volumes: &Volumes,
    grace: Option<i64>,
    path: &Path,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let ip = path.child("initContainers");
    let mut names: std::collections::BTreeSet<&str> = arr(spec, "containers")
        .iter()
        .map(|c| s(c, "name"))
        .collect();
    for (i, c) in arr(spec, "initContainers").iter().enumerate() {
        let p = ip.index(i);
        errs.extend(validate_container_common(c, volumes, &p));
        let mut restart_always = false;
        if let Some(policy) = c.get("restartPolicy").and_then(Value::as_str) {
            if policy == "Always" {
                restart_always = true;
            } else {
                errs.push(p.child("restartPolicy").not_supported(policy, &["Always"]));
            }
        }
        let name = s(c, "name");
        if names.contains(name) {
            errs.push(p.child("name").duplicate(name));
        } else if !name.is_empty() {
            names.insert(name);
        }
        errs.extend(host_port_conflicts(&[c], &[i], &ip));
        if restart_always {
            if let Some(lifecycle) = get(c, "lifecycle") {
                errs.extend(validate_lifecycle(lifecycle, grace, &p.child("lifecycle")));
            }
            errs.extend(probes(c, grace, &p));
        } else {
            for field in [
                "lifecycle",
                "livenessProbe",
                "readinessProbe",
                "startupProbe",
            ] {
                if get(c, field).is_some() {
                    errs.push(p.child(field).forbidden(
                        "may not be set for init containers without restartPolicy=Always",
                    ));
                }
            }
        }
    }
    errs
}

fn validate_host_network_ports(spec: &Value, path: &Path, of: SpecOf) -> Vec<FieldError> {
    if boolean(spec, "hostNetwork") != Some(true) {
        return Vec::new();
    }
    let mut errs = Vec::new();
    for (i, c) in arr(spec, "containers").iter().enumerate() {
        for (j, port) in arr(c, "ports").iter().enumerate() {
            let host = super::path::int0(port, "hostPort");
            let container = super::path::int0(port, "containerPort");
            if (of == SpecOf::Pod || host != 0) && host != container {
                errs.push(
                    path.child("containers")
                        .index(i)
                        .child("ports")
                        .index(j)
                        .child("hostPort")
                        .invalid(
                            host,
                            "must match `containerPort` when `hostNetwork` is true",
                        ),
                );
            }
        }
    }
    errs
}

/// `ValidatePodTemplateSpec` at `path` (e.g. `spec.template`).
pub fn validate_pod_template_spec(template: &Value, path: &Path) -> Vec<FieldError> {
    let empty = Value::Null;
    let meta = get(template, "metadata").unwrap_or(&empty);
    let mut errs = validate_labels(get(meta, "labels"), &path.child("labels"));
    errs.extend(validate_annotations(
        get(meta, "annotations"),
        &path.child("annotations"),
    ));
    let spec = get(template, "spec").unwrap_or(&empty);
    errs.extend(validate_pod_spec(
        spec,
        None,
        &path.child("spec"),
        SpecOf::Template,
    ));
    if !arr(spec, "ephemeralContainers").is_empty() {
        errs.push(
            path.child("spec")
                .child("ephemeralContainers")
                .forbidden("ephemeral containers not allowed in pod template"),
        );
    }
    errs
}

fn image_whitespace(spec: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for field in ["containers", "initContainers"] {
        for (i, c) in arr(spec, field).iter().enumerate() {
            let image = s(c, "image");
            if image.trim() != image {
                errs.push(
                    path.child(field)
                        .index(i)
                        .child("image")
                        .invalid(image, "must not have leading or trailing whitespace"),
                );
            }
        }
    }
    errs
}

/// `validatePodMetadataAndSpec`.
pub fn validate_pod_metadata_and_spec(pod: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(pod, NameRule::Subdomain);
    let spec_path = Path::new("spec");
    let empty = Value::Null;
    let spec = get(pod, "spec").unwrap_or(&empty);
    let annotations = dig(pod, &["metadata", "annotations"]);
    if let Some(mirror) = annotations.and_then(|a| a.get("kubernetes.io/config.mirror")) {
        if s(spec, "nodeName").is_empty() {
            errs.push(
                Path::new("metadata.annotations")
                    .key("kubernetes.io/config.mirror")
                    .invalid(
                        mirror.clone(),
                        "must set spec.nodeName if mirror pod annotation is set",
                    ),
            );
        }
    }
    let name = dig(pod, &["metadata", "name"]).and_then(Value::as_str);
    errs.extend(validate_pod_spec(spec, name, &spec_path, SpecOf::Pod));
    if s(spec, "serviceAccountName").is_empty() {
        for (vi, volume) in arr(spec, "volumes").iter().enumerate() {
            for (si, source) in arr(get(volume, "projected").unwrap_or(&empty), "sources")
                .iter()
                .enumerate()
            {
                if get(source, "serviceAccountToken").is_some() {
                    errs.push(
                        spec_path
                            .child("volumes")
                            .index(vi)
                            .child("projected")
                            .child("sources")
                            .index(si)
                            .child("serviceAccountToken")
                            .forbidden("must not be specified when serviceAccountName is not set"),
                    );
                }
            }
        }
    }
    errs.extend(image_whitespace(spec, &spec_path));
    errs
}

pub fn validate_pod_create(pod: &Value) -> Vec<FieldError> {
    let mut errs = validate_pod_metadata_and_spec(pod);
    let spec_path = Path::new("spec");
    let empty = Value::Null;
    let spec = get(pod, "spec").unwrap_or(&empty);
    if !arr(spec, "ephemeralContainers").is_empty() {
        errs.push(
            spec_path
                .child("ephemeralContainers")
                .forbidden("cannot be set on create"),
        );
    }
    if !s(spec, "nodeName").is_empty() && !arr(spec, "schedulingGates").is_empty() {
        errs.push(
            spec_path
                .child("nodeName")
                .forbidden("cannot be set until all schedulingGates have been cleared"),
        );
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(spec: Value) -> Value {
        let mut pod =
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec});
        crate::defaults::apply_defaults("", "Pod", &mut pod);
        pod
    }

    fn errors(pod: &Value) -> Vec<String> {
        validate_pod_create(pod)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_defaulted_pod_is_valid() {
        let p = pod(json!({"containers": [{"name": "web", "image": "nginx",
            "ports": [{"containerPort": 80}],
            "livenessProbe": {"httpGet": {"port": 80}},
            "env": [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}],
            "volumes": [{"name": "cfg", "configMap": {"name": "c"}}]}));
        assert_eq!(errors(&p), Vec::<String>::new());
    }

    #[test]
    fn containers_are_required() {
        let p = pod(json!({}));
        assert_eq!(errors(&p), vec!["spec.containers: Required value"]);
    }

    #[test]
    fn bad_enums_list_upstreams_values() {
        let p = pod(
            json!({"restartPolicy": "Sometimes", "containers": [{"name": "a", "image": "x"}, {"name": "a", "image": "y"}]}),
        );
        assert_eq!(errors(&p), vec![
            "spec.containers[1].name: Duplicate value: \"a\"",
            "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
        ]);
    }

    #[test]
    fn init_containers_may_not_probe() {
        let p = pod(json!({"containers": [{"name": "a", "image": "x"}],
            "initContainers": [{"name": "i", "image": "x", "readinessProbe": {"exec": {"command": ["true"]}}}]}));
        assert_eq!(errors(&p), vec![
            "spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers without restartPolicy=Always",
        ]);
    }
}
