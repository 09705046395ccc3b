//! The messages of autoscaling/v2.

use super::super::schema::*;
use super::meta_v1;
use super::resource;

const PKG: &str = "autoscaling/v2";

msg! { ContainerResourceMetricSource [
    (1, "name", Keep(Str)),
    (2, "target", Keep(M(&MetricTarget))),
    (3, "container", Keep(Str)),
] }
msg! { ContainerResourceMetricStatus [
    (1, "name", Keep(Str)),
    (2, "current", Keep(M(&MetricValueStatus))),
    (3, "container", Keep(Str)),
] }
msg! { CrossVersionObjectReference [
    (1, "kind", Keep(Str)),
    (2, "name", Keep(Str)),
    (3, "apiVersion", Omit(Str)),
] }
msg! { ExternalMetricSource [
    (1, "metric", Keep(M(&MetricIdentifier))),
    (2, "target", Keep(M(&MetricTarget))),
] }
msg! { ExternalMetricStatus [
    (1, "metric", Keep(M(&MetricIdentifier))),
    (2, "current", Keep(M(&MetricValueStatus))),
] }
msg! { HPAScalingPolicy [
    (1, "type", Keep(Str)),
    (2, "value", Keep(I32)),
    (3, "periodSeconds", Keep(I32)),
] }
msg! { HPAScalingRules [
    (1, "selectPolicy", Keep(Str)),
    (2, "policies", Rep(M(&HPAScalingPolicy))),
    (3, "stabilizationWindowSeconds", Keep(I32)),
    (4, "tolerance", Keep(M(&resource::Quantity))),
] }
msg! { HorizontalPodAutoscaler [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "spec", Keep(M(&HorizontalPodAutoscalerSpec))),
    (3, "status", Keep(M(&HorizontalPodAutoscalerStatus))),
] }
msg! { HorizontalPodAutoscalerBehavior [
    (1, "scaleUp", Keep(M(&HPAScalingRules))),
    (2, "scaleDown", Keep(M(&HPAScalingRules))),
] }
msg! { HorizontalPodAutoscalerCondition [
    (1, "type", Keep(Str)),
    (2, "status", Keep(Str)),
    (3, "lastTransitionTime", Keep(M(&meta_v1::Time))),
    (4, "reason", Omit(Str)),
    (5, "message", Omit(Str)),
] }
msg! { HorizontalPodAutoscalerList [
    (1, "metadata", Keep(M(&meta_v1::ListMeta))),
    (2, "items", Rep(M(&HorizontalPodAutoscaler))),
] }
msg! { HorizontalPodAutoscalerSpec [
    (1, "scaleTargetRef", Keep(M(&CrossVersionObjectReference))),
    (2, "minReplicas", Keep(I32)),
    (3, "maxReplicas", Keep(I32)),
    (4, "metrics", Rep(M(&MetricSpec))),
    (5, "behavior", Keep(M(&HorizontalPodAutoscalerBehavior))),
] }
msg! { HorizontalPodAutoscalerStatus [
    (1, "observedGeneration", Keep(I64)),
    (2, "lastScaleTime", Keep(M(&meta_v1::Time))),
    (3, "currentReplicas", Omit(I32)),
    (4, "desiredReplicas", Keep(I32)),
    (5, "currentMetrics", Rep(M(&MetricStatus))),
    (6, "conditions", Rep(M(&HorizontalPodAutoscalerCondition))),
] }
msg! { MetricIdentifier [
    (1, "name", Keep(Str)),
    (2, "selector", Keep(M(&meta_v1::LabelSelector))),
] }
msg! { MetricSpec [
    (1, "type", Keep(Str)),
    (2, "object", Keep(M(&ObjectMetricSource))),
    (3, "pods", Keep(M(&PodsMetricSource))),
    (4, "resource", Keep(M(&ResourceMetricSource))),
    (5, "external", Keep(M(&ExternalMetricSource))),
    (7, "containerResource", Keep(M(&ContainerResourceMetricSource))),
] }
msg! { MetricStatus [
    (1, "type", Keep(Str)),
    (2, "object", Keep(M(&ObjectMetricStatus))),
    (3, "pods", Keep(M(&PodsMetricStatus))),
    (4, "resource", Keep(M(&ResourceMetricStatus))),
    (5, "external", Keep(M(&ExternalMetricStatus))),
    (7, "containerResource", Keep(M(&ContainerResourceMetricStatus))),
] }
msg! { MetricTarget [
    (1, "type", Keep(Str)),
    (2, "value", Keep(M(&resource::Quantity))),
    (3, "averageValue", Keep(M(&resource::Quantity))),
    (4, "averageUtilization", Keep(I32)),
] }
msg! { MetricValueStatus [
    (1, "value", Keep(M(&resource::Quantity))),
    (2, "averageValue", Keep(M(&resource::Quantity))),
    (3, "averageUtilization", Keep(I32)),
] }
msg! { ObjectMetricSource [
    (1, "describedObject", Keep(M(&CrossVersionObjectReference))),
    (2, "target", Keep(M(&MetricTarget))),
    (3, "metric", Keep(M(&MetricIdentifier))),
] }
msg! { ObjectMetricStatus [
    (1, "metric", Keep(M(&MetricIdentifier))),
    (2, "current", Keep(M(&MetricValueStatus))),
    (3, "describedObject", Keep(M(&CrossVersionObjectReference))),
] }
msg! { PodsMetricSource [
    (1, "metric", Keep(M(&MetricIdentifier))),
    (2, "target", Keep(M(&MetricTarget))),
] }
msg! { PodsMetricStatus [
    (1, "metric", Keep(M(&MetricIdentifier))),
    (2, "current", Keep(M(&MetricValueStatus))),
] }
msg! { ResourceMetricSource [(1, "name", Keep(Str)), (2, "target", Keep(M(&MetricTarget)))] }
msg! { ResourceMetricStatus [(1, "name", Keep(Str)), (2, "current", Keep(M(&MetricValueStatus)))] }

/// The kinds an object of this group version may have.
pub static KINDS: &[&Msg] = &[&HorizontalPodAutoscaler, &HorizontalPodAutoscalerList];
