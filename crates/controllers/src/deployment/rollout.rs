//! The strategies: RollingUpdate and Recreate rollouts, scaling a
//! Deployment in the middle of one (proportionally), pruning old
//! ReplicaSets beyond revisionHistoryLimit, and the Progressing and
//! Available conditions that tell how the rollout goes.

use std::collections::HashSet;
use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams};
use kube::ResourceExt;

use super::sync::Sync;
use super::util::*;
use crate::pods::controller_of;
use crate::{status_code, Error};

/// How often a Recreate rollout looks whether old pods are gone; the
/// controller does not watch pods.
const RECREATE_POLL: Duration = Duration::from_secs(1);

fn refs(sets: &[ReplicaSet]) -> Vec<&ReplicaSet> {
    sets.iter().collect()
}

impl Sync<'_> {
    /// Upstream's rolloutRolling.
    pub(super) async fn rollout_rolling(
        &mut self,
        sets: &[ReplicaSet],
    ) -> Result<Option<Duration>, Error> {
        let (new, old) = self.all_replica_sets(sets, true).await?;
        let Some(new) = new else {
            return Ok(None);
        };
        let mut all = old.clone();
        all.push(new.clone());
        if self.reconcile_new(&all, &new).await? {
            return self.sync_rollout_status(&all, Some(&new)).await;
        }
        let active_old: Vec<ReplicaSet> = old
            .iter()
            .filter(|rs| rs_replicas(rs) > 0)
            .cloned()
            .collect();
        if self.reconcile_old(&all, active_old, &new).await? {
            return self.sync_rollout_status(&all, Some(&new)).await;
        }
        let status = self.d.status.clone().unwrap_or_default();
        if complete(&self.d, &status) {
            self.cleanup(&old).await?;
        }
        self.sync_rollout_status(&all, Some(&new)).await
    }

    /// Upstream's reconcileNewReplicaSet: grow the new ReplicaSet as far
    /// as maxSurge allows (or shrink it to the desired count).
    async fn reconcile_new(&mut self, all: &[ReplicaSet], new: &ReplicaSet) -> Result<bool, Error> {
        let wanted = replicas(&self.d);
        let have = rs_replicas(new);
        if have == wanted {
            return Ok(false);
        }
        if have > wanted {
            return Ok(self.scale_to(new, wanted).await?.0);
        }
        let size =
            new_rs_new_replicas(&self.d, total_replicas(&refs(all)), have).map_err(Error::new)?;
        Ok(self.scale_to(new, size).await?.0)
    }

    /// Upstream's reconcileOldReplicaSets: shrink old ReplicaSets as far as
    /// maxUnavailable allows, unhealthy replicas first.
    async fn reconcile_old(
        &mut self,
        all: &[ReplicaSet],
        old: Vec<ReplicaSet>,
        new: &ReplicaSet,
    ) -> Result<bool, Error> {
        if total_replicas(&refs(&old)) == 0 {
            return Ok(false);
        }
        let all_count = total_replicas(&refs(all));
        let min_available = replicas(&self.d) - max_unavailable(&self.d);
        let new_unavailable = rs_replicas(new) - rs_available(new);
        let max_scaled_down = all_count - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return Ok(false);
        }
        let (old, cleaned) = self.cleanup_unhealthy(old, max_scaled_down).await?;
        let mut all = old.clone();
        all.push(new.clone());
        let scaled = self.scale_down_old_for_rolling(&all, old).await?;
        Ok(cleaned + scaled > 0)
    }

    async fn cleanup_unhealthy(
        &mut self,
        mut old: Vec<ReplicaSet>,
        max: i32,
    ) -> Result<(Vec<ReplicaSet>, i32), Error> {
        old.sort_by(by_creation);
        let mut total = 0;
        for rs in old.iter_mut() {
            if total >= max {
                break;
            }
            let size = rs_replicas(rs);
            if size == 0 || size == rs_available(rs) {
                continue;
            }
            let down = (max - total).min(size - rs_available(rs));
            let (_, updated) = self.scale_to(rs, size - down).await?;
            *rs = updated;
            total += down;
        }
        Ok((old, total))
    }

    async fn scale_down_old_for_rolling(
        &mut self,
        all: &[ReplicaSet],
        mut old: Vec<ReplicaSet>,
    ) -> Result<i32, Error> {
        let min_available = replicas(&self.d) - max_unavailable(&self.d);
        let available: i32 = all.iter().map(rs_available).sum();
        if available <= min_available {
            return Ok(0);
        }
        old.sort_by(by_creation);
        let to_remove = available - min_available;
        let mut total = 0;
        for rs in &old {
            if total >= to_remove {
                break;
            }
            let size = rs_replicas(rs);
            if size == 0 {
                continue;
            }
            let down = size.min(to_remove - total);
            self.scale_to(rs, size - down).await?;
            total += down;
        }
        Ok(total)
    }

    /// Upstream's rolloutRecreate: all old pods go before new ones come.
    pub(super) async fn rollout_recreate(
        &mut self,
        sets: &[ReplicaSet],
    ) -> Result<Option<Duration>, Error> {
        let (mut new, mut old) = self.all_replica_sets(sets, false).await?;
        let all_of = |new: &Option<ReplicaSet>, old: &[ReplicaSet]| {
            let mut all = old.to_vec();
            all.extend(new.clone());
            all
        };
        let mut scaled_down = false;
        for rs in old.iter().filter(|rs| rs_replicas(rs) > 0) {
            self.scale_to(rs, 0).await?;
            scaled_down = true;
        }
        if scaled_down {
            return self
                .sync_rollout_status(&all_of(&new, &old), new.as_ref())
                .await;
        }
        if self.old_pods_running(new.as_ref(), &old).await? {
            let next = self
                .sync_rollout_status(&all_of(&new, &old), new.as_ref())
                .await?;
            return Ok(Some(next.map_or(RECREATE_POLL, |n| n.min(RECREATE_POLL))));
        }
        if new.is_none() {
            (new, old) = self.all_replica_sets(sets, true).await?;
        }
        if let Some(rs) = new.as_ref() {
            self.scale_to(rs, replicas(&self.d)).await?;
        }
        let status = self.d.status.clone().unwrap_or_default();
        if complete(&self.d, &status) {
            self.cleanup(&old).await?;
        }
        self.sync_rollout_status(&all_of(&new, &old), new.as_ref())
            .await
    }

    /// Whether pods of old ReplicaSets still run (upstream's
    /// oldPodsRunning), read from the API as this controller keeps no
    /// pod cache.
    async fn old_pods_running(
        &self,
        new: Option<&ReplicaSet>,
        old: &[ReplicaSet],
    ) -> Result<bool, Error> {
        if old.iter().map(rs_actual).sum::<i32>() > 0 {
            return Ok(true);
        }
        let old_uids: HashSet<&str> = old
            .iter()
            .filter_map(|rs| rs.metadata.uid.as_deref())
            .collect();
        if old_uids.is_empty() {
            return Ok(false);
        }
        let new_uid = new.and_then(|rs| rs.metadata.uid.as_deref());
        let pods: Api<Pod> = Api::namespaced(self.context.client.clone(), &self.namespace());
        let selector = self
            .d
            .spec
            .as_ref()
            .and_then(|s| s.selector.match_labels.as_ref())
            .map(|labels| {
                labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        let listed = pods.list(&ListParams::default().labels(&selector)).await?;
        Ok(listed.items.iter().any(|pod| {
            let owner = controller_of(&pod.metadata).map(|c| c.uid.as_str());
            let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
            owner.is_some_and(|uid| old_uids.contains(uid) && Some(uid) != new_uid)
                && !matches!(phase, Some("Failed" | "Succeeded"))
        }))
    }

    /// Scaling (or a pause): upstream's sync.
    pub(super) async fn scale_and_sync(&mut self, sets: &[ReplicaSet]) -> Result<(), Error> {
        let (new, old) = self.all_replica_sets(sets, false).await?;
        self.scale(new.as_ref(), &old).await?;
        if paused(&self.d) {
            self.cleanup(&old).await?;
        }
        self.sync_status(new.as_ref(), &old).await
    }

    /// Upstream's scale: the one active ReplicaSet takes the whole count;
    /// a saturated new ReplicaSet empties the old ones; otherwise a
    /// rolling Deployment shares the change out in proportion.
    async fn scale(&mut self, new: Option<&ReplicaSet>, old: &[ReplicaSet]) -> Result<(), Error> {
        let old_refs = refs(old);
        if let Some(rs) = active_or_latest(new, &old_refs) {
            if rs_replicas(rs) != replicas(&self.d) {
                let rs = rs.clone();
                self.scale_to(&rs, replicas(&self.d)).await?;
            }
            return Ok(());
        }
        if is_saturated(&self.d, new) {
            for rs in old.iter().filter(|rs| rs_replicas(rs) > 0) {
                self.scale_to(rs, 0).await?;
            }
            return Ok(());
        }
        if !is_rolling(&self.d) {
            return Ok(());
        }
        let mut active: Vec<&ReplicaSet> = old_refs
            .iter()
            .copied()
            .filter(|rs| rs_replicas(rs) > 0)
            .collect();
        active.extend(new.filter(|rs| rs_replicas(rs) > 0));
        let growing = replicas(&self.d) + max_surge(&self.d) > total_replicas(&active);
        let sizes: Vec<(ReplicaSet, i32)> = proportional_sizes(&self.d, &active)
            .into_iter()
            .map(|(rs, size)| (rs.clone(), size))
            .collect();
        for (rs, size) in sizes {
            self.scale_replica_set(&rs, size, growing).await?;
        }
        Ok(())
    }

    /// Upstream's cleanupDeployment: old, empty ReplicaSets beyond
    /// revisionHistoryLimit are deleted, lowest revision first.
    async fn cleanup(&mut self, old: &[ReplicaSet]) -> Result<(), Error> {
        let Some(limit) = revision_history_limit(&self.d) else {
            return Ok(());
        };
        let mut cleanable: Vec<&ReplicaSet> = old
            .iter()
            .filter(|rs| rs.metadata.deletion_timestamp.is_none())
            .collect();
        let excess = cleanable.len() as i64 - i64::from(limit);
        if excess <= 0 {
            return Ok(());
        }
        cleanable.sort_by(|a, b| by_revision(a, b));
        let api: Api<ReplicaSet> = Api::namespaced(self.context.client.clone(), &self.namespace());
        for rs in cleanable.into_iter().take(excess as usize) {
            let observed = rs
                .status
                .as_ref()
                .and_then(|s| s.observed_generation)
                .unwrap_or(0);
            if rs_actual(rs) != 0
                || rs_replicas(rs) != 0
                || rs.metadata.generation.unwrap_or(0) > observed
            {
                continue;
            }
            match api.delete(&rs.name_any(), &DeleteParams::default()).await {
                Ok(_) => {}
                Err(error) if status_code(&error) == Some(404) => {}
                Err(error) => return Err(error.into()),
            }
        }
        Ok(())
    }

    /// Upstream's syncRolloutStatus: the status, the Progressing condition
    /// (progress, completion or a passed deadline) and ReplicaFailure;
    /// when to look again for the deadline.
    pub(super) async fn sync_rollout_status(
        &mut self,
        all: &[ReplicaSet],
        new: Option<&ReplicaSet>,
    ) -> Result<Option<Duration>, Error> {
        let all_refs = refs(all);
        let mut status = calculate_status(&all_refs, new, &self.d, self.now);
        let deadline = progress_deadline(&self.d);
        if deadline.is_none() {
            remove_condition(&mut status, PROGRESSING);
        }
        let current = self
            .d
            .status
            .as_ref()
            .and_then(|s| condition(s, PROGRESSING))
            .cloned();
        let finished = status.replicas == status.updated_replicas
            && current.as_ref().and_then(|c| c.reason.as_deref()) == Some(NEW_RS_AVAILABLE);
        if deadline.is_some() && !finished {
            let subject = match new {
                Some(rs) => format!("ReplicaSet {:?}", rs.name_any()),
                None => format!("Deployment {:?}", self.d.name_any()),
            };
            if complete(&self.d, &status) {
                let message = format!("{subject} has successfully progressed.");
                set_condition(
                    &mut status,
                    new_condition(PROGRESSING, "True", NEW_RS_AVAILABLE, message, self.now),
                );
            } else if progressing(&self.d, &status) {
                let message = format!("{subject} is progressing.");
                let mut condition =
                    new_condition(PROGRESSING, "True", REPLICA_SET_UPDATED, message, self.now);
                if let Some(current) = &current {
                    if current.status == "True" {
                        condition.last_transition_time = current.last_transition_time.clone();
                    }
                    remove_condition(&mut status, PROGRESSING);
                }
                set_condition(&mut status, condition);
            } else if timed_out(&self.d, &status, self.now) {
                let message = format!("{subject} has timed out progressing.");
                set_condition(
                    &mut status,
                    new_condition(PROGRESSING, "False", TIMED_OUT, message, self.now),
                );
            }
        }
        let old: Vec<&ReplicaSet> = all_refs
            .iter()
            .copied()
            .filter(|rs| new.is_none_or(|n| n.metadata.uid != rs.metadata.uid))
            .collect();
        match replica_failure(new, &old) {
            Some(failure) => set_condition(&mut status, failure),
            None => remove_condition(&mut status, REPLICA_FAILURE),
        }
        if self.d.status.as_ref() == Some(&status) {
            return Ok(self.stuck_requeue(&status));
        }
        self.write_status(status).await?;
        Ok(None)
    }

    /// Upstream's requeueStuckDeployment: when to check the progress
    /// deadline of a rollout that shows no progress.
    fn stuck_requeue(
        &self,
        status: &k8s_openapi::api::apps::v1::DeploymentStatus,
    ) -> Option<Duration> {
        let deadline = progress_deadline(&self.d)?;
        let current = condition(self.d.status.as_ref()?, PROGRESSING)?;
        if complete(&self.d, status) || current.reason.as_deref() == Some(TIMED_OUT) {
            return None;
        }
        let updated = current.last_update_time.as_ref()?.0;
        let due = updated + jiff::SignedDuration::from_secs(i64::from(deadline));
        let after = Duration::try_from(due.duration_since(self.now)).unwrap_or_default();
        if after < Duration::from_secs(1) {
            return Some(Duration::from_secs(1));
        }
        Some(after + Duration::from_secs(1))
    }
}
