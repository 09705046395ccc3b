//! Endpoints and EndpointSlices from Service selectors and pod readiness:
//! upstream's endpoints controller ([`endpoints_sync`]), EndpointSlice
//! controller ([`slices_sync`]) and EndpointSlice mirroring controller
//! ([`mirroring`]), sharing one watch of each kind they read.
//!
//! Services without a selector are left alone by the first two, as
//! upstream: their Endpoints are made by hand (or, for `kubernetes`, by the
//! API server) and mirrored into EndpointSlices by the third.

pub mod endpoints_sync;
pub mod membership;
pub mod mirroring;
mod routing;
pub mod slices;
pub mod slices_sync;
pub mod subsets;
pub mod trigger_time;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::{Endpoints, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::controller::{applier, Action, Config};
use kube::runtime::events::Reporter;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use tokio::sync::mpsc;

use self::trigger_time::TriggerTimes;
use crate::events::EventRecorder;
use crate::informers::Subscription;
use crate::watch_util;
use crate::Error;

/// Services synced at once by each controller (upstream's
/// --concurrent-service-endpoint-syncs and
/// --concurrent-service-endpointslice-syncs default to 5).
const CONCURRENCY: u16 = 5;

/// What the controllers read and write through.
pub struct Context {
    client: Client,
    services: Store<Service>,
    pods: Store<Pod>,
    /// Only read, for zones: a pod left out for want of its node is
    /// retried by its Service's sync.
    nodes: Store<Node>,
    endpoints: Store<Endpoints>,
    slices: Store<EndpointSlice>,
    endpoints_recorder: EventRecorder,
    slices_recorder: EventRecorder,
    endpoints_times: TriggerTimes,
    slices_times: TriggerTimes,
}

impl Context {
    /// Waits until every cache has been listed once: before that, a
    /// missing object may just not have been seen yet.
    async fn ready(&self) -> Result<(), Error> {
        let gone = |_| Error::new("caches were dropped");
        self.services.wait_until_ready().await.map_err(gone)?;
        self.pods.wait_until_ready().await.map_err(gone)?;
        self.nodes.wait_until_ready().await.map_err(gone)?;
        self.endpoints.wait_until_ready().await.map_err(gone)?;
        self.slices.wait_until_ready().await.map_err(gone)?;
        Ok(())
    }

    /// The pods the Service selects, from the cache.
    fn pods_of(&self, service: &Service) -> Vec<Arc<Pod>> {
        let namespace = service.namespace();
        self.pods
            .state()
            .into_iter()
            .filter(|pod| pod.namespace() == namespace)
            .filter(|pod| membership::selects(service, pod.labels()))
            .collect()
    }

