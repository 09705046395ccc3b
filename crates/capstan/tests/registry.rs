//! The loopback registry of the test support: the busybox image pushed to
//! it is served back byte for byte, and the registry is gone once dropped.

mod support;

use std::path::Path;

use capstan_agent::images::{digest, MANIFEST_MEDIA_TYPE};
use support::images::{busybox_image, http, Registry, BUSYBOX, DOCKER_REGISTRY};

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
