//! One sync of a StatefulSet (upstream's syncStatefulSet): claim pods,
//! make the update revision, carry out the steps of a pass, prune history,
//! write status.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{ObjectReference, PersistentVolumeClaim, Pod, PodTemplateSpec};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::identity::{self, owner_reference, revision_of};
use super::plan::{Pass, Revision, Step, Why};
use super::Context;
use crate::events::core_reference;
use crate::history::{self, claim, Claim, Ensured, Wanted, REVISION_HASH_LABEL};
use crate::pods::{controller_ref, is_controlled_by};
use crate::{describe, status_code, Error};

/// A full resync now and then, as upstream's informers do.
const RESYNC: Duration = Duration::from_secs(5 * 60);

/// Tries at a revision name before giving up on hash collisions.
const COLLISION_TRIES: i32 = 10;

pub(super) async fn reconcile(set: Arc<StatefulSet>, ctx: Arc<Context>) -> Result<Action, Error> {
    for ready in [
        ctx.pods.wait_until_ready().await,
        ctx.revisions.wait_until_ready().await,
    ] {
        ready.map_err(|e| Error::new(e.to_string()))?;
    }
    let namespace = set.namespace().unwrap_or_default();
    let api: Api<StatefulSet> = Api::namespaced(ctx.client.clone(), &namespace);
    // Act on the latest copy: the trigger may be older than our own writes.
    let Some(set) = api.get_opt(&set.name_any()).await? else {
        return Ok(Action::await_change());
    };
    let Some(spec) = set.spec.as_ref() else {
        return Ok(Action::await_change());
    };
    let uid = set.uid().unwrap_or_default();
    let pods = claim_pods(&ctx, &set).await?;
    let mut revisions: Vec<ControllerRevision> = ctx
        .revisions
        .state()
        .iter()
        .filter(|r| r.namespace().as_deref() == Some(namespace.as_str()))
        .filter(|r| is_controlled_by(&r.metadata, &uid))
        .map(|r| (**r).clone())
        .collect();
    let (update, collision_count) = update_revision(&ctx, &set, &revisions).await?;
    revisions.retain(|r| r.metadata.name != update.metadata.name);
    revisions.push(update.clone());
    let current_name = set.status.as_ref().and_then(|s| s.current_revision.clone());
    let current = current_name
        .and_then(|name| {
            revisions
                .iter()
                .find(|r| r.metadata.name.as_deref() == Some(name.as_str()))
        })
        .cloned()
        .unwrap_or_else(|| update.clone());
    let update_name = update.name_any();
    let current_name = current.name_any();

    let pass = Pass {
        set: &set,
        pods: &pods,
        current_revision: &current_name,
        update_revision: &update_name,
        now: jiff::Timestamp::now(),
    };
    let templates = Templates {
        current: history::template_of(&current).unwrap_or_else(|| spec.template.clone()),
        update: spec.template.clone(),
        current_name: &current_name,
        update_name: &update_name,
    };
    let mut failures = Vec::new();
    for step in pass.steps() {
        if let Err(error) = carry_out(&ctx, &set, &templates, step).await {
            failures.push(error.to_string());
            break;
        }
    }

    truncate_history(&ctx, &set, &revisions, &pods, [&current_name, &update_name]).await?;
    let status = pass.status(collision_count);
    crate::write_status(&ctx.client, &set, set.status.as_ref(), &status).await?;
    if !failures.is_empty() {
        return Err(Error::new(failures.join("; ")));
    }
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    if min_ready > 0 && status.ready_replicas != status.available_replicas {
        return Ok(Action::requeue(Duration::from_secs(
            u64::try_from(min_ready).unwrap_or(0),
        )));
    }
    Ok(Action::requeue(RESYNC))
}

struct Templates<'a> {
    current: PodTemplateSpec,
    update: PodTemplateSpec,
    current_name: &'a str,
    update_name: &'a str,
}

