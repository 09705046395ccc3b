//! A watched cache of one kind that also hands on each change with the
//! object it replaced, for controllers that map a change to the objects it
//! concerns: a pod that left a Service's selector still concerns that
//! Service. It is kube's `watcher` feeding kube's reflector `Store`, with
//! managedFields and the last-applied annotation dropped to save memory,
//! so one watch of a kind can both fill the cache a controller reads and
//! trigger its reconciles (through `kube::runtime::applier`). Kinds that
//! several controllers read are watched once for all of them, through
//! [`crate::informers`].

use std::future::ready;
use std::sync::Arc;

use futures_util::{Stream, StreamExt};
use k8s_openapi::serde::de::DeserializeOwned;
use kube::runtime::reflector::store::Writer;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Resource};

/// One change seen in a watched cache. Clones share the objects.
#[derive(Clone, Debug)]
pub enum Change<K> {
    /// An object appeared or was modified; `old` is what the cache held
    /// before, if anything.
    Applied { old: Option<Arc<K>>, new: Arc<K> },
    /// An object was deleted, as last seen.
    Deleted(Arc<K>),
    /// A (re-)list completed: the cache is whole again, and deletions made
    /// while the watch was broken were not seen one by one.
    Relisted,
}

/// The annotation `kubectl apply` keeps a copy of the object in; no
/// controller reads it, so the caches drop it.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Watches `api` with `config`: the cache, and the stream of its changes
/// that must be polled for the cache to fill. Watch errors are retried
/// with kube's default back-off and logged. For metadata only, watch
/// through an `Api<PartialObjectMeta<K>>`.
pub fn watch<K>(
    api: Api<K>,
    config: watcher::Config,
) -> (Store<K>, impl Stream<Item = Change<K>> + Send + 'static)
where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    cache(watcher(api, config))
}

/// A cache filled from a stream of watch events.
pub fn cache<K>(
    events: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
) -> (Store<K>, impl Stream<Item = Change<K>> + Send + 'static)
where
    K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store::<K>();
    (reader, changes(events, writer, |_| {}))
}

/// The changes `events` make to the cache behind `writer`, which takes
/// each event before its change is yielded. Changes share their objects
/// with the cache where it already holds them, rather than copying them.
/// `trim` drops, from each object, what no reader of the cache uses.
pub(crate) fn changes<K>(
    events: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
    mut writer: Writer<K>,
    trim: fn(&mut K),
) -> impl Stream<Item = Change<K>> + Send + 'static
where
    K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + Send + Sync + 'static,
{
    let cache = writer.as_reader();
    events
        .default_backoff()
        .modify(move |object: &mut K| {
            let meta = object.meta_mut();
            meta.managed_fields = None;
            if let Some(annotations) = meta.annotations.as_mut() {
                annotations.remove(LAST_APPLIED);
            }
            trim(object);
        })
        .filter_map(move |event| {
            let change = match event {
                Err(error) => {
                    tracing::debug!(kind = %K::kind(&()), %error, "watch failed; retrying");
                    None
                }
                Ok(event) => apply(&mut writer, &cache, event),
            };
            ready(change)
        })
}

/// Applies one event to the cache, and says what it changed.
fn apply<K>(writer: &mut Writer<K>, cache: &Store<K>, event: watcher::Event<K>) -> Option<Change<K>>
where
    K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + Send + Sync + 'static,
{
    // During a re-list the cache still holds what it had before the watch
    // broke, so `old` is right for both kinds of apply.
    let old = match &event {
        watcher::Event::Apply(object)
        | watcher::Event::InitApply(object)
        | watcher::Event::Delete(object) => cache.get(&ObjectRef::from_obj(object)),
        watcher::Event::Init | watcher::Event::InitDone => None,
    };
    writer.apply_watcher_event(&event);
    Some(match event {
        watcher::Event::Apply(object) => Change::Applied {
            new: cache
                .get(&ObjectRef::from_obj(&object))
                .unwrap_or_else(|| Arc::new(object)),
            old,
        },
        // A re-listed object is not in the cache before the list is whole.
        watcher::Event::InitApply(object) => Change::Applied {
            old,
            new: Arc::new(object),
        },
        watcher::Event::Delete(object) => Change::Deleted(old.unwrap_or_else(|| Arc::new(object))),
        watcher::Event::InitDone => Change::Relisted,
        watcher::Event::Init => return None,
    })
}

impl<K> Change<K> {
    /// The objects this change concerns: before and after.
    pub fn versions(&self) -> impl Iterator<Item = &Arc<K>> {
        let (first, second) = match self {
            Change::Applied { old, new } => (old.as_ref(), Some(new)),
            Change::Deleted(object) => (Some(object), None),
            Change::Relisted => (None, None),
        };
        first.into_iter().chain(second)
    }
}
