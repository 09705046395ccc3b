//! Jobs and CronJobs (pkg/apis/batch/validation).

use serde_json::Value;

use super::container::nonnegative;
use super::meta::{
    selector_is_valid, selector_matches, validate_label_selector, validate_object_meta,
    validate_object_meta_update, NameRule, IMMUTABLE,
};
use super::names::is_dns1123_label;
use super::path::{
    boolean, dig, dig_or_null, get, go_label_selector, go_string_map, int, s, same, Path,
};
use super::pod::validate_pod_template_spec;
use crate::status::FieldError;

/// Time zone names: a syntax check, since this crate reads no tz database.
pub fn time_zone_known(zone: &str) -> bool {
    !zone.is_empty()
        && !zone.eq_ignore_ascii_case("local")
        && zone.split('/').all(|part| {
            !part.is_empty()
                && part.len() <= 14
                && part != "."
                && part != ".."
                && !part.starts_with('-')
                && part
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_' | b'+'))
        })
}

fn job_spec(spec: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for field in [
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "backoffLimit",
        "ttlSecondsAfterFinished",
        "backoffLimitPerIndex",
        "maxFailedIndexes",
    ] {
        errs.extend(nonnegative(int(spec, field), &path.child(field)));
    }
    if let Some(mode) = spec.get("completionMode").and_then(Value::as_str) {
        if mode != "NonIndexed" && mode != "Indexed" {
            errs.push(
                path.child("completionMode")
                    .not_supported(mode, &["NonIndexed", "Indexed"]),
            );
        }
        if mode == "Indexed" {
            if int(spec, "completions").is_none() {
                errs.push(
                    path.child("completions")
                        .required("when completion mode is Indexed"),
                );
            }
            if let Some(p) = int(spec, "parallelism").filter(|p| *p > 100_000) {
                errs.push(path.child("parallelism").invalid(
                    p,
                    "must be less than or equal to 100000 when completion mode is Indexed",
                ));
            }
        }
    }
    if let Some(policy) = spec.get("podReplacementPolicy").and_then(Value::as_str) {
        let pp = path.child("podReplacementPolicy");
        if get(spec, "podFailurePolicy").is_some() {
            if policy != "Failed" {
                errs.push(pp.not_supported(policy, &["Failed"]));
            }
        } else if policy != "Failed" && policy != "TerminatingOrFailed" {
            errs.push(pp.not_supported(policy, &["Failed", "TerminatingOrFailed"]));
        }
    }
    let empty = Value::Null;
    let template = get(spec, "template").unwrap_or(&empty);
    let tp = path.child("template");
    errs.extend(validate_pod_template_spec(template, &tp));
    let restart = dig(template, &["spec", "restartPolicy"])
        .and_then(Value::as_str)
        .unwrap_or("");
    let rp = tp.child("spec").child("restartPolicy");
    if restart == "Always" || restart.is_empty() {
        errs.push(rp.required("valid values: \"OnFailure\", \"Never\""));
    } else if restart != "OnFailure" && restart != "Never" {
        errs.push(rp.not_supported(restart, &["OnFailure", "Never"]));
    } else if get(spec, "podFailurePolicy").is_some() && restart != "Never" {
        errs.push(rp.invalid(
            restart,
            "only \"Never\" is supported when podFailurePolicy is specified",
        ));
    }
    errs
}

fn job_selector(spec: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let selector = get(spec, "selector");
    match selector {
        None => errs.push(path.child("selector").required("")),
        Some(sel) => errs.extend(validate_label_selector(Some(sel), &path.child("selector"))),
    }
    if selector.is_none() || selector_is_valid(selector) {
        let labels = dig(spec, &["template", "metadata", "labels"]);
        if !selector_matches(selector, labels) {
            errs.push(
                path.child("template")
                    .child("metadata")
                    .child("labels")
                    .invalid_shown(
                        &go_string_map(labels),
                        "`selector` does not match template `labels`",
                    ),
            );
        }
    }
    errs
}

