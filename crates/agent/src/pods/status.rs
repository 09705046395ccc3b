//! The pod status a kubelet reports, computed from the pod, what the
//! runtime says about its containers and what the agent decided. Pure, so
//! every rule is tested here: upstream's `generateAPIPodStatus`, `getPhase`
//! and the condition generators of `pkg/kubelet/status`.

use k8s_openapi::api::core::v1::{
    Container, ContainerState as ApiState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, HostIP, Pod, PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use super::plan::ephemeral_containers;
use crate::runtime::{ContainerState, ExitedContainer, RuntimePodStatus};

/// Conditions the kubelet owns; others (the scheduler's, readiness gates,
/// DisruptionTarget) are carried over untouched.
const KUBELET_CONDITIONS: &[&str] = &[
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
    "PodScheduled",
];

/// What goes into one pod's status besides the pod and its runtime state.
pub struct Inputs<'a> {
    pub runtime: &'a RuntimePodStatus,
    /// Containers held back from restarting: name, reason and message.
    pub waiting: &'a [(String, String, String)],
    pub pod_ip: Option<String>,
    pub host_ip: &'a str,
    /// The pod will not run again (deleted, or finished for good): its
    /// phase becomes terminal once its containers stopped.
    pub terminal: bool,
    pub now: Timestamp,
}

/// The status to report for `pod`.
pub fn generate(pod: &Pod, inputs: &Inputs<'_>) -> PodStatus {
    let old = pod.status.clone().unwrap_or_default();
    let spec = pod.spec.clone().unwrap_or_default();
    let init = spec.init_containers.clone().unwrap_or_default();
    let has_init = !init.is_empty();
    let container_statuses: Vec<ContainerStatus> = spec
        .containers
        .iter()
        .map(|c| container_status(c, inputs, has_init, false))
        .collect();
    let init_statuses: Vec<ContainerStatus> = init
        .iter()
        .map(|c| container_status(c, inputs, has_init, true))
        .collect();
    // Ephemeral containers are never ready and count for no condition.
    let ephemeral_statuses: Vec<ContainerStatus> = ephemeral_containers(pod)
        .iter()
        .map(|c| ContainerStatus {
            ready: false,
            ..container_status(c, inputs, has_init, false)
        })
        .collect();

    let mut phase = phase(pod, &init_statuses, &container_statuses, inputs.terminal);
    let old_phase = old.phase.as_deref().unwrap_or_default();
    if is_terminal(old_phase) {
        // Pods never leave a terminal phase.
        phase = old_phase.to_string();
    }

    let mut conditions: Vec<PodCondition> = old
        .conditions
        .iter()
        .flatten()
        .filter(|c| !KUBELET_CONDITIONS.contains(&c.type_.as_str()))
        .cloned()
        .collect();
    let sandbox = if inputs.runtime.sandbox_ready {
        "True"
    } else {
        "False"
    };
    conditions.push(condition("PodReadyToStartContainers", sandbox, None, None));
    conditions.push(initialized(
        &spec.containers,
        &init,
        &init_statuses,
        &container_statuses,
        &phase,
    ));
    let containers_ready = containers_ready(
        &spec.containers,
        &init,
        &container_statuses,
        &init_statuses,
        &phase,
    );
    conditions.push(pod_ready(pod, &conditions, &containers_ready));
    conditions.push(containers_ready);
    conditions.push(condition("PodScheduled", "True", None, None));
    for condition in &mut conditions {
        condition.last_transition_time = transition_time(&old, condition, inputs.now);
    }

    let pod_ips = inputs.pod_ip.clone();
    PodStatus {
        phase: Some(phase.clone()),
        conditions: Some(conditions),
        host_ip: Some(inputs.host_ip.to_string()),
        host_ips: Some(vec![HostIP {
            ip: inputs.host_ip.to_string(),
        }]),
        pod_ip: pod_ips.clone().or(old.pod_ip.clone()),
        pod_ips: pod_ips.map(|ip| vec![PodIP { ip }]).or(old.pod_ips.clone()),
        start_time: old.start_time.clone().or(Some(Time(inputs.now))),
        qos_class: Some(qos_class(pod).to_string()),
        container_statuses: Some(container_statuses),
        init_container_statuses: has_init.then_some(init_statuses),
        ephemeral_container_statuses: (!ephemeral_statuses.is_empty())
            .then_some(ephemeral_statuses),
        reason: if phase == old_phase {
            old.reason.clone()
        } else {
            None
        },
        message: if phase == old_phase {
            old.message.clone()
        } else {
            None
        },
        ..PodStatus::default()
    }
}

