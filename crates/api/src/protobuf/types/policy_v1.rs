//! The messages of policy/v1.

use super::super::schema::*;
use super::intstr;
use super::meta_v1;

const PKG: &str = "policy/v1";

msg! { Eviction [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "deleteOptions", Keep(M(&meta_v1::DeleteOptions))),
] }
msg! { PodDisruptionBudget [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "spec", Keep(M(&PodDisruptionBudgetSpec))),
    (3, "status", Keep(M(&PodDisruptionBudgetStatus))),
] }
msg! { PodDisruptionBudgetList [
    (1, "metadata", Keep(M(&meta_v1::ListMeta))),
    (2, "items", Rep(M(&PodDisruptionBudget))),
] }
msg! { PodDisruptionBudgetSpec [
    (1, "minAvailable", Keep(M(&intstr::IntOrString))),
    (2, "selector", Keep(M(&meta_v1::LabelSelector))),
    (3, "maxUnavailable", Keep(M(&intstr::IntOrString))),
    (4, "unhealthyPodEvictionPolicy", Keep(Str)),
] }
msg! { PodDisruptionBudgetStatus [
    (1, "observedGeneration", Omit(I64)),
    (2, "disruptedPods", Map(M(&meta_v1::Time))),
    (3, "disruptionsAllowed", Keep(I32)),
    (4, "currentHealthy", Keep(I32)),
    (5, "desiredHealthy", Keep(I32)),
    (6, "expectedPods", Keep(I32)),
    (7, "conditions", Rep(M(&meta_v1::Condition))),
] }

/// The kinds an object of this group version may have.
pub static KINDS: &[&Msg] = &[&Eviction, &PodDisruptionBudget, &PodDisruptionBudgetList];
