//! A sync loop running on a task, as a component runs it, for tests to drive and stop.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;

use crate::sync::{sync_loop, RuleSource, Syncer};

/// How long a loop may take to end.
const STOP_LIMIT: Duration = Duration::from_secs(10);

/// A [`sync_loop`] on a task, with the handle its watches would notify.
pub struct RunningLoop {
    /// Notify to say that the caches changed.
    pub changes: Arc<Notify>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl RunningLoop {
    /// Spawns the loop (on the current tokio runtime).
    pub fn start<S: RuleSource>(syncer: Syncer<S>, min_sync_period: Duration) -> RunningLoop {
        let changes = Arc::new(Notify::new());
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let task = tokio::spawn(sync_loop(
            syncer,
            changes.clone(),
            min_sync_period,
            shutdown,
        ));
        RunningLoop {
            changes,
            stop: Some(stop),
            task,
        }
    }

    /// Shuts the loop down; panics unless it ends within 10 s.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.finished().await;
    }

    /// Waits for the loop to end by itself; panics unless it does within 10 s.
    pub async fn finished(mut self) {
        tokio::time::timeout(STOP_LIMIT, &mut self.task)
            .await
            .expect("the sync loop ends")
            .expect("sync loop task");
    }
}
