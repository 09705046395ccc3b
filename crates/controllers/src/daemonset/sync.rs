//! One sync of a DaemonSet (upstream's syncDaemonSet): claim pods, make
//! the current revision, create and delete pods as planned, prune history,
//! write status.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::eligibility::{add_daemon_tolerations, pin_to_node};
use super::plan::{self, Plan, Removal, View, TEMPLATE_GENERATION_LABEL};
use super::Context;
use crate::events::core_reference;
use crate::history::{self, claim, Claim, Ensured, Wanted, POD_REVISION_LABEL};
use crate::pods::{controller_ref, from_template, is_controlled_by};
use crate::{describe, status_code, Error};

/// Back-off for replacing failed pods: upstream's 1 s doubling to 15 min.
const FAILED_BACKOFF_START: Duration = Duration::from_secs(1);
const FAILED_BACKOFF_MAX: Duration = Duration::from_secs(15 * 60);

/// How soon to look again while the pod cache catches up.
const CACHE_WAIT: Duration = Duration::from_secs(1);

/// A full resync now and then, as upstream's informers do.
const RESYNC: Duration = Duration::from_secs(5 * 60);

pub(super) async fn reconcile(ds: Arc<DaemonSet>, ctx: Arc<Context>) -> Result<Action, Error> {
    for ready in [
        ctx.pods.wait_until_ready().await,
        ctx.nodes.wait_until_ready().await,
        ctx.revisions.wait_until_ready().await,
    ] {
        ready.map_err(|e| Error::new(e.to_string()))?;
    }
    let namespace = ds.namespace().unwrap_or_default();
    let key = format!("{namespace}/{}", ds.name_any());
    // Act on the latest copy: the trigger may be older than our own writes.
    let api: Api<DaemonSet> = Api::namespaced(ctx.client.clone(), &namespace);
    let Some(ds) = api.get_opt(&ds.name_any()).await? else {
        ctx.expectations.forget(&key);
        return Ok(Action::await_change());
    };
    if ds.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let Some(spec) = ds.spec.as_ref() else {
        return Ok(Action::await_change());
    };
    let selector_is_empty = spec
        .selector
        .match_labels
        .as_ref()
        .is_none_or(|l| l.is_empty())
        && spec
            .selector
            .match_expressions
            .as_ref()
            .is_none_or(|e| e.is_empty());
    if selector_is_empty {
        let note = "This daemon set is selecting all pods. A non-empty selector is required.";
        warn(&ctx, &ds, "SelectingAll", note, None).await;
        return Ok(Action::await_change());
    }

    let pods = claim_pods(&ctx, &ds).await?;
    let revisions: Vec<ControllerRevision> = ctx
        .revisions
        .state()
        .iter()
        .filter(|r| r.namespace().as_deref() == Some(namespace.as_str()))
        .filter(|r| is_controlled_by(&r.metadata, ds.uid().as_deref().unwrap_or("")))
        .map(|r| (**r).clone())
        .collect();
    let Some(current) = current_revision(&ctx, &ds, &revisions).await? else {
        // A hash collision: the collision count went up, which brings
        // this DaemonSet back with a new hash.
        return Ok(Action::requeue(CACHE_WAIT));
    };
    let hash = current
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(POD_REVISION_LABEL).cloned())
        .unwrap_or_default();

    let nodes = ctx.nodes.state();
    let view = View {
        ds: &ds,
        nodes: &nodes,
        pods_by_node: plan::by_node(pods.iter().cloned()),
        hash: &hash,
        now: jiff::Timestamp::now(),
    };
    let mut requeue = None;
    if ctx.expectations.satisfied(&key, &namespace, &ctx.pods) {
        let mut planned = view.manage();
        if planned.is_empty() {
            planned = view.rolling_update().map_err(Error::new)?;
        }
        requeue = apply(&ctx, &ds, &key, &hash, planned).await?;
    } else {
        requeue = requeue.or(Some(CACHE_WAIT));
    }

    prune_history(&ctx, &ds, &current, &revisions, &pods).await?;
    let status = view.status(ds.status.as_ref());
    crate::write_status(&ctx.client, &ds, ds.status.as_ref(), &status).await?;

    // Pods that are ready but not yet available become so with time.
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    if min_ready > 0 && status.number_ready != status.number_available.unwrap_or(0) {
        let wait = Duration::from_secs(u64::try_from(min_ready).unwrap_or(0));
        requeue = Some(requeue.map_or(wait, |r: Duration| r.min(wait)));
    }
    Ok(Action::requeue(requeue.unwrap_or(RESYNC)))
}

