//! The node agent (the kubelet's job): registers a node, keeps its status
//! and Lease fresh, and drives the pods bound to it through a runtime.
//!
//! The `sim` runtime runs hollow nodes: pods go Running without containers,
//! which lets the control plane be tested and benchmarked at thousands of
//! nodes on one machine.

use std::future::Future;

/// What hollow nodes to run.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// How many nodes.
    pub nodes: usize,
    /// Node names are `<prefix><index>`.
    pub name_prefix: String,
}

/// Runs hollow nodes against the API server `client` talks to until
/// `shutdown` completes.
pub async fn run_sim(
    client: kube::Client,
    options: SimOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let _ = (client, options);
    shutdown.await;
}
