//! Deployments, ReplicaSets, DaemonSets, StatefulSets and
//! ControllerRevisions (pkg/apis/apps/validation).

use serde_json::{Map, Value};

use super::container::nonnegative;
use super::meta::{
    selector_is_empty, selector_is_valid, selector_matches, validate_label_selector,
    validate_object_meta, validate_object_meta_update, NameRule, IMMUTABLE,
};
use super::names::is_valid_percent;
use super::path::{
    dig, dig_or_null, get, go_label_selector, go_string_map, int, int_or_string, s, same, Path,
};
use super::pod::validate_pod_template_spec;
use crate::status::FieldError;

/// The selector checks every workload shares; `what` names the kind in
/// upstream's "empty selector is invalid for ..." message.
fn selector_and_template(spec: &Value, what: &str, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let selector = get(spec, "selector");
    let sp = path.child("selector");
    match selector {
        None => errs.push(sp.required("")),
        Some(sel) => {
            errs.extend(validate_label_selector(Some(sel), &sp));
            if selector_is_empty(Some(sel)) {
                errs.push(sp.invalid_shown(
                    &go_label_selector(Some(sel)),
                    &format!("empty selector is invalid for {what}"),
                ));
            }
        }
    }
    let tp = path.child("template");
    if selector.is_some() && !selector_is_valid(selector) {
        let detail = if what == "statefulset" {
            ""
        } else {
            "invalid label selector"
        };
        errs.push(sp.invalid_shown(&go_label_selector(selector), detail));
        return errs;
    }
    let empty = Value::Object(Map::new());
    let template = get(spec, "template").unwrap_or(&empty);
    let labels = dig(template, &["metadata", "labels"]);
    // A missing selector selects nothing, so it matches no labels.
    if selector.is_none() || (!selector_is_empty(selector) && !selector_matches(selector, labels)) {
        errs.push(tp.child("metadata").child("labels").invalid_shown(
            &go_string_map(labels),
            "`selector` does not match template `labels`",
        ));
    }
    errs.extend(validate_pod_template_spec(template, &tp));
    errs
}

fn template_restart_always(spec: &Value, kind: &str, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let restart = dig(spec, &["template", "spec", "restartPolicy"])
        .and_then(Value::as_str)
        .unwrap_or("");
    let tsp = path.child("template").child("spec");
    if restart != "Always" {
        errs.push(
            tsp.child("restartPolicy")
                .not_supported(restart, &["Always"]),
        );
    }
    if dig(spec, &["template", "spec", "activeDeadlineSeconds"]).is_some() {
        errs.push(
            tsp.child("activeDeadlineSeconds")
                .forbidden(&format!("activeDeadlineSeconds in {kind} is not Supported")),
        );
    }
    errs
}

fn positive_int_or_percent(value: Option<&Value>, path: &Path) -> Vec<FieldError> {
    match value {
        Some(Value::String(text)) => is_valid_percent(text)
            .iter()
            .map(|m| path.invalid_shown(text, m))
            .collect(),
        Some(Value::Number(n)) => nonnegative(n.as_i64(), path),
        Some(other) => vec![path.invalid_shown(
            &other.to_string(),
            "must be an integer or percentage (e.g '5%')",
        )],
        None => Vec::new(),
    }
}

fn int_or_percent_value(value: Option<&Value>) -> (i64, bool) {
    match value {
        Some(Value::String(t)) => (
            t.trim_end_matches('%').parse().unwrap_or(0),
            t.ends_with('%'),
        ),
        Some(v) => (super::path::as_int(v).unwrap_or(0), false),
        None => (0, false),
    }
}

fn not_more_than_100_percent(value: Option<&Value>, path: &Path) -> Vec<FieldError> {
    let (n, percent) = int_or_percent_value(value);
    if percent && n > 100 {
        vec![path.invalid_shown(
            &int_or_string(value.unwrap_or(&Value::Null)),
            "must not be greater than 100%",
        )]
    } else {
        Vec::new()
    }
}

