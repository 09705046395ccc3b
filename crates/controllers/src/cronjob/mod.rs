//! CronJob: creates Jobs on a schedule, with upstream's batch/v1 semantics
//! (the CronJob controller v2).
//!
//! - [`schedule`]: cron schedules and their next activation.
//! - [`times`]: which activation is due, when to look again, and the Job.
//! - [`sync`]: one pass over a CronJob and its Jobs.

pub mod schedule;
mod sync;
pub mod times;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::Reporter;
use kube::runtime::reflector::Store;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};

use crate::events::EventRecorder;
use crate::informers::Subscription;
use crate::Error;

/// The name upstream's CronJob controller reports events under.
pub const REPORTER: &str = "cronjob-controller";

/// Shared by every reconcile.
pub struct Context {
    pub client: Client,
    pub jobs: Store<Job>,
    pub recorder: EventRecorder,
}

/// Runs the controller until `shutdown` completes, from the shared Jobs.
pub async fn run(
    client: Client,
    jobs: Subscription<Job>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let context = Arc::new(Context {
        recorder: EventRecorder::new(
            client.clone(),
            Reporter {
                controller: REPORTER.into(),
                instance: None,
            },
        ),
        client: client.clone(),
        jobs: jobs.store(),
    });
    Controller::new(Api::<CronJob>::all(client), watcher::Config::default())
        .owns_shared_stream(jobs.applied())
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, context)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "cronjob controller");
            }
        })
        .await;
}

async fn reconcile(cron_job: Arc<CronJob>, ctx: Arc<Context>) -> Result<Action, Error> {
    match sync::sync(&ctx, &cron_job).await? {
        Some(after) => Ok(Action::requeue(after)),
        None => Ok(Action::await_change()),
    }
}

fn error_policy(cron_job: Arc<CronJob>, error: &Error, _: Arc<Context>) -> Action {
    tracing::debug!(cronjob = %cron_job.name_any(), %error, "cronjob sync failed");
    Action::requeue(Duration::from_secs(5))
}