/// The labels the server puts on a Job's pods when it generates the
/// selector; they must be intact.
fn generated_selector(job: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let spec = dig_or_null(job, &["spec"]);
    if boolean(spec, "manualSelector") == Some(true) || get(spec, "selector").is_none() {
        return errs;
    }
    let uid = dig(job, &["metadata", "uid"])
        .and_then(Value::as_str)
        .unwrap_or("");
    if uid.is_empty() {
        errs.push(Path::new("metadata.uid").required(""));
    }
    let labels = dig(spec, &["template", "metadata", "labels"]);
    let meta = Path::new("spec.template.metadata");
    for key in ["controller-uid", "batch.kubernetes.io/controller-uid"] {
        match labels.and_then(|l| l.get(key)).and_then(Value::as_str) {
            None => errs.push(
                meta.child("labels")
                    .key(key)
                    .required(&format!("must be '{uid}'")),
            ),
            Some(v) if v != uid => errs.push(
                meta.child("labels")
                    .key(key)
                    .invalid_shown(&go_string_map(labels), &format!("must be '{uid}'")),
            ),
            _ => {}
        }
    }
    errs
}

pub fn validate_job(job: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(job, NameRule::Subdomain);
    errs.extend(generated_selector(job));
    let spec = dig_or_null(job, &["spec"]);
    let path = Path::new("spec");
    errs.extend(job_spec(spec, &path));
    errs.extend(job_selector(spec, &path));
    if s(spec, "completionMode") == "Indexed" {
        if let Some(completions) = int(spec, "completions").filter(|c| *c > 0) {
            let name = dig(job, &["metadata", "name"])
                .and_then(Value::as_str)
                .unwrap_or("");
            let hostname = format!("{name}-{}", completions - 1);
            if !is_dns1123_label(&hostname).is_empty() {
                errs.push(Path::new("metadata.name").invalid(
                    name,
                    &format!("will not able to create pod with invalid DNS label: {hostname}"),
                ));
            }
        }
    }
    errs
}

pub fn validate_job_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    let (ns, os) = (dig_or_null(new, &["spec"]), dig_or_null(old, &["spec"]));
    let path = Path::new("spec");
    errs.extend(job_spec(ns, &path));
    errs.extend(job_selector(ns, &path));
    let changed = |field: &str| !same(dig_or_null(ns, &[field]), dig_or_null(os, &[field]));
    let elastic =
        s(ns, "completionMode") == "Indexed" && int(ns, "completions") == int(ns, "parallelism");
    if changed("completions") && !elastic {
        errs.push(
            path.child("completions")
                .invalid(dig_or_null(ns, &["completions"]).clone(), IMMUTABLE),
        );
    }
    if changed("selector") {
        errs.push(
            path.child("selector")
                .invalid_shown(&go_label_selector(get(ns, "selector")), IMMUTABLE),
        );
    }
    if changed("template") {
        errs.push(
            path.child("template")
                .invalid_shown("core.PodTemplateSpec{...}", IMMUTABLE),
        );
    }
    for field in ["completionMode", "backoffLimitPerIndex", "managedBy"] {
        if changed(field) {
            errs.push(
                path.child(field)
                    .invalid(dig_or_null(ns, &[field]).clone(), IMMUTABLE),
            );
        }
    }
    for (field, shown) in [
        ("podFailurePolicy", "&batch.PodFailurePolicy{...}"),
        ("successPolicy", "&batch.SuccessPolicy{...}"),
    ] {
        if changed(field) {
            errs.push(path.child(field).invalid_shown(shown, IMMUTABLE));
        }
    }
    errs
}

