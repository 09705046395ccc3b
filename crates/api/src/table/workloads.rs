//! Workloads: apps, batch, autoscaling and policy.

use serde_json::Value;

use super::{
    containers, docs, get, human_duration, int_at, label_map, label_selector, str_at, timestamp_at,
    Cells, Column, Row, AGE, CONTAINERS, IMAGES, NAME,
};
use crate::resource::Resource;
use crate::selector::label::Selector;

pub(super) fn printer(resource: &Resource) -> Option<(&'static [Column], Cells)> {
    let found: (&'static [Column], Cells) = match (resource.group, resource.plural) {
        ("apps", "deployments") => (DEPLOYMENT, deployment),
        ("apps", "replicasets") => (REPLICA_SET, replica_set),
        ("apps", "daemonsets") => (DAEMON_SET, daemon_set),
        ("apps", "statefulsets") => (STATEFUL_SET, stateful_set),
        ("apps", "controllerrevisions") => (CONTROLLER_REVISION, controller_revision),
        ("batch", "jobs") => (JOB, job),
        ("batch", "cronjobs") => (CRON_JOB, cron_job),
        ("autoscaling", "horizontalpodautoscalers") => (HPA, hpa),
        ("policy", "poddisruptionbudgets") => (PDB, pdb),
        _ => return None,
    };
    Some(found)
}

/// `spec.replicas`, which defaulting sets to 1 when a client leaves it out.
fn desired(row: &Row) -> i64 {
    int_at(row.object, "spec.replicas").unwrap_or(1)
}

const READY_DOC: &str = "Number of the pod with ready state";

const DEPLOYMENT: &[Column] = &[
    NAME,
    Column::string("Ready", READY_DOC),
    Column::string("Up-to-date", docs::DEPLOY_UPDATED),
    Column::string("Available", docs::DEPLOY_AVAILABLE),
    AGE,
    CONTAINERS,
    IMAGES,
    Column::string("Selector", docs::DEPLOY_SELECTOR).wide(),
];

fn deployment(row: &Row) -> Vec<Value> {
    let [names, images] = containers(row.get("spec.template.spec"));
    // Unlike the other workloads, no `<none>` for an empty selector here.
    let selector = row
        .get("spec.selector")
        .and_then(|v| serde_json::from_value(v.clone()).ok());
    let selector = match Selector::from_label_selector(selector.as_ref()) {
        Ok(selector) => selector.to_string(),
        Err(_) => "<invalid>".to_string(),
    };
    vec![
        row.name(),
        format!("{}/{}", row.int("status.readyReplicas"), desired(row)).into(),
        row.int("status.updatedReplicas").into(),
        row.int("status.availableReplicas").into(),
        row.age(),
        names,
        images,
        selector.into(),
    ]
}

const REPLICA_SET: &[Column] = &[
    NAME,
    Column::integer("Desired", docs::RS_SPEC_REPLICAS),
    Column::integer("Current", docs::RS_STATUS_REPLICAS),
    Column::integer("Ready", docs::RS_STATUS_READY),
    AGE,
    CONTAINERS,
    IMAGES,
    Column::string("Selector", docs::RS_SPEC_SELECTOR).wide(),
];

fn replica_set(row: &Row) -> Vec<Value> {
    let [names, images] = containers(row.get("spec.template.spec"));
    vec![
        row.name(),
        desired(row).into(),
        row.int("status.replicas").into(),
        row.int("status.readyReplicas").into(),
        row.age(),
        names,
        images,
        label_selector(row, "spec.selector"),
    ]
}

const DAEMON_SET: &[Column] = &[
    NAME,
    Column::integer("Desired", docs::DS_DESIRED),
    Column::integer("Current", docs::DS_CURRENT),
    Column::integer("Ready", docs::DS_READY),
    Column::integer("Up-to-date", docs::DS_UPDATED),
    Column::integer("Available", docs::DS_AVAILABLE),
    Column::string("Node Selector", docs::POD_NODE_SELECTOR),
    AGE,
    CONTAINERS,
    IMAGES,
    Column::string("Selector", docs::DS_SELECTOR).wide(),
];

fn daemon_set(row: &Row) -> Vec<Value> {
    let [names, images] = containers(row.get("spec.template.spec"));
    vec![
        row.name(),
        row.int("status.desiredNumberScheduled").into(),
        row.int("status.currentNumberScheduled").into(),
        row.int("status.numberReady").into(),
        row.int("status.updatedNumberScheduled").into(),
        row.int("status.numberAvailable").into(),
        label_map(row, "spec.template.spec.nodeSelector"),
        row.age(),
        names,
        images,
        label_selector(row, "spec.selector"),
    ]
}

const STATEFUL_SET: &[Column] = &[
    NAME,
    Column::string("Ready", READY_DOC),
    AGE,
    CONTAINERS,
    IMAGES,
];

