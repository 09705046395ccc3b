//! Workload defaults: ReplicationControllers, apps/v1 and batch/v1.

use serde_json::{json, Map, Value};

use super::{child, default, default_str, each, existing, is_empty};

fn template(spec: &mut Map<String, Value>) {
    if let Some(t) = existing(spec, "template") {
        super::pod::template(t);
    }
}

pub fn replication_controller(root: &mut Map<String, Value>) {
    let labels = root
        .get("spec")
        .and_then(|s| s.pointer("/template/metadata/labels"))
        .filter(|l| l.is_object())
        .cloned();
    if let Some(labels) = labels {
        if let Some(spec) = child(root, "spec") {
            if is_empty(spec.get("selector")) {
                spec.insert("selector".into(), labels.clone());
            }
        }
        if let Some(meta) = child(root, "metadata") {
            if is_empty(meta.get("labels")) {
                meta.insert("labels".into(), labels);
            }
        }
    }
    if let Some(spec) = child(root, "spec") {
        default(spec, "replicas", 1);
        template(spec);
    }
}

pub fn deployment(root: &mut Map<String, Value>) {
    let Some(spec) = child(root, "spec") else {
        return;
    };
    default(spec, "replicas", 1);
    if let Some(strategy) = child(spec, "strategy") {
        default_str(strategy, "type", "RollingUpdate");
        if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
            if let Some(ru) = child(strategy, "rollingUpdate") {
                default(ru, "maxUnavailable", "25%");
                default(ru, "maxSurge", "25%");
            }
        }
    }
    default(spec, "revisionHistoryLimit", 10);
    default(spec, "progressDeadlineSeconds", 600);
    template(spec);
}

pub fn replica_set(root: &mut Map<String, Value>) {
    if let Some(spec) = child(root, "spec") {
        default(spec, "replicas", 1);
        template(spec);
    }
}

pub fn daemon_set(root: &mut Map<String, Value>) {
    let Some(spec) = child(root, "spec") else {
        return;
    };
    if let Some(strategy) = child(spec, "updateStrategy") {
        default_str(strategy, "type", "RollingUpdate");
        if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
            if let Some(ru) = child(strategy, "rollingUpdate") {
                default(ru, "maxUnavailable", 1);
                default(ru, "maxSurge", 0);
            }
        }
    }
    default(spec, "revisionHistoryLimit", 10);
    template(spec);
}

pub fn stateful_set(root: &mut Map<String, Value>) {
    let Some(spec) = child(root, "spec") else {
        return;
    };
    default_str(spec, "podManagementPolicy", "OrderedReady");
    if let Some(strategy) = child(spec, "updateStrategy") {
        if strategy
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            strategy.insert("type".into(), "RollingUpdate".into());
            default(strategy, "rollingUpdate", json!({}));
        }
        if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
            if let Some(ru) = existing(strategy, "rollingUpdate") {
                default(ru, "partition", 0);
            }
        }
    }
    if let Some(policy) = child(spec, "persistentVolumeClaimRetentionPolicy") {
        default_str(policy, "whenDeleted", "Retain");
        default_str(policy, "whenScaled", "Retain");
    }
    default(spec, "replicas", 1);
    default(spec, "revisionHistoryLimit", 10);
    template(spec);
    for claim in each(spec, "volumeClaimTemplates") {
        if let Some(claim_spec) = existing(claim, "spec") {
            super::core::claim_spec(claim_spec);
        }
        if let Some(status) = child(claim, "status") {
            default_str(status, "phase", "Pending");
        }
    }
}

fn job_spec(spec: &mut Map<String, Value>) {
    let set = |spec: &Map<String, Value>, key: &str| spec.get(key).is_some_and(|v| !v.is_null());
    if !set(spec, "completions") && !set(spec, "parallelism") {
        spec.insert("completions".into(), 1.into());
        spec.insert("parallelism".into(), 1.into());
    }
    default(spec, "parallelism", 1);
    let backoff = if set(spec, "backoffLimitPerIndex") {
        i32::MAX as i64
    } else {
        6
    };
    default(spec, "backoffLimit", backoff);
    default(spec, "completionMode", "NonIndexed");
    default(spec, "suspend", false);
    let has_failure_policy = set(spec, "podFailurePolicy");
    if let Some(policy) = existing(spec, "podFailurePolicy") {
        for rule in each(policy, "rules") {
            for pattern in each(rule, "onPodConditions") {
                default_str(pattern, "status", "True");
            }
        }
    }
    default(
        spec,
        "podReplacementPolicy",
        if has_failure_policy {
            "Failed"
        } else {
            "TerminatingOrFailed"
        },
    );
    default(spec, "manualSelector", false);
}

