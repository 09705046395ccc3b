//! StatefulSet: pods with stable names and ordered management.

use std::future::Future;

use kube::Client;

/// Runs the controller until `shutdown` completes.
pub async fn run(client: Client, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let _ = client;
    shutdown.await;
}
