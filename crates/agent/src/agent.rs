//! The agent of one or many nodes in one process: one pod watch and one
//! node watch for all of them, dispatched by node name, so a thousand
//! hollow nodes cost one connection each and a little state per node.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::Client;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::sync::Semaphore;

use crate::events::Events;
use crate::ipam::PodNetwork;
use crate::node::{NodeSlot, NodeTemplate};
use crate::pods::Entry;
use crate::runtime::Runtime;

/// How many API calls the agent has in flight at most (pod syncs, node
/// heartbeats): enough for throughput, bounded so a slow server is not
/// flooded.
const MAX_IN_FLIGHT: usize = 64;

/// What the parts of the agent share.
pub struct Shared<R> {
    pub client: Client,
    pub runtime: R,
    pub template: NodeTemplate,
    /// The nodes of this process by name, and in registration order.
    pub nodes: HashMap<Box<str>, Arc<NodeSlot>>,
    pub order: Vec<Arc<NodeSlot>>,
    /// Pods bound to these nodes, by uid.
    pub pods: Mutex<HashMap<String, Entry>>,
    /// Uids of pods to sync: from watches, runtime changes and timers.
    pub queue: UnboundedSender<String>,
    pub started: Timestamp,
    pub stopped: AtomicBool,
    pub permits: Arc<Semaphore>,
    /// Where pods' events go (nowhere for hollow nodes).
    pub events: Events,
}

impl<R: Runtime> Shared<R> {
    pub fn new(
        client: Client,
        runtime: R,
        template: NodeTemplate,
        slots: Vec<NodeSlot>,
        queue: UnboundedSender<String>,
    ) -> Shared<R> {
        let order: Vec<Arc<NodeSlot>> = slots.into_iter().map(Arc::new).collect();
        Shared {
            client,
            runtime,
            template,
            nodes: order.iter().map(|s| (s.name.clone(), s.clone())).collect(),
            order,
            pods: Mutex::new(HashMap::new()),
            queue,
            started: Timestamp::now(),
            stopped: AtomicBool::new(false),
            permits: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
            events: Events::default(),
        }
    }

    /// Records pods' events through `events`.
    pub fn with_events(mut self, events: Events) -> Shared<R> {
        self.events = events;
        self
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }

    pub fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.pods.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Runs the agent until `shutdown` completes. `queue` is the receiving
/// end of `shared.queue`.
pub async fn run<R: Runtime>(
    shared: Arc<Shared<R>>,
    queue: UnboundedReceiver<String>,
    shutdown: impl Future<Output = ()> + Send,
) {
    if shared.order.is_empty() {
        shutdown.await;
        return;
    }
    tokio::select! {
        _ = shutdown => {}
        _ = async {
            tokio::join!(
                crate::heartbeat::run(shared.clone()),
                watch_pods(shared.clone()),
                watch_nodes(shared.clone()),
                crate::pods::dispatch(shared.clone(), queue),
            )
        } => {}
    }
    shared.stopped.store(true, Ordering::Relaxed);
}

/// One watch over the pods bound to any of our nodes.
async fn watch_pods<R: Runtime>(shared: Arc<Shared<R>>) {
    let api: Api<Pod> = Api::all(shared.client.clone());
    let selector = match shared.order.as_slice() {
        [only] => format!("spec.nodeName={}", only.name),
        _ => "spec.nodeName!=".to_string(),
    };
    let config = watcher::Config::default().fields(&selector).any_semantic();
    let mut listed: Option<HashSet<String>> = None;
    let stream = watcher::watcher(api, config)
        .default_backoff()
        .modify(|pod: &mut Pod| pod.metadata.managed_fields = None);
    let mut stream = std::pin::pin!(stream);
    loop {
        let event = match stream.try_next().await {
            Ok(Some(event)) => event,
            Ok(None) => return,
            Err(error) => {
                tracing::debug!(%error, "pod watch");
                continue;
            }
        };
        match event {
            Event::Init => listed = Some(HashSet::new()),
            Event::InitApply(pod) => {
                if let (Some(seen), Some(uid)) = (listed.as_mut(), pod.metadata.uid.as_ref()) {
                    seen.insert(uid.clone());
                }
                shared.observe(pod);
            }
            Event::InitDone => {
                if let Some(seen) = listed.take() {
                    shared.forget_all_but(&seen);
                }
            }
            Event::Apply(pod) => shared.observe(pod),
            Event::Delete(pod) => {
                if let Some(uid) = pod.metadata.uid.as_deref() {
                    shared.forget(uid);
                }
            }
        }
    }
}

/// One watch over nodes: learns each node's podCIDR and notices when
/// someone else (the node lifecycle controller) changed its readiness.
async fn watch_nodes<R: Runtime>(shared: Arc<Shared<R>>) {
    let api: Api<Node> = Api::all(shared.client.clone());
    let mut config = watcher::Config::default().any_semantic();
    if let [only] = shared.order.as_slice() {
        config = config.fields(&format!("metadata.name={}", only.name));
    }
    let stream = watcher::watcher(api, config)
        .default_backoff()
        .applied_objects();
    let mut stream = std::pin::pin!(stream);
    loop {
        match stream.next().await {
            Some(Ok(node)) => observe_node(&shared, &node),
            Some(Err(error)) => tracing::debug!(%error, "node watch"),
            None => return,
        }
    }
}

fn observe_node<R: Runtime>(shared: &Arc<Shared<R>>, node: &Node) {
    let Some(slot) = node
        .metadata
        .name
        .as_deref()
        .and_then(|n| shared.nodes.get(n))
    else {
        return;
    };
    let cidr = node.spec.as_ref().and_then(|s| s.pod_cidr.as_deref());
    let mut addresses_arrived = false;
    if let Some(cidr) = cidr {
        shared.runtime.set_pod_cidr(cidr);
        let mut network = slot.network();
        if network.is_none() {
            match PodNetwork::parse(cidr) {
                Some(fresh) => {
                    *network = Some(fresh);
                    addresses_arrived = true;
                }
                None => tracing::warn!(node = %slot.name, cidr, "podCIDR not usable"),
            }
        }
    }
    let reported_ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.status == "True");
    let repost = {
        let mut state = slot.state();
        if let Some(uid) = node.metadata.uid.as_deref() {
            if state.uid.as_deref() != Some(uid) {
                state.uid = Some(uid.into());
            }
        }
        let posted_ready = state.ready.map(|(ready, _)| ready);
        let overwritten =
            state.registered && posted_ready.is_some() && reported_ready != posted_ready;
        if addresses_arrived || overwritten {
            state.stale = true;
        }
        state.stale && state.registered && !state.posting
    };
    if addresses_arrived {
        shared.adopt_addresses(slot);
    }
    if repost {
        let (shared, slot) = (shared.clone(), slot.clone());
        tokio::spawn(async move { crate::heartbeat::post_status(&shared, &slot).await });
    }
}