/// The pods of a DaemonSet, adopting orphans that match its selector and
/// releasing its pods that no longer do (upstream's ClaimPods).
async fn claim_pods(ctx: &Context, ds: &DaemonSet) -> Result<Vec<Arc<Pod>>, Error> {
    let namespace = ds.namespace().unwrap_or_default();
    let uid = ds.uid().unwrap_or_default();
    let selector = ds
        .spec
        .as_ref()
        .map(|s| s.selector.clone())
        .unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    let mut owned = Vec::new();
    for pod in ctx.pods.state() {
        if pod.namespace().as_deref() != Some(namespace.as_str()) {
            continue;
        }
        match claim(&pod.metadata, &uid, &selector, true) {
            Claim::Owned => owned.push(pod),
            Claim::NotOurs => {}
            Claim::Adopt => {
                let patch = history::ownership_patch(&pod.metadata, &uid, Some(controller_ref(ds)));
                match api
                    .patch(
                        &pod.name_any(),
                        &PatchParams::default(),
                        &Patch::Merge(&patch),
                    )
                    .await
                {
                    Ok(adopted) => owned.push(Arc::new(adopted)),
                    // Gone or changed meanwhile: the next sync sees it anew.
                    Err(error) if matches!(status_code(&error), Some(404 | 409 | 422)) => {}
                    Err(error) => return Err(error.into()),
                }
            }
            Claim::Release => {
                let patch = history::ownership_patch(&pod.metadata, &uid, None);
                match api
                    .patch(
                        &pod.name_any(),
                        &PatchParams::default(),
                        &Patch::Merge(&patch),
                    )
                    .await
                {
                    Ok(_) => {}
                    Err(error) if matches!(status_code(&error), Some(404 | 409 | 422)) => {}
                    Err(error) => return Err(error.into()),
                }
            }
        }
    }
    // Terminal pods being deleted are as good as gone.
    owned.retain(|p| !(p.metadata.deletion_timestamp.is_some() && crate::pods::is_terminal(p)));
    Ok(owned)
}

