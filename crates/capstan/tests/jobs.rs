//! Jobs and CronJobs on hollow nodes, driven with the real kubectl: pods
//! run to completion, failures hit the backoff limit or the failure
//! policy, Indexed Jobs get their indexes, per-index back-off limits and
//! success policies, deadlines, suspension and TTLs act, and CronJobs fire
//! with upstream's job names and history limits.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::{wait_for, TestServer};

fn server() -> TestServer {
    TestServer::start_with(&["--sim-nodes", "3"])
}

/// A Job manifest whose pods exit after `exit_after` with `exit_code`
/// (never, with `None`).
fn job_yaml(name: &str, spec: &str, exit_after: Option<&str>, exit_code: &str) -> String {
    let annotations = match exit_after {
        Some(after) => format!(
            "      annotations:\n        sim.capstan.dev/exit-after: \"{after}\"\n        sim.capstan.dev/exit-code: \"{exit_code}\"\n"
        ),
        None => String::new(),
    };
    format!(
        "apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
spec:
{spec}
  template:
    metadata:
{annotations}    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: busybox
"
    )
}

/// An Indexed Job manifest with these pod annotations (`sim.capstan.dev/...`).
fn indexed_yaml(name: &str, spec: &str, annotations: &[(&str, &str)]) -> String {
    let annotations: String = annotations
        .iter()
        .map(|(k, v)| format!("        sim.capstan.dev/{k}: \"{v}\"\n"))
        .collect();
    format!(
        "apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
spec:
  completionMode: Indexed
{spec}
  template:
    metadata:
      annotations:
{annotations}    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: busybox
"
    )
}

fn index_of(pod: &Value) -> String {
    pod["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn job(server: &TestServer, name: &str) -> Option<Value> {
    server.get_json(&["get", "job", name])
}

fn condition<'a>(job: &'a Value, type_: &str) -> Option<&'a Value> {
    job["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_ && c["status"] == "True")
}

fn wait_condition(server: &TestServer, name: &str, type_: &str, timeout: Duration) -> Value {
    wait_for(&format!("job {name} to be {type_}"), timeout, || {
        let job = job(server, name)?;
        condition(&job, type_).cloned()
    })
}

fn job_pods(server: &TestServer, name: &str) -> Vec<Value> {
    let selector = format!("batch.kubernetes.io/job-name={name}");
    server
        .get_json(&["get", "pods", "-l", &selector])
        .and_then(|list| list["items"].as_array().cloned())
        .unwrap_or_default()
}

/// Whether a pod is no longer running or is on its way out.
fn stopped_or_stopping(pod: &Value) -> bool {
    pod["status"]["phase"] != "Running" || !pod["metadata"]["deletionTimestamp"].is_null()
}

/// Waits until none of the Job's pods runs on, as after the Job ended.
fn wait_pods_stopped(server: &TestServer, name: &str) {
    wait_for(
        &format!("the pods of {name} to be stopped"),
        Duration::from_secs(30),
        || {
            job_pods(server, name)
                .iter()
                .all(stopped_or_stopping)
                .then_some(())
        },
    );
}

fn events_for(server: &TestServer, name: &str) -> String {
    server.ok(&[
        "get",
        "events",
        "--field-selector",
        &format!("involvedObject.name={name}"),
    ])
}

