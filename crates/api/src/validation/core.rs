//! The rest of the core group: ConfigMaps, Secrets, Namespaces, Nodes,
//! ServiceAccounts, LimitRanges, ResourceQuotas, ReplicationControllers,
//! PodTemplates and Events.

use std::collections::BTreeMap;

use serde_json::Value;

use super::meta::{
    validate_label_name, validate_object_meta, validate_object_meta_update, NameRule, IMMUTABLE,
};
use super::names::{
    is_config_map_key, is_dns1123_subdomain, is_qualified_name, is_valid_label_value,
};
use super::path::{arr, boolean, dig, get, go_string_map, int, obj, s, same, Path};
use super::pod::validate_pod_template_spec;
use super::pod_extra::validate_taint_effect;
use super::resources::{validate_quantity_value, validate_resource_name};
use crate::status::FieldError;

/// Upstream's `MaxSecretSize`, which also bounds ConfigMaps.
pub const MAX_SECRET_SIZE: usize = 1024 * 1024;

/// Decodes standard base64; `None` when malformed.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    fn sextet(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some((c - b'A') as u32),
            b'a'..=b'z' => Some((c - b'a' + 26) as u32),
            b'0'..=b'9' => Some((c - b'0' + 52) as u32),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let bytes = text.trim_end_matches('=').as_bytes();
    if !text.len().is_multiple_of(4) && text.contains('=') {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= sextet(c)? << (18 - 6 * i);
        }
        match chunk.len() {
            4 => out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]),
            3 => out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8]),
            2 => out.push((acc >> 16) as u8),
            _ => return None,
        }
    }
    Some(out)
}

fn decoded_len(value: &Value) -> usize {
    value
        .as_str()
        .map(|t| base64_decode(t).map_or(t.len(), |b| b.len()))
        .unwrap_or(0)
}

pub fn validate_config_map(cm: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(cm, NameRule::Subdomain);
    let mut total = 0;
    let binary = obj(cm, "binaryData");
    if let Some(data) = obj(cm, "data") {
        for (key, value) in data {
            let p = Path::new("data").key(key);
            errs.extend(p.invalid_each(key, is_config_map_key(key)));
            if binary.is_some_and(|b| b.contains_key(key)) {
                errs.push(p.invalid(key.as_str(), "duplicate of key present in binaryData"));
            }
            total += value.as_str().map_or(0, str::len);
        }
    }
    if let Some(data) = binary {
        for (key, value) in data {
            errs.extend(
                Path::new("binaryData")
                    .key(key)
                    .invalid_each(key, is_config_map_key(key)),
            );
            total += decoded_len(value);
        }
    }
    if total > MAX_SECRET_SIZE {
        errs.push(Path::root().too_long(MAX_SECRET_SIZE));
    }
    errs
}

fn immutable_data(new: &Value, old: &Value, fields: &[&str]) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if boolean(old, "immutable") == Some(true) {
        if boolean(new, "immutable") != Some(true) {
            errs.push(
                Path::new("immutable").forbidden("field is immutable when `immutable` is set"),
            );
        }
        for field in fields {
            let (a, b) = (get(new, field), get(old, field));
            if !same(a.unwrap_or(&Value::Null), b.unwrap_or(&Value::Null)) {
                errs.push(Path::new(field).forbidden("field is immutable when `immutable` is set"));
            }
        }
    }
    errs
}

pub fn validate_config_map_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    errs.extend(immutable_data(new, old, &["data", "binaryData"]));
    errs.extend(validate_config_map(new));
    errs
}

