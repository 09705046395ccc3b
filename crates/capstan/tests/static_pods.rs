//! Static pods: a manifest in `<data dir>/agent/pod-manifests` runs on the
//! node through its mirror pod, which kubectl sees. Real containers: run
//! one at a time (nextest group `containers`).

mod support;

use std::time::Duration;

use support::cluster::{can_run_containers, image, Cluster, NODE, POD_START};

/// The mirror pod of `web.yaml` on the test node.
const MIRROR: &str = "web-capstan-test";

/// How long a pod may take to go after its deletion or its file's.
const POD_STOP: Duration = Duration::from_secs(60);

fn manifest(greeting: &str) -> String {
    // The shell exits on TERM: stopping does not wait out the grace period.
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {{app: static-web}}
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: web
    image: {image}
    env: [{{name: GREETING, value: {greeting}}}]
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]
"#,
        image = image()
    )
}

fn uid(pod: &serde_json::Value) -> String {
    pod["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_manifest_runs_as_a_mirror_pod_that_comes_back_until_the_file_goes() {
    if !can_run_containers() {
        return;
    }
    let cluster = Cluster::start();
    let folder = cluster.server.data_dir().join("agent/pod-manifests");
    std::fs::create_dir_all(&folder).unwrap();
    let file = folder.join("web.yaml");
    std::fs::write(&file, manifest("hello")).unwrap();
    // A file that is not a pod is skipped; the others run.
    std::fs::write(folder.join("broken.yaml"), "kind: [").unwrap();

    let pod = cluster.wait_running(MIRROR);
    let annotations = &pod["metadata"]["annotations"];
    assert_eq!(annotations["kubernetes.io/config.source"], "file");
    let hash = annotations["kubernetes.io/config.hash"].as_str().unwrap();
    assert_eq!(annotations["kubernetes.io/config.mirror"], hash);
    assert!(
        annotations["kubernetes.io/config.seen"].is_string(),
        "{annotations}"
    );
    assert_eq!(pod["metadata"]["namespace"], "default");
    assert_eq!(pod["spec"]["nodeName"], NODE);
    let node = cluster.server.get_json(&["get", "node", NODE]).unwrap();
    let owner = &pod["metadata"]["ownerReferences"][0];
    assert_eq!(
        (&owner["kind"], &owner["name"], &owner["uid"]),
        (
            &"Node".into(),
            &NODE.into(),
            &node["metadata"]["uid"].clone()
        )
    );
    let tolerations = pod["spec"]["tolerations"].as_array().unwrap();
    assert!(
        tolerations.iter().any(|t| t["operator"] == "Exists"
            && t["effect"] == "NoExecute"
            && t.get("key").is_none()),
        "{tolerations:?}"
    );
    let first = uid(&pod);

    // Deleted by hand, the mirror pod is made again.
    cluster
        .server
        .ok(&["delete", "pod", MIRROR, "--wait=true", "--timeout=60s"]);
    let pod = cluster.wait_pod(MIRROR, "made again", POD_START, |pod| {
        let again = !uid(pod).is_empty() && uid(pod) != first;
        again && pod["status"]["phase"] == "Running"
    });
    assert_eq!(
        pod["metadata"]["annotations"]["kubernetes.io/config.mirror"],
        hash
    );
    let second = uid(&pod);

    // A changed manifest replaces the pod.
    std::fs::write(&file, manifest("changed")).unwrap();
    let pod = cluster.wait_pod(MIRROR, "replaced", POD_START + POD_STOP, |pod| {
        let replaced = !uid(pod).is_empty() && uid(pod) != second;
        replaced && pod["status"]["phase"] == "Running"
    });
    assert_ne!(
        pod["metadata"]["annotations"]["kubernetes.io/config.mirror"],
        hash
    );
    assert_eq!(pod["spec"]["containers"][0]["env"][0]["value"], "changed");

    // Without its file, the pod goes.
    std::fs::remove_file(&file).unwrap();
    cluster.wait_pod(MIRROR, "gone", POD_STOP, |pod| pod.is_null());
}