#[test]
fn job_with_completions_and_parallelism_completes() {
    let server = server();
    let spec = "  completions: 5\n  parallelism: 2";
    server.ok_stdin(
        &["apply", "-f", "-"],
        &job_yaml("five", spec, Some("1s"), "0"),
    );

    // Never more than `parallelism` pods run at once.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut most_active = 0;
    loop {
        let running = job_pods(&server, "five")
            .iter()
            .filter(|p| !matches!(p["status"]["phase"].as_str(), Some("Succeeded" | "Failed")))
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .count();
        most_active = most_active.max(running);
        let status = job(&server, "five")
            .map(|j| j["status"].clone())
            .unwrap_or_default();
        if status["succeeded"] == 5 {
            break;
        }
        assert!(Instant::now() < deadline, "job did not complete: {status}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(most_active <= 2, "{most_active} pods ran at once");
    server.ok(&[
        "wait",
        "--for=condition=complete",
        "job/five",
        "--timeout=60s",
    ]);

    let done = job(&server, "five").unwrap();
    let status = &done["status"];
    assert_eq!(status["succeeded"], 5);
    assert_eq!(status["active"].as_i64().unwrap_or(0), 0);
    assert!(status["startTime"].is_string() && status["completionTime"].is_string());
    let complete = condition(&done, "Complete").unwrap();
    assert_eq!(complete["reason"], "CompletionsReached");
    assert!(condition(&done, "SuccessCriteriaMet").is_some());

    // The pods carry upstream's labels and, once counted, no finalizer.
    let uid = done["metadata"]["uid"].as_str().unwrap().to_string();
    let pods = wait_for("finalizers to be removed", Duration::from_secs(20), || {
        let pods = job_pods(&server, "five");
        let released = pods.iter().all(|p| {
            p["metadata"]["finalizers"]
                .as_array()
                .is_none_or(|f| f.is_empty())
        });
        (released && pods.len() == 5).then_some(pods)
    });
    for pod in &pods {
        let labels = &pod["metadata"]["labels"];
        assert_eq!(labels["batch.kubernetes.io/job-name"], "five");
        assert_eq!(labels["job-name"], "five");
        assert_eq!(labels["batch.kubernetes.io/controller-uid"], uid.as_str());
        assert_eq!(labels["controller-uid"], uid.as_str());
        assert!(pod["metadata"]["name"]
            .as_str()
            .unwrap()
            .starts_with("five-"));
    }
    let events = events_for(&server, "five");
    assert!(
        events.contains("SuccessfulCreate") && events.contains("Completed"),
        "{events}"
    );
    let listed = server.ok(&["get", "jobs"]);
    assert!(
        listed.contains("Complete") && listed.contains("5/5"),
        "{listed}"
    );
}

#[test]
fn failing_pods_hit_the_backoff_limit_or_the_failure_policy() {
    let server = server();
    // backoffLimit 1: a first failure, a back-off of about ten seconds,
    // a second failure, and the Job fails.
    let spec = "  backoffLimit: 1";
    server.ok_stdin(
        &["apply", "-f", "-"],
        &job_yaml("fails", spec, Some("1s"), "1"),
    );
    // A FailJob rule ends its Job at the first failure with that code.
    let policy = "  backoffLimit: 6
  podFailurePolicy:
    rules:
    - action: FailJob
      onExitCodes:
        operator: In
        values: [42]";
    server.ok_stdin(
        &["apply", "-f", "-"],
        &job_yaml("fatal", policy, Some("1s"), "42"),
    );
    // A rule must say what it matches, with codes in order.
    let refused = server.fails_stdin(
        &["apply", "-f", "-"],
        &job_yaml(
            "muddled",
            "  podFailurePolicy:\n    rules:\n    - action: FailJob\n    - action: Count\n      onExitCodes: {operator: NotIn, values: [3, 1]}",
            None,
            "0",
        ),
    );
    assert!(
        refused.contains("spec.podFailurePolicy.rules[0]: Invalid value: specifying one of OnExitCodes and OnPodConditions is required")
            && refused.contains("spec.podFailurePolicy.rules[1].onExitCodes.values: Invalid value: []int32{3, 1}: must be ordered"),
        "{refused}"
    );

    let failed = wait_condition(&server, "fails", "Failed", Duration::from_secs(60));
    assert_eq!(failed["reason"], "BackoffLimitExceeded");
    assert_eq!(
        failed["message"],
        "Job has reached the specified backoff limit"
    );
    let job_now = job(&server, "fails").unwrap();
    assert_eq!(job_now["status"]["failed"], 2);
    assert!(condition(&job_now, "FailureTarget").is_some());
    let mut created: Vec<String> = job_pods(&server, "fails")
        .iter()
        .map(|p| {
            p["metadata"]["creationTimestamp"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    created.sort();
    assert_eq!(created.len(), 2, "one pod and one replacement");
    let first: jiff::Timestamp = created[0].parse().unwrap();
    let second: jiff::Timestamp = created[1].parse().unwrap();
    assert!(
        second.duration_since(first).as_secs() >= 9,
        "replacement came after {created:?}"
    );
    let events = events_for(&server, "fails");
    assert!(events.contains("BackoffLimitExceeded"), "{events}");

    let fatal = wait_condition(&server, "fatal", "Failed", Duration::from_secs(30));
    assert_eq!(fatal["reason"], "PodFailurePolicy");
    let message = fatal["message"].as_str().unwrap();
    assert!(
        message.starts_with("Container main for pod default/fatal-"),
        "{message}"
    );
    assert!(
        message.ends_with("failed with exit code 42 matching FailJob rule at index 0"),
        "{message}"
    );
}

#[test]
fn indexed_job_runs_every_index_once() {
    let server = server();
    let spec = "  completions: 3\n  parallelism: 3\n  completionMode: Indexed";
    server.ok_stdin(
        &["apply", "-f", "-"],
        &job_yaml("idx", spec, Some("1s"), "0"),
    );
    wait_condition(&server, "idx", "Complete", Duration::from_secs(60));
    let done = job(&server, "idx").unwrap();
    assert_eq!(done["status"]["completedIndexes"], "0-2");
    assert_eq!(done["status"]["succeeded"], 3);
    let mut indexes: Vec<String> = Vec::new();
    for pod in job_pods(&server, "idx") {
        let index = pod["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            pod["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"],
            index.as_str()
        );
        let name = pod["metadata"]["name"].as_str().unwrap();
        assert!(name.starts_with(&format!("idx-{index}-")), "{name}");
        assert_eq!(pod["spec"]["hostname"], format!("idx-{index}"));
        let env = &pod["spec"]["containers"][0]["env"][0];
        assert_eq!(env["name"], "JOB_COMPLETION_INDEX");
        indexes.push(index);
    }
    indexes.sort();
    assert_eq!(indexes, ["0", "1", "2"]);
}

#[test]
fn backoff_limit_per_index_fails_only_the_failing_index() {
    let server = server();
    // The per-index fields are for Indexed Jobs only.
    let refused = server.fails_stdin(
        &["apply", "-f", "-"],
        &job_yaml("plain", "  backoffLimitPerIndex: 1", Some("1s"), "0"),
    );
    assert!(
        refused.contains(
            "spec.backoffLimitPerIndex: Invalid value: 1: requires indexed completion mode"
        ),
        "{refused}"
    );

    // Index 1 always fails: it gets one retry after the back-off, then is
    // given up while the other indexes complete.
    let spec = "  completions: 4\n  parallelism: 4\n  backoffLimitPerIndex: 1";
    let annotations = [("exit-after", "1s"), ("fail-indexes", "1")];
    server.ok_stdin(
        &["apply", "-f", "-"],
        &indexed_yaml("per-index", spec, &annotations),
    );
    // Index 1 fails at once and nothing else ends: with maxFailedIndexes 0
    // the Job fails and its running pods are stopped.
    let spec =
        "  completions: 4\n  parallelism: 4\n  backoffLimitPerIndex: 0\n  maxFailedIndexes: 0";
    let annotations = [
        ("exit-after", "1s"),
        ("fail-indexes", "1"),
        ("exit-indexes", "1"),
    ];
    server.ok_stdin(
        &["apply", "-f", "-"],
        &indexed_yaml("max-failed", spec, &annotations),
    );

    let failed = wait_condition(&server, "max-failed", "Failed", Duration::from_secs(60));
    assert_eq!(failed["reason"], "MaxFailedIndexesExceeded");
    assert_eq!(
        failed["message"],
        "Job has exceeded the specified maximal number of failed indexes"
    );
    let done = job(&server, "max-failed").unwrap();
    assert_eq!(done["status"]["failedIndexes"], "1");
    // The pods stopped because the Job failed count as failed, as upstream.
    assert_eq!(done["status"]["failed"], 4);
    assert_eq!(done["status"]["active"].as_i64().unwrap_or(0), 0);
    assert!(condition(&done, "FailureTarget").is_some());
    wait_pods_stopped(&server, "max-failed");

    let failed = wait_condition(&server, "per-index", "Failed", Duration::from_secs(90));
    assert_eq!(failed["reason"], "FailedIndexes");
    assert_eq!(failed["message"], "Job has failed indexes");
    let done = job(&server, "per-index").unwrap();
    let status = &done["status"];
    assert_eq!(status["failedIndexes"], "1");
    assert_eq!(status["completedIndexes"], "0,2,3");
    assert_eq!(status["succeeded"], 3);
    assert_eq!(status["failed"], 2);
    // Each try of index 1 carries the failures of the index before it.
    let mut counts: Vec<String> = job_pods(&server, "per-index")
        .iter()
        .filter(|p| index_of(p) == "1")
        .map(|p| {
            p["metadata"]["annotations"]["batch.kubernetes.io/job-index-failure-count"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    counts.sort();
    assert_eq!(counts, ["0", "1"]);
    let events = events_for(&server, "per-index");
    assert!(events.contains("FailedIndexes"), "{events}");
}

#[test]
fn success_policy_completes_before_every_index_finishes() {
    let server = server();
    // Only index 0 ever ends; the others run until the Job stops them.
    let spec = "  completions: 4
  parallelism: 4
  successPolicy:
    rules:
    - succeededIndexes: \"0\"";
    let annotations = [("exit-after", "1s"), ("exit-indexes", "0")];
    server.ok_stdin(
        &["apply", "-f", "-"],
        &indexed_yaml("leader", spec, &annotations),
    );
    let complete = wait_condition(&server, "leader", "Complete", Duration::from_secs(60));
    assert_eq!(complete["reason"], "SuccessPolicy");
    assert_eq!(complete["message"], "Matched rules at index 0");
    let done = job(&server, "leader").unwrap();
    let met = condition(&done, "SuccessCriteriaMet").expect("SuccessCriteriaMet");
    assert_eq!(met["reason"], "SuccessPolicy");
    assert_eq!(met["message"], "Matched rules at index 0");
    let status = &done["status"];
    // Hollow containers stopped by the Job exit with code 0, so a stopped
    // pod may still count as succeeded; index 0 is what met the policy.
    let completed = status["completedIndexes"].as_str().unwrap_or_default();
    assert!(
        completed
            .split(',')
            .any(|i| i == "0" || i.starts_with("0-")),
        "{completed}"
    );
    assert!(status["succeeded"].as_i64().unwrap_or(0) >= 1, "{status}");
    assert_eq!(status["active"].as_i64().unwrap_or(0), 0);
    assert!(status["completionTime"].is_string());
    let pods = job_pods(&server, "leader");
    assert!(pods.iter().all(stopped_or_stopping), "{pods:?}");

    // A success policy needs an Indexed Job.
    let refused = server.fails_stdin(
        &["apply", "-f", "-"],
        &job_yaml(
            "plain",
            "  successPolicy:\n    rules:\n    - succeededCount: 1",
            Some("1s"),
            "0",
        ),
    );
    assert!(
        refused.contains("spec.successPolicy: Invalid value:")
            && refused.contains("requires indexed completion mode"),
        "{refused}"
    );
}

#[test]
fn deadline_suspension_and_ttl() {
    let server = server();
    // Pods that never end: the deadline fails the Job and stops them.
    let spec = "  activeDeadlineSeconds: 3";
    server.ok_stdin(&["apply", "-f", "-"], &job_yaml("slow", spec, None, "0"));
    // Created suspended: no pods until resumed.
    let spec = "  suspend: true\n  completions: 2\n  parallelism: 2";
    server.ok_stdin(
        &["apply", "-f", "-"],
        &job_yaml("paused", spec, Some("1s"), "0"),
    );
    // Deleted two seconds after it completes.
    let spec = "  ttlSecondsAfterFinished: 2";
    server.ok_stdin(
        &["apply", "-f", "-"],
        &job_yaml("brief", spec, Some("1s"), "0"),
    );

    let suspended = wait_condition(&server, "paused", "Suspended", Duration::from_secs(20));
    assert_eq!(suspended["reason"], "JobSuspended");
    let paused = job(&server, "paused").unwrap();
    assert!(paused["status"]["startTime"].is_null());
    assert!(job_pods(&server, "paused").is_empty());

    let failed = wait_condition(&server, "slow", "Failed", Duration::from_secs(60));
    assert_eq!(failed["reason"], "DeadlineExceeded");
    assert_eq!(
        failed["message"],
        "Job was active longer than specified deadline"
    );
    wait_pods_stopped(&server, "slow");

    server.ok(&[
        "patch",
        "job",
        "paused",
        "--type=merge",
        "-p",
        r#"{"spec":{"suspend":false}}"#,
    ]);
    wait_condition(&server, "paused", "Complete", Duration::from_secs(60));
    let resumed = job(&server, "paused").unwrap();
    let conditions = resumed["status"]["conditions"].as_array().unwrap();
    let suspended = conditions
        .iter()
        .find(|c| c["type"] == "Suspended")
        .unwrap();
    assert_eq!(suspended["status"], "False");
    assert_eq!(suspended["reason"], "JobResumed");
    let events = events_for(&server, "paused");
    assert!(
        events.contains("Suspended") && events.contains("Resumed"),
        "{events}"
    );

    wait_for(
        "the finished job to be deleted by its TTL",
        Duration::from_secs(60),
        || job(&server, "brief").is_none().then_some(()),
    );
}

#[test]
fn cronjob_fires_and_trims_its_history() {
    let server = server();
    let cron = |name: &str, schedule: &str| {
        format!(
            "apiVersion: batch/v1
kind: CronJob
metadata:
  name: {name}
spec:
  schedule: \"{schedule}\"
  successfulJobsHistoryLimit: 1
  jobTemplate:
    spec:
      template:
        metadata:
          annotations:
            sim.capstan.dev/exit-after: \"1s\"
        spec:
          restartPolicy: Never
          containers:
          - name: main
            image: busybox
"
        )
    };
    server.ok_stdin(&["apply", "-f", "-"], &cron("tick", "* * * * *"));
    // Never due soon: its Jobs come from `kubectl create job --from`.
    server.ok_stdin(&["apply", "-f", "-"], &cron("manual", "0 0 1 1 *"));
    for name in ["manual-a", "manual-b", "manual-c"] {
        server.ok(&["create", "job", name, "--from=cronjob/manual"]);
        wait_condition(&server, name, "Complete", Duration::from_secs(60));
    }
    // Only the newest finished Job is kept.
    wait_for(
        "history to be trimmed to one job",
        Duration::from_secs(30),
        || {
            let jobs = server.get_json(&["get", "jobs"])?;
            let names: Vec<String> = jobs["items"]
                .as_array()?
                .iter()
                .filter_map(|j| j["metadata"]["name"].as_str().map(String::from))
                .filter(|n| n.starts_with("manual-"))
                .collect();
            (names == ["manual-c"]).then_some(())
        },
    );
    let events = events_for(&server, "manual");
    assert!(events.contains("SuccessfulDelete"), "{events}");

    // The every-minute CronJob fires within a minute and a bit.
    let fired = wait_for("the cronjob to fire", Duration::from_secs(75), || {
        let jobs = server.get_json(&["get", "jobs"])?;
        jobs["items"]
            .as_array()?
            .iter()
            .find(|j| {
                j["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("tick-"))
            })
            .cloned()
    });
    let name = fired["metadata"]["name"].as_str().unwrap().to_string();
    let minutes: i64 = name
        .trim_start_matches("tick-")
        .parse()
        .expect("minutes since the epoch");
    let now_minutes = jiff::Timestamp::now().as_second() / 60;
    assert!((now_minutes - 2..=now_minutes).contains(&minutes), "{name}");
    let scheduled = fired["metadata"]["annotations"]
        ["batch.kubernetes.io/cronjob-scheduled-timestamp"]
        .as_str()
        .unwrap();
    let at: jiff::Timestamp = scheduled.parse().unwrap();
    assert_eq!(at.as_second(), minutes * 60);
    assert_eq!(fired["metadata"]["ownerReferences"][0]["kind"], "CronJob");

    wait_for(
        "the cronjob to see its job complete",
        Duration::from_secs(60),
        || {
            let cj = server.get_json(&["get", "cronjob", "tick"])?;
            let status = &cj["status"];
            let idle = status["active"].as_array().is_none_or(|a| a.is_empty());
            (idle
                && status["lastSuccessfulTime"].is_string()
                && status["lastScheduleTime"].is_string())
            .then_some(())
        },
    );
    let events = events_for(&server, "tick");
    assert!(
        events.contains("SuccessfulCreate") && events.contains("SawCompletedJob"),
        "{events}"
    );
}
