//! Shared informers: one watch and one cache per kind for the whole
//! controller manager, as upstream's shared informer factory. A kind that
//! several controllers read (pods above all) is decoded once per event and
//! stored once, however many controllers read it.
//!
//! Every controller subscribes before anything runs, so none misses an
//! event; each subscriber gets the shared cache and its own stream of the
//! cache's changes, whose objects are the same `Arc`s for everyone.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::{ControllerRevision, ReplicaSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::serde::de::DeserializeOwned;
use kube::runtime::reflector::store::Writer;
use kube::runtime::reflector::Store;
use kube::runtime::watcher;
use kube::{Api, Client, Resource};
use tokio::sync::mpsc;

use crate::watch_util::{self, Change};

/// The kinds more than one controller reads.
#[derive(Default)]
pub struct Informers {
    /// ReplicaSet/ReplicationController, DaemonSet, StatefulSet, Job,
    /// endpoints, disruption and node lifecycle.
    pub pods: Shared<Pod>,
    /// DaemonSet, endpoints (zones), node lifecycle and node IPAM.
    pub nodes: Shared<Node>,
    /// Namespace lifecycle and ServiceAccounts.
    pub namespaces: Shared<Namespace>,
    /// Job, TTL-after-finished and CronJob.
    pub jobs: Shared<Job>,
    /// ReplicaSet and Deployment.
    pub replica_sets: Shared<ReplicaSet>,
    /// DaemonSet and StatefulSet.
    pub revisions: Shared<ControllerRevision>,
}

impl Informers {
    /// Runs every watch until `shutdown` completes. Subscriptions must all
    /// have been taken: this consumes the informers.
    pub async fn run<S>(self, client: Client, shutdown: S)
    where
        S: Future<Output = ()> + Clone + Send + 'static,
    {
        // One task per kind: a burst of pod events is decoded while other
        // kinds' changes go on.
        let mut pumps = tokio::task::JoinSet::new();
        pumps.spawn(
            self.pods
                .run_trimmed(Api::all(client.clone()), shutdown.clone(), trim_pod),
        );
        pumps.spawn(self.nodes.run(Api::all(client.clone()), shutdown.clone()));
        pumps.spawn(
            self.namespaces
                .run(Api::all(client.clone()), shutdown.clone()),
        );
        pumps.spawn(self.jobs.run(Api::all(client.clone()), shutdown.clone()));
        pumps.spawn(
            self.replica_sets
                .run(Api::all(client.clone()), shutdown.clone()),
        );
        pumps.spawn(self.revisions.run(Api::all(client), shutdown));
        while pumps.join_next().await.is_some() {}
    }
}

/// Pods as the controllers keep them: without what no controller reads
/// and what makes up much of a decoded pod. Kept: names, ports and restart
/// policies of containers (named target ports, sidecars) and the state of
/// container statuses (restart counts, exit codes). Dropped: volumes and
/// volume mounts (every pod has its `kube-api-access` volume), resources,
/// environment, commands, probes, hooks and security contexts, and the
/// runtime's ids in container statuses. Controllers write pods only by
/// create from templates, patch and delete, never by sending a cached pod
/// back, so nothing is lost.
fn trim_pod(pod: &mut Pod) {
    if let Some(spec) = pod.spec.as_mut() {
        spec.volumes = None;
        for container in spec
            .containers
            .iter_mut()
            .chain(spec.init_containers.iter_mut().flatten())
        {
            container.volume_mounts = None;
            container.resources = None;
            container.resize_policy = None;
            container.env = None;
            container.env_from = None;
            container.command = None;
            container.args = None;
            container.liveness_probe = None;
            container.readiness_probe = None;
            container.startup_probe = None;
            container.lifecycle = None;
            container.security_context = None;
        }
    }
    if let Some(status) = pod.status.as_mut() {
        for container in status
            .container_statuses
            .iter_mut()
            .chain(status.init_container_statuses.iter_mut())
            .flatten()
        {
            container.image_id = String::new();
            container.container_id = None;
            container.allocated_resources = None;
            container.resources = None;
            container.volume_mounts = None;
        }
    }
}

/// One kind's shared cache and the subscribers to its changes.
pub struct Shared<K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    writer: Writer<K>,
    subscribers: Vec<mpsc::UnboundedSender<Change<K>>>,
}

impl<K> Default for Shared<K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    fn default() -> Shared<K> {
        Shared {
            writer: Writer::default(),
            subscribers: Vec::new(),
        }
    }
}

