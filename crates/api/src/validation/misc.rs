//! The smaller groups: policy, autoscaling, coordination, scheduling,
//! discovery, events.k8s.io, certificates and admissionregistration.

use std::collections::BTreeSet;

use serde_json::Value;

use super::container::{dns_label, nonnegative, PROTOCOLS};
use super::meta::{
    validate_label_selector, validate_object_meta, validate_object_meta_update, NameRule, IMMUTABLE,
};
use super::names::{
    is_dns1123_subdomain, is_qualified_name, is_valid_ip, is_valid_path_segment_name,
    is_valid_percent, is_valid_port_num,
};
use super::path::{arr, dig, dig_or_null, get, int, int_or_string, s, Path};
use crate::status::FieldError;

fn int_or_percent(value: Option<&Value>, path: &Path) -> Vec<FieldError> {
    match value {
        Some(Value::String(text)) => {
            let mut errs: Vec<FieldError> = is_valid_percent(text)
                .iter()
                .map(|m| path.invalid_shown(text, m))
                .collect();
            let n: i64 = text.trim_end_matches('%').parse().unwrap_or(0);
            if errs.is_empty() && n > 100 {
                errs.push(path.invalid_shown(text, "must not be greater than 100%"));
            }
            errs
        }
        Some(v) => nonnegative(super::path::as_int(v), path),
        None => Vec::new(),
    }
}

pub fn validate_pdb(pdb: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(pdb, NameRule::Subdomain);
    let spec = dig_or_null(pdb, &["spec"]);
    let path = Path::new("spec");
    let (min, max) = (get(spec, "minAvailable"), get(spec, "maxUnavailable"));
    if min.is_some() && max.is_some() {
        errs.push(path.invalid_shown(
            &format!(
                "policy.PodDisruptionBudgetSpec{{MinAvailable:{}, MaxUnavailable:{}, ...}}",
                int_or_string(min.unwrap_or(&Value::Null)),
                int_or_string(max.unwrap_or(&Value::Null))
            ),
            "minAvailable and maxUnavailable cannot be both set",
        ));
    }
    errs.extend(int_or_percent(min, &path.child("minAvailable")));
    errs.extend(int_or_percent(max, &path.child("maxUnavailable")));
    errs.extend(validate_label_selector(
        get(spec, "selector"),
        &path.child("selector"),
    ));
    if let Some(policy) = spec
        .get("unhealthyPodEvictionPolicy")
        .and_then(Value::as_str)
    {
        if policy != "AlwaysAllow" && policy != "IfHealthyBudget" {
            errs.push(
                path.child("unhealthyPodEvictionPolicy")
                    .not_supported(policy, &["AlwaysAllow", "IfHealthyBudget"]),
            );
        }
    }
    errs
}

fn cross_version_ref(reference: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for field in ["kind", "name"] {
        let value = s(reference, field);
        if value.is_empty() {
            errs.push(path.child(field).required(""));
        } else {
            errs.extend(
                path.child(field)
                    .invalid_each(value, is_valid_path_segment_name(value)),
            );
        }
    }
    errs
}