pub fn is_terminal(phase: &str) -> bool {
    matches!(phase, "Succeeded" | "Failed")
}

fn condition(
    type_: &str,
    status: &str,
    reason: Option<&str>,
    message: Option<String>,
) -> PodCondition {
    PodCondition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: reason.map(str::to_string),
        message,
        ..PodCondition::default()
    }
}

/// Keeps the time a condition last changed when its status is unchanged.
fn transition_time(old: &PodStatus, condition: &PodCondition, now: Timestamp) -> Option<Time> {
    let before = old
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == condition.type_);
    match before {
        Some(before) if before.status == condition.status => {
            before.last_transition_time.clone().or(Some(Time(now)))
        }
        _ => Some(Time(now)),
    }
}

fn restartable_init(container: &Container) -> bool {
    container.restart_policy.as_deref() == Some("Always")
}

fn container_status(
    container: &Container,
    inputs: &Inputs<'_>,
    has_init: bool,
    is_init: bool,
) -> ContainerStatus {
    let image = container.image.clone().unwrap_or_default();
    let held_back = inputs
        .waiting
        .iter()
        .find(|(name, _, _)| *name == container.name);
    let Some(found) = inputs.runtime.container(&container.name) else {
        // Never started: creating, or held back (an image that does not
        // pull, a config error).
        let (reason, message) = match held_back {
            Some((_, reason, message)) => (reason.as_str(), Some(message.clone())),
            None if has_init => ("PodInitializing", None),
            None => ("ContainerCreating", None),
        };
        return ContainerStatus {
            name: container.name.clone(),
            image,
            state: Some(ApiState {
                waiting: Some(ContainerStateWaiting {
                    reason: Some(reason.into()),
                    message,
                }),
                ..ApiState::default()
            }),
            ready: false,
            started: Some(false),
            restart_count: 0,
            image_id: String::new(),
            ..ContainerStatus::default()
        };
    };
    let (state, last_state, running) = match (&found.state, held_back) {
        (ContainerState::Running { started_at }, _) => (
            ApiState {
                running: Some(ContainerStateRunning {
                    started_at: Some(Time(*started_at)),
                }),
                ..ApiState::default()
            },
            found.previous.as_ref().map(terminated),
            true,
        ),
        (ContainerState::Exited(exited), Some((_, reason, message))) => (
            ApiState {
                waiting: Some(ContainerStateWaiting {
                    reason: Some(reason.clone()),
                    message: Some(message.clone()),
                }),
                ..ApiState::default()
            },
            Some(terminated(exited)),
            false,
        ),
        (ContainerState::Exited(exited), None) => (
            terminated(exited),
            found.previous.as_ref().map(terminated),
            false,
        ),
    };
    // A regular init container is ready once it completed.
    let ready = match &found.state {
        _ if !is_init || restartable_init(container) => running && found.ready.unwrap_or(true),
        ContainerState::Exited(exited) => exited.exit_code == 0 && held_back.is_none(),
        ContainerState::Running { .. } => false,
    };
    ContainerStatus {
        name: container.name.clone(),
        image: found.image.clone(),
        image_id: found.image_id.clone(),
        container_id: Some(found.id.clone()),
        state: Some(state),
        last_state: Some(last_state.unwrap_or_default()),
        ready,
        started: Some(running),
        restart_count: i32::try_from(found.attempt).unwrap_or(i32::MAX),
        ..ContainerStatus::default()
    }
}

fn terminated(exited: &ExitedContainer) -> ApiState {
    ApiState {
        terminated: Some(ContainerStateTerminated {
            container_id: Some(exited.id.clone()),
            exit_code: exited.exit_code,
            reason: Some(exited.reason().into()),
            message: exited.message.clone(),
            started_at: Some(Time(exited.started_at)),
            finished_at: Some(Time(exited.finished_at)),
            ..ContainerStateTerminated::default()
        }),
        ..ApiState::default()
    }
}

