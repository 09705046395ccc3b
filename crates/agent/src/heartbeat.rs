//! Registration, node status and the Lease heartbeat. Each node renews its
//! Lease in `kube-node-lease` every 10 s; with many nodes in one process
//! the renewals are spread evenly over those 10 s (from a random start) so
//! the API server sees a steady trickle, not bursts.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::agent::Shared;
use crate::node::{self, NodeSlot};
use crate::runtime::Runtime;

pub const LEASE_NAMESPACE: &str = "kube-node-lease";
/// How often a node renews its Lease (upstream: a quarter of the duration).
pub const RENEW_INTERVAL: Duration = Duration::from_secs(10);
pub const LEASE_DURATION_SECONDS: i32 = 40;
/// How often node status is posted when nothing changed (upstream's
/// `nodeStatusReportFrequency`).
pub const STATUS_REPORT_INTERVAL: Duration = Duration::from_secs(300);
/// How many times (100 ms apart) a node with a podCIDR waits for its
/// runtime's network to be ready before posting.
const NETWORK_SETTLE_POLLS: usize = 20;
/// How many nodes register at the same time on start-up.
const REGISTER_CONCURRENCY: usize = 32;

/// Registers every node, and keeps their Leases and status fresh.
pub async fn run<R: Runtime>(shared: Arc<Shared<R>>) {
    // Registration of many nodes takes a while: the round of heartbeats
    // starts at once for the nodes already registered.
    let registering = AtomicBool::new(true);
    let register_all = async {
        futures_util::stream::iter(shared.order.clone())
            .for_each_concurrent(REGISTER_CONCURRENCY, |slot| {
                let shared = shared.clone();
                async move { beat(&shared, &slot).await }
            })
            .await;
        registering.store(false, Ordering::Relaxed);
    };
    tokio::join!(register_all, renew_round(&shared, &registering));
}

/// Beats each node in turn, every `RENEW_INTERVAL`, evenly spread.
async fn renew_round<R: Runtime>(shared: &Arc<Shared<R>>, registering: &AtomicBool) {
    let count = shared.order.len().max(1);
    let period = RENEW_INTERVAL / u32::try_from(count).unwrap_or(u32::MAX);
    let mut ticks = tokio::time::interval(period.max(Duration::from_millis(1)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    let mut next = random_start(count);
    // Heartbeats have their own budget so busy pod syncs never starve them.
    let permits = Arc::new(tokio::sync::Semaphore::new(REGISTER_CONCURRENCY));
    loop {
        ticks.tick().await;
        let slot = shared.order[next % count].clone();
        next = next.wrapping_add(1);
        if registering.load(Ordering::Relaxed) && !slot.state().registered {
            // Its first registration is still to come.
            continue;
        }
        // With too many beats under way (a slow server) this one is
        // skipped; the node gets its next turn.
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            beat(&shared, &slot).await;
            drop(permit);
        });
    }
}

fn random_start(count: usize) -> usize {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(u64::from(std::process::id()));
    (hasher.finish() % count as u64) as usize
}

/// One heartbeat of one node: register if needed, post status if due,
/// renew the Lease.
async fn beat<R: Runtime>(shared: &Shared<R>, slot: &NodeSlot) {
    if shared.is_stopped() {
        return;
    }
    if !slot.state().registered {
        if let Err(error) = register(shared, slot).await {
            tracing::warn!(node = %slot.name, %error, "node registration");
            return;
        }
    }
    // A real node posts as soon as its runtime or machine changed.
    let judged = judge(shared).await;
    if let Some(judged) = &judged {
        let mut state = slot.state();
        if state.judged.as_ref() != Some(judged) {
            state.stale = true;
        }
    }
    let due = {
        let state = slot.state();
        state.stale
            || state
                .posted
                .is_none_or(|at| at.elapsed() >= STATUS_REPORT_INTERVAL)
    };
    if due {
        post_measured(shared, slot, judged).await;
    }
    if let Err(error) = renew_lease(shared, slot).await {
        tracing::debug!(node = %slot.name, %error, "lease renewal");
    }
}

