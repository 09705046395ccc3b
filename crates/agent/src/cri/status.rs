//! A pod's containers as the CRI runtime reports them, in the agent's
//! terms: per container name the current instance and the one before.

use std::collections::BTreeMap;

use k8s_cri::v1 as cri;
use k8s_openapi::jiff::Timestamp;

use super::{CriClient, RUNTIME_NAME};
use crate::runtime::{ContainerState, ExitedContainer, RuntimeContainer};

/// Looks up the status of the listed containers that matter (each name's
/// two newest instances) and maps them.
pub async fn containers(client: &CriClient, listed: Vec<cri::Container>) -> Vec<RuntimeContainer> {
    let mut by_name: BTreeMap<String, Vec<cri::Container>> = BTreeMap::new();
    for container in listed {
        // An instance created but never started is not one yet.
        if container.state == cri::ContainerState::ContainerCreated as i32 {
            continue;
        }
        let Some(name) = container.metadata.as_ref().map(|m| m.name.clone()) else {
            continue;
        };
        by_name.entry(name).or_default().push(container);
    }
    let mut out = Vec::new();
    for (name, mut instances) in by_name {
        instances.sort_by_key(|c| std::cmp::Reverse(attempt(c)));
        let Some(current) = status(client, &instances[0].id).await else {
            continue;
        };
        let previous = match instances.get(1) {
            Some(before) => status(client, &before.id).await.and_then(|s| exited(&s)),
            None => None,
        };
        let state = match exited(&current) {
            Some(exit) => ContainerState::Exited(exit),
            None => ContainerState::Running {
                started_at: timestamp(current.started_at),
            },
        };
        out.push(RuntimeContainer {
            name,
            id: container_id(&current.id),
            image: current
                .image
                .as_ref()
                .map(|i| {
                    if i.user_specified_image.is_empty() {
                        i.image.clone()
                    } else {
                        i.user_specified_image.clone()
                    }
                })
                .unwrap_or_default(),
            image_id: current.image_ref.clone(),
            attempt: current.metadata.as_ref().map_or(0, |m| m.attempt),
            state,
            previous,
            ready: None,
        });
    }
    out
}

fn attempt(container: &cri::Container) -> u32 {
    container.metadata.as_ref().map_or(0, |m| m.attempt)
}

async fn status(client: &CriClient, id: &str) -> Option<cri::ContainerStatus> {
    let mut runtime = client.runtime.clone();
    runtime
        .container_status(cri::ContainerStatusRequest {
            container_id: id.into(),
            verbose: false,
        })
        .await
        .ok()?
        .into_inner()
        .status
}

/// The exit of an instance that is no longer running.
fn exited(status: &cri::ContainerStatus) -> Option<ExitedContainer> {
    if status.state == cri::ContainerState::ContainerRunning as i32 {
        return None;
    }
    Some(ExitedContainer {
        id: container_id(&status.id),
        started_at: timestamp(status.started_at),
        finished_at: timestamp(status.finished_at),
        exit_code: status.exit_code,
        reason: Some(status.reason.clone()).filter(|r| !r.is_empty()),
        message: super::termination::message(status),
    })
}

fn container_id(id: &str) -> String {
    format!("{RUNTIME_NAME}://{id}")
}

/// CRI times are nanoseconds since the epoch.
fn timestamp(nanos: i64) -> Timestamp {
    Timestamp::from_nanosecond(i128::from(nanos)).unwrap_or(Timestamp::UNIX_EPOCH)
}
