//! One pass of the replica controller over one owner, as upstream's
//! syncReplicaSet: claim the pods (adopt matching orphans, release owned
//! pods that no longer match), create or delete pods towards the desired
//! count when earlier creates and deletes have been seen, then write the
//! status.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::ResourceExt;

use super::expectations::Readiness;
use super::owner::{Condition, ReplicaOwner, ReplicaStatus, REPLICA_FAILURE};
use super::ranking::{pods_to_delete, slow_start_batches};
use super::Context;
use crate::history::{claim, ownership_patch, selector_matches, Claim};
use crate::pods::{
    controller_of, controller_ref, from_template, is_active, is_available, is_ready,
};
use crate::{describe, status_code, Error};

/// The most pods created or deleted in one pass (upstream's BurstReplicas).
pub const BURST_REPLICAS: usize = 500;

pub async fn reconcile<K: ReplicaOwner>(
    owner: Arc<K>,
    ctx: Arc<Context<K>>,
) -> Result<Action, Error> {
    if ctx.pods.wait_until_ready().await.is_err() {
        return Err(Error::new("the pod cache is gone"));
    }
    let namespace = owner.namespace().unwrap_or_default();
    let key = format!("{namespace}/{}", owner.name_any());
    // Looked at before the pods, so that what it saw is in the cache.
    let readiness = ctx.expectations.readiness(&key);
    let Some(selector) = owner.selector() else {
        return Ok(Action::await_change());
    };
    let uid = owner.meta().uid.clone().unwrap_or_default();
    let mut owned = Vec::new();
    let mut orphans = Vec::new();
    let mut failures = Vec::new();
    for pod in ctx.index.candidates(&uid, &namespace) {
        if pod.metadata.namespace.as_deref() != Some(&namespace) || !is_active(&pod) {
            continue;
        }
        match claim(&pod.metadata, &uid, &selector, true) {
            Claim::Owned => owned.push(pod),
            Claim::Adopt => orphans.push(pod),
            Claim::Release => {
                if let Err(error) = ctx.set_owner(&pod, &uid, None).await {
                    failures.push(error);
                }
            }
            Claim::NotOurs => {}
        }
    }
    if !orphans.is_empty() && ctx.can_adopt(&owner).await? {
        let reference = controller_ref(owner.as_ref());
        for pod in orphans {
            match ctx.set_owner(&pod, &uid, Some(reference.clone())).await {
                Ok(Some(adopted)) => owned.push(Arc::new(adopted)),
                Ok(None) => {}
                Err(error) => failures.push(error),
            }
        }
    }
    let now = jiff::Timestamp::now();
    let mut manage_error = None;
    if readiness == Readiness::Satisfied && owner.meta().deletion_timestamp.is_none() {
        manage_error = ctx.manage(&owner, &key, &owned, now).await.err();
    }
    let status = compute_status(owner.as_ref(), &owned, manage_error.as_ref(), now);
    if status != owner.replica_status() {
        ctx.write_status(&owner, &status).await?;
    }
    if let Some(error) = manage_error {
        return Err(error);
    }
    if !failures.is_empty() {
        return Err(Error::new(failures.join("; ")));
    }
    let mut next = next_availability(&owned, owner.min_ready_seconds(), now);
    if let Readiness::Waiting(left) = readiness {
        next = Some(next.map_or(left, |n| n.min(left)));
    }
    Ok(next.map_or_else(Action::await_change, Action::requeue))
}

