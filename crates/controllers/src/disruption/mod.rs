//! The disruption controller: keeps each PodDisruptionBudget's status
//! (expected, healthy and desired pods, disruptions allowed, evicted pods
//! not yet gone, the DisruptionAllowed condition) so that the eviction
//! subresource can refuse evictions that would break it.

pub mod scale;
pub mod status;

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, BoxStream};
use futures_util::{FutureExt, StreamExt};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, PostParams};
use kube::core::{Selector, SelectorExt};
use kube::runtime::controller::{applier, Action, Config};
use kube::runtime::events::{Event, EventType, Reporter};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use tokio::sync::{mpsc, oneshot};

use self::status::Counts;
use crate::events::EventRecorder;
use crate::informers::Subscription;
use crate::pods::{controller_of, is_ready};
use crate::watch_util::{self, Change};
use crate::{describe, status_code, Error};

/// How long a failed sync waits before it is tried again.
const RETRY_WAIT: Duration = Duration::from_secs(1);

struct Context {
    client: Client,
    budgets: Store<PodDisruptionBudget>,
    pods: Store<Pod>,
    recorder: EventRecorder,
}

/// Runs the controller until `shutdown` completes, from the shared pods.
pub async fn run(
    client: Client,
    pods: Subscription<Pod>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let (budgets, budget_changes) = watch_util::watch(
        Api::<PodDisruptionBudget>::all(client.clone()),
        watcher::Config::default(),
    );
    let reporter = Reporter {
        controller: "controllermanager".into(),
        instance: None,
    };
    let context = Arc::new(Context {
        recorder: EventRecorder::new(client.clone(), reporter),
        client,
        budgets,
        pods: pods.store(),
    });
    let (sender, receiver) = mpsc::unbounded_channel();
    let (stop_routing, routing_stopped) = oneshot::channel::<()>();
    let route = route(
        budget_changes.boxed(),
        pods.boxed(),
        sender,
        context.clone(),
        routing_stopped,
    );
    let queue = stream::unfold(receiver, |mut receiver| async move {
        receiver
            .recv()
            .await
            .map(|item| (Ok::<_, std::convert::Infallible>(item), receiver))
    })
    .take_until(shutdown);
    let controller = applier(
        |budget, ctx| Box::pin(sync(budget, ctx)),
        |budget: Arc<PodDisruptionBudget>, error: &Error, _| {
            tracing::debug!(budget = %budget.name_any(), %error, "PodDisruptionBudget sync will be retried");
            Action::requeue(RETRY_WAIT)
        },
        context.clone(),
        context.budgets.clone(),
        queue,
        Config::default(),
    )
    .for_each(|result| async move {
        match result {
            Err(kube::runtime::controller::Error::ObjectNotFound(_)) | Ok(_) => {}
            Err(error) => tracing::debug!(%error, "disruption controller"),
        }
    })
    .then(|()| async move {
        let _ = stop_routing.send(());
    });
    tokio::join!(route, controller);
}

enum Seen {
    Budget(Change<PodDisruptionBudget>),
    Pod(Change<Pod>),
}

/// Keeps the caches filled and turns their changes into syncs of the
/// budgets concerned, until `stop`.
async fn route(
    budgets: BoxStream<'static, Change<PodDisruptionBudget>>,
    pods: BoxStream<'static, Change<Pod>>,
    queue: mpsc::UnboundedSender<ObjectRef<PodDisruptionBudget>>,
    context: Arc<Context>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut all = stream::select_all([
        budgets.map(Seen::Budget).boxed(),
        pods.map(Seen::Pod).boxed(),
    ]);
    loop {
        let seen = tokio::select! {
            _ = &mut stop => return,
            seen = all.next() => seen,
        };
        let Some(seen) = seen else { return };
        let mut wanted = HashSet::new();
        match seen {
            Seen::Budget(Change::Relisted) | Seen::Pod(Change::Relisted) => {
                wanted.extend(
                    context
                        .budgets
                        .state()
                        .iter()
                        .map(|b| ObjectRef::from_obj(&**b)),
                );
            }
            Seen::Budget(change) => {
                wanted.extend(change.versions().map(|b| ObjectRef::from_obj(&**b)));
            }
            Seen::Pod(Change::Applied {
                old: Some(old),
                new,
            }) if !matters(&old, &new) => {}
            Seen::Pod(change) => {
                let budgets = context.budgets.state();
                for pod in change.versions() {
                    for budget in budgets.iter().filter(|b| covers(b, pod)) {
                        wanted.insert(ObjectRef::from_obj(&**budget));
                    }
                }
            }
        }
        for budget in wanted {
            let _ = queue.send(budget);
        }
    }
}

/// Whether a pod change can change a budget's status.
fn matters(old: &Pod, new: &Pod) -> bool {
    old.metadata.labels != new.metadata.labels
        || is_ready(old) != is_ready(new)
        || old.metadata.deletion_timestamp.is_some() != new.metadata.deletion_timestamp.is_some()
        || controller_of(&old.metadata) != controller_of(&new.metadata)
}

/// The budget's selector: `None` (a null selector) selects nothing, an
/// empty one every pod of the namespace, as in policy/v1.
fn selector_of(budget: &PodDisruptionBudget) -> Result<Option<Selector>, String> {
    match budget.spec.as_ref().and_then(|s| s.selector.clone()) {
        None => Ok(None),
        Some(selector) => Selector::try_from(selector)
            .map(Some)
            .map_err(|error| error.to_string()),
    }
}

/// Whether the budget covers the pod.
fn covers(budget: &PodDisruptionBudget, pod: &Pod) -> bool {
    budget.namespace() == pod.namespace()
        && matches!(selector_of(budget), Ok(Some(selector)) if selector.matches(pod.labels()))
}

