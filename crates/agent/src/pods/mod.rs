//! The pods bound to this process's nodes. Each pod is synced when
//! something about it changes (its object, its containers, a back-off
//! ending): at most one sync per pod at a time, and no task per pod while
//! nothing happens, so idle pods cost only their entry.

pub mod env;
mod hooks;
mod plan;
mod probes;
mod record;
pub mod service_env;
mod status;

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use serde_json::json;
use tokio::sync::mpsc::UnboundedReceiver;

pub use plan::{pod_key, Backoff, Plan, INITIAL_BACKOFF, MAX_BACKOFF};
pub use status::{generate, is_terminal, qos_class, Inputs};

use crate::agent::Shared;
use crate::events::Kind;
use crate::node::NodeSlot;
use crate::runtime::{ContainerState, Runtime};
use record::PodRecord;

/// What the agent keeps per pod.
pub struct Entry {
    /// The pod as last seen.
    pod: PodRecord,
    /// Its address, once given.
    ip: Option<Ipv4Addr>,
    adopted: bool,
    syncing: bool,
    /// Changed while a sync was under way: sync again after it.
    dirty: bool,
    backoff: Vec<Backoff>,
    /// The last status written (hash) and the server's status right after
    /// (hash), to not write the same again.
    sent: Option<(u64, u64)>,
    /// When a timer will sync the pod again: one timer at a time, so
    /// syncs that each ask for one do not pile them up.
    timer: Option<tokio::time::Instant>,
    /// Probe results of the pod's running containers.
    probes: std::collections::HashMap<String, probes::Results>,
    /// Containers whose image failed to pull: until when not to try
    /// again, and the delay after the next failure.
    pulls: std::collections::HashMap<String, (tokio::time::Instant, Duration)>,
    /// The waiting reason and message last recorded as an event, per
    /// container: a container waiting the same way is not reported again.
    reported: std::collections::HashMap<String, String>,
}

impl Entry {
    /// Until when a container's image is not pulled again after a failed
    /// pull, if that is still ahead.
    fn pull_held_back(&self, container: &str) -> Option<tokio::time::Instant> {
        let (until, _) = self.pulls.get(container)?;
        Some(*until).filter(|until| *until > tokio::time::Instant::now())
    }

    /// After a start: a failed pull backs off as a crash loop does (10 s
    /// doubling to 5 min, as upstream); a start that got past the pull
    /// forgets it.
    fn record_pull(&mut self, container: &str, pull_failed: bool) {
        if !pull_failed {
            self.pulls.remove(container);
            return;
        }
        let delay = self
            .pulls
            .get(container)
            .map_or(INITIAL_BACKOFF, |(_, d)| (*d * 2).min(MAX_BACKOFF));
        let until = tokio::time::Instant::now() + delay;
        self.pulls.insert(container.to_string(), (until, delay));
    }

    fn new(pod: PodRecord) -> Entry {
        Entry {
            pod,
            ip: None,
            adopted: false,
            syncing: false,
            dirty: false,
            backoff: Vec::new(),
            sent: None,
            timer: None,
            probes: Default::default(),
            pulls: Default::default(),
            reported: Default::default(),
        }
    }
}

/// How long to wait before retrying a sync that failed.
const RETRY: Duration = Duration::from_secs(1);
/// Grace period when a pod names none (upstream's default).
const DEFAULT_GRACE_SECONDS: i64 = 30;
/// How long a postStart hook may take (upstream sets none; a hook that
/// never ends must not hold the pod's sync for good).
const POST_START_LIMIT: Duration = Duration::from_secs(300);
/// Bound on start rounds per sync (each round may start the next init
/// container).
const MAX_START_ROUNDS: usize = 16;

impl<R: Runtime> Shared<R> {
    /// A pod from the watch: keep it and sync it if it is on one of ours.
    pub fn observe(&self, pod: Pod) {
        let node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
        if !node.is_some_and(|n| self.nodes.contains_key(n)) {
            return;
        }
        let Some(uid) = pod.metadata.uid.clone() else {
            return;
        };
        let Some(pod) = PodRecord::new(pod) else {
            return;
        };
        let mut entries = self.entries();
        match entries.get_mut(&uid) {
            Some(entry) => entry.pod = pod,
            None => {
                entries.insert(uid.clone(), Entry::new(pod));
            }
        }
        drop(entries);
        let _ = self.queue.send(uid);
    }

