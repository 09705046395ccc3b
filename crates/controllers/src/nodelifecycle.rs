//! Node lifecycle (upstream's node lifecycle controller with its taint
//! eviction part): a node whose Lease and status stop being renewed for
//! the grace period gets its conditions set to Unknown; nodes carry the
//! `node.kubernetes.io/{not-ready,unreachable}` taints that match their
//! Ready condition (and `unschedulable` when cordoned); pods on an
//! unreachable node are marked not ready; pods on a node with NoExecute
//! taints are evicted when they do not tolerate them, or once their
//! `tolerationSeconds` ran out.

use std::collections::{HashMap, HashSet};

use capstan_api::toleration::tolerates;
use std::future::Future;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition, Pod, PodCondition, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, ResourceExt};
use serde_json::json;

pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
const LEASE_NAMESPACE: &str = "kube-node-lease";
/// Conditions a kubelet posts; all go Unknown when it stops.
const NODE_CONDITIONS: &[&str] = &["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

/// Runs the controller until `shutdown` completes, from the shared
/// caches of nodes and pods.
pub async fn run(
    client: Client,
    grace_period: Duration,
    nodes: Store<Node>,
    pods: Store<Pod>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    tokio::select! {
        _ = shutdown => {}
        _ = monitor(client, grace_period, nodes, pods) => {}
    }
}

/// Keeps a reflector's store filled; never returns.
async fn fill<K>(writer: reflector::store::Writer<K>, api: Api<K>, config: watcher::Config)
where
    K: kube::Resource<DynamicType = ()> + Clone + std::fmt::Debug + Send + Sync + 'static,
    K: k8s_openapi::serde::de::DeserializeOwned,
{
    let stream = reflector::reflector(writer, watcher::watcher(api, config).default_backoff())
        .applied_objects();
    let mut stream = std::pin::pin!(stream);
    while let Some(result) = stream.next().await {
        if let Err(error) = result {
            tracing::debug!(%error, "node lifecycle watch");
        }
    }
}

async fn monitor(client: Client, grace: Duration, nodes: Store<Node>, pods: Store<Pod>) {
    let (leases, leases_writer) = reflector::store::<Lease>();
    let mut controller = Lifecycle {
        client: client.clone(),
        grace,
        health: HashMap::new(),
        tainted_since: HashMap::new(),
    };
    let period = (grace / 4).clamp(Duration::from_millis(100), Duration::from_secs(5));
    let any = watcher::Config::default().any_semantic();
    tokio::join!(
        fill(
            leases_writer,
            Api::namespaced(client.clone(), LEASE_NAMESPACE),
            any
        ),
        async {
            if nodes.wait_until_ready().await.is_err()
                || leases.wait_until_ready().await.is_err()
                || pods.wait_until_ready().await.is_err()
            {
                return;
            }
            // A pass every period, and soon after a node's readiness,
            // conditions or cordon change (upstream taints on node
            // updates), so a node that turns Ready takes pods at once.
            let mut ticks = tokio::time::interval(CHANGE_POLL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last = (Instant::now(), None);
            loop {
                ticks.tick().await;
                let seen = fingerprint(&nodes);
                if last.1 == Some(seen) && last.0.elapsed() < period {
                    continue;
                }
                controller.pass(&nodes, &leases, &pods).await;
                last = (Instant::now(), Some(fingerprint(&nodes)));
            }
        },
    );
}

/// How often the node cache is checked for changes that call for a pass.
const CHANGE_POLL: Duration = Duration::from_millis(200);

/// What of the nodes a pass acts on: their conditions, cordon and taints.
fn fingerprint(nodes: &Store<Node>) -> u64 {
    use std::hash::{Hash, Hasher};
    // Summed per node: the cache's order does not matter.
    let mut sum = 0u64;
    for node in nodes.state() {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        node.metadata.name.hash(&mut hasher);
        unschedulable(&node).hash(&mut hasher);
        let conditions = node.status.as_ref().and_then(|s| s.conditions.as_ref());
        for condition in conditions.into_iter().flatten() {
            (&condition.type_, &condition.status).hash(&mut hasher);
        }
        for taint in current_taints(&node) {
            (taint.key, taint.effect).hash(&mut hasher);
        }
        sum = sum.wrapping_add(hasher.finish());
    }
    sum
}

struct Lifecycle {
    client: Client,
    grace: Duration,
    /// Per node: the last heartbeat seen (Lease renewTime and Ready
    /// heartbeat) and when it was first seen here. Local time, as
    /// upstream, so clock skew between machines does not matter.
    health: HashMap<String, (String, Instant)>,
    /// Pods on nodes with NoExecute taints and since when they are seen
    /// there: their tolerationSeconds count from then.
    tainted_since: HashMap<String, Instant>,
}

impl Lifecycle {
    async fn pass(&mut self, nodes: &Store<Node>, leases: &Store<Lease>, pods: &Store<Pod>) {
        let now = Instant::now();
        let nodes = nodes.state();
        let names: HashSet<String> = nodes.iter().map(|n| n.name_any()).collect();
        self.health.retain(|name, _| names.contains(name));
        let mut unreachable = HashSet::new();
        let mut no_execute: HashMap<String, Vec<Taint>> = HashMap::new();
        for node in &nodes {
            let name = node.name_any();
            let lease = leases.get(&reflector::ObjectRef::new(&name).within(LEASE_NAMESPACE));
            let heartbeat = heartbeat(node, lease.as_deref());
            let seen = self
                .health
                .entry(name.clone())
                .or_insert((heartbeat.clone(), now));
            if seen.0 != heartbeat {
                *seen = (heartbeat, now);
            }
            let stale = now.duration_since(seen.1) > self.grace;
            let mut ready = ready_status(node);
            if stale && ready.as_deref() != Some("Unknown") {
                match self.mark_unknown(node).await {
                    Ok(()) => ready = Some("Unknown".into()),
                    Err(error) => tracing::debug!(node = name, %error, "marking node unknown"),
                }
            }
            if ready.as_deref() == Some("Unknown") {
                unreachable.insert(name.clone());
            }
            let taints = match self.sync_taints(node, ready.as_deref()).await {
                Ok(taints) => taints,
                Err(error) => {
                    tracing::debug!(node = name, %error, "node taints");
                    current_taints(node)
                }
            };
            let executing: Vec<Taint> = taints
                .into_iter()
                .filter(|t| t.effect == "NoExecute")
                .collect();
            if !executing.is_empty() {
                no_execute.insert(name, executing);
            }
        }
        if unreachable.is_empty() && no_execute.is_empty() {
            self.tainted_since.clear();
            return;
        }
        let mut still_tainted = HashSet::new();
        for pod in pods.state() {
            let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) else {
                continue;
            };
            if unreachable.contains(&node) && pod_ready(&pod) {
                if let Err(error) = self.mark_pod_not_ready(&pod).await {
                    tracing::debug!(pod = pod.name_any(), %error, "marking pod not ready");
                }
            }
            let Some(taints) = no_execute.get(&node) else {
                continue;
            };
            if pod.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let uid = pod.metadata.uid.clone().unwrap_or_default();
            still_tainted.insert(uid.clone());
            let since = *self.tainted_since.entry(uid).or_insert(now);
            let tolerations = pod
                .spec
                .as_ref()
                .and_then(|s| s.tolerations.clone())
                .unwrap_or_default();
            let due = match toleration_time(taints, &tolerations) {
                Tolerated::Not => true,
                Tolerated::Forever => false,
                Tolerated::For(time) => now.duration_since(since) >= time,
            };
            if due {
                if let Err(error) = self.evict(&pod).await {
                    tracing::debug!(pod = pod.name_any(), %error, "taint eviction");
                }
            }
        }
        self.tainted_since
            .retain(|uid, _| still_tainted.contains(uid));
    }

    /// Sets the kubelet's conditions to Unknown, as upstream does when a
    /// node stops posting status.
    async fn mark_unknown(&self, node: &Node) -> Result<(), kube::Error> {
        let now = Time(Timestamp::now());
        let mut conditions: Vec<NodeCondition> = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default();
        for kind in NODE_CONDITIONS {
            match conditions.iter_mut().find(|c| c.type_ == *kind) {
                Some(condition) if condition.status == "Unknown" => {}
                Some(condition) => {
                    condition.status = "Unknown".into();
                    condition.reason = Some("NodeStatusUnknown".into());
                    condition.message = Some("Kubelet stopped posting node status.".into());
                    condition.last_transition_time = Some(now.clone());
                }
                None => conditions.push(NodeCondition {
                    type_: kind.to_string(),
                    status: "Unknown".into(),
                    reason: Some("NodeStatusNeverUpdated".into()),
                    message: Some("Kubelet never posted node status.".into()),
                    last_heartbeat_time: Some(now.clone()),
                    last_transition_time: Some(now.clone()),
                }),
            }
        }
        let api: Api<Node> = Api::all(self.client.clone());
        let patch = json!({ "status": { "conditions": conditions } });
        api.patch_status(
            &node.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
        tracing::info!(node = node.name_any(), "node stopped posting status");
        Ok(())
    }

    /// Makes the node's condition taints match its Ready condition and
    /// `spec.unschedulable`; returns the taints it has afterwards.
    async fn sync_taints(
        &self,
        node: &Node,
        ready: Option<&str>,
    ) -> Result<Vec<Taint>, kube::Error> {
        let current = current_taints(node);
        let pressures = true_conditions(node);
        let wanted = wanted_taints(&current, ready, &pressures, unschedulable(node));
        if same_taints(&current, &wanted) {
            return Ok(current);
        }
        let api: Api<Node> = Api::all(self.client.clone());
        // Guarded by resourceVersion: taints others set are never lost.
        let patch = json!({
            "metadata": { "resourceVersion": node.resource_version() },
            "spec": { "taints": wanted },
        });
        api.patch(
            &node.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
        Ok(wanted)
    }

    async fn mark_pod_not_ready(&self, pod: &Pod) -> Result<(), kube::Error> {
        let mut conditions: Vec<PodCondition> = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default();
        for condition in conditions.iter_mut().filter(|c| c.type_ == "Ready") {
            condition.status = "False".into();
            condition.last_transition_time = Some(Time(Timestamp::now()));
        }
        let api: Api<Pod> =
            Api::namespaced(self.client.clone(), &pod.namespace().unwrap_or_default());
        let patch = json!({
            "metadata": { "resourceVersion": pod.resource_version() },
            "status": { "conditions": conditions },
        });
        api.patch_status(
            &pod.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
        Ok(())
    }

    /// Records why on the pod (DisruptionTarget), then deletes it.
    async fn evict(&self, pod: &Pod) -> Result<(), kube::Error> {
        let api: Api<Pod> =
            Api::namespaced(self.client.clone(), &pod.namespace().unwrap_or_default());
        let mut conditions: Vec<PodCondition> = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default();
        if !conditions.iter().any(|c| c.type_ == "DisruptionTarget") {
            conditions.push(PodCondition {
                type_: "DisruptionTarget".into(),
                status: "True".into(),
                reason: Some("DeletionByTaintManager".into()),
                message: Some("Taint manager: deleting due to NoExecute taint".into()),
                last_transition_time: Some(Time(Timestamp::now())),
                ..PodCondition::default()
            });
            let patch = json!({ "status": { "conditions": conditions } });
            match api
                .patch_status(
                    &pod.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
            {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.code == 404 => return Ok(()),
                Err(error) => return Err(error),
            }
        }
        match api.delete(&pod.name_any(), &DeleteParams::default()).await {
            Ok(_) => {
                tracing::info!(
                    pod = pod.name_any(),
                    "evicted: NoExecute taint not tolerated"
                );
                Ok(())
            }
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(error) => Err(error),
        }
    }
}

/// What changes when a kubelet is alive: its Lease renewals and its
/// status heartbeats.
fn heartbeat(node: &Node, lease: Option<&Lease>) -> String {
    let renewed = lease
        .and_then(|l| l.spec.as_ref())
        .and_then(|s| s.renew_time.as_ref())
        .map(|t| t.0.to_string())
        .unwrap_or_default();
    let posted = ready_condition(node)
        .and_then(|c| c.last_heartbeat_time.as_ref())
        .map(|t| t.0.to_string())
        .unwrap_or_default();
    format!("{renewed}|{posted}")
}

fn ready_condition(node: &Node) -> Option<&NodeCondition> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
}

fn ready_status(node: &Node) -> Option<String> {
    ready_condition(node).map(|c| c.status.clone())
}

fn unschedulable(node: &Node) -> bool {
    node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true)
}

fn current_taints(node: &Node) -> Vec<Taint> {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default()
}

fn pod_ready(pod: &Pod) -> bool {
    let conditions = pod.status.as_ref().and_then(|s| s.conditions.as_ref());
    conditions.is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Conditions that taint a node NoSchedule while True (upstream's
/// `TaintNodesByCondition`).
const CONDITION_TAINTS: [(&str, &str); 4] = [
    ("MemoryPressure", "node.kubernetes.io/memory-pressure"),
    ("DiskPressure", "node.kubernetes.io/disk-pressure"),
    ("PIDPressure", "node.kubernetes.io/pid-pressure"),
    (
        "NetworkUnavailable",
        "node.kubernetes.io/network-unavailable",
    ),
];

/// The node's conditions among CONDITION_TAINTS that are True.
fn true_conditions(node: &Node) -> Vec<&str> {
    let conditions = node.status.as_ref().and_then(|s| s.conditions.as_ref());
    CONDITION_TAINTS
        .iter()
        .map(|(condition, _)| *condition)
        .filter(|wanted| {
            conditions
                .is_some_and(|all| all.iter().any(|c| c.type_ == *wanted && c.status == "True"))
        })
        .collect()
}

/// The taints a node should have: others' taints as they are, plus the
/// condition taints its Ready status, its pressure conditions (`true`,
/// their types) and cordon call for (keeping the time a taint was first
/// added).
pub fn wanted_taints(
    current: &[Taint],
    ready: Option<&str>,
    pressures: &[&str],
    unschedulable: bool,
) -> Vec<Taint> {
    let mut wanted: Vec<(&str, &str)> = match ready {
        Some("False") => vec![(NOT_READY, "NoSchedule"), (NOT_READY, "NoExecute")],
        Some("Unknown") => vec![(UNREACHABLE, "NoSchedule"), (UNREACHABLE, "NoExecute")],
        _ => Vec::new(),
    };
    for (condition, key) in CONDITION_TAINTS {
        if pressures.contains(&condition) {
            wanted.push((key, "NoSchedule"));
        }
    }
    if unschedulable {
        wanted.push((UNSCHEDULABLE, "NoSchedule"));
    }
    let managed = |t: &Taint| {
        [NOT_READY, UNREACHABLE].contains(&t.key.as_str())
            || (t.key == UNSCHEDULABLE && t.effect == "NoSchedule")
            || CONDITION_TAINTS
                .iter()
                .any(|(_, key)| t.key == *key && t.effect == "NoSchedule")
    };
    let mut taints: Vec<Taint> = current.iter().filter(|t| !managed(t)).cloned().collect();
    for (key, effect) in wanted {
        let existing = current.iter().find(|t| t.key == key && t.effect == effect);
        taints.push(match existing {
            Some(taint) => taint.clone(),
            None => Taint {
                key: key.into(),
                value: None,
                effect: effect.into(),
                time_added: (effect == "NoExecute").then(|| Time(Timestamp::now())),
            },
        });
    }
    taints
}

fn same_taints(a: &[Taint], b: &[Taint]) -> bool {
    let key = |t: &Taint| (t.key.clone(), t.effect.clone(), t.value.clone());
    let set = |list: &[Taint]| list.iter().map(key).collect::<HashSet<_>>();
    a.len() == b.len() && set(a) == set(b)
}

/// How long a pod may stay on a node with these NoExecute taints.
#[derive(Debug, PartialEq)]
pub enum Tolerated {
    Not,
    Forever,
    For(Duration),
}

/// Upstream's rule: every taint must be tolerated; the shortest
/// `tolerationSeconds` among the tolerations used counts, none means
/// forever.
pub fn toleration_time(taints: &[Taint], tolerations: &[Toleration]) -> Tolerated {
    let mut shortest: Option<i64> = None;
    for taint in taints {
        let used: Vec<&Toleration> = tolerations.iter().filter(|t| tolerates(t, taint)).collect();
        if used.is_empty() {
            return Tolerated::Not;
        }
        for toleration in used {
            if let Some(seconds) = toleration.toleration_seconds {
                shortest = Some(shortest.map_or(seconds, |s| s.min(seconds)));
            }
        }
    }
    match shortest {
        None => Tolerated::Forever,
        Some(seconds) => Tolerated::For(Duration::from_secs(u64::try_from(seconds).unwrap_or(0))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            effect: effect.into(),
            ..Taint::default()
        }
    }

    fn toleration(key: &str, operator: &str, effect: &str, seconds: Option<i64>) -> Toleration {
        Toleration {
            key: (!key.is_empty()).then(|| key.into()),
            operator: Some(operator.into()),
            effect: (!effect.is_empty()).then(|| effect.into()),
            toleration_seconds: seconds,
            value: None,
        }
    }

    #[test]
    fn condition_taints_follow_readiness() {
        let other = taint("dedicated", "NoSchedule");
        let unknown = wanted_taints(std::slice::from_ref(&other), Some("Unknown"), &[], false);
        let keys: Vec<_> = unknown
            .iter()
            .map(|t| (t.key.as_str(), t.effect.as_str()))
            .collect();
        assert_eq!(
            keys,
            [
                ("dedicated", "NoSchedule"),
                (UNREACHABLE, "NoSchedule"),
                (UNREACHABLE, "NoExecute")
            ]
        );
        assert!(unknown[2].time_added.is_some());
        let not_ready = wanted_taints(&unknown, Some("False"), &[], false);
        assert!(not_ready.iter().all(|t| t.key != UNREACHABLE));
        assert!(not_ready
            .iter()
            .any(|t| t.key == NOT_READY && t.effect == "NoExecute"));
        let back = wanted_taints(&not_ready, Some("True"), &[], true);
        let keys: Vec<_> = back.iter().map(|t| t.key.as_str()).collect();
        assert_eq!(keys, ["dedicated", UNSCHEDULABLE]);
        // Pressure conditions taint NoSchedule while they hold.
        let pressed = wanted_taints(&back, Some("True"), &["DiskPressure"], true);
        let keys: Vec<_> = pressed.iter().map(|t| t.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "dedicated",
                "node.kubernetes.io/disk-pressure",
                UNSCHEDULABLE
            ]
        );
        let relieved = wanted_taints(&pressed, Some("True"), &[], true);
        assert_eq!(relieved.len(), 2);
    }

    #[test]
    fn toleration_seconds_as_upstream() {
        let taints = [taint(UNREACHABLE, "NoExecute")];
        assert_eq!(toleration_time(&taints, &[]), Tolerated::Not);
        let forever = [toleration(UNREACHABLE, "Exists", "NoExecute", None)];
        assert_eq!(toleration_time(&taints, &forever), Tolerated::Forever);
        let short = [
            toleration(UNREACHABLE, "Exists", "NoExecute", Some(300)),
            toleration("", "Exists", "", Some(1)),
        ];
        assert_eq!(
            toleration_time(&taints, &short),
            Tolerated::For(Duration::from_secs(1))
        );
        let other = [toleration(NOT_READY, "Exists", "NoExecute", Some(300))];
        assert_eq!(toleration_time(&taints, &other), Tolerated::Not);
        let wrong_effect = [toleration(UNREACHABLE, "Exists", "NoSchedule", None)];
        assert_eq!(toleration_time(&taints, &wrong_effect), Tolerated::Not);
    }

    #[test]
    fn equal_tolerations_compare_values() {
        let mut gpu = taint("dedicated", "NoExecute");
        gpu.value = Some("gpu".into());
        let mut matching = toleration("dedicated", "Equal", "NoExecute", None);
        matching.value = Some("gpu".into());
        assert!(tolerates(&matching, &gpu));
        matching.value = Some("cpu".into());
        assert!(!tolerates(&matching, &gpu));
    }
}
