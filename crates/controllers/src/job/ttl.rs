//! The TTL-after-finished controller: deletes a finished Job
//! `ttlSecondsAfterFinished` after it completed or failed, as upstream's
//! ttlafterfinished controller.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, DeleteParams, Preconditions};
use kube::runtime::controller::{Action, Controller};
use kube::{Client, ResourceExt};

use super::policy::condition;
use crate::informers::Subscription;
use crate::{status_code, Error};

/// Runs the controller until `shutdown` completes, from the shared Jobs.
pub async fn run(
    client: Client,
    jobs: Subscription<Job>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let cache = jobs.store();
    Controller::for_shared_stream(jobs.applied(), cache)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, Arc::new(client))
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "ttl-after-finished controller");
            }
        })
        .await;
}

/// When the Job finished: the completion time, else the transition of its
/// Complete or Failed condition (upstream's jobFinishTime).
pub fn finished_at(job: &Job) -> Option<jiff::Timestamp> {
    ["Complete", "Failed"].iter().find_map(|type_| {
        let finished = condition(job, type_).filter(|c| c.status == "True")?;
        let completion = job.status.as_ref().and_then(|s| s.completion_time.as_ref());
        let at = match *type_ {
            "Complete" => completion.or(finished.last_transition_time.as_ref()),
            _ => finished.last_transition_time.as_ref(),
        };
        at.map(|t| t.0)
    })
}

/// How long until the Job expires; `None` if it never does.
pub fn time_left(job: &Job, now: jiff::Timestamp) -> Option<Duration> {
    if job.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let ttl = job.spec.as_ref()?.ttl_seconds_after_finished?;
    let expires = finished_at(job)?
        .checked_add(jiff::SignedDuration::from_secs(i64::from(ttl)))
        .ok()?;
    Some(Duration::try_from(expires.duration_since(now)).unwrap_or(Duration::ZERO))
}

async fn reconcile(job: Arc<Job>, client: Arc<Client>) -> Result<Action, Error> {
    let Some(left) = time_left(&job, jiff::Timestamp::now()) else {
        return Ok(Action::await_change());
    };
    if !left.is_zero() {
        return Ok(Action::requeue(left));
    }
    // The cache may be stale: decide on the Job as the server has it now.
    let api: Api<Job> = Api::namespaced((*client).clone(), &job.namespace().unwrap_or_default());
    let Some(fresh) = api.get_opt(&job.name_any()).await? else {
        return Ok(Action::await_change());
    };
    match time_left(&fresh, jiff::Timestamp::now()) {
        Some(left) if left.is_zero() => {}
        Some(left) => return Ok(Action::requeue(left)),
        None => return Ok(Action::await_change()),
    }
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: fresh.metadata.uid.clone(),
            resource_version: fresh.metadata.resource_version.clone(),
        }),
        ..DeleteParams::foreground()
    };
    match api.delete(&fresh.name_any(), &params).await {
        Ok(_) => Ok(Action::await_change()),
        Err(error) if matches!(status_code(&error), Some(404 | 409)) => {
            Ok(Action::requeue(Duration::from_secs(1)))
        }
        Err(error) => Err(error.into()),
    }
}

fn error_policy(_: Arc<Job>, _: &Error, _: Arc<Client>) -> Action {
    Action::requeue(Duration::from_secs(5))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::{JobCondition, JobSpec, JobStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    #[test]
    fn expires_ttl_after_the_failure() {
        let failed_at = jiff::Timestamp::from_second(1_000).unwrap();
        let mut job = Job {
            spec: Some(JobSpec {
                ttl_seconds_after_finished: Some(30),
                ..Default::default()
            }),
            status: Some(JobStatus {
                conditions: Some(vec![JobCondition {
                    type_: "Failed".into(),
                    status: "True".into(),
                    last_transition_time: Some(Time(failed_at)),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let now = jiff::Timestamp::from_second(1_010).unwrap();
        assert_eq!(time_left(&job, now), Some(Duration::from_secs(20)));
        let later = jiff::Timestamp::from_second(1_100).unwrap();
        assert_eq!(time_left(&job, later), Some(Duration::ZERO));
        job.spec.as_mut().unwrap().ttl_seconds_after_finished = None;
        assert_eq!(time_left(&job, now), None);
    }
}