pub fn job(root: &mut Map<String, Value>) {
    let labels = root
        .get("spec")
        .and_then(|s| s.pointer("/template/metadata/labels"))
        .filter(|l| l.is_object())
        .cloned();
    if let Some(labels) = labels {
        if let Some(meta) = child(root, "metadata") {
            if is_empty(meta.get("labels")) {
                meta.insert("labels".into(), labels);
            }
        }
    }
    if let Some(spec) = child(root, "spec") {
        job_spec(spec);
        template(spec);
    }
}

/// The selector and pod labels upstream generates for a Job whose
/// selector is not manual: the Job's uid and name.
pub fn job_selector(root: &mut Map<String, Value>) {
    let meta = root.get("metadata");
    let uid = meta
        .and_then(|m| m.get("uid"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let name = meta
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let Some(spec) = child(root, "spec") else {
        return;
    };
    if spec.get("manualSelector").and_then(Value::as_bool) == Some(true) || uid.is_empty() {
        return;
    }
    if let Some(labels) = child(spec, "template")
        .and_then(|t| child(t, "metadata"))
        .and_then(|m| child(m, "labels"))
    {
        for key in ["job-name", "batch.kubernetes.io/job-name"] {
            labels.entry(key).or_insert_with(|| name.clone().into());
        }
        for key in ["controller-uid", "batch.kubernetes.io/controller-uid"] {
            labels.entry(key).or_insert_with(|| uid.clone().into());
        }
    }
    if let Some(match_labels) = child(spec, "selector").and_then(|s| child(s, "matchLabels")) {
        match_labels
            .entry("batch.kubernetes.io/controller-uid")
            .or_insert_with(|| uid.into());
    }
}

pub fn cron_job(root: &mut Map<String, Value>) {
    let Some(spec) = child(root, "spec") else {
        return;
    };
    default_str(spec, "concurrencyPolicy", "Allow");
    default(spec, "suspend", false);
    default(spec, "successfulJobsHistoryLimit", 3);
    default(spec, "failedJobsHistoryLimit", 1);
    if let Some(job_spec) = existing(spec, "jobTemplate").and_then(|t| existing(t, "spec")) {
        template(job_spec);
    }
}

#[cfg(test)]
mod tests {
    use crate::defaults::{apply_defaults, prepare_for_create};
    use serde_json::json;

    #[test]
    fn deployments() {
        let mut d = json!({"metadata": {"name": "web"}, "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}}});
        apply_defaults("apps", "Deployment", &mut d);
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(
            d["spec"]["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        );
        assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
        assert_eq!(d["spec"]["progressDeadlineSeconds"], 600);
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
            "IfNotPresent"
        );
        assert!(d["spec"]["template"]["spec"]
            .get("enableServiceLinks")
            .is_none());
    }

    #[test]
    fn stateful_sets_and_daemon_sets() {
        let mut s = json!({"spec": {"volumeClaimTemplates": [{"spec": {}}]}});
        apply_defaults("apps", "StatefulSet", &mut s);
        assert_eq!(
            s["spec"]["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        );
        assert_eq!(
            s["spec"]["persistentVolumeClaimRetentionPolicy"],
            json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
        );
        assert_eq!(
            s["spec"]["volumeClaimTemplates"][0],
            json!({"spec": {"volumeMode": "Filesystem"}, "status": {"phase": "Pending"}})
        );
        let mut d = json!({"spec": {}});
        apply_defaults("apps", "DaemonSet", &mut d);
        assert_eq!(
            d["spec"]["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
        );
    }

    #[test]
    fn jobs() {
        let mut j = json!({"metadata": {"name": "pi", "uid": "u1"}, "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "perl"}]}}}});
        apply_defaults("batch", "Job", &mut j);
        prepare_for_create("batch", "Job", &mut j);
        let s = &j["spec"];
        assert_eq!(
            (
                s["completions"].clone(),
                s["parallelism"].clone(),
                s["backoffLimit"].clone()
            ),
            (json!(1), json!(1), json!(6))
        );
        assert_eq!(s["completionMode"], "NonIndexed");
        assert_eq!(s["podReplacementPolicy"], "TerminatingOrFailed");
        assert_eq!(s["manualSelector"], false);
        assert_eq!(
            s["selector"],
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}})
        );
        assert_eq!(s["template"]["metadata"]["labels"]["job-name"], "pi");
        let mut c = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {}}}}}});
        apply_defaults("batch", "CronJob", &mut c);
        assert_eq!(c["spec"]["concurrencyPolicy"], "Allow");
        assert_eq!(c["spec"]["successfulJobsHistoryLimit"], 3);
        assert!(c["spec"]["jobTemplate"]["spec"]
            .get("backoffLimit")
            .is_none());
        assert_eq!(
            c["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"],
            "Always"
        );
    }
}
