use super::*;

fn pod(spec: Value, status: Value) -> Value {
    json!({
        "metadata": {"name": "web", "namespace": "default", "creationTimestamp": ago(300)},
        "spec": spec,
        "status": status,
    })
}

fn one_container() -> Value {
    json!({"containers": [{"name": "app", "image": "nginx"}]})
}

/// READY, STATUS, RESTARTS.
fn summary(object: Value) -> (String, String, String) {
    let cells = row("pods", object);
    let text = |i: usize| cells[i].as_str().unwrap().to_string();
    (text(1), text(2), text(3))
}

#[test]
fn running_pod() {
    let object = pod(
        one_container(),
        json!({
            "phase": "Running", "podIP": "10.42.0.5", "podIPs": [{"ip": "10.42.0.5"}],
            "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0,
                "state": {"running": {"startedAt": ago(200)}}}],
        }),
    );
    let mut object = object;
    object["spec"]["nodeName"] = json!("node-1");
    assert_eq!(
        row("pods", object),
        [
            json!("web"),
            json!("1/1"),
            json!("Running"),
            json!("0"),
            json!("5m"),
            json!("10.42.0.5"),
            json!("node-1"),
            json!("<none>"),
            json!("<none>"),
        ]
    );
}

#[test]
fn pending_pod_without_statuses() {
    let cells = row("pods", pod(one_container(), json!({"phase": "Pending"})));
    assert_eq!(cells[1], "0/1");
    assert_eq!(cells[2], "Pending");
    assert_eq!(cells[5], "<none>");
    assert_eq!(cells[6], "<none>");
}

#[test]
fn crash_loop_with_restarts_ago() {
    let object = pod(
        one_container(),
        json!({
            "phase": "Running",
            "containerStatuses": [{"name": "app", "ready": false, "restartCount": 5,
                "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(90)}},
                "state": {"waiting": {"reason": "CrashLoopBackOff"}}}],
        }),
    );
    assert_eq!(
        summary(object),
        (
            "0/1".into(),
            "CrashLoopBackOff".into(),
            "5 (90s ago)".into()
        )
    );
}

#[test]
fn completed_and_failed_containers() {
    let done = pod(
        one_container(),
        json!({"phase": "Succeeded", "containerStatuses": [{"name": "app", "ready": false,
            "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}),
    );
    assert_eq!(summary(done.clone()).1, "Completed");
    assert_eq!(
        row_conditions(resolve("pods").unwrap(), &done),
        [
            json!({"type": "Completed", "status": "True", "reason": "Succeeded",
            "message": "The pod has completed successfully."})
        ]
    );
    let killed = pod(
        one_container(),
        json!({"phase": "Failed", "containerStatuses": [{"name": "app",
            "state": {"terminated": {"exitCode": 137, "signal": 9}}}]}),
    );
    assert_eq!(summary(killed).1, "Signal:9");
    let exited = pod(
        one_container(),
        json!({"phase": "Failed", "containerStatuses": [{"name": "app",
            "state": {"terminated": {"exitCode": 2}}}]}),
    );
    assert_eq!(summary(exited).1, "ExitCode:2");
}

#[test]
fn init_containers() {
    let spec = json!({
        "initContainers": [{"name": "a", "image": "x"}, {"name": "b", "image": "x"}],
        "containers": [{"name": "app", "image": "nginx"}],
    });
    let waiting = pod(
        spec.clone(),
        json!({"phase": "Pending", "initContainerStatuses": [
            {"name": "a", "state": {"terminated": {"exitCode": 0}}},
            {"name": "b", "state": {"running": {}}},
        ], "containerStatuses": [{"name": "app", "state": {"waiting": {"reason": "PodInitializing"}}}]}),
    );
    assert_eq!(
        summary(waiting),
        ("0/1".into(), "Init:1/2".into(), "0".into())
    );
    let crashing = pod(
        spec.clone(),
        json!({"phase": "Pending", "initContainerStatuses": [
            {"name": "a", "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}}},
        ]}),
    );
    assert_eq!(
        summary(crashing),
        ("0/1".into(), "Init:CrashLoopBackOff".into(), "3".into())
    );
    let failed = pod(
        spec,
        json!({"phase": "Failed", "initContainerStatuses": [
            {"name": "a", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}},
        ]}),
    );
    assert_eq!(summary(failed).1, "Init:Error");
}

#[test]
fn sidecars_count_as_containers() {
    let spec = json!({
        "initContainers": [{"name": "proxy", "image": "x", "restartPolicy": "Always"}],
        "containers": [{"name": "app", "image": "nginx"}],
    });
    let object = pod(
        spec,
        json!({"phase": "Running",
            "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
            "initContainerStatuses": [{"name": "proxy", "started": true, "ready": true, "restartCount": 1,
                "state": {"running": {}}}],
            "containerStatuses": [{"name": "app", "ready": true, "state": {"running": {}}}]}),
    );
    assert_eq!(
        summary(object),
        ("2/2".into(), "Running".into(), "1".into())
    );
}

#[test]
fn completed_main_container_with_running_sidecar() {
    let spec = json!({"containers": [{"name": "a"}, {"name": "b"}]});
    let status = |ready: &str| {
        json!({"phase": "Running", "conditions": [{"type": "Ready", "status": ready}],
        "containerStatuses": [
            {"name": "a", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
            {"name": "b", "ready": true, "state": {"running": {}}},
        ]})
    };
    // Statuses are read last to first, so `a`'s reason wins, then is fixed.
    assert_eq!(summary(pod(spec.clone(), status("True"))).1, "Running");
    assert_eq!(summary(pod(spec, status("False"))).1, "NotReady");
}

#[test]
fn terminating_and_unknown() {
    let mut object = pod(one_container(), json!({"phase": "Running"}));
    object["metadata"]["deletionTimestamp"] = json!(ago(1));
    assert_eq!(summary(object.clone()).1, "Terminating");
    object["status"]["reason"] = json!("NodeLost");
    assert_eq!(summary(object.clone()).1, "Unknown");
    object["status"] = json!({"phase": "Succeeded"});
    assert_eq!(summary(object).1, "Succeeded");
}

#[test]
fn scheduling_gated_and_readiness_gates() {
    let mut object = pod(
        one_container(),
        json!({"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"},
            {"type": "example.com/lb", "status": "True"},
        ]}),
    );
    object["spec"]["readinessGates"] =
        json!([{"conditionType": "example.com/lb"}, {"conditionType": "other"}]);
    let cells = row("pods", object);
    assert_eq!(cells[2], "SchedulingGated");
    assert_eq!(cells[8], "1/2");
}

#[test]
fn pod_ip_falls_back_to_the_singular_field() {
    let cells = row("pods", pod(one_container(), json!({"podIP": "fd00::1"})));
    assert_eq!(cells[5], "fd00::1");
}