/// The phase, as upstream's `getPhase`.
fn phase(
    pod: &Pod,
    init_statuses: &[ContainerStatus],
    statuses: &[ContainerStatus],
    terminal: bool,
) -> String {
    let spec = pod.spec.clone().unwrap_or_default();
    let restart_policy = spec.restart_policy.as_deref().unwrap_or("Always");
    let init = spec.init_containers.unwrap_or_default();
    let find =
        |list: &'_ [ContainerStatus], name: &str| list.iter().find(|s| s.name == name).cloned();
    let state = |s: &ContainerStatus| s.state.clone().unwrap_or_default();
    let last_terminated =
        |s: &ContainerStatus| s.last_state.as_ref().and_then(|l| l.terminated.clone());

    let (mut pending_init, mut failed_init) = (0, 0);
    let (mut unknown, mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0, 0);
    for container in init.iter().filter(|c| !restartable_init(c)) {
        let Some(status) = find(init_statuses, &container.name) else {
            pending_init += 1;
            continue;
        };
        let state = state(&status);
        if state.running.is_some() {
            pending_init += 1;
        } else if let Some(t) = &state.terminated {
            if t.exit_code != 0 {
                failed_init += 1;
            }
        } else if state.waiting.is_some() {
            match last_terminated(&status) {
                Some(t) if t.exit_code != 0 => failed_init += 1,
                Some(_) => {}
                None => pending_init += 1,
            }
        } else {
            pending_init += 1;
        }
    }
    for container in init.iter().filter(|c| restartable_init(c)) {
        let Some(status) = find(init_statuses, &container.name) else {
            unknown += 1;
            continue;
        };
        let state = state(&status);
        if state.running.is_some() {
            if status.started != Some(true) {
                pending_init += 1;
            }
            running += 1;
        } else if state.terminated.is_some() {
        } else if state.waiting.is_some() {
            if last_terminated(&status).is_none() {
                pending_init += 1;
                waiting += 1;
            }
        } else {
            pending_init += 1;
            unknown += 1;
        }
    }
    for container in &spec.containers {
        let Some(status) = find(statuses, &container.name) else {
            unknown += 1;
            continue;
        };
        let state = state(&status);
        if state.running.is_some() {
            running += 1;
        } else if let Some(t) = &state.terminated {
            stopped += 1;
            if t.exit_code == 0 {
                succeeded += 1;
            }
        } else if state.waiting.is_some() {
            if last_terminated(&status).is_some() {
                stopped += 1;
            } else {
                waiting += 1;
            }
        } else {
            unknown += 1;
        }
    }
    if failed_init > 0 && restart_policy == "Never" {
        return "Failed".into();
    }
    let any_regular_started = statuses.iter().any(|s| s.started == Some(true))
        || statuses
            .iter()
            .any(|s| last_terminated(s).is_some() || state(s).terminated.is_some());
    let phase = if (pending_init > 0 && !any_regular_started) || waiting > 0 {
        "Pending"
    } else if running > 0 && unknown == 0 {
        "Running"
    } else if running == 0 && stopped > 0 && unknown == 0 {
        if terminal {
            if stopped == succeeded {
                "Succeeded"
            } else {
                "Failed"
            }
        } else if restart_policy == "Always" {
            "Running"
        } else if stopped == succeeded {
            "Succeeded"
        } else if restart_policy == "Never" {
            "Failed"
        } else {
            "Running"
        }
    } else {
        "Pending"
    };
    phase.into()
}

