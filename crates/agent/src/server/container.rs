//! Which container instance a log request is for, and where its log is:
//! upstream's `validateContainerLogStatus` over the pod's status, then
//! the runtime's word on the instance (its log path, whether it runs).

use std::path::{Path, PathBuf};

use hyper::StatusCode;
use k8s_cri::v1 as cri;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod, PodStatus};
use kube::Api;

use crate::cri::config::PodNames;
use crate::cri::CriClient;

/// A refused request: its status and upstream's plain-text message.
pub type Refusal = (StatusCode, String);

/// The log of one container instance.
#[derive(Debug, PartialEq)]
pub struct Instance {
    pub path: PathBuf,
    /// The runtime's id, to ask whether it still runs; None when the
    /// runtime no longer knows it.
    pub id: Option<String>,
}

/// What a node's log server needs to find logs.
pub struct Finder {
    pub client: kube::Client,
    /// The nodes this process runs.
    pub nodes: Vec<String>,
    pub cri: CriClient,
    /// DATA_DIR/agent, where `pod-logs` is.
    pub agent_dir: PathBuf,
}

impl Finder {
    /// The instance of `container` of the pod whose logs are asked for.
    pub async fn find(
        &self,
        namespace: &str,
        name: &str,
        container: &str,
        previous: bool,
    ) -> Result<Instance, Refusal> {
        let pod = self.pod(namespace, name).await?;
        if !has_container(&pod, container) {
            return Err((
                StatusCode::NOT_FOUND,
                format!("container {container:?} not found in pod {name:?}"),
            ));
        }
        let status = pod.status.clone().unwrap_or_default();
        let chosen = choose(name, &status, container, previous)
            .map_err(|message| (StatusCode::BAD_REQUEST, message))?;
        let id = chosen
            .id
            .split_once("://")
            .map_or(chosen.id.as_str(), |(_, id)| id);
        let mut runtime = self.cri.runtime.clone();
        let found = runtime
            .container_status(cri::ContainerStatusRequest {
                container_id: id.to_string(),
                verbose: false,
            })
            .await
            .ok()
            .and_then(|r| r.into_inner().status)
            .filter(|s| !s.log_path.is_empty());
        if let Some(status) = found {
            return Ok(Instance {
                path: PathBuf::from(status.log_path),
                id: Some(id.to_string()),
            });
        }
        // The runtime forgot the instance; its log may still be there.
        let path = self.log_path(&pod, container, chosen.attempt);
        if path.exists() {
            return Ok(Instance { path, id: None });
        }
        Err((
            StatusCode::BAD_REQUEST,
            format!("unable to retrieve container logs for {}", chosen.id),
        ))
    }

    /// The pod, if it is bound to one of this process's nodes.
    pub async fn pod(&self, namespace: &str, name: &str) -> Result<Pod, Refusal> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let not_found = || {
            (
                StatusCode::NOT_FOUND,
                format!("pod {name:?} does not exist"),
            )
        };
        let pod = api
            .get_opt(name)
            .await
            .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
            .ok_or_else(not_found)?;
        let node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
        if !node.is_some_and(|node| self.nodes.iter().any(|n| n == node)) {
            return Err(not_found());
        }
        Ok(pod)
    }

    /// `pod-logs/<namespace>_<name>_<uid>/<container>/<attempt>.log`.
    fn log_path(&self, pod: &Pod, container: &str, attempt: u32) -> PathBuf {
        log_path(&self.agent_dir, pod, container, attempt)
    }

    /// Whether the runtime says the instance still runs.
    pub async fn running(cri: &CriClient, id: &str) -> bool {
        let mut runtime = cri.runtime.clone();
        let status = runtime
            .container_status(cri::ContainerStatusRequest {
                container_id: id.to_string(),
                verbose: false,
            })
            .await;
        status
            .ok()
            .and_then(|r| r.into_inner().status)
            .is_some_and(|s| s.state == cri::ContainerState::ContainerRunning as i32)
    }
}

/// Where the CRI runtime writes the log of an instance of a container.
pub fn log_path(agent_dir: &Path, pod: &Pod, container: &str, attempt: u32) -> PathBuf {
    PodNames::of(pod)
        .log_directory(agent_dir)
        .join(container)
        .join(format!("{attempt}.log"))
}

fn has_container(pod: &Pod, name: &str) -> bool {
    let Some(spec) = &pod.spec else {
        return false;
    };
    let ephemeral = spec.ephemeral_containers.iter().flatten().map(|c| &c.name);
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .map(|c| &c.name)
        .chain(ephemeral)
        .any(|n| n == name)
}

/// The instance a request is for: its `containerID` and attempt.
#[derive(Debug, PartialEq)]
pub struct Chosen {
    pub id: String,
    pub attempt: u32,
}

