//! Object metadata, labels, annotations and label selectors, as upstream's
//! apimachinery validation checks them.

use serde_json::Value;

use super::names::{
    is_dns1123_label, is_dns1123_subdomain, is_qualified_name, is_valid_label_value,
};
use super::path::{arr, boolean, get, go_string_list, s, str_map, Path};
use crate::status::FieldError;

/// Upstream's `TotalAnnotationSizeLimitB`.
pub const ANNOTATIONS_MAX_BYTES: usize = 256 * 1024;

pub const IMMUTABLE: &str = "field is immutable";
pub const NEGATIVE: &str = "must be greater than or equal to 0";

/// Which names a kind accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRule {
    Subdomain,
    Label,
    Dns1035,
    PathSegment,
    Any,
}

impl NameRule {
    pub fn check(self, name: &str, prefix: bool) -> Vec<String> {
        let masked = if prefix && name.len() > 1 && name.ends_with('-') {
            format!("{}a", &name[..name.len() - 1])
        } else {
            name.to_string()
        };
        match self {
            NameRule::Subdomain => is_dns1123_subdomain(&masked),
            NameRule::Label => is_dns1123_label(&masked),
            NameRule::Dns1035 => super::names::is_dns1035_label(&masked),
            NameRule::PathSegment => {
                if prefix {
                    super::names::is_valid_path_segment_name(name)
                        .into_iter()
                        .filter(|m| !m.starts_with("may not be '"))
                        .collect()
                } else {
                    super::names::is_valid_path_segment_name(name)
                }
            }
            NameRule::Any => Vec::new(),
        }
    }
}

pub fn validate_labels(labels: Option<&Value>, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(map) = labels.and_then(Value::as_object) else {
        return errs;
    };
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    for key in keys {
        errs.extend(validate_label_name(key, path));
        let value = map[key].as_str().unwrap_or("");
        for msg in is_valid_label_value(value) {
            errs.push(path.invalid(value, &msg));
        }
    }
    errs
}

pub fn validate_label_name(name: &str, path: &Path) -> Vec<FieldError> {
    path.invalid_each(name, is_qualified_name(name))
}

pub fn validate_annotations(annotations: Option<&Value>, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(map) = annotations.and_then(Value::as_object) else {
        return errs;
    };
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    let mut total = 0usize;
    for key in keys {
        for msg in is_qualified_name(&key.to_lowercase()) {
            errs.push(path.invalid(key.as_str(), &msg));
        }
        total += key.len() + map[key].as_str().map_or(0, str::len);
    }
    if total > ANNOTATIONS_MAX_BYTES {
        errs.push(path.too_long(ANNOTATIONS_MAX_BYTES));
    }
    errs
}

fn validate_owner_references(refs: &[Value], path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut first_controller = String::new();
    for reference in refs {
        let api_version = s(reference, "apiVersion");
        let version = api_version.rsplit('/').next().unwrap_or("");
        if version.is_empty() {
            errs.push(
                path.child("apiVersion")
                    .invalid(api_version, "version must not be empty"),
            );
        }
        for (field, text) in [
            ("kind", s(reference, "kind")),
            ("name", s(reference, "name")),
            ("uid", s(reference, "uid")),
        ] {
            if text.is_empty() {
                errs.push(path.child(field).invalid(text, "must not be empty"));
            }
        }
        if boolean(reference, "controller") == Some(true) {
            let current = format!("{}/{}", s(reference, "kind"), s(reference, "name"));
            if first_controller.is_empty() {
                first_controller = current;
            } else {
                errs.push(path.invalid_shown(
                    "[]v1.OwnerReference{...}",
                    &format!("Only one reference can have Controller set to true. Found \"true\" in references for {first_controller} and {current}"),
                ));
            }
        }
    }
    errs
}

const STANDARD_FINALIZERS: &[&str] = &["kubernetes", "orphan", "foregroundDeletion"];

