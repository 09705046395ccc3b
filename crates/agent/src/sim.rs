//! The sim runtime: pods "run" without containers. What a pod does is read
//! from its annotations, so tests can make containers exit, fail or stay
//! unready:
//!
//! - `sim.capstan.dev/exit-after: "2s"`: the containers exit that long after
//!   they start (every start, so a restarted container exits again);
//! - `sim.capstan.dev/exit-code: "1"`: with that exit code (default 0);
//! - `sim.capstan.dev/ready: "false"`: the containers are never ready;
//! - `sim.capstan.dev/fail-indexes: "1,3-4"`: for Indexed Jobs, pods whose
//!   `batch.kubernetes.io/job-completion-index` is listed exit with code 1,
//!   the others with 0 (instead of `exit-code`);
//! - `sim.capstan.dev/exit-indexes: "0"`: only pods whose completion index
//!   is listed exit after `exit-after`; the others run until stopped.
//!
//! Without annotations containers run until the pod is stopped; asked to
//! stop, they exit at once with code 0 (whatever the grace period). Init
//! containers complete at once with exit code 0.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, ContainerStatus, Pod};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use tokio::sync::mpsc::UnboundedSender;

use crate::runtime::{
    ContainerState, ExitedContainer, Runtime, RuntimeContainer, RuntimeError, RuntimePodStatus,
};

pub const EXIT_AFTER: &str = "sim.capstan.dev/exit-after";
pub const EXIT_CODE: &str = "sim.capstan.dev/exit-code";
pub const READY: &str = "sim.capstan.dev/ready";
pub const FAIL_INDEXES: &str = "sim.capstan.dev/fail-indexes";
pub const EXIT_INDEXES: &str = "sim.capstan.dev/exit-indexes";
const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";

/// The runtime of hollow nodes. Every change of a container's state that
/// happens on its own (an exit) is announced by sending the pod's uid.
pub struct SimRuntime {
    pods: Mutex<HashMap<String, SimPod>>,
    changed: UnboundedSender<String>,
}

/// What a pod's annotations ask of its containers.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Behaviour {
    pub exit_after: Option<Duration>,
    pub exit_code: i32,
    pub never_ready: bool,
}

impl Behaviour {
    /// Reads the annotations; values that do not parse are ignored, as an
    /// unknown annotation would be.
    pub fn of(pod: &Pod) -> Behaviour {
        let annotations = pod.metadata.annotations.as_ref();
        let get = |key: &str| annotations.and_then(|a| a.get(key)).map(|v| v.trim());
        let index: Option<u32> = get(COMPLETION_INDEX).and_then(|v| v.parse().ok());
        let listed =
            |key: &str| get(key).map(|list| index.is_some_and(|ix| index_listed(list, ix)));
        let mut exit_code = get(EXIT_CODE).and_then(|v| v.parse().ok()).unwrap_or(0);
        if let Some(failing) = listed(FAIL_INDEXES) {
            exit_code = i32::from(failing);
        }
        let exits = listed(EXIT_INDEXES).unwrap_or(true);
        Behaviour {
            exit_after: get(EXIT_AFTER).and_then(parse_duration).filter(|_| exits),
            exit_code,
            never_ready: get(READY).is_some_and(|v| v.eq_ignore_ascii_case("false")),
        }
    }
}

/// Whether `index` is in a list like `1,3-5`; parts that do not parse are
/// skipped.
fn index_listed(list: &str, index: u32) -> bool {
    list.split(',').map(str::trim).any(|part| {
        let (first, last) = part.split_once('-').unwrap_or((part, part));
        match (first.trim().parse::<u32>(), last.trim().parse::<u32>()) {
            (Ok(first), Ok(last)) => (first..=last).contains(&index),
            _ => false,
        }
    })
}

struct SimPod {
    behaviour: Behaviour,
    sandbox_ready: bool,
    containers: Vec<SimContainer>,
}

/// One container's current instance and the exit of the one before.
struct SimContainer {
    name: Box<str>,
    image: Box<str>,
    attempt: u32,
    started_at: Timestamp,
    /// When this instance exits (or exited) on its own.
    exit_at: Option<Timestamp>,
    exit_code: i32,
    /// Set when the instance was stopped before it exited on its own.
    stopped_at: Option<Timestamp>,
    previous: Option<(u32, Timestamp, Timestamp, i32)>,
}

