use k8s_openapi::api::core::v1::{PodSpec, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::*;
use crate::runtime::RuntimeContainer;

fn pod(policy: &str, init: &[&str], containers: &[&str]) -> Pod {
    let make = |names: &[&str]| -> Vec<Container> {
        names
            .iter()
            .map(|n| Container {
                name: n.to_string(),
                image: Some("busybox".into()),
                ..Container::default()
            })
            .collect()
    };
    let mut pod = Pod::default();
    pod.metadata.name = Some("p".into());
    pod.spec = Some(PodSpec {
        restart_policy: Some(policy.into()),
        init_containers: (!init.is_empty()).then(|| make(init)),
        containers: make(containers),
        ..PodSpec::default()
    });
    pod
}

fn running(name: &str, ready: bool) -> RuntimeContainer {
    RuntimeContainer {
        name: name.into(),
        id: format!("sim://{name}"),
        image: "busybox".into(),
        image_id: "busybox@sha256:00".into(),
        attempt: 0,
        state: ContainerState::Running {
            started_at: Timestamp::UNIX_EPOCH,
        },
        previous: None,
        ready: Some(ready),
    }
}

fn exited(name: &str, attempt: u32, code: i32) -> RuntimeContainer {
    RuntimeContainer {
        attempt,
        state: ContainerState::Exited(ExitedContainer {
            id: format!("sim://{name}{attempt}"),
            started_at: Timestamp::UNIX_EPOCH,
            finished_at: Timestamp::UNIX_EPOCH,
            exit_code: code,
            reason: None,
            message: None,
        }),
        ..running(name, true)
    }
}

fn status_of(pod: &Pod, containers: Vec<RuntimeContainer>, terminal: bool) -> PodStatus {
    status_with(pod, containers, &[], terminal)
}

fn status_with(
    pod: &Pod,
    containers: Vec<RuntimeContainer>,
    waiting: &[(String, String, String)],
    terminal: bool,
) -> PodStatus {
    let runtime = RuntimePodStatus {
        sandbox_ready: !terminal,
        ip: None,
        containers,
    };
    generate(
        pod,
        &Inputs {
            runtime: &runtime,
            waiting,
            pod_ip: Some("10.42.0.2".into()),
            host_ip: "100.64.0.1",
            terminal,
            now: Timestamp::now(),
        },
    )
}

fn condition<'a>(status: &'a PodStatus, kind: &str) -> &'a PodCondition {
    status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == kind)
        .unwrap_or_else(|| panic!("no {kind} condition"))
}

#[test]
fn running_and_ready() {
    let pod = pod("Always", &[], &["app"]);
    let status = status_of(&pod, vec![running("app", true)], false);
    assert_eq!(status.phase.as_deref(), Some("Running"));
    for kind in [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    ] {
        assert_eq!(condition(&status, kind).status, "True", "{kind}");
    }
    assert_eq!(status.pod_ip.as_deref(), Some("10.42.0.2"));
    assert_eq!(status.host_ip.as_deref(), Some("100.64.0.1"));
    assert_eq!(status.qos_class.as_deref(), Some("BestEffort"));
    let app = &status.container_statuses.as_ref().unwrap()[0];
    assert!(app.ready);
    assert_eq!(app.started, Some(true));
    assert_eq!(app.container_id.as_deref(), Some("sim://app"));
}

#[test]
fn unready_containers_are_named() {
    let pod = pod("Always", &[], &["a", "b"]);
    let status = status_of(&pod, vec![running("a", false), running("b", false)], false);
    let ready = condition(&status, "Ready");
    assert_eq!(ready.status, "False");
    assert_eq!(ready.reason.as_deref(), Some("ContainersNotReady"));
    assert_eq!(
        ready.message.as_deref(),
        Some("containers with unready status: [a b]")
    );
    assert_eq!(status.phase.as_deref(), Some("Running"));
}

#[test]
fn phases_by_restart_policy() {
    for (policy, code, phase, reason) in [
        ("Never", 0, "Succeeded", "Completed"),
        ("Never", 1, "Failed", "Error"),
        ("OnFailure", 0, "Succeeded", "Completed"),
        ("Always", 0, "Running", "Completed"),
    ] {
        let pod = pod(policy, &[], &["app"]);
        let status = status_of(&pod, vec![exited("app", 0, code)], false);
        assert_eq!(status.phase.as_deref(), Some(phase), "{policy} exit {code}");
        let app = &status.container_statuses.as_ref().unwrap()[0];
        let terminated = app.state.as_ref().unwrap().terminated.as_ref().unwrap();
        assert_eq!(terminated.reason.as_deref(), Some(reason));
        assert_eq!(terminated.exit_code, code);
    }
    let done = status_of(
        &pod("Never", &[], &["app"]),
        vec![exited("app", 0, 0)],
        false,
    );
    assert_eq!(
        condition(&done, "Ready").reason.as_deref(),
        Some("PodCompleted")
    );
    assert_eq!(
        condition(&done, "Initialized").reason.as_deref(),
        Some("PodCompleted")
    );
}