/// Status of an owner whose pods are `pods`, as upstream's
/// calculateStatus: counts, and a ReplicaFailure condition while creating
/// or deleting fails.
pub fn compute_status<K: ReplicaOwner>(
    owner: &K,
    pods: &[Arc<Pod>],
    manage_error: Option<&Error>,
    now: jiff::Timestamp,
) -> ReplicaStatus {
    let mut status = owner.replica_status();
    let template_labels = owner
        .template()
        .and_then(|t| t.metadata.as_ref()?.labels.clone());
    let template_selector = k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector {
        match_labels: template_labels,
        ..Default::default()
    };
    let min_ready = owner.min_ready_seconds();
    let count = |f: &dyn Fn(&Pod) -> bool| {
        i32::try_from(pods.iter().filter(|p| f(p)).count()).unwrap_or(i32::MAX)
    };
    status.replicas = count(&|_| true);
    status.fully_labeled_replicas =
        count(&|p| selector_matches(&template_selector, p.metadata.labels.as_ref()));
    status.ready_replicas = count(&|p| is_ready(p));
    status.available_replicas = count(&|p| is_available(p, min_ready, now));
    status.observed_generation = owner.meta().generation.unwrap_or(0);
    let has_failure = status.conditions.iter().any(|c| c.type_ == REPLICA_FAILURE);
    match manage_error {
        Some(error) if !has_failure => {
            let reason = match status.replicas.cmp(&owner.replicas()) {
                std::cmp::Ordering::Less => Some("FailedCreate".to_string()),
                std::cmp::Ordering::Greater => Some("FailedDelete".to_string()),
                std::cmp::Ordering::Equal => None,
            };
            status.conditions.push(Condition {
                type_: REPLICA_FAILURE.into(),
                status: "True".into(),
                reason,
                message: Some(error.to_string()),
                last_transition_time: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                    now,
                )),
            });
        }
        None if has_failure => status.conditions.retain(|c| c.type_ != REPLICA_FAILURE),
        _ => {}
    }
    status
}

/// When the next ready pod becomes available, if one is still waiting for
/// minReadySeconds.
fn next_availability(pods: &[Arc<Pod>], min_ready: i32, now: jiff::Timestamp) -> Option<Duration> {
    if min_ready <= 0 {
        return None;
    }
    pods.iter()
        .filter(|p| is_ready(p) && !is_available(p, min_ready, now))
        .filter_map(|p| {
            let conditions = p.status.as_ref()?.conditions.as_ref()?;
            let since = conditions
                .iter()
                .find(|c| c.type_ == "Ready")?
                .last_transition_time
                .as_ref()?
                .0;
            let at = since + jiff::SignedDuration::from_secs(i64::from(min_ready));
            Duration::try_from(at.duration_since(now)).ok()
        })
        .min()
        .map(|wait| wait + Duration::from_millis(100))
}