pub fn validate_hpa(hpa: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(hpa, NameRule::Subdomain);
    let spec = dig_or_null(hpa, &["spec"]);
    let path = Path::new("spec");
    let min = int(spec, "minReplicas");
    if let Some(min) = min.filter(|m| *m < 1) {
        errs.push(
            path.child("minReplicas")
                .invalid(min, "must be greater than or equal to 1"),
        );
    }
    let max = int(spec, "maxReplicas").unwrap_or(0);
    if max < 1 {
        errs.push(
            path.child("maxReplicas")
                .invalid(max, "must be greater than 0"),
        );
    }
    if min.is_some_and(|m| max < m) {
        errs.push(
            path.child("maxReplicas")
                .invalid(max, "must be greater than or equal to `minReplicas`"),
        );
    }
    errs.extend(cross_version_ref(
        dig_or_null(spec, &["scaleTargetRef"]),
        &path.child("scaleTargetRef"),
    ));
    if let Some(target) = int(spec, "targetCPUUtilizationPercentage").filter(|t| *t < 1) {
        errs.push(
            path.child("targetCPUUtilizationPercentage")
                .invalid(target, "must be greater than 0"),
        );
    }
    const TYPES: &[&str] = &[
        "ContainerResource",
        "External",
        "Object",
        "Pods",
        "Resource",
    ];
    for (i, metric) in arr(spec, "metrics").iter().enumerate() {
        let mp = path.child("metrics").index(i);
        let kind = s(metric, "type");
        if kind.is_empty() {
            errs.push(
                mp.child("type")
                    .required("must specify a metric source type"),
            );
            continue;
        }
        if !TYPES.contains(&kind) {
            errs.push(mp.child("type").not_supported(kind, TYPES));
            continue;
        }
        let field = match kind {
            "ContainerResource" => "containerResource",
            "External" => "external",
            "Object" => "object",
            "Pods" => "pods",
            _ => "resource",
        };
        let Some(source) = get(metric, field) else {
            errs.push(mp.child(field).required(&format!(
                "must populate information for the given metric source (type {kind})"
            )));
            continue;
        };
        if (kind == "Resource" || kind == "ContainerResource") && s(source, "name").is_empty() {
            errs.push(
                mp.child(field)
                    .child("name")
                    .required("must specify a resource name"),
            );
        }
        if let Some(target) = get(source, "target") {
            let tp = mp.child(field).child("target");
            match s(target, "type") {
                "Utilization" | "Value" | "AverageValue" => {}
                "" => errs.push(
                    tp.child("type")
                        .required("must specify a metric target type"),
                ),
                other => errs.push(
                    tp.child("type")
                        .not_supported(other, &["AverageValue", "Utilization", "Value"]),
                ),
            }
        }
    }
    errs
}

pub fn validate_lease(lease: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(lease, NameRule::Subdomain);
    let spec = dig_or_null(lease, &["spec"]);
    if let Some(d) = int(spec, "leaseDurationSeconds").filter(|d| *d <= 0) {
        errs.push(Path::new("spec.leaseDurationSeconds").invalid(d, "must be greater than 0"));
    }
    if let Some(t) = int(spec, "leaseTransitions").filter(|t| *t < 0) {
        errs.push(
            Path::new("spec.leaseTransitions").invalid(t, "must be greater than or equal to 0"),
        );
    }
    errs
}

const SYSTEM_CLASSES: &[(&str, i64)] = &[
    ("system-node-critical", 2000001000),
    ("system-cluster-critical", 2000000000),
];

pub fn validate_priority_class(pc: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(pc, NameRule::Subdomain);
    let name = dig(pc, &["metadata", "name"])
        .and_then(Value::as_str)
        .unwrap_or("");
    let value = int(pc, "value").unwrap_or(0);
    if name.starts_with("system-") {
        let problem = match SYSTEM_CLASSES.iter().find(|(n, _)| *n == name) {
            None => Some(format!("{name} is not a known system priority class")),
            Some((_, v)) if *v != value => {
                Some(format!("value of {name} PriorityClass must be {v}"))
            }
            _ => None,
        };
        if let Some(problem) = problem {
            errs.push(Path::new("metadata.name").forbidden(&format!(
                "priority class names with 'system-' prefix are reserved for system use only. error: {problem}"
            )));
        }
    } else if value > 1_000_000_000 {
        errs.push(
            Path::new("value")
                .forbidden("maximum allowed value of a user defined priority is 1000000000"),
        );
    }
    if let Some(policy) = pc.get("preemptionPolicy").and_then(Value::as_str) {
        if policy != "PreemptLowerPriority" && policy != "Never" {
            errs.push(
                Path::new("preemptionPolicy")
                    .not_supported(policy, &["PreemptLowerPriority", "Never"]),
            );
        }
    }
    errs
}

