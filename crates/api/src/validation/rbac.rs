//! Roles, ClusterRoles and their bindings (rbac.authorization.k8s.io).

use serde_json::Value;

use super::meta::{
    validate_label_selector, validate_object_meta, validate_object_meta_update, NameRule,
};
use super::names::is_dns1123_subdomain;
use super::path::{arr, dig_or_null, get, go_string_list, s, same, Path};
use crate::status::FieldError;

const GROUP: &str = "rbac.authorization.k8s.io";

fn policy_rule(rule: &Value, namespaced: bool, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if arr(rule, "verbs").is_empty() {
        errs.push(
            path.child("verbs")
                .required("verbs must contain at least one value"),
        );
    }
    let urls = arr(rule, "nonResourceURLs");
    if !urls.is_empty() {
        let up = path.child("nonResourceURLs");
        if namespaced {
            errs.push(up.invalid_shown(
                &go_string_list(urls),
                "namespaced rules cannot apply to non-resource URLs",
            ));
        }
        if !arr(rule, "apiGroups").is_empty()
            || !arr(rule, "resources").is_empty()
            || !arr(rule, "resourceNames").is_empty()
        {
            errs.push(up.invalid_shown(
                &go_string_list(urls),
                "rules cannot apply to both regular resources and non-resource URLs",
            ));
        }
        return errs;
    }
    if arr(rule, "apiGroups").is_empty() {
        errs.push(
            path.child("apiGroups")
                .required("resource rules must supply at least one api group"),
        );
    }
    if arr(rule, "resources").is_empty() {
        errs.push(
            path.child("resources")
                .required("resource rules must supply at least one resource"),
        );
    }
    errs
}

pub fn validate_role(role: &Value, namespaced: bool) -> Vec<FieldError> {
    let mut errs = validate_object_meta(role, NameRule::PathSegment);
    for (i, rule) in arr(role, "rules").iter().enumerate() {
        errs.extend(policy_rule(rule, namespaced, &Path::new("rules").index(i)));
    }
    if let Some(aggregation) = get(role, "aggregationRule").filter(|_| !namespaced) {
        let selectors = arr(aggregation, "clusterRoleSelectors");
        let ap = Path::new("aggregationRule").child("clusterRoleSelectors");
        if selectors.is_empty() {
            errs.push(ap.required(
                "at least one clusterRoleSelector required if aggregationRule is non-nil",
            ));
        }
        for (i, selector) in selectors.iter().enumerate() {
            errs.extend(validate_label_selector(Some(selector), &ap.index(i)));
        }
    }
    errs
}

fn subject(subject: &Value, namespaced: bool, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = s(subject, "name");
    if name.is_empty() {
        errs.push(path.child("name").required(""));
    }
    let group = s(subject, "apiGroup");
    match s(subject, "kind") {
        "ServiceAccount" => {
            if !name.is_empty() {
                errs.extend(
                    path.child("name")
                        .invalid_each(name, is_dns1123_subdomain(name)),
                );
            }
            if !group.is_empty() {
                errs.push(path.child("apiGroup").not_supported(group, &[""]));
            }
            if !namespaced && s(subject, "namespace").is_empty() {
                errs.push(path.child("namespace").required(""));
            }
        }
        "User" | "Group" => {
            if group != GROUP {
                errs.push(path.child("apiGroup").not_supported(group, &[GROUP]));
            }
        }
        other => errs.push(
            path.child("kind")
                .not_supported(other, &["ServiceAccount", "User", "Group"]),
        ),
    }
    errs
}

pub fn validate_binding(binding: &Value, namespaced: bool) -> Vec<FieldError> {
    let mut errs = validate_object_meta(binding, NameRule::PathSegment);
    let role_ref = dig_or_null(binding, &["roleRef"]);
    let rp = Path::new("roleRef");
    let group = s(role_ref, "apiGroup");
    if group != GROUP {
        errs.push(rp.child("apiGroup").not_supported(group, &[GROUP]));
    }
    let kind = s(role_ref, "kind");
    if namespaced {
        if kind != "Role" && kind != "ClusterRole" {
            errs.push(
                rp.child("kind")
                    .not_supported(kind, &["Role", "ClusterRole"]),
            );
        }
    } else if kind != "ClusterRole" {
        errs.push(rp.child("kind").not_supported(kind, &["ClusterRole"]));
    }
    let name = s(role_ref, "name");
    if name.is_empty() {
        errs.push(rp.child("name").required(""));
    } else {
        errs.extend(
            rp.child("name")
                .invalid_each(name, NameRule::PathSegment.check(name, false)),
        );
    }
    for (i, subj) in arr(binding, "subjects").iter().enumerate() {
        errs.extend(subject(subj, namespaced, &Path::new("subjects").index(i)));
    }
    errs
}

pub fn validate_binding_update(new: &Value, old: &Value, namespaced: bool) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    let (a, b) = (
        dig_or_null(new, &["roleRef"]),
        dig_or_null(old, &["roleRef"]),
    );
    if !same(a, b) {
        errs.push(Path::new("roleRef").invalid_shown(
            &format!(
                "rbac.RoleRef{{APIGroup:{:?}, Kind:{:?}, Name:{:?}}}",
                s(a, "apiGroup"),
                s(a, "kind"),
                s(a, "name")
            ),
            "cannot change roleRef",
        ));
    }
    errs.extend(validate_binding(new, namespaced));
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rules_need_verbs_and_resources() {
        let role = json!({"metadata": {"name": "r"}, "rules": [{"apiGroups": [""]}]});
        let errs: Vec<String> = validate_role(&role, true)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec![
            "rules[0].verbs: Required value: verbs must contain at least one value",
            "rules[0].resources: Required value: resource rules must supply at least one resource",
        ]
        );
    }

    #[test]
    fn role_ref_cannot_change() {
        let old = json!({"metadata": {"name": "b"}, "roleRef": {"apiGroup": GROUP, "kind": "Role", "name": "a"}});
        let new = json!({"metadata": {"name": "b"}, "roleRef": {"apiGroup": GROUP, "kind": "Role", "name": "b"}});
        assert_eq!(
            validate_binding_update(&new, &old, true)[0].to_string(),
            "roleRef: Invalid value: rbac.RoleRef{APIGroup:\"rbac.authorization.k8s.io\", Kind:\"Role\", Name:\"b\"}: cannot change roleRef"
        );
    }
}
