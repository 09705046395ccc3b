//! What to start next in a pod, as upstream's `computePodActions`: init
//! containers one after another, then the regular containers; exited
//! containers restarted as the restart policy says, with the kubelet's
//! crash-loop back-off (10 s doubling to 5 min, forgotten after 10 min).

use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::jiff::Timestamp;

use crate::events::go_duration;
use crate::runtime::{ContainerState, RuntimePodStatus};

pub const INITIAL_BACKOFF: Duration = Duration::from_secs(10);
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// The back-off of one container: how long the next restart waits.
#[derive(Clone, Debug)]
pub struct Backoff {
    pub container: Box<str>,
    pub delay: Duration,
    pub updated: Timestamp,
}

/// What a sync should do.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    /// Containers to start, with their attempt numbers.
    pub start: Vec<(Container, u32)>,
    /// Containers held back from restarting: name, reason, message.
    pub waiting: Vec<(String, String, String)>,
    /// When to look at the pod again (a back-off ends).
    pub wake_after: Option<Duration>,
}

/// Decides what to start now; updates back-off records for restarts.
pub fn plan(
    pod: &Pod,
    runtime: &RuntimePodStatus,
    backoff: &mut Vec<Backoff>,
    now: Timestamp,
) -> Plan {
    let mut plan = Plan::default();
    let Some(spec) = &pod.spec else {
        return plan;
    };
    // Ephemeral containers start once, even before the pod is
    // initialized, and are never restarted.
    for container in ephemeral_containers(pod) {
        if runtime.container(&container.name).is_none() {
            plan.start.push((container, 0));
        }
    }
    let policy = spec.restart_policy.as_deref().unwrap_or("Always");
    for container in spec.init_containers.iter().flatten() {
        let sidecar = container.restart_policy.as_deref() == Some("Always");
        match runtime
            .container(&container.name)
            .map(|c| (&c.state, c.attempt))
        {
            None => {
                plan.start.push((container.clone(), 0));
                if !sidecar {
                    return plan;
                }
            }
            Some((ContainerState::Running { .. }, _)) => {
                if !sidecar {
                    return plan;
                }
            }
            Some((ContainerState::Exited(exited), attempt)) => {
                let restart = sidecar || (exited.exit_code != 0 && policy != "Never");
                if restart {
                    restart_or_wait(
                        &mut plan,
                        pod,
                        container,
                        attempt,
                        exited.finished_at,
                        backoff,
                        now,
                    );
                }
                if !sidecar && exited.exit_code != 0 {
                    return plan;
                }
            }
        }
    }
    for container in &spec.containers {
        match runtime
            .container(&container.name)
            .map(|c| (&c.state, c.attempt))
        {
            None => plan.start.push((container.clone(), 0)),
            Some((ContainerState::Running { .. }, _)) => {}
            Some((ContainerState::Exited(exited), attempt)) => {
                let restart = match policy {
                    "Never" => false,
                    "OnFailure" => exited.exit_code != 0,
                    _ => true,
                };
                if restart {
                    restart_or_wait(
                        &mut plan,
                        pod,
                        container,
                        attempt,
                        exited.finished_at,
                        backoff,
                        now,
                    );
                }
            }
        }
    }
    plan
}

/// Restarts at once unless the container is in back-off (upstream's
/// `doBackOff`: in back-off while less than the delay has passed since it
/// finished; each restart doubles the delay).
fn restart_or_wait(
    plan: &mut Plan,
    pod: &Pod,
    container: &Container,
    attempt: u32,
    finished_at: Timestamp,
    backoff: &mut Vec<Backoff>,
    now: Timestamp,
) {
    let since_exit = Duration::try_from(finished_at.duration_until(now)).unwrap_or(Duration::ZERO);
    let record = backoff.iter_mut().find(|b| *b.container == *container.name);
    if let Some(record) = &record {
        if since_exit < record.delay {
            let left = record.delay - since_exit;
            plan.waiting.push((
                container.name.clone(),
                "CrashLoopBackOff".into(),
                format!(
                    "back-off {} restarting failed container={} pod={}",
                    go_duration(record.delay),
                    container.name,
                    pod_key(pod)
                ),
            ));
            plan.wake_after = Some(plan.wake_after.map_or(left, |w| w.min(left)));
            return;
        }
    }
    match record {
        Some(record) => {
            let idle =
                Duration::try_from(record.updated.duration_until(now)).unwrap_or(Duration::ZERO);
            record.delay = if idle > 2 * MAX_BACKOFF {
                INITIAL_BACKOFF
            } else {
                (record.delay * 2).min(MAX_BACKOFF)
            };
            record.updated = now;
        }
        None => backoff.push(Backoff {
            container: container.name.as_str().into(),
            delay: INITIAL_BACKOFF,
            updated: now,
        }),
    }
    plan.start.push((container.clone(), attempt + 1));
}

/// `name_namespace(uid)`, as upstream's `format.Pod`.
pub fn pod_key(pod: &Pod) -> String {
    format!(
        "{}_{}({})",
        pod.metadata.name.as_deref().unwrap_or_default(),
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.uid.as_deref().unwrap_or_default()
    )
}

