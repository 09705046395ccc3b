//! The cluster as this controller sees it: kube reflectors over the kinds
//! it routes by, and the task that rebuilds the served configuration from
//! them whenever one changes.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use k8s_openapi::serde::de::DeserializeOwned;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, Resource};
use tokio::sync::{watch as signal, Notify};
use tokio::task::JoinHandle;

use crate::certificates::CertificateCache;
use crate::config::{ClusterObjects, Config, SharedConfig};

/// Only TLS Secrets can hold certificates; watching just those keeps
/// service-account tokens and the like out of memory.
const TLS_SECRETS: &str = "type=kubernetes.io/tls";
/// A pause before rebuilding, so that a burst of changes (a rollout moving
/// many endpoints) costs one rebuild.
const REBUILD_DELAY: Duration = Duration::from_millis(50);
/// The annotation `kubectl apply` keeps a whole copy of the object in.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Who hears of changes to a watched kind.
#[derive(Clone, Default)]
pub(crate) struct Listeners {
    /// The configuration rebuild.
    pub(crate) config: Option<Arc<Notify>>,
    /// The status writer.
    pub(crate) status: Option<Arc<Notify>>,
}

impl Listeners {
    fn notify(&self) {
        for listener in self.config.iter().chain(&self.status) {
            listener.notify_one();
        }
    }
}

/// A reflector's cache of one kind, and whether its first list is in.
pub(crate) struct Cache<K: Resource<DynamicType = ()> + 'static> {
    pub(crate) store: Store<K>,
    // kube's `Store::wait_until_ready` wakes only one of several tasks
    // waiting at once, so readiness is signalled separately.
    ready: signal::Receiver<bool>,
}

impl<K: Resource<DynamicType = ()> + 'static> Clone for Cache<K> {
    fn clone(&self) -> Self {
        Cache {
            store: self.store.clone(),
            ready: self.ready.clone(),
        }
    }
}

impl<K: Resource<DynamicType = ()> + Clone + 'static> Cache<K> {
    /// Returns once the first list is in the cache.
    pub(crate) async fn wait_until_ready(&self) {
        let mut ready = self.ready.clone();
        // An error means the watch task is gone, which only happens at shutdown.
        let _ = ready.wait_for(|ready| *ready).await;
    }

    pub(crate) fn state(&self) -> Vec<Arc<K>> {
        self.store.state()
    }
}

/// The caches the configuration is built from.
#[derive(Clone)]
pub(crate) struct RoutingCaches {
    pub(crate) classes: Cache<IngressClass>,
    pub(crate) ingresses: Cache<Ingress>,
    services: Cache<Service>,
    endpoint_slices: Cache<EndpointSlice>,
    secrets: Cache<Secret>,
}

/// Cached kinds and the tasks that keep them filled.
pub(crate) struct Watches {
    pub(crate) routing: RoutingCaches,
    /// Present when this instance writes Ingress status.
    pub(crate) nodes: Option<Cache<Node>>,
    pub(crate) tasks: Vec<JoinHandle<()>>,
}

impl Watches {
    /// Starts watching; `config` hears of every change, `status` of the
    /// changes status depends on (IngressClasses, Ingresses, Nodes), and
    /// Nodes are watched only when there is a `status` to tell.
    pub(crate) fn start(
        client: &Client,
        config: Arc<Notify>,
        status: Option<Arc<Notify>>,
    ) -> Watches {
        let mut tasks = Vec::new();
        let both = Listeners {
            config: Some(config.clone()),
            status: status.clone(),
        };
        let config_only = Listeners {
            config: Some(config),
            status: None,
        };
        let classes = watch(
            Api::all(client.clone()),
            watcher::Config::default(),
            both.clone(),
            &mut tasks,
        );
        let ingresses = watch(
            Api::all(client.clone()),
            watcher::Config::default(),
            both,
            &mut tasks,
        );
        let services = watch(
            Api::all(client.clone()),
            watcher::Config::default(),
            config_only.clone(),
            &mut tasks,
        );
        let endpoint_slices = watch(
            Api::all(client.clone()),
            watcher::Config::default(),
            config_only.clone(),
            &mut tasks,
        );
        let secrets = watch(
            Api::all(client.clone()),
            watcher::Config::default().fields(TLS_SECRETS),
            config_only,
            &mut tasks,
        );
        let nodes = status.map(|status| {
            let listeners = Listeners {
                config: None,
                status: Some(status),
            };
            watch(
                Api::all(client.clone()),
                watcher::Config::default(),
                listeners,
                &mut tasks,
            )
        });
        Watches {
            routing: RoutingCaches {
                classes,
                ingresses,
                services,
                endpoint_slices,
                secrets,
            },
            nodes,
            tasks,
        }
    }
}

/// A reflector of one kind, filled by a task that tells `listeners` of
/// every change once the first list is complete.
fn watch<K>(
    api: Api<K>,
    config: watcher::Config,
    listeners: Listeners,
    tasks: &mut Vec<JoinHandle<()>>,
) -> Cache<K>
where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    let (ready, ready_receiver) = signal::channel(false);
    let events = watcher(api, config)
        .default_backoff()
        .modify(|object: &mut K| {
            let meta = object.meta_mut();
            meta.managed_fields = None;
            if let Some(annotations) = meta.annotations.as_mut() {
                annotations.remove(LAST_APPLIED);
            }
        });
    let stream = reflector::reflector(writer, events);
    tasks.push(tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(event) = stream.next().await {
            match event {
                // A (re-)list is told once, when it is whole.
                Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => {}
                Ok(watcher::Event::InitDone) => {
                    ready.send_replace(true);
                    listeners.notify();
                }
                Ok(_) => listeners.notify(),
                Err(error) => {
                    tracing::warn!(kind = %K::kind(&()), %error, "watch failed; retrying")
                }
            }
        }
    }));
    Cache {
        store: reader,
        ready: ready_receiver,
    }
}

impl RoutingCaches {
    pub(crate) async fn wait_until_ready(&self) {
        tokio::join!(
            self.classes.wait_until_ready(),
            self.ingresses.wait_until_ready(),
            self.services.wait_until_ready(),
            self.endpoint_slices.wait_until_ready(),
            self.secrets.wait_until_ready(),
        );
    }

    fn build_config(&self, certificates: &mut CertificateCache) -> Config {
        let secrets = |namespace: &str, name: &str| {
            self.secrets
                .store
                .get(&ObjectRef::new(name).within(namespace))
        };
        let objects = ClusterObjects {
            classes: &self.classes.state(),
            ingresses: &self.ingresses.state(),
            services: &self.services.state(),
            endpoint_slices: &self.endpoint_slices.state(),
            secrets: &secrets,
        };
        Config::build(&objects, certificates)
    }
}

/// Keeps `config` built from the caches: once they are filled, and after
/// each change `changed` is told of. Runs until aborted.
pub(crate) async fn keep_config_current(
    caches: RoutingCaches,
    config: Arc<SharedConfig>,
    changed: Arc<Notify>,
) {
    caches.wait_until_ready().await;
    let mut certificates = CertificateCache::default();
    loop {
        config.replace(caches.build_config(&mut certificates));
        changed.notified().await;
        tokio::time::sleep(REBUILD_DELAY).await;
    }
}