impl<K> Shared<K>
where
    K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + Send + Sync + 'static,
{
    /// A new subscriber: the shared cache, and every change to it from the
    /// first event on.
    pub fn subscribe(&mut self) -> Subscription<K> {
        let (sender, changes) = mpsc::unbounded_channel();
        self.subscribers.push(sender);
        Subscription {
            store: self.writer.as_reader(),
            changes,
        }
    }

    /// The shared cache alone, for a reader that looks at it now and then
    /// rather than following its changes.
    pub fn store(&self) -> Store<K> {
        self.writer.as_reader()
    }

    /// Watches `api` (every object, kube's default back-off) until
    /// `shutdown`, filling the cache and handing each change to every
    /// subscriber.
    pub async fn run(self, api: Api<K>, shutdown: impl Future<Output = ()> + Send)
    where
        K: DeserializeOwned,
    {
        self.run_trimmed(api, shutdown, |_| {}).await;
    }

    /// As [`Shared::run`], with `trim` applied to each object before it is
    /// cached.
    pub async fn run_trimmed(
        self,
        api: Api<K>,
        shutdown: impl Future<Output = ()> + Send,
        trim: fn(&mut K),
    ) where
        K: DeserializeOwned,
    {
        self.pump(watcher(api, watcher::Config::default()), shutdown, trim)
            .await;
    }

    /// Feeds `events` to the cache and the subscribers until they end or
    /// `shutdown` completes; the subscribers' streams end with it.
    async fn pump(
        self,
        events: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
        shutdown: impl Future<Output = ()> + Send,
        trim: fn(&mut K),
    ) {
        let Shared {
            writer,
            mut subscribers,
        } = self;
        let mut changes = pin!(watch_util::changes(events, writer, trim).take_until(shutdown));
        while let Some(change) = changes.next().await {
            broadcast(&mut subscribers, &change);
        }
    }
}

/// Sends `change` to every subscriber, dropping those that are gone.
fn broadcast<K: Clone>(
    subscribers: &mut Vec<mpsc::UnboundedSender<Change<K>>>,
    change: &Change<K>,
) {
    subscribers.retain(|subscriber| subscriber.send(change.clone()).is_ok());
}

/// One subscriber's view of a shared kind: the cache, and (as a stream)
/// the changes to it, each seen after the cache took it. The cache may be
/// ahead of the stream: it is shared, the stream is read at its own pace.
pub struct Subscription<K>
where
    K: Resource<DynamicType = ()> + 'static,
{
    store: Store<K>,
    changes: mpsc::UnboundedReceiver<Change<K>>,
}

impl<K> Subscription<K>
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    /// The shared cache.
    pub fn store(&self) -> Store<K> {
        self.store.clone()
    }

    /// The objects listed, created or modified: what kube's
    /// `Controller::for_shared_stream` and `owns_shared_stream` take.
    pub fn applied(self) -> impl Stream<Item = Arc<K>> + Send + 'static {
        self.filter_map(|change| {
            std::future::ready(match change {
                Change::Applied { new, .. } => Some(new),
                Change::Deleted(_) | Change::Relisted => None,
            })
        })
    }

    /// The objects applied or deleted, as last seen.
    pub fn touched(self) -> impl Stream<Item = Arc<K>> + Send + 'static {
        self.filter_map(|change| {
            std::future::ready(match change {
                Change::Applied { new, .. } => Some(new),
                Change::Deleted(object) => Some(object),
                Change::Relisted => None,
            })
        })
    }
}

