//! ReplicaSet and ReplicationController: keep the count of pods matching the selector.

use std::future::Future;

use kube::Client;

/// Runs the controller until `shutdown` completes.
pub async fn run(client: Client, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let _ = client;
    shutdown.await;
}