pub fn validate_priority_class_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    if int(new, "value") != int(old, "value") {
        errs.push(Path::new("value").forbidden("may not be changed in an update."));
    }
    let policy = s(new, "preemptionPolicy");
    if policy != s(old, "preemptionPolicy") {
        errs.push(Path::new("preemptionPolicy").invalid(policy, IMMUTABLE));
    }
    errs
}

pub fn validate_endpoint_slice(slice: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(slice, NameRule::Subdomain);
    let address_type = s(slice, "addressType");
    match address_type {
        "" => errs.push(Path::new("addressType").required("")),
        "IPv4" | "IPv6" | "FQDN" => {}
        other => {
            errs.push(Path::new("addressType").not_supported(other, &["FQDN", "IPv4", "IPv6"]))
        }
    }
    let endpoints = arr(slice, "endpoints");
    if endpoints.len() > 1000 {
        errs.push(Path::new("endpoints").too_many(endpoints.len(), 1000));
    }
    for (i, ep) in endpoints.iter().enumerate() {
        let ep_path = Path::new("endpoints").index(i);
        let addresses = arr(ep, "addresses");
        let ap = ep_path.child("addresses");
        if addresses.is_empty() {
            errs.push(ap.required("must contain at least 1 address"));
        } else if addresses.len() > 100 {
            errs.push(ap.too_many(addresses.len(), 100));
        }
        for (j, address) in addresses.iter().enumerate() {
            let address = address.as_str().unwrap_or("");
            let p = ap.index(j);
            match address_type {
                "IPv4" if !is_valid_ip(address) || address.contains(':') => {
                    errs.push(p.invalid(address, "must be a valid IPv4 address"))
                }
                "IPv6" if !(is_valid_ip(address) && address.contains(':')) => {
                    errs.push(p.invalid(address, "must be a valid IPv6 address"))
                }
                "FQDN" => errs.extend(p.invalid_each(address, is_dns1123_subdomain(address))),
                _ => {}
            }
        }
        if let Some(node) = ep.get("nodeName").and_then(Value::as_str) {
            errs.extend(
                ep_path
                    .child("nodeName")
                    .invalid_each(node, is_dns1123_subdomain(node)),
            );
        }
        if let Some(hostname) = ep.get("hostname").and_then(Value::as_str) {
            errs.extend(dns_label(hostname, &ep_path.child("hostname")));
        }
    }
    let ports = arr(slice, "ports");
    if ports.len() > 100 {
        errs.push(Path::new("ports").too_many(ports.len(), 100));
    }
    let mut names = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        let pp = Path::new("ports").index(i);
        let name = s(port, "name");
        if !name.is_empty() {
            errs.extend(dns_label(name, &pp.child("name")));
        }
        if !names.insert(name) {
            errs.push(pp.child("name").duplicate(name));
        }
        match s(port, "protocol") {
            "" => errs.push(pp.child("protocol").required("")),
            p if !PROTOCOLS.contains(&p) => {
                errs.push(pp.child("protocol").not_supported(p, PROTOCOLS))
            }
            _ => {}
        }
        if let Some(number) = int(port, "port") {
            for msg in is_valid_port_num(number) {
                errs.push(pp.child("port").invalid(number, &msg));
            }
        }
        if let Some(app) = port.get("appProtocol").and_then(Value::as_str) {
            errs.extend(
                pp.child("appProtocol")
                    .invalid_each(app, is_qualified_name(app)),
            );
        }
    }
    errs
}

pub fn validate_endpoint_slice_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    errs.extend(validate_endpoint_slice(new));
    let kind = s(new, "addressType");
    if kind != s(old, "addressType") {
        errs.push(Path::new("addressType").invalid(kind, IMMUTABLE));
    }
    errs
}