fn initialized(
    containers: &[Container],
    init: &[Container],
    init_statuses: &[ContainerStatus],
    statuses: &[ContainerStatus],
    phase: &str,
) -> PodCondition {
    if phase == "Succeeded" {
        return condition("Initialized", "True", Some("PodCompleted"), None);
    }
    let regular_started = containers.iter().any(|c| {
        statuses
            .iter()
            .find(|s| s.name == c.name)
            .is_some_and(|s| s.container_id.is_some())
    });
    if regular_started {
        return condition("Initialized", "True", None, None);
    }
    let incomplete: Vec<&str> = init
        .iter()
        .filter(|c| {
            let status = init_statuses.iter().find(|s| s.name == c.name);
            !status.is_some_and(|s| {
                if restartable_init(c) {
                    s.started == Some(true)
                } else {
                    s.ready
                }
            })
        })
        .map(|c| c.name.as_str())
        .collect();
    if incomplete.is_empty() {
        condition("Initialized", "True", None, None)
    } else {
        let message = format!(
            "containers with incomplete status: [{}]",
            incomplete.join(" ")
        );
        condition(
            "Initialized",
            "False",
            Some("ContainersNotInitialized"),
            Some(message),
        )
    }
}

fn containers_ready(
    containers: &[Container],
    init: &[Container],
    statuses: &[ContainerStatus],
    init_statuses: &[ContainerStatus],
    phase: &str,
) -> PodCondition {
    match phase {
        "Succeeded" => return condition("ContainersReady", "False", Some("PodCompleted"), None),
        "Failed" => return condition("ContainersReady", "False", Some("PodFailed"), None),
        _ => {}
    }
    let sidecars = init
        .iter()
        .filter(|c| restartable_init(c))
        .map(|c| (c, init_statuses));
    let unready: Vec<&str> = sidecars
        .chain(containers.iter().map(|c| (c, statuses)))
        .filter(|(c, list)| !list.iter().any(|s| s.name == c.name && s.ready))
        .map(|(c, _)| c.name.as_str())
        .collect();
    if unready.is_empty() {
        condition("ContainersReady", "True", None, None)
    } else {
        let message = format!("containers with unready status: [{}]", unready.join(" "));
        condition(
            "ContainersReady",
            "False",
            Some("ContainersNotReady"),
            Some(message),
        )
    }
}

fn pod_ready(
    pod: &Pod,
    conditions: &[PodCondition],
    containers_ready: &PodCondition,
) -> PodCondition {
    if containers_ready.status != "True" {
        return PodCondition {
            type_: "Ready".into(),
            ..containers_ready.clone()
        };
    }
    let gates = pod
        .spec
        .as_ref()
        .and_then(|s| s.readiness_gates.clone())
        .unwrap_or_default();
    let unready: Vec<String> = gates
        .iter()
        .filter_map(|gate| {
            let kind = &gate.condition_type;
            match conditions.iter().find(|c| c.type_ == *kind) {
                None => Some(format!(
                    "corresponding condition of pod readiness gate {kind:?} does not exist."
                )),
                Some(c) if c.status != "True" => Some(format!(
                    "the status of pod readiness gate {kind:?} is not \"True\", but {}",
                    c.status
                )),
                Some(_) => None,
            }
        })
        .collect();
    if unready.is_empty() {
        condition("Ready", "True", None, None)
    } else {
        condition(
            "Ready",
            "False",
            Some("ReadinessGatesNotReady"),
            Some(unready.join(", ")),
        )
    }
}

/// The QoS class as upstream's `GetPodQOS`: Guaranteed when every container
/// limits cpu and memory and requests equal limits, BestEffort when nothing
/// is requested or limited, Burstable otherwise.
pub fn qos_class(pod: &Pod) -> &'static str {
    let Some(spec) = &pod.spec else {
        return "BestEffort";
    };
    let all = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten());
    let mut any = false;
    let mut guaranteed = true;
    for container in all {
        let resources = container.resources.clone().unwrap_or_default();
        let limits = resources.limits.unwrap_or_default();
        let asked = resources.requests.unwrap_or_default();
        for (name, value) in asked.iter().chain(limits.iter()) {
            if matches!(name.as_str(), "cpu" | "memory")
                && !value.0.trim_start_matches('0').is_empty()
            {
                any = true;
            }
        }
        for name in ["cpu", "memory"] {
            let limit = limits.get(name);
            let request = asked.get(name).or(limit);
            if limit.is_none() || request.map(|q| &q.0) != limit.map(|q| &q.0) {
                guaranteed = false;
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