impl<K: ReplicaOwner> Context<K> {
    fn events_for(&self, owner: &K, type_: EventType, reason: &str, action: &str, note: String) {
        let recorder = self.recorder.clone();
        let reference = owner.object_ref(&());
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(note),
            action: action.into(),
            secondary: None,
        };
        tokio::spawn(async move {
            if let Err(error) = recorder.publish(&event, &reference).await {
                tracing::debug!(%error, "cannot record event");
            }
        });
    }

    /// Whether the owner may adopt: checked afresh, as upstream, so that
    /// an owner being deleted does not take pods with it.
    async fn can_adopt(&self, owner: &K) -> Result<bool, Error> {
        let api: Api<K> =
            Api::namespaced(self.client.clone(), &owner.namespace().unwrap_or_default());
        let fresh = api.get_opt(&owner.name_any()).await?;
        Ok(fresh.is_some_and(|fresh| {
            fresh.meta().uid == owner.meta().uid && fresh.meta().deletion_timestamp.is_none()
        }))
    }

    /// Adopts (`Some` reference) or releases the pod; the pod as written,
    /// or `None` if it is gone or changed meanwhile.
    async fn set_owner(
        &self,
        pod: &Pod,
        owner_uid: &str,
        reference: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>,
    ) -> Result<Option<Pod>, String> {
        let api: Api<Pod> =
            Api::namespaced(self.client.clone(), &pod.namespace().unwrap_or_default());
        let patch = ownership_patch(&pod.metadata, owner_uid, reference);
        match api
            .patch(
                &pod.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(pod) => Ok(Some(pod)),
            Err(error) if matches!(status_code(&error), Some(404 | 409 | 422)) => Ok(None),
            Err(error) => Err(describe(&error)),
        }
    }

    /// Creates or deletes pods towards the desired count, as upstream's
    /// manageReplicas.
    async fn manage(
        &self,
        owner: &K,
        key: &str,
        owned: &[Arc<Pod>],
        now: jiff::Timestamp,
    ) -> Result<(), Error> {
        let desired = usize::try_from(owner.replicas()).unwrap_or(0);
        if owned.len() < desired {
            let count = (desired - owned.len()).min(BURST_REPLICAS);
            self.expectations.expect_creations(key, count);
            let mut created = 0;
            let mut failure = None;
            for batch in slow_start_batches(count) {
                let results = join_all((0..batch).map(|_| self.create_pod(owner))).await;
                let mut errors = results.into_iter().filter_map(Result::err);
                let first = errors.next();
                created += batch - first.iter().count() - errors.count();
                if first.is_some() {
                    failure = first;
                    break;
                }
            }
            for _ in created..count {
                self.expectations.creation_observed(key);
            }
            return failure.map_or(Ok(()), Err);
        }
        if owned.len() > desired {
            let count = (owned.len() - desired).min(BURST_REPLICAS);
            let related = self.related_pods(owner, owned);
            let candidates: Vec<&Pod> = owned.iter().map(|p| p.as_ref()).collect();
            let related: Vec<&Pod> = related.iter().map(|p| p.as_ref()).collect();
            let victims = pods_to_delete(&candidates, &related, count, now);
            self.expectations
                .expect_deletions(key, victims.iter().map(|p| pod_key(p)));
            let results = join_all(victims.iter().map(|pod| async {
                let result = self.delete_pod(owner, pod).await;
                if result.is_err() {
                    self.expectations.deletion_observed(key, &pod_key(pod));
                }
                result
            }))
            .await;
            if let Some(error) = results.into_iter().find_map(Result::err) {
                return Err(error);
            }
        }
        Ok(())
    }

    async fn create_pod(&self, owner: &K) -> Result<(), Error> {
        let namespace = owner.namespace().unwrap_or_default();
        let Some(template) = owner.template() else {
            return Err(Error::new("unable to create pods, no template"));
        };
        if template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.as_ref())
            .is_none_or(|l| l.is_empty())
        {
            return Err(Error::new("unable to create pods, no labels"));
        }
        let pod = from_template(
            template,
            controller_ref(owner),
            &namespace,
            None,
            &owner.name_any(),
        );
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
        match api.create(&PostParams::default(), &pod).await {
            Ok(created) => {
                let note = format!("Created pod: {}", created.name_any());
                self.events_for(owner, EventType::Normal, "SuccessfulCreate", "Create", note);
                Ok(())
            }
            // Nothing can be made in a namespace being deleted.
            Err(error) if namespace_terminating(&error) => Ok(()),
            Err(error) => {
                let message = describe(&error);
                let note = format!("Error creating: {message}");
                self.events_for(owner, EventType::Warning, "FailedCreate", "Create", note);
                Err(Error::new(message))
            }
        }
    }

    async fn delete_pod(&self, owner: &K, pod: &Pod) -> Result<(), Error> {
        let api: Api<Pod> =
            Api::namespaced(self.client.clone(), &pod.namespace().unwrap_or_default());
        let name = pod.name_any();
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {
                let note = format!("Deleted pod: {name}");
                self.events_for(owner, EventType::Normal, "SuccessfulDelete", "Delete", note);
                Ok(())
            }
            Err(error) if status_code(&error) == Some(404) => Ok(()),
            Err(error) => {
                let message = describe(&error);
                let note = format!("Error deleting: {message}");
                self.events_for(owner, EventType::Warning, "FailedDelete", "Delete", note);
                Err(Error::new(format!("unable to delete pods: {message}")))
            }
        }
    }

    /// The active pods of every owner that shares this owner's controller
    /// (the ReplicaSets of one Deployment), for ranking by node.
    fn related_pods(&self, owner: &K, owned: &[Arc<Pod>]) -> Vec<Arc<Pod>> {
        let Some(parent) = controller_of(owner.meta()).map(|r| r.uid.clone()) else {
            return owned.to_vec();
        };
        let namespace = owner.namespace();
        let siblings: std::collections::HashSet<String> = self
            .owners
            .state()
            .iter()
            .filter(|o| o.namespace() == namespace)
            .filter(|o| controller_of(o.meta()).is_some_and(|r| r.uid == parent))
            .filter_map(|o| o.meta().uid.clone())
            .collect();
        self.pods
            .state()
            .into_iter()
            .filter(|p| p.namespace() == namespace && is_active(p))
            .filter(|p| controller_of(&p.metadata).is_some_and(|r| siblings.contains(&r.uid)))
            .collect()
    }

    async fn write_status(&self, owner: &K, status: &ReplicaStatus) -> Result<(), Error> {
        let api: Api<K> =
            Api::namespaced(self.client.clone(), &owner.namespace().unwrap_or_default());
        match api
            .patch_status(
                &owner.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&status.patch()),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(error) if status_code(&error) == Some(404) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }
}

