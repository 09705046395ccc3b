//! The scheduling-related parts of a pod spec: tolerations, affinity, DNS
//! config, pod security context, scheduling gates and topology spread.

use std::collections::BTreeSet;

use serde_json::Value;

use super::meta::{validate_label_name, validate_label_selector};
use super::names::{inclusive_range_error, ip_error_text, is_valid_ip, is_valid_label_value};
use super::path::{arr, get, go_string_list, int, s, Path};
use super::security::validate_seccomp_profile;
use crate::status::FieldError;

pub fn validate_tolerations(tolerations: &[Value], path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, t) in tolerations.iter().enumerate() {
        let p = path.index(i);
        let key = s(t, "key");
        let operator = s(t, "operator");
        let effect = s(t, "effect");
        let value = s(t, "value");
        if !key.is_empty() {
            errs.extend(validate_label_name(key, &p.child("key")));
        }
        if key.is_empty() && operator != "Exists" {
            errs.push(p.child("operator").invalid(
                operator,
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if int(t, "tolerationSeconds").is_some() && effect != "NoExecute" {
            errs.push(p.child("effect").invalid(
                effect,
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        match operator {
            "Equal" | "" => {
                let msgs = is_valid_label_value(value);
                if !msgs.is_empty() {
                    errs.push(p.child("operator").invalid(value, &msgs.join(";")));
                }
            }
            "Exists" => {
                if !value.is_empty() {
                    errs.push(
                        p.child("operator")
                            .invalid(value, "value must be empty when `operator` is 'Exists'"),
                    );
                }
            }
            other => errs.push(
                p.child("operator")
                    .not_supported(other, &["Equal", "Exists"]),
            ),
        }
        if !effect.is_empty() {
            errs.extend(validate_taint_effect(effect, &p.child("effect")));
        }
    }
    errs
}

pub fn validate_taint_effect(effect: &str, path: &Path) -> Vec<FieldError> {
    match effect {
        "NoSchedule" | "PreferNoSchedule" | "NoExecute" => Vec::new(),
        "" => vec![path.required("")],
        other => vec![path.not_supported(other, &["NoSchedule", "PreferNoSchedule", "NoExecute"])],
    }
}

fn validate_node_selector_term(term: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (j, req) in arr(term, "matchExpressions").iter().enumerate() {
        let p = path.child("matchExpressions").index(j);
        let values = arr(req, "values");
        let operator = s(req, "operator");
        match operator {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errs.push(
                        p.child("values")
                            .required("must be specified when `operator` is 'In' or 'NotIn'"),
                    );
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errs.push(p.child("values").forbidden(
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            "Gt" | "Lt" => {
                if values.len() != 1 {
                    errs.push(p.child("values").required(
                        "must be specified single value when `operator` is 'Lt' or 'Gt'",
                    ));
                }
            }
            other => errs.push(
                p.child("operator")
                    .invalid(other, "not a valid selector operator"),
            ),
        }
        errs.extend(validate_label_name(s(req, "key"), &p.child("key")));
    }
    for (j, req) in arr(term, "matchFields").iter().enumerate() {
        let p = path.child("matchFields").index(j);
        let operator = s(req, "operator");
        if operator == "In" || operator == "NotIn" {
            if arr(req, "values").len() != 1 {
                errs.push(p.child("values").required(
                    "must be only one value when `operator` is 'In' or 'NotIn' for node field selector",
                ));
            }
        } else {
            errs.push(
                p.child("operator")
                    .invalid(operator, "not a valid selector operator"),
            );
        }
        let key = s(req, "key");
        if key != "metadata.name" {
            errs.push(
                p.child("key")
                    .invalid(key, "not a valid field selector key"),
            );
        }
    }
    errs
}

/// `ValidateNodeSelector` for required node affinity and PV node affinity.
pub fn validate_node_selector(selector: &Value, path: &Path) -> Vec<FieldError> {
    let terms = arr(selector, "nodeSelectorTerms");
    let tp = path.child("nodeSelectorTerms");
    if terms.is_empty() {
        return vec![tp.required("must have at least one node selector term")];
    }
    terms
        .iter()
        .enumerate()
        .flat_map(|(i, term)| validate_node_selector_term(term, &tp.index(i)))
        .collect()
}

fn validate_pod_affinity_term(term: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs =
        validate_label_selector(get(term, "labelSelector"), &path.child("labelSelector"));
    errs.extend(validate_label_selector(
        get(term, "namespaceSelector"),
        &path.child("namespaceSelector"),
    ));
    for ns in arr(term, "namespaces") {
        let ns = ns.as_str().unwrap_or("");
        errs.extend(
            path.child("namespace")
                .invalid_each(ns, super::names::is_dns1123_label(ns)),
        );
    }
    let key = s(term, "topologyKey");
    if key.is_empty() {
        errs.push(path.child("topologyKey").required("can not be empty"));
    }
    errs.extend(validate_label_name(key, &path.child("topologyKey")));
    errs
}

fn weight(term: &Value, path: &Path) -> Vec<FieldError> {
    let w = super::path::int0(term, "weight");
    if w <= 0 || w > 100 {
        vec![path
            .child("weight")
            .invalid(w, "must be in the range 1-100")]
    } else {
        Vec::new()
    }
}

pub fn validate_affinity(affinity: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(node) = get(affinity, "nodeAffinity") {
        let p = path.child("nodeAffinity");
        if let Some(required) = get(node, "requiredDuringSchedulingIgnoredDuringExecution") {
            errs.extend(validate_node_selector(
                required,
                &p.child("requiredDuringSchedulingIgnoredDuringExecution"),
            ));
        }
        let pp = p.child("preferredDuringSchedulingIgnoredDuringExecution");
        for (i, term) in arr(node, "preferredDuringSchedulingIgnoredDuringExecution")
            .iter()
            .enumerate()
        {
            errs.extend(weight(term, &pp.index(i)));
            let empty = Value::Null;
            errs.extend(validate_node_selector_term(
                get(term, "preference").unwrap_or(&empty),
                &pp.index(i).child("preference"),
            ));
        }
    }
    for kind in ["podAffinity", "podAntiAffinity"] {
        let Some(pod) = get(affinity, kind) else {
            continue;
        };
        let p = path.child(kind);
        let rp = p.child("requiredDuringSchedulingIgnoredDuringExecution");
        for (i, term) in arr(pod, "requiredDuringSchedulingIgnoredDuringExecution")
            .iter()
            .enumerate()
        {
            errs.extend(validate_pod_affinity_term(term, &rp.index(i)));
        }
        let pp = p.child("preferredDuringSchedulingIgnoredDuringExecution");
        for (i, term) in arr(pod, "preferredDuringSchedulingIgnoredDuringExecution")
            .iter()
            .enumerate()
        {
            errs.extend(weight(term, &pp.index(i)));
            let empty = Value::Null;
            errs.extend(validate_pod_affinity_term(
                get(term, "podAffinityTerm").unwrap_or(&empty),
                &pp.index(i).child("podAffinityTerm"),
            ));
        }
    }
    errs
}

pub fn validate_dns_config(config: Option<&Value>, policy: &str, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if policy == "None" {
        match config {
            None => return vec![path.required("must provide `dnsConfig` when `dnsPolicy` is None")],
            Some(c) if arr(c, "nameservers").is_empty() => {
                return vec![path
                    .child("nameservers")
                    .required("must provide at least one DNS nameserver when `dnsPolicy` is None")]
            }
            _ => {}
        }
    }
    let Some(config) = config else {
        return errs;
    };
    let nameservers = arr(config, "nameservers");
    if nameservers.len() > 3 {
        errs.push(path.child("nameservers").invalid_shown(
            &go_string_list(nameservers),
            "must not have more than 3 nameservers",
        ));
    }
    for (i, ns) in nameservers.iter().enumerate() {
        let ns = ns.as_str().unwrap_or("");
        if !is_valid_ip(ns) {
            errs.push(
                path.child("nameservers")
                    .index(i)
                    .invalid(ns, ip_error_text()),
            );
        }
    }
    let searches = arr(config, "searches");
    if searches.len() > 32 {
        errs.push(path.child("searches").invalid_shown(
            &go_string_list(searches),
            "must not have more than 32 search paths",
        ));
    }
    let joined: Vec<&str> = searches.iter().filter_map(Value::as_str).collect();
    if joined.join(" ").len() > 2048 {
        errs.push(path.child("searches").invalid_shown(
            &go_string_list(searches),
            "must not have more than 2048 characters (including spaces) in the search list",
        ));
    }
    for (i, search) in joined.iter().enumerate() {
        if *search == "." {
            continue;
        }
        let search = search.strip_suffix('.').unwrap_or(search);
        let msgs = super::names::is_dns1123_subdomain(&search.replace('_', "a"));
        errs.extend(path.child("searches").index(i).invalid_each(search, msgs));
    }
    for (i, option) in arr(config, "options").iter().enumerate() {
        if s(option, "name").is_empty() {
            errs.push(path.child("options").index(i).required("must not be empty"));
        }
    }
    errs
}

pub fn validate_pod_security_context(sc: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let range = inclusive_range_error(0, 4294967295);
    for field in ["fsGroup", "runAsUser", "runAsGroup"] {
        if let Some(id) = int(sc, field) {
            if !(0..=4294967295).contains(&id) {
                errs.push(path.child(field).invalid(id, &range));
            }
        }
    }
    for (i, gid) in arr(sc, "supplementalGroups").iter().enumerate() {
        let gid = gid.as_i64().unwrap_or(-1);
        if !(0..=4294967295).contains(&gid) {
            errs.push(
                path.child("supplementalGroups")
                    .index(i)
                    .invalid(gid, &range),
            );
        }
    }
    let mut names = BTreeSet::new();
    for (i, sysctl) in arr(sc, "sysctls").iter().enumerate() {
        let name = s(sysctl, "name");
        let p = path.child("sysctls").index(i).child("name");
        if name.is_empty() {
            errs.push(p.required(""));
        } else if !names.insert(name) {
            errs.push(p.duplicate(name));
        }
    }
    if let Some(policy) = sc.get("fsGroupChangePolicy").and_then(Value::as_str) {
        if policy != "OnRootMismatch" && policy != "Always" {
            errs.push(
                path.child("fsGroupChangePolicy")
                    .not_supported(policy, &["Always", "OnRootMismatch"]),
            );
        }
    }
    if let Some(profile) = get(sc, "seccompProfile") {
        errs.extend(validate_seccomp_profile(
            profile,
            &path.child("seccompProfile"),
        ));
    }
    if let Some(policy) = sc.get("supplementalGroupsPolicy").and_then(Value::as_str) {
        if policy != "Merge" && policy != "Strict" {
            errs.push(
                path.child("supplementalGroupsPolicy")
                    .not_supported(policy, &["Merge", "Strict"]),
            );
        }
    }
    errs
}

pub fn validate_scheduling_gates(gates: &[Value], path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, gate) in gates.iter().enumerate() {
        let name = s(gate, "name");
        errs.extend(validate_label_name(name, &path.index(i)));
        if !seen.insert(name) {
            errs.push(path.index(i).duplicate(name));
        }
    }
    errs
}

pub fn validate_topology_spread(constraints: &[Value], path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, c) in constraints.iter().enumerate() {
        let p = path.index(i);
        let skew = super::path::int0(c, "maxSkew");
        if skew <= 0 {
            errs.push(
                p.child("maxSkew")
                    .invalid(skew, "must be greater than zero"),
            );
        }
        let key = s(c, "topologyKey");
        if key.is_empty() {
            errs.push(p.child("topologyKey").required("can not be empty"));
        }
        let action = s(c, "whenUnsatisfiable");
        if action != "DoNotSchedule" && action != "ScheduleAnyway" {
            errs.push(
                p.child("whenUnsatisfiable")
                    .not_supported(action, &["DoNotSchedule", "ScheduleAnyway"]),
            );
        }
        let repeated = constraints[i + 1..]
            .iter()
            .any(|o| s(o, "topologyKey") == key && s(o, "whenUnsatisfiable") == action);
        if repeated {
            errs.push(
                p.child("{topologyKey, whenUnsatisfiable}")
                    .duplicate(format!("{{{key}, {action}}}")),
            );
        }
        if let Some(min) = int(c, "minDomains") {
            if min <= 0 {
                errs.push(
                    p.child("minDomains")
                        .invalid(min, "must be greater than zero"),
                );
            }
            if action != "DoNotSchedule" {
                errs.push(p.child("minDomains").invalid(
                    min,
                    &format!(
                        "can only use minDomains if whenUnsatisfiable=DoNotSchedule, not {action}"
                    ),
                ));
            }
        }
        for field in ["nodeAffinityPolicy", "nodeTaintsPolicy"] {
            if let Some(policy) = c.get(field).and_then(Value::as_str) {
                if policy != "Honor" && policy != "Ignore" {
                    errs.push(p.child(field).not_supported(policy, &["Honor", "Ignore"]));
                }
            }
        }
        errs.extend(validate_label_selector(
            get(c, "labelSelector"),
            &p.child("labelSelector"),
        ));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tolerations() {
        let errs = validate_tolerations(
            &[
                json!({"operator": "Equal", "value": "x"}),
                json!({"key": "k", "operator": "Exists", "value": "v", "effect": "Sometimes"}),
            ],
            &Path::new("spec.tolerations"),
        );
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(text, vec![
            "spec.tolerations[0].operator: Invalid value: \"Equal\": operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            "spec.tolerations[1].operator: Invalid value: \"v\": value must be empty when `operator` is 'Exists'",
            "spec.tolerations[1].effect: Unsupported value: \"Sometimes\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\"",
        ]);
    }

    #[test]
    fn dns_none_needs_config() {
        let errs = validate_dns_config(None, "None", &Path::new("spec.dnsConfig"));
        assert_eq!(
            errs[0].to_string(),
            "spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None"
        );
    }
}