/// The revision recording the DaemonSet's template, made or renumbered as
/// needed; None after a hash collision.
async fn current_revision(
    ctx: &Context,
    ds: &DaemonSet,
    revisions: &[ControllerRevision],
) -> Result<Option<ControllerRevision>, Error> {
    let namespace = ds.namespace().unwrap_or_default();
    let spec = ds.spec.as_ref().ok_or_else(|| Error::new("no spec"))?;
    let collision_count = ds.status.as_ref().and_then(|s| s.collision_count);
    let hash = history::template_hash(&spec.template, collision_count);
    let mut labels: BTreeMap<String, String> = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    labels.insert(POD_REVISION_LABEL.into(), hash.clone());
    let wanted = Wanted {
        name: history::revision_name(&ds.name_any(), &hash),
        labels,
        annotations: ds.metadata.annotations.clone(),
        owner: controller_ref(ds),
        patch: history::template_patch(&spec.template),
    };
    let api: Api<ControllerRevision> = Api::namespaced(ctx.client.clone(), &namespace);
    match history::ensure(&api, revisions, wanted).await? {
        Ensured::Revision(revision) => Ok(Some(*revision)),
        Ensured::Collision => {
            let count = collision_count.unwrap_or(0).saturating_add(1);
            let patch = json!({ "status": { "collisionCount": count } });
            Api::<DaemonSet>::namespaced(ctx.client.clone(), &namespace)
                .patch_status(
                    &ds.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await?;
            tracing::info!(daemonset = %ds.name_any(), count, "hash collision; collision count raised");
            Ok(None)
        }
    }
}

/// Carries out a plan: deletions, then creations in batches of 1, 2, 4,
/// ... (upstream's slow start). Returns when to look again, if sooner
/// than usual.
async fn apply(
    ctx: &Context,
    ds: &DaemonSet,
    key: &str,
    hash: &str,
    planned: Plan,
) -> Result<Option<Duration>, Error> {
    let namespace = ds.namespace().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    let mut requeue = None;
    let mut deletions = Vec::new();
    for (name, why) in planned.delete {
        if let Removal::Failed { node } = &why {
            match failed_pod_backoff(ctx, &format!("{key}/{node}")) {
                Some(wait) => {
                    requeue = Some(wait);
                    continue;
                }
                None => {
                    let note = format!(
                        "Found failed daemon pod {namespace}/{name} on node {node}, will try to kill it"
                    );
                    warn(
                        ctx,
                        ds,
                        "FailedDaemonPod",
                        &note,
                        Some(pod_ref(&namespace, &name)),
                    )
                    .await;
                }
            }
        }
        deletions.push(name);
    }
    let params = DeleteParams::default();
    let results = join_all(deletions.iter().map(|name| api.delete(name, &params))).await;
    let mut deleted = Vec::new();
    let mut failures = Vec::new();
    for (name, result) in deletions.into_iter().zip(results) {
        match result {
            Ok(_) => {
                let note = format!("Deleted pod: {name}");
                normal(
                    ctx,
                    ds,
                    "SuccessfulDelete",
                    &note,
                    Some(pod_ref(&namespace, &name)),
                )
                .await;
                deleted.push(name);
            }
            Err(error) if status_code(&error) == Some(404) => {}
            Err(error) => {
                warn(
                    ctx,
                    ds,
                    "FailedDelete",
                    &format!("Error deleting: {}", describe(&error)),
                    Some(pod_ref(&namespace, &name)),
                )
                .await;
                failures.push(describe(&error));
            }
        }
    }
    ctx.expectations.expect(key, Vec::new(), deleted);

    let mut nodes = planned.create_on.into_iter();
    let mut batch = 1;
    'batches: loop {
        let chunk: Vec<String> = nodes.by_ref().take(batch).collect();
        if chunk.is_empty() {
            break;
        }
        let results = join_all(chunk.iter().map(|node| {
            let pod = daemon_pod(ds, hash, node);
            let api = api.clone();
            async move { api.create(&PostParams::default(), &pod).await }
        }))
        .await;
        let mut created = Vec::new();
        let mut failed = false;
        for result in results {
            match result {
                Ok(pod) => {
                    let name = pod.name_any();
                    let note = format!("Created pod: {name}");
                    normal(
                        ctx,
                        ds,
                        "SuccessfulCreate",
                        &note,
                        Some(pod.object_ref(&())),
                    )
                    .await;
                    created.push(name);
                }
                Err(error) => {
                    warn(
                        ctx,
                        ds,
                        "FailedCreate",
                        &format!("Error creating: {}", describe(&error)),
                        None,
                    )
                    .await;
                    failures.push(describe(&error));
                    failed = true;
                }
            }
        }
        ctx.expectations.expect(key, created, Vec::new());
        if failed {
            break 'batches;
        }
        batch *= 2;
    }
    if failures.is_empty() {
        Ok(requeue)
    } else {
        Err(Error::new(failures.join("; ")))
    }
}

