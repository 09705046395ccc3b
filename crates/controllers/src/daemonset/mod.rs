//! The DaemonSet controller: one pod on every eligible node (upstream's
//! `pkg/controller/daemon`). Pods are created pinned to their node by a
//! required node affinity and the scheduler binds them; templates are
//! recorded as ControllerRevisions so that `kubectl rollout` works.

pub mod eligibility;
mod expectations;
pub mod plan;
mod sync;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{future, StreamExt};
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::Reporter;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};

use self::expectations::Expectations;
use crate::events::EventRecorder;
use crate::history::{claim, controlling_owner, Claim};
use crate::informers::Subscription;
use crate::pods::controller_of;
use crate::watch_util::Change;
use crate::Error;

/// The name events are reported under, as upstream.
const REPORTER: &str = "daemonset-controller";

/// DaemonSets synced at once; upstream's --concurrent-daemonset-syncs.
const CONCURRENCY: u16 = 2;

/// Runs the controller until `shutdown` completes, from the shared pods,
/// nodes and ControllerRevisions.
pub async fn run(
    client: Client,
    pods: Subscription<Pod>,
    nodes: Subscription<Node>,
    revisions: Subscription<ControllerRevision>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let context = Arc::new(Context {
        recorder: EventRecorder::new(client.clone(), Reporter::from(REPORTER)),
        client: client.clone(),
        pods: pods.store(),
        nodes: nodes.store(),
        revisions: revisions.store(),
        expectations: Expectations::default(),
        failed_backoff: Mutex::default(),
    });
    let controller = Controller::new(Api::<DaemonSet>::all(client), watcher::Config::default());
    let daemon_sets = controller.store();
    controller
        .with_config(kube::runtime::controller::Config::default().concurrency(CONCURRENCY))
        .watches_shared_stream(pods.touched(), move |pod| owners(&pod, &daemon_sets))
        .watches_shared_stream(revisions.touched(), |revision| {
            controlling_owner(&revision.metadata)
        })
        .reconcile_all_on(
            nodes.filter_map(|change| future::ready(moves_daemons(&change).then_some(()))),
        )
        .graceful_shutdown_on(shutdown)
        .run(sync::reconcile, error_policy, context)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "daemonset controller");
            }
        })
        .await;
}

/// What a reconcile reads and keeps between runs.
pub(crate) struct Context {
    client: Client,
    recorder: EventRecorder,
    pods: Store<Pod>,
    nodes: Store<Node>,
    revisions: Store<ControllerRevision>,
    expectations: Expectations,
    /// Back-off for replacing failed pods, by `namespace/name/node`: a pod
    /// that fails at once must not be replaced in a hot loop.
    failed_backoff: Mutex<HashMap<String, (Instant, Duration)>>,
}

fn error_policy(ds: Arc<DaemonSet>, error: &Error, _: Arc<Context>) -> Action {
    tracing::info!(daemonset = %ds.name_any(), %error, "daemonset sync will be retried");
    Action::requeue(Duration::from_secs(5))
}

/// The DaemonSets a pod change concerns: its controller, or for an orphan
/// those whose selector would adopt it.
fn owners(pod: &Pod, daemon_sets: &Store<DaemonSet>) -> Vec<ObjectRef<DaemonSet>> {
    let namespace = pod.namespace().unwrap_or_default();
    if controller_of(&pod.metadata).is_some() {
        return controlling_owner(&pod.metadata).into_iter().collect();
    }
    daemon_sets
        .state()
        .iter()
        .filter(|ds| ds.namespace().as_deref() == Some(namespace.as_str()))
        .filter(|ds| {
            let Some(spec) = ds.spec.as_ref() else {
                return false;
            };
            let uid = ds.uid().unwrap_or_default();
            claim(&pod.metadata, &uid, &spec.selector, true) == Claim::Adopt
        })
        .map(|ds| ObjectRef::from_obj(&**ds))
        .collect()
}

/// Whether a node change can change where daemons run (names, labels,
/// taints): every new node, deletion and re-list, but not heartbeats, so
/// that they do not resync every DaemonSet.
fn moves_daemons(change: &Change<Node>) -> bool {
    match change {
        Change::Applied {
            old: Some(old),
            new,
        } => old.metadata.labels != new.metadata.labels || old.spec != new.spec,
        Change::Applied { old: None, .. } | Change::Deleted(_) | Change::Relisted => true,
    }
}
