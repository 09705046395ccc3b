//! Garbage collector: deletes dependents of deleted owners, as upstream's.
//! Every kind the API serves that can be listed, watched and deleted is
//! watched for metadata only; the graph of owner references they show
//! says what to do: dependents whose owners are gone are deleted
//! (background), an owner deleted in the foreground waits for its
//! blocking dependents to go before its `foregroundDeletion` finalizer is
//! removed, and an owner deleted with `orphan` first has its references
//! stripped from its dependents. The API server puts those finalizers on
//! an owner when a delete asks for that propagation.

pub mod collector;
pub mod graph;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::core::PartialObjectMeta;
use kube::discovery::{verbs, ApiResource, Discovery, Scope};
use kube::runtime::watcher::{self, watcher};
use kube::runtime::WatchStreamExt;
use kube::Client;
use tokio::task::JoinHandle;

use self::collector::{Collector, Kind};
use self::graph::Identity;

/// Items worked on at once (upstream's --concurrent-gc-syncs).
const WORKERS: usize = 20;

/// How often the served kinds are looked up again, so that custom
/// resources are collected too (upstream resyncs monitors every 30 s).
const REDISCOVERY: Duration = Duration::from_secs(30);

/// The longest wait for the first lists of all kinds before collecting.
const SYNC_TIMEOUT: Duration = Duration::from_secs(30);

/// Kinds never collected, as upstream's ignored resources.
const IGNORED: &[(&str, &str)] = &[("", "events"), ("events.k8s.io", "events")];

/// Runs the collector until `shutdown` completes.
pub async fn run(client: Client, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let collector = Arc::new(Collector::new(client));
    let mut monitors = Monitors::default();
    tokio::select! {
        _ = collect(&collector, &mut monitors) => {}
        _ = shutdown => {}
    }
    for (_, (_, handle)) in monitors.running.drain() {
        handle.abort();
    }
    for worker in monitors.workers.drain(..) {
        worker.abort();
    }
}

#[derive(Default)]
struct Monitors {
    /// Running monitors by resource key, with their numbers in the graph.
    running: HashMap<String, (usize, JoinHandle<()>)>,
    next: usize,
    synced: Arc<AtomicUsize>,
    workers: Vec<JoinHandle<()>>,
}

async fn collect(collector: &Arc<Collector>, monitors: &mut Monitors) {
    let started = tokio::time::Instant::now();
    let mut initial = None;
    loop {
        match served_kinds(&collector.client).await {
            Ok(kinds) => {
                let count = sync_monitors(collector, monitors, kinds);
                initial.get_or_insert(count);
            }
            Err(error) => tracing::info!(%error, "garbage collector: discovery failed"),
        }
        if monitors.workers.is_empty() {
            // Collect once every kind has been listed, so that owners are
            // not taken for gone only because they were not seen yet.
            let wanted = initial.unwrap_or(0);
            while monitors.synced.load(Ordering::Relaxed) < wanted
                && started.elapsed() < SYNC_TIMEOUT
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            for _ in 0..WORKERS {
                let collector = collector.clone();
                monitors.workers.push(tokio::spawn(async move {
                    loop {
                        let work = collector.queue.pop().await;
                        collector.process(work).await;
                    }
                }));
            }
        }
        tokio::time::sleep(REDISCOVERY).await;
    }
}

/// Every kind that can be listed, watched and deleted, in its preferred
/// version, by `group/plural`.
async fn served_kinds(client: &Client) -> Result<HashMap<String, Kind>, kube::Error> {
    let discovery = Discovery::new(client.clone()).run().await?;
    let mut kinds = HashMap::new();
    for group in discovery.groups() {
        for (resource, capabilities) in group.recommended_resources() {
            let usable = [verbs::LIST, verbs::WATCH, verbs::DELETE]
                .iter()
                .all(|verb| capabilities.supports_operation(verb));
            let ignored = IGNORED.contains(&(resource.group.as_str(), resource.plural.as_str()));
            if !usable || ignored || resource.plural.contains('/') {
                continue;
            }
            let key = format!("{}/{}", resource.group, resource.plural);
            let namespaced = matches!(capabilities.scope, Scope::Namespaced);
            kinds.insert(
                key,
                Kind {
                    resource,
                    namespaced,
                },
            );
        }
    }
    Ok(kinds)
}

/// Starts monitors for kinds newly served and stops those of kinds gone;
/// how many run.
fn sync_monitors(
    collector: &Arc<Collector>,
    monitors: &mut Monitors,
    kinds: HashMap<String, Kind>,
) -> usize {
    let gone: Vec<String> = monitors
        .running
        .keys()
        .filter(|key| !kinds.contains_key(*key))
        .cloned()
        .collect();
    for key in gone {
        if let Some((number, handle)) = monitors.running.remove(&key) {
            handle.abort();
            let work = collector.graph().relisted(number, &HashSet::new());
            collector.enqueue(work);
        }
    }
    {
        let mut by_kind = collector.kinds.write().unwrap_or_else(|p| p.into_inner());
        by_kind.clear();
        for kind in kinds.values() {
            by_kind.insert(
                (kind.resource.group.clone(), kind.resource.kind.clone()),
                kind.clone(),
            );
        }
    }
    for (key, kind) in kinds {
        if monitors.running.contains_key(&key) {
            continue;
        }
        let number = monitors.next;
        monitors.next += 1;
        let handle = tokio::spawn(monitor(
            collector.clone(),
            number,
            kind.resource,
            monitors.synced.clone(),
        ));
        monitors.running.insert(key, (number, handle));
    }
    monitors.running.len()
}

/// Feeds the graph with what one kind's metadata watch shows.
async fn monitor(
    collector: Arc<Collector>,
    number: usize,
    resource: ApiResource,
    synced: Arc<AtomicUsize>,
) {
    let api: Api<PartialObjectMeta<DynamicObject>> =
        Api::all_with(collector.client.clone(), &resource);
    let events = watcher(api, watcher::Config::default()).default_backoff();
    futures_util::pin_mut!(events);
    let mut relisting: Option<HashSet<String>> = None;
    let mut listed_once = false;
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(event) => event,
            Err(error) => {
                tracing::debug!(%error, kind = %resource.kind, "garbage collector watch failed; retrying");
                continue;
            }
        };
        let work = match event {
            watcher::Event::Init => {
                relisting = Some(HashSet::new());
                Vec::new()
            }
            watcher::Event::InitApply(object) | watcher::Event::Apply(object) => {
                let Some(identity) = identity(&resource, &object.metadata) else {
                    continue;
                };
                if let Some(seen) = relisting.as_mut() {
                    seen.insert(identity.uid.clone());
                }
                collector.graph().upsert(identity, number, &object.metadata)
            }
            watcher::Event::Delete(object) => match object.metadata.uid.as_deref() {
                Some(uid) => collector.graph().remove(uid),
                None => Vec::new(),
            },
            watcher::Event::InitDone => {
                let seen = relisting.take().unwrap_or_default();
                if !listed_once {
                    listed_once = true;
                    synced.fetch_add(1, Ordering::Relaxed);
                }
                collector.graph().relisted(number, &seen)
            }
        };
        collector.enqueue(work);
    }
}

fn identity(
    resource: &ApiResource,
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<Identity> {
    Some(Identity {
        api_version: resource.api_version.clone(),
        kind: resource.kind.clone(),
        namespace: meta.namespace.clone(),
        name: meta.name.clone()?,
        uid: meta.uid.clone()?,
    })
}