impl SimContainer {
    fn finished(&self, now: Timestamp) -> Option<(Timestamp, i32)> {
        let natural = self.exit_at.filter(|at| *at <= now);
        match (natural, self.stopped_at) {
            (Some(at), Some(stopped)) if at <= stopped => Some((at, self.exit_code)),
            (_, Some(stopped)) => Some((stopped, 0)),
            (Some(at), None) => Some((at, self.exit_code)),
            (None, None) => None,
        }
    }
}

impl SimRuntime {
    pub fn new(changed: UnboundedSender<String>) -> SimRuntime {
        SimRuntime {
            pods: Mutex::new(HashMap::new()),
            changed,
        }
    }

    fn announce_at(&self, uid: &str, at: Timestamp) {
        let wait = Timestamp::now().duration_until(at);
        let wait = Duration::try_from(wait).unwrap_or(Duration::ZERO);
        let changed = self.changed.clone();
        let uid = uid.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let _ = changed.send(uid);
        });
    }
}

impl Runtime for SimRuntime {
    async fn start_container(
        &self,
        pod: &Pod,
        container: &Container,
        attempt: u32,
    ) -> Result<(), RuntimeError> {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let is_init = pod
            .spec
            .as_ref()
            .and_then(|s| s.init_containers.as_ref())
            .is_some_and(|init| init.iter().any(|c| c.name == container.name));
        let restartable = container.restart_policy.as_deref() == Some("Always");
        let now = Timestamp::now();
        let exit_at = {
            let mut pods = self.pods.lock().unwrap_or_else(|e| e.into_inner());
            let entry = pods.entry(uid.clone()).or_insert_with(|| SimPod {
                behaviour: Behaviour::of(pod),
                sandbox_ready: true,
                containers: Vec::new(),
            });
            entry.sandbox_ready = true;
            let behaviour = entry.behaviour;
            let (exit_at, exit_code) = if is_init && !restartable {
                (Some(now), 0)
            } else if is_init {
                (None, 0)
            } else {
                let after = behaviour
                    .exit_after
                    .and_then(|d| SignedDuration::try_from(d).ok());
                (
                    after.and_then(|d| now.checked_add(d).ok()),
                    behaviour.exit_code,
                )
            };
            let fresh = SimContainer {
                name: container.name.as_str().into(),
                image: container.image.as_deref().unwrap_or_default().into(),
                attempt,
                started_at: now,
                exit_at,
                exit_code,
                stopped_at: None,
                previous: None,
            };
            match entry
                .containers
                .iter_mut()
                .find(|c| *c.name == *container.name)
            {
                Some(old) => {
                    let previous = old
                        .finished(now)
                        .map(|(finished, code)| (old.attempt, old.started_at, finished, code));
                    *old = SimContainer { previous, ..fresh };
                }
                None => entry.containers.push(fresh),
            }
            exit_at
        };
        if let Some(at) = exit_at {
            self.announce_at(&uid, at);
        }
        Ok(())
    }

