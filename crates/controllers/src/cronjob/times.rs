//! When a CronJob should have started a Job, as upstream's
//! mostRecentScheduleTime and nextScheduleTimeDuration compute it, and the
//! Job it starts (getJobFromTemplate2).

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;

use super::schedule::Schedule;
use crate::pods::controller_ref;

/// The annotation with the time a Job was scheduled for.
pub const SCHEDULED_TIMESTAMP: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// Padding after an activation before looking again, for clock skew.
const NEXT_SCHEDULE_DELTA: Duration = Duration::from_millis(100);

#[derive(Debug, PartialEq, Eq)]
pub enum Missed {
    None,
    Few,
    /// More than 100: upstream warns with TooManyMissedTimes.
    Many,
}

fn creation(cron_job: &CronJob) -> Timestamp {
    cron_job
        .metadata
        .creation_timestamp
        .as_ref()
        .map_or_else(Timestamp::now, |t| t.0)
}

fn last_schedule(cron_job: &CronJob) -> Option<Timestamp> {
    cron_job
        .status
        .as_ref()?
        .last_schedule_time
        .as_ref()
        .map(|t| t.0)
}

/// The earliest time considered, the most recent activation not after
/// `now` (if any), and how many were missed.
pub fn most_recent(
    cron_job: &CronJob,
    now: Timestamp,
    schedule: &Schedule,
    with_starting_deadline: bool,
) -> Result<(Timestamp, Option<Timestamp>, Missed), String> {
    let mut earliest = last_schedule(cron_job).unwrap_or_else(|| creation(cron_job));
    let deadline = cron_job
        .spec
        .as_ref()
        .and_then(|s| s.starting_deadline_seconds);
    if let (true, Some(seconds)) = (with_starting_deadline, deadline) {
        if let Ok(limit) = now.checked_sub(SignedDuration::from_secs(seconds)) {
            earliest = earliest.max(limit);
        }
    }
    let (Some(t1), Some(t2)) = (
        schedule.next(earliest),
        schedule.next(earliest).and_then(|t| schedule.next(t)),
    ) else {
        return Ok((earliest, None, Missed::None));
    };
    if now < t1 {
        return Ok((earliest, None, Missed::None));
    }
    if now < t2 {
        return Ok((earliest, Some(t1), Missed::None));
    }
    let between = t2.duration_since(t1).as_secs();
    if between < 1 {
        return Err("time difference between two schedules is less than 1 second".into());
    }
    let elapsed = now.duration_since(t1).as_secs();
    let missed = elapsed / between + 1;
    // Jump close to now, then let the schedule find the exact activation.
    let potential = t1
        .checked_add(SignedDuration::from_secs((missed - 2) * between))
        .unwrap_or(t1);
    let mut most_recent = None;
    let mut t = schedule.next(potential);
    while let Some(at) = t.filter(|at| *at <= now) {
        most_recent = Some(at);
        t = schedule.next(at);
    }
    let kind = if missed > 100 {
        Missed::Many
    } else {
        Missed::Few
    };
    Ok((earliest, most_recent, kind))
}

/// How long until the next activation after the last one handled.
pub fn next_requeue(cron_job: &CronJob, now: Timestamp, schedule: &Schedule) -> Option<Duration> {
    let base = match most_recent(cron_job, now, schedule, false) {
        Err(_) => now,
        Ok((_, Some(recent), _)) => recent,
        Ok((earliest, None, Missed::None)) => earliest,
        Ok((_, None, _)) => now,
    };
    let next = schedule.next(base)?;
    let wait = Duration::try_from(next.duration_since(now)).unwrap_or(Duration::ZERO);
    Some(wait + NEXT_SCHEDULE_DELTA)
}

/// `<cronjob>-<scheduled time in minutes since the epoch>`.
pub fn job_name(cron_job: &CronJob, scheduled: Timestamp) -> String {
    format!(
        "{}-{}",
        cron_job.name_any(),
        scheduled.as_second().div_euclid(60)
    )
}

/// Go's RFC 3339 form: `Z` for UTC, else the offset.
fn rfc3339(at: &jiff::Zoned) -> String {
    if at.offset().seconds() == 0 {
        at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        at.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
    }
}

