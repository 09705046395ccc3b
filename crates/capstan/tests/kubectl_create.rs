//! The imperative commands: `kubectl create` generators, `run`, `expose`,
//! `set image`, `rollout restart`, `autoscale`, `edit`, `replace --force`
//! and server dry runs, checked by what they print and what they store.

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use support::TestServer;

fn json(server: &TestServer, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    serde_json::from_str(&server.ok(&all)).expect("kubectl printed JSON")
}

/// A secret's value, decoded by kubectl's own templates.
fn decoded(server: &TestServer, secret: &str, key: &str) -> String {
    server.ok(&[
        "get",
        "secret",
        secret,
        "-o",
        &format!("go-template={{{{index .data {key:?} | base64decode}}}}"),
    ])
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn secrets_and_configmaps_from_literals_files_and_env_files() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "app.conf", "listen 8080\n");
    let env = write(dir.path(), "app.env", "# settings\nMODE=fast\nLEVEL=3\n\n");
    assert_eq!(
        server.ok(&[
            "create",
            "secret",
            "generic",
            "mixed",
            "--from-literal=user=admin",
            &format!("--from-file={file}"),
            &format!("--from-file=renamed={file}"),
        ]),
        "secret/mixed created\n"
    );
    let secret = json(&server, &["get", "secret", "mixed"]);
    assert_eq!(secret["type"], "Opaque");
    assert_eq!(decoded(&server, "mixed", "user"), "admin");
    assert_eq!(decoded(&server, "mixed", "app.conf"), "listen 8080\n");
    assert_eq!(decoded(&server, "mixed", "renamed"), "listen 8080\n");
    server.ok(&[
        "create",
        "secret",
        "generic",
        "from-env",
        &format!("--from-env-file={env}"),
    ]);
    let secret = json(&server, &["get", "secret", "from-env"]);
    assert_eq!(secret["data"].as_object().unwrap().len(), 2, "{secret}");
    assert_eq!(decoded(&server, "from-env", "MODE"), "fast");
    assert_eq!(decoded(&server, "from-env", "LEVEL"), "3");
    server.ok(&[
        "create",
        "configmap",
        "conf",
        &format!("--from-file={file}"),
    ]);
    assert_eq!(
        server.ok(&["get", "cm", "conf", "-o", "jsonpath={.data.app\\.conf}"]),
        "listen 8080\n"
    );
    server.ok(&[
        "create",
        "configmap",
        "envs",
        &format!("--from-env-file={env}"),
    ]);
    assert_eq!(
        server.ok(&[
            "get",
            "cm",
            "envs",
            "-o",
            "jsonpath={.data.MODE}-{.data.LEVEL}"
        ]),
        "fast-3"
    );
    let table = server.ok(&["get", "secrets"]);
    let mixed: Vec<&str> = table
        .lines()
        .find(|l| l.starts_with("mixed "))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(mixed[..3], ["mixed", "Opaque", "3"]);
}