pub fn pod_key(pod: &Pod) -> String {
    format!("{}/{}", pod.namespace().unwrap_or_default(), pod.name_any())
}

/// The namespace is being deleted: upstream's NamespaceTerminating cause.
fn namespace_terminating(error: &kube::Error) -> bool {
    let kube::Error::Api(status) = error else {
        return false;
    };
    status.code == 403
        && (status
            .details
            .as_ref()
            .is_some_and(|d| d.causes.iter().any(|c| c.reason == "NamespaceTerminating"))
            || status.message.contains("because it is being terminated"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec};
    use k8s_openapi::api::core::v1::{PodCondition, PodStatus, PodTemplateSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};

    fn labels(pairs: &[(&str, &str)]) -> Option<std::collections::BTreeMap<String, String>> {
        Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn replica_set(replicas: i32, min_ready: i32) -> ReplicaSet {
        ReplicaSet {
            metadata: ObjectMeta {
                name: Some("web".into()),
                generation: Some(4),
                ..ObjectMeta::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(replicas),
                min_ready_seconds: Some(min_ready),
                selector: LabelSelector {
                    match_labels: labels(&[("app", "web")]),
                    ..LabelSelector::default()
                },
                template: Some(PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: labels(&[("app", "web"), ("tier", "front")]),
                        ..ObjectMeta::default()
                    }),
                    spec: None,
                }),
            }),
            status: None,
        }
    }

    fn pod(pod_labels: &[(&str, &str)], ready_since: Option<i64>) -> Arc<Pod> {
        Arc::new(Pod {
            metadata: ObjectMeta {
                labels: labels(pod_labels),
                ..ObjectMeta::default()
            },
            spec: None,
            status: Some(PodStatus {
                phase: Some("Running".into()),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: if ready_since.is_some() {
                        "True"
                    } else {
                        "False"
                    }
                    .into(),
                    last_transition_time: ready_since
                        .map(|s| Time(jiff::Timestamp::from_second(s).unwrap())),
                    ..PodCondition::default()
                }]),
                ..PodStatus::default()
            }),
        })
    }

    #[test]
    fn status_counts_labels_readiness_and_availability() {
        let now = jiff::Timestamp::from_second(100).unwrap();
        let full = [("app", "web"), ("tier", "front")];
        let pods = [
            pod(&full, Some(10)),
            pod(&full, Some(98)),
            pod(&[("app", "web")], None),
        ];
        let status = compute_status(&replica_set(3, 5), &pods, None, now);
        assert_eq!(status.replicas, 3);
        assert_eq!(status.fully_labeled_replicas, 2);
        assert_eq!(status.ready_replicas, 2);
        assert_eq!(status.available_replicas, 1);
        assert_eq!(status.observed_generation, 4);
        assert!(status.conditions.is_empty());
        let wait = next_availability(&pods, 5, now).expect("a pod becomes available");
        assert!(wait > Duration::from_secs(2) && wait < Duration::from_secs(4));
    }

    #[test]
    fn failures_to_create_show_as_a_condition_until_they_stop() {
        let now = jiff::Timestamp::from_second(100).unwrap();
        let mut rs = replica_set(3, 0);
        let error = Error::new("pods \"web-x\" is forbidden: exceeded quota: q");
        let status = compute_status(&rs, &[], Some(&error), now);
        let failure = &status.conditions[0];
        assert_eq!(failure.type_, REPLICA_FAILURE);
        assert_eq!(failure.reason.as_deref(), Some("FailedCreate"));
        assert_eq!(failure.message.as_deref(), Some(error.to_string().as_str()));
        rs.status = Some(serde_json::from_value(status.patch()["status"].clone()).unwrap());
        // Reported once; gone once creating works.
        assert_eq!(
            compute_status(&rs, &[], Some(&error), now).conditions.len(),
            1
        );
        assert!(compute_status(&rs, &[], None, now).conditions.is_empty());
    }
}
