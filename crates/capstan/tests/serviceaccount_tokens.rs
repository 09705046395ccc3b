//! Service account tokens through the real kubectl: `kubectl create token`
//! (TokenRequest), authentication by the token, the `kube-root-ca.crt`
//! ConfigMaps and the `kube-api-access` volume admission gives pods.

mod support;

use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;
use support::{eventually, TestServer};

/// kubectl as the holder of `token` alone: the server and its CA, no
/// client certificate.
fn as_token(server: &TestServer, token: &str, args: &[&str]) -> Output {
    Command::new(support::KUBECTL)
        .args(["--kubeconfig", "/dev/null", "--server", &server.url()])
        .arg(format!(
            "--certificate-authority={}",
            server.data_dir().join("tls/ca.crt").display()
        ))
        .arg(format!("--token={token}"))
        .args(args)
        .output()
        .expect("run kubectl")
}

/// `kubectl auth whoami -o json` as the holder of `token`; None when the
/// token is refused.
fn whoami(server: &TestServer, token: &str) -> Option<Value> {
    let output = as_token(server, token, &["auth", "whoami", "-o", "json"]);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("Unauthorized"), "{stderr}");
        return None;
    }
    let review: Value = serde_json::from_slice(&output.stdout).expect("a SelfSubjectReview");
    Some(review["status"]["userInfo"].clone())
}

fn create_token(server: &TestServer, args: &[&str]) -> String {
    let mut all = vec!["create", "token"];
    all.extend_from_slice(args);
    let token = server.ok(&all).trim().to_string();
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    token
}

