//! The loopback registry of the test support: the busybox image pushed to
//! it is served back byte for byte, and the registry is gone once dropped.
//! A registry that asks for a login is pulled from with the pod's
//! `imagePullSecrets`, through real containerd (nextest group
//! `containers`).

mod support;

use std::path::Path;

use capstan_agent::images::{digest, MANIFEST_MEDIA_TYPE};
use support::cluster::{can_run_containers, Cluster, POD_START};
use support::images::{
    busybox_image, http, Registry, BUSYBOX, DOCKER_REGISTRY, PRIVATE_PASSWORD, PRIVATE_USER,
};
use support::wait_for;

fn prerequisites_missing() -> bool {
    for path in [DOCKER_REGISTRY, BUSYBOX] {
        if !Path::new(path).exists() {
            eprintln!("skipping: {path} is not installed");
            return true;
        }
    }
    false
}

#[test]
fn pushed_images_are_served() {
    if prerequisites_missing() {
        return;
    }
    let registry = Registry::start();
    let image = busybox_image();
    registry.push("capstan/busybox", "test", &image);
    // Again: the blobs are there already, the tag is rewritten.
    registry.push("capstan/busybox", "test", &image);

    let manifest = http(
        "GET",
        &registry.url("/v2/capstan/busybox/manifests/test"),
        &[("Accept", MANIFEST_MEDIA_TYPE)],
        None,
    );
    assert_eq!(manifest.status, 200, "{}", registry.log());
    assert_eq!(manifest.body, image.manifest_json);
    assert_eq!(manifest.header("content-type"), Some(MANIFEST_MEDIA_TYPE));
    assert_eq!(
        manifest.header("docker-content-digest"),
        Some(image.manifest_digest.as_str())
    );
    let by_digest = http(
        "GET",
        &registry.url(&format!(
            "/v2/capstan/busybox/manifests/{}",
            image.manifest_digest
        )),
        &[("Accept", MANIFEST_MEDIA_TYPE)],
        None,
    );
    assert_eq!(by_digest.body, image.manifest_json);

    let document: serde_json::Value = serde_json::from_slice(&manifest.body).unwrap();
    let mut descriptors = vec![document["config"].clone()];
    descriptors.extend(document["layers"].as_array().unwrap().iter().cloned());
    assert_eq!(descriptors.len(), 2);
    for descriptor in descriptors {
        let wanted = descriptor["digest"].as_str().unwrap();
        let blob = http(
            "GET",
            &registry.url(&format!("/v2/capstan/busybox/blobs/{wanted}")),
            &[],
            None,
        );
        assert_eq!(blob.status, 200, "blob {wanted}");
        assert_eq!(digest(&blob.body), wanted);
        assert_eq!(blob.body.len() as u64, descriptor["size"].as_u64().unwrap());
    }
    assert_eq!(
        http(
            "GET",
            &registry.url("/v2/capstan/busybox/manifests/missing"),
            &[("Accept", MANIFEST_MEDIA_TYPE)],
            None
        )
        .status,
        404
    );

    let tags = http(
        "GET",
        &registry.url("/v2/capstan/busybox/tags/list"),
        &[],
        None,
    );
    let tags: serde_json::Value = serde_json::from_slice(&tags.body).unwrap();
    assert_eq!(tags["tags"], serde_json::json!(["test"]));

    let url = registry.url("/v2/");
    let storage = registry.dir().to_path_buf();
    drop(registry);
    let answered = std::process::Command::new("curl")
        .args(["-s", "--max-time", "2", &url])
        .status()
        .unwrap()
        .success();
    assert!(!answered, "the registry still answers after drop");
    assert!(!storage.exists(), "its storage is left behind");
}

#[test]
fn the_shared_registry_is_one() {
    if prerequisites_missing() {
        return;
    }
    let registry = Registry::shared();
    assert_eq!(registry.host(), Registry::shared().host());
    assert!(registry.host().starts_with("127.0.0.1:"));
    let answer = http("GET", &registry.url("/v2/"), &[], None);
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.header("docker-distribution-api-version"),
        Some("registry/2.0")
    );
}

/// The message of the pod's `Failed to pull image` event, without that.
fn pull_failure(cluster: &Cluster, pod: &str) -> String {
    wait_for("the pull failure event", POD_START, || {
        let messages = cluster.server.ok(&[
            "get",
            "events",
            "--field-selector",
            &format!("involvedObject.name={pod},reason=Failed"),
            "-o",
            "jsonpath={range .items[*]}{.message}{\"\\n\"}{end}",
        ]);
        messages
            .lines()
            .find(|line| line.starts_with("Failed to pull image"))
            .map(str::to_string)
    })
}