/// The set's pods by ordinal: those it controls and whose names make them
/// its members, adopting orphans and releasing what no longer matches.
async fn claim_pods(ctx: &Context, set: &StatefulSet) -> Result<BTreeMap<i32, Arc<Pod>>, Error> {
    let namespace = set.namespace().unwrap_or_default();
    let uid = set.uid().unwrap_or_default();
    let name = set.name_any();
    let selector = set
        .spec
        .as_ref()
        .map(|s| s.selector.clone())
        .unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    let deleting = set.metadata.deletion_timestamp.is_some();
    let mut owned = BTreeMap::new();
    for pod in ctx.pods.state() {
        if pod.namespace().as_deref() != Some(namespace.as_str()) {
            continue;
        }
        let ordinal = identity::ordinal_of(&name, &pod);
        let patch = match claim(&pod.metadata, &uid, &selector, ordinal.is_some()) {
            Claim::Owned => {
                if let Some(ordinal) = ordinal {
                    owned.insert(ordinal, pod);
                }
                continue;
            }
            Claim::NotOurs => continue,
            Claim::Adopt if deleting => continue,
            Claim::Adopt => {
                history::ownership_patch(&pod.metadata, &uid, Some(controller_ref(set)))
            }
            Claim::Release => history::ownership_patch(&pod.metadata, &uid, None),
        };
        match api
            .patch(
                &pod.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(patched) => {
                if let (Some(ordinal), true) = (ordinal, is_controlled_by(&patched.metadata, &uid))
                {
                    owned.insert(ordinal, Arc::new(patched));
                }
            }
            // Gone or changed meanwhile: the next sync sees it anew.
            Err(error) if matches!(status_code(&error), Some(404 | 409 | 422)) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(owned)
}

/// The revision recording the set's template (upstream's
/// getStatefulSetRevisions), and the collision count it took.
async fn update_revision(
    ctx: &Context,
    set: &StatefulSet,
    revisions: &[ControllerRevision],
) -> Result<(ControllerRevision, i32), Error> {
    let spec = set.spec.as_ref().ok_or_else(|| Error::new("no spec"))?;
    let api: Api<ControllerRevision> =
        Api::namespaced(ctx.client.clone(), &set.namespace().unwrap_or_default());
    let patch = history::template_patch(&spec.template);
    let data = history::patch_bytes(&patch);
    let mut collision_count = set
        .status
        .as_ref()
        .and_then(|s| s.collision_count)
        .unwrap_or(0);
    for _ in 0..COLLISION_TRIES {
        let hash = history::data_hash(&data, Some(collision_count));
        let mut labels: BTreeMap<String, String> = spec
            .template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.clone())
            .unwrap_or_default();
        labels.insert(REVISION_HASH_LABEL.into(), hash.clone());
        let wanted = Wanted {
            name: history::revision_name(&set.name_any(), &hash),
            labels,
            annotations: set.metadata.annotations.clone(),
            owner: controller_ref(set),
            patch: patch.clone(),
        };
        match history::ensure(&api, revisions, wanted).await? {
            Ensured::Revision(revision) => return Ok((*revision, collision_count)),
            Ensured::Collision => collision_count = collision_count.saturating_add(1),
        }
    }
    Err(Error::new(format!(
        "no free revision name for StatefulSet {} after {COLLISION_TRIES} collisions",
        set.name_any()
    )))
}

async fn carry_out(
    ctx: &Context,
    set: &StatefulSet,
    templates: &Templates<'_>,
    step: Step,
) -> Result<(), Error> {
    let namespace = set.namespace().unwrap_or_default();
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    let set_name = set.name_any();
    match step {
        Step::Create { ordinal, revision } => {
            let (template, revision) = match revision {
                Revision::Current => (&templates.current, templates.current_name),
                Revision::Update => (&templates.update, templates.update_name),
            };
            let pod = identity::new_pod(set, template, revision, ordinal);
            let name = pod.name_any();
            ensure_claims(ctx, set, ordinal).await?;
            let created = pods.create(&PostParams::default(), &pod).await;
            let what = format!("create Pod {name} in StatefulSet {set_name}");
            report_create(
                ctx,
                set,
                created,
                format!("{what} successful"),
                format!("{what} failed"),
                core_reference("Pod", &namespace, &name),
            )
            .await?;
        }
        Step::Delete { name, why } => {
            if why == Why::ScaleDown {
                if let Some(ordinal) = identity::parent_and_ordinal(&name).map(|(_, o)| o) {
                    hand_claims_to_pod(ctx, set, &name, ordinal).await?;
                }
            }
            match pods.delete(&name, &DeleteParams::default()).await {
                Ok(_) => {
                    let note = format!("delete Pod {name} in StatefulSet {set_name} successful");
                    publish(
                        ctx,
                        set,
                        EventType::Normal,
                        "SuccessfulDelete",
                        &note,
                        core_reference("Pod", &namespace, &name),
                    )
                    .await;
                }
                Err(error) if status_code(&error) == Some(404) => {}
                Err(error) => {
                    let note = format!(
                        "delete Pod {name} in StatefulSet {set_name} failed error: {}",
                        describe(&error)
                    );
                    publish(
                        ctx,
                        set,
                        EventType::Warning,
                        "FailedDelete",
                        &note,
                        core_reference("Pod", &namespace, &name),
                    )
                    .await;
                    return Err(error.into());
                }
            }
        }
        Step::EnsureClaims { ordinal } => ensure_claims(ctx, set, ordinal).await?,
        Step::Relabel { name, labels } => {
            let patch = json!({ "metadata": { "labels": labels } });
            match pods
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {}
                Err(error) if status_code(&error) == Some(404) => {}
                Err(error) => return Err(error.into()),
            }
        }
    }
    Ok(())
}

fn retention_deletes(set: &StatefulSet, when: &str) -> bool {
    let policy = set
        .spec
        .as_ref()
        .and_then(|s| s.persistent_volume_claim_retention_policy.as_ref());
    let value = match when {
        "deleted" => policy.and_then(|p| p.when_deleted.as_deref()),
        _ => policy.and_then(|p| p.when_scaled.as_deref()),
    };
    value == Some("Delete")
}