#[test]
fn tls_and_docker_registry_secrets() {
    let server = TestServer::start();
    server.ok(&[
        "create",
        "secret",
        "docker-registry",
        "pull",
        "--docker-server=registry.local:5000",
        "--docker-username=robot",
        "--docker-password=hunter2",
        "--docker-email=robot@example.com",
    ]);
    let secret = json(&server, &["get", "secret", "pull"]);
    assert_eq!(secret["type"], "kubernetes.io/dockerconfigjson");
    let config: Value =
        serde_json::from_str(&decoded(&server, "pull", ".dockerconfigjson")).unwrap();
    let entry = &config["auths"]["registry.local:5000"];
    assert_eq!(entry["username"], "robot");
    assert_eq!(entry["password"], "hunter2");
    // A TLS secret needs a certificate and key; openssl makes them when the
    // machine has it.
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("skipping `create secret tls`: openssl is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=web.example.com", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    assert_eq!(
        server.ok(&[
            "create",
            "secret",
            "tls",
            "web-tls",
            &format!("--cert={}", cert.display()),
            &format!("--key={}", key.display()),
        ]),
        "secret/web-tls created\n"
    );
    let secret = json(&server, &["get", "secret", "web-tls"]);
    assert_eq!(secret["type"], "kubernetes.io/tls");
    assert!(decoded(&server, "web-tls", "tls.crt").starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(decoded(&server, "web-tls", "tls.key").contains("PRIVATE KEY-----"));
}

#[test]
fn services_of_every_type() {
    let server = TestServer::start();
    let cases = [
        (
            vec!["clusterip", "cip", "--tcp=80:8080"],
            "ClusterIP",
            "80/TCP",
        ),
        (
            vec!["nodeport", "np", "--tcp=80:8080", "--node-port=30080"],
            "NodePort",
            "80:30080/TCP",
        ),
        (
            vec!["loadbalancer", "lb", "--tcp=443:8443"],
            "LoadBalancer",
            "443:",
        ),
        (
            vec!["externalname", "ext", "--external-name=db.example.com"],
            "ExternalName",
            "<none>",
        ),
    ];
    for (args, kind, ports) in cases {
        let mut all = vec!["create", "service"];
        all.extend(&args);
        assert_eq!(server.ok(&all), format!("service/{} created\n", args[1]));
        let row = server.ok(&["get", "svc", args[1], "--no-headers"]);
        let row: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(row[1], kind);
        assert!(row[4].starts_with(ports), "{row:?}");
    }
    let ext = json(&server, &["get", "svc", "ext"]);
    assert_eq!(ext["spec"]["externalName"], "db.example.com");
    assert!(ext["spec"].get("clusterIP").is_none(), "{ext}");
    let lb = json(&server, &["get", "svc", "lb"]);
    let node_port = lb["spec"]["ports"][0]["nodePort"].as_i64().unwrap();
    assert!((30000..=32767).contains(&node_port));
    // A taken node port is refused as upstream refuses it.
    let error = server.fails(&[
        "create",
        "service",
        "nodeport",
        "again",
        "--tcp=81:81",
        "--node-port=30080",
    ]);
    assert!(
        error.contains(
            "spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated"
        ),
        "{error}"
    );
    server.ok(&[
        "create",
        "service",
        "clusterip",
        "headless",
        "--clusterip=None",
    ]);
    assert_eq!(
        server.ok(&["get", "svc", "headless", "-o", "jsonpath={.spec.clusterIP}"]),
        "None"
    );
}

#[test]
fn a_local_load_balancer_gets_a_health_check_node_port() {
    let server = TestServer::start();
    server.ok(&["create", "service", "loadbalancer", "lb", "--tcp=80:8080"]);
    let health = |server: &TestServer| {
        json(server, &["get", "svc", "lb"])["spec"]["healthCheckNodePort"].as_i64()
    };
    assert_eq!(
        health(&server),
        None,
        "Cluster policy needs no health check"
    );
    server.ok(&[
        "patch",
        "svc",
        "lb",
        "-p",
        r#"{"spec":{"externalTrafficPolicy":"Local"}}"#,
    ]);
    let port = health(&server).expect("a health check node port");
    assert!((30000..=32767).contains(&port), "{port}");
    let node_port = json(&server, &["get", "svc", "lb"])["spec"]["ports"][0]["nodePort"]
        .as_i64()
        .unwrap();
    assert_ne!(port, node_port);
    // Kept across other changes.
    server.ok(&["label", "svc", "lb", "tier=web"]);
    assert_eq!(health(&server), Some(port));
    // Taken while held: a NodePort Service cannot have it.
    let error = server.fails(&[
        "create",
        "service",
        "nodeport",
        "other",
        "--tcp=81:81",
        &format!("--node-port={port}"),
    ]);
    assert!(
        error.contains("provided port is already allocated"),
        "{error}"
    );
    // Dropped and given back once the policy is Cluster again.
    server.ok(&[
        "patch",
        "svc",
        "lb",
        "-p",
        r#"{"spec":{"externalTrafficPolicy":"Cluster"}}"#,
    ]);
    assert_eq!(health(&server), None);
    server.ok(&[
        "create",
        "service",
        "nodeport",
        "other",
        "--tcp=81:81",
        &format!("--node-port={port}"),
    ]);
    // Set where it is not needed: upstream's message.
    let error = server.fails(&[
        "patch",
        "svc",
        "other",
        "-p",
        r#"{"spec":{"healthCheckNodePort":31999}}"#,
    ]);
    assert!(
        error.contains(
            "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"
        ),
        "{error}"
    );
}

#[test]
fn workload_generators() {
    let server = TestServer::start();
    assert_eq!(
        server.ok(&[
            "create",
            "deployment",
            "web",
            "--image=registry.local/web:1",
            "--replicas=2",
            "--port=80"
        ]),
        "deployment.apps/web created\n"
    );
    let deploy = json(&server, &["get", "deploy", "web"]);
    assert_eq!(deploy["spec"]["replicas"], 2);
    assert_eq!(deploy["spec"]["selector"]["matchLabels"]["app"], "web");
    assert_eq!(
        deploy["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"],
        80
    );
    assert_eq!(
        server.ok(&[
            "create",
            "job",
            "once",
            "--image=busybox:1.36",
            "--",
            "echo",
            "hi"
        ]),
        "job.batch/once created\n"
    );
    let job = json(&server, &["get", "job", "once"]);
    assert_eq!(job["spec"]["template"]["spec"]["restartPolicy"], "Never");
    assert_eq!(job["spec"]["backoffLimit"], 6);
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["command"],
        serde_json::json!(["echo", "hi"])
    );
    assert!(
        job["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"].is_string(),
        "{job}"
    );
    assert_eq!(
        server.ok(&[
            "create",
            "cronjob",
            "nightly",
            "--image=busybox:1.36",
            "--schedule=0 3 * * *",
            "--",
            "date"
        ]),
        "cronjob.batch/nightly created\n"
    );
    let row = server.ok(&["get", "cronjob", "nightly", "--no-headers"]);
    let row: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        row[..10],
        ["nightly", "0", "3", "*", "*", "*", "<none>", "False", "0", "<none>"]
    );
    assert_eq!(
        server.ok(&["create", "job", "manual", "--from=cronjob/nightly"]),
        "job.batch/manual created\n"
    );
    let manual = json(&server, &["get", "job", "manual"]);
    assert_eq!(
        manual["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"],
        "manual"
    );
    assert_eq!(manual["metadata"]["ownerReferences"][0]["kind"], "CronJob");
    assert_eq!(
        server.ok(&[
            "create",
            "pdb",
            "web",
            "--selector=app=web",
            "--min-available=1"
        ]),
        "poddisruptionbudget.policy/web created\n"
    );
    server.ok(&[
        "create",
        "pdb",
        "half",
        "--selector=app=half",
        "--max-unavailable=50%",
    ]);
    let pdbs = server.ok(&["get", "pdb"]);
    assert!(
        pdbs.starts_with("NAME   MIN AVAILABLE   MAX UNAVAILABLE   ALLOWED DISRUPTIONS   AGE\n"),
        "{pdbs}"
    );
    assert!(
        pdbs.lines()
            .any(|l| l.split_whitespace().take(4).eq(["half", "N/A", "50%", "0"])),
        "{pdbs}"
    );
    assert_eq!(
        server.ok(&["create", "quota", "small", "--hard=cpu=1,memory=1Gi,pods=2"]),
        "resourcequota/small created\n"
    );
    assert_eq!(
        server.ok(&[
            "get",
            "quota",
            "small",
            "-o",
            "jsonpath={.spec.hard.memory} {.spec.hard.pods}"
        ]),
        "1Gi 2"
    );
    assert_eq!(
        server.ok(&[
            "create",
            "priorityclass",
            "high",
            "--value=1000",
            "--description=important",
            "--preemption-policy=Never"
        ]),
        "priorityclass.scheduling.k8s.io/high created\n"
    );
    let row = server.ok(&["get", "pc", "high", "--no-headers"]);
    let row: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        [row[0], row[1], row[2], row[4]],
        ["high", "1000", "false", "Never"]
    );
    assert_eq!(
        server.ok(&[
            "create",
            "ingress",
            "site",
            "--class=default",
            "--rule=example.com/api*=web:80,tls=site-cert"
        ]),
        "ingress.networking.k8s.io/site created\n"
    );
    let ingress = json(&server, &["get", "ingress", "site"]);
    let path = &ingress["spec"]["rules"][0]["http"]["paths"][0];
    assert_eq!(path["pathType"], "Prefix");
    assert_eq!(path["backend"]["service"]["name"], "web");
    assert_eq!(ingress["spec"]["tls"][0]["secretName"], "site-cert");
    let row = server.ok(&["get", "ingress", "site", "--no-headers"]);
    let row: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(row[..5], ["site", "default", "example.com", "80,", "443"]);
    assert_eq!(
        server.ok(&["create", "namespace", "team"]),
        "namespace/team created\n"
    );
    assert_eq!(
        server.ok(&["create", "serviceaccount", "robot", "-n", "team"]),
        "serviceaccount/robot created\n"
    );
}

