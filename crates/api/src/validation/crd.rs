//! CustomResourceDefinitions (apiextensions.k8s.io/v1): group, names,
//! scope, versions and the presence of a schema.

use std::collections::BTreeSet;

use serde_json::Value;

use super::meta::{validate_object_meta, validate_object_meta_update, NameRule, IMMUTABLE};
use super::names::{is_dns1035_label, is_dns1123_subdomain};
use super::path::{arr, boolean, dig, dig_or_null, get, s, Path};
use crate::status::{FieldError, FieldErrorKind};

fn names(names: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for field in ["plural", "singular"] {
        let value = s(names, field);
        if value.is_empty() && field == "plural" {
            errs.push(path.child(field).required(""));
        } else if !value.is_empty() {
            errs.extend(
                path.child(field)
                    .invalid_each(value, is_dns1035_label(value)),
            );
        }
    }
    for field in ["kind", "listKind"] {
        let value = s(names, field);
        if value.is_empty() {
            errs.push(path.child(field).required(""));
        } else {
            let lower = value.to_lowercase();
            for msg in is_dns1035_label(&lower) {
                errs.push(path.child(field).invalid(value, &msg));
            }
        }
    }
    if !s(names, "kind").is_empty() && s(names, "kind") == s(names, "listKind") {
        errs.push(path.child("listKind").invalid(
            s(names, "listKind"),
            "kind and listKind may not be the same",
        ));
    }
    for (i, short) in arr(names, "shortNames").iter().enumerate() {
        let short = short.as_str().unwrap_or("");
        errs.extend(
            path.child("shortNames")
                .index(i)
                .invalid_each(short, is_dns1035_label(short)),
        );
    }
    errs
}

pub fn validate_crd(crd: &Value) -> Vec<FieldError> {
    let spec = dig_or_null(crd, &["spec"]);
    let group = s(spec, "group");
    let plural = dig(spec, &["names", "plural"])
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut errs = validate_object_meta(crd, NameRule::Subdomain);
    let name = dig(crd, &["metadata", "name"])
        .and_then(Value::as_str)
        .unwrap_or("");
    if !name.is_empty() && name != format!("{plural}.{group}") {
        errs.push(
            Path::new("metadata.name").invalid(name, "must be spec.names.plural+\".\"+spec.group"),
        );
    }
    let path = Path::new("spec");
    if group.is_empty() {
        errs.push(path.child("group").required(""));
    } else {
        errs.extend(
            path.child("group")
                .invalid_each(group, is_dns1123_subdomain(group)),
        );
        if !group.contains('.') {
            errs.push(
                path.child("group")
                    .invalid(group, "should be a domain with at least one dot"),
            );
        }
    }
    match s(spec, "scope") {
        "Cluster" | "Namespaced" => {}
        "" => errs.push(path.child("scope").required("")),
        other => errs.push(
            path.child("scope")
                .not_supported(other, &["Cluster", "Namespaced"]),
        ),
    }
    errs.extend(names(dig_or_null(spec, &["names"]), &path.child("names")));
    let versions = arr(spec, "versions");
    let vp = path.child("versions");
    if versions.is_empty() {
        errs.push(vp.required("must have exactly one version marked as storage version"));
    }
    let storage = versions
        .iter()
        .filter(|v| boolean(v, "storage") == Some(true))
        .count();
    if !versions.is_empty() && storage != 1 {
        errs.push(FieldError::new(
            FieldErrorKind::Invalid,
            vp.as_str(),
            None,
            "[]apiextensions.CustomResourceDefinitionVersion{...}: must have exactly one version marked as storage version",
        ));
    }
    if !versions.is_empty() && !versions.iter().any(|v| boolean(v, "served") == Some(true)) {
        errs.push(FieldError::new(
            FieldErrorKind::Invalid,
            vp.as_str(),
            None,
            "[]apiextensions.CustomResourceDefinitionVersion{...}: must have at least one version marked as served",
        ));
    }
    let mut seen = BTreeSet::new();
    for (i, version) in versions.iter().enumerate() {
        let p = vp.index(i);
        let name = s(version, "name");
        if !seen.insert(name) {
            errs.push(p.child("name").duplicate(name));
        }
        errs.extend(p.child("name").invalid_each(name, is_dns1035_label(name)));
        match dig(version, &["schema", "openAPIV3Schema"]) {
            None => errs.push(
                p.child("schema")
                    .child("openAPIV3Schema")
                    .required("schemas are required"),
            ),
            Some(schema) => {
                if s(schema, "type").is_empty() {
                    errs.push(
                        p.child("schema")
                            .child("openAPIV3Schema")
                            .child("type")
                            .required("must not be empty at the root"),
                    );
                } else if s(schema, "type") != "object" {
                    errs.push(
                        p.child("schema")
                            .child("openAPIV3Schema")
                            .child("type")
                            .invalid(s(schema, "type"), "must be object at the root"),
                    );
                }
            }
        }
    }
    if let Some(conversion) = get(spec, "conversion") {
        match s(conversion, "strategy") {
            "None" => {
                if get(conversion, "webhook").is_some() {
                    errs.push(
                        path.child("conversion")
                            .child("webhook")
                            .forbidden("should not be set when strategy is not set to Webhook"),
                    );
                }
            }
            "Webhook" => {
                if get(conversion, "webhook").is_none() {
                    errs.push(
                        path.child("conversion")
                            .child("webhook")
                            .required("must be set when strategy is set to Webhook"),
                    );
                }
            }
            other => errs.push(
                path.child("conversion")
                    .child("strategy")
                    .not_supported(other, &["None", "Webhook"]),
            ),
        }
    }
    errs
}

pub fn validate_crd_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    errs.extend(validate_crd(new));
    let (ns, os) = (dig_or_null(new, &["spec"]), dig_or_null(old, &["spec"]));
    for field in ["group", "scope"] {
        if s(ns, field) != s(os, field) {
            errs.push(
                Path::new("spec")
                    .child(field)
                    .invalid(s(ns, field), IMMUTABLE),
            );
        }
    }
    let plural = |spec: &Value| {
        dig(spec, &["names", "plural"])
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    if plural(ns) != plural(os) {
        errs.push(Path::new("spec.names.plural").invalid(plural(ns), IMMUTABLE));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn crd() -> Value {
        json!({"metadata": {"name": "widgets.example.com"}, "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object"}}}]}})
    }

    #[test]
    fn a_complete_crd_is_valid() {
        assert!(validate_crd(&crd()).is_empty());
    }

    #[test]
    fn names_and_storage_versions() {
        let mut c = crd();
        c["metadata"]["name"] = json!("gadgets.example.com");
        c["spec"]["versions"][0]["storage"] = json!(false);
        let errs: Vec<String> = validate_crd(&c).iter().map(ToString::to_string).collect();
        assert_eq!(errs, vec![
            "metadata.name: Invalid value: \"gadgets.example.com\": must be spec.names.plural+\".\"+spec.group",
            "spec.versions: Invalid value: []apiextensions.CustomResourceDefinitionVersion{...}: must have exactly one version marked as storage version",
        ]);
    }
}
