//! Pods: READY, STATUS and RESTARTS as upstream's `printPod` derives them
//! from container statuses.

use jiff::Timestamp;
use serde_json::{json, Value};

use super::{
    bool_at, docs, int_at, list_at, since, str_at, timestamp_at, Cells, Column, Row, AGE, NAME,
};
use crate::resource::Resource;
use crate::selector::field::pod_ip;

const COLUMNS: &[Column] = &[
    NAME,
    Column::string(
        "Ready",
        "The aggregate readiness state of this pod for accepting traffic.",
    ),
    Column::string(
        "Status",
        "The aggregate status of the containers in this pod.",
    ),
    Column::string(
        "Restarts",
        "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
    ),
    AGE,
    Column::string("IP", docs::POD_IP).wide(),
    Column::string("Node", docs::POD_NODE_NAME).wide(),
    Column::string("Nominated Node", docs::POD_NOMINATED_NODE_NAME).wide(),
    Column::string("Readiness Gates", docs::POD_READINESS_GATES).wide(),
];

pub(super) fn printer(resource: &Resource) -> Option<(&'static [Column], Cells)> {
    (resource.group.is_empty() && resource.plural == "pods").then_some((COLUMNS, cells))
}

pub(super) fn row_conditions(pod: &Value) -> Vec<Value> {
    let (reason, message) = match str_at(pod, "status.phase") {
        "Succeeded" => ("Succeeded", "The pod has completed successfully."),
        "Failed" => ("Failed", "The pod failed."),
        _ => return Vec::new(),
    };
    vec![json!({"type": "Completed", "status": "True", "reason": reason, "message": message})]
}

/// A sidecar: an init container that keeps running (`restartPolicy: Always`).
fn restartable(pod: &Value, name: &str) -> bool {
    list_at(pod, "spec.initContainers")
        .iter()
        .any(|c| str_at(c, "name") == name && str_at(c, "restartPolicy") == "Always")
}

fn condition_true(pod: &Value, kind: &str) -> bool {
    list_at(pod, "status.conditions")
        .iter()
        .find(|c| str_at(c, "type") == kind)
        .is_some_and(|c| str_at(c, "status") == "True")
}

/// The latest `lastState.terminated.finishedAt` seen so far.
fn later(current: Option<Timestamp>, status: &Value) -> Option<Timestamp> {
    let finished = timestamp_at(status, "lastState.terminated.finishedAt");
    current.max(finished)
}

/// `Signal:9` or `ExitCode:1` for a termination without a reason.
fn exit(terminated: &Value) -> String {
    match int_at(terminated, "signal").unwrap_or(0) {
        0 => format!("ExitCode:{}", int_at(terminated, "exitCode").unwrap_or(0)),
        signal => format!("Signal:{signal}"),
    }
}

fn cells(row: &Row) -> Vec<Value> {
    let pod = row.object;
    let phase = str_at(pod, "status.phase");
    let mut reason = match str_at(pod, "status.reason") {
        "" => phase.to_string(),
        reason => reason.to_string(),
    };
    if list_at(pod, "status.conditions")
        .iter()
        .any(|c| str_at(c, "type") == "PodScheduled" && str_at(c, "reason") == "SchedulingGated")
    {
        reason = "SchedulingGated".to_string();
    }

    let init_specs = list_at(pod, "spec.initContainers");
    let sidecars = init_specs
        .iter()
        .filter(|c| str_at(c, "restartPolicy") == "Always")
        .count();
    let total = list_at(pod, "spec.containers").len() + sidecars;
    let mut ready = 0;
    let mut restarts = 0;
    let mut sidecar_restarts = 0;
    let mut last_restart = None;
    let mut last_sidecar_restart = None;

    let mut initializing = false;
    for (i, status) in list_at(pod, "status.initContainerStatuses")
        .iter()
        .enumerate()
    {
        let count = int_at(status, "restartCount").unwrap_or(0);
        restarts += count;
        last_restart = later(last_restart, status);
        let sidecar = restartable(pod, str_at(status, "name"));
        if sidecar {
            sidecar_restarts += count;
            last_sidecar_restart = later(last_sidecar_restart, status);
        }
        let terminated = super::get(status, "state.terminated");
        let waiting_reason = str_at(status, "state.waiting.reason");
        if terminated.is_some_and(|t| int_at(t, "exitCode").unwrap_or(0) == 0) {
            continue;
        }
        if sidecar && bool_at(status, "started") == Some(true) {
            if bool_at(status, "ready") == Some(true) {
                ready += 1;
            }
            continue;
        }
        reason = if let Some(terminated) = terminated {
            match str_at(terminated, "reason") {
                "" => format!("Init:{}", exit(terminated)),
                why => format!("Init:{why}"),
            }
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            format!("Init:{waiting_reason}")
        } else {
            format!("Init:{i}/{}", init_specs.len())
        };
        initializing = true;
        break;
    }

    if !initializing || condition_true(pod, "Initialized") {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut running = false;
        for status in list_at(pod, "status.containerStatuses").iter().rev() {
            restarts += int_at(status, "restartCount").unwrap_or(0);
            last_restart = later(last_restart, status);
            let waiting = str_at(status, "state.waiting.reason");
            let terminated = super::get(status, "state.terminated");
            if !waiting.is_empty() {
                reason = waiting.to_string();
            } else if let Some(terminated) = terminated {
                reason = match str_at(terminated, "reason") {
                    "" => exit(terminated),
                    why => why.to_string(),
                };
            } else if bool_at(status, "ready") == Some(true)
                && super::get(status, "state.running").is_some()
            {
                running = true;
                ready += 1;
            }
        }
        // A pod whose main containers finished but a sidecar still runs.
        if reason == "Completed" && running {
            reason = if condition_true(pod, "Ready") {
                "Running".to_string()
            } else {
                "NotReady".to_string()
            };
        }
    }

    if row.deleting() {
        if str_at(pod, "status.reason") == "NodeLost" {
            reason = "Unknown".to_string();
        } else if phase != "Failed" && phase != "Succeeded" {
            reason = "Terminating".to_string();
        }
    }

    let restarts = match last_restart {
        Some(time) if restarts != 0 => format!("{restarts} ({} ago)", since(Some(time), row.now)),
        _ => restarts.to_string(),
    };

    let or_none = |text: &str| {
        if text.is_empty() {
            "<none>".to_string()
        } else {
            text.to_string()
        }
    };
    let gates = list_at(pod, "spec.readinessGates");
    let readiness_gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let passing = gates
            .iter()
            .filter(|gate| condition_true(pod, str_at(gate, "conditionType")))
            .count();
        format!("{passing}/{}", gates.len())
    };

    vec![
        row.name(),
        format!("{ready}/{total}").into(),
        reason.into(),
        restarts.into(),
        row.age(),
        or_none(&pod_ip(pod)).into(),
        or_none(str_at(pod, "spec.nodeName")).into(),
        or_none(str_at(pod, "status.nominatedNodeName")).into(),
        readiness_gates.into(),
    ]
}