fn reference(budget: &PodDisruptionBudget) -> ObjectReference {
    budget.object_ref(&())
}

async fn record(
    context: &Context,
    regarding: &ObjectReference,
    type_: EventType,
    reason: &str,
    note: String,
) {
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: "Sync".into(),
        secondary: None,
    };
    if let Err(error) = context.recorder.publish(&event, regarding).await {
        tracing::debug!(%error, "cannot record event");
    }
}

/// Syncs one budget's status (upstream's sync and trySync).
async fn sync(budget: Arc<PodDisruptionBudget>, context: Arc<Context>) -> Result<Action, Error> {
    context
        .pods
        .wait_until_ready()
        .await
        .map_err(|_| Error::new("caches were dropped"))?;
    match try_sync(&budget, &context).await {
        Ok(action) => Ok(action),
        // A conflict is retried as is: the cache was behind.
        Err(Failure::Api(error)) if status_code(&error) == Some(409) => Err(error.into()),
        Err(failure) => {
            let message = failure.to_string();
            tracing::info!(budget = %budget.name_any(), %message, "failed to sync PodDisruptionBudget");
            let mut safe = (*budget).clone();
            safe.status = Some(status::fail_safe_status(
                &budget,
                &message,
                Timestamp::now(),
            ));
            write_status(&context, &safe).await.map_err(Error::from)?;
            Err(Error::new(message))
        }
    }
}

enum Failure {
    Api(kube::Error),
    Other(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Api(error) => f.write_str(&describe(error)),
            Failure::Other(message) => f.write_str(message),
        }
    }
}

async fn try_sync(budget: &PodDisruptionBudget, context: &Context) -> Result<Action, Failure> {
    let regarding = reference(budget);
    let namespace = budget.namespace().unwrap_or_default();
    let pods: Vec<Arc<Pod>> = match selector_of(budget) {
        Err(message) => {
            record(
                context,
                &regarding,
                EventType::Warning,
                "NoPods",
                format!("Failed to get pods: {message}"),
            )
            .await;
            return Err(Failure::Other(message));
        }
        Ok(None) => Vec::new(),
        Ok(Some(selector)) => context
            .pods
            .state()
            .into_iter()
            .filter(|pod| pod.namespace().as_deref() == Some(namespace.as_str()))
            .filter(|pod| selector.matches(pod.labels()))
            .collect(),
    };
    if pods.is_empty() {
        record(
            context,
            &regarding,
            EventType::Normal,
            "NoPods",
            "No matching pods found".into(),
        )
        .await;
    }
    let pod_count = i32::try_from(pods.len()).unwrap_or(i32::MAX);
    let scale = if status::needs_scale(budget) {
        match scale::expected_scale(&context.client, &namespace, &pods).await {
            Ok((scale, unmanaged)) => {
                if !unmanaged.is_empty() {
                    let selector = selector_of(budget)
                        .ok()
                        .flatten()
                        .map(|s| s.to_string())
                        .unwrap_or_default();
                    record(
                        context,
                        &regarding,
                        EventType::Warning,
                        "UnmanagedPods",
                        format!(
                            "Pods selected by this PodDisruptionBudget (selector: {selector}) were found to be unmanaged. \
                             As a result, the status of the PDB cannot be calculated correctly, which may result in undefined behavior. \
                             To account for these pods please set \".spec.minAvailable\" field of the PDB to an integer value."
                        ),
                    )
                    .await;
                }
                Some(scale)
            }
            Err(message) => {
                record(
                    context,
                    &regarding,
                    EventType::Warning,
                    "CalculateExpectedPodCountFailed",
                    format!("Failed to calculate the number of expected pods: {message}"),
                )
                .await;
                return Err(Failure::Other(message));
            }
        }
    } else {
        None
    };
    let (expected_pods, desired_healthy) =
        status::expected_and_desired(budget, pod_count, scale).map_err(Failure::Other)?;
    let now = Timestamp::now();
    let recorded = budget
        .status
        .as_ref()
        .and_then(|s| s.disrupted_pods.as_ref());
    let (disrupted_pods, recheck, overdue) = status::still_disrupted(&pods, recorded, now);
    for name in overdue {
        let regarding = ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            name: Some(name),
            namespace: Some(namespace.clone()),
            ..ObjectReference::default()
        };
        let note = format!(
            "Pod was expected by PDB {namespace}/{} to be deleted but it wasn't",
            budget.name_any()
        );
        record(context, &regarding, EventType::Warning, "NotDeleted", note).await;
    }
    let counts = Counts {
        current_healthy: status::count_healthy(&pods, &disrupted_pods, now),
        desired_healthy,
        expected_pods,
        disrupted_pods,
    };
    if let Some(new) = status::new_status(budget, counts, now) {
        let mut updated = budget.clone();
        updated.status = Some(new);
        write_status(context, &updated)
            .await
            .map_err(Failure::Api)?;
    }
    Ok(match recheck {
        Some(at) => {
            let wait = at.duration_since(now).unsigned_abs();
            Action::requeue(wait.max(Duration::from_millis(100)))
        }
        None => Action::await_change(),
    })
}

/// Writes the budget's status (an update of `status`, guarded by the
/// resourceVersion the cache had).
async fn write_status(context: &Context, budget: &PodDisruptionBudget) -> Result<(), kube::Error> {
    let api: Api<PodDisruptionBudget> = Api::namespaced(
        context.client.clone(),
        &budget.namespace().unwrap_or_default(),
    );
    api.replace_status(&budget.name_any(), &PostParams::default(), budget)
        .await
        .map(|_| ())
}