/// Upstream's `validateContainerLogStatus`: the running instance, else
/// the one that ended; with `previous`, the one before. Errors are
/// upstream's messages.
pub fn choose(
    pod: &str,
    status: &PodStatus,
    container: &str,
    previous: bool,
) -> Result<Chosen, String> {
    let found = [
        &status.container_statuses,
        &status.init_container_statuses,
        &status.ephemeral_container_statuses,
    ]
    .into_iter()
    .flatten()
    .flatten()
    .find(|s| s.name == container);
    let Some(found) = found else {
        return Err(format!(
            "container {container:?} in pod {pod:?} is not available"
        ));
    };
    let current = u32::try_from(found.restart_count).unwrap_or(0);
    let last = last_terminated(found);
    let state = found.state.clone().unwrap_or_default();
    let terminated = || format!("container {container:?} in pod {pod:?} is terminated");
    let chosen = |id: &str, attempt: u32| Chosen {
        id: id.to_string(),
        attempt,
    };
    // The instance that ended last is the newest one while the container
    // waits to restart, else the one before the newest.
    let before = if state.waiting.is_some() {
        current
    } else {
        current.saturating_sub(1)
    };
    if previous {
        return match last {
            Some(id) => Ok(chosen(id, before)),
            None => Err(format!(
                "previous terminated container {container:?} in pod {pod:?} not found"
            )),
        };
    }
    if state.running.is_some() {
        return Ok(chosen(
            found.container_id.as_deref().unwrap_or_default(),
            current,
        ));
    }
    if let Some(ended) = &state.terminated {
        return match ended.container_id.as_deref().filter(|id| !id.is_empty()) {
            Some(id) => Ok(chosen(id, current)),
            None => last
                .map(|id| chosen(id, current.saturating_sub(1)))
                .ok_or_else(terminated),
        };
    }
    if let Some(ended) = found
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
    {
        return match ended.container_id.as_deref().filter(|id| !id.is_empty()) {
            Some(id) => Ok(chosen(id, before)),
            None => Err(terminated()),
        };
    }
    let waiting = format!("container {container:?} in pod {pod:?} is waiting to start");
    match state.waiting.map(|w| w.reason.unwrap_or_default()) {
        Some(reason) if reason == "ErrImagePull" => {
            Err(format!("{waiting}: image can't be pulled"))
        }
        Some(reason) if reason == "ImagePullBackOff" => {
            Err(format!("{waiting}: trying and failing to pull image"))
        }
        Some(reason) => Err(format!("{waiting}: {reason}")),
        None => Err(format!("{waiting} - no logs yet")),
    }
}

/// The `containerID` of the instance before, if it ended with one.
fn last_terminated(status: &ContainerStatus) -> Option<&str> {
    status
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .and_then(|t| t.container_id.as_deref())
        .filter(|id| !id.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn status(container: serde_json::Value) -> PodStatus {
        serde_json::from_value(json!({"containerStatuses": [container]})).unwrap()
    }

    fn chosen(id: &str, attempt: u32) -> Result<Chosen, String> {
        Ok(Chosen {
            id: id.into(),
            attempt,
        })
    }

    #[test]
    fn the_running_instance_or_the_one_that_ended() {
        let running = status(json!({
            "name": "app", "image": "x", "imageID": "", "ready": true, "restartCount": 2,
            "containerID": "containerd://c2",
            "state": {"running": {}},
            "lastState": {"terminated": {"exitCode": 1, "containerID": "containerd://c1"}},
        }));
        assert_eq!(
            choose("p", &running, "app", false),
            chosen("containerd://c2", 2)
        );
        assert_eq!(
            choose("p", &running, "app", true),
            chosen("containerd://c1", 1)
        );
        let crashing = status(json!({
            "name": "app", "image": "x", "imageID": "", "ready": false, "restartCount": 1,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "containerID": "containerd://c1"}},
        }));
        // Waiting to restart, the newest instance is the one that ended.
        assert_eq!(
            choose("p", &crashing, "app", false),
            chosen("containerd://c1", 1)
        );
        assert_eq!(
            choose("p", &crashing, "app", true),
            chosen("containerd://c1", 1)
        );
        let done = status(json!({
            "name": "app", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
            "containerID": "containerd://c0",
            "state": {"terminated": {"exitCode": 0, "containerID": "containerd://c0"}},
        }));
        assert_eq!(
            choose("p", &done, "app", false),
            chosen("containerd://c0", 0)
        );
    }

    #[test]
    fn upstream_messages_when_there_is_no_log() {
        let waiting = |reason: &str| {
            status(json!({
                "name": "app", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": reason}},
            }))
        };
        let error =
            |status: &PodStatus, previous| choose("web", status, "app", previous).unwrap_err();
        assert_eq!(
            error(&waiting("ContainerCreating"), false),
            r#"container "app" in pod "web" is waiting to start: ContainerCreating"#
        );
        assert_eq!(
            error(&waiting("ErrImagePull"), false),
            r#"container "app" in pod "web" is waiting to start: image can't be pulled"#
        );
        assert_eq!(
            error(&waiting("ImagePullBackOff"), false),
            r#"container "app" in pod "web" is waiting to start: trying and failing to pull image"#
        );
        assert_eq!(
            error(&waiting("ContainerCreating"), true),
            r#"previous terminated container "app" in pod "web" not found"#
        );
        assert_eq!(
            error(&PodStatus::default(), false),
            r#"container "app" in pod "web" is not available"#
        );
        let unknown = status(json!({
            "name": "app", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
        }));
        assert_eq!(
            error(&unknown, false),
            r#"container "app" in pod "web" is waiting to start - no logs yet"#
        );
        let never_started = status(json!({
            "name": "app", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": 128}},
        }));
        assert_eq!(
            error(&never_started, false),
            r#"container "app" in pod "web" is terminated"#
        );
    }

    #[test]
    fn logs_are_where_the_runtime_writes_them() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "u-1"},
        }))
        .unwrap();
        assert_eq!(
            log_path(Path::new("/data/agent"), &pod, "app", 3),
            Path::new("/data/agent/pod-logs/ns_web_u-1/app/3.log")
        );
    }
}