    /// A pod left the API: stop its containers and free its address.
    pub fn forget(self: &Arc<Self>, uid: &str) {
        let Some(entry) = self.entries().remove(uid) else {
            return;
        };
        self.release_address(&entry);
        // A sync under way cleans up when it finishes.
        if !entry.syncing {
            let (shared, uid) = (self.clone(), uid.to_string());
            tokio::spawn(async move { stop_and_remove(&shared, &uid).await });
        }
    }

    /// After a relist: forget pods the server no longer has.
    pub fn forget_all_but(self: &Arc<Self>, listed: &HashSet<String>) {
        let gone: Vec<String> = self
            .entries()
            .keys()
            .filter(|uid| !listed.contains(*uid))
            .cloned()
            .collect();
        for uid in gone {
            self.forget(&uid);
        }
    }

    /// A node got its podCIDR: take the addresses its pods already have
    /// and sync the pods that waited for one.
    pub fn adopt_addresses(&self, slot: &NodeSlot) {
        let mut waiting = Vec::new();
        {
            let mut entries = self.entries();
            let mut network = slot.network();
            for (uid, entry) in entries.iter_mut() {
                if entry.pod.node != slot.name {
                    continue;
                }
                if let (Some(network), Some(ip)) = (network.as_mut(), entry.pod.reported_ip) {
                    if entry.ip.is_none() && network.reserve(ip) {
                        entry.ip = Some(ip);
                    }
                }
                waiting.push(uid.clone());
            }
        }
        for uid in waiting {
            let _ = self.queue.send(uid);
        }
    }

    fn release_address(&self, entry: &Entry) {
        let Some(ip) = entry.ip else {
            return;
        };
        let slot = self.nodes.get(&entry.pod.node);
        if let Some(network) = slot
            .map(|s| s.network())
            .as_deref_mut()
            .and_then(Option::as_mut)
        {
            network.release(ip);
        }
    }
}

/// Starts syncs for the uids that arrive, one at a time per pod.
pub async fn dispatch<R: Runtime>(shared: Arc<Shared<R>>, mut queue: UnboundedReceiver<String>) {
    while let Some(uid) = queue.recv().await {
        let start = match shared.entries().get_mut(&uid) {
            None => false,
            Some(entry) if entry.syncing => {
                entry.dirty = true;
                false
            }
            Some(entry) => {
                entry.syncing = true;
                entry.dirty = false;
                true
            }
        };
        if start {
            let shared = shared.clone();
            tokio::spawn(async move {
                let permit = shared.permits.clone().acquire_owned().await;
                let wake = if shared.is_stopped() {
                    None
                } else {
                    sync(&shared, &uid).await
                };
                drop(permit);
                finish(&shared, uid, wake).await;
            });
        }
    }
}

async fn finish<R: Runtime>(shared: &Arc<Shared<R>>, uid: String, wake: Option<Duration>) {
    let again = match shared.entries().get_mut(&uid) {
        None => None,
        Some(entry) => {
            entry.syncing = false;
            Some(std::mem::take(&mut entry.dirty))
        }
    };
    match again {
        // Forgotten while syncing: the containers go now.
        None => stop_and_remove(shared, &uid).await,
        Some(true) => {
            let _ = shared.queue.send(uid.clone());
        }
        Some(false) => {}
    }
    let Some(after) = wake else {
        return;
    };
    let at = tokio::time::Instant::now() + after;
    let arm = match shared.entries().get_mut(&uid) {
        Some(entry) if entry.timer.is_none_or(|pending| pending > at) => {
            entry.timer = Some(at);
            true
        }
        _ => false,
    };
    if arm {
        let shared = shared.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            if let Some(entry) = shared.entries().get_mut(&uid) {
                if entry.timer == Some(at) {
                    entry.timer = None;
                }
            }
            let _ = shared.queue.send(uid);
        });
    }
}

async fn stop_and_remove<R: Runtime>(shared: &Shared<R>, uid: &str) {
    if let Err(error) = shared.runtime.stop_pod(uid, Duration::ZERO).await {
        tracing::warn!(uid, %error, "stopping a removed pod");
    }
    shared.runtime.remove_pod(uid).await;
}

fn node_of(pod: &Pod) -> Option<&str> {
    pod.spec.as_ref().and_then(|s| s.node_name.as_deref())
}

/// The address a previous agent run gave the pod.
fn reported_ip(pod: &Pod) -> Option<Ipv4Addr> {
    pod.status.as_ref()?.pod_ip.as_deref()?.parse().ok()
}

fn grace_period(pod: &Pod) -> Duration {
    let seconds = pod
        .metadata
        .deletion_grace_period_seconds
        .or_else(|| {
            pod.spec
                .as_ref()
                .and_then(|s| s.termination_grace_period_seconds)
        })
        .unwrap_or(DEFAULT_GRACE_SECONDS);
    Duration::from_secs(u64::try_from(seconds).unwrap_or(0))
}

