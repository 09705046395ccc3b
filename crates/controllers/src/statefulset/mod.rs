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
use k8s_openapi::api::core::v1::{Pod, PodSpec, PodStatus};
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, Resource, ResourceExt};

use crate::history::{claim, controlling_owner, watch_revisions, Claim};
use crate::pods::controller_of;
use crate::Error;

/// The name events are reported under, as upstream.
const REPORTER: &str = "statefulset-controller";

/// StatefulSets synced at once; upstream's --concurrent-statefulset-syncs.
const CONCURRENCY: u16 = 5;

/// Runs the controller until `shutdown` completes.
pub async fn run(client: Client, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let (pods, pod_writer) = reflector::store();
    let pod_changes = watcher(Api::<Pod>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .modify(trim_pod)
        .reflect(pod_writer)
        .touched_objects();
    let (revisions, revision_changes) = watch_revisions(&client);

    let context = Arc::new(Context {
        recorder: Recorder::new(client.clone(), Reporter::from(REPORTER)),
        client: client.clone(),
        pods,
        revisions,
    });
    let controller = Controller::new(Api::<StatefulSet>::all(client), watcher::Config::default());
    let sets = controller.store();
    controller
        .with_config(kube::runtime::controller::Config::default().concurrency(CONCURRENCY))
        .watches_stream(pod_changes, move |pod| owners(&pod, &sets))
        .watches_stream(revision_changes, |revision| {
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
    recorder: Recorder,
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

/// Keeps of a pod what this controller reads: identity, labels, owners,
/// volumes, phase and conditions.
fn trim_pod(pod: &mut Pod) {
    let meta = pod.meta_mut();
    meta.managed_fields = None;
    meta.annotations = None;
    if let Some(spec) = pod.spec.take() {
        pod.spec = Some(PodSpec {
            node_name: spec.node_name,
            volumes: spec.volumes,
            ..PodSpec::default()
        });
    }
    if let Some(status) = pod.status.take() {
        pod.status = Some(PodStatus {
            phase: status.phase,
            conditions: status.conditions,
            ..PodStatus::default()
        });
    }
}
