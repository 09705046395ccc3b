//! The node agent (the kubelet's job): registers a node, keeps its status
//! and Lease fresh, and drives the pods bound to it through a [`Runtime`].
//!
//! The [`sim`] runtime runs hollow nodes: pods go Running without
//! containers, which lets the control plane be tested and benchmarked at
//! thousands of nodes on one machine. All hollow nodes of a process share
//! one pod watch and one node watch.
//!
//! ```no_run
//! # async fn example(client: kube::Client) {
//! let options = capstan_agent::SimOptions {
//!     nodes: 3,
//!     name_prefix: "sim-".into(),
//!     ..capstan_agent::SimOptions::default()
//! };
//! capstan_agent::run_sim(client, options, std::future::pending()).await;
//! # }
//! ```

mod agent;
pub mod containerd;
pub mod cri;
pub mod egress;
pub mod events;
pub mod eviction;
mod heartbeat;
pub mod images;
pub mod ipam;
mod local;
pub mod machine;
mod mounts;
pub mod node;
pub mod pods;
pub mod routes;
pub mod runtime;
pub mod server;
pub mod sim;
mod sources;
mod static_pods;
pub mod volumes;
pub mod vxlan;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

/// A node taint, as `SimOptions::taints` takes them.
pub use k8s_openapi::api::core::v1::Taint;

pub use heartbeat::{LEASE_DURATION_SECONDS, LEASE_NAMESPACE, RENEW_INTERVAL};
pub use local::{run_node, NodeOptions};
pub use node::NodeTemplate;
pub use runtime::Runtime;

/// What hollow nodes to run.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// How many nodes.
    pub nodes: usize,
    /// Node names are `<prefix><index>`.
    pub name_prefix: String,
    /// Capacity (and allocatable) of each node, as quantities.
    pub cpu: String,
    pub memory: String,
    pub pods: String,
    /// More labels on each node.
    pub labels: BTreeMap<String, String>,
    /// Taints each node registers with.
    pub taints: Vec<Taint>,
}

impl Default for SimOptions {
    fn default() -> SimOptions {
        let template = NodeTemplate::default();
        SimOptions {
            nodes: 1,
            name_prefix: "hollow-".into(),
            cpu: template.cpu,
            memory: template.memory,
            pods: template.pods,
            labels: BTreeMap::new(),
            taints: Vec::new(),
        }
    }
}

/// Runs hollow nodes against the API server `client` talks to until
/// `shutdown` completes.
pub async fn run_sim(
    client: kube::Client,
    options: SimOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let template = NodeTemplate {
        cpu: options.cpu,
        memory: options.memory,
        pods: options.pods,
        labels: options.labels,
        taints: options.taints,
        ..NodeTemplate::default()
    };
    let slots = (0..options.nodes)
        .map(|index| {
            let name = format!("{}{index}", options.name_prefix);
            node::NodeSlot::new(&name, node::hollow_host_ip(&name))
        })
        .collect();
    let (queue, queued) = tokio::sync::mpsc::unbounded_channel();
    let runtime = sim::SimRuntime::new(queue.clone());
    let shared = Arc::new(agent::Shared::new(client, runtime, template, slots, queue));
    agent::run(shared, queued, shutdown).await;
}

/// Parses a taint as kubectl writes them: `key[=value]:Effect`.
pub fn parse_taint(text: &str) -> Result<Taint, String> {
    let invalid = || format!("invalid taint {text:?}: want key[=value]:Effect");
    let (key_value, effect) = text.rsplit_once(':').ok_or_else(invalid)?;
    if !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
        return Err(invalid());
    }
    let (key, value) = match key_value.split_once('=') {
        Some((key, value)) => (key, Some(value.to_string())),
        None => (key_value, None),
    };
    if key.is_empty() {
        return Err(invalid());
    }
    Ok(Taint {
        key: key.into(),
        value,
        effect: effect.into(),
        time_added: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taints_as_kubectl_writes_them() {
        let taint = parse_taint("dedicated=gpu:NoSchedule").unwrap();
        assert_eq!(
            (taint.key.as_str(), taint.value.as_deref()),
            ("dedicated", Some("gpu"))
        );
        assert_eq!(taint.effect, "NoSchedule");
        assert_eq!(parse_taint("spot:NoExecute").unwrap().value, None);
        assert!(parse_taint("spot").is_err());
        assert!(parse_taint("spot:Sometimes").is_err());
        assert!(parse_taint("=x:NoSchedule").is_err());
    }
}