#[test]
fn kubectl_create_token_authenticates_as_the_service_account() {
    let server = TestServer::start();
    let token = create_token(&server, &["default"]);
    let user = whoami(&server, &token).expect("the token authenticates");
    assert_eq!(user["username"], "system:serviceaccount:default:default");
    let uid = server.ok(&["get", "sa", "default", "-o", "jsonpath={.metadata.uid}"]);
    assert_eq!(user["uid"], uid.as_str());
    assert_eq!(
        user["groups"],
        serde_json::json!([
            "system:serviceaccounts",
            "system:serviceaccounts:default",
            "system:authenticated"
        ])
    );
    // The token is good for the whole API (no RBAC yet).
    let listed = as_token(&server, &token, &["get", "namespaces", "-o", "name"]);
    assert!(listed.status.success());
    assert!(String::from_utf8_lossy(&listed.stdout).contains("namespace/kube-system"));
    // Anything else is refused.
    assert!(whoami(&server, "not-a-token").is_none());
    let mut forged = token.clone();
    forged.pop();
    forged.push(if token.ends_with('A') { 'B' } else { 'A' });
    assert!(whoami(&server, &forged).is_none());

    // Shorter than ten minutes, or for an account that does not exist: as upstream.
    let error = server.fails(&["create", "token", "default", "--duration=1m"]);
    assert!(
        error.contains("spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes"),
        "{error}"
    );
    let error = server.fails(&["create", "token", "nobody"]);
    assert!(
        error.contains("serviceaccounts \"nobody\" not found"),
        "{error}"
    );

    // The subresource is in discovery as upstream has it.
    let discovery: Value =
        serde_json::from_str(&server.ok(&["get", "--raw", "/api/v1"])).expect("APIResourceList");
    let token_resource = discovery["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "serviceaccounts/token")
        .expect("serviceaccounts/token listed")
        .clone();
    assert_eq!(token_resource["verbs"], serde_json::json!(["create"]));
    assert_eq!(token_resource["kind"], "TokenRequest");
    assert_eq!(token_resource["group"], "authentication.k8s.io");
}

#[test]
fn tokens_end_with_their_account_or_bound_pod() {
    let server = TestServer::start();
    server.ok(&["create", "serviceaccount", "robot"]);
    let token = create_token(&server, &["robot", "--duration=20m"]);
    let user = whoami(&server, &token).expect("the token authenticates");
    assert_eq!(user["username"], "system:serviceaccount:default:robot");
    // Deleted and made again, the account has a new uid: old tokens die.
    server.ok(&["delete", "serviceaccount", "robot"]);
    server.ok(&["create", "serviceaccount", "robot"]);
    assert!(whoami(&server, &token).is_none());
    assert!(whoami(&server, &create_token(&server, &["robot"])).is_some());

    // Bound to a pod: the pod shows in the user's extra, and its deletion
    // ends the token.
    server.ok(&["run", "web", "--image=registry.local/web:1.0"]);
    let bound = create_token(
        &server,
        &[
            "default",
            "--bound-object-kind=Pod",
            "--bound-object-name=web",
        ],
    );
    let user = whoami(&server, &bound).expect("a bound token authenticates");
    let uid = server.ok(&["get", "pod", "web", "-o", "jsonpath={.metadata.uid}"]);
    assert_eq!(
        user["extra"]["authentication.kubernetes.io/pod-name"],
        serde_json::json!(["web"])
    );
    assert_eq!(
        user["extra"]["authentication.kubernetes.io/pod-uid"],
        serde_json::json!([uid])
    );
    server.ok(&["delete", "pod", "web", "--grace-period=0", "--force"]);
    assert!(whoami(&server, &bound).is_none());
    let error = server.fails(&[
        "create",
        "token",
        "default",
        "--bound-object-kind=Pod",
        "--bound-object-name=web",
    ]);
    assert!(error.contains("pods \"web\" not found"), "{error}");
}

#[test]
fn namespaces_publish_the_root_ca_and_pods_mount_api_access() {
    let server = TestServer::start();
    let ca = std::fs::read_to_string(server.data_dir().join("tls/ca.crt")).unwrap();
    let published = |namespace: &str| {
        let output = server.kubectl(&[
            "get",
            "configmap",
            "kube-root-ca.crt",
            "-n",
            namespace,
            "-o",
            r"jsonpath={.data.ca\.crt}",
        ]);
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    eventually(
        Duration::from_secs(10),
        "kube-root-ca.crt in default",
        || published("default") == ca,
    );
    let yaml = server.ok(&["get", "cm", "kube-root-ca.crt", "-o", "yaml"]);
    assert!(yaml.contains("ca.crt: |"), "{yaml}");
    assert!(yaml.contains("kubernetes.io/description"), "{yaml}");
    // New namespaces get it; deleted or changed, it is made right.
    server.ok(&["create", "namespace", "fresh"]);
    eventually(Duration::from_secs(10), "kube-root-ca.crt in fresh", || {
        published("fresh") == ca
    });
    server.ok(&["delete", "cm", "kube-root-ca.crt", "-n", "fresh"]);
    eventually(
        Duration::from_secs(10),
        "kube-root-ca.crt recreated",
        || published("fresh") == ca,
    );
    server.ok(&[
        "patch",
        "cm",
        "kube-root-ca.crt",
        "-n",
        "fresh",
        "--type=merge",
        "-p",
        r#"{"data":{"ca.crt":"tampered"}}"#,
    ]);
    eventually(Duration::from_secs(10), "kube-root-ca.crt repaired", || {
        published("fresh") == ca
    });

    // A pod gets the kube-api-access volume, mounted in each container.
    server.ok(&["run", "web", "--image=registry.local/web:1.0"]);
    let field =
        |path: &str| server.ok(&["get", "pod", "web", "-o", &format!("jsonpath={{{path}}}")]);
    let volume = field(".spec.volumes[0].name");
    assert!(volume.starts_with("kube-api-access-"), "{volume}");
    assert_eq!(volume.len(), "kube-api-access-".len() + 5);
    assert_eq!(
        field(".spec.volumes[0].projected.sources[*].serviceAccountToken.expirationSeconds"),
        "3607"
    );
    assert_eq!(
        field(".spec.volumes[0].projected.sources[*].configMap.name"),
        "kube-root-ca.crt"
    );
    assert_eq!(
        field(".spec.containers[0].volumeMounts[0]['name','mountPath','readOnly']"),
        format!("{volume} /var/run/secrets/kubernetes.io/serviceaccount true")
    );
    // Not when the pod says so; refused when its account does not exist.
    server.ok(&[
        "run",
        "quiet",
        "--image=registry.local/web:1.0",
        "--overrides",
        r#"{"spec":{"automountServiceAccountToken":false}}"#,
    ]);
    let volumes = server.ok(&["get", "pod", "quiet", "-o", "jsonpath={.spec.volumes}"]);
    assert_eq!(volumes, "");
    let error = server.fails(&[
        "run",
        "lost",
        "--image=registry.local/web:1.0",
        "--overrides",
        r#"{"spec":{"serviceAccountName":"nobody"}}"#,
    ]);
    assert!(
        error.contains(
            "pods \"lost\" is forbidden: error looking up service account default/nobody: serviceaccount \"nobody\" not found"
        ),
        "{error}"
    );
}

/// `kubectl create -f` of a TokenReview of `token` for `audiences`: its
/// status.
fn review(server: &TestServer, token: &str, audiences: &[&str]) -> Value {
    let review = serde_json::json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "spec": {"token": token, "audiences": audiences},
    });
    let out = server.ok_stdin(&["create", "-f", "-", "-o", "json"], &review.to_string());
    let reviewed: Value = serde_json::from_str(&out).expect("a TokenReview");
    reviewed["status"].clone()
}