/// events.k8s.io/v1 Events, which must carry the newer fields.
pub fn validate_events_v1(event: &Value) -> Vec<FieldError> {
    let mut errs = super::core::validate_event(event);
    if get(event, "eventTime").is_none() {
        errs.push(Path::new("eventTime").required(""));
    }
    let kind = s(event, "type");
    if kind != "Normal" && kind != "Warning" {
        errs.push(Path::new("type").invalid("", &format!("has invalid value: {kind}")));
    }
    let controller = s(event, "reportingController");
    if controller.is_empty() {
        errs.push(Path::new("reportingController").required(""));
    }
    errs.extend(
        Path::new("reportingController").invalid_each(controller, is_qualified_name(controller)),
    );
    let instance = s(event, "reportingInstance");
    if instance.is_empty() {
        errs.push(Path::new("reportingInstance").required(""));
    } else if instance.len() > 128 {
        errs.push(Path::new("reportingInstance").invalid("", "can have at most 128 characters"));
    }
    for (field, max) in [("action", 128), ("reason", 128)] {
        let value = s(event, field);
        if value.is_empty() {
            errs.push(Path::new(field).required(""));
        } else if value.len() > max {
            errs.push(Path::new(field).invalid("", &format!("can have at most {max} characters")));
        }
    }
    if s(event, "note").len() > 1024 {
        errs.push(Path::new("note").invalid("", "can have at most 1024 characters"));
    }
    errs
}

const USAGES: &[&str] = &[
    "any",
    "cert sign",
    "client auth",
    "code signing",
    "content commitment",
    "crl sign",
    "data encipherment",
    "decipher only",
    "digital signature",
    "email protection",
    "encipher only",
    "ipsec end system",
    "ipsec tunnel",
    "ipsec user",
    "key agreement",
    "key encipherment",
    "microsoft sgc",
    "netscape sgc",
    "ocsp signing",
    "s/mime",
    "server auth",
    "signing",
    "timestamping",
];

pub fn validate_csr(csr: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(csr, NameRule::Any);
    let spec = dig_or_null(csr, &["spec"]);
    let path = Path::new("spec");
    let request = s(spec, "request");
    let decoded = super::core::base64_decode(request).unwrap_or_default();
    if !String::from_utf8_lossy(&decoded).contains("CERTIFICATE REQUEST") {
        errs.push(
            path.child("request")
                .invalid_shown("[]byte{...}", "PEM block type must be CERTIFICATE REQUEST"),
        );
    }
    if s(spec, "signerName").is_empty() {
        errs.push(path.child("signerName").required(""));
    }
    let usages = arr(spec, "usages");
    if usages.is_empty() {
        errs.push(path.child("usages").required(""));
    }
    for (i, usage) in usages.iter().enumerate() {
        let usage = usage.as_str().unwrap_or("");
        if !USAGES.contains(&usage) {
            errs.push(path.child("usages").index(i).not_supported(usage, USAGES));
        }
    }
    if let Some(seconds) = int(spec, "expirationSeconds").filter(|s| *s < 600) {
        errs.push(path.child("expirationSeconds").invalid(
            seconds,
            "may not specify a duration less than 600 seconds (10 minutes)",
        ));
    }
    errs
}

fn fully_qualified(name: &str, path: &Path) -> Vec<FieldError> {
    if name.is_empty() {
        return vec![path.required("")];
    }
    let msgs = is_dns1123_subdomain(name);
    if !msgs.is_empty() {
        return vec![path.invalid(name, &msgs.join(","))];
    }
    if name.split('.').count() < 3 {
        return vec![path.invalid(
            name,
            "should be a domain with at least three segments separated by dots",
        )];
    }
    Vec::new()
}