#[test]
fn crash_loop_shows_waiting_with_the_last_exit() {
    let pod = pod("Always", &[], &["app"]);
    let waiting = [(
        "app".to_string(),
        "CrashLoopBackOff".to_string(),
        "back-off 10s restarting failed container=app pod=p_(u)".to_string(),
    )];
    let status = status_with(&pod, vec![exited("app", 1, 1)], &waiting, false);
    let app = &status.container_statuses.as_ref().unwrap()[0];
    let state = app.state.as_ref().unwrap();
    assert_eq!(
        state.waiting.as_ref().unwrap().reason.as_deref(),
        Some("CrashLoopBackOff")
    );
    let last = app
        .last_state
        .as_ref()
        .unwrap()
        .terminated
        .as_ref()
        .unwrap();
    assert_eq!(last.exit_code, 1);
    assert_eq!(app.restart_count, 1);
    assert_eq!(status.phase.as_deref(), Some("Running"));
}

#[test]
fn init_containers_hold_the_pod_pending() {
    let pod = pod("Always", &["setup"], &["app"]);
    let status = status_of(&pod, vec![running("setup", true)], false);
    assert_eq!(status.phase.as_deref(), Some("Pending"));
    let initialized = condition(&status, "Initialized");
    assert_eq!(initialized.status, "False");
    assert_eq!(
        initialized.reason.as_deref(),
        Some("ContainersNotInitialized")
    );
    assert_eq!(
        initialized.message.as_deref(),
        Some("containers with incomplete status: [setup]")
    );
    let app = &status.container_statuses.as_ref().unwrap()[0];
    let waiting = app.state.as_ref().unwrap().waiting.as_ref().unwrap();
    assert_eq!(waiting.reason.as_deref(), Some("PodInitializing"));

    let status = status_of(
        &pod,
        vec![exited("setup", 0, 0), running("app", true)],
        false,
    );
    assert_eq!(status.phase.as_deref(), Some("Running"));
    assert_eq!(condition(&status, "Initialized").status, "True");
    assert!(status.init_container_statuses.as_ref().unwrap()[0].ready);
}

#[test]
fn failed_init_container_fails_a_never_pod() {
    let pod = pod("Never", &["setup"], &["app"]);
    let status = status_of(&pod, vec![exited("setup", 0, 1)], false);
    assert_eq!(status.phase.as_deref(), Some("Failed"));
}

#[test]
fn deleted_pods_end_terminal_and_phases_never_go_back() {
    let mut pod = pod("Always", &[], &["app"]);
    let status = status_of(&pod, vec![exited("app", 0, 0)], true);
    assert_eq!(status.phase.as_deref(), Some("Succeeded"));
    assert_eq!(
        condition(&status, "PodReadyToStartContainers").status,
        "False"
    );
    pod.status = Some(PodStatus {
        phase: Some("Failed".into()),
        ..PodStatus::default()
    });
    let status = status_of(&pod, vec![running("app", true)], false);
    assert_eq!(status.phase.as_deref(), Some("Failed"));
}

#[test]
fn transition_times_are_kept_while_a_condition_holds() {
    let mut pod = pod("Always", &[], &["app"]);
    let first = status_of(&pod, vec![running("app", true)], false);
    let mut old = first.clone();
    for condition in old.conditions.iter_mut().flatten() {
        condition.last_transition_time = Some(Time(Timestamp::UNIX_EPOCH));
    }
    old.conditions.as_mut().unwrap().push(PodCondition {
        type_: "DisruptionTarget".into(),
        status: "True".into(),
        ..PodCondition::default()
    });
    pod.status = Some(old);
    let second = status_of(&pod, vec![running("app", false)], false);
    assert_eq!(
        condition(&second, "PodScheduled").last_transition_time,
        Some(Time(Timestamp::UNIX_EPOCH))
    );
    assert_ne!(
        condition(&second, "Ready").last_transition_time,
        Some(Time(Timestamp::UNIX_EPOCH))
    );
    assert_eq!(condition(&second, "DisruptionTarget").status, "True");
}

#[test]
fn qos_classes() {
    let mut pod = pod("Always", &[], &["app"]);
    assert_eq!(qos_class(&pod), "BestEffort");
    let both = |cpu: &str, memory: &str| {
        Some(
            [("cpu", cpu), ("memory", memory)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), Quantity(v.into())))
                .collect(),
        )
    };
    pod.spec.as_mut().unwrap().containers[0].resources = Some(ResourceRequirements {
        limits: both("1", "1Gi"),
        ..ResourceRequirements::default()
    });
    assert_eq!(qos_class(&pod), "Guaranteed");
    pod.spec.as_mut().unwrap().containers[0].resources = Some(ResourceRequirements {
        requests: both("500m", "1Gi"),
        limits: both("1", "1Gi"),
        ..ResourceRequirements::default()
    });
    assert_eq!(qos_class(&pod), "Burstable");
}