/// Drives one pod toward its spec and reports its status; returns when to
/// look at it again, if a timer should.
async fn sync<R: Runtime>(shared: &Arc<Shared<R>>, uid: &str) -> Option<Duration> {
    let (encoded, ip, adopted) = {
        let entries = shared.entries();
        let entry = entries.get(uid)?;
        (entry.pod.encoded(), entry.ip, entry.adopted)
    };
    let pod = PodRecord::decode(&encoded)?;
    drop(encoded);
    let slot = node_of(&pod).and_then(|n| shared.nodes.get(n))?.clone();
    if !adopted {
        shared.runtime.adopt(&pod).await;
        if let Some(entry) = shared.entries().get_mut(uid) {
            entry.adopted = true;
        }
    }
    let spec = pod.spec.clone().unwrap_or_default();
    let deleting = pod.metadata.deletion_timestamp.is_some();
    let phase = pod
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default();
    let terminal = deleting || is_terminal(phase);
    let host_network = spec.host_network == Some(true);

    let pod_ip = if host_network {
        Some(slot.host_ip)
    } else if ip.is_some() || terminal || shared.runtime.assigns_addresses() {
        ip
    } else {
        // The sandbox needs an address: wait for the node's podCIDR.
        let given = {
            let mut network = slot.network();
            let network = network.as_mut()?;
            reported_ip(&pod)
                .filter(|ip| network.reserve(*ip))
                .or_else(|| network.allocate())
        };
        let Some(given) = given else {
            tracing::warn!(node = %slot.name, pod = %pod_key(&pod), "no pod address left");
            return Some(RETRY * 10);
        };
        match shared.entries().get_mut(uid) {
            Some(entry) => entry.ip = Some(given),
            None => return None,
        }
        Some(given)
    };

    let mut runtime = shared.runtime.pod_status(uid).await;
    let mut waiting = Vec::new();
    let mut wake = None;
    if terminal {
        if runtime.sandbox_ready
            || runtime
                .containers
                .iter()
                .any(|c| matches!(c.state, ContainerState::Running { .. }))
        {
            let running: Vec<(String, String)> = runtime
                .containers
                .iter()
                .filter(|c| matches!(c.state, ContainerState::Running { .. }))
                .map(|c| (c.name.clone(), c.id.clone()))
                .collect();
            for (name, _) in &running {
                let message = format!("Stopping container {name}");
                let events = &shared.events;
                events.container(&pod, name, Kind::Normal, "Killing", message);
            }
            let ip = pod_ip.map(|ip| ip.to_string()).or(runtime.ip.clone());
            let (events, ip) = (&shared.events, ip.unwrap_or_default());
            let grace = grace_period(&pod);
            let grace = hooks::pre_stop(&shared.runtime, events, &pod, &running, &ip, grace).await;
            if let Err(error) = shared.runtime.stop_pod(uid, grace).await {
                tracing::warn!(pod = %pod_key(&pod), %error, "stopping containers");
                return Some(RETRY);
            }
            runtime = shared.runtime.pod_status(uid).await;
        }
    } else {
        for _ in 0..MAX_START_ROUNDS {
            let plan = {
                let mut entries = shared.entries();
                let entry = entries.get_mut(uid)?;
                plan::plan(&pod, &runtime, &mut entry.backoff, Timestamp::now())
            };
            waiting = plan.waiting;
            wake = plan.wake_after;
            if plan.start.is_empty() {
                break;
            }
            let mut failed = false;
            for (container, attempt) in &plan.start {
                // A registry is not asked again before the back-off ends.
                let held_back = shared
                    .entries()
                    .get(uid)
                    .and_then(|e| e.pull_held_back(&container.name));
                if let Some(until) = held_back {
                    let image = container.image.as_deref().unwrap_or_default();
                    waiting.push((
                        container.name.clone(),
                        "ImagePullBackOff".into(),
                        format!("Back-off pulling image \"{image}\""),
                    ));
                    sooner(&mut wake, until - tokio::time::Instant::now());
                    failed = true;
                    continue;
                }
                let result = shared
                    .runtime
                    .start_container(&pod, container, *attempt)
                    .await;
                let result = match result {
                    Ok(()) => post_start(shared, uid, &pod, container).await,
                    failed => failed,
                };
                let pull_failed = matches!(&result, Err(e) if e.reason == "ErrImagePull");
                if pull_failed || result.is_ok() {
                    if let Some(entry) = shared.entries().get_mut(uid) {
                        entry.record_pull(&container.name, pull_failed);
                    }
                }
                if let Err(error) = result {
                    tracing::info!(pod = %pod_key(&pod), container = %container.name, %error, "starting");
                    wake = Some(if pull_failed { INITIAL_BACKOFF } else { RETRY });
                    waiting.push((container.name.clone(), error.reason.into(), error.message));
                    failed = true;
                }
            }
            runtime = shared.runtime.pod_status(uid).await;
            if failed {
                break;
            }
        }
    }
    if !terminal {
        report_waiting(shared, uid, &pod, &waiting);
    }
    if !terminal && shared.runtime.runs_probes() {
        let mut results = match shared.entries().get_mut(uid) {
            Some(entry) => std::mem::take(&mut entry.probes),
            None => return None,
        };
        let verdicts = probes::run(
            &shared.runtime,
            &shared.events,
            &pod,
            &mut runtime,
            &mut results,
        )
        .await;
        if let Some(entry) = shared.entries().get_mut(uid) {
            entry.probes = results;
        }
        if let Some(again) = verdicts.wake_after {
            sooner(&mut wake, again);
        }
        // Stopping takes up to the grace period: it runs on its own so
        // the pod's other probes go on; the restart policy takes it from
        // there once the container exited.
        for (name, id) in verdicts.kill {
            tracing::info!(pod = %pod_key(&pod), container = %name, "probe failed; restarting");
            let (shared, grace, key) = (shared.clone(), grace_period(&pod), pod_key(&pod));
            let (uid, pod, ip) = (uid.to_string(), pod.clone(), runtime.ip.clone());
            tokio::spawn(async move {
                let running = [(name.clone(), id.clone())];
                let (events, ip) = (&shared.events, ip.unwrap_or_default());
                let grace =
                    hooks::pre_stop(&shared.runtime, events, &pod, &running, &ip, grace).await;
                if let Err(error) = shared.runtime.stop_container(&id, grace).await {
                    tracing::warn!(pod = %key, container = %name, %error, "stopping");
                }
                let _ = shared.queue.send(uid);
            });
        }
    }
    if !terminal && runtime.sandbox_ready {
        if let Some(again) = shared.runtime.refresh_volumes(&pod).await {
            sooner(&mut wake, again);
        }
    }
    let pod_ip = pod_ip
        .map(|ip| ip.to_string())
        .or_else(|| runtime.ip.clone().filter(|_| !host_network));

    let status = generate(
        &pod,
        &Inputs {
            runtime: &runtime,
            waiting: &waiting,
            pod_ip,
            host_ip: &slot.host_ip.to_string(),
            terminal,
            now: Timestamp::now(),
        },
    );
    if !write_status(shared, uid, &pod, &status).await {
        return Some(RETRY);
    }
    if deleting {
        // As the kubelet: the containers stopped and the final status is
        // written, so the object goes, but only this very pod.
        let pods: Api<Pod> =
            Api::namespaced(shared.client.clone(), pod.metadata.namespace.as_deref()?);
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: Some(uid.to_string()),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match pods.delete(pod.metadata.name.as_deref()?, &params).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if matches!(status.code, 404 | 409) => {}
            Err(error) => {
                tracing::debug!(pod = %pod_key(&pod), %error, "final delete");
                return Some(RETRY);
            }
        }
    }
    wake
}