pub fn validate_secret(secret: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(secret, NameRule::Subdomain);
    let data_path = Path::new("data");
    let data = obj(secret, "data");
    let mut total = 0;
    if let Some(data) = data {
        for (key, value) in data {
            errs.extend(data_path.key(key).invalid_each(key, is_config_map_key(key)));
            total += decoded_len(value);
        }
    }
    if total > MAX_SECRET_SIZE {
        errs.push(data_path.too_long(MAX_SECRET_SIZE));
    }
    let has = |key: &str| data.is_some_and(|d| d.contains_key(key));
    let bytes = |key: &str| {
        data.and_then(|d| d.get(key))
            .and_then(Value::as_str)
            .and_then(base64_decode)
            .unwrap_or_default()
    };
    match s(secret, "type") {
        "kubernetes.io/service-account-token" => {
            let name = dig(
                secret,
                &[
                    "metadata",
                    "annotations",
                    "kubernetes.io/service-account.name",
                ],
            )
            .and_then(Value::as_str)
            .unwrap_or("");
            if name.is_empty() {
                errs.push(
                    Path::new("metadata.annotations")
                        .key("kubernetes.io/service-account.name")
                        .required(""),
                );
            }
        }
        "kubernetes.io/dockercfg" | "kubernetes.io/dockerconfigjson" => {
            let key = if s(secret, "type") == "kubernetes.io/dockercfg" {
                ".dockercfg"
            } else {
                ".dockerconfigjson"
            };
            if !has(key) {
                errs.push(data_path.key(key).required(""));
            } else if let Err(e) =
                serde_json::from_slice::<serde_json::Map<String, Value>>(&bytes(key))
            {
                errs.push(
                    data_path
                        .key(key)
                        .invalid("<secret contents redacted>", &e.to_string()),
                );
            }
        }
        "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
            errs.push(data_path.key("username").required(""));
            errs.push(data_path.key("password").required(""));
        }
        "kubernetes.io/ssh-auth" if bytes("ssh-privatekey").is_empty() => {
            errs.push(data_path.key("ssh-privatekey").required(""));
        }
        "kubernetes.io/tls" => {
            for key in ["tls.crt", "tls.key"] {
                if !has(key) {
                    errs.push(data_path.key(key).required(""));
                }
            }
        }
        _ => {}
    }
    errs
}

pub fn validate_secret_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    let (a, b) = (s(new, "type"), s(old, "type"));
    if a != b {
        errs.push(Path::new("type").invalid(a, IMMUTABLE));
    }
    errs.extend(immutable_data(new, old, &["data"]));
    errs.extend(validate_secret(new));
    errs
}

fn finalizer_name(name: &str, path: &Path) -> Vec<FieldError> {
    let mut errs = path.invalid_each(name, is_qualified_name(name));
    if !name.contains('/') && !["kubernetes", "orphan", "foregroundDeletion"].contains(&name) {
        errs.push(path.invalid(
            name,
            "name is neither a standard finalizer name nor is it fully qualified",
        ));
    }
    errs
}

pub fn validate_namespace(ns: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(ns, NameRule::Label);
    let empty = Value::Null;
    for finalizer in arr(get(ns, "spec").unwrap_or(&empty), "finalizers") {
        errs.extend(finalizer_name(
            finalizer.as_str().unwrap_or(""),
            &Path::new("spec.finalizers"),
        ));
    }
    errs
}

fn validate_taints(taints: &[Value], path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (i, taint) in taints.iter().enumerate() {
        let p = path.index(i);
        errs.extend(validate_label_name(s(taint, "key"), &p.child("key")));
        let value = s(taint, "value");
        let msgs = is_valid_label_value(value);
        if !msgs.is_empty() {
            errs.push(p.child("value").invalid(value, &msgs.join(";")));
        }
        errs.extend(validate_taint_effect(
            s(taint, "effect"),
            &p.child("effect"),
        ));
        if !seen.insert((s(taint, "effect"), s(taint, "key"))) {
            errs.push(p.duplicate_shown(&format!(
                "core.Taint{{Key:{:?}, Value:{:?}, Effect:{:?}, TimeAdded:<nil>}}: taints must be unique by key and effect pair",
                s(taint, "key"),
                value,
                s(taint, "effect")
            )));
        }
    }
    errs
}

fn node_resources(node: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for field in ["capacity", "allocatable"] {
        if let Some(map) = dig(node, &["status", field]).and_then(Value::as_object) {
            for (name, value) in map {
                let p = Path::new("status").child(field).child(name);
                errs.extend(validate_quantity_value(name, value, &p).1);
            }
        }
    }
    errs
}

pub fn validate_node(node: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(node, NameRule::Subdomain);
    let empty = Value::Null;
    let spec = get(node, "spec").unwrap_or(&empty);
    errs.extend(validate_taints(
        arr(spec, "taints"),
        &Path::new("metadata.taints"),
    ));
    errs.extend(node_resources(node));
    for (i, cidr) in arr(spec, "podCIDRs").iter().enumerate() {
        let cidr = cidr.as_str().unwrap_or("");
        if !super::names::is_valid_cidr(cidr) {
            errs.push(Path::new("spec.podCIDRs").index(i).invalid(
                cidr,
                "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
            ));
        }
    }
    errs
}