/// None if a failed pod on this node may be replaced now (and the wait
/// before the next time doubles), else how long to wait.
fn failed_pod_backoff(ctx: &Context, key: &str) -> Option<Duration> {
    let mut backoff = ctx.failed_backoff.lock().unwrap_or_else(|e| e.into_inner());
    let now = Instant::now();
    backoff.retain(|_, (at, wait)| now.duration_since(*at) < FAILED_BACKOFF_MAX.max(*wait * 2));
    match backoff.get_mut(key) {
        Some((at, wait)) if now.duration_since(*at) < *wait => {
            Some(*wait - now.duration_since(*at))
        }
        Some((at, wait)) => {
            *at = now;
            *wait = (*wait * 2).min(FAILED_BACKOFF_MAX);
            None
        }
        None => {
            backoff.insert(key.to_owned(), (now, FAILED_BACKOFF_START));
            None
        }
    }
}

/// A daemon pod for `node` (upstream's CreatePodTemplate and
/// ReplaceDaemonSetPodNodeNameNodeAffinity).
pub fn daemon_pod(ds: &DaemonSet, hash: &str, node: &str) -> Pod {
    let mut template = ds
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let meta = template.metadata.get_or_insert_with(Default::default);
    let labels = meta.labels.get_or_insert_with(BTreeMap::new);
    if let Some(generation) = plan::template_generation(ds) {
        labels.insert(TEMPLATE_GENERATION_LABEL.into(), generation.to_string());
    }
    if !hash.is_empty() {
        labels.insert(POD_REVISION_LABEL.into(), hash.to_owned());
    }
    let spec = template.spec.get_or_insert_with(Default::default);
    let mut tolerations = spec.tolerations.take().unwrap_or_default();
    add_daemon_tolerations(&mut tolerations, spec.host_network == Some(true));
    spec.tolerations = Some(tolerations);
    spec.affinity = Some(pin_to_node(spec.affinity.take(), node));
    from_template(
        &template,
        controller_ref(ds),
        &ds.namespace().unwrap_or_default(),
        None,
        &ds.name_any(),
    )
}

/// Deletes the oldest revisions no pod uses beyond revisionHistoryLimit.
async fn prune_history(
    ctx: &Context,
    ds: &DaemonSet,
    current: &ControllerRevision,
    revisions: &[ControllerRevision],
    pods: &[Arc<Pod>],
) -> Result<(), Error> {
    let limit = ds
        .spec
        .as_ref()
        .and_then(|s| s.revision_history_limit)
        .unwrap_or(10);
    let live_hashes: HashSet<&str> = pods
        .iter()
        .filter_map(|p| p.labels().get(POD_REVISION_LABEL).map(String::as_str))
        .collect();
    let old: Vec<ControllerRevision> = revisions
        .iter()
        .filter(|r| r.metadata.name != current.metadata.name)
        .cloned()
        .collect();
    let live: HashSet<String> = old
        .iter()
        .filter(|r| {
            r.labels()
                .get(POD_REVISION_LABEL)
                .is_some_and(|h| live_hashes.contains(h.as_str()))
        })
        .filter_map(|r| r.metadata.name.clone())
        .collect();
    let api: Api<ControllerRevision> =
        Api::namespaced(ctx.client.clone(), &ds.namespace().unwrap_or_default());
    for name in history::revisions_to_prune(&old, &live, limit, true) {
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(error) if status_code(&error) == Some(404) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}

async fn normal(
    ctx: &Context,
    ds: &DaemonSet,
    reason: &str,
    note: &str,
    related: Option<ObjectReference>,
) {
    publish(ctx, ds, EventType::Normal, reason, note, related).await;
}

async fn warn(
    ctx: &Context,
    ds: &DaemonSet,
    reason: &str,
    note: &str,
    related: Option<ObjectReference>,
) {
    publish(ctx, ds, EventType::Warning, reason, note, related).await;
}

/// A reference to a pod by name, for events about it.
fn pod_ref(namespace: &str, name: &str) -> ObjectReference {
    core_reference("Pod", namespace, name)
}

/// Records an event on the DaemonSet about the pod `related` names.
async fn publish(
    ctx: &Context,
    ds: &DaemonSet,
    type_: EventType,
    reason: &str,
    note: &str,
    related: Option<ObjectReference>,
) {
    ctx.recorder
        .record(&ds.object_ref(&()), type_, reason, note, related)
        .await;
}
