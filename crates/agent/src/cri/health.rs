//! What the node measures for its status: whether the runtime and its
//! network are ready (CRI Status), the machine's free memory, disk and
//! PIDs, and the images held.

use std::path::Path;

use k8s_cri::v1 as cri;

use super::CriClient;
use crate::machine;
use crate::runtime::NodeHealth;

/// Upstream's `nodeStatusMaxImages`.
const MAX_IMAGES: usize = 50;

/// Reads the runtime and the machine; `agent_dir` is on the node's disk.
pub async fn read(client: &CriClient, agent_dir: &Path) -> NodeHealth {
    NodeHealth {
        runtime_problem: runtime_problem(client).await,
        memory: machine::memory(),
        disk: machine::disk(agent_dir),
        pids: machine::pids(),
        images: images(client).await,
    }
}

/// Upstream's runtime checks: the runtime answers, and says both its
/// conditions hold.
async fn runtime_problem(client: &CriClient) -> Option<String> {
    let mut runtime = client.runtime.clone();
    let status = match runtime.status(cri::StatusRequest { verbose: false }).await {
        Ok(answer) => answer.into_inner().status,
        Err(_) => return Some("container runtime is down".into()),
    };
    let conditions = status.map(|s| s.conditions).unwrap_or_default();
    let failing: Vec<String> = ["RuntimeReady", "NetworkReady"]
        .iter()
        .filter_map(|wanted| {
            let found = conditions.iter().find(|c| c.r#type == *wanted);
            match found {
                Some(c) if c.status => None,
                Some(c) => Some(format!(
                    "{wanted}=false reason:{} message:{}",
                    c.reason, c.message
                )),
                None => Some(format!("{wanted}=false reason: message:")),
            }
        })
        .collect();
    if failing.is_empty() {
        return None;
    }
    let runtime_down = failing.iter().any(|f| f.starts_with("RuntimeReady"));
    let what = if runtime_down {
        "container runtime not ready"
    } else {
        "container runtime network not ready"
    };
    Some(format!("{what}: {}", failing.join(" ")))
}

/// The runtime's images, largest first, at most 50 (upstream's order).
async fn images(client: &CriClient) -> Vec<(Vec<String>, i64)> {
    let mut images = client.images.clone();
    let Ok(listed) = images
        .list_images(cri::ListImagesRequest { filter: None })
        .await
    else {
        return Vec::new();
    };
    let mut all: Vec<(Vec<String>, i64)> = listed
        .into_inner()
        .images
        .into_iter()
        .map(|image| {
            let names: Vec<String> = image
                .repo_digests
                .into_iter()
                .chain(image.repo_tags)
                .collect();
            (names, i64::try_from(image.size).unwrap_or(i64::MAX))
        })
        .filter(|(names, _)| !names.is_empty())
        .collect();
    all.sort_by_key(|(_, size)| std::cmp::Reverse(*size));
    all.truncate(MAX_IMAGES);
    all
}
