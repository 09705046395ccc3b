//! One pass over a CronJob and its Jobs, as upstream's sync and
//! syncCronJob: keep `status.active` true to the Jobs, trim finished Jobs
//! to the history limits, and start the Job that is due.

use std::time::Duration;

use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};

use super::schedule::Schedule;
use super::times::{job_for, job_name, most_recent, next_requeue, Missed};
use super::Context;
use crate::pods::is_controlled_by;
use crate::{describe, status_code, Error};

/// Complete or Failed, if the Job finished.
fn finished(job: &Job) -> Option<&'static str> {
    let conditions = job.status.as_ref()?.conditions.as_ref()?;
    ["Complete", "Failed"].into_iter().find(|t| {
        conditions
            .iter()
            .any(|c| c.type_ == *t && c.status == "True")
    })
}

async fn event(ctx: &Context, cron_job: &CronJob, type_: EventType, reason: &str, note: String) {
    ctx.recorder
        .record(&cron_job.object_ref(&()), type_, reason, &note, None)
        .await;
}

/// Deletes a Job in the background, as upstream's deleteJob.
async fn delete_job(
    ctx: &Context,
    cron_job: &mut CronJob,
    namespace: &str,
    name: &str,
    uid: Option<&str>,
) -> bool {
    let api: Api<Job> = Api::namespaced(ctx.client.clone(), namespace);
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => {}
        Err(error) if status_code(&error) == Some(404) => {}
        Err(error) => {
            let note = format!("Deleted job: {}", describe(&error));
            event(ctx, cron_job, EventType::Warning, "FailedDelete", note).await;
            return false;
        }
    }
    if let Some(active) = cron_job.status.as_mut().and_then(|s| s.active.as_mut()) {
        active.retain(|r| r.uid.as_deref() != uid && r.name.as_deref() != Some(name));
    }
    event(
        ctx,
        cron_job,
        EventType::Normal,
        "SuccessfulDelete",
        format!("Deleted job {name}"),
    )
    .await;
    true
}

fn start_time(job: &Job) -> Option<jiff::Timestamp> {
    job.status.as_ref()?.start_time.as_ref().map(|t| t.0)
}

/// Returns when to look again.
pub async fn sync(ctx: &Context, shared: &CronJob) -> Result<Option<Duration>, Error> {
    let mut cron_job = shared.clone();
    let namespace = cron_job.namespace().unwrap_or_default();
    let uid = cron_job.metadata.uid.clone().unwrap_or_default();
    let mut jobs: Vec<Job> = ctx
        .jobs
        .state()
        .iter()
        .filter(|j| j.metadata.namespace.as_deref() == Some(namespace.as_str()))
        .filter(|j| is_controlled_by(&j.metadata, &uid))
        .map(|j| (**j).clone())
        .collect();
    jobs.sort_by(|a, b| {
        // Oldest first; Jobs that never started go last.
        let (sa, sb) = (start_time(a), start_time(b));
        (sa.is_none(), sa, a.name_any()).cmp(&(sb.is_none(), sb, b.name_any()))
    });
    let mut update = cleanup_finished(ctx, &mut cron_job, &jobs).await;
    let (requeue, updated, result) = sync_schedule(ctx, &mut cron_job, &jobs).await;
    update |= updated;
    if update {
        let api: Api<CronJob> = Api::namespaced(ctx.client.clone(), &namespace);
        api.replace_status(&cron_job.name_any(), &PostParams::default(), &cron_job)
            .await?;
    }
    match (requeue, result) {
        (Some(after), _) => Ok(Some(after)),
        (None, Err(error)) => Err(error),
        (None, Ok(())) => Ok(None),
    }
}

/// Deletes the oldest finished Jobs beyond the history limits.
async fn cleanup_finished(ctx: &Context, cron_job: &mut CronJob, jobs: &[Job]) -> bool {
    let spec = cron_job.spec.clone().unwrap_or_default();
    let namespace = cron_job.namespace().unwrap_or_default();
    let mut changed = false;
    for (kind, limit) in [
        ("Complete", spec.successful_jobs_history_limit),
        ("Failed", spec.failed_jobs_history_limit),
    ] {
        let Some(limit) = limit else {
            continue;
        };
        let done: Vec<&Job> = jobs.iter().filter(|j| finished(j) == Some(kind)).collect();
        let excess = done.len().saturating_sub(limit.max(0) as usize);
        for job in done.into_iter().take(excess) {
            changed |= delete_job(
                ctx,
                cron_job,
                &namespace,
                &job.name_any(),
                job.metadata.uid.as_deref(),
            )
            .await;
        }
    }
    changed
}