#[test]
fn rbac_generators() {
    let server = TestServer::start();
    assert_eq!(
        server.ok(&[
            "create",
            "role",
            "reader",
            "--verb=get,list",
            "--resource=pods,deployments.apps"
        ]),
        "role.rbac.authorization.k8s.io/reader created\n"
    );
    let role = json(&server, &["get", "role", "reader"]);
    assert_eq!(role["rules"][0]["resources"], serde_json::json!(["pods"]));
    assert_eq!(role["rules"][1]["apiGroups"], serde_json::json!(["apps"]));
    assert_eq!(
        role["rules"][1]["verbs"],
        serde_json::json!(["get", "list"])
    );
    assert_eq!(
        server.ok(&[
            "create",
            "rolebinding",
            "read",
            "--role=reader",
            "--user=alice",
            "--serviceaccount=default:robot"
        ]),
        "rolebinding.rbac.authorization.k8s.io/read created\n"
    );
    let row = server.ok(&["get", "rolebinding", "read", "-o", "wide", "--no-headers"]);
    let row: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        [row[0], row[1], row[3], row[4]],
        ["read", "Role/reader", "alice", "default/robot"]
    );
    server.ok(&[
        "create",
        "clusterrole",
        "logs",
        "--verb=get",
        "--non-resource-url=/logs/*",
    ]);
    assert_eq!(
        server.ok(&[
            "get",
            "clusterrole",
            "logs",
            "-o",
            "jsonpath={.rules[0].nonResourceURLs[0]}"
        ]),
        "/logs/*"
    );
    assert_eq!(
        server.ok(&[
            "create",
            "clusterrolebinding",
            "ops",
            "--clusterrole=logs",
            "--group=ops"
        ]),
        "clusterrolebinding.rbac.authorization.k8s.io/ops created\n"
    );
    assert_eq!(
        server.ok(&[
            "get",
            "clusterrolebinding",
            "ops",
            "-o",
            "jsonpath={.roleRef.kind}/{.roleRef.name} {.subjects[0].kind}"
        ]),
        "ClusterRole/logs Group"
    );
}