#[test]
fn image_pull_secrets_open_a_private_registry() {
    if prerequisites_missing() || !can_run_containers() {
        return;
    }
    let private = Registry::start_private();
    assert_eq!(http("GET", &private.url("/v2/"), &[], None).status, 401);
    private.push("private/busybox", "test", &busybox_image());
    let host = private.host();
    let image = private.reference("private/busybox", "test");
    let cluster = Cluster::start_with_registries(std::slice::from_ref(&host));
    let pod = |name: &str, policy: &str, secrets: &[&str]| {
        format!(
            r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  terminationGracePeriodSeconds: 1
  imagePullSecrets: [{secrets}]
  containers:
  - name: app
    image: {image}
    imagePullPolicy: {policy}
    command: ["sleep", "3600"]
"#,
            secrets = secrets
                .iter()
                .map(|s| format!("{{name: {s}}}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let waiting =
        |pod: &serde_json::Value| pod["status"]["containerStatuses"][0]["state"]["waiting"].clone();

    // Without a login the registry turns the pull away.
    cluster.apply(&pod("anonymous", "IfNotPresent", &[]));
    let refused = cluster.wait_pod("anonymous", "refused its image", POD_START, |pod| {
        matches!(
            waiting(pod)["reason"].as_str(),
            Some("ErrImagePull" | "ImagePullBackOff")
        )
    });
    assert_eq!(refused["status"]["phase"], "Pending");
    assert!(
        pull_failure(&cluster, "anonymous").ends_with(": 401 Unauthorized"),
        "{:#}",
        refused["status"]
    );
    cluster
        .server
        .ok(&["delete", "pod", "anonymous", "--wait=false"]);

    // A dockerconfigjson secret for the registry opens it; a secret that
    // does not exist is warned about and passed over.
    cluster.server.ok(&[
        "create",
        "secret",
        "docker-registry",
        "login",
        &format!("--docker-server={host}"),
        &format!("--docker-username={PRIVATE_USER}"),
        &format!("--docker-password={PRIVATE_PASSWORD}"),
    ]);
    cluster.apply(&pod("with-login", "IfNotPresent", &["missing", "login"]));
    let running = cluster.wait_running("with-login");
    assert!(
        running["status"]["containerStatuses"][0]["imageID"]
            .as_str()
            .is_some_and(|id| id.contains("sha256:")),
        "{:#}",
        running["status"]
    );
    let warning = wait_for("the missing secret's warning", POD_START, || {
        let message = cluster.server.ok(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=with-login,reason=FailedToRetrieveImagePullSecret",
            "-o",
            "jsonpath={.items[0].type} {.items[0].message}",
        ]);
        (!message.trim().is_empty()).then_some(message)
    });
    assert_eq!(
        warning,
        "Warning Unable to retrieve some image pull secrets (missing); \
         attempting to pull the image may not succeed."
    );

    // Logins are tried in order: a wrong one, then a dockercfg secret
    // whose location has a scheme. `Always` asks the registry again.
    cluster.server.ok(&[
        "create",
        "secret",
        "docker-registry",
        "wrong",
        &format!("--docker-server={host}"),
        &format!("--docker-username={PRIVATE_USER}"),
        "--docker-password=not-the-password",
    ]);
    let dockercfg = serde_json::json!({
        format!("http://{host}"): {"username": PRIVATE_USER, "password": PRIVATE_PASSWORD}
    });
    cluster.server.ok(&[
        "create",
        "secret",
        "generic",
        "legacy",
        "--type=kubernetes.io/dockercfg",
        &format!("--from-literal=.dockercfg={dockercfg}"),
    ]);
    cluster.apply(&pod("retried", "Always", &["wrong", "legacy"]));
    cluster.wait_running("retried");
    let log = private.log();
    assert!(
        log.contains(&format!("error authenticating user \\\"{PRIVATE_USER}\\\"")),
        "the wrong login was not tried: {log}"
    );

    // The wrong login alone does not open it.
    cluster.apply(&pod("wrong-login", "Always", &["wrong"]));
    let refused = cluster.wait_pod("wrong-login", "refused its image", POD_START, |pod| {
        matches!(
            waiting(pod)["reason"].as_str(),
            Some("ErrImagePull" | "ImagePullBackOff")
        )
    });
    assert_eq!(refused["status"]["phase"], "Pending");
    assert!(
        pull_failure(&cluster, "wrong-login").ends_with(": 401 Unauthorized"),
        "{:#}",
        refused["status"]
    );
}