    async fn stop_pod(&self, pod_uid: &str, _grace: Duration) -> Result<(), RuntimeError> {
        let now = Timestamp::now();
        let mut pods = self.pods.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pod) = pods.get_mut(pod_uid) {
            pod.sandbox_ready = false;
            for container in &mut pod.containers {
                if container.finished(now).is_none() {
                    container.stopped_at = Some(now);
                }
            }
        }
        Ok(())
    }

    async fn remove_pod(&self, pod_uid: &str) {
        let mut pods = self.pods.lock().unwrap_or_else(|e| e.into_inner());
        pods.remove(pod_uid);
    }

    async fn pod_status(&self, pod_uid: &str) -> RuntimePodStatus {
        let now = Timestamp::now();
        let pods = self.pods.lock().unwrap_or_else(|e| e.into_inner());
        let Some(pod) = pods.get(pod_uid) else {
            return RuntimePodStatus::default();
        };
        let containers =
            pod.containers
                .iter()
                .map(|c| {
                    let id = container_id(pod_uid, &c.name, c.attempt);
                    let state = match c.finished(now) {
                        Some((finished_at, exit_code)) => ContainerState::Exited(ExitedContainer {
                            id: id.clone(),
                            started_at: c.started_at,
                            finished_at,
                            exit_code,
                            reason: None,
                            message: None,
                        }),
                        None => ContainerState::Running {
                            started_at: c.started_at,
                        },
                    };
                    RuntimeContainer {
                        name: c.name.to_string(),
                        id,
                        image: c.image.to_string(),
                        image_id: image_id(&c.image),
                        attempt: c.attempt,
                        state,
                        previous: c.previous.map(
                            |(attempt, started_at, finished_at, exit_code)| ExitedContainer {
                                id: container_id(pod_uid, &c.name, attempt),
                                started_at,
                                finished_at,
                                exit_code,
                                reason: None,
                                message: None,
                            },
                        ),
                        ready: Some(!pod.behaviour.never_ready),
                    }
                })
                .collect();
        RuntimePodStatus {
            sandbox_ready: pod.sandbox_ready,
            ip: None,
            containers,
        }
    }

    async fn adopt(&self, pod: &Pod) {
        let Some(uid) = pod.metadata.uid.as_deref() else {
            return;
        };
        let statuses = pod.status.as_ref().map(|status| {
            let init = status.init_container_statuses.iter().flatten();
            init.chain(status.container_statuses.iter().flatten())
                .filter_map(adopted)
                .collect::<Vec<_>>()
        });
        let Some(containers) = statuses.filter(|c| !c.is_empty()) else {
            return;
        };
        let behaviour = Behaviour::of(pod);
        let exits: Vec<Timestamp> = containers.iter().filter_map(|c| c.exit_at).collect();
        {
            let mut pods = self.pods.lock().unwrap_or_else(|e| e.into_inner());
            if pods.contains_key(uid) {
                return;
            }
            let sandbox_ready = containers.iter().any(|c| c.stopped_at.is_none());
            pods.insert(
                uid.to_string(),
                SimPod {
                    behaviour,
                    sandbox_ready,
                    containers,
                },
            );
        }
        for at in exits {
            self.announce_at(uid, at);
        }
    }
}

/// A container a previous agent reported, running or exited.
fn adopted(status: &ContainerStatus) -> Option<SimContainer> {
    let state = status.state.as_ref()?;
    let previous = status
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .and_then(|t| {
            let started = t.started_at.as_ref()?.0;
            let finished = t.finished_at.as_ref()?.0;
            let attempt = u32::try_from(status.restart_count).ok()?.checked_sub(1)?;
            Some((attempt, started, finished, t.exit_code))
        });
    let mut container = SimContainer {
        name: status.name.as_str().into(),
        image: status.image.as_str().into(),
        attempt: u32::try_from(status.restart_count).unwrap_or(0),
        started_at: Timestamp::UNIX_EPOCH,
        exit_at: None,
        exit_code: 0,
        stopped_at: None,
        previous,
    };
    if let Some(running) = &state.running {
        container.started_at = running
            .started_at
            .as_ref()
            .map_or_else(Timestamp::now, |t| t.0);
    } else if let Some(terminated) = &state.terminated {
        container.started_at = terminated.started_at.as_ref()?.0;
        container.exit_at = Some(terminated.finished_at.as_ref()?.0);
        container.exit_code = terminated.exit_code;
    } else {
        return None;
    }
    Some(container)
}

/// A stable made-up container id: `sim://` and 64 hex digits.
fn container_id(pod_uid: &str, name: &str, attempt: u32) -> String {
    format!("sim://{}", digest(&(pod_uid, name, attempt)))
}

/// A made-up image digest in the form containerd reports.
fn image_id(image: &str) -> String {
    let repository = match image.rsplit_once('@') {
        Some((repository, _)) => repository,
        None => match image.rsplit_once(':') {
            Some((repository, tag)) if !tag.contains('/') => repository,
            _ => image,
        },
    };
    format!("{repository}@sha256:{}", digest(&image))
}

/// 64 hex digits derived from `value`: deterministic, not cryptographic.
fn digest(value: &impl Hash) -> String {
    (0u64..4)
        .map(|round| {
            let mut hasher = std::hash::DefaultHasher::new();
            round.hash(&mut hasher);
            value.hash(&mut hasher);
            format!("{:016x}", hasher.finish())
        })
        .collect()
}