fn rolling_update(ru: &Value, path: &Path) -> Vec<FieldError> {
    let (mu, ms) = (get(ru, "maxUnavailable"), get(ru, "maxSurge"));
    let mut errs = positive_int_or_percent(mu, &path.child("maxUnavailable"));
    errs.extend(positive_int_or_percent(ms, &path.child("maxSurge")));
    if int_or_percent_value(mu).0 == 0 && int_or_percent_value(ms).0 == 0 {
        errs.push(path.child("maxUnavailable").invalid_shown(
            &int_or_string(mu.unwrap_or(&Value::Null)),
            "may not be 0 when `maxSurge` is 0",
        ));
    }
    errs.extend(not_more_than_100_percent(mu, &path.child("maxUnavailable")));
    errs
}

pub fn validate_deployment(d: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(d, NameRule::Subdomain);
    errs.extend(deployment_spec(
        dig_or_null(d, &["spec"]),
        &Path::new("spec"),
    ));
    errs
}

fn deployment_spec(spec: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = nonnegative(int(spec, "replicas"), &path.child("replicas"));
    errs.extend(selector_and_template(spec, "deployment", path));
    errs.extend(template_restart_always(spec, "ReplicaSet", path));
    let strategy = dig_or_null(spec, &["strategy"]);
    let stp = path.child("strategy");
    match s(strategy, "type") {
        "Recreate" => {
            if get(strategy, "rollingUpdate").is_some() {
                errs.push(
                    stp.child("rollingUpdate")
                        .forbidden("may not be specified when strategy `type` is 'Recreate'"),
                );
            }
        }
        "RollingUpdate" => match get(strategy, "rollingUpdate") {
            None => errs.push(
                stp.child("rollingUpdate")
                    .required("this should be defaulted and never be nil"),
            ),
            Some(ru) => errs.extend(rolling_update(ru, &stp.child("rollingUpdate"))),
        },
        other => errs.push(stp.not_supported(other, &["Recreate", "RollingUpdate"])),
    }
    let min_ready = int(spec, "minReadySeconds").unwrap_or(0);
    errs.extend(nonnegative(Some(min_ready), &path.child("minReadySeconds")));
    errs.extend(nonnegative(
        int(spec, "revisionHistoryLimit"),
        &path.child("revisionHistoryLimit"),
    ));
    if let Some(deadline) = int(spec, "progressDeadlineSeconds") {
        errs.extend(nonnegative(
            Some(deadline),
            &path.child("progressDeadlineSeconds"),
        ));
        if deadline <= min_ready {
            errs.push(
                path.child("progressDeadlineSeconds")
                    .invalid(deadline, "must be greater than minReadySeconds"),
            );
        }
    }
    errs
}

fn selector_immutable(new: &Value, old: &Value) -> Vec<FieldError> {
    let (a, b) = (
        dig(new, &["spec", "selector"]),
        dig(old, &["spec", "selector"]),
    );
    if same(a.unwrap_or(&Value::Null), b.unwrap_or(&Value::Null)) {
        Vec::new()
    } else {
        vec![Path::new("spec.selector").invalid_shown(&go_label_selector(a), IMMUTABLE)]
    }
}

pub fn validate_deployment_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    errs.extend(deployment_spec(
        dig_or_null(new, &["spec"]),
        &Path::new("spec"),
    ));
    errs.extend(selector_immutable(new, old));
    errs
}

pub fn validate_replica_set(rs: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(rs, NameRule::Subdomain);
    errs.extend(replica_set_spec(
        dig_or_null(rs, &["spec"]),
        &Path::new("spec"),
    ));
    errs
}

fn replica_set_spec(spec: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = nonnegative(int(spec, "replicas"), &path.child("replicas"));
    errs.extend(nonnegative(
        int(spec, "minReadySeconds"),
        &path.child("minReadySeconds"),
    ));
    errs.extend(selector_and_template(spec, "deployment", path));
    errs.extend(template_restart_always(spec, "ReplicaSet", path));
    errs
}

pub fn validate_replica_set_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    errs.extend(replica_set_spec(
        dig_or_null(new, &["spec"]),
        &Path::new("spec"),
    ));
    errs.extend(selector_immutable(new, old));
    errs
}

pub fn validate_daemon_set(ds: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(ds, NameRule::Subdomain);
    errs.extend(daemon_set_spec(
        dig_or_null(ds, &["spec"]),
        &Path::new("spec"),
    ));
    errs
}

