//! Job: runs pods to completion, with upstream's batch/v1 semantics.
//!
//! - [`sync`]: one pass over a Job and its pods (upstream's syncJob).
//! - [`policy`]: which pods count as failed, the pod failure policy, the
//!   back-off and the conditions.
//! - [`manage`]: keeping the right number of pods running.
//! - [`indexes`]: `status.completedIndexes` and `status.failedIndexes`.
//! - [`per_index`]: backoffLimitPerIndex and maxFailedIndexes.
//! - [`success`]: the success policy of Indexed Jobs.
//! - [`memory`]: expectations and back-off records kept between passes.
//! - [`actions`]: pod creation and deletion, finalizers, status, events.
//! - [`ttl`]: the TTL-after-finished controller that deletes finished Jobs.

mod actions;
pub mod indexes;
mod manage;
mod memory;
pub mod per_index;
pub mod policy;
mod success;
mod sync;
pub mod ttl;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::Reporter;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, ResourceExt};
use tokio::sync::mpsc;

use crate::events::EventRecorder;
use crate::informers::Subscription;
use crate::pods::{controller_of, is_controlled_by};
use crate::{status_code, Error};
use actions::Context;
use policy::{has_tracking_finalizer, is_finished};

/// The name upstream's job controller reports events under.
pub const REPORTER: &str = "job-controller";

/// Runs the Job controller until `shutdown` completes, from the shared
/// Jobs and pods.
pub async fn run(
    client: Client,
    jobs: Subscription<Job>,
    pods: Subscription<Pod>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let job_cache = jobs.store();
    let pod_cache = pods.store();
    let known_jobs = job_cache.clone();
    let (orphans, orphan_queue) = mpsc::unbounded_channel();
    let mapper = move |pod: Arc<Pod>| {
        let owner =
            controller_of(&pod.metadata).filter(|o| o.kind == "Job" && o.api_version == "batch/v1");
        let namespace = pod.namespace().unwrap_or_default();
        let job = owner.map(|o| ObjectRef::<Job>::new(&o.name).within(&namespace));
        let known = job
            .as_ref()
            .and_then(|r| known_jobs.get(r))
            .is_some_and(|j| {
                owner.is_some_and(|o| j.metadata.uid.as_deref() == Some(o.uid.as_str()))
            });
        if has_tracking_finalizer(&pod) && !known {
            let _ = orphans.send(ObjectRef::<Pod>::new(&pod.name_any()).within(&namespace));
        }
        job
    };
    let context = Arc::new(Context {
        recorder: EventRecorder::new(
            client.clone(),
            Reporter {
                controller: REPORTER.into(),
                instance: None,
            },
        ),
        client: client.clone(),
        pods: pod_cache.clone(),
        memory: Default::default(),
    });
    let controller = Controller::for_shared_stream(jobs.applied(), job_cache)
        .watches_shared_stream(pods.applied(), mapper)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, context)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "job controller");
            }
        });
    let orphan_worker = release_orphans(client, pod_cache, orphan_queue);
    // The worker ends when the controller, which holds the sender, ends.
    tokio::join!(controller, orphan_worker);
}

async fn reconcile(job: Arc<Job>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = job.namespace().unwrap_or_default();
    let key = format!("{namespace}/{}", job.name_any());
    let job = ctx.latest(job, &key).await?;
    let managed_by = job.spec.as_ref().and_then(|s| s.managed_by.as_deref());
    if managed_by.is_some_and(|m| m != "kubernetes.io/job-controller") {
        return Ok(Action::await_change());
    }
    let uid = job.metadata.uid.clone().unwrap_or_default();
    let owned: Vec<Arc<Pod>> = ctx
        .pods
        .state()
        .into_iter()
        .filter(|p| p.metadata.namespace.as_deref() == Some(namespace.as_str()))
        .filter(|p| is_controlled_by(&p.metadata, &uid))
        .collect();
    let pods: Vec<&Pod> = owned.iter().map(|p| p.as_ref()).collect();
    if is_finished(&job) {
        // Pods that finished after the Job did are let go uncounted.
        ctx.memory.forget(&key);
        for pod in pods.iter().filter(|p| has_tracking_finalizer(p)) {
            ctx.remove_finalizer(&key, pod).await?;
        }
        return Ok(Action::await_change());
    }
    match sync::sync(&ctx, &job, &key, &pods).await? {
        Some(after) => Ok(Action::requeue(after + Duration::from_millis(100))),
        None => Ok(Action::await_change()),
    }
}

fn error_policy(job: Arc<Job>, error: &Error, _: Arc<Context>) -> Action {
    tracing::debug!(job = %job.name_any(), %error, "job sync failed");
    Action::requeue(Duration::from_secs(1))
}

/// Removes the tracking finalizer from pods whose Job is gone or is not
/// their controller any more (upstream's syncOrphanPod), after checking
/// with the API server that the Job is really gone.
async fn release_orphans(
    client: Client,
    pods: Store<Pod>,
    mut queue: mpsc::UnboundedReceiver<ObjectRef<Pod>>,
) {
    while let Some(pod_ref) = queue.recv().await {
        let Some(pod) = pods.get(&pod_ref) else {
            continue;
        };
        if !has_tracking_finalizer(&pod) {
            continue;
        }
        let namespace = pod.namespace().unwrap_or_default();
        if let Some(owner) = controller_of(&pod.metadata).filter(|o| o.kind == "Job") {
            let jobs: Api<Job> = Api::namespaced(client.clone(), &namespace);
            match jobs.get_opt(&owner.name).await {
                Ok(Some(job))
                    if job.metadata.uid.as_deref() == Some(owner.uid.as_str())
                        && !is_finished(&job) =>
                {
                    continue;
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::debug!(%error, "cannot look up the job of an orphan pod");
                    continue;
                }
            }
        }
        let patch = serde_json::json!({
            "metadata": {"$deleteFromPrimitiveList/finalizers": [policy::TRACKING_FINALIZER]}
        });
        let api: Api<Pod> = Api::namespaced(client.clone(), &namespace);
        let params = kube::api::PatchParams::default();
        if let Err(error) = api
            .patch(
                &pod.name_any(),
                &params,
                &kube::api::Patch::Strategic(patch),
            )
            .await
        {
            if status_code(&error) != Some(404) {
                tracing::debug!(%error, "cannot release an orphan job pod");
            }
        }
    }
}