pub fn validate_node_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    errs.extend(node_resources(new));
    let empty = Value::Null;
    let (ns, os) = (
        get(new, "spec").unwrap_or(&empty),
        get(old, "spec").unwrap_or(&empty),
    );
    let old_cidrs = arr(os, "podCIDRs");
    if !old_cidrs.is_empty() && old_cidrs != arr(ns, "podCIDRs") {
        errs.push(
            Path::new("spec.podCIDRs")
                .forbidden("node updates may not change podCIDR except from \"\" to valid"),
        );
    }
    let old_provider = s(os, "providerID");
    if !old_provider.is_empty() && old_provider != s(ns, "providerID") {
        errs.push(
            Path::new("spec.providerID")
                .forbidden("node updates may not change providerID except from \"\" to valid"),
        );
    }
    errs.extend(validate_taints(
        arr(ns, "taints"),
        &Path::new("metadata.taints"),
    ));
    errs
}

fn resource_list(
    map: Option<&Value>,
    path: &Path,
    container: bool,
) -> (BTreeMap<String, super::quantity::Quantity>, Vec<FieldError>) {
    let mut out = BTreeMap::new();
    let mut errs = Vec::new();
    if let Some(map) = map.and_then(Value::as_object) {
        for (name, value) in map {
            let p = path.key(name);
            errs.extend(validate_resource_name(name, container, &p));
            if let Ok(q) = super::quantity::from_json(value) {
                out.insert(name.clone(), q);
            } else {
                errs.extend(validate_quantity_value(name, value, &p).1);
            }
        }
    }
    (out, errs)
}

pub fn validate_limit_range(lr: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(lr, NameRule::Subdomain);
    let path = Path::new("spec.limits");
    let mut types = std::collections::BTreeSet::new();
    let empty = Value::Null;
    for (i, limit) in arr(get(lr, "spec").unwrap_or(&empty), "limits")
        .iter()
        .enumerate()
    {
        let p = path.index(i);
        let kind = s(limit, "type");
        errs.extend(p.child("type").invalid_each(kind, is_qualified_name(kind)));
        if !kind.contains('/') && !["Pod", "Container", "PersistentVolumeClaim"].contains(&kind) {
            errs.push(
                p.child("type")
                    .invalid(kind, "must be a standard limit type or fully qualified"),
            );
        }
        if !types.insert(kind) {
            errs.push(p.child("type").duplicate(kind));
        }
        let container = kind == "Pod" || kind == "Container";
        let (max, e1) = resource_list(get(limit, "max"), &p.child("max"), container);
        let (min, e2) = resource_list(get(limit, "min"), &p.child("min"), container);
        errs.extend(e1);
        errs.extend(e2);
        let (mut default, mut default_request) = (BTreeMap::new(), BTreeMap::new());
        if kind == "Pod" {
            for field in ["default", "defaultRequest"] {
                if get(limit, field)
                    .and_then(Value::as_object)
                    .is_some_and(|m| !m.is_empty())
                {
                    errs.push(
                        p.child(field)
                            .forbidden("may not be specified when `type` is 'Pod'"),
                    );
                }
            }
        } else {
            let (d, e3) = resource_list(get(limit, "default"), &p.child("default"), container);
            let (r, e4) = resource_list(
                get(limit, "defaultRequest"),
                &p.child("defaultRequest"),
                container,
            );
            errs.extend(e3);
            errs.extend(e4);
            default = d;
            default_request = r;
        }
        if kind == "PersistentVolumeClaim"
            && !min.contains_key("storage")
            && !max.contains_key("storage")
        {
            errs.push(p.child("limits").required(
                "either minimum or maximum storage value is required, but neither was provided",
            ));
        }
        let (ratios, e5) = resource_list(
            get(limit, "maxLimitRequestRatio"),
            &p.child("maxLimitRequestRatio"),
            container,
        );
        errs.extend(e5);
        let keys: std::collections::BTreeSet<&String> = max
            .keys()
            .chain(min.keys())
            .chain(default.keys())
            .chain(default_request.keys())
            .chain(ratios.keys())
            .collect();
        use std::cmp::Ordering::Greater;
        for k in keys {
            let (mn, mx, df, dr) = (
                min.get(k),
                max.get(k),
                default.get(k),
                default_request.get(k),
            );
            if let (Some(mn), Some(mx)) = (mn, mx) {
                if mn.cmp_value(mx) == Greater {
                    errs.push(p.child("min").key(k).invalid_shown(
                        &mn.canonical(),
                        &format!("min value {mn} is greater than max value {mx}"),
                    ));
                }
            }
            if let (Some(dr), Some(mn)) = (dr, mn) {
                if mn.cmp_value(dr) == Greater {
                    errs.push(p.child("defaultRequest").key(k).invalid_shown(
                        &dr.canonical(),
                        &format!("min value {mn} is greater than default request value {dr}"),
                    ));
                }
            }
            if let (Some(dr), Some(mx)) = (dr, mx) {
                if dr.cmp_value(mx) == Greater {
                    errs.push(p.child("defaultRequest").key(k).invalid_shown(
                        &dr.canonical(),
                        &format!("default request value {dr} is greater than max value {mx}"),
                    ));
                }
            }
            if let (Some(dr), Some(df)) = (dr, df) {
                if dr.cmp_value(df) == Greater {
                    errs.push(p.child("defaultRequest").key(k).invalid_shown(
                        &dr.canonical(),
                        &format!(
                            "default request value {dr} is greater than default limit value {df}"
                        ),
                    ));
                }
            }
            if let (Some(df), Some(mn)) = (df, mn) {
                if mn.cmp_value(df) == Greater {
                    errs.push(p.child("default").key(k).invalid_shown(
                        &mn.canonical(),
                        &format!("min value {mn} is greater than default value {df}"),
                    ));
                }
            }
            if let (Some(df), Some(mx)) = (df, mx) {
                if df.cmp_value(mx) == Greater {
                    errs.push(p.child("default").key(k).invalid_shown(
                        &mx.canonical(),
                        &format!("default value {df} is greater than max value {mx}"),
                    ));
                }
            }
            if let Some(ratio) = ratios.get(k) {
                if ratio.cmp_value(&super::quantity::Quantity::from_int(1))
                    == std::cmp::Ordering::Less
                {
                    errs.push(p.child("maxLimitRequestRatio").key(k).invalid_shown(
                        &ratio.canonical(),
                        &format!("ratio {ratio} is less than 1"),
                    ));
                }
            }
        }
    }
    errs
}