    /// The Service of this name, from the cache.
    fn service(&self, namespace: &str, name: &str) -> Option<Arc<Service>> {
        self.services.get(&ObjectRef::new(name).within(namespace))
    }
}

/// Runs the controllers until `shutdown` completes, from the shared pods
/// and the shared cache of nodes (only read, for zones).
pub async fn run(
    client: Client,
    pods: Subscription<Pod>,
    nodes: Store<Node>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let shutdown = shutdown.shared();
    let all = watcher::Config::default();
    let (services, service_changes) =
        watch_util::watch(Api::<Service>::all(client.clone()), all.clone());
    let (endpoints, endpoints_changes) =
        watch_util::watch(Api::<Endpoints>::all(client.clone()), all.clone());
    let (slices, slice_changes) = watch_util::watch(Api::<EndpointSlice>::all(client.clone()), all);
    let reporter = |name: &str| Reporter {
        controller: name.into(),
        instance: None,
    };
    let context = Arc::new(Context {
        endpoints_recorder: EventRecorder::new(client.clone(), reporter("endpoint-controller")),
        slices_recorder: EventRecorder::new(client.clone(), reporter("endpoint-slice-controller")),
        client,
        services,
        pods: pods.store(),
        nodes,
        endpoints,
        slices,
        endpoints_times: TriggerTimes::default(),
        slices_times: TriggerTimes::default(),
    });

    let (queues, receivers) = routing::queues();
    let changes = routing::Changes {
        services: service_changes.boxed(),
        pods: pods.boxed(),
        endpoints: endpoints_changes.boxed(),
        slices: slice_changes.boxed(),
    };
    let (stop_routing, routing_stopped) = tokio::sync::oneshot::channel::<()>();
    let route = routing::route(changes, queues, context.clone(), routing_stopped);

    let config = Config::default().concurrency(CONCURRENCY);
    let endpoints_controller = drive(
        "endpoint",
        applier(
            |service, ctx| Box::pin(endpoints_sync::sync(service, ctx)),
            retry_policy,
            context.clone(),
            context.services.clone(),
            queue(receivers.endpoints, shutdown.clone()),
            config.clone(),
        ),
    );
    let slices_controller = drive(
        "endpointslice",
        applier(
            |service, ctx| Box::pin(slices_sync::sync(service, ctx)),
            retry_policy,
            context.clone(),
            context.services.clone(),
            queue(receivers.slices, shutdown.clone()),
            config.clone(),
        ),
    );
    let mirroring_controller = drive(
        "endpointslicemirroring",
        applier(
            |endpoints, ctx| Box::pin(mirroring::sync_endpoints(endpoints, ctx)),
            retry_policy,
            context.clone(),
            context.endpoints.clone(),
            queue(receivers.mirror, shutdown.clone()),
            config.clone(),
        ),
    );
    let orphans_controller = drive(
        "endpointslice orphans",
        applier(
            |slice, ctx| Box::pin(mirroring::sync_slice(slice, ctx)),
            retry_policy,
            context.clone(),
            context.slices.clone(),
            queue(receivers.orphans, shutdown),
            config,
        ),
    );
    let controllers = async move {
        tokio::join!(
            endpoints_controller,
            slices_controller,
            mirroring_controller,
            orphans_controller
        );
        // Only now: a sync under way may still wait for the caches.
        let _ = stop_routing.send(());
    };
    tokio::join!(route, controllers);
}

/// A controller's queue: what the routing sends it, until shutdown.
fn queue<K>(
    receiver: mpsc::UnboundedReceiver<ObjectRef<K>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> impl futures_util::Stream<Item = Result<ObjectRef<K>, std::convert::Infallible>> + Send
where
    K: Resource<DynamicType = ()> + Send + Sync + 'static,
{
    futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (Ok(item), receiver))
    })
    .take_until(shutdown)
}

/// Polls a controller to the end, logging failed syncs.
async fn drive<K, E1, E2>(
    name: &'static str,
    results: impl futures_util::Stream<
        Item = Result<(ObjectRef<K>, Action), kube::runtime::controller::Error<E1, E2>>,
    >,
) where
    K: Resource,
    E1: std::error::Error + 'static,
    E2: std::error::Error + 'static,
{
    results
        .for_each(|result| async move {
            match result {
                Err(kube::runtime::controller::Error::ObjectNotFound(_)) | Ok(_) => {}
                Err(error) => tracing::debug!(%error, "{name} controller"),
            }
        })
        .await;
}

/// How long a failed sync waits before it is tried again. Most failures
/// are conflicts with a cache that had not yet seen the last write.
const RETRY_WAIT: Duration = Duration::from_millis(500);

fn retry_policy<K>(object: Arc<K>, error: &Error, _: Arc<Context>) -> Action
where
    K: Resource,
{
    let name = object.meta().name.clone().unwrap_or_default();
    tracing::debug!(%name, %error, "endpoints sync will be retried");
    Action::requeue(RETRY_WAIT)
}

/// Whether an API error means the namespace is being terminated, so
/// nothing more can be created in it.
pub(crate) fn namespace_terminating(error: &kube::Error) -> bool {
    let kube::Error::Api(status) = error else {
        return false;
    };
    let by_cause = status.details.as_ref().is_some_and(|details| {
        details
            .causes
            .iter()
            .any(|cause| cause.reason == "NamespaceTerminating")
    });
    status.code == 403 && (by_cause || status.message.contains("because it is being terminated"))
}