fn stateful_set(row: &Row) -> Vec<Value> {
    let [names, images] = containers(row.get("spec.template.spec"));
    vec![
        row.name(),
        format!("{}/{}", row.int("status.readyReplicas"), desired(row)).into(),
        row.age(),
        names,
        images,
    ]
}

const CONTROLLER_REVISION: &[Column] = &[
    NAME,
    Column::string("Controller", "Controller of the object"),
    Column::string("Revision", docs::CONTROLLER_REVISION),
    AGE,
];

fn controller_revision(row: &Row) -> Vec<Value> {
    let controller = row
        .list("metadata.ownerReferences")
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        .map_or_else(
            || "<none>".to_string(),
            |owner| {
                // `daemonset.apps/web`: the group kind, lowercased.
                let kind = str_at(owner, "kind");
                let name = str_at(owner, "name");
                let group = match str_at(owner, "apiVersion").split_once('/') {
                    Some((group, _)) => group,
                    None => "",
                };
                match (kind, group) {
                    ("", "") => name.to_string(),
                    (kind, "") => format!("{}/{name}", kind.to_lowercase()),
                    (kind, group) => format!("{}/{name}", format!("{kind}.{group}").to_lowercase()),
                }
            },
        );
    vec![
        row.name(),
        controller.into(),
        row.int("revision").into(),
        row.age(),
    ]
}

const JOB: &[Column] = &[
    NAME,
    Column::string("Status", "Status of the job."),
    Column::string("Completions", docs::JOB_SUCCEEDED),
    Column::string("Duration", "Time required to complete the job."),
    AGE,
    CONTAINERS,
    IMAGES,
    Column::string("Selector", docs::JOB_SELECTOR).wide(),
];

/// The status of the first condition of `kind`, as upstream's
/// `hasJobCondition`.
fn job_condition(row: &Row, kind: &str) -> bool {
    row.list("status.conditions")
        .iter()
        .find(|c| str_at(c, "type") == kind)
        .is_some_and(|c| str_at(c, "status") == "True")
}

