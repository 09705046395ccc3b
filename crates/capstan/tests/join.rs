//! Joining a cluster with the node token: a wrong token or a server whose
//! CA is not the one the token names is refused with one clear line, and
//! the right token gives the node a certificate that the API server takes
//! as `system:node:<name>`.

mod support;

use std::process::Command;

use support::TestServer;

fn agent(server: &TestServer, token: &str) -> (i32, String) {
    let data = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_capstan"))
        .args(["agent", "--server", &server.url(), "--token", token])
        .arg("--data-dir")
        .arg(data.path())
        .args(["--node-name", "joiner"])
        .output()
        .expect("run capstan agent");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code().unwrap_or(-1), stderr)
}

fn token(server: &TestServer) -> String {
    std::fs::read_to_string(server.data_dir().join("node-token"))
        .expect("the server writes DATA_DIR/node-token")
        .trim()
        .to_string()
}

#[test]
fn a_wrong_token_or_ca_is_refused() {
    let server = TestServer::start();
    let token = token(&server);
    assert!(token.starts_with("K10"), "{token}");
    let (hash, secret) = token
        .trim_start_matches("K10")
        .split_once("::server:")
        .expect("K10<hash>::server:<secret>");

    let (code, stderr) = agent(&server, &format!("K10{hash}::server:wrong"));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("refused the token"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one clear line: {stderr}");

    let other = "0".repeat(hash.len());
    let (code, stderr) = agent(&server, &format!("K10{other}::server:{secret}"));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("is not the one the token names"),
        "{stderr}"
    );
}

#[test]
fn the_token_buys_a_node_certificate() {
    let server = TestServer::start();
    let body = r#"{"nodeName": "worker-7", "addresses": ["192.0.2.7"]}"#;
    let post = |token: &str| {
        Command::new("curl")
            .args(["-s", "--max-time", "10", "--cacert"])
            .arg(server.data_dir().join("tls").join("ca.crt"))
            .args(["-H", &format!("Authorization: Bearer {token}")])
            .args(["-H", "Content-Type: application/json", "-d", body])
            .arg(format!("{}/v1-capstan/node-credentials", server.url()))
            .output()
            .expect("curl")
    };
    let refused: serde_json::Value =
        serde_json::from_slice(&post("nope").stdout).expect("a Status");
    assert_eq!(refused["kind"], "Status");
    assert_eq!(refused["code"], 401);

    let issued: serde_json::Value =
        serde_json::from_slice(&post(&token(&server)).stdout).expect("credentials");
    let dir = tempfile::tempdir().unwrap();
    let files = [
        ("ca", "caCert"),
        ("cert", "clientCert"),
        ("key", "clientKey"),
    ];
    for (file, field) in files {
        let pem = issued[field].as_str().expect(field);
        std::fs::write(dir.path().join(file), pem).unwrap();
    }
    // The certificate names the node, as upstream's kubelets are named,
    // and the API server takes it.
    let path = |f: &str| dir.path().join(f).display().to_string();
    let subject = Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-subject",
            "-nameopt",
            "RFC2253",
            "-in",
            &path("cert"),
        ])
        .output()
        .expect("openssl");
    let subject = String::from_utf8_lossy(&subject.stdout);
    assert!(subject.contains("CN=system:node:worker-7"), "{subject}");
    assert!(subject.contains("O=system:nodes"), "{subject}");
    let output = Command::new(support::KUBECTL)
        .args(["--server", &server.url()])
        .args(["--certificate-authority", &path("ca")])
        .args(["--client-certificate", &path("cert")])
        .args(["--client-key", &path("key")])
        .args(["get", "namespace", "default", "-o", "name"])
        .output()
        .expect("kubectl");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "namespace/default\n",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
