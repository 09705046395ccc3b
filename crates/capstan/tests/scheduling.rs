//! The scheduler end to end: Node objects and pods made with kubectl
//! against `capstan server`, checking where pods land and how a pod that
//! fits nowhere explains itself.

mod support;

use std::time::{Duration, Instant};

use support::TestServer;

const WAIT: Duration = Duration::from_secs(20);

/// A Node object with allocatable resources, labels and taints.
fn node(server: &TestServer, name: &str, cpu: &str, labels: &[(&str, &str)], taints: &str) {
    let mut label_lines = format!("    kubernetes.io/hostname: {name}\n");
    for (key, value) in labels {
        label_lines.push_str(&format!("    {key}: \"{value}\"\n"));
    }
    let manifest = format!(
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  labels:\n{label_lines}\
         spec:\n  taints: [{taints}]\n\
         status:\n  allocatable: {{cpu: \"{cpu}\", memory: 16Gi, pods: \"110\"}}\n  \
         capacity: {{cpu: \"{cpu}\", memory: 16Gi, pods: \"110\"}}\n"
    );
    server.ok_stdin(&["create", "-f", "-"], &manifest);
}

/// A pod with one container requesting `cpu`, plus extra spec lines.
fn pod_manifest(name: &str, cpu: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels: {{app: {name}}}\nspec:\n\
         {extra_spec}  terminationGracePeriodSeconds: 0\n  containers:\n  - name: c\n    image: nginx\n    \
         resources: {{requests: {{cpu: \"{cpu}\"}}}}\n"
    )
}

fn create_pod(server: &TestServer, name: &str, cpu: &str, extra_spec: &str) {
    server.ok_stdin(&["create", "-f", "-"], &pod_manifest(name, cpu, extra_spec));
}

fn jsonpath(server: &TestServer, kind_name: &str, path: &str) -> String {
    server.ok(&["get", kind_name, "-o", &format!("jsonpath={path}")])
}

/// Polls until `check` returns Some, or fails after `WAIT`.
fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The node a pod gets bound to.
fn bound_node(server: &TestServer, pod: &str) -> String {
    wait_for(&format!("pod {pod} to be bound"), || {
        let node = jsonpath(server, &format!("pod/{pod}"), "{.spec.nodeName}");
        (!node.is_empty()).then_some(node)
    })
}

#[test]
fn pods_land_by_node_selector_taints_and_resources() {
    let server = TestServer::start();
    node(&server, "small", "1", &[], "");
    node(&server, "big", "8", &[("disk", "ssd")], "");
    node(
        &server,
        "gpu",
        "8",
        &[("accelerator", "gpu")],
        "{key: dedicated, value: gpu, effect: NoSchedule}",
    );

    create_pod(
        &server,
        "wants-ssd",
        "100m",
        "  nodeSelector: {disk: ssd}\n",
    );
    create_pod(&server, "needs-cpu", "4", "");
    create_pod(
        &server,
        "on-gpu",
        "100m",
        "  nodeSelector: {accelerator: gpu}\n  tolerations:\n  \
         - {key: dedicated, operator: Equal, value: gpu, effect: NoSchedule}\n",
    );
    create_pod(
        &server,
        "elsewhere",
        "100m",
        "  schedulerName: other-scheduler\n",
    );

    assert_eq!(bound_node(&server, "wants-ssd"), "big");
    // 4 cpu fits only on big (small has 1, gpu is tainted).
    assert_eq!(bound_node(&server, "needs-cpu"), "big");
    assert_eq!(bound_node(&server, "on-gpu"), "gpu");
    let scheduled = jsonpath(
        &server,
        "pod/on-gpu",
        "{.status.conditions[?(@.type==\"PodScheduled\")].status}",
    );
    assert_eq!(scheduled, "True");

    // Another scheduler's pod is left alone: no node, no condition, no event.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(jsonpath(&server, "pod/elsewhere", "{.spec.nodeName}"), "");
    assert_eq!(
        jsonpath(&server, "pod/elsewhere", "{.status.conditions}"),
        ""
    );
    let events = server.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=elsewhere",
        "-o",
        "name",
    ]);
    assert_eq!(events.trim(), "");

    let described = server.ok(&["describe", "pod", "on-gpu"]);
    assert!(
        described.contains("Successfully assigned default/on-gpu to gpu"),
        "{described}"
    );
    assert!(described.contains("default-scheduler"), "{described}");
}

#[test]
fn an_unschedulable_pod_explains_why_and_is_scheduled_once_a_node_fits() {
    let server = TestServer::start();
    node(&server, "small", "1", &[], "");
    node(
        &server,
        "tainted",
        "16",
        &[],
        "{key: dedicated, value: gpu, effect: NoSchedule}",
    );
    create_pod(&server, "hungry", "4", "");

    let expected = "0/2 nodes are available: 1 Insufficient cpu, \
                    1 node(s) had untolerated taint {dedicated: gpu}. \
                    preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, \
                    1 Preemption is not helpful for scheduling.";
    let message = wait_for("the PodScheduled condition", || {
        let message = jsonpath(
            &server,
            "pod/hungry",
            "{.status.conditions[?(@.type==\"PodScheduled\")].message}",
        );
        (!message.is_empty()).then_some(message)
    });
    assert_eq!(message, expected);
    let reason = jsonpath(
        &server,
        "pod/hungry",
        "{.status.conditions[?(@.type==\"PodScheduled\")].reason}",
    );
    assert_eq!(reason, "Unschedulable");
    assert_eq!(
        jsonpath(&server, "pod/hungry", "{.status.phase}"),
        "Pending"
    );

    let described = wait_for("the FailedScheduling event", || {
        let described = server.ok(&["describe", "pod", "hungry"]);
        described.contains("FailedScheduling").then_some(described)
    });
    assert!(described.contains("PodScheduled   False"), "{described}");
    let line = described
        .lines()
        .find(|l| l.contains("FailedScheduling"))
        .expect("an event line");
    assert!(line.contains("Warning"), "{line}");
    assert!(line.contains("default-scheduler"), "{line}");
    assert!(
        line.contains("0/2 nodes are available: 1 Insufficient cpu"),
        "{line}"
    );

    // A node where it fits: the pod is retried and placed there.
    node(&server, "large", "8", &[], "");
    assert_eq!(bound_node(&server, "hungry"), "large");
    let described = wait_for("the Scheduled event", || {
        let described = server.ok(&["describe", "pod", "hungry"]);
        described
            .contains("Successfully assigned default/hungry to large")
            .then_some(described)
    });
    assert!(described.contains("Normal   Scheduled"), "{described}");
}

#[test]
fn least_allocated_spreads_and_a_most_allocated_config_packs() {
    let spread = TestServer::start();
    node(&spread, "a", "4", &[], "");
    node(&spread, "b", "4", &[], "");
    for name in ["s1", "s2"] {
        create_pod(&spread, name, "1", "");
    }
    assert_ne!(bound_node(&spread, "s1"), bound_node(&spread, "s2"));

    let dir = tempfile::tempdir().expect("temporary dir");
    let config = dir.path().join("scheduler.yaml");
    std::fs::write(
        &config,
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n\
         profiles:\n- schedulerName: default-scheduler\n  pluginConfig:\n  \
         - name: NodeResourcesFit\n    args:\n      scoringStrategy:\n        type: MostAllocated\n",
    )
    .expect("write config");
    let config = config.to_str().expect("utf-8 path").to_string();
    let packed = TestServer::start_with(&["--scheduler-config", &config]);
    node(&packed, "a", "4", &[], "");
    node(&packed, "b", "4", &[], "");
    let manifests: Vec<String> = (1..=4)
        .map(|i| pod_manifest(&format!("p{i}"), "1", ""))
        .collect();
    packed.ok_stdin(&["create", "-f", "-"], &manifests.join("---\n"));
    let nodes: Vec<String> = (1..=4)
        .map(|i| bound_node(&packed, &format!("p{i}")))
        .collect();
    assert!(
        nodes.iter().all(|n| *n == nodes[0]),
        "packed onto one node: {nodes:?}"
    );
}

#[test]
fn required_anti_affinity_keeps_replicas_on_separate_nodes() {
    let server = TestServer::start();
    for name in ["n1", "n2", "n3"] {
        node(&server, name, "4", &[], "");
    }
    let anti = "  affinity:\n    podAntiAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n      \
                - labelSelector: {matchLabels: {tier: web}}\n        topologyKey: kubernetes.io/hostname\n";
    let manifests: Vec<String> = (1..=4)
        .map(|i| {
            pod_manifest(&format!("web-{i}"), "100m", anti)
                .replace("labels: {app:", "labels: {tier: web, app:")
        })
        .collect();
    server.ok_stdin(&["create", "-f", "-"], &manifests.join("---\n"));
    let message = wait_for("one replica to stay pending", || {
        (1..=4).find_map(|i| {
            let message = jsonpath(
                &server,
                &format!("pod/web-{i}"),
                "{.status.conditions[?(@.type==\"PodScheduled\")].message}",
            );
            message.starts_with("0/3").then_some(message)
        })
    });
    assert!(
        message.starts_with(
            "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules."
        ),
        "{message}"
    );
    let mut nodes: Vec<String> = (1..=4)
        .map(|i| jsonpath(&server, &format!("pod/web-{i}"), "{.spec.nodeName}"))
        .filter(|n| !n.is_empty())
        .collect();
    nodes.sort();
    assert_eq!(nodes, vec!["n1", "n2", "n3"]);
}

#[test]
fn a_higher_priority_pod_preempts_a_lower_one() {
    let server = TestServer::start();
    node(&server, "only", "2", &[], "");
    server.ok_stdin(
        &["create", "-f", "-"],
        "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata:\n  name: urgent\nvalue: 1000\n",
    );
    create_pod(&server, "low", "2", "");
    assert_eq!(bound_node(&server, "low"), "only");
    create_pod(&server, "high", "2", "  priorityClassName: urgent\n");
    assert_eq!(bound_node(&server, "high"), "only");
    wait_for("the victim to be deleted", || {
        let output = server.kubectl(&["get", "pod", "low"]);
        (!output.status.success()).then_some(())
    });
    let events = server.ok(&[
        "get",
        "events",
        "--field-selector",
        "reason=Preempted",
        "-o",
        "name",
    ]);
    assert!(!events.trim().is_empty(), "a Preempted event");
}

#[test]
fn preemption_spares_pods_a_disruption_budget_protects() {
    let server = TestServer::start();
    node(&server, "a", "2", &[], "");
    node(&server, "b", "2", &[], "");
    server.ok_stdin(
        &["create", "-f", "-"],
        "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata:\n  name: medium\nvalue: 10\n\
         ---\napiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata:\n  name: urgent\nvalue: 1000\n\
         ---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: guarded\n\
         spec:\n  minAvailable: 1\n  selector:\n    matchLabels: {app: guarded}\n",
    );
    // Without the budget, the guarded pod (lower priority) would be the
    // victim of choice.
    create_pod(
        &server,
        "guarded",
        "2",
        "  nodeSelector: {kubernetes.io/hostname: a}\n",
    );
    create_pod(
        &server,
        "plain",
        "2",
        "  priorityClassName: medium\n  nodeSelector: {kubernetes.io/hostname: b}\n",
    );
    assert_eq!(bound_node(&server, "guarded"), "a");
    assert_eq!(bound_node(&server, "plain"), "b");
    create_pod(&server, "high", "2", "  priorityClassName: urgent\n");
    assert_eq!(bound_node(&server, "high"), "b");
    wait_for("the unprotected victim to be deleted", || {
        let output = server.kubectl(&["get", "pod", "plain"]);
        (!output.status.success()).then_some(())
    });
    server.ok(&["get", "pod", "guarded"]);
}