#[test]
fn token_reviews_and_issuer_discovery() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    let server = TestServer::start();
    let api_token = create_token(&server, &["default"]);
    let status = review(&server, &api_token, &[]);
    assert_eq!(status["authenticated"], true, "{status}");
    assert_eq!(
        status["user"]["username"],
        "system:serviceaccount:default:default"
    );
    let issuer = "https://kubernetes.default.svc.cluster.local";
    assert_eq!(status["audiences"], serde_json::json!([issuer]));

    // A token for another audience is good for that audience only.
    let vault_token = create_token(&server, &["default", "--audience=vault"]);
    let status = review(&server, &vault_token, &["vault", "other"]);
    assert_eq!(status["authenticated"], true, "{status}");
    assert_eq!(status["audiences"], serde_json::json!(["vault"]));
    let status = review(&server, &vault_token, &[]);
    assert_ne!(status["authenticated"], true, "{status}");
    assert!(status["error"].is_string(), "{status}");
    assert!(whoami(&server, &vault_token).is_none());
    let status = review(&server, "not-a-token", &[]);
    assert_ne!(status["authenticated"], true, "{status}");
    // A review needs a token.
    let error = server.fails_stdin(
        &["create", "-f", "-"],
        r#"{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {}}"#,
    );
    assert!(
        error.contains("token is required for TokenReview in authentication"),
        "{error}"
    );

    // Issuer discovery: the configuration names the key set, whose key
    // signed the tokens.
    let configuration: Value =
        serde_json::from_str(&server.ok(&["get", "--raw", "/.well-known/openid-configuration"]))
            .expect("JSON");
    assert_eq!(configuration["issuer"], issuer);
    assert!(
        configuration["jwks_uri"]
            .as_str()
            .is_some_and(|uri| uri.starts_with("https://") && uri.ends_with("/openid/v1/jwks")),
        "{configuration}"
    );
    let keys: Value =
        serde_json::from_str(&server.ok(&["get", "--raw", "/openid/v1/jwks"])).expect("JSON");
    let key = &keys["keys"][0];
    assert_eq!(
        (&key["kty"], &key["crv"], &key["alg"]),
        (&"EC".into(), &"P-256".into(), &"ES256".into())
    );
    for coordinate in ["x", "y"] {
        let bytes = URL_SAFE_NO_PAD
            .decode(key[coordinate].as_str().expect("a coordinate"))
            .expect("base64url");
        assert_eq!(bytes.len(), 32, "{key}");
    }
    let header = api_token.split('.').next().expect("a header");
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("base64url")).expect("JSON");
    assert_eq!(header["kid"], key["kid"]);
}