fn validate_finalizers(finalizers: &[Value], path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let names: Vec<&str> = finalizers
        .iter()
        .map(|f| f.as_str().unwrap_or(""))
        .collect();
    for name in &names {
        errs.extend(path.invalid_each(name, is_qualified_name(name)));
    }
    if names.contains(&"orphan") && names.contains(&"foregroundDeletion") {
        errs.push(path.invalid_shown(
            &go_string_list(finalizers),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
    for (i, name) in names.iter().enumerate() {
        if !name.contains('/') && !STANDARD_FINALIZERS.contains(name) {
            errs.push(path.index(i).invalid(
                *name,
                "name is neither a standard finalizer name nor is it fully qualified",
            ));
        }
    }
    errs
}

/// `ValidateObjectMeta`; the namespace is the server's business.
pub fn validate_object_meta(object: &Value, rule: NameRule) -> Vec<FieldError> {
    let path = Path::new("metadata");
    let empty = Value::Null;
    let meta = get(object, "metadata").unwrap_or(&empty);
    let mut errs = Vec::new();
    let generate_name = s(meta, "generateName");
    if !generate_name.is_empty() {
        for msg in rule.check(generate_name, true) {
            errs.push(path.child("generateName").invalid(generate_name, &msg));
        }
    }
    let name = s(meta, "name");
    if name.is_empty() {
        if generate_name.is_empty() {
            errs.push(
                path.child("name")
                    .required("name or generateName is required"),
            );
        }
    } else {
        errs.extend(
            path.child("name")
                .invalid_each(name, rule.check(name, false)),
        );
    }
    if let Some(generation) = super::path::int(meta, "generation") {
        if generation < 0 {
            errs.push(path.child("generation").invalid(generation, NEGATIVE));
        }
    }
    errs.extend(common_meta(meta, &path));
    errs
}

fn common_meta(meta: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = validate_labels(get(meta, "labels"), &path.child("labels"));
    errs.extend(validate_annotations(
        get(meta, "annotations"),
        &path.child("annotations"),
    ));
    errs.extend(validate_owner_references(
        arr(meta, "ownerReferences"),
        &path.child("ownerReferences"),
    ));
    errs.extend(validate_finalizers(
        arr(meta, "finalizers"),
        &path.child("finalizers"),
    ));
    errs
}

/// `ValidateObjectMetaUpdate`. The resourceVersion check is left out: the
/// server fills it in for unconditional updates before validating.
pub fn validate_object_meta_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let path = Path::new("metadata");
    let empty = Value::Null;
    let new_meta = get(new, "metadata").unwrap_or(&empty);
    let old_meta = get(old, "metadata").unwrap_or(&empty);
    let mut errs = Vec::new();
    if get(old_meta, "deletionTimestamp").is_some() {
        let old_set: Vec<&str> = arr(old_meta, "finalizers")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let added: Vec<Value> = arr(new_meta, "finalizers")
            .iter()
            .filter(|f| !old_set.contains(&f.as_str().unwrap_or("")))
            .cloned()
            .collect();
        if !added.is_empty() {
            errs.push(path.child("finalizers").forbidden(&format!(
                "no new finalizers can be added if the object is being deleted, found new finalizers {}",
                go_string_list(&added)
            )));
        }
    }
    let new_generation = super::path::int0(new_meta, "generation");
    if new_generation < super::path::int0(old_meta, "generation") {
        errs.push(
            path.child("generation")
                .invalid(new_generation, "must not be decremented"),
        );
    }
    for field in ["name", "namespace"] {
        let (a, b) = (s(new_meta, field), s(old_meta, field));
        if a != b {
            errs.push(path.child(field).invalid(a, IMMUTABLE));
        }
    }
    for field in ["uid", "creationTimestamp"] {
        let (a, b) = (s(new_meta, field), s(old_meta, field));
        if !a.is_empty() && a != b {
            errs.push(path.child(field).invalid(a, IMMUTABLE));
        }
    }
    errs.extend(common_meta(new_meta, &path));
    errs
}

/// `ValidateLabelSelector`.
pub fn validate_label_selector(selector: Option<&Value>, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(selector) = selector.filter(|v| v.is_object()) else {
        return errs;
    };
    errs.extend(validate_labels(
        get(selector, "matchLabels"),
        &path.child("matchLabels"),
    ));
    for (i, expr) in arr(selector, "matchExpressions").iter().enumerate() {
        let p = path.child("matchExpressions").index(i);
        let values = arr(expr, "values");
        let operator = s(expr, "operator");
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
            _ => errs.push(
                p.child("operator")
                    .invalid(operator, "not a valid selector operator"),
            ),
        }
        errs.extend(validate_label_name(s(expr, "key"), &p.child("key")));
        for (j, value) in values.iter().enumerate() {
            let value = value.as_str().unwrap_or("");
            for msg in is_valid_label_value(value) {
                errs.push(p.child("values").index(j).invalid(value, &msg));
            }
        }
    }
    errs
}

/// Whether a selector selects nothing-in-particular (matches everything).
pub fn selector_is_empty(selector: Option<&Value>) -> bool {
    selector.is_none_or(|sel| {
        str_map(sel, "matchLabels").is_empty() && arr(sel, "matchExpressions").is_empty()
    })
}

/// Whether a `LabelSelector` converts to a selector (upstream's
/// `LabelSelectorAsSelector` fails on bad operators and values).
pub fn selector_is_valid(selector: Option<&Value>) -> bool {
    validate_label_selector(selector, &Path::new("x")).is_empty()
}

/// Whether a `LabelSelector` matches a set of labels.
pub fn selector_matches(selector: Option<&Value>, labels: Option<&Value>) -> bool {
    let Some(selector) = selector else {
        return true;
    };
    let label = |key: &str| -> Option<&str> {
        labels
            .and_then(Value::as_object)
            .and_then(|m| m.get(key))
            .map(|v| v.as_str().unwrap_or(""))
    };
    for (key, value) in str_map(selector, "matchLabels") {
        if label(key) != Some(value) {
            return false;
        }
    }
    for expr in arr(selector, "matchExpressions") {
        let key = s(expr, "key");
        let values: Vec<&str> = arr(expr, "values")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let ok = match s(expr, "operator") {
            "In" => label(key).is_some_and(|v| values.contains(&v)),
            "NotIn" => label(key).is_none_or(|v| !values.contains(&v)),
            "Exists" => label(key).is_some(),
            "DoesNotExist" => label(key).is_none(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

/// Whether a plain `map[string]string` selector matches.
pub fn map_selector_matches(selector: &Value, labels: Option<&Value>) -> bool {
    selector.as_object().is_none_or(|map| {
        map.iter().all(|(k, v)| {
            labels
                .and_then(|l| l.get(k))
                .and_then(Value::as_str)
                .is_some_and(|have| Some(have) == v.as_str())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn name_is_required_and_checked() {
        let errs = validate_object_meta(&json!({"metadata": {}}), NameRule::Subdomain);
        assert_eq!(
            errs[0].to_string(),
            "metadata.name: Required value: name or generateName is required"
        );
        let errs =
            validate_object_meta(&json!({"metadata": {"name": "Bad_Name"}}), NameRule::Label);
        assert!(errs[0]
            .to_string()
            .starts_with("metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 label"));
        assert!(validate_object_meta(
            &json!({"metadata": {"generateName": "web-"}}),
            NameRule::Subdomain
        )
        .is_empty());
    }

    #[test]
    fn labels_and_annotations() {
        let errs = validate_object_meta(
            &json!({"metadata": {"name": "a", "labels": {"app": "bad value"}}}),
            NameRule::Subdomain,
        );
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "metadata.labels");
        let big = "x".repeat(ANNOTATIONS_MAX_BYTES);
        let errs = validate_object_meta(
            &json!({"metadata": {"name": "a", "annotations": {"k": big}}}),
            NameRule::Subdomain,
        );
        assert_eq!(
            errs[0].to_string(),
            "metadata.annotations: Too long: may not be more than 262144 bytes"
        );
    }

    #[test]
    fn selectors_match() {
        let sel = json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]});
        assert!(selector_matches(Some(&sel), Some(&json!({"app": "web"}))));
        assert!(!selector_matches(
            Some(&sel),
            Some(&json!({"app": "web", "tier": "db"}))
        ));
        assert!(!selector_matches(Some(&sel), None));
        let bad = json!({"matchExpressions": [{"key": "a", "operator": "Near"}]});
        assert_eq!(
            validate_label_selector(Some(&bad), &Path::new("spec.selector"))[0].to_string(),
            "spec.selector.matchExpressions[0].operator: Invalid value: \"Near\": not a valid selector operator"
        );
    }

    #[test]
    fn immutable_metadata() {
        let old = json!({"metadata": {"name": "a", "uid": "1"}});
        let new = json!({"metadata": {"name": "b", "uid": "2"}});
        let errs = validate_object_meta_update(&new, &old);
        assert_eq!(
            errs[0].to_string(),
            "metadata.name: Invalid value: \"b\": field is immutable"
        );
        assert_eq!(errs[1].field, "metadata.uid");
    }
}