fn daemon_set_spec(spec: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = selector_and_template(spec, "daemonset", path);
    errs.extend(template_restart_always(spec, "DaemonSet", path));
    errs.extend(nonnegative(
        int(spec, "minReadySeconds"),
        &path.child("minReadySeconds"),
    ));
    errs.extend(nonnegative(
        int(spec, "templateGeneration"),
        &path.child("templateGeneration"),
    ));
    let strategy = dig_or_null(spec, &["updateStrategy"]);
    let up = path.child("updateStrategy");
    match s(strategy, "type") {
        "OnDelete" => {}
        "RollingUpdate" => match get(strategy, "rollingUpdate") {
            None => errs.push(up.child("rollingUpdate").required("")),
            Some(ru) => {
                let p = up.child("rollingUpdate");
                let (mu, ms) = (get(ru, "maxUnavailable"), get(ru, "maxSurge"));
                errs.extend(positive_int_or_percent(mu, &p.child("maxUnavailable")));
                errs.extend(positive_int_or_percent(ms, &p.child("maxSurge")));
                let (u, _) = int_or_percent_value(mu);
                let (g, _) = int_or_percent_value(ms);
                if u == 0 && g == 0 {
                    errs.push(p.child("maxUnavailable").invalid_shown(
                        &int_or_string(mu.unwrap_or(&Value::Null)),
                        "may not be 0 when `maxSurge` is 0",
                    ));
                }
                errs.extend(not_more_than_100_percent(mu, &p.child("maxUnavailable")));
                errs.extend(not_more_than_100_percent(ms, &p.child("maxSurge")));
            }
        },
        other => errs.push(
            up.child("type")
                .not_supported(other, &["OnDelete", "RollingUpdate"]),
        ),
    }
    errs.extend(nonnegative(
        int(spec, "revisionHistoryLimit"),
        &path.child("revisionHistoryLimit"),
    ));
    errs
}

pub fn validate_daemon_set_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    errs.extend(daemon_set_spec(
        dig_or_null(new, &["spec"]),
        &Path::new("spec"),
    ));
    errs.extend(selector_immutable(new, old));
    errs
}

pub fn validate_stateful_set(sts: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(sts, NameRule::Subdomain);
    errs.extend(stateful_set_spec(
        dig_or_null(sts, &["spec"]),
        &Path::new("spec"),
    ));
    errs
}

fn stateful_set_spec(spec: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    match s(spec, "podManagementPolicy") {
        "" => errs.push(path.child("podManagementPolicy").required("")),
        "OrderedReady" | "Parallel" => {}
        other => errs.push(
            path.child("podManagementPolicy")
                .invalid(other, "must be 'OrderedReady' or 'Parallel'"),
        ),
    }
    let strategy = dig_or_null(spec, &["updateStrategy"]);
    let up = path.child("updateStrategy");
    match s(strategy, "type") {
        "" => errs.push(up.required("")),
        "OnDelete" => {
            if get(strategy, "rollingUpdate").is_some() {
                errs.push(up.child("rollingUpdate").invalid_shown(
                    "&apps.RollingUpdateStatefulSetStrategy{...}",
                    "only allowed for updateStrategy 'RollingUpdate'",
                ));
            }
        }
        "RollingUpdate" => {
            if let Some(ru) = get(strategy, "rollingUpdate") {
                errs.extend(nonnegative(int(ru, "partition"), &up.child("rollingUpdate").child("partition")));
            }
        }
        other => errs.push(up.invalid_shown(
            &format!("apps.StatefulSetUpdateStrategy{{Type:{other:?}, RollingUpdate:(*apps.RollingUpdateStatefulSetStrategy)(nil)}}"),
            "must be 'RollingUpdate' or 'OnDelete'",
        )),
    }
    if let Some(policy) = get(spec, "persistentVolumeClaimRetentionPolicy") {
        let pp = path.child("persistentVolumeClaimRetentionPolicy");
        for field in ["whenDeleted", "whenScaled"] {
            let v = s(policy, field);
            if v != "Retain" && v != "Delete" {
                errs.push(pp.child(field).not_supported(v, &["Retain", "Delete"]));
            }
        }
    }
    errs.extend(nonnegative(int(spec, "replicas"), &path.child("replicas")));
    errs.extend(nonnegative(
        int(spec, "minReadySeconds"),
        &path.child("minReadySeconds"),
    ));
    if let Some(ordinals) = get(spec, "ordinals") {
        errs.extend(nonnegative(
            int(ordinals, "start"),
            &path.child("ordinals.start"),
        ));
    }
    errs.extend(selector_and_template(spec, "statefulset", path));
    errs.extend(template_restart_always(spec, "StatefulSet", path));
    errs
}