#[test]
fn run_expose_set_image_restart_and_autoscale() {
    let server = TestServer::start();
    assert_eq!(
        server.ok(&[
            "run",
            "shell",
            "--image=busybox:1.36",
            "--labels=app=shell",
            "--env=MODE=debug",
            "--",
            "sleep",
            "3600"
        ]),
        "pod/shell created\n"
    );
    let pod = json(&server, &["get", "pod", "shell"]);
    let container = &pod["spec"]["containers"][0];
    assert_eq!(container["name"], "shell");
    assert_eq!(container["args"], serde_json::json!(["sleep", "3600"]));
    assert_eq!(container["env"][0]["value"], "debug");
    assert_eq!(pod["spec"]["restartPolicy"], "Always");
    server.ok(&[
        "create",
        "deployment",
        "web",
        "--image=registry.local/web:1",
        "--port=8080",
    ]);
    assert_eq!(
        server.ok(&[
            "expose",
            "deployment",
            "web",
            "--port=80",
            "--target-port=8080",
            "--type=NodePort"
        ]),
        "service/web exposed\n"
    );
    let svc = json(&server, &["get", "svc", "web"]);
    assert_eq!(svc["spec"]["selector"]["app"], "web");
    assert_eq!(svc["spec"]["type"], "NodePort");
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], 8080);
    assert_eq!(
        server.ok(&["set", "image", "deployment/web", "web=registry.local/web:2"]),
        "deployment.apps/web image updated\n"
    );
    assert_eq!(
        server.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image} {.metadata.generation}"
        ]),
        "registry.local/web:2 2"
    );
    assert_eq!(
        server.ok(&["rollout", "restart", "deployment/web"]),
        "deployment.apps/web restarted\n"
    );
    let restarted = server.ok(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.spec.template.metadata.annotations.kubectl\\.kubernetes\\.io/restartedAt}",
    ]);
    assert!(is_rfc3339(&restarted), "{restarted:?}");
    assert_eq!(
        server.ok(&[
            "autoscale",
            "deployment",
            "web",
            "--min=2",
            "--max=5",
            "--cpu-percent=70"
        ]),
        "horizontalpodautoscaler.autoscaling/web autoscaled\n"
    );
    let hpa = server.ok(&["get", "hpa", "web", "--no-headers"]);
    let row: Vec<&str> = hpa.split_whitespace().collect();
    assert_eq!(
        row[..6],
        ["web", "Deployment/web", "cpu:", "<unknown>/70%", "2", "5"]
    );
    let v1 = json(
        &server,
        &["get", "horizontalpodautoscalers.v1.autoscaling", "web"],
    );
    assert_eq!(v1["spec"]["targetCPUUtilizationPercentage"], 70);
}

