use std::cell::RefCell;

use super::*;

fn secret(secret_type: &str, key: &str, json: &str) -> PullSecret {
    PullSecret {
        secret_type: secret_type.into(),
        data: BTreeMap::from([(key.to_string(), json.as_bytes().to_vec())]),
    }
}

fn login(username: &str, password: &str) -> Credential {
    Credential {
        username: username.into(),
        password: password.into(),
    }
}

fn keyring(secrets: &[PullSecret]) -> Keyring {
    Keyring::from_secrets(secrets).unwrap()
}

fn json_secret(auths: serde_json::Value) -> PullSecret {
    let text = serde_json::json!({ "auths": auths }).to_string();
    secret(DOCKER_CONFIG_JSON, DOCKER_CONFIG_JSON_KEY, &text)
}

#[test]
fn both_docker_secret_types_are_read() {
    // `auth` is base64 of `user:pass:word`; it wins over the fields.
    let config_json = json_secret(serde_json::json!({
        "registry.example.com": {"auth": "dXNlcjpwYXNzOndvcmQ=", "username": "other", "password": "x"},
    }));
    let dockercfg = secret(
        DOCKERCFG,
        DOCKERCFG_KEY,
        r#"{"https://old.example.com": {"Username": "old", "password": "secret", "email": "a@b"}}"#,
    );
    let keyring = keyring(&[config_json, dockercfg]);
    assert_eq!(
        keyring.lookup("registry.example.com/app:1"),
        [login("user", "pass:word")]
    );
    assert_eq!(
        keyring.lookup("old.example.com/app"),
        [login("old", "secret")]
    );
    // Unpadded base64 is read as well.
    let unpadded = json_secret(serde_json::json!({"r.example.com": {"auth": "dTpw"}}));
    assert_eq!(
        self::keyring(&[unpadded]).lookup("r.example.com/a"),
        [login("u", "p")]
    );
}

#[test]
fn other_secrets_are_passed_over_and_bad_ones_fail() {
    let opaque = secret("Opaque", DOCKER_CONFIG_JSON_KEY, "not json");
    let wrong_key = secret(DOCKER_CONFIG_JSON, DOCKERCFG_KEY, "not json");
    let empty = secret(DOCKERCFG, DOCKERCFG_KEY, "");
    let no_auths = secret(DOCKER_CONFIG_JSON, DOCKER_CONFIG_JSON_KEY, "{}");
    let keyring = keyring(&[opaque, wrong_key, empty, no_auths]);
    assert!(keyring.lookup("busybox").is_empty());

    for (secret, wanted) in [
        (
            secret(DOCKER_CONFIG_JSON, DOCKER_CONFIG_JSON_KEY, "{"),
            "EOF while parsing",
        ),
        (
            json_secret(serde_json::json!({"r.example.com": {"auth": "bm9jb2xvbg=="}})),
            "must be formatted as base64(username:password)",
        ),
        (
            json_secret(serde_json::json!({"r.example.com": {"auth": "!!"}})),
            "illegal base64 data",
        ),
        (
            json_secret(serde_json::json!({"r.example.com": {"username": 5}})),
            "cannot unmarshal number into Go struct field dockerConfigEntryWithAuth.username",
        ),
        (
            secret(DOCKERCFG, DOCKERCFG_KEY, "[]"),
            "cannot unmarshal array into Go value of type credentialprovider.DockerConfig",
        ),
    ] {
        let error = Keyring::from_secrets(&[secret]).unwrap_err();
        assert!(error.contains(wanted), "{error}");
    }
}

#[test]
fn locations_lose_their_scheme_and_api_version() {
    assert_eq!(
        location_key("https://index.docker.io/v1/").as_deref(),
        Some("index.docker.io")
    );
    assert_eq!(
        location_key("http://127.0.0.1:5000/v2/").as_deref(),
        Some("127.0.0.1:5000")
    );
    assert_eq!(
        location_key("quay.io/coreos").as_deref(),
        Some("quay.io/coreos")
    );
    assert_eq!(
        location_key("https://quay.io/v2/coreos").as_deref(),
        Some("quay.io/coreos")
    );
    assert_eq!(location_key("bad host/x"), None);
}

#[test]
fn images_name_their_repository() {
    for (image, wanted) in [
        ("busybox", "docker.io/library/busybox"),
        ("busybox:1.36", "docker.io/library/busybox"),
        ("library/busybox@sha256:abc", "docker.io/library/busybox"),
        ("docker.io/busybox", "docker.io/library/busybox"),
        ("index.docker.io/team/app:v1", "docker.io/team/app"),
        ("team/app", "docker.io/team/app"),
        ("localhost/app", "localhost/app"),
        ("127.0.0.1:5000/busybox:test", "127.0.0.1:5000/busybox"),
        ("localhost:5000/a/b", "localhost:5000/a/b"),
        ("Registry/app", "Registry/app"),
    ] {
        assert_eq!(repository(image), wanted, "{image}");
    }
}

