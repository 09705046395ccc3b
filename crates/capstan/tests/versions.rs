//! Resources served in two versions over one storage read back in the
//! version asked for, whichever version wrote them.

mod support;

use support::TestServer;

const HPA_V1: &str = "
apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata:
  name: web
spec:
  minReplicas: 1
  maxReplicas: 5
  targetCPUUtilizationPercentage: 70
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: web
";

const EVENT_V1: &str = "
apiVersion: events.k8s.io/v1
kind: Event
metadata:
  name: web.started
eventTime: 2026-01-02T03:04:05.000000Z
reportingController: capstan.dev/test
reportingInstance: test-1
action: Started
reason: Started
type: Normal
note: Started the web container
regarding:
  apiVersion: v1
  kind: Pod
  name: web
  namespace: default
";

#[test]
fn autoscalers_written_as_v1_read_as_v2_and_back() {
    let server = TestServer::start();
    server.ok_stdin(&["apply", "-f", "-"], HPA_V1);
    // kubectl reads the preferred version, autoscaling/v2.
    let target = server.ok(&[
        "get",
        "hpa",
        "web",
        "-o",
        "jsonpath={.apiVersion} {.spec.metrics[0].resource.target.averageUtilization}",
    ]);
    assert_eq!(target, "autoscaling/v2 70");
    let v1 = server.ok(&[
        "get",
        "horizontalpodautoscalers.v1.autoscaling",
        "web",
        "-o",
        "jsonpath={.apiVersion} {.spec.targetCPUUtilizationPercentage}",
    ]);
    assert_eq!(v1, "autoscaling/v1 70");
    let table = server.ok(&["get", "hpa", "web"]);
    assert!(table.contains("cpu: <unknown>/70%"), "{table}");
}

#[test]
fn events_written_as_events_k8s_io_read_as_core_v1() {
    let server = TestServer::start();
    server.ok_stdin(&["apply", "-f", "-"], EVENT_V1);
    let core = server.ok(&[
        "get",
        "events.v1.",
        "web.started",
        "-o",
        "jsonpath={.involvedObject.name} {.message} {.reportingComponent}",
    ]);
    assert_eq!(core, "web Started the web container capstan.dev/test");
    let listed = server.ok(&["get", "events"]);
    assert!(
        listed.contains("pod/web") && listed.contains("Started the web container"),
        "{listed}"
    );
}