fn job(row: &Row) -> Vec<Value> {
    let succeeded = row.int("status.succeeded");
    let completions = match int_at(row.object, "spec.completions") {
        Some(completions) => format!("{succeeded}/{completions}"),
        None => match row.int("spec.parallelism") {
            parallelism if parallelism > 1 => format!("{succeeded}/1 of {parallelism}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let start = timestamp_at(row.object, "status.startTime");
    let duration = match (start, timestamp_at(row.object, "status.completionTime")) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration(row.now.duration_since(start)),
        (Some(start), Some(end)) => human_duration(end.duration_since(start)),
    };
    let status = if job_condition(row, "Complete") {
        "Complete"
    } else if job_condition(row, "Failed") {
        "Failed"
    } else if row.deleting() {
        "Terminating"
    } else if job_condition(row, "Suspended") {
        "Suspended"
    } else if job_condition(row, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let [names, images] = containers(row.get("spec.template.spec"));
    vec![
        row.name(),
        status.into(),
        completions.into(),
        duration.into(),
        row.age(),
        names,
        images,
        label_selector(row, "spec.selector"),
    ]
}

const CRON_JOB: &[Column] = &[
    NAME,
    Column::string("Schedule", docs::CRONJOB_SCHEDULE),
    Column::string("Timezone", docs::CRONJOB_TIME_ZONE),
    Column::boolean("Suspend", docs::CRONJOB_SUSPEND),
    Column::integer("Active", docs::CRONJOB_ACTIVE),
    Column::string("Last Schedule", docs::CRONJOB_LAST_SCHEDULE),
    AGE,
    CONTAINERS,
    IMAGES,
    Column::string("Selector", docs::JOB_SELECTOR).wide(),
];

fn cron_job(row: &Row) -> Vec<Value> {
    let last = match row.get("status.lastScheduleTime").filter(|v| !v.is_null()) {
        Some(_) => row.since("status.lastScheduleTime"),
        None => "<none>".to_string(),
    };
    let time_zone = row
        .get("spec.timeZone")
        .and_then(Value::as_str)
        .unwrap_or("<none>");
    // A string, although the column says boolean: upstream's printBoolPtr.
    let suspend = match super::bool_at(row.object, "spec.suspend") {
        Some(true) => "True",
        Some(false) => "False",
        None => "<unset>",
    };
    let [names, images] = containers(row.get("spec.jobTemplate.spec.template.spec"));
    vec![
        row.name(),
        row.str("spec.schedule").into(),
        time_zone.into(),
        suspend.into(),
        row.list("status.active").len().into(),
        last.into(),
        row.age(),
        names,
        images,
        label_selector(row, "spec.jobTemplate.spec.selector"),
    ]
}

const HPA: &[Column] = &[
    NAME,
    Column::string("Reference", docs::HPA_SCALE_TARGET),
    Column::string("Targets", docs::HPA_METRICS),
    Column::string("MinPods", docs::HPA_MIN),
    Column::string("MaxPods", docs::HPA_MAX),
    Column::string("Replicas", docs::HPA_CURRENT),
    AGE,
];

/// A quantity as upstream's `Quantity.String()` on a possibly nil pointer.
fn amount(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "<nil>".to_string(),
    }
}

/// The TARGETS cell: each metric as `current/target`, at most two.
fn hpa_metrics(specs: &[Value], statuses: &[Value]) -> String {
    const MAX: usize = 2;
    if specs.is_empty() {
        return "<none>".to_string();
    }
    let mut list = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        // Statuses pair with specs by position, as upstream reads them.
        let source = |key: &str| {
            statuses
                .get(i)
                .and_then(|s| get(s, key))
                .filter(|v| v.is_object())
        };
        let unknown = || "<unknown>".to_string();
        let entry = match str_at(spec, "type") {
            kind @ ("External" | "Object") => {
                let key = if kind == "External" {
                    "external"
                } else {
                    "object"
                };
                let target = get(spec, &format!("{key}.target")).unwrap_or(&Value::Null);
                match target.get("averageValue").filter(|v| !v.is_null()) {
                    Some(average) => {
                        let current = source(key)
                            .and_then(|s| get(s, "current.averageValue"))
                            .map_or_else(unknown, |v| amount(Some(v)));
                        format!("{current}/{} (avg)", amount(Some(average)))
                    }
                    None => {
                        let current =
                            source(key).map_or_else(unknown, |s| amount(get(s, "current.value")));
                        format!("{current}/{}", amount(target.get("value")))
                    }
                }
            }
            "Pods" => {
                let current =
                    source("pods").map_or_else(unknown, |s| amount(get(s, "current.averageValue")));
                format!(
                    "{current}/{}",
                    amount(get(spec, "pods.target.averageValue"))
                )
            }
            kind @ ("Resource" | "ContainerResource") => {
                let key = if kind == "Resource" {
                    "resource"
                } else {
                    "containerResource"
                };
                let name = str_at(spec, &format!("{key}.name"));
                let target = get(spec, &format!("{key}.target")).unwrap_or(&Value::Null);
                match target.get("averageValue").filter(|v| !v.is_null()) {
                    Some(average) => {
                        let current = source(key)
                            .map_or_else(unknown, |s| amount(get(s, "current.averageValue")));
                        format!("{name}: {current}/{}", amount(Some(average)))
                    }
                    None => {
                        let current = source(key)
                            .and_then(|s| int_at(s, "current.averageUtilization"))
                            .map_or_else(unknown, |u| format!("{u}%"));
                        let target = int_at(target, "averageUtilization")
                            .map_or_else(|| "<auto>".to_string(), |u| format!("{u}%"));
                        format!("{name}: {current}/{target}")
                    }
                }
            }
            _ => "<unknown type>".to_string(),
        };
        list.push(entry);
    }
    let count = list.len();
    if count > MAX {
        list.truncate(MAX);
        format!("{} + {} more...", list.join(", "), count - MAX)
    } else {
        list.join(", ")
    }
}

fn hpa(row: &Row) -> Vec<Value> {
    let reference = format!(
        "{}/{}",
        row.str("spec.scaleTargetRef.kind"),
        row.str("spec.scaleTargetRef.name")
    );
    let targets = match row.get("spec.targetCPUUtilizationPercentage") {
        // autoscaling/v1 keeps one CPU target; print it as its v2 metric.
        Some(Value::Number(target)) => {
            let spec = serde_json::json!({"type": "Resource", "resource": {
                "name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}}});
            let status: Vec<Value> = match row.get("status.currentCPUUtilizationPercentage") {
                Some(Value::Number(current)) => vec![serde_json::json!({"type": "Resource",
                    "resource": {"name": "cpu", "current": {"averageUtilization": current}}})],
                _ => Vec::new(),
            };
            hpa_metrics(&[spec], &status)
        }
        _ => hpa_metrics(row.list("spec.metrics"), row.list("status.currentMetrics")),
    };
    let min = int_at(row.object, "spec.minReplicas")
        .map_or_else(|| "<unset>".to_string(), |n| n.to_string());
    vec![
        row.name(),
        reference.into(),
        targets.into(),
        min.into(),
        row.int("spec.maxReplicas").into(),
        row.int("status.currentReplicas").into(),
        row.age(),
    ]
}

const PDB: &[Column] = &[
    NAME,
    Column::string(
        "Min Available",
        "The minimum number of pods that must be available.",
    ),
    Column::string(
        "Max Unavailable",
        "The maximum number of pods that may be unavailable.",
    ),
    Column::integer(
        "Allowed Disruptions",
        "Calculated number of pods that may be disrupted at this time.",
    ),
    AGE,
];

fn pdb(row: &Row) -> Vec<Value> {
    let int_or_string = |path: &str| match row.get(path) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "N/A".to_string(),
    };
    vec![
        row.name(),
        int_or_string("spec.minAvailable").into(),
        int_or_string("spec.maxUnavailable").into(),
        row.int("status.disruptionsAllowed").into(),
        row.age(),
    ]
}