pub fn validate_resource_quota(rq: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(rq, NameRule::Subdomain);
    for (section, field) in [("spec", "hard"), ("status", "hard"), ("status", "used")] {
        if let Some(map) = dig(rq, &[section, field]).and_then(Value::as_object) {
            for (name, value) in map {
                let p = Path::new(section).child(field).key(name);
                errs.extend(validate_resource_name(name, false, &p));
                errs.extend(validate_quantity_value(name, value, &p).1);
            }
        }
    }
    const SCOPES: &[&str] = &[
        "Terminating",
        "NotTerminating",
        "BestEffort",
        "NotBestEffort",
        "PriorityClass",
        "CrossNamespacePodAffinity",
        "VolumeAttributesClass",
    ];
    let scopes = dig(rq, &["spec", "scopes"])
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = scopes.iter().filter_map(Value::as_str).collect();
    for scope in &names {
        if !SCOPES.contains(scope) {
            errs.push(
                Path::new("spec.scopes").invalid_shown(
                    &super::path::go_string_list(&scopes)
                        .replace("[]string", "[]core.ResourceQuotaScope"),
                    "unsupported scope",
                ),
            );
        }
    }
    for (a, b) in [
        ("BestEffort", "NotBestEffort"),
        ("Terminating", "NotTerminating"),
    ] {
        if names.contains(&a) && names.contains(&b) {
            errs.push(
                Path::new("spec.scopes").invalid_shown(
                    &super::path::go_string_list(&scopes)
                        .replace("[]string", "[]core.ResourceQuotaScope"),
                    "conflicting scopes",
                ),
            );
        }
    }
    errs
}

