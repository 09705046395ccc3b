//! The messages of autoscaling/v1.

use super::super::schema::*;
use super::meta_v1;

const PKG: &str = "autoscaling/v1";

msg! { CrossVersionObjectReference [
    (1, "kind", Keep(Str)),
    (2, "name", Keep(Str)),
    (3, "apiVersion", Omit(Str)),
] }
msg! { HorizontalPodAutoscaler [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "spec", Keep(M(&HorizontalPodAutoscalerSpec))),
    (3, "status", Keep(M(&HorizontalPodAutoscalerStatus))),
] }
msg! { HorizontalPodAutoscalerList [
    (1, "metadata", Keep(M(&meta_v1::ListMeta))),
    (2, "items", Rep(M(&HorizontalPodAutoscaler))),
] }
msg! { HorizontalPodAutoscalerSpec [
    (1, "scaleTargetRef", Keep(M(&CrossVersionObjectReference))),
    (2, "minReplicas", Keep(I32)),
    (3, "maxReplicas", Keep(I32)),
    (4, "targetCPUUtilizationPercentage", Keep(I32)),
] }
msg! { HorizontalPodAutoscalerStatus [
    (1, "observedGeneration", Keep(I64)),
    (2, "lastScaleTime", Keep(M(&meta_v1::Time))),
    (3, "currentReplicas", Keep(I32)),
    (4, "desiredReplicas", Keep(I32)),
    (5, "currentCPUUtilizationPercentage", Keep(I32)),
] }
msg! { Scale [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "spec", Keep(M(&ScaleSpec))),
    (3, "status", Keep(M(&ScaleStatus))),
] }
msg! { ScaleSpec [(1, "replicas", Omit(I32))] }
msg! { ScaleStatus [(1, "replicas", Keep(I32)), (2, "selector", Omit(Str))] }

/// The kinds an object of this group version may have.
pub static KINDS: &[&Msg] = &[
    &HorizontalPodAutoscaler,
    &HorizontalPodAutoscalerList,
    &Scale,
];
