//! One pass over one Deployment, as upstream's syncDeployment: claim its
//! ReplicaSets, find or create the new one (keeping revisions), then hand
//! over to a scale, a rollout or a status update. What changes the
//! cluster goes through small helpers here; the strategies are in
//! [`super::rollout`].

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use serde_json::{json, Value};

use super::util::{self, *};
use super::Context;
use crate::history::{claim, ownership_patch, template_hash, Claim};
use crate::pods::{controller_of, controller_ref};
use crate::{describe, status_code, Error};

/// One pass over one Deployment. `d` is updated as the pass writes it, as
/// upstream's copy is.
pub struct Sync<'a> {
    pub(super) context: &'a Context,
    pub(super) d: Deployment,
    pub(super) now: jiff::Timestamp,
}

impl<'a> Sync<'a> {
    pub fn new(context: &'a Context, d: &Deployment) -> Sync<'a> {
        Sync {
            context,
            d: d.clone(),
            now: jiff::Timestamp::now(),
        }
    }

    pub(super) fn namespace(&self) -> String {
        self.d.namespace().unwrap_or_default()
    }

    /// Runs the pass; when to look again even if nothing changes.
    pub async fn run(mut self) -> Result<Option<Duration>, Error> {
        let Some(selector) = self.d.spec.as_ref().map(|s| s.selector.clone()) else {
            return Ok(None);
        };
        let selects_all = selector.match_labels.as_ref().is_none_or(|m| m.is_empty())
            && selector
                .match_expressions
                .as_ref()
                .is_none_or(|e| e.is_empty());
        if selects_all {
            self.event(
                EventType::Warning,
                "SelectingAll",
                "This deployment is selecting all pods. A non-empty selector is required.".into(),
            );
            let status = self.d.status.clone().unwrap_or_default();
            if status.observed_generation.unwrap_or(0) < self.d.metadata.generation.unwrap_or(0) {
                let mut status = status;
                status.observed_generation = self.d.metadata.generation;
                self.write_status(status).await?;
            }
            return Ok(None);
        }
        let sets = self.claim_replica_sets(&selector).await?;
        if self.d.metadata.deletion_timestamp.is_some() {
            let (new, old) = self.all_replica_sets(&sets, false).await?;
            self.sync_status(new.as_ref(), &old).await?;
            return Ok(None);
        }
        self.check_paused_conditions().await?;
        if util::paused(&self.d) || self.is_scaling_event(&sets).await? {
            self.scale_and_sync(&sets).await?;
            return Ok(None);
        }
        if util::is_recreate(&self.d) {
            self.rollout_recreate(&sets).await
        } else {
            self.rollout_rolling(&sets).await
        }
    }

    pub(super) fn event(&self, type_: EventType, reason: &str, note: String) {
        let recorder = self.context.recorder.clone();
        let reference = self.d.object_ref(&());
        let reason = reason.to_string();
        tokio::spawn(async move {
            recorder
                .record(&reference, type_, &reason, &note, None)
                .await;
        });
    }

    fn replica_sets_api(&self) -> Api<ReplicaSet> {
        Api::namespaced(self.context.client.clone(), &self.namespace())
    }

    fn deployments_api(&self) -> Api<Deployment> {
        Api::namespaced(self.context.client.clone(), &self.namespace())
    }

    /// The ReplicaSets this Deployment controls, adopting orphans that
    /// match its selector and releasing those that no longer do.
    async fn claim_replica_sets(&self, selector: &LabelSelector) -> Result<Vec<ReplicaSet>, Error> {
        let namespace = self.namespace();
        let uid = self.d.metadata.uid.clone().unwrap_or_default();
        let mut owned = Vec::new();
        let mut orphans = Vec::new();
        for rs in self.context.replica_sets.state() {
            if rs.metadata.namespace.as_deref() != Some(&namespace) {
                continue;
            }
            match claim(&rs.metadata, &uid, selector, true) {
                Claim::Owned => owned.push((*rs).clone()),
                Claim::Adopt => orphans.push(rs),
                Claim::Release => {
                    self.patch_replica_set(&rs, ownership_patch(&rs.metadata, &uid, None))
                        .await?;
                }
                Claim::NotOurs => {}
            }
        }
        if !orphans.is_empty() && self.can_adopt().await? {
            let reference = controller_ref(&self.d);
            for rs in orphans {
                let patch = ownership_patch(&rs.metadata, &uid, Some(reference.clone()));
                if let Some(adopted) = self.patch_replica_set(&rs, patch).await? {
                    owned.push(adopted);
                }
            }
        }
        Ok(owned)
    }

    async fn can_adopt(&self) -> Result<bool, Error> {
        let fresh = self.deployments_api().get_opt(&self.d.name_any()).await?;
        Ok(fresh.is_some_and(|fresh| {
            fresh.metadata.uid == self.d.metadata.uid && fresh.metadata.deletion_timestamp.is_none()
        }))
    }

    /// A merge patch of a ReplicaSet; `None` when it is gone.
    pub(super) async fn patch_replica_set(
        &self,
        rs: &ReplicaSet,
        patch: Value,
    ) -> Result<Option<ReplicaSet>, Error> {
        match self
            .replica_sets_api()
            .patch(
                &rs.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(rs) => Ok(Some(rs)),
            Err(error) if status_code(&error) == Some(404) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// Writes the status; nothing when it is what the Deployment has.
    pub(super) async fn write_status(&mut self, status: DeploymentStatus) -> Result<(), Error> {
        if self.d.status.as_ref() == Some(&status) {
            return Ok(());
        }
        let some = |n: Option<i32>| n.map_or(Value::Null, Value::from);
        let patch = json!({
            "status": {
                "observedGeneration": status.observed_generation,
                "replicas": some(status.replicas),
                "updatedReplicas": some(status.updated_replicas),
                "readyReplicas": some(status.ready_replicas),
                "availableReplicas": some(status.available_replicas),
                "unavailableReplicas": some(status.unavailable_replicas),
                "collisionCount": some(status.collision_count),
                "conditions": status.conditions,
            }
        });
        match self
            .deployments_api()
            .patch_status(
                &self.d.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(_) => {
                self.d.status = Some(status);
                Ok(())
            }
            Err(error) if status_code(&error) == Some(404) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// Sets the Deployment's revision annotation (upstream's
    /// SetDeploymentRevision followed by its write).
    async fn set_revision(&mut self, revision: &str) -> Result<(), Error> {
        let current = self
            .d
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(REVISION));
        if current.map(String::as_str) == Some(revision) {
            return Ok(());
        }
        let patch = json!({ "metadata": { "annotations": { REVISION: revision } } });
        match self
            .deployments_api()
            .patch(
                &self.d.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(_) => {
                self.d
                    .metadata
                    .annotations
                    .get_or_insert_with(BTreeMap::new)
                    .insert(REVISION.into(), revision.into());
                Ok(())
            }
            Err(error) if status_code(&error) == Some(404) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// Upstream's checkPausedConditions: Progressing is Unknown while
    /// paused, and says so again on resume, unless the deadline already
    /// passed.
    async fn check_paused_conditions(&mut self) -> Result<(), Error> {
        if progress_deadline(&self.d).is_none() {
            return Ok(());
        }
        let mut status = self.d.status.clone().unwrap_or_default();
        let reason = condition(&status, PROGRESSING).and_then(|c| c.reason.clone());
        if reason.as_deref() == Some(TIMED_OUT) {
            return Ok(());
        }
        let paused_noted = reason.as_deref() == Some(PAUSED);
        let paused = util::paused(&self.d);
        let wanted = if paused && !paused_noted {
            new_condition(
                PROGRESSING,
                "Unknown",
                PAUSED,
                "Deployment is paused".into(),
                self.now,
            )
        } else if !paused && paused_noted {
            new_condition(
                PROGRESSING,
                "Unknown",
                RESUMED,
                "Deployment is resumed".into(),
                self.now,
            )
        } else {
            return Ok(());
        };
        set_condition(&mut status, wanted);
        self.write_status(status).await
    }

    /// The new ReplicaSet (created when `create` and missing) and the old
    /// ones, as upstream's getAllReplicaSetsAndSyncRevision.
    pub(super) async fn all_replica_sets(
        &mut self,
        sets: &[ReplicaSet],
        create: bool,
    ) -> Result<(Option<ReplicaSet>, Vec<ReplicaSet>), Error> {
        let refs: Vec<&ReplicaSet> = sets.iter().collect();
        let existing = find_new(&self.d, &refs).cloned();
        let old: Vec<ReplicaSet> = sets
            .iter()
            .filter(|rs| {
                existing
                    .as_ref()
                    .is_none_or(|n| n.metadata.uid != rs.metadata.uid)
            })
            .cloned()
            .collect();
        let new = self.new_replica_set(existing, &old, create).await?;
        Ok((new, old))
    }

    async fn new_replica_set(
        &mut self,
        existing: Option<ReplicaSet>,
        old: &[ReplicaSet],
        create: bool,
    ) -> Result<Option<ReplicaSet>, Error> {
        let old_refs: Vec<&ReplicaSet> = old.iter().collect();
        let new_revision = max_revision(&old_refs) + 1;
        if let Some(rs) = existing {
            return self.sync_existing_new(rs, new_revision).await.map(Some);
        }
        if !create {
            return Ok(None);
        }
        self.create_new(old, new_revision).await.map(Some)
    }

    /// Brings the annotations and minReadySeconds of the existing new
    /// ReplicaSet up to date, and the Deployment's revision with it.
    async fn sync_existing_new(
        &mut self,
        rs: ReplicaSet,
        new_revision: i64,
    ) -> Result<ReplicaSet, Error> {
        let mut annotations = rs.metadata.annotations.clone().unwrap_or_default();
        let changed = set_new_rs_annotations(&self.d, &mut annotations, new_revision, true);
        let min_ready = min_ready_seconds(&self.d);
        let min_ready_changed = rs
            .spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0)
            != min_ready;
        if changed || min_ready_changed {
            let patch = json!({
                "metadata": {
                    "annotations": annotations,
                    "resourceVersion": rs.metadata.resource_version,
                },
                "spec": { "minReadySeconds": min_ready },
            });
            return Ok(self.patch_replica_set(&rs, patch).await?.unwrap_or(rs));
        }
        let revision = annotations.get(REVISION).cloned().unwrap_or_default();
        self.set_revision(&revision).await?;
        let mut status = self.d.status.clone().unwrap_or_default();
        if progress_deadline(&self.d).is_some() && condition(&status, PROGRESSING).is_none() {
            let message = format!("Found new replica set {:?}", rs.name_any());
            set_condition(
                &mut status,
                new_condition(PROGRESSING, "True", FOUND_NEW_RS, message, self.now),
            );
            self.write_status(status).await?;
        }
        Ok(rs)
    }

    /// Creates the new ReplicaSet `<deployment>-<template hash>`.
    async fn create_new(
        &mut self,
        old: &[ReplicaSet],
        new_revision: i64,
    ) -> Result<ReplicaSet, Error> {
        let Some(spec) = self.d.spec.clone() else {
            return Err(Error::new("deployment has no spec"));
        };
        let mut status = self.d.status.clone().unwrap_or_default();
        let hash = template_hash(&spec.template, status.collision_count);
        let mut template = spec.template.clone();
        let meta = template.metadata.get_or_insert_with(ObjectMeta::default);
        meta.labels
            .get_or_insert_with(BTreeMap::new)
            .insert(POD_TEMPLATE_HASH.into(), hash.clone());
        let labels = meta.labels.clone();
        let mut selector = spec.selector.clone();
        selector
            .match_labels
            .get_or_insert_with(BTreeMap::new)
            .insert(POD_TEMPLATE_HASH.into(), hash.clone());
        let name = format!("{}-{}", self.d.name_any(), hash);
        let mut new = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(self.namespace()),
                owner_references: Some(vec![controller_ref(&self.d)]),
                labels,
                ..ObjectMeta::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: spec.min_ready_seconds,
                selector,
                template: Some(template),
            }),
            status: None,
        };
        let mut all: Vec<&ReplicaSet> = old.iter().collect();
        all.push(&new);
        let replicas = new_rs_new_replicas(&self.d, total_replicas(&all), 0).map_err(Error::new)?;
        if let Some(spec) = new.spec.as_mut() {
            spec.replicas = Some(replicas);
        }
        let mut annotations = BTreeMap::new();
        set_new_rs_annotations(&self.d, &mut annotations, new_revision, false);
        new.metadata.annotations = Some(annotations);

        let (created, already_existed) = match self
            .replica_sets_api()
            .create(&PostParams::default(), &new)
            .await
        {
            Ok(created) => (created, false),
            Err(error) if status_code(&error) == Some(409) => {
                let found = self.replica_sets_api().get(&name).await?;
                let ours = controller_of(&found.metadata)
                    .is_some_and(|c| Some(&c.uid) == self.d.metadata.uid.as_ref());
                let same = found
                    .spec
                    .as_ref()
                    .and_then(|s| s.template.as_ref())
                    .is_some_and(|t| equal_ignore_hash(t, &spec.template));
                if !(ours && same) {
                    // A hash collision: the next attempt hashes with a
                    // higher collision count.
                    status.collision_count = Some(status.collision_count.unwrap_or(0) + 1);
                    self.write_status(status).await?;
                    return Err(error.into());
                }
                (found, true)
            }
            Err(error) if namespace_terminating(&error) => return Err(error.into()),
            Err(error) => {
                let message = format!(
                    "Failed to create new replica set {name:?}: {}",
                    describe(&error)
                );
                if progress_deadline(&self.d).is_some() {
                    set_condition(
                        &mut status,
                        new_condition(
                            PROGRESSING,
                            "False",
                            FAILED_RS_CREATE,
                            message.clone(),
                            self.now,
                        ),
                    );
                    let _ = self.write_status(status).await;
                }
                self.event(EventType::Warning, FAILED_RS_CREATE, message);
                return Err(error.into());
            }
        };
        if !already_existed && replicas > 0 {
            self.event(
                EventType::Normal,
                "ScalingReplicaSet",
                format!(
                    "Scaled up replica set {} from 0 to {replicas}",
                    created.name_any()
                ),
            );
        }
        self.set_revision(&new_revision.to_string()).await?;
        if !already_existed && progress_deadline(&self.d).is_some() {
            let message = format!("Created new replica set {:?}", created.name_any());
            let mut status = self.d.status.clone().unwrap_or_default();
            set_condition(
                &mut status,
                new_condition(PROGRESSING, "True", NEW_REPLICA_SET, message, self.now),
            );
            self.write_status(status).await?;
        }
        Ok(created)
    }

    /// Whether the Deployment was scaled (some active ReplicaSet was sized
    /// for another replica count), as upstream's isScalingEvent.
    async fn is_scaling_event(&mut self, sets: &[ReplicaSet]) -> Result<bool, Error> {
        let (new, old) = self.all_replica_sets(sets, false).await?;
        let wanted = replicas(&self.d);
        Ok(old
            .iter()
            .chain(new.iter())
            .filter(|rs| rs_replicas(rs) > 0)
            .filter_map(desired_annotation)
            .any(|desired| desired != wanted))
    }

    /// Resizes a ReplicaSet and stamps it with the Deployment's replica
    /// annotations, as upstream's scaleReplicaSet; whether it was resized.
    pub(super) async fn scale_replica_set(
        &mut self,
        rs: &ReplicaSet,
        size: i32,
        grow: bool,
    ) -> Result<(bool, ReplicaSet), Error> {
        let desired = replicas(&self.d);
        let max = desired + max_surge(&self.d);
        let mut annotations = rs.metadata.annotations.clone().unwrap_or_default();
        let annotations_changed = set_replicas_annotations(&mut annotations, desired, max);
        let old_size = rs_replicas(rs);
        if old_size == size && !annotations_changed {
            return Ok((false, rs.clone()));
        }
        let patch = json!({
            "metadata": {
                "annotations": { DESIRED_REPLICAS: desired.to_string(), MAX_REPLICAS: max.to_string() },
                "resourceVersion": rs.metadata.resource_version,
            },
            "spec": { "replicas": size },
        });
        let updated = self
            .patch_replica_set(rs, patch)
            .await?
            .unwrap_or_else(|| rs.clone());
        if old_size != size {
            let direction = if grow { "up" } else { "down" };
            self.event(
                EventType::Normal,
                "ScalingReplicaSet",
                format!(
                    "Scaled {direction} replica set {} from {old_size} to {size}",
                    rs.name_any()
                ),
            );
        }
        Ok((old_size != size, updated))
    }

    /// Upstream's scaleReplicaSetAndRecordEvent.
    pub(super) async fn scale_to(
        &mut self,
        rs: &ReplicaSet,
        size: i32,
    ) -> Result<(bool, ReplicaSet), Error> {
        if rs_replicas(rs) == size {
            return Ok((false, rs.clone()));
        }
        let grow = rs_replicas(rs) < size;
        self.scale_replica_set(rs, size, grow).await
    }

    /// Upstream's syncDeploymentStatus.
    pub(super) async fn sync_status(
        &mut self,
        new: Option<&ReplicaSet>,
        old: &[ReplicaSet],
    ) -> Result<(), Error> {
        let mut all: Vec<&ReplicaSet> = old.iter().collect();
        all.extend(new);
        let status = calculate_status(&all, new, &self.d, self.now);
        self.write_status(status).await
    }
}

/// The namespace is being deleted: upstream's NamespaceTerminating cause.
fn namespace_terminating(error: &kube::Error) -> bool {
    let kube::Error::Api(status) = error else {
        return false;
    };
    status.code == 403
        && status
            .details
            .as_ref()
            .is_some_and(|d| d.causes.iter().any(|c| c.reason == "NamespaceTerminating"))
}