pub fn validate_stateful_set_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    let new_spec = dig_or_null(new, &["spec"]);
    let old_spec = dig_or_null(old, &["spec"]);
    errs.extend(stateful_set_spec(new_spec, &Path::new("spec")));
    let mut munged = new_spec.as_object().cloned().unwrap_or_default();
    for field in [
        "replicas",
        "template",
        "updateStrategy",
        "minReadySeconds",
        "ordinals",
        "revisionHistoryLimit",
        "persistentVolumeClaimRetentionPolicy",
    ] {
        match old_spec.get(field) {
            Some(v) => munged.insert(field.into(), v.clone()),
            None => munged.remove(field),
        };
    }
    if !same(&Value::Object(munged), old_spec) {
        errs.push(Path::new("spec").forbidden("updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"));
    }
    errs
}

pub fn validate_controller_revision(cr: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(cr, NameRule::Subdomain);
    if get(cr, "data").is_none() {
        errs.push(Path::new("data").required("data is mandatory"));
    }
    errs.extend(nonnegative(int(cr, "revision"), &Path::new("revision")));
    errs
}

pub fn validate_controller_revision_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    errs.extend(validate_controller_revision(new));
    if !same(dig_or_null(new, &["data"]), dig_or_null(old, &["data"])) {
        errs.push(Path::new("data").invalid_shown("runtime.RawExtension{...}", IMMUTABLE));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(selector: Value, labels: Value) -> Value {
        let mut d = json!({"metadata": {"name": "web"}, "spec": {"selector": selector,
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}});
        crate::defaults::apply_defaults("apps", "Deployment", &mut d);
        d
    }

    fn text(errs: Vec<FieldError>) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_defaulted_deployment_is_valid() {
        let d = deployment(
            json!({"matchLabels": {"app": "web"}}),
            json!({"app": "web"}),
        );
        assert_eq!(text(validate_deployment(&d)), Vec::<String>::new());
    }

    #[test]
    fn selector_must_match_template() {
        let d = deployment(json!({"matchLabels": {"app": "web"}}), json!({"app": "db"}));
        assert_eq!(text(validate_deployment(&d)), vec![
            "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"db\"}: `selector` does not match template `labels`",
        ]);
    }

    #[test]
    fn selector_is_immutable() {
        let old = deployment(
            json!({"matchLabels": {"app": "web"}}),
            json!({"app": "web", "v": "2"}),
        );
        let new = deployment(
            json!({"matchLabels": {"app": "web", "v": "2"}}),
            json!({"app": "web", "v": "2"}),
        );
        assert_eq!(text(validate_deployment_update(&new, &old)), vec![
            "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"web\", \"v\":\"2\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable",
        ]);
    }

    #[test]
    fn a_missing_selector_matches_nothing() {
        let mut d = deployment(json!({}), json!({"app": "web"}));
        d["spec"].as_object_mut().unwrap().remove("selector");
        assert_eq!(text(validate_deployment(&d)), vec![
            "spec.selector: Required value",
            "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`",
        ]);
    }

    #[test]
    fn negative_replicas() {
        let mut d = deployment(
            json!({"matchLabels": {"app": "web"}}),
            json!({"app": "web"}),
        );
        d["spec"]["replicas"] = json!(-1);
        assert_eq!(
            text(validate_deployment(&d)),
            vec!["spec.replicas: Invalid value: -1: must be greater than or equal to 0"]
        );
    }

    #[test]
    fn stateful_set_fields_are_frozen() {
        let mut old = json!({"metadata": {"name": "db"}, "spec": {"serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
            "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "c", "image": "pg"}]}}}});
        crate::defaults::apply_defaults("apps", "StatefulSet", &mut old);
        let mut new = old.clone();
        new["spec"]["replicas"] = json!(3);
        assert!(validate_stateful_set_update(&new, &old).is_empty());
        new["spec"]["serviceName"] = json!("other");
        assert!(
            text(validate_stateful_set_update(&new, &old))[0].starts_with(
                "spec: Forbidden: updates to statefulset spec for fields other than 'replicas'"
            )
        );
    }
}
