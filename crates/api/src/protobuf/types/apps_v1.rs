//! The messages of apps/v1.

use super::super::schema::*;
use super::core_v1;
use super::intstr;
use super::meta_v1;
use super::runtime;

const PKG: &str = "apps/v1";

msg! { ControllerRevision [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "data", Keep(M(&runtime::RawExtension))),
    (3, "revision", Keep(I64)),
] }
msg! { ControllerRevisionList [
    (1, "metadata", Keep(M(&meta_v1::ListMeta))),
    (2, "items", Rep(M(&ControllerRevision))),
] }
msg! { DaemonSet [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "spec", Keep(M(&DaemonSetSpec))),
    (3, "status", Keep(M(&DaemonSetStatus))),
] }
msg! { DaemonSetCondition [
    (1, "type", Keep(Str)),
    (2, "status", Keep(Str)),
    (3, "lastTransitionTime", Keep(M(&meta_v1::Time))),
    (4, "reason", Omit(Str)),
    (5, "message", Omit(Str)),
] }
msg! { DaemonSetList [
    (1, "metadata", Keep(M(&meta_v1::ListMeta))),
    (2, "items", Rep(M(&DaemonSet))),
] }
msg! { DaemonSetSpec [
    (1, "selector", Keep(M(&meta_v1::LabelSelector))),
    (2, "template", Keep(M(&core_v1::PodTemplateSpec))),
    (3, "updateStrategy", Keep(M(&DaemonSetUpdateStrategy))),
    (4, "minReadySeconds", Omit(I32)),
    (6, "revisionHistoryLimit", Keep(I32)),
] }
msg! { DaemonSetStatus [
    (1, "currentNumberScheduled", Keep(I32)),
    (2, "numberMisscheduled", Keep(I32)),
    (3, "desiredNumberScheduled", Keep(I32)),
    (4, "numberReady", Keep(I32)),
    (5, "observedGeneration", Omit(I64)),
    (6, "updatedNumberScheduled", Omit(I32)),
    (7, "numberAvailable", Omit(I32)),
    (8, "numberUnavailable", Omit(I32)),
    (9, "collisionCount", Keep(I32)),
    (10, "conditions", Rep(M(&DaemonSetCondition))),
] }
msg! { DaemonSetUpdateStrategy [
    (1, "type", Omit(Str)),
    (2, "rollingUpdate", Keep(M(&RollingUpdateDaemonSet))),
] }
msg! { Deployment [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "spec", Keep(M(&DeploymentSpec))),
    (3, "status", Keep(M(&DeploymentStatus))),
] }
msg! { DeploymentCondition [
    (1, "type", Keep(Str)),
    (2, "status", Keep(Str)),
    (4, "reason", Omit(Str)),
    (5, "message", Omit(Str)),
    (6, "lastUpdateTime", Keep(M(&meta_v1::Time))),
    (7, "lastTransitionTime", Keep(M(&meta_v1::Time))),
] }
msg! { DeploymentList [
    (1, "metadata", Keep(M(&meta_v1::ListMeta))),
    (2, "items", Rep(M(&Deployment))),
] }
msg! { DeploymentSpec [
    (1, "replicas", Keep(I32)),
    (2, "selector", Keep(M(&meta_v1::LabelSelector))),
    (3, "template", Keep(M(&core_v1::PodTemplateSpec))),
    (4, "strategy", Keep(M(&DeploymentStrategy))),
    (5, "minReadySeconds", Omit(I32)),
    (6, "revisionHistoryLimit", Keep(I32)),
    (7, "paused", Omit(Bool)),
    (9, "progressDeadlineSeconds", Keep(I32)),
] }
msg! { DeploymentStatus [
    (1, "observedGeneration", Omit(I64)),
    (2, "replicas", Omit(I32)),
    (3, "updatedReplicas", Omit(I32)),
    (4, "availableReplicas", Omit(I32)),
    (5, "unavailableReplicas", Omit(I32)),
    (6, "conditions", Rep(M(&DeploymentCondition))),
    (7, "readyReplicas", Omit(I32)),
    (8, "collisionCount", Keep(I32)),
    (9, "terminatingReplicas", Keep(I32)),
] }
msg! { DeploymentStrategy [
    (1, "type", Omit(Str)),
    (2, "rollingUpdate", Keep(M(&RollingUpdateDeployment))),
] }
msg! { ReplicaSet [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "spec", Keep(M(&ReplicaSetSpec))),
    (3, "status", Keep(M(&ReplicaSetStatus))),
] }
msg! { ReplicaSetCondition [
    (1, "type", Keep(Str)),
    (2, "status", Keep(Str)),
    (3, "lastTransitionTime", Keep(M(&meta_v1::Time))),
    (4, "reason", Omit(Str)),
    (5, "message", Omit(Str)),
] }
msg! { ReplicaSetList [
    (1, "metadata", Keep(M(&meta_v1::ListMeta))),
    (2, "items", Rep(M(&ReplicaSet))),
] }
msg! { ReplicaSetSpec [
    (1, "replicas", Keep(I32)),
    (2, "selector", Keep(M(&meta_v1::LabelSelector))),
    (3, "template", Keep(M(&core_v1::PodTemplateSpec))),
    (4, "minReadySeconds", Omit(I32)),
] }
msg! { ReplicaSetStatus [
    (1, "replicas", Keep(I32)),
    (2, "fullyLabeledReplicas", Omit(I32)),
    (3, "observedGeneration", Omit(I64)),
    (4, "readyReplicas", Omit(I32)),
    (5, "availableReplicas", Omit(I32)),
    (6, "conditions", Rep(M(&ReplicaSetCondition))),
    (7, "terminatingReplicas", Keep(I32)),
] }
msg! { RollingUpdateDaemonSet [
    (1, "maxUnavailable", Keep(M(&intstr::IntOrString))),
    (2, "maxSurge", Keep(M(&intstr::IntOrString))),
] }
msg! { RollingUpdateDeployment [
    (1, "maxUnavailable", Keep(M(&intstr::IntOrString))),
    (2, "maxSurge", Keep(M(&intstr::IntOrString))),
] }
msg! { RollingUpdateStatefulSetStrategy [
    (1, "partition", Keep(I32)),
    (2, "maxUnavailable", Keep(M(&intstr::IntOrString))),
] }
msg! { StatefulSet [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "spec", Keep(M(&StatefulSetSpec))),
    (3, "status", Keep(M(&StatefulSetStatus))),
] }
msg! { StatefulSetCondition [
    (1, "type", Keep(Str)),
    (2, "status", Keep(Str)),
    (3, "lastTransitionTime", Keep(M(&meta_v1::Time))),
    (4, "reason", Omit(Str)),
    (5, "message", Omit(Str)),
] }
msg! { StatefulSetList [
    (1, "metadata", Keep(M(&meta_v1::ListMeta))),
    (2, "items", Rep(M(&StatefulSet))),
] }
msg! { StatefulSetOrdinals [(1, "start", Keep(I32))] }
msg! { StatefulSetPersistentVolumeClaimRetentionPolicy [
    (1, "whenDeleted", Omit(Str)),
    (2, "whenScaled", Omit(Str)),
] }
msg! { StatefulSetSpec [
    (1, "replicas", Keep(I32)),
    (2, "selector", Keep(M(&meta_v1::LabelSelector))),
    (3, "template", Keep(M(&core_v1::PodTemplateSpec))),
    (4, "volumeClaimTemplates", Rep(M(&core_v1::PersistentVolumeClaim))),
    (5, "serviceName", Keep(Str)),
    (6, "podManagementPolicy", Omit(Str)),
    (7, "updateStrategy", Keep(M(&StatefulSetUpdateStrategy))),
    (8, "revisionHistoryLimit", Keep(I32)),
    (9, "minReadySeconds", Omit(I32)),
    (10, "persistentVolumeClaimRetentionPolicy", Keep(M(&StatefulSetPersistentVolumeClaimRetentionPolicy))),
    (11, "ordinals", Keep(M(&StatefulSetOrdinals))),
] }
msg! { StatefulSetStatus [
    (1, "observedGeneration", Omit(I64)),
    (2, "replicas", Keep(I32)),
    (3, "readyReplicas", Omit(I32)),
    (4, "currentReplicas", Omit(I32)),
    (5, "updatedReplicas", Omit(I32)),
    (6, "currentRevision", Omit(Str)),
    (7, "updateRevision", Omit(Str)),
    (9, "collisionCount", Keep(I32)),
    (10, "conditions", Rep(M(&StatefulSetCondition))),
    (11, "availableReplicas", Keep(I32)),
] }
msg! { StatefulSetUpdateStrategy [
    (1, "type", Omit(Str)),
    (2, "rollingUpdate", Keep(M(&RollingUpdateStatefulSetStrategy))),
] }

/// The kinds an object of this group version may have.
pub static KINDS: &[&Msg] = &[
    &ControllerRevision,
    &ControllerRevisionList,
    &DaemonSet,
    &DaemonSetList,
    &Deployment,
    &DeploymentList,
    &ReplicaSet,
    &ReplicaSetList,
    &StatefulSet,
    &StatefulSetList,
];