#[test]
fn locations_match_by_host_port_path_and_glob() {
    for (glob, target, wanted) in [
        ("registry.example.com", "registry.example.com/app", true),
        ("registry.example.com", "other.example.com/app", false),
        ("127.0.0.1:5000", "127.0.0.1:5000/busybox", true),
        ("127.0.0.1:5000", "127.0.0.1:5001/busybox", false),
        ("127.0.0.1", "127.0.0.1:5000/busybox", false),
        ("127.0.0.1:5000", "127.0.0.1/busybox", false),
        ("quay.io/coreos", "quay.io/coreos/etcd", true),
        ("quay.io/coreos", "quay.io/other/etcd", false),
        // A path prefix of text, as upstream's.
        ("quay.io/core", "quay.io/coreos/etcd", true),
        ("*.example.com", "registry.example.com/app", true),
        ("*.example.com", "example.com/app", false),
        ("*.example.com", "a.b.example.com/app", false),
        ("*.*.example.com", "a.b.example.com/app", true),
        // `?` starts a URL's query, as in upstream's parse.
        ("reg?stry.example.com", "registry.example.com/a", false),
        ("re*ry.example.com", "registry.example.com/a", true),
        ("[r-s]egistry.example.com", "registry.example.com/a", true),
        ("[^r]egistry.example.com", "registry.example.com/a", false),
        ("[r-.example.com", "registry.example.com/a", false),
        ("*.example.com:5000", "registry.example.com:5000/app", true),
        ("[::1]:5000", "[::1]:5000/app", true),
        ("[::1]:5000", "[::1]:5001/app", false),
    ] {
        assert_eq!(urls_match(glob, target), wanted, "{glob} vs {target}");
    }
}

#[test]
fn docker_hub_is_found_by_any_of_its_names() {
    for location in [
        "https://index.docker.io/v1/",
        "index.docker.io",
        "docker.io",
        "https://docker.io",
    ] {
        let keyring = keyring(&[json_secret(
            serde_json::json!({ location: {"username": "hub", "password": "p"} }),
        )]);
        for image in [
            "busybox",
            "busybox:latest",
            "library/busybox",
            "docker.io/library/busybox",
            "index.docker.io/team/app",
        ] {
            assert_eq!(
                keyring.lookup(image),
                [login("hub", "p")],
                "{location} for {image}"
            );
        }
        assert!(keyring.lookup("quay.io/team/app").is_empty(), "{location}");
    }
}

#[test]
fn logins_come_most_specific_first_then_in_secret_order() {
    let first = json_secret(serde_json::json!({
        "quay.io": {"username": "host", "password": "1"},
        "quay.io/coreos": {"username": "path", "password": "2"},
    }));
    let second = secret(
        DOCKERCFG,
        DOCKERCFG_KEY,
        r#"{"https://quay.io": {"username": "host2", "password": "3"}, "*.io": {"username": "glob", "password": "4"}}"#,
    );
    let keyring = keyring(&[first, second]);
    assert_eq!(
        keyring.lookup("quay.io/coreos/etcd:v3"),
        [
            login("path", "2"),
            login("host", "1"),
            login("host2", "3"),
            login("glob", "4"),
        ]
    );
    assert_eq!(keyring.lookup("gcr.io/app"), [login("glob", "4")]);
    // Docker Hub's images are `docker.io/...`, which `*.io` covers.
    assert_eq!(keyring.lookup("busybox"), [login("glob", "4")]);
    assert!(keyring.lookup("example.com/app").is_empty());
}

/// Runs `try_each` over `credentials` with a runtime answering each
/// login's pull with `answer`; returns what it returned and the logins
/// tried, in order (`-` for none).
fn tries(
    credentials: &[Credential],
    answer: impl Fn(&str) -> Result<String, String>,
) -> (Result<String, String>, Vec<String>) {
    let tried = RefCell::new(Vec::new());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let result = runtime.block_on(try_each(credentials, |auth| {
        let user = auth.map_or("-".to_string(), |a| a.username);
        tried.borrow_mut().push(user.clone());
        let answered = answer(&user);
        async move { answered }
    }));
    (result, tried.into_inner())
}

#[test]
fn logins_are_tried_in_order_until_one_pulls() {
    let logins = [login("a", "1"), login("b", "2"), login("c", "3")];
    let (result, tried) = tries(&logins, |user| match user {
        "b" => Ok("sha256:1".into()),
        other => Err(format!("denied for {other}")),
    });
    assert_eq!(result.unwrap(), "sha256:1");
    assert_eq!(tried, ["a", "b"]);

    let (result, tried) = tries(&logins, |user| Err(format!("denied for {user}")));
    assert_eq!(
        result.unwrap_err(),
        "[denied for a, denied for b, denied for c]"
    );
    assert_eq!(tried, ["a", "b", "c"]);

    let (result, _) = tries(&logins, |_| Err("denied".into()));
    assert_eq!(result.unwrap_err(), "denied");

    // No login matches: one pull without any.
    let (result, tried) = tries(&[], |_| Err("unauthorized".into()));
    assert_eq!(result.unwrap_err(), "unauthorized");
    assert_eq!(tried, ["-"]);
}
