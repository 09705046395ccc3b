//! ReplicaSet and ReplicationController: keep the count of pods matching
//! the selector, as upstream's replicaset controller, which runs both kinds
//! through one algorithm. One pod cache serves both.

pub mod expectations;
pub mod index;
pub mod owner;
pub mod ranking;
pub mod sync;

use std::convert::Infallible;
use std::future::{ready, Future};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{stream, FutureExt, Stream, StreamExt};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use kube::api::Api;
use kube::runtime::controller::{applier, Action, Config};
use kube::runtime::events::Reporter;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use tokio::sync::mpsc;

use self::expectations::Expectations;
use self::index::PodIndex;
use self::owner::ReplicaOwner;
use crate::events::EventRecorder;
use crate::history::selector_matches;
use crate::informers::Subscription;
use crate::pods::controller_of;
use crate::watch_util::{self, Change};
use crate::Error;

/// Owners reconciled at once (upstream's --concurrent-replicaset-syncs).
const CONCURRENCY: u16 = 5;

/// What one kind's reconciles share.
pub struct Context<K: ReplicaOwner> {
    client: Client,
    pods: Store<Pod>,
    /// The pods each owner may claim; shared by both kinds.
    index: Arc<PodIndex>,
    owners: Store<K>,
    expectations: Expectations,
    recorder: EventRecorder,
}

impl<K: ReplicaOwner> Context<K> {
    fn new(client: Client, pods: Store<Pod>, index: Arc<PodIndex>, owners: Store<K>) -> Context<K> {
        let reporter = Reporter {
            controller: K::REPORTER.into(),
            instance: None,
        };
        Context {
            recorder: EventRecorder::new(client.clone(), reporter),
            client,
            pods,
            index,
            owners,
            expectations: Expectations::default(),
        }
    }

    /// Notes what a pod change means for this kind's expectations, and
    /// names the owners it concerns: its controller, or while it is an
    /// orphan, every owner whose selector matches it.
    fn pod_changed(&self, change: &Change<Pod>) -> Vec<ObjectRef<K>> {
        match change {
            Change::Applied { old, new } => {
                if let Some(owner) = self.owner_key(new) {
                    if old.is_none() && new.metadata.deletion_timestamp.is_none() {
                        self.expectations.creation_observed(&owner);
                    }
                    if new.metadata.deletion_timestamp.is_some() {
                        self.expectations
                            .deletion_observed(&owner, &sync::pod_key(new));
                    }
                }
            }
            Change::Deleted(pod) => {
                if let Some(owner) = self.owner_key(pod) {
                    self.expectations
                        .deletion_observed(&owner, &sync::pod_key(pod));
                }
            }
            Change::Relisted => {}
        }
        let mut owners = Vec::new();
        for pod in change.versions() {
            owners.extend(self.owners_of(pod));
        }
        owners.dedup();
        owners
    }

    /// `namespace/name` of the pod's controller if it is of this kind.
    fn owner_key(&self, pod: &Pod) -> Option<String> {
        let reference = controller_of(&pod.metadata)?;
        (reference.kind == K::kind(&()) && reference.api_version == K::api_version(&()))
            .then(|| format!("{}/{}", pod.namespace().unwrap_or_default(), reference.name))
    }

    fn owners_of(&self, pod: &Pod) -> Vec<ObjectRef<K>> {
        let namespace = pod.namespace().unwrap_or_default();
        match controller_of(&pod.metadata) {
            Some(reference) => {
                if reference.kind == K::kind(&()) && reference.api_version == K::api_version(&()) {
                    vec![ObjectRef::new(&reference.name).within(&namespace)]
                } else {
                    Vec::new()
                }
            }
            None => self
                .owners
                .state()
                .iter()
                .filter(|o| o.namespace().as_deref() == Some(&namespace))
                .filter(|o| {
                    o.selector()
                        .is_some_and(|s| selector_matches(&s, pod.metadata.labels.as_ref()))
                })
                .map(|o| ObjectRef::from_obj(o.as_ref()))
                .collect(),
        }
    }
}

/// Runs the controller for both kinds until `shutdown` completes, from
/// the shared pods and ReplicaSets.
pub async fn run(
    client: Client,
    pods: Subscription<Pod>,
    replica_sets: Subscription<ReplicaSet>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let shutdown = shutdown.shared();
    let (controllers, controller_changes) = watch_util::watch(
        Api::<ReplicationController>::all(client.clone()),
        watcher::Config::default(),
    );
    let index = Arc::new(PodIndex::default());
    let set_context = Arc::new(Context::new(
        client.clone(),
        pods.store(),
        index.clone(),
        replica_sets.store(),
    ));
    let controller_context = Arc::new(Context::new(
        client,
        pods.store(),
        index.clone(),
        controllers,
    ));
    let (to_sets, set_triggers) = mpsc::unbounded_channel();
    let (to_controllers, controller_triggers) = mpsc::unbounded_channel();
    let route = {
        let set_context = set_context.clone();
        let controller_context = controller_context.clone();
        let cache = pods.store();
        pods.take_until(shutdown.clone()).for_each(move |change| {
            // Filed before any owner is woken, so its reconcile finds it.
            index.apply(&change, &cache);
            for owner in set_context.pod_changed(&change) {
                let _ = to_sets.send(owner);
            }
            for owner in controller_context.pod_changed(&change) {
                let _ = to_controllers.send(owner);
            }
            ready(())
        })
    };
    tokio::join!(
        route,
        run_kind(set_context, replica_sets, set_triggers, shutdown.clone()),
        run_kind(
            controller_context,
            controller_changes,
            controller_triggers,
            shutdown
        ),
    );
}

async fn run_kind<K: ReplicaOwner>(
    context: Arc<Context<K>>,
    changes: impl Stream<Item = Change<K>> + Send + 'static,
    pod_triggers: mpsc::UnboundedReceiver<ObjectRef<K>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let forget = context.clone();
    let own = changes.filter_map(move |change| {
        ready(match change {
            Change::Applied { new, .. } => Some(ObjectRef::from_obj(new.as_ref())),
            Change::Deleted(owner) => {
                let key = format!(
                    "{}/{}",
                    owner.namespace().unwrap_or_default(),
                    owner.name_any()
                );
                forget.expectations.forget(&key);
                None
            }
            Change::Relisted => None,
        })
    });
    let from_pods = stream::unfold(pod_triggers, |mut receiver| async move {
        receiver.recv().await.map(|owner| (owner, receiver))
    });
    let queue = stream::select(own, from_pods)
        .take_until(shutdown)
        .map(Ok::<_, Infallible>);
    let store = context.owners.clone();
    applier(
        |owner, context| Box::pin(sync::reconcile::<K>(owner, context)),
        error_policy::<K>,
        context,
        store,
        queue,
        Config::default().concurrency(CONCURRENCY),
    )
    .for_each(|result| async move {
        if let Err(error) = result {
            tracing::debug!(%error, kind = %K::kind(&()), "replica controller");
        }
    })
    .await;
}

fn error_policy<K: ReplicaOwner>(owner: Arc<K>, error: &Error, _: Arc<Context<K>>) -> Action {
    tracing::info!(kind = %K::kind(&()), name = %owner.name_any(), %error, "sync failed; retrying");
    Action::requeue(Duration::from_secs(5))
}