/// Runs the container's postStart hook, if it has one, on the instance
/// that just started. A failed hook stops the instance, which its restart
/// policy then handles, as upstream's kubelet does.
async fn post_start<R: Runtime>(
    shared: &Arc<Shared<R>>,
    uid: &str,
    pod: &Pod,
    container: &k8s_openapi::api::core::v1::Container,
) -> Result<(), crate::runtime::RuntimeError> {
    let Some(handler) = container
        .lifecycle
        .as_ref()
        .and_then(|l| l.post_start.as_ref())
    else {
        return Ok(());
    };
    let status = shared.runtime.pod_status(uid).await;
    let Some(started) = status.container(&container.name) else {
        return Ok(());
    };
    let (id, ip) = (started.id.clone(), status.ip.clone().unwrap_or_default());
    let grace = grace_period(pod);
    let ran = hooks::run(
        &shared.runtime,
        pod,
        container,
        &id,
        &ip,
        handler,
        POST_START_LIMIT,
    )
    .await;
    let Err(message) = ran else {
        return Ok(());
    };
    tracing::info!(pod = %pod_key(pod), container = %container.name, %message, "postStart hook");
    let failed = "PostStartHook failed".to_string();
    let events = &shared.events;
    events.container(
        pod,
        &container.name,
        Kind::Warning,
        "FailedPostStartHook",
        failed,
    );
    if let Err(error) = shared.runtime.stop_container(&id, grace).await {
        tracing::warn!(pod = %pod_key(pod), container = %container.name, %error, "stopping");
    }
    Err(crate::runtime::RuntimeError::new(
        "PostStartHookError",
        message,
    ))
}