/// Creates the Node; if it exists (an agent restart), puts the well-known
/// labels back as the kubelet does and leaves the rest alone.
async fn register<R: Runtime>(shared: &Shared<R>, slot: &NodeSlot) -> Result<(), kube::Error> {
    let nodes: Api<Node> = Api::all(shared.client.clone());
    let wanted = node::registration(slot, &shared.template);
    let created = match nodes.create(&PostParams::default(), &wanted).await {
        Ok(created) => created,
        Err(kube::Error::Api(status)) if status.code == 409 => {
            let labels = node::well_known_labels(&slot.name);
            let patch = json!({ "metadata": { "labels": labels } });
            nodes
                .patch(&slot.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await?
        }
        Err(error) => return Err(error),
    };
    if let Some(cidr) = created.spec.as_ref().and_then(|s| s.pod_cidr.as_deref()) {
        let mut network = slot.network();
        if network.is_none() {
            *network = crate::ipam::PodNetwork::parse(cidr);
        }
    }
    let mut state = slot.state();
    state.registered = true;
    state.stale = true;
    state.uid = created.metadata.uid.as_deref().map(Into::into);
    Ok(())
}

/// Posts the node's status: ready once it has pod addresses and the
/// runtime says it can run pods.
pub async fn post_status<R: Runtime>(shared: &Shared<R>, slot: &NodeSlot) {
    let judged = judge(shared).await;
    post_measured(shared, slot, judged).await;
}

/// Posts the node's status from health just judged.
async fn post_measured<R: Runtime>(
    shared: &Shared<R>,
    slot: &NodeSlot,
    mut judged: Option<node::Judged>,
) {
    // The runtime takes a moment to load the network configuration
    // written when the podCIDR arrived: wait briefly rather than post
    // NotReady until the next beat.
    for _ in 0..NETWORK_SETTLE_POLLS {
        let settling =
            slot.network().is_some() && judged.as_ref().is_some_and(|j| j.problem.is_some());
        if !settling {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        judged = judge(shared).await;
    }
    let now = Timestamp::now();
    let problem = judged.as_ref().and_then(|j| j.problem.clone());
    let ready = slot.network().is_some() && problem.is_none();
    let pressed = judged.as_ref().map_or([false; 3], |j| j.pressed);
    let (since, pressures) = {
        let mut state = slot.state();
        if state.posting || !state.registered {
            return;
        }
        state.posting = true;
        state.stale = false;
        let since = match state.ready {
            Some((was, since)) if was == ready => since,
            _ => now,
        };
        let mut pressures = [(false, now); 3];
        for (at, under) in pressed.into_iter().enumerate() {
            pressures[at] = match state.pressures {
                Some(posted) if posted[at].0 == under => posted[at],
                _ => (under, now),
            };
        }
        (since, pressures)
    };
    let observed = node::Observed {
        ready: (ready, since),
        not_ready_message: problem.as_deref(),
        memory_pressure: pressures[0],
        disk_pressure: pressures[1],
        pid_pressure: pressures[2],
        images: judged.as_ref().map_or(&[], |j| j.images.as_slice()),
    };
    let status = node::status(slot, &shared.template, &observed, now);
    let nodes: Api<Node> = Api::all(shared.client.clone());
    let patch = json!({ "status": status });
    let result = nodes
        .patch_status(&slot.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await;
    let mut state = slot.state();
    state.posting = false;
    match result {
        Ok(_) => {
            state.ready = Some((ready, since));
            state.pressures = Some(pressures);
            state.judged = judged;
            state.posted = Some(Instant::now());
        }
        Err(error) => {
            tracing::debug!(node = %slot.name, %error, "node status");
            state.stale = true;
            if matches!(&error, kube::Error::Api(s) if s.code == 404) {
                // The Node was deleted: register again on the next beat.
                state.registered = false;
            }
        }
    }
}

/// The runtime's measurements, judged against the node's thresholds;
/// None for nodes without a machine (sim).
async fn judge<R: Runtime>(shared: &Shared<R>) -> Option<node::Judged> {
    let health = shared.runtime.node_health().await?;
    Some(node::Judged {
        pressed: shared.template.eviction_hard.judge(&health),
        problem: health.runtime_problem,
        images: health.images,
    })
}

/// Renews the node's Lease, creating it when missing.
async fn renew_lease<R: Runtime>(shared: &Shared<R>, slot: &NodeSlot) -> Result<(), kube::Error> {
    let leases: Api<Lease> = Api::namespaced(shared.client.clone(), LEASE_NAMESPACE);
    let now = MicroTime(Timestamp::now());
    let patch = json!({ "spec": {
        "holderIdentity": &*slot.name,
        "leaseDurationSeconds": LEASE_DURATION_SECONDS,
        "renewTime": now,
    }});
    match leases
        .patch(&slot.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => {
            let owner = slot.state().uid.clone().map(|uid| OwnerReference {
                api_version: "v1".into(),
                kind: "Node".into(),
                name: slot.name.to_string(),
                uid: uid.to_string(),
                ..OwnerReference::default()
            });
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(slot.name.to_string()),
                    namespace: Some(LEASE_NAMESPACE.into()),
                    owner_references: owner.map(|o| vec![o]),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(slot.name.to_string()),
                    lease_duration_seconds: Some(LEASE_DURATION_SECONDS),
                    renew_time: Some(now),
                    ..LeaseSpec::default()
                }),
            };
            match leases.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
                Err(error) => Err(error),
            }
        }
        Err(error) => Err(error),
    }
}
