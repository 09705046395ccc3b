//! The messages of batch/v1.

use super::super::schema::*;
use super::core_v1;
use super::meta_v1;

const PKG: &str = "batch/v1";

msg! { CronJob [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "spec", Keep(M(&CronJobSpec))),
    (3, "status", Keep(M(&CronJobStatus))),
] }
msg! { CronJobList [(1, "metadata", Keep(M(&meta_v1::ListMeta))), (2, "items", Rep(M(&CronJob)))] }
msg! { CronJobSpec [
    (1, "schedule", Keep(Str)),
    (2, "startingDeadlineSeconds", Keep(I64)),
    (3, "concurrencyPolicy", Omit(Str)),
    (4, "suspend", Keep(Bool)),
    (5, "jobTemplate", Keep(M(&JobTemplateSpec))),
    (6, "successfulJobsHistoryLimit", Keep(I32)),
    (7, "failedJobsHistoryLimit", Keep(I32)),
    (8, "timeZone", Keep(Str)),
] }
msg! { CronJobStatus [
    (1, "active", Rep(M(&core_v1::ObjectReference))),
    (4, "lastScheduleTime", Keep(M(&meta_v1::Time))),
    (5, "lastSuccessfulTime", Keep(M(&meta_v1::Time))),
] }
msg! { Job [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "spec", Keep(M(&JobSpec))),
    (3, "status", Keep(M(&JobStatus))),
] }
msg! { JobCondition [
    (1, "type", Keep(Str)),
    (2, "status", Keep(Str)),
    (3, "lastProbeTime", Keep(M(&meta_v1::Time))),
    (4, "lastTransitionTime", Keep(M(&meta_v1::Time))),
    (5, "reason", Omit(Str)),
    (6, "message", Omit(Str)),
] }
msg! { JobList [(1, "metadata", Keep(M(&meta_v1::ListMeta))), (2, "items", Rep(M(&Job)))] }
msg! { JobSpec [
    (1, "parallelism", Keep(I32)),
    (2, "completions", Keep(I32)),
    (3, "activeDeadlineSeconds", Keep(I64)),
    (4, "selector", Keep(M(&meta_v1::LabelSelector))),
    (5, "manualSelector", Keep(Bool)),
    (6, "template", Keep(M(&core_v1::PodTemplateSpec))),
    (7, "backoffLimit", Keep(I32)),
    (8, "ttlSecondsAfterFinished", Keep(I32)),
    (9, "completionMode", Keep(Str)),
    (10, "suspend", Keep(Bool)),
    (11, "podFailurePolicy", Keep(M(&PodFailurePolicy))),
    (12, "backoffLimitPerIndex", Keep(I32)),
    (13, "maxFailedIndexes", Keep(I32)),
    (14, "podReplacementPolicy", Keep(Str)),
    (15, "managedBy", Keep(Str)),
    (16, "successPolicy", Keep(M(&SuccessPolicy))),
] }
msg! { JobStatus [
    (1, "conditions", Rep(M(&JobCondition))),
    (2, "startTime", Keep(M(&meta_v1::Time))),
    (3, "completionTime", Keep(M(&meta_v1::Time))),
    (4, "active", Omit(I32)),
    (5, "succeeded", Omit(I32)),
    (6, "failed", Omit(I32)),
    (7, "completedIndexes", Omit(Str)),
    (8, "uncountedTerminatedPods", Keep(M(&UncountedTerminatedPods))),
    (9, "ready", Keep(I32)),
    (10, "failedIndexes", Keep(Str)),
    (11, "terminating", Keep(I32)),
] }
msg! { JobTemplateSpec [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "spec", Keep(M(&JobSpec))),
] }
msg! { PodFailurePolicy [(1, "rules", Rep(M(&PodFailurePolicyRule)))] }
msg! { PodFailurePolicyOnExitCodesRequirement [
    (1, "containerName", Keep(Str)),
    (2, "operator", Keep(Str)),
    (3, "values", Rep(I32)),
] }
msg! { PodFailurePolicyOnPodConditionsPattern [(1, "type", Keep(Str)), (2, "status", Keep(Str))] }
msg! { PodFailurePolicyRule [
    (1, "action", Keep(Str)),
    (2, "onExitCodes", Keep(M(&PodFailurePolicyOnExitCodesRequirement))),
    (3, "onPodConditions", Rep(M(&PodFailurePolicyOnPodConditionsPattern))),
] }
msg! { SuccessPolicy [(1, "rules", Rep(M(&SuccessPolicyRule)))] }
msg! { SuccessPolicyRule [(1, "succeededIndexes", Keep(Str)), (2, "succeededCount", Keep(I32))] }
msg! { UncountedTerminatedPods [(1, "succeeded", Rep(Str)), (2, "failed", Rep(Str))] }

/// The kinds an object of this group version may have.
pub static KINDS: &[&Msg] = &[&CronJob, &CronJobList, &Job, &JobList];