/// Creates the claims of the pod with `ordinal` that do not exist yet
/// (upstream's createPersistentVolumeClaims); with whenDeleted: Delete
/// they are owned by the set, so they go with it.
async fn ensure_claims(ctx: &Context, set: &StatefulSet, ordinal: i32) -> Result<(), Error> {
    let namespace = set.namespace().unwrap_or_default();
    let api: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), &namespace);
    let set_name = set.name_any();
    let pod_name = identity::pod_name(&set_name, ordinal);
    for mut claim in identity::claims(set, ordinal) {
        let name = claim.name_any();
        if api.get_metadata_opt(&name).await?.is_some() {
            continue;
        }
        if retention_deletes(set, "deleted") {
            let owner = owner_reference(
                "apps/v1",
                "StatefulSet",
                &set_name,
                &set.uid().unwrap_or_default(),
            );
            claim.metadata.owner_references = Some(vec![owner]);
        }
        let created = api.create(&PostParams::default(), &claim).await;
        report_create(
            ctx,
            set,
            created,
            format!("create Claim {name} Pod {pod_name} in StatefulSet {set_name} success"),
            format!("create Claim {name} for Pod {pod_name} in StatefulSet {set_name} failed"),
            core_reference("PersistentVolumeClaim", &namespace, &name),
        )
        .await?;
    }
    Ok(())
}

/// With whenScaled: Delete, a condemned pod's claims become owned by the
/// pod before it is deleted, so that they go with it.
async fn hand_claims_to_pod(
    ctx: &Context,
    set: &StatefulSet,
    pod_name: &str,
    ordinal: i32,
) -> Result<(), Error> {
    if !retention_deletes(set, "scaled") {
        return Ok(());
    }
    let namespace = set.namespace().unwrap_or_default();
    let Some(pod) = ctx
        .pods
        .get(&kube::runtime::reflector::ObjectRef::new(pod_name).within(&namespace))
    else {
        return Ok(());
    };
    let owner = owner_reference("v1", "Pod", pod_name, &pod.uid().unwrap_or_default());
    let api: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), &namespace);
    for claim in identity::claims(set, ordinal) {
        let name = claim.name_any();
        let Some(existing) = api.get_metadata_opt(&name).await? else {
            continue;
        };
        let mut references = existing
            .metadata
            .owner_references
            .clone()
            .unwrap_or_default();
        if references.iter().any(|r| r.uid == owner.uid) {
            continue;
        }
        references.push(owner.clone());
        let patch = json!({ "metadata": {
            "ownerReferences": references,
            "resourceVersion": existing.metadata.resource_version,
        }});
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
    }
    Ok(())
}

/// Deletes the oldest revisions beyond revisionHistoryLimit that no pod
/// and neither the current nor the update revision use.
async fn truncate_history(
    ctx: &Context,
    set: &StatefulSet,
    revisions: &[ControllerRevision],
    pods: &BTreeMap<i32, Arc<Pod>>,
    in_use: [&str; 2],
) -> Result<(), Error> {
    let limit = set
        .spec
        .as_ref()
        .and_then(|s| s.revision_history_limit)
        .unwrap_or(10);
    let mut live: HashSet<String> = in_use.iter().map(|n| n.to_string()).collect();
    live.extend(pods.values().map(|p| revision_of(p).to_owned()));
    let api: Api<ControllerRevision> =
        Api::namespaced(ctx.client.clone(), &set.namespace().unwrap_or_default());
    for name in history::revisions_to_prune(revisions, &live, limit, false) {
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(error) if status_code(&error) == Some(404) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}

/// Records the outcome of creating `related` as upstream does
/// (SuccessfulCreate, FailedCreate with the error); an object that exists
/// already (the cache has not seen it yet) is no failure.
async fn report_create<T>(
    ctx: &Context,
    set: &StatefulSet,
    created: Result<T, kube::Error>,
    success: String,
    failure: String,
    related: ObjectReference,
) -> Result<(), Error> {
    match created {
        Ok(_) => {
            publish(
                ctx,
                set,
                EventType::Normal,
                "SuccessfulCreate",
                &success,
                related,
            )
            .await;
            Ok(())
        }
        Err(error) if status_code(&error) == Some(409) => Ok(()),
        Err(error) => {
            let note = format!("{failure} error: {}", describe(&error));
            publish(ctx, set, EventType::Warning, "FailedCreate", &note, related).await;
            Err(error.into())
        }
    }
}

/// Records an event on the set about the pod or claim `related` names.
async fn publish(
    ctx: &Context,
    set: &StatefulSet,
    type_: EventType,
    reason: &str,
    note: &str,
    related: ObjectReference,
) {
    ctx.recorder
        .record(&set.object_ref(&()), type_, reason, note, Some(related))
        .await;
}