fn cron_job_spec(spec: &Value, old: Option<&Value>, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let schedule = s(spec, "schedule");
    let sp = path.child("schedule");
    if schedule.is_empty() {
        errs.push(sp.required(""));
    } else {
        if let Err(msg) = super::cron::parse_standard(schedule) {
            errs.push(sp.invalid(schedule, &msg));
        }
        let allow_tz = old.is_some_and(|o| s(o, "schedule").contains("TZ"));
        if allow_tz && schedule.contains("TZ") && get(spec, "timeZone").is_some() {
            errs.push(sp.invalid(
                schedule,
                "cannot use both timeZone field and TZ or CRON_TZ in schedule",
            ));
        } else if !allow_tz && schedule.contains("TZ") {
            errs.push(sp.invalid(
                schedule,
                "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
            ));
        }
    }
    errs.extend(nonnegative(
        int(spec, "startingDeadlineSeconds"),
        &path.child("startingDeadlineSeconds"),
    ));
    let zone = spec.get("timeZone").and_then(Value::as_str);
    let zone_changed = old.is_none_or(|o| o.get("timeZone").and_then(Value::as_str) != zone);
    if let Some(zone) = zone.filter(|_| zone_changed) {
        let zp = path.child("timeZone");
        if zone.is_empty() {
            errs.push(zp.invalid(zone, "timeZone must be nil or non-empty string"));
        } else if zone.eq_ignore_ascii_case("local") {
            errs.push(zp.invalid(zone, "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"));
        } else if !time_zone_known(zone) {
            errs.push(zp.invalid(zone, &format!("unknown time zone {zone}")));
        }
    }
    match s(spec, "concurrencyPolicy") {
        "Allow" | "Forbid" | "Replace" => {}
        "" => errs.push(path.child("concurrencyPolicy").required("")),
        other => errs.push(
            path.child("concurrencyPolicy")
                .not_supported(other, &["Allow", "Forbid", "Replace"]),
        ),
    }
    let jp = path.child("jobTemplate");
    let job_template_spec = dig_or_null(spec, &["jobTemplate", "spec"]);
    errs.extend(job_spec(job_template_spec, &jp.child("spec")));
    if let Some(selector) = get(job_template_spec, "selector") {
        errs.push(jp.child("spec").child("selector").invalid_shown(
            &go_label_selector(Some(selector)),
            "`selector` will be auto-generated",
        ));
    }
    if boolean(job_template_spec, "manualSelector") == Some(true) {
        errs.push(
            jp.child("spec")
                .child("manualSelector")
                .not_supported(true, &["nil", "false"]),
        );
    }
    for field in ["successfulJobsHistoryLimit", "failedJobsHistoryLimit"] {
        errs.extend(nonnegative(int(spec, field), &path.child(field)));
    }
    errs
}

pub fn validate_cron_job(cj: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(cj, NameRule::Subdomain);
    errs.extend(cron_job_spec(
        dig_or_null(cj, &["spec"]),
        None,
        &Path::new("spec"),
    ));
    let name = dig(cj, &["metadata", "name"])
        .and_then(Value::as_str)
        .unwrap_or("");
    if name.len() > 52 {
        errs.push(Path::new("metadata.name").invalid(name, "must be no more than 52 characters"));
    }
    errs
}

pub fn validate_cron_job_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    errs.extend(cron_job_spec(
        dig_or_null(new, &["spec"]),
        Some(dig_or_null(old, &["spec"])),
        &Path::new("spec"),
    ));
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(errs: Vec<FieldError>) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    fn job(restart: &str) -> Value {
        let mut j = json!({"metadata": {"name": "pi", "uid": "1234"}, "spec": {"template": {"spec": {
            "restartPolicy": restart, "containers": [{"name": "pi", "image": "perl"}]}}}});
        crate::defaults::apply_defaults("batch", "Job", &mut j);
        crate::defaults::prepare_for_create("batch", "Job", &mut j);
        j
    }

    #[test]
    fn jobs_need_a_restart_policy() {
        assert_eq!(text(validate_job(&job("Never"))), Vec::<String>::new());
        assert_eq!(text(validate_job(&job("Always"))), vec![
            "spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\"",
        ]);
    }

    #[test]
    fn job_template_is_immutable() {
        let old = job("Never");
        let mut new = old.clone();
        new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("perl:2");
        assert_eq!(
            text(validate_job_update(&new, &old)),
            vec!["spec.template: Invalid value: core.PodTemplateSpec{...}: field is immutable",]
        );
    }

    #[test]
    fn cron_schedules() {
        let mut cj = json!({"metadata": {"name": "c"}, "spec": {"schedule": "*/61 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox"}]}}}}}});
        crate::defaults::apply_defaults("batch", "CronJob", &mut cj);
        assert_eq!(text(validate_cron_job(&cj)), Vec::<String>::new());
        cj["spec"]["schedule"] = json!("0 25 * * *");
        assert_eq!(text(validate_cron_job(&cj)), vec![
            "spec.schedule: Invalid value: \"0 25 * * *\": end of range (25) above maximum (23): 25",
        ]);
        cj["spec"]["schedule"] = json!("CRON_TZ=UTC 0 1 * * *");
        assert_eq!(text(validate_cron_job(&cj)), vec![
            "spec.schedule: Invalid value: \"CRON_TZ=UTC 0 1 * * *\": cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
        ]);
    }
}