fn in_active(cron_job: &CronJob, uid: &str) -> bool {
    let active = cron_job.status.as_ref().and_then(|s| s.active.as_ref());
    active.is_some_and(|a| a.iter().any(|r| r.uid.as_deref() == Some(uid)))
}

async fn sync_schedule(
    ctx: &Context,
    cron_job: &mut CronJob,
    jobs: &[Job],
) -> (Option<Duration>, bool, Result<(), Error>) {
    let mut update = false;
    let namespace = cron_job.namespace().unwrap_or_default();
    for job in jobs {
        let job_uid = job.metadata.uid.clone().unwrap_or_default();
        let found = in_active(cron_job, &job_uid);
        match finished(job) {
            None if !found => {
                let note = format!(
                    "Saw a job that the controller did not create or forgot: {}",
                    job.name_any()
                );
                event(ctx, cron_job, EventType::Warning, "UnexpectedJob", note).await;
            }
            Some(condition) if found => {
                if let Some(active) = cron_job.status.as_mut().and_then(|s| s.active.as_mut()) {
                    active.retain(|r| r.uid.as_deref() != Some(job_uid.as_str()));
                }
                let note = format!(
                    "Saw completed job: {}, condition: {condition}",
                    job.name_any()
                );
                event(ctx, cron_job, EventType::Normal, "SawCompletedJob", note).await;
                update = true;
            }
            Some("Complete") => {
                let completed = job.status.as_ref().and_then(|s| s.completion_time.clone());
                let status = cron_job.status.get_or_insert_with(Default::default);
                if completed.is_some()
                    && (status.last_successful_time.is_none()
                        || completed > status.last_successful_time)
                {
                    status.last_successful_time = completed;
                    update = true;
                }
            }
            _ => {}
        }
    }
    // Active Jobs the cache does not show: gone only if the server agrees.
    let listed: Vec<ObjectReference> = cron_job
        .status
        .as_ref()
        .and_then(|s| s.active.clone())
        .unwrap_or_default();
    for reference in listed {
        let known = jobs.iter().any(|j| j.metadata.uid == reference.uid);
        if known {
            continue;
        }
        let name = reference.name.clone().unwrap_or_default();
        let api: Api<Job> = Api::namespaced(ctx.client.clone(), &namespace);
        match api.get_opt(&name).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                let note = format!("Active job went missing: {name}");
                event(ctx, cron_job, EventType::Normal, "MissingJob", note).await;
                if let Some(active) = cron_job.status.as_mut().and_then(|s| s.active.as_mut()) {
                    active.retain(|r| r.uid != reference.uid);
                }
                update = true;
            }
            Err(error) => return (None, update, Err(error.into())),
        }
    }
    if cron_job.metadata.deletion_timestamp.is_some() {
        return (None, update, Ok(()));
    }
    let spec = cron_job.spec.clone().unwrap_or_default();
    let zone = match spec.time_zone.as_deref() {
        None => jiff::tz::TimeZone::system(),
        Some(name) => match jiff::tz::TimeZone::get(name) {
            Ok(zone) => zone,
            Err(error) => {
                let note = format!("invalid timeZone: {name:?}: {error}");
                event(ctx, cron_job, EventType::Warning, "UnknownTimeZone", note).await;
                return (None, update, Ok(()));
            }
        },
    };
    if spec.suspend == Some(true) {
        return (None, update, Ok(()));
    }
    if spec.schedule.contains("TZ") {
        let note = format!(
            "CRON_TZ or TZ used in schedule {:?} is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details",
            spec.schedule
        );
        event(
            ctx,
            cron_job,
            EventType::Warning,
            "UnsupportedSchedule",
            note,
        )
        .await;
    }
    let schedule = match Schedule::parse(&spec.schedule, zone) {
        Ok(schedule) => schedule,
        Err(error) => {
            let note = format!("unparseable schedule: {:?} : {error}", spec.schedule);
            event(
                ctx,
                cron_job,
                EventType::Warning,
                "UnparseableSchedule",
                note,
            )
            .await;
            return (None, update, Ok(()));
        }
    };
    let now = jiff::Timestamp::now();
    let requeue = |cron_job: &CronJob| next_requeue(cron_job, now, &schedule);
    let scheduled = match most_recent(cron_job, now, &schedule, true) {
        Err(error) => {
            let note = format!("invalid schedule: {} : {error}", spec.schedule);
            event(ctx, cron_job, EventType::Warning, "InvalidSchedule", note).await;
            return (None, update, Ok(()));
        }
        Ok((_, None, _)) => return (requeue(cron_job), update, Ok(())),
        Ok((_, Some(at), missed)) => {
            if missed == Missed::Many {
                let note = "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew".into();
                event(
                    ctx,
                    cron_job,
                    EventType::Warning,
                    "TooManyMissedTimes",
                    note,
                )
                .await;
            }
            at
        }
    };
    if let Some(deadline) = spec.starting_deadline_seconds {
        let too_late = scheduled
            .checked_add(jiff::SignedDuration::from_secs(deadline))
            .is_ok_and(|limit| limit < now);
        if too_late {
            let note = format!(
                "Missed scheduled time to start a job: {}",
                scheduled.strftime("%a, %d %b %Y %H:%M:%S +0000")
            );
            event(ctx, cron_job, EventType::Warning, "MissSchedule", note).await;
            return (requeue(cron_job), update, Ok(()));
        }
    }
    let name = job_name(cron_job, scheduled);
    let status = cron_job.status.clone().unwrap_or_default();
    let already = status
        .active
        .iter()
        .flatten()
        .any(|r| r.name.as_deref() == Some(name.as_str()))
        || status.last_schedule_time.as_ref().map(|t| t.0) == Some(scheduled);
    if already {
        return (requeue(cron_job), update, Ok(()));
    }
    let running = status.active.clone().unwrap_or_default();
    match spec.concurrency_policy.as_deref() {
        Some("Forbid") if !running.is_empty() => {
            let note = "Not starting job because prior execution is running and concurrency policy is Forbid".into();
            event(ctx, cron_job, EventType::Normal, "JobAlreadyActive", note).await;
            return (requeue(cron_job), update, Ok(()));
        }
        Some("Replace") => {
            for reference in running {
                let job_name = reference.name.clone().unwrap_or_default();
                if !delete_job(
                    ctx,
                    cron_job,
                    &namespace,
                    &job_name,
                    reference.uid.as_deref(),
                )
                .await
                {
                    let error = Error::new(format!("could not replace job {namespace}/{job_name}"));
                    return (None, update, Err(error));
                }
                update = true;
            }
        }
        _ => {}
    }
    let api: Api<Job> = Api::namespaced(ctx.client.clone(), &namespace);
    let (created, adopted) = match api
        .create(&PostParams::default(), &job_for(cron_job, scheduled))
        .await
    {
        Ok(created) => (created, false),
        Err(error) if status_code(&error) == Some(409) => {
            // Made by an earlier pass whose status update was lost: take
            // it as this activation's Job; anything else is not ours.
            let uid = cron_job.metadata.uid.clone().unwrap_or_default();
            match api.get_opt(&job_name(cron_job, scheduled)).await {
                Ok(Some(existing)) if is_controlled_by(&existing.metadata, &uid) => {
                    (existing, true)
                }
                _ => return (None, update, Err(error.into())),
            }
        }
        Err(error) if describe(&error).contains("being terminated") => {
            return (None, update, Ok(()))
        }
        Err(error) => {
            let note = format!("Error creating job: {}", describe(&error));
            event(ctx, cron_job, EventType::Warning, "FailedCreate", note).await;
            return (None, update, Err(error.into()));
        }
    };
    if !adopted {
        let note = format!("Created job {}", created.name_any());
        event(ctx, cron_job, EventType::Normal, "SuccessfulCreate", note).await;
    }
    let status = cron_job.status.get_or_insert_with(Default::default);
    let mut reference = created.object_ref(&());
    reference.api_version = Some("batch/v1".into());
    reference.kind = Some("Job".into());
    let active = status.active.get_or_insert_with(Vec::new);
    if finished(&created).is_none() && !active.iter().any(|r| r.uid == reference.uid) {
        active.push(reference);
    }
    status.last_schedule_time = Some(Time(scheduled));
    (requeue(cron_job), true, Ok(()))
}