/// The Job for an activation: the template's labels, annotations and spec,
/// the scheduled-timestamp annotation (in the CronJob's time zone, UTC
/// without one) and a controller reference.
pub fn job_for(cron_job: &CronJob, scheduled: Timestamp) -> Job {
    let template = cron_job
        .spec
        .as_ref()
        .map(|s| s.job_template.clone())
        .unwrap_or_default();
    let meta = template.metadata.unwrap_or_default();
    let zone = cron_job
        .spec
        .as_ref()
        .and_then(|s| s.time_zone.as_deref())
        .and_then(|name| jiff::tz::TimeZone::get(name).ok())
        .unwrap_or(jiff::tz::TimeZone::UTC);
    let mut annotations = meta.annotations.unwrap_or_default();
    annotations.insert(
        SCHEDULED_TIMESTAMP.into(),
        rfc3339(&scheduled.to_zoned(zone)),
    );
    Job {
        metadata: ObjectMeta {
            name: Some(job_name(cron_job, scheduled)),
            namespace: cron_job.namespace(),
            labels: meta.labels,
            annotations: Some(annotations),
            owner_references: Some(vec![controller_ref(cron_job)]),
            ..ObjectMeta::default()
        },
        spec: template.spec,
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::tz::TimeZone;
    use k8s_openapi::api::batch::v1::{CronJobSpec, CronJobStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn cron_job(created: &str, last: Option<&str>, deadline: Option<i64>) -> CronJob {
        CronJob {
            metadata: ObjectMeta {
                name: Some("hello".into()),
                namespace: Some("default".into()),
                uid: Some("u".into()),
                creation_timestamp: Some(Time(ts(created))),
                ..Default::default()
            },
            spec: Some(CronJobSpec {
                schedule: "* * * * *".into(),
                starting_deadline_seconds: deadline,
                ..Default::default()
            }),
            status: Some(CronJobStatus {
                last_schedule_time: last.map(|l| Time(ts(l))),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn finds_the_activation_to_run() {
        let every_minute = Schedule::parse("* * * * *", TimeZone::UTC).unwrap();
        let fresh = cron_job("2024-03-01T10:00:30Z", None, None);
        let (_, recent, missed) =
            most_recent(&fresh, ts("2024-03-01T10:00:50Z"), &every_minute, true).unwrap();
        assert_eq!((recent, missed), (None, Missed::None));
        let (_, recent, _) =
            most_recent(&fresh, ts("2024-03-01T10:01:00.1Z"), &every_minute, true).unwrap();
        assert_eq!(recent, Some(ts("2024-03-01T10:01:00Z")));
        let (_, recent, missed) =
            most_recent(&fresh, ts("2024-03-01T10:05:10Z"), &every_minute, true).unwrap();
        assert_eq!(
            (recent, missed),
            (Some(ts("2024-03-01T10:05:00Z")), Missed::Few)
        );
        let (_, _, missed) =
            most_recent(&fresh, ts("2024-03-01T13:00:10Z"), &every_minute, true).unwrap();
        assert_eq!(missed, Missed::Many);
        // A starting deadline keeps old misses out of the count.
        let bounded = cron_job("2024-03-01T10:00:30Z", None, Some(30));
        let (_, recent, missed) =
            most_recent(&bounded, ts("2024-03-01T13:00:10Z"), &every_minute, true).unwrap();
        assert_eq!(
            (recent, missed),
            (Some(ts("2024-03-01T13:00:00Z")), Missed::None)
        );
    }

    #[test]
    fn requeues_just_after_the_next_activation() {
        let hourly = Schedule::parse("@hourly", TimeZone::UTC).unwrap();
        let ran = cron_job("2024-03-01T09:10:00Z", Some("2024-03-01T10:00:00Z"), None);
        let wait = next_requeue(&ran, ts("2024-03-01T10:20:00Z"), &hourly).unwrap();
        assert_eq!(wait, Duration::from_secs(40 * 60) + NEXT_SCHEDULE_DELTA);
    }

    #[test]
    fn jobs_are_named_by_minute_and_annotated_in_the_zone() {
        let mut cj = cron_job("2024-03-01T09:10:00Z", None, None);
        let at = ts("2024-03-01T10:00:00Z");
        let job = job_for(&cj, at);
        assert_eq!(job.metadata.name.as_deref(), Some("hello-28488120"));
        assert_eq!(
            job.annotations()[SCHEDULED_TIMESTAMP],
            "2024-03-01T10:00:00Z"
        );
        assert_eq!(job.owner_references()[0].kind, "CronJob");
        cj.spec.as_mut().unwrap().time_zone = Some("Europe/Berlin".into());
        assert_eq!(
            job_for(&cj, at).annotations()[SCHEDULED_TIMESTAMP],
            "2024-03-01T11:00:00+01:00"
        );
    }
}