/// Records why containers wait, once per reason and message, as
/// upstream's kubelet reports back-offs and configuration errors (pull
/// and start failures are recorded where they happen).
fn report_waiting<R: Runtime>(
    shared: &Shared<R>,
    uid: &str,
    pod: &Pod,
    waiting: &[(String, String, String)],
) {
    let fresh: Vec<&(String, String, String)> = {
        let mut entries = shared.entries();
        let Some(entry) = entries.get_mut(uid) else {
            return;
        };
        entry
            .reported
            .retain(|name, _| waiting.iter().any(|(waits, _, _)| waits == name));
        waiting
            .iter()
            .filter(|(name, reason, message)| {
                let key = format!("{reason}\n{message}");
                entry.reported.insert(name.clone(), key.clone()) != Some(key)
            })
            .collect()
    };
    let events = &shared.events;
    for (name, reason, message) in fresh {
        match reason.as_str() {
            "CrashLoopBackOff" => {
                let message = format!(
                    "Back-off restarting failed container {name} in pod {}_{}({uid})",
                    pod.metadata.name.as_deref().unwrap_or_default(),
                    pod.metadata.namespace.as_deref().unwrap_or_default(),
                );
                events.container(pod, name, Kind::Warning, "BackOff", message);
            }
            "ImagePullBackOff" => {
                events.container(pod, name, Kind::Normal, "BackOff", message.clone());
                let error = "Error: ImagePullBackOff".to_string();
                events.container(pod, name, Kind::Warning, "Failed", error);
            }
            "ContainerCreating" => {
                // Why the pod is still creating, as upstream names it.
                let reason = if message.starts_with("MountVolume.") {
                    "FailedMount"
                } else if message.starts_with("Failed to create pod sandbox") {
                    "FailedCreatePodSandBox"
                } else if message.starts_with("network is not ready") {
                    "NetworkNotReady"
                } else {
                    continue;
                };
                events.pod(pod, Kind::Warning, reason, message.clone());
            }
            "CreateContainerConfigError" => {
                let error = format!("Error: {message}");
                events.container(pod, name, Kind::Warning, "Failed", error);
            }
            _ => {}
        }
    }
}

/// Makes `wake` no later than `after` from now.
fn sooner(wake: &mut Option<Duration>, after: Duration) {
    *wake = Some(wake.map_or(after, |w| w.min(after)));
}

fn hash_of(value: &serde_json::Value) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    value.to_string().hash(&mut hasher);
    hasher.finish()
}

/// Writes `status` through pods/status unless the server has it already;
/// false when the write failed and should be retried.
async fn write_status<R: Runtime>(
    shared: &Shared<R>,
    uid: &str,
    pod: &Pod,
    status: &k8s_openapi::api::core::v1::PodStatus,
) -> bool {
    let Ok(wanted) = serde_json::to_value(status) else {
        return true;
    };
    let current = serde_json::to_value(&pod.status).unwrap_or_default();
    let unchanged = wanted
        .as_object()
        .is_some_and(|fields| fields.iter().all(|(k, v)| current.get(k) == Some(v)));
    if unchanged {
        return true;
    }
    let (wanted_hash, current_hash) = (hash_of(&wanted), hash_of(&current));
    let already = shared.entries().get(uid).and_then(|e| e.sent);
    if already == Some((wanted_hash, current_hash)) {
        // Written before, and the server's copy is what that write made.
        return true;
    }
    let (Some(namespace), Some(name)) = (
        pod.metadata.namespace.as_deref(),
        pod.metadata.name.as_deref(),
    ) else {
        return true;
    };
    let pods: Api<Pod> = Api::namespaced(shared.client.clone(), namespace);
    let patch = json!({ "status": wanted });
    match pods
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(written) => {
            let echo = serde_json::to_value(&written.status).unwrap_or_default();
            if let Some(entry) = shared.entries().get_mut(uid) {
                entry.sent = Some((wanted_hash, hash_of(&echo)));
            }
            true
        }
        Err(kube::Error::Api(status)) if status.code == 404 => true,
        Err(error) => {
            tracing::debug!(pod = %pod_key(pod), %error, "pod status");
            false
        }
    }
}
