//! The StatefulSet controller: pods with stable names and storage, created,
//! deleted and updated in ordinal order (upstream's
//! `pkg/controller/statefulset`). Templates are recorded as
//! ControllerRevisions; pods carry the name of theirs.

pub mod identity;
pub mod plan;
mod sync;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::Reporter;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};

use crate::events::EventRecorder;
use crate::history::{claim, controlling_owner, Claim};
use crate::informers::Subscription;
use crate::pods::controller_of;
use crate::Error;

/// The name events are reported under, as upstream.
const REPORTER: &str = "statefulset-controller";

/// StatefulSets synced at once; upstream's --concurrent-statefulset-syncs.
const CONCURRENCY: u16 = 5;

/// Runs the controller until `shutdown` completes, from the shared pods
/// and ControllerRevisions.
pub async fn run(
    client: Client,
    pods: Subscription<Pod>,
    revisions: Subscription<ControllerRevision>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let context = Arc::new(Context {
        recorder: EventRecorder::new(client.clone(), Reporter::from(REPORTER)),
        client: client.clone(),
        pods: pods.store(),
        revisions: revisions.store(),
    });
    let controller = Controller::new(Api::<StatefulSet>::all(client), watcher::Config::default());
    let sets = controller.store();
    controller
        .with_config(kube::runtime::controller::Config::default().concurrency(CONCURRENCY))
        .watches_shared_stream(pods.touched(), move |pod| owners(&pod, &sets))
        .watches_shared_stream(revisions.touched(), |revision| {
            controlling_owner(&revision.metadata)
        })
        .graceful_shutdown_on(shutdown)
        .run(sync::reconcile, error_policy, context)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "statefulset controller");
            }
        })
        .await;
}

/// What a reconcile reads.
pub(crate) struct Context {
    client: Client,
    recorder: EventRecorder,
    pods: Store<Pod>,
    revisions: Store<ControllerRevision>,
}

fn error_policy(set: Arc<StatefulSet>, error: &Error, _: Arc<Context>) -> Action {
    tracing::info!(statefulset = %set.name_any(), %error, "statefulset sync will be retried");
    Action::requeue(Duration::from_secs(5))
}

/// The StatefulSets a pod change concerns: its controller, or for an
/// orphan named like a set's pod the set that would adopt it.
fn owners(pod: &Pod, sets: &Store<StatefulSet>) -> Vec<ObjectRef<StatefulSet>> {
    let namespace = pod.namespace().unwrap_or_default();
    if controller_of(&pod.metadata).is_some() {
        return controlling_owner(&pod.metadata).into_iter().collect();
    }
    sets.state()
        .iter()
        .filter(|set| set.namespace().as_deref() == Some(namespace.as_str()))
        .filter(|set| {
            let Some(spec) = set.spec.as_ref() else {
                return false;
            };
            let member = identity::ordinal_of(&set.name_any(), pod).is_some();
            let uid = set.uid().unwrap_or_default();
            claim(&pod.metadata, &uid, &spec.selector, member) == Claim::Adopt
        })
        .map(|set| ObjectRef::from_obj(&**set))
        .collect()
}