/// `kubectl create -f` of an authorization.k8s.io/v1 review: its status,
/// or kubectl's error.
fn access_review(server: &TestServer, review: Value) -> Result<Value, String> {
    let output = server.kubectl_stdin(&["create", "-f", "-", "-o", "json"], &review.to_string());
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let answered: Value = serde_json::from_slice(&output.stdout).expect("a review");
    Ok(answered["status"].clone())
}

#[test]
fn kubectl_auth_can_i_and_access_reviews_ask_the_authorizer() {
    let server = TestServer::start();
    assert_eq!(
        server.ok(&["auth", "can-i", "create", "pods"]).trim(),
        "yes"
    );
    assert_eq!(
        server.ok(&["auth", "can-i", "get", "/healthz"]).trim(),
        "yes"
    );
    // Impersonation: kubectl --as and --as-group.
    let as_jane = server.ok(&[
        "auth",
        "whoami",
        "--as=jane",
        "--as-group=dev",
        "-o",
        "json",
    ]);
    let as_jane: Value = serde_json::from_str(&as_jane).expect("a SelfSubjectReview");
    assert_eq!(as_jane["status"]["userInfo"]["username"], "jane");
    assert_eq!(
        as_jane["status"]["userInfo"]["groups"],
        serde_json::json!(["dev", "system:authenticated"])
    );
    let as_account = server.ok(&[
        "auth",
        "whoami",
        "--as=system:serviceaccount:default:default",
        "-o",
        "jsonpath={.status.userInfo.groups}",
    ]);
    assert!(
        as_account.contains("system:serviceaccounts:default"),
        "{as_account}"
    );
    assert_eq!(
        server
            .ok(&["auth", "can-i", "create", "pods", "--as=jane"])
            .trim(),
        "yes"
    );
    let list = server.ok(&["auth", "can-i", "--list"]);
    assert!(list.lines().any(|line| line.starts_with("*.*")), "{list}");
    // A service account asks for itself.
    let token = create_token(&server, &["default"]);
    let asked = as_token(&server, &token, &["auth", "can-i", "list", "secrets"]);
    assert_eq!(String::from_utf8_lossy(&asked.stdout).trim(), "yes");

    // About someone else: the authorizer decides by the groups given, and
    // without RBAC yet only authenticated users are allowed.
    let about = |groups: Value| {
        serde_json::json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {"user": "jane", "groups": groups,
                     "resourceAttributes": {"verb": "delete", "resource": "pods", "namespace": "dev"}},
        })
    };
    let status = access_review(&server, about(serde_json::json!(["system:authenticated"])));
    assert_eq!(status.expect("a review")["allowed"], true);
    let status = access_review(&server, about(serde_json::json!([])));
    assert_eq!(status.expect("a review")["allowed"], false);

    let error = access_review(
        &server,
        serde_json::json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {"resourceAttributes": {"verb": "get", "resource": "pods"}},
        }),
    )
    .unwrap_err();
    assert!(
        error.contains(
            "spec.user: Invalid value: \"\": at least one of user or group must be specified"
        ),
        "{error}"
    );
    let error = access_review(
        &server,
        serde_json::json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "LocalSubjectAccessReview",
            "metadata": {"namespace": "default"},
            "spec": {"user": "jane",
                     "resourceAttributes": {"verb": "get", "resource": "pods", "namespace": "dev"}},
        }),
    )
    .unwrap_err();
    assert!(
        error.contains("spec.resourceAttributes.namespace must match namespace: default"),
        "{error}"
    );
}