/// A duration as Go writes them: `2s`, `500ms`, `1m30s`, `1.5s`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .filter(|at| *at > 0)?;
        let value: f64 = rest[..number_end].parse().ok()?;
        let unit_end = rest[number_end..]
            .find(|c: char| c.is_ascii_digit())
            .map_or(rest.len(), |at| number_end + at);
        let seconds = match &rest[number_end..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += Duration::try_from_secs_f64(value * seconds).ok()?;
        rest = &rest[unit_end..];
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_go_writes_them() {
        assert_eq!(parse_duration("2s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("2"), None);
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_duration("2 days"), None);
    }

    #[test]
    fn image_ids_keep_the_repository() {
        assert!(image_id("nginx:1.27").starts_with("nginx@sha256:"));
        assert!(image_id("localhost:5000/app").starts_with("localhost:5000/app@sha256:"));
        assert_eq!(image_id("nginx").len(), "nginx@sha256:".len() + 64);
    }

    fn pod_with(annotations: &[(&str, &str)]) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.uid = Some("u1".into());
        pod.metadata.annotations = Some(
            annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        pod
    }

    #[test]
    fn behaviour_from_annotations() {
        let pod = pod_with(&[(EXIT_AFTER, "2s"), (EXIT_CODE, "3"), (READY, "false")]);
        let behaviour = Behaviour::of(&pod);
        assert_eq!(behaviour.exit_after, Some(Duration::from_secs(2)));
        assert_eq!(behaviour.exit_code, 3);
        assert!(behaviour.never_ready);
        assert_eq!(
            Behaviour::of(&pod_with(&[(EXIT_CODE, "x")])),
            Behaviour::default()
        );
    }

    #[test]
    fn behaviour_by_completion_index() {
        let of = |index: &str, key: &str, list: &str| {
            Behaviour::of(&pod_with(&[
                (COMPLETION_INDEX, index),
                (EXIT_AFTER, "1s"),
                (EXIT_CODE, "7"),
                (key, list),
            ]))
        };
        assert_eq!(of("1", FAIL_INDEXES, "1,3-4").exit_code, 1);
        assert_eq!(of("4", FAIL_INDEXES, "1,3-4").exit_code, 1);
        assert_eq!(of("2", FAIL_INDEXES, "1,3-4").exit_code, 0);
        let listed = of("0", EXIT_INDEXES, "0");
        assert_eq!(listed.exit_after, Some(Duration::from_secs(1)));
        assert_eq!(listed.exit_code, 7);
        assert_eq!(of("2", EXIT_INDEXES, "0").exit_after, None);
        // Without an index, a listed behaviour applies to nothing.
        let plain = Behaviour::of(&pod_with(&[(EXIT_AFTER, "1s"), (FAIL_INDEXES, "0")]));
        assert_eq!(plain.exit_code, 0);
    }

    #[tokio::test]
    async fn containers_exit_as_annotated_and_stop_when_asked() {
        let (changed, mut announced) = tokio::sync::mpsc::unbounded_channel();
        let runtime = SimRuntime::new(changed);
        let pod = pod_with(&[(EXIT_AFTER, "50ms"), (EXIT_CODE, "2")]);
        let container = Container {
            name: "app".into(),
            image: Some("busybox".into()),
            ..Container::default()
        };
        runtime.start_container(&pod, &container, 0).await.unwrap();
        let status = runtime.pod_status("u1").await;
        assert!(matches!(
            status.containers[0].state,
            ContainerState::Running { .. }
        ));
        assert_eq!(announced.recv().await.as_deref(), Some("u1"));
        let status = runtime.pod_status("u1").await;
        let ContainerState::Exited(exited) = &status.containers[0].state else {
            panic!("not exited: {status:?}");
        };
        assert_eq!(exited.exit_code, 2);
        runtime.start_container(&pod, &container, 1).await.unwrap();
        let status = runtime.pod_status("u1").await;
        assert_eq!(status.containers[0].attempt, 1);
        assert_eq!(status.containers[0].previous.as_ref().unwrap().exit_code, 2);
        runtime.stop_pod("u1", Duration::ZERO).await.unwrap();
        let status = runtime.pod_status("u1").await;
        assert!(!status.sandbox_ready);
        assert!(matches!(
            status.containers[0].state,
            ContainerState::Exited(_)
        ));
    }
}