pub fn validate_replication_controller(rc: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(rc, NameRule::Subdomain);
    let path = Path::new("spec");
    let empty = Value::Null;
    let spec = get(rc, "spec").unwrap_or(&empty);
    errs.extend(super::container::nonnegative(
        int(spec, "minReadySeconds"),
        &path.child("minReadySeconds"),
    ));
    let selector = get(spec, "selector");
    let selector_empty = selector
        .and_then(Value::as_object)
        .is_none_or(|m| m.is_empty());
    if selector_empty {
        errs.push(path.child("selector").required(""));
    }
    errs.extend(super::container::nonnegative(
        Some(super::path::int0(spec, "replicas")),
        &path.child("replicas"),
    ));
    let tp = path.child("template");
    match get(spec, "template") {
        None => errs.push(tp.required("")),
        Some(template) => {
            let labels = dig(template, &["metadata", "labels"]);
            if let Some(selector) = selector.filter(|_| !selector_empty) {
                if !super::meta::map_selector_matches(selector, labels) {
                    errs.push(tp.child("metadata").child("labels").invalid_shown(
                        &go_string_map(labels),
                        "`selector` does not match template `labels`",
                    ));
                }
            }
            errs.extend(validate_pod_template_spec(template, &tp));
            let restart = dig(template, &["spec", "restartPolicy"])
                .and_then(Value::as_str)
                .unwrap_or("");
            if restart != "Always" {
                errs.push(
                    tp.child("spec")
                        .child("restartPolicy")
                        .not_supported(restart, &["Always"]),
                );
            }
            if dig(template, &["spec", "activeDeadlineSeconds"]).is_some() {
                errs.push(
                    tp.child("spec").child("activeDeadlineSeconds").forbidden(
                        "activeDeadlineSeconds in ReplicationController is not Supported",
                    ),
                );
            }
        }
    }
    errs
}

pub fn validate_pod_template(pt: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(pt, NameRule::Subdomain);
    let empty = Value::Null;
    errs.extend(validate_pod_template_spec(
        get(pt, "template").unwrap_or(&empty),
        &Path::new("template"),
    ));
    errs
}

pub fn validate_service_account(sa: &Value) -> Vec<FieldError> {
    validate_object_meta(sa, NameRule::Subdomain)
}

/// Core/v1 Events, which upstream validates loosely for compatibility.
pub fn validate_event(event: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let namespace = dig(event, &["metadata", "namespace"])
        .and_then(Value::as_str)
        .unwrap_or("");
    let involved = dig(event, &["involvedObject", "namespace"])
        .and_then(Value::as_str)
        .unwrap_or("");
    let mismatch = if get(event, "eventTime").is_none() {
        if involved.is_empty() {
            !namespace.is_empty() && namespace != "default"
        } else {
            namespace != involved
        }
    } else {
        involved.is_empty() && namespace != "default" && namespace != "kube-system"
    };
    if mismatch {
        errs.push(
            Path::new("involvedObject.namespace")
                .invalid(involved, "does not match event.namespace"),
        );
    }
    if !namespace.is_empty() {
        errs.extend(
            Path::new("namespace").invalid_each(namespace, is_dns1123_subdomain(namespace)),
        );
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(errs: Vec<FieldError>) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn config_map_keys_and_size() {
        let cm = json!({"metadata": {"name": "c"}, "data": {"bad key": "x", "ok": "y".repeat(MAX_SECRET_SIZE)}});
        assert_eq!(text(validate_config_map(&cm)), vec![
            "data[bad key]: Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')".to_string(),
            "[]: Too long: may not be more than 1048576 bytes".to_string(),
        ]);
    }

    #[test]
    fn tls_secrets_need_both_keys() {
        let secret = json!({"metadata": {"name": "t"}, "type": "kubernetes.io/tls", "data": {"tls.crt": "YQ=="}});
        assert_eq!(
            text(validate_secret(&secret)),
            vec!["data[tls.key]: Required value"]
        );
    }

    #[test]
    fn immutable_config_maps() {
        let old = json!({"metadata": {"name": "c"}, "immutable": true, "data": {"a": "1"}});
        let new = json!({"metadata": {"name": "c"}, "immutable": true, "data": {"a": "2"}});
        assert_eq!(
            text(validate_config_map_update(&new, &old)),
            vec!["data: Forbidden: field is immutable when `immutable` is set",]
        );
    }

    #[test]
    fn secret_type_is_immutable() {
        let old = json!({"metadata": {"name": "s"}, "type": "Opaque"});
        let new = json!({"metadata": {"name": "s"}, "type": "kubernetes.io/basic-auth", "data": {"username": "YQ=="}});
        assert_eq!(
            text(validate_secret_update(&new, &old)),
            vec!["type: Invalid value: \"kubernetes.io/basic-auth\": field is immutable",]
        );
    }

    #[test]
    fn namespaces_are_labels() {
        let ns = json!({"metadata": {"name": "a.b"}});
        assert_eq!(
            text(validate_namespace(&ns)),
            vec!["metadata.name: Invalid value: \"a.b\": must not contain dots"]
        );
    }

    #[test]
    fn base64() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode("YQ").unwrap(), b"a");
        assert!(base64_decode("*").is_none());
    }
}