pub fn validate_webhook_configuration(config: &Value, mutating: bool) -> Vec<FieldError> {
    let mut errs = validate_object_meta(config, NameRule::Subdomain);
    let mut names = BTreeSet::new();
    for (i, hook) in arr(config, "webhooks").iter().enumerate() {
        let p = Path::new("webhooks").index(i);
        let name = s(hook, "name");
        errs.extend(fully_qualified(name, &p.child("name")));
        if !names.insert(name) {
            errs.push(p.child("name").duplicate(name));
        }
        for (j, rule) in arr(hook, "rules").iter().enumerate() {
            let rp = p.child("rules").index(j);
            if arr(rule, "operations").is_empty() {
                errs.push(rp.child("operations").required(""));
            }
            if arr(rule, "apiGroups").is_empty() {
                errs.push(rp.child("apiGroups").required(""));
            }
            if arr(rule, "apiVersions").is_empty() {
                errs.push(rp.child("apiVersions").required(""));
            }
            if arr(rule, "resources").is_empty() {
                errs.push(rp.child("resources").required(""));
            }
        }
        let enums: [(&str, &[&str]); 2] = [
            ("failurePolicy", &["Fail", "Ignore"]),
            ("matchPolicy", &["Equivalent", "Exact"]),
        ];
        for (field, allowed) in enums {
            if let Some(v) = hook.get(field).and_then(Value::as_str) {
                if !allowed.contains(&v) {
                    errs.push(p.child(field).not_supported(v, allowed));
                }
            }
        }
        match hook.get("sideEffects").and_then(Value::as_str) {
            None => errs.push(
                p.child("sideEffects")
                    .required("must specify one of None, NoneOnDryRun"),
            ),
            Some("None" | "NoneOnDryRun") => {}
            Some(other) => errs.push(
                p.child("sideEffects")
                    .not_supported(other, &["None", "NoneOnDryRun"]),
            ),
        }
        if arr(hook, "admissionReviewVersions").is_empty() {
            errs.push(
                p.child("admissionReviewVersions")
                    .required("must specify one of v1, v1beta1"),
            );
        }
        if let Some(t) = int(hook, "timeoutSeconds").filter(|t| !(1..=30).contains(t)) {
            errs.push(
                p.child("timeoutSeconds")
                    .invalid(t, "the timeout value must be between 1 and 30 seconds"),
            );
        }
        if mutating {
            if let Some(policy) = hook.get("reinvocationPolicy").and_then(Value::as_str) {
                if policy != "Never" && policy != "IfNeeded" {
                    errs.push(
                        p.child("reinvocationPolicy")
                            .not_supported(policy, &["IfNeeded", "Never"]),
                    );
                }
            }
        }
        for field in ["namespaceSelector", "objectSelector"] {
            errs.extend(validate_label_selector(get(hook, field), &p.child(field)));
        }
        let cc = dig_or_null(hook, &["clientConfig"]);
        let cp = p.child("clientConfig");
        match (get(cc, "url"), get(cc, "service")) {
            (Some(_), Some(_)) | (None, None) => {
                errs.push(cp.required("exactly one of url or service is required"))
            }
            (Some(url), None) => {
                let url = url.as_str().unwrap_or("");
                if !url.starts_with("https://") {
                    errs.push(
                        cp.child("url")
                            .invalid(url, "'https' is the only allowed URL scheme"),
                    );
                }
            }
            (None, Some(service)) => {
                let sp = cp.child("service");
                for field in ["name", "namespace"] {
                    let v = s(service, field);
                    if v.is_empty() {
                        errs.push(
                            sp.child(field)
                                .required(&format!("service {field} is required")),
                        );
                    }
                }
                if let Some(port) = int(service, "port") {
                    for msg in is_valid_port_num(port) {
                        errs.push(
                            sp.child("port")
                                .invalid(port, &format!("port is not valid: {msg}")),
                        );
                    }
                }
            }
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pdb_percentages() {
        let pdb = json!({"metadata": {"name": "p"}, "spec": {"minAvailable": "150%"}});
        assert_eq!(
            validate_pdb(&pdb)[0].to_string(),
            "spec.minAvailable: Invalid value: 150%: must not be greater than 100%"
        );
    }

    #[test]
    fn hpa_bounds() {
        let hpa = json!({"metadata": {"name": "h"}, "spec": {"minReplicas": 5, "maxReplicas": 2, "scaleTargetRef": {"kind": "Deployment", "name": "web"}}});
        assert_eq!(
            validate_hpa(&hpa)[0].to_string(),
            "spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`"
        );
    }

    #[test]
    fn system_priority_classes_are_reserved() {
        let pc = json!({"metadata": {"name": "system-mine"}, "value": 10});
        assert!(validate_priority_class(&pc)[0]
            .to_string()
            .contains("reserved for system use only"));
    }
}