/// The pod's ephemeral containers as containers (the same fields; the
/// target container is read from the pod where it matters).
pub fn ephemeral_containers(pod: &Pod) -> Vec<Container> {
    let ephemeral = pod
        .spec
        .as_ref()
        .and_then(|s| s.ephemeral_containers.as_ref());
    ephemeral
        .into_iter()
        .flatten()
        .filter_map(|c| serde_json::to_value(c).ok())
        .filter_map(|c| serde_json::from_value(c).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{ExitedContainer, RuntimeContainer};
    use k8s_openapi::api::core::v1::PodSpec;

    fn pod(policy: &str, init: &[&str], containers: &[&str]) -> Pod {
        let make = |names: &[&str]| -> Vec<Container> {
            names
                .iter()
                .map(|n| Container {
                    name: n.to_string(),
                    ..Container::default()
                })
                .collect()
        };
        let mut pod = Pod::default();
        pod.metadata.name = Some("p".into());
        pod.metadata.namespace = Some("ns".into());
        pod.metadata.uid = Some("u".into());
        pod.spec = Some(PodSpec {
            restart_policy: Some(policy.into()),
            init_containers: (!init.is_empty()).then(|| make(init)),
            containers: make(containers),
            ..PodSpec::default()
        });
        pod
    }

    fn exited(name: &str, attempt: u32, code: i32, finished: Timestamp) -> RuntimeContainer {
        RuntimeContainer {
            name: name.into(),
            id: format!("sim://{name}{attempt}"),
            image: String::new(),
            image_id: String::new(),
            attempt,
            state: ContainerState::Exited(ExitedContainer {
                id: format!("sim://{name}{attempt}"),
                started_at: finished,
                finished_at: finished,
                exit_code: code,
                reason: None,
                message: None,
            }),
            previous: None,
            ready: None,
        }
    }

    fn started(plan: &Plan) -> Vec<(&str, u32)> {
        plan.start
            .iter()
            .map(|(c, a)| (c.name.as_str(), *a))
            .collect()
    }

    #[test]
    fn init_containers_run_one_at_a_time_before_the_others() {
        let pod = pod("Always", &["i1", "i2"], &["app"]);
        let now = Timestamp::now();
        let mut backoff = Vec::new();
        let none = RuntimePodStatus::default();
        assert_eq!(started(&plan(&pod, &none, &mut backoff, now)), [("i1", 0)]);
        let first_done = RuntimePodStatus {
            sandbox_ready: true,
            ip: None,
            containers: vec![exited("i1", 0, 0, now)],
        };
        assert_eq!(
            started(&plan(&pod, &first_done, &mut backoff, now)),
            [("i2", 0)]
        );
        let both_done = RuntimePodStatus {
            sandbox_ready: true,
            ip: None,
            containers: vec![exited("i1", 0, 0, now), exited("i2", 0, 0, now)],
        };
        assert_eq!(
            started(&plan(&pod, &both_done, &mut backoff, now)),
            [("app", 0)]
        );
    }

    #[test]
    fn restart_policies() {
        let now = Timestamp::now();
        for (policy, code, restarts) in [
            ("Always", 0, true),
            ("Always", 1, true),
            ("OnFailure", 0, false),
            ("OnFailure", 1, true),
            ("Never", 1, false),
        ] {
            let pod = pod(policy, &[], &["app"]);
            let status = RuntimePodStatus {
                sandbox_ready: true,
                ip: None,
                containers: vec![exited("app", 0, code, now)],
            };
            let plan = plan(&pod, &status, &mut Vec::new(), now);
            assert_eq!(!plan.start.is_empty(), restarts, "{policy} exit {code}");
        }
    }

    #[test]
    fn crash_loop_back_off_doubles() {
        let pod = pod("Always", &[], &["app"]);
        let mut backoff = Vec::new();
        let t0 = Timestamp::now();
        let status = |attempt, at| RuntimePodStatus {
            sandbox_ready: true,
            ip: None,
            containers: vec![exited("app", attempt, 1, at)],
        };
        // The first restart is immediate.
        assert_eq!(
            started(&plan(&pod, &status(0, t0), &mut backoff, t0)),
            [("app", 1)]
        );
        // The second waits 10 s after the exit.
        let t1 = t0 + Duration::from_secs(1);
        let waiting = plan(&pod, &status(1, t1), &mut backoff, t1);
        assert!(waiting.start.is_empty());
        assert_eq!(waiting.waiting[0].1, "CrashLoopBackOff");
        assert_eq!(
            waiting.waiting[0].2,
            "back-off 10s restarting failed container=app pod=p_ns(u)"
        );
        assert_eq!(waiting.wake_after, Some(Duration::from_secs(10)));
        let t2 = t1 + Duration::from_secs(10);
        assert_eq!(
            started(&plan(&pod, &status(1, t1), &mut backoff, t2)),
            [("app", 2)]
        );
        let t3 = t2 + Duration::from_secs(11);
        let waiting = plan(&pod, &status(2, t2), &mut backoff, t3);
        assert!(waiting.waiting[0].2.starts_with("back-off 20s "));
    }
}
