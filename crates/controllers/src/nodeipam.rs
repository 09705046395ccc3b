//! Node IPAM: gives each node a podCIDR from the cluster CIDR.

use std::future::Future;

use kube::Client;

/// Runs the controller until `shutdown` completes.
pub async fn run(
    client: Client,
    cluster_cidr: String,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let _ = (client, cluster_cidr);
    shutdown.await;
}
