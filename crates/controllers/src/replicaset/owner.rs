//! What the replica controller needs of its two kinds, ReplicaSet
//! (apps/v1) and ReplicationController (core/v1), which upstream runs
//! through one algorithm: the selector, the desired count, the template,
//! and the status both kinds share in shape.

use std::fmt::Debug;

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition};
use k8s_openapi::api::core::v1::{
    PodTemplateSpec, ReplicationController, ReplicationControllerCondition,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};
use k8s_openapi::serde::de::DeserializeOwned;
use k8s_openapi::serde::Serialize;
use k8s_openapi::NamespaceResourceScope;
use kube::Resource;
use serde_json::{json, Value};

/// The condition type a failed create or delete is reported under.
pub const REPLICA_FAILURE: &str = "ReplicaFailure";

/// A kind the replica controller keeps the pods of.
pub trait ReplicaOwner:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + Serialize
    + Debug
    + Send
    + Sync
    + 'static
{
    /// The reportingController of its events, as upstream names it.
    const REPORTER: &'static str;

    /// The pods it selects; `None` when it selects nothing usable (an
    /// empty selector is refused by validation, and never acted on).
    fn selector(&self) -> Option<LabelSelector>;
    /// `spec.replicas`, defaulting to 1.
    fn replicas(&self) -> i32;
    fn min_ready_seconds(&self) -> i32;
    fn template(&self) -> Option<&PodTemplateSpec>;
    fn replica_status(&self) -> ReplicaStatus;
}

/// One status condition, in the shape both kinds use.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Condition {
    pub type_: String,
    pub status: String,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub last_transition_time: Option<Time>,
}

/// The status both kinds share.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplicaStatus {
    pub replicas: i32,
    pub fully_labeled_replicas: i32,
    pub ready_replicas: i32,
    pub available_replicas: i32,
    pub observed_generation: i64,
    pub conditions: Vec<Condition>,
}

impl ReplicaStatus {
    /// A merge patch of the status subresource that makes it this status;
    /// zero counts are left out, as upstream's `omitempty` leaves them.
    pub fn patch(&self) -> Value {
        let count = |n: i32| if n == 0 { Value::Null } else { json!(n) };
        let conditions: Vec<Value> = self
            .conditions
            .iter()
            .map(|c| {
                json!({
                    "type": c.type_,
                    "status": c.status,
                    "reason": c.reason,
                    "message": c.message,
                    "lastTransitionTime": c.last_transition_time,
                })
            })
            .collect();
        json!({
            "status": {
                "replicas": self.replicas,
                "fullyLabeledReplicas": count(self.fully_labeled_replicas),
                "readyReplicas": count(self.ready_replicas),
                "availableReplicas": count(self.available_replicas),
                "observedGeneration": if self.observed_generation == 0 { Value::Null } else { json!(self.observed_generation) },
                "conditions": if conditions.is_empty() { Value::Null } else { Value::Array(conditions) },
            }
        })
    }
}

impl ReplicaOwner for ReplicaSet {
    const REPORTER: &'static str = "replicaset-controller";

    fn selector(&self) -> Option<LabelSelector> {
        let selector = self.spec.as_ref()?.selector.clone();
        let empty = selector.match_labels.as_ref().is_none_or(|m| m.is_empty())
            && selector
                .match_expressions
                .as_ref()
                .is_none_or(|e| e.is_empty());
        (!empty).then_some(selector)
    }

    fn replicas(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
    }

    fn min_ready_seconds(&self) -> i32 {
        self.spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0)
    }

    fn template(&self) -> Option<&PodTemplateSpec> {
        self.spec.as_ref()?.template.as_ref()
    }

    fn replica_status(&self) -> ReplicaStatus {
        let Some(status) = self.status.as_ref() else {
            return ReplicaStatus::default();
        };
        ReplicaStatus {
            replicas: status.replicas,
            fully_labeled_replicas: status.fully_labeled_replicas.unwrap_or(0),
            ready_replicas: status.ready_replicas.unwrap_or(0),
            available_replicas: status.available_replicas.unwrap_or(0),
            observed_generation: status.observed_generation.unwrap_or(0),
            conditions: status
                .conditions
                .iter()
                .flatten()
                .map(|c: &ReplicaSetCondition| Condition {
                    type_: c.type_.clone(),
                    status: c.status.clone(),
                    reason: c.reason.clone(),
                    message: c.message.clone(),
                    last_transition_time: c.last_transition_time.clone(),
                })
                .collect(),
        }
    }
}

impl ReplicaOwner for ReplicationController {
    const REPORTER: &'static str = "replication-controller";

    fn selector(&self) -> Option<LabelSelector> {
        let labels = self.spec.as_ref()?.selector.clone()?;
        (!labels.is_empty()).then(|| LabelSelector {
            match_labels: Some(labels),
            ..LabelSelector::default()
        })
    }

    fn replicas(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
    }

    fn min_ready_seconds(&self) -> i32 {
        self.spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0)
    }

    fn template(&self) -> Option<&PodTemplateSpec> {
        self.spec.as_ref()?.template.as_ref()
    }

    fn replica_status(&self) -> ReplicaStatus {
        let Some(status) = self.status.as_ref() else {
            return ReplicaStatus::default();
        };
        ReplicaStatus {
            replicas: status.replicas,
            fully_labeled_replicas: status.fully_labeled_replicas.unwrap_or(0),
            ready_replicas: status.ready_replicas.unwrap_or(0),
            available_replicas: status.available_replicas.unwrap_or(0),
            observed_generation: status.observed_generation.unwrap_or(0),
            conditions: status
                .conditions
                .iter()
                .flatten()
                .map(|c: &ReplicationControllerCondition| Condition {
                    type_: c.type_.clone(),
                    status: c.status.clone(),
                    reason: c.reason.clone(),
                    message: c.message.clone(),
                    last_transition_time: c.last_transition_time.clone(),
                })
                .collect(),
        }
    }
}