/// `2024-05-01T10:00:00Z`, as the annotations kubectl writes.
fn is_rfc3339(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 20
        && bytes[4] == b'-'
        && bytes[10] == b'T'
        && bytes[19] == b'Z'
        && text[..4].parse::<u32>().is_ok()
}

#[test]
fn edit_with_an_editor_and_replace_force() {
    let server = TestServer::start();
    server.ok(&[
        "create",
        "configmap",
        "settings",
        "--from-literal=mode=slow",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let editor = write(
        dir.path(),
        "editor.sh",
        "#!/bin/sh\nsed -i 's/^  mode: slow$/  mode: fast/' \"$1\"\n",
    );
    let chmod = Command::new("chmod")
        .args(["+x", &editor])
        .status()
        .unwrap();
    assert!(chmod.success());
    let edited = server.kubectl_env(&["edit", "configmap", "settings"], &[("EDITOR", &editor)]);
    assert!(edited.status.success(), "{edited:?}");
    assert_eq!(
        String::from_utf8_lossy(&edited.stdout),
        "configmap/settings edited\n"
    );
    assert_eq!(
        server.ok(&["get", "cm", "settings", "-o", "jsonpath={.data.mode}"]),
        "fast"
    );
    // An editor that changes nothing.
    let unchanged = server.kubectl_env(&["edit", "configmap", "settings"], &[("EDITOR", "true")]);
    assert!(unchanged.status.success());
    assert_eq!(
        String::from_utf8_lossy(&unchanged.stderr),
        "Edit cancelled, no changes made.\n"
    );
    // An edit the server refuses leaves the object as it was.
    let breaker = write(
        dir.path(),
        "breaker.sh",
        "#!/bin/sh\nsed -i 's/^  name: settings$/  name: Not_Valid/' \"$1\"\n",
    );
    Command::new("chmod")
        .args(["+x", &breaker])
        .status()
        .unwrap();
    let refused = server.kubectl_env(&["edit", "configmap", "settings"], &[("EDITOR", &breaker)]);
    assert!(!refused.status.success());
    // replace --force deletes and creates: a new uid.
    let before = server.ok(&["get", "cm", "settings", "-o", "jsonpath={.metadata.uid}"]);
    let manifest = server.ok(&["get", "cm", "settings", "-o", "yaml"]);
    let replaced = server.ok_stdin(&["replace", "--force", "-f", "-"], &manifest);
    assert_eq!(
        replaced,
        "configmap \"settings\" deleted\nconfigmap/settings replaced\n"
    );
    let after = server.ok(&[
        "get",
        "cm",
        "settings",
        "-o",
        "jsonpath={.metadata.uid} {.data.mode}",
    ]);
    assert_ne!(after.split(' ').next().unwrap(), before);
    assert!(after.ends_with(" fast"), "{after}");
}

#[test]
fn create_with_a_server_dry_run() {
    let server = TestServer::start();
    let yaml = server.ok(&[
        "create",
        "deployment",
        "dry",
        "--image=registry.local/web:1",
        "--dry-run=server",
        "-o",
        "yaml",
    ]);
    for line in [
        "kind: Deployment",
        "  name: dry",
        "  uid: ",
        "  progressDeadlineSeconds: 600",
        "  revisionHistoryLimit: 10",
        "      maxSurge: 25%",
        "        imagePullPolicy: IfNotPresent",
        "      schedulerName: default-scheduler",
    ] {
        assert!(
            yaml.lines().any(|l| l.starts_with(line)),
            "{line:?} in\n{yaml}"
        );
    }
    assert!(!yaml.contains("resourceVersion"), "{yaml}");
    assert!(server.fails(&["get", "deploy", "dry"]).contains("NotFound"));
    let svc = server.ok(&[
        "create",
        "service",
        "clusterip",
        "dry",
        "--tcp=80:80",
        "--dry-run=server",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    assert!(svc.starts_with("10.43."), "{svc}");
    // The address was not kept: a real create gets one too, and the dry
    // run left nothing behind.
    assert!(server.fails(&["get", "svc", "dry"]).contains("NotFound"));
    let error = server.fails(&["create", "configmap", "Bad_Name", "--dry-run=server"]);
    assert!(
        error.contains("ConfigMap \"Bad_Name\" is invalid: metadata.name"),
        "{error}"
    );
}
