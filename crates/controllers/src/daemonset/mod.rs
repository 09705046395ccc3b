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
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{future, StreamExt};
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Node, Pod, PodSpec, PodStatus};
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, Resource, ResourceExt};

use self::expectations::Expectations;
use crate::history::{claim, controlling_owner, watch_revisions, Claim};
use crate::pods::controller_of;
use crate::Error;

/// The name events are reported under, as upstream.
const REPORTER: &str = "daemonset-controller";

/// DaemonSets synced at once; upstream's --concurrent-daemonset-syncs.
const CONCURRENCY: u16 = 2;

/// Runs the controller until `shutdown` completes.
pub async fn run(client: Client, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let (pods, pod_writer) = reflector::store();
    let pod_changes = watcher(Api::<Pod>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .modify(trim_pod)
        .reflect(pod_writer)
        .touched_objects();
    let (nodes, node_writer) = reflector::store();
    let node_changes = watcher(Api::<Node>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .modify(trim_node)
        .reflect(node_writer);
    let (revisions, revision_changes) = watch_revisions(&client);

    let context = Arc::new(Context {
        recorder: Recorder::new(client.clone(), Reporter::from(REPORTER)),
        client: client.clone(),
        pods,
        nodes,
        revisions,
        expectations: Expectations::default(),
        failed_backoff: Mutex::default(),
    });
    let controller = Controller::new(Api::<DaemonSet>::all(client), watcher::Config::default());
    let daemon_sets = controller.store();
    controller
        .with_config(kube::runtime::controller::Config::default().concurrency(CONCURRENCY))
        .watches_stream(pod_changes, move |pod| owners(&pod, &daemon_sets))
        .watches_stream(revision_changes, |revision| {
            controlling_owner(&revision.metadata)
        })
        .reconcile_all_on(node_changes.filter_map(placement_changes()))
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
    recorder: Recorder,
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

/// A filter passing on only node changes that can change where daemons
/// run (names, labels, taints), and every deletion and re-list; heartbeats
/// are dropped so they do not resync every DaemonSet.
fn placement_changes(
) -> impl FnMut(Result<watcher::Event<Node>, watcher::Error>) -> future::Ready<Option<()>> {
    let mut seen: HashMap<String, u64> = HashMap::new();
    move |event| {
        let relevant = match event {
            Ok(watcher::Event::Apply(node) | watcher::Event::InitApply(node)) => {
                let mut hasher = DefaultHasher::new();
                node.metadata.labels.hash(&mut hasher);
                serde_json::to_string(&node.spec)
                    .unwrap_or_default()
                    .hash(&mut hasher);
                let shape = hasher.finish();
                seen.insert(node.name_any(), shape) != Some(shape)
            }
            Ok(watcher::Event::Delete(node)) => {
                seen.remove(&node.name_any());
                true
            }
            Ok(watcher::Event::InitDone) => true,
            Ok(watcher::Event::Init) | Err(_) => false,
        };
        future::ready(relevant.then_some(()))
    }
}

/// Keeps of a node what placement reads: name, labels and spec.
fn trim_node(node: &mut Node) {
    node.metadata.managed_fields = None;
    node.metadata.annotations = None;
    node.status = None;
}

/// Keeps of a pod what this controller reads: identity, labels, owners,
/// its node (bound or targeted), phase and conditions.
fn trim_pod(pod: &mut Pod) {
    let meta = pod.meta_mut();
    meta.managed_fields = None;
    meta.annotations = None;
    if let Some(spec) = pod.spec.take() {
        let node_affinity = spec.affinity.and_then(|a| a.node_affinity);
        pod.spec = Some(PodSpec {
            node_name: spec.node_name,
            affinity: node_affinity.map(|node_affinity| k8s_openapi::api::core::v1::Affinity {
                node_affinity: Some(node_affinity),
                ..Default::default()
            }),
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
