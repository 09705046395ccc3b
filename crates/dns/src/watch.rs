//! Keeps the zone's snapshot current: kube reflectors cache Services,
//! EndpointSlices and Namespaces of all namespaces, and each burst of
//! changes becomes one new [`Records`] snapshot.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{stream, Stream, StreamExt};
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::serde::de::DeserializeOwned;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, Resource};
use tokio::sync::watch;

use crate::records::{Records, Zone};

/// How long changes are gathered before a snapshot is rebuilt: a burst of
/// updates (a rollout, the initial list) costs one rebuild, and a change
/// reaches DNS within this delay.
const COALESCE: Duration = Duration::from_millis(100);

/// The kinds watched, as indexes into the "has listed" flags.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Services = 0,
    EndpointSlices = 1,
    Namespaces = 2,
}

/// What a watch event means for the snapshot.
enum Signal {
    /// The cache changed.
    Changed,
    /// The cache holds a whole (re-)list of `Kind`.
    Listed(Kind),
    /// Nothing the cache shows yet (a re-list under way, a failed watch
    /// that kube's watcher retries with back-off).
    Unchanged,
}

/// Notes `signal` in the "has listed" flags; whether the cache changed.
fn note(signal: Signal, listed: &mut [bool; 3]) -> bool {
    match signal {
        Signal::Changed => true,
        Signal::Listed(kind) => {
            listed[kind as usize] = true;
            true
        }
        Signal::Unchanged => false,
    }
}

/// Publishes a new snapshot on `publish` after every burst of changes.
/// Runs until dropped; watch errors are retried, never fatal.
pub(crate) async fn follow_cluster(
    client: Client,
    zone: Arc<Zone>,
    publish: watch::Sender<Arc<Records>>,
) {
    let (services, service_signals) = cache::<Service>(Api::all(client.clone()), Kind::Services);
    let (slices, slice_signals) =
        cache::<EndpointSlice>(Api::all(client.clone()), Kind::EndpointSlices);
    let (namespaces, namespace_signals) = cache::<Namespace>(Api::all(client), Kind::Namespaces);
    let signals = stream::select(
        service_signals,
        stream::select(slice_signals, namespace_signals),
    );
    tokio::pin!(signals);
    // Until Services and EndpointSlices have listed once, the snapshot is
    // partial: names it lacks may exist. Namespaces only add names (pods in
    // namespaces without Services), so a namespace watch that cannot list
    // (RBAC) does not hold the zone back.
    let mut listed = [false; 3];
    loop {
        let Some(first) = signals.next().await else {
            return;
        };
        let mut changed = note(first, &mut listed);
        let window = tokio::time::sleep(COALESCE);
        tokio::pin!(window);
        loop {
            tokio::select! {
                signal = signals.next() => match signal {
                    Some(signal) => changed |= note(signal, &mut listed),
                    None => return,
                },
                () = &mut window => break,
            }
        }
        if !changed {
            continue;
        }
        let synced = listed[Kind::Services as usize] && listed[Kind::EndpointSlices as usize];
        let snapshot = Records::build(
            zone.clone(),
            &services.state(),
            &slices.state(),
            &namespaces.state(),
            synced,
        );
        tracing::debug!(synced, "DNS records rebuilt");
        publish.send_replace(Arc::new(snapshot));
    }
}

/// A reflector cache of every `K`, and the signals of its watch, which must
/// be polled for the cache to fill.
fn cache<K>(api: Api<K>, kind: Kind) -> (Store<K>, impl Stream<Item = Signal> + Send + 'static)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store::<K>();
    let signals = watcher(api, watcher::Config::default())
        .default_backoff()
        .modify(|object: &mut K| {
            // DNS reads none of this; dropping it keeps the caches small.
            let metadata = object.meta_mut();
            metadata.managed_fields = None;
            metadata.annotations = None;
        })
        .reflect(writer)
        .map(move |event| match event {
            Ok(watcher::Event::InitDone) => Signal::Listed(kind),
            // A re-list fills the cache only when it is done.
            Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => Signal::Unchanged,
            Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_)) => Signal::Changed,
            Err(error) => {
                tracing::warn!(?kind, %error, "DNS watch failed; retrying");
                Signal::Unchanged
            }
        });
    (reader, signals)
}
