//! The scheduler: keeps a snapshot of nodes and pods, runs filter and score
//! plugins with upstream names for each pending pod, and binds it through
//! `pods/binding`.
//!
//! Only pods naming a configured profile's `schedulerName` (by default
//! `default-scheduler`) and no `spec.nodeName` are scheduled.

use std::future::Future;
use std::path::PathBuf;

pub mod affinity;
pub mod binder;
pub mod budgets;
pub mod config;
pub mod events;
pub mod framework;
pub mod plugins;
pub mod preemption;
pub mod queue;
pub mod resources;
pub mod scheduler;
pub mod snapshot;
pub mod watch;

/// How the scheduler runs.
#[derive(Clone, Debug, Default)]
pub struct SchedulerOptions {
    /// A KubeSchedulerConfiguration file (for example MostAllocated scoring).
    pub config_file: Option<PathBuf>,
}

impl SchedulerOptions {
    /// Reads and checks the configuration file, so a caller can refuse to
    /// start on a bad one.
    pub fn profiles(&self) -> Result<Vec<config::Profile>, String> {
        config::load(self.config_file.as_deref())
    }
}

/// Schedules pods until `shutdown` completes.
pub async fn run(
    client: kube::Client,
    options: SchedulerOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let profiles = match options.profiles() {
        Ok(profiles) => profiles,
        Err(error) => {
            tracing::error!(%error, "scheduler configuration refused; using the default profile");
            vec![config::Profile::default()]
        }
    };
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    let watchers = watch::spawn_all(&client, &sender);
    let events = events::EventRecorder::start(client.clone());
    let binder = binder::Binder::new(client, events);
    let scheduler = scheduler::Scheduler::new(profiles, binder, receiver, sender);
    let running = tokio::spawn(scheduler.run());
    shutdown.await;
    running.abort();
    for watcher in watchers {
        watcher.abort();
    }
}