impl<K> Stream for Subscription<K>
where
    K: Resource<DynamicType = ()> + 'static,
{
    type Item = Change<K>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Change<K>>> {
        self.get_mut().changes.poll_recv(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::stream;
    use kube::runtime::reflector::ObjectRef;

    fn pod(name: &str, phase: &str) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.name = Some(name.into());
        pod.metadata.namespace = Some("default".into());
        pod.metadata.managed_fields = Some(vec![Default::default()]);
        pod.status = Some(k8s_openapi::api::core::v1::PodStatus {
            phase: Some(phase.into()),
            ..Default::default()
        });
        pod
    }

    type Events = Vec<Result<watcher::Event<Pod>, watcher::Error>>;

    #[test]
    fn cached_pods_keep_what_controllers_read() {
        let mut pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "labels": {"app": "a"}},
            "spec": {
                "volumes": [{"name": "kube-api-access-x", "projected": {"sources": []}}],
                "initContainers": [{"name": "i", "restartPolicy": "Always",
                    "volumeMounts": [{"name": "v", "mountPath": "/v"}]}],
                "containers": [{"name": "c", "image": "i", "command": ["run"],
                    "ports": [{"name": "http", "containerPort": 80}],
                    "env": [{"name": "A", "value": "1"}],
                    "resources": {"requests": {"cpu": "10m"}},
                    "readinessProbe": {"tcpSocket": {"port": 80}},
                    "volumeMounts": [{"name": "v", "mountPath": "/v"}]}]},
            "status": {"containerStatuses": [{"name": "c", "image": "i", "imageID": "sha256:1",
                "containerID": "containerd://1", "ready": true, "restartCount": 2,
                "state": {"terminated": {"exitCode": 3}}}]}
        }))
        .unwrap();
        trim_pod(&mut pod);
        let spec = pod.spec.as_ref().unwrap();
        assert!(spec.volumes.is_none());
        let container = &spec.containers[0];
        assert!(container.volume_mounts.is_none());
        assert!(container.resources.is_none() && container.env.is_none());
        assert!(container.command.is_none() && container.readiness_probe.is_none());
        let sidecar = &spec.init_containers.as_ref().unwrap()[0];
        assert!(sidecar.volume_mounts.is_none());
        assert_eq!(sidecar.restart_policy.as_deref(), Some("Always"));
        assert_eq!(container.ports.as_ref().unwrap()[0].container_port, 80);
        assert_eq!(container.image.as_deref(), Some("i"), "the rest stays");
        assert!(pod.metadata.labels.is_some());
        let status = &pod
            .status
            .as_ref()
            .unwrap()
            .container_statuses
            .as_ref()
            .unwrap()[0];
        assert_eq!((status.restart_count, status.ready), (2, true));
        assert_eq!(
            status
                .state
                .as_ref()
                .unwrap()
                .terminated
                .as_ref()
                .unwrap()
                .exit_code,
            3
        );
        assert!(status.container_id.is_none() && status.image_id.is_empty());
    }

    /// Runs `events` through a shared informer with two subscribers.
    async fn two_subscribers(events: Events) -> (Subscription<Pod>, Subscription<Pod>) {
        let mut shared = Shared::<Pod>::default();
        let first = shared.subscribe();
        let second = shared.subscribe();
        shared
            .pump(stream::iter(events), std::future::pending(), |_| {})
            .await;
        (first, second)
    }

    async fn drain(subscription: Subscription<Pod>) -> Vec<Change<Pod>> {
        subscription.collect().await
    }

    #[tokio::test]
    async fn subscribers_share_one_cache_and_the_same_objects() {
        let (first, second) = two_subscribers(vec![
            Ok(watcher::Event::Init),
            Ok(watcher::Event::InitApply(pod("a", "Pending"))),
            Ok(watcher::Event::InitDone),
            Ok(watcher::Event::Apply(pod("a", "Running"))),
        ])
        .await;
        let store = first.store();
        let cached = store.get(&ObjectRef::new("a").within("default")).unwrap();
        assert!(cached.metadata.managed_fields.is_none());
        assert_eq!(second.store().state().len(), 1);
        let (first, second) = (drain(first).await, drain(second).await);
        assert_eq!(first.len(), 3);
        assert_eq!(second.len(), 3);
        let (
            Change::Applied {
                old: Some(old),
                new,
            },
            Change::Applied {
                old: Some(old_too),
                new: new_too,
            },
        ) = (&first[2], &second[2])
        else {
            panic!("the update reached both: {first:?} {second:?}");
        };
        assert!(Arc::ptr_eq(new, new_too) && Arc::ptr_eq(old, old_too));
        // The change carries the very object the cache holds.
        assert!(Arc::ptr_eq(new, &cached));
        assert_eq!(
            old.status.as_ref().unwrap().phase.as_deref(),
            Some("Pending")
        );
    }

    #[tokio::test]
    async fn a_relist_reaches_every_subscriber() {
        let (first, second) = two_subscribers(vec![
            Ok(watcher::Event::Init),
            Ok(watcher::Event::InitApply(pod("a", "Running"))),
            Ok(watcher::Event::InitDone),
            Ok(watcher::Event::Init),
            Ok(watcher::Event::InitApply(pod("b", "Running"))),
            Ok(watcher::Event::InitDone),
        ])
        .await;
        let store = first.store();
        assert!(store.wait_until_ready().await.is_ok());
        // The re-list replaced the cache: `a` was deleted meanwhile.
        let names: Vec<String> = store
            .state()
            .iter()
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        assert_eq!(names, ["b"]);
        for changes in [drain(first).await, drain(second).await] {
            let relists = changes
                .iter()
                .filter(|c| matches!(c, Change::Relisted))
                .count();
            assert_eq!(relists, 2, "{changes:?}");
        }
    }

    #[tokio::test]
    async fn deletions_carry_the_last_cached_version() {
        let (first, _) = two_subscribers(vec![
            Ok(watcher::Event::Apply(pod("a", "Running"))),
            Ok(watcher::Event::Delete(pod("a", "Succeeded"))),
        ])
        .await;
        assert!(first.store().state().is_empty());
        let changes = drain(first).await;
        let [_, Change::Deleted(gone)] = changes.as_slice() else {
            panic!("a deletion: {changes:?}");
        };
        assert_eq!(
            gone.status.as_ref().unwrap().phase.as_deref(),
            Some("Running")
        );
    }

    #[tokio::test]
    async fn closed_subscribers_are_dropped() {
        let mut shared = Shared::<Pod>::default();
        let kept = shared.subscribe();
        drop(shared.subscribe());
        let mut subscribers = shared.subscribers;
        broadcast(&mut subscribers, &Change::Relisted);
        assert_eq!(subscribers.len(), 1);
        drop(subscribers);
        assert_eq!(drain(kept).await.len(), 1);
    }

    #[tokio::test]
    async fn the_streams_end_at_shutdown() {
        let mut shared = Shared::<Pod>::default();
        let subscription = shared.subscribe();
        let never_ending = stream::pending();
        shared
            .pump(never_ending, std::future::ready(()), |_| {})
            .await;
        assert!(drain(subscription).await.is_empty());
    }
}
