//! Deployment: rollouts (RollingUpdate, Recreate), revisions, rollback,
//! pause and resume through ReplicaSets, as upstream's deployment
//! controller. `kubectl rollout undo` needs nothing of its own here: it
//! puts an old ReplicaSet's template back into the Deployment, and the
//! controller then finds that ReplicaSet new again and gives it the next
//! revision.

pub mod rollout;
pub mod sync;
pub mod util;

use std::convert::Infallible;
use std::future::{ready, Future};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{stream, FutureExt, StreamExt};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::api::Api;
use kube::runtime::controller::{applier, Action, Config};
use kube::runtime::events::Reporter;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};

use crate::events::EventRecorder;
use crate::history::selector_matches;
use crate::informers::Subscription;
use crate::pods::controller_of;
use crate::watch_util::{self, Change};
use crate::Error;

/// Deployments reconciled at once (upstream's --concurrent-deployment-syncs).
const CONCURRENCY: u16 = 5;

/// What the reconciles share.
pub struct Context {
    client: Client,
    deployments: Store<Deployment>,
    replica_sets: Store<ReplicaSet>,
    recorder: EventRecorder,
}

impl Context {
    /// The Deployments a ReplicaSet change concerns: its controller, or
    /// while it is an orphan, every Deployment whose selector matches it.
    fn owners_of(&self, rs: &ReplicaSet) -> Vec<ObjectRef<Deployment>> {
        let namespace = rs.namespace().unwrap_or_default();
        match controller_of(&rs.metadata) {
            Some(owner) if owner.kind == "Deployment" && owner.api_version == "apps/v1" => {
                vec![ObjectRef::new(&owner.name).within(&namespace)]
            }
            Some(_) => Vec::new(),
            None => self
                .deployments
                .state()
                .iter()
                .filter(|d| d.namespace().as_deref() == Some(&namespace))
                .filter(|d| {
                    d.spec
                        .as_ref()
                        .is_some_and(|s| selector_matches(&s.selector, rs.metadata.labels.as_ref()))
                })
                .map(|d| ObjectRef::from_obj(d.as_ref()))
                .collect(),
        }
    }
}

/// Runs the controller until `shutdown` completes, from the shared
/// ReplicaSets.
pub async fn run(
    client: Client,
    replica_sets: Subscription<ReplicaSet>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let shutdown = shutdown.shared();
    let (deployments, deployment_changes) = watch_util::watch(
        Api::<Deployment>::all(client.clone()),
        watcher::Config::default(),
    );
    let reporter = Reporter {
        controller: "deployment-controller".into(),
        instance: None,
    };
    let context = Arc::new(Context {
        recorder: EventRecorder::new(client.clone(), reporter),
        client,
        deployments: deployments.clone(),
        replica_sets: replica_sets.store(),
    });
    let own = deployment_changes.filter_map(|change| {
        ready(match change {
            Change::Applied { new, .. } => Some(vec![ObjectRef::from_obj(new.as_ref())]),
            _ => None,
        })
    });
    let routing = context.clone();
    let from_sets = replica_sets.map(move |change| {
        let mut owners: Vec<ObjectRef<Deployment>> = change
            .versions()
            .flat_map(|rs| routing.owners_of(rs))
            .collect();
        owners.dedup();
        owners
    });
    let queue = stream::select(own, from_sets)
        .flat_map(stream::iter)
        .take_until(shutdown)
        .map(Ok::<_, Infallible>);
    applier(
        |deployment, context| Box::pin(reconcile(deployment, context)),
        error_policy,
        context,
        deployments,
        queue,
        Config::default().concurrency(CONCURRENCY),
    )
    .for_each(|result| async move {
        if let Err(error) = result {
            tracing::debug!(%error, "deployment controller");
        }
    })
    .await;
}

async fn reconcile(deployment: Arc<Deployment>, context: Arc<Context>) -> Result<Action, Error> {
    if context.replica_sets.wait_until_ready().await.is_err() {
        return Err(Error::new("the ReplicaSet cache is gone"));
    }
    let next = sync::Sync::new(&context, &deployment).run().await?;
    Ok(next.map_or_else(Action::await_change, Action::requeue))
}

fn error_policy(deployment: Arc<Deployment>, error: &Error, _: Arc<Context>) -> Action {
    tracing::info!(deployment = %deployment.name_any(), %error, "sync failed; retrying");
    Action::requeue(Duration::from_secs(2))
}
