//! Jobs and CronJobs (pkg/apis/batch/validation).

use serde_json::Value;

use super::container::nonnegative;
use super::meta::{
    selector_is_valid, selector_matches, validate_label_selector, validate_object_meta,
    validate_object_meta_update, NameRule, IMMUTABLE,
};
use super::names::is_dns1123_label;
use super::path::{
    arr, boolean, dig, dig_or_null, get, go_label_selector, go_string_map, int, s, same, Path,
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
    let per_index = int(spec, "backoffLimitPerIndex");
    let max_failed = int(spec, "maxFailedIndexes");
    if max_failed.is_some() && per_index.is_none() {
        errs.push(
            path.child("backoffLimitPerIndex")
                .required("when maxFailedIndexes is specified"),
        );
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
            errs.extend(per_index_limits(spec, path));
        }
    }
    if s(spec, "completionMode") != "Indexed" {
        for (field, value) in [
            ("backoffLimitPerIndex", per_index),
            ("maxFailedIndexes", max_failed),
        ] {
            if let Some(v) = value {
                errs.push(
                    path.child(field)
                        .invalid(v, "requires indexed completion mode"),
                );
            }
        }
    }
    if let Some(policy) = get(spec, "podFailurePolicy") {
        errs.extend(super::pod_failure_policy::validate(
            spec,
            policy,
            &path.child("podFailurePolicy"),
        ));
    }
    if let Some(policy) = get(spec, "successPolicy") {
        let sp = path.child("successPolicy");
        if s(spec, "completionMode") != "Indexed" {
            errs.push(sp.invalid_shown(
                &go_success_policy(policy),
                "requires indexed completion mode",
            ));
        } else {
            errs.extend(success_policy(policy, int(spec, "completions"), &sp));
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

/// maxFailedIndexes against completions, and the caps of very large
/// Indexed Jobs with backoffLimitPerIndex.
fn per_index_limits(spec: &Value, path: &Path) -> Vec<FieldError> {
    const COMPLETIONS_SOFT_LIMIT: i64 = 100_000;
    const LIMIT_FOR_HIGH_COMPLETIONS: i64 = 10_000;
    let mut errs = Vec::new();
    let completions = int(spec, "completions");
    let max_failed = int(spec, "maxFailedIndexes");
    let mp = path.child("maxFailedIndexes");
    if let (Some(c), Some(m)) = (completions, max_failed) {
        if m > c {
            errs.push(mp.invalid(m, "must be less than or equal to completions"));
        }
    }
    if let Some(m) = max_failed.filter(|m| *m > COMPLETIONS_SOFT_LIMIT) {
        errs.push(mp.invalid(m, "must be less than or equal to 100000"));
    }
    let high = completions.is_some_and(|c| c > COMPLETIONS_SOFT_LIMIT);
    if high && int(spec, "backoffLimitPerIndex").is_some() {
        const HIGH: &str = "must be less than or equal to 10000 when completions are above 100000 and used with backoff limit per index";
        if max_failed.is_none() {
            errs.push(mp.required("must be specified when completions is above 100000"));
        }
        if let Some(p) = int(spec, "parallelism").filter(|p| *p > LIMIT_FOR_HIGH_COMPLETIONS) {
            errs.push(path.child("parallelism").invalid(p, HIGH));
        }
        if let Some(m) = max_failed.filter(|m| *m > LIMIT_FOR_HIGH_COMPLETIONS) {
            errs.push(mp.invalid(m, HIGH));
        }
    }
    errs
}

/// A success policy as Go's `%#v` prints it; rule fields are pointers,
/// whose addresses mean nothing, so they are elided.
fn go_success_policy(policy: &Value) -> String {
    match policy.get("rules").and_then(Value::as_array) {
        None => "batch.SuccessPolicy{Rules:[]batch.SuccessPolicyRule(nil)}".into(),
        Some(rules) if rules.is_empty() => {
            "batch.SuccessPolicy{Rules:[]batch.SuccessPolicyRule{}}".into()
        }
        Some(_) => "batch.SuccessPolicy{Rules:[]batch.SuccessPolicyRule{...}}".into(),
    }
}

/// Upstream's validateSuccessPolicy.
fn success_policy(policy: &Value, completions: Option<i64>, path: &Path) -> Vec<FieldError> {
    const MAX_RULES: usize = 20;
    const MAX_INDEXES_LENGTH: usize = 64 * 1024;
    let mut errs = Vec::new();
    let rules = arr(policy, "rules");
    let rp = path.child("rules");
    if rules.is_empty() {
        errs.push(
            rp.required("at least one rules must be specified when the successPolicy is specified"),
        );
    }
    if rules.len() > MAX_RULES {
        errs.push(rp.too_many(rules.len(), MAX_RULES));
    }
    for (i, rule) in rules.iter().enumerate() {
        let path = rp.index(i);
        let indexes = rule.get("succeededIndexes").and_then(Value::as_str);
        let count = int(rule, "succeededCount");
        if indexes.is_none() && count.is_none() {
            errs.push(
                path.required(
                    "at least one of succeededCount or succeededIndexes must be specified",
                ),
            );
        }
        let mut total = 0;
        if let Some(text) = indexes {
            let ip = path.child("succeededIndexes");
            if text.len() > MAX_INDEXES_LENGTH {
                errs.push(ip.too_long(MAX_INDEXES_LENGTH));
            }
            match indexes_total(text, completions.unwrap_or(0)) {
                Ok(n) => total = n,
                Err(err) => {
                    errs.push(ip.invalid(text, &format!("error parsing succeededIndexes: {err}")))
                }
            }
        }
        if let Some(count) = count {
            let cp = path.child("succeededCount");
            errs.extend(nonnegative(Some(count), &cp));
            if let Some(c) = completions.filter(|c| count > *c) {
                errs.push(cp.invalid(
                    count,
                    &format!(
                        "must be less than or equal to {c} (the number of specified completions)"
                    ),
                ));
            }
            if indexes.is_some() && count > total {
                errs.push(cp.invalid(
                    count,
                    &format!("must be less than or equal to {total} (the number of indexes in the specified succeededIndexes field)"),
                ));
            }
        }
    }
    errs
}

/// How many indexes `1,3-5` names, or why it is not a list of increasing
/// intervals below `completions` (upstream's validateIndexesFormat).
fn indexes_total(text: &str, completions: i64) -> Result<i64, String> {
    if text.is_empty() {
        return Ok(0);
    }
    let number = |part: &str| -> Result<i64, String> {
        let n = part
            .parse::<i64>()
            .map_err(|_| format!("cannot convert string to integer for index: {part:?}"))?;
        if n >= completions {
            return Err(format!("too large index: {part:?}"));
        }
        Ok(n)
    };
    let mut last: Option<i64> = None;
    let mut total = 0;
    for interval in text.split(',') {
        let limits: Vec<&str> = interval.split('-').collect();
        if limits.len() > 2 {
            return Err(format!("the fragment {interval:?} violates the requirement that an index interval can have at most two parts separated by '-'"));
        }
        let first = number(limits[0])?;
        let end = match limits.get(1) {
            Some(part) => {
                let end = number(part)?;
                if first >= end {
                    return Err(format!(
                        "non-increasing order, previous: {first}, current: {end}"
                    ));
                }
                end
            }
            None => first,
        };
        if let Some(previous) = last.filter(|l| *l >= first) {
            return Err(format!(
                "non-increasing order, previous: {previous}, current: {first}"
            ));
        }
        total += end - first + 1;
        last = Some(end);
    }
    Ok(total)
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
    fn per_index_fields_need_indexed_jobs() {
        let mut j = job("Never");
        j["spec"]["backoffLimitPerIndex"] = json!(1);
        j["spec"]["maxFailedIndexes"] = json!(2);
        j["spec"]["successPolicy"] = json!({"rules": []});
        j["spec"]["podFailurePolicy"] = json!({"rules": [{"action": "FailIndex",
            "onExitCodes": {"operator": "In", "values": [1]}}]});
        j["spec"]["podReplacementPolicy"] = json!("Failed");
        assert_eq!(text(validate_job(&j)), vec![
            "spec.backoffLimitPerIndex: Invalid value: 1: requires indexed completion mode",
            "spec.maxFailedIndexes: Invalid value: 2: requires indexed completion mode",
            "spec.successPolicy: Invalid value: batch.SuccessPolicy{Rules:[]batch.SuccessPolicyRule{}}: requires indexed completion mode",
        ]);
        j["spec"]
            .as_object_mut()
            .unwrap()
            .remove("backoffLimitPerIndex");
        j["spec"].as_object_mut().unwrap().remove("successPolicy");
        assert_eq!(text(validate_job(&j)), vec![
            "spec.backoffLimitPerIndex: Required value: when maxFailedIndexes is specified",
            "spec.maxFailedIndexes: Invalid value: 2: requires indexed completion mode",
            "spec.podFailurePolicy.rules[0].action: Invalid value: \"FailIndex\": requires the backoffLimitPerIndex to be set",
        ]);
    }

    #[test]
    fn indexed_per_index_limits_and_success_policy() {
        let mut j = job("Never");
        j["spec"]["completionMode"] = json!("Indexed");
        j["spec"]["completions"] = json!(4);
        j["spec"]["backoffLimitPerIndex"] = json!(1);
        j["spec"]["maxFailedIndexes"] = json!(2);
        j["spec"]["successPolicy"] = json!({"rules": [
            {"succeededIndexes": "0,2-3", "succeededCount": 2},
            {"succeededCount": 4},
        ]});
        assert_eq!(text(validate_job(&j)), Vec::<String>::new());
        j["spec"]["maxFailedIndexes"] = json!(5);
        j["spec"]["successPolicy"] = json!({"rules": [
            {"succeededIndexes": "0,2-4", "succeededCount": 5},
            {"succeededIndexes": "2,1"},
            {},
        ]});
        assert_eq!(text(validate_job(&j)), vec![
            "spec.maxFailedIndexes: Invalid value: 5: must be less than or equal to completions",
            "spec.successPolicy.rules[0].succeededIndexes: Invalid value: \"0,2-4\": error parsing succeededIndexes: too large index: \"4\"",
            "spec.successPolicy.rules[0].succeededCount: Invalid value: 5: must be less than or equal to 4 (the number of specified completions)",
            "spec.successPolicy.rules[0].succeededCount: Invalid value: 5: must be less than or equal to 0 (the number of indexes in the specified succeededIndexes field)",
            "spec.successPolicy.rules[1].succeededIndexes: Invalid value: \"2,1\": error parsing succeededIndexes: non-increasing order, previous: 2, current: 1",
            "spec.successPolicy.rules[2]: Required value: at least one of succeededCount or succeededIndexes must be specified",
        ]);
        j["spec"]["successPolicy"] = json!({"rules": []});
        j["spec"]["maxFailedIndexes"] = json!(1);
        assert_eq!(text(validate_job(&j)), vec![
            "spec.successPolicy.rules: Required value: at least one rules must be specified when the successPolicy is specified",
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
