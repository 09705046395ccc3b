//! Real containers: `capstan server` with its node agent, containerd,
//! runc and the CNI plugins from Debian, images from a registry on
//! loopback. Run one at a time (nextest group `containers`): the pods of
//! every test share the machine's pod network.

mod support;

use std::process::Command;
use std::time::Duration;

use support::cluster::{can_run_containers, image, registry, Cluster, POD_START};
use support::wait_for;

/// GET a URL from the host, bounded in time.
fn http_get(url: &str) -> Option<String> {
    let output = Command::new("curl")
        .args(["-sf", "--max-time", "2", url])
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn a_pod_runs_a_real_process_with_its_own_address() {
    if !can_run_containers() {
        return;
    }
    let cluster = Cluster::start();
    cluster.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: web}}
spec:
  containers:
  - name: web
    image: {image}
    command: ["sh", "-c", "mkdir -p /www && echo hello from $(hostname) > /www/index.html && exec httpd -f -p 8080 -h /www"]
"#,
        image = image()
    ));
    let pod = cluster.wait_running("web");
    let status = &pod["status"]["containerStatuses"][0];
    assert!(
        status["containerID"]
            .as_str()
            .unwrap()
            .starts_with("containerd://"),
        "{status}"
    );
    assert_eq!(status["restartCount"], 0);
    assert!(status["state"]["running"]["startedAt"].is_string());
    assert!(
        status["imageID"].as_str().unwrap().contains("sha256:"),
        "{status}"
    );
    let ip = pod["status"]["podIP"].as_str().unwrap().to_string();
    assert!(ip.starts_with("10.42."), "{ip}");
    let body = wait_for("the pod to answer on its address", POD_START, || {
        http_get(&format!("http://{ip}:8080/index.html"))
    });
    assert_eq!(body.trim(), "hello from web");

    // Deleting the pod stops its process within the grace period.
    cluster
        .server
        .ok(&["delete", "pod", "web", "--grace-period=5", "--wait=true"]);
    assert!(http_get(&format!("http://{ip}:8080/index.html")).is_none());
}

#[test]
fn containers_of_a_pod_share_volumes_and_localhost() {
    if !can_run_containers() {
        return;
    }
    let cluster = Cluster::start();
    cluster.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: pair}}
spec:
  volumes:
  - name: shared
    emptyDir: {{}}
  containers:
  - name: server
    image: {image}
    command: ["sh", "-c", "echo from-server > /data/index.html && exec httpd -f -p 8080 -h /data"]
    volumeMounts: [{{name: shared, mountPath: /data}}]
  - name: client
    image: {image}
    env:
    - name: POD_NAME
      valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}
    command: ["sh", "-c", "until wget -q -O /shared/fetched http://localhost:8080/index.html; do sleep 0.2; done; echo $POD_NAME > /shared/name; exec sleep 3600"]
    volumeMounts: [{{name: shared, mountPath: /shared}}]
"#,
        image = image()
    ));
    let pod = cluster.wait_running("pair");
    let ip = pod["status"]["podIP"].as_str().unwrap().to_string();
    // The client fetched over localhost into the shared volume; the
    // server serves what the client wrote.
    let fetched = wait_for("the client's copy", POD_START, || {
        http_get(&format!("http://{ip}:8080/fetched"))
    });
    assert_eq!(fetched.trim(), "from-server");
    let name = wait_for("the client's env", POD_START, || {
        http_get(&format!("http://{ip}:8080/name"))
    });
    assert_eq!(name.trim(), "pair");
}

#[test]
fn a_crashing_container_backs_off_and_a_finished_pod_succeeds() {
    if !can_run_containers() {
        return;
    }
    let cluster = Cluster::start();
    cluster.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: crash}}
spec:
  containers:
  - name: crash
    image: {image}
    command: ["sh", "-c", "echo dying; exit 3"]
---
apiVersion: v1
kind: Pod
metadata: {{name: once}}
spec:
  restartPolicy: Never
  initContainers:
  - name: first
    image: {image}
    command: ["sh", "-c", "exit 0"]
  containers:
  - name: once
    image: {image}
    command: ["sh", "-c", "exit 0"]
"#,
        image = image()
    ));
    let pod = cluster.wait_pod("crash", "backing off", Duration::from_secs(90), |pod| {
        let status = &pod["status"]["containerStatuses"][0];
        let backing_off = status["state"]["waiting"]["reason"] == "CrashLoopBackOff";
        backing_off && status["restartCount"].as_u64() >= Some(1)
    });
    let status = &pod["status"]["containerStatuses"][0];
    assert_eq!(status["lastState"]["terminated"]["exitCode"], 3, "{status}");
    assert_eq!(
        status["lastState"]["terminated"]["reason"], "Error",
        "{status}"
    );

    let pod = cluster.wait_pod("once", "Succeeded", POD_START, |pod| {
        pod["status"]["phase"] == "Succeeded"
    });
    let init = &pod["status"]["initContainerStatuses"][0];
    assert_eq!(init["state"]["terminated"]["reason"], "Completed", "{init}");
    let main = &pod["status"]["containerStatuses"][0];
    assert_eq!(main["state"]["terminated"]["exitCode"], 0, "{main}");
}

#[test]
fn a_missing_image_is_err_image_pull_then_back_off() {
    if !can_run_containers() {
        return;
    }
    let cluster = Cluster::start();
    let image = format!("{}/no-such-image:1", registry().host());
    cluster
        .server
        .ok(&["run", "ghost", &format!("--image={image}")]);
    let waiting =
        |pod: &serde_json::Value| pod["status"]["containerStatuses"][0]["state"]["waiting"].clone();
    // ErrImagePull, with the registry's answer, turns into ImagePullBackOff
    // within moments (the next sync), as upstream.
    let pod = cluster.wait_pod("ghost", "failing to pull", POD_START, |pod| {
        matches!(
            waiting(pod)["reason"].as_str(),
            Some("ErrImagePull" | "ImagePullBackOff")
        )
    });
    if waiting(&pod)["reason"] == "ErrImagePull" {
        let message = waiting(&pod)["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(message.contains("no-such-image"), "{message}");
    }
    // Then the agent waits before asking the registry again.
    let pod = cluster.wait_pod("ghost", "backing off", POD_START, |pod| {
        waiting(pod)["reason"] == "ImagePullBackOff"
    });
    assert_eq!(
        waiting(&pod)["message"],
        format!("Back-off pulling image \"{image}\"")
    );
    assert_eq!(pod["status"]["phase"], "Pending");
}

#[test]
fn a_container_over_its_memory_limit_is_oom_killed() {
    if !can_run_containers() {
        return;
    }
    let cluster = Cluster::start();
    // tail of an endless line keeps all of it in memory.
    cluster.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: hungry}}
spec:
  restartPolicy: Never
  containers:
  - name: hungry
    image: {image}
    command: ["tail", "/dev/zero"]
    resources:
      limits: {{memory: 32Mi}}
"#,
        image = image()
    ));
    let pod = cluster.wait_pod("hungry", "Failed", POD_START, |pod| {
        pod["status"]["phase"] == "Failed"
    });
    let terminated = &pod["status"]["containerStatuses"][0]["state"]["terminated"];
    assert_eq!(terminated["reason"], "OOMKilled", "{terminated}");
    assert_eq!(terminated["exitCode"], 137, "{terminated}");
}

#[test]
fn config_maps_and_secrets_reach_files_and_env_and_updates_follow() {
    if !can_run_containers() {
        return;
    }
    let cluster = Cluster::start();
    cluster.apply(&format!(
        r#"
apiVersion: v1
kind: ConfigMap
metadata: {{name: settings}}
data: {{greeting: hello}}
---
apiVersion: v1
kind: Secret
metadata: {{name: token}}
stringData: {{value: s3cret}}
---
apiVersion: v1
kind: Pod
metadata: {{name: reader, labels: {{app: reader}}}}
spec:
  volumes:
  - name: settings
    configMap: {{name: settings}}
  - name: info
    downwardAPI:
      items: [{{path: labels, fieldRef: {{fieldPath: metadata.labels}}}}]
  containers:
  - name: reader
    image: {image}
    env:
    - name: TOKEN
      valueFrom: {{secretKeyRef: {{name: token, key: value}}}}
    command: ["sh", "-c", "mkdir -p /www; echo $TOKEN > /www/token; cp /info/labels /www/labels; (while true; do cat /config/greeting > /www/greeting; sleep 0.5; done) & exec httpd -f -p 8080 -h /www"]
    volumeMounts:
    - {{name: settings, mountPath: /config}}
    - {{name: info, mountPath: /info}}
"#,
        image = image()
    ));
    let pod = cluster.wait_running("reader");
    let ip = pod["status"]["podIP"].as_str().unwrap().to_string();
    let get = |file: &str| http_get(&format!("http://{ip}:8080/{file}"));
    let greeting = wait_for("the mounted ConfigMap", POD_START, || get("greeting"));
    assert_eq!(greeting.trim(), "hello");
    assert_eq!(get("token").unwrap().trim(), "s3cret");
    assert_eq!(get("labels").unwrap().trim(), "app=\"reader\"");

    cluster.server.ok(&[
        "patch",
        "configmap",
        "settings",
        "-p",
        r#"{"data":{"greeting":"changed"}}"#,
    ]);
    wait_for(
        "the change in the mounted file",
        Duration::from_secs(60),
        || get("greeting").filter(|g| g.trim() == "changed"),
    );
}

#[test]
fn restarting_the_server_keeps_containers_running() {
    if !can_run_containers() {
        return;
    }
    let mut cluster = Cluster::start();
    cluster.server.ok(&[
        "run",
        "steady",
        &format!("--image={}", image()),
        "--command",
        "--",
        "sh",
        "-c",
        "mkdir -p /www && echo up > /www/index.html && exec httpd -f -p 8080 -h /www",
    ]);
    let before = cluster.wait_running("steady");
    let id = before["status"]["containerStatuses"][0]["containerID"].clone();
    let ip = before["status"]["podIP"].as_str().unwrap().to_string();
    wait_for("the pod to answer", POD_START, || {
        http_get(&format!("http://{ip}:8080/index.html"))
    });

    cluster.server.restart();
    // The process answered throughout, and the agent that comes back
    // finds the same container rather than starting another.
    assert_eq!(
        http_get(&format!("http://{ip}:8080/index.html")).as_deref(),
        Some("up\n")
    );
    wait_for("the node to be Ready again", POD_START, || {
        let node = cluster.server.get_json(&["get", "node", "capstan-test"])?;
        let conditions = node["status"]["conditions"].as_array()?.clone();
        let ready = conditions
            .iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True");
        ready.then_some(())
    });
    std::thread::sleep(Duration::from_secs(3));
    let after = cluster.wait_running("steady");
    let status = &after["status"]["containerStatuses"][0];
    assert_eq!(status["containerID"], id, "{status}");
    assert_eq!(status["restartCount"], 0, "{status}");
    assert_eq!(after["status"]["podIP"].as_str(), Some(ip.as_str()));
}

#[test]
fn probes_set_readiness_and_restart_unhealthy_containers() {
    if !can_run_containers() {
        return;
    }
    let cluster = Cluster::start();
    // /ready exists from 8 s to 16 s after start; /tmp/healthy goes away
    // 3 s after each start of the worker.
    cluster.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: probed}}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: web
    image: {image}
    command: ["sh", "-c", "mkdir -p /www; (sleep 8; touch /www/ready; sleep 8; rm /www/ready) & exec httpd -f -p 8080 -h /www"]
    readinessProbe:
      httpGet: {{path: /ready, port: 8080}}
      periodSeconds: 1
      failureThreshold: 1
  - name: worker
    image: {image}
    command: ["sh", "-c", "touch /tmp/healthy; (sleep 3; rm /tmp/healthy) & exec sleep 3600"]
    livenessProbe:
      exec: {{command: ["test", "-e", "/tmp/healthy"]}}
      periodSeconds: 1
      failureThreshold: 2
"#,
        image = image()
    ));
    let ready = |pod: &serde_json::Value| {
        pod["status"]["conditions"]
            .as_array()
            .and_then(|all| all.iter().find(|c| c["type"] == "Ready"))
            .and_then(|c| c["status"].as_str())
            .map(str::to_string)
    };
    let status_of = |pod: &serde_json::Value, name: &str| {
        pod["status"]["containerStatuses"]
            .as_array()
            .and_then(|all| all.iter().find(|c| c["name"] == name).cloned())
            .unwrap_or_default()
    };
    let web_ready = |pod: &serde_json::Value| status_of(pod, "web")["ready"].clone();
    let running = cluster.wait_pod("probed", "running", POD_START, |pod| {
        pod["status"]["phase"] == "Running"
    });
    // Running but not ready: /ready does not answer yet.
    assert_eq!(
        ready(&running).as_deref(),
        Some("False"),
        "{:#}",
        running["status"]
    );
    cluster.wait_pod("probed", "Ready", Duration::from_secs(30), |pod| {
        web_ready(pod) == true
    });
    cluster.wait_pod("probed", "unready again", Duration::from_secs(30), |pod| {
        web_ready(pod) == false && pod["status"]["phase"] == "Running"
    });
    // The worker's liveness probe fails and the agent restarts it.
    let pod = cluster.wait_pod("probed", "restarted", Duration::from_secs(60), |pod| {
        status_of(pod, "worker")["restartCount"].as_u64() >= Some(1)
    });
    let worker = status_of(&pod, "worker");
    assert!(worker["lastState"]["terminated"].is_object(), "{worker}");
}

#[test]
fn run_as_non_root_refuses_an_image_that_runs_as_root() {
    if !can_run_containers() {
        return;
    }
    let cluster = Cluster::start();
    // busybox names no user: it runs as root.
    cluster.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: as-root}}
spec:
  securityContext: {{runAsNonRoot: true}}
  containers:
  - name: app
    image: {image}
    command: ["sleep", "3600"]
---
apiVersion: v1
kind: Pod
metadata: {{name: as-user}}
spec:
  securityContext: {{runAsNonRoot: true}}
  containers:
  - name: app
    image: {image}
    command: ["sh", "-c", "id -u > /tmp/uid; exec sleep 3600"]
    securityContext: {{runAsUser: 1000}}
    readinessProbe:
      exec: {{command: ["grep", "-qx", "1000", "/tmp/uid"]}}
      periodSeconds: 1
"#,
        image = image()
    ));
    let waiting =
        |pod: &serde_json::Value| pod["status"]["containerStatuses"][0]["state"]["waiting"].clone();
    let pod = cluster.wait_pod("as-root", "refused", POD_START, |pod| {
        waiting(pod)["reason"] == "CreateContainerConfigError"
    });
    let uid = pod["metadata"]["uid"].as_str().unwrap();
    let message = format!(
        "container has runAsNonRoot and image will run as root \
         (pod: \"as-root_default({uid})\", container: app)"
    );
    assert_eq!(waiting(&pod)["message"], message.as_str());
    assert_eq!(pod["status"]["phase"], "Pending");
    let event = wait_for("the Failed event", POD_START, || {
        let out = cluster.server.ok(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=as-root,reason=Failed",
            "-o",
            "jsonpath={.items[0].message}",
        ]);
        (!out.is_empty()).then_some(out)
    });
    assert_eq!(event, format!("Error: {message}"));

    // Ready only once the probe read the uid it runs as.
    cluster.wait_running("as-user");
}

#[test]
fn pods_find_their_service_account_token_ca_and_namespace() {
    if !can_run_containers() {
        return;
    }
    let cluster = Cluster::start();
    cluster.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: api-client}}
spec:
  containers:
  - name: main
    image: {image}
    # The agent expands $(VAR) in command and args before the shell runs.
    command: ["sh", "-c", "echo $(KUBERNETES_SERVICE_HOST) > /tmp/expanded; exec sleep 3600"]
"#,
        image = image()
    ));
    cluster.wait_running("api-client");
    let server = &cluster.server;
    let read = |file: &str| {
        let path = format!("/var/run/secrets/kubernetes.io/serviceaccount/{file}");
        server.ok(&["exec", "api-client", "--", "cat", &path])
    };
    let ca = std::fs::read_to_string(server.data_dir().join("tls/ca.crt")).unwrap();
    assert_eq!(read("ca.crt"), ca);
    assert_eq!(read("namespace"), "default");
    // In-cluster clients find the API through the `kubernetes` Service's
    // variables.
    let api_ip = server.ok(&[
        "get",
        "svc",
        "kubernetes",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    let api = server.ok(&[
        "exec",
        "api-client",
        "--",
        "sh",
        "-c",
        "echo $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT $KUBERNETES_PORT",
    ]);
    assert_eq!(
        api.trim(),
        format!("{api_ip}:443 tcp://{api_ip}:443"),
        "the API Service's variables"
    );
    let expanded = server.ok(&["exec", "api-client", "--", "cat", "/tmp/expanded"]);
    assert_eq!(expanded.trim(), api_ip, "$(VAR) in the command");
    let token = read("token");
    // The pod's token works from the host, as the pod's account.
    let output = Command::new(support::KUBECTL)
        .args(["--kubeconfig", "/dev/null", "--server", &server.url()])
        .arg(format!(
            "--certificate-authority={}",
            server.data_dir().join("tls/ca.crt").display()
        ))
        .arg(format!("--token={token}"))
        .args(["auth", "whoami", "-o", "json"])
        .output()
        .expect("run kubectl");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let review: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let user = &review["status"]["userInfo"];
    assert_eq!(user["username"], "system:serviceaccount:default:default");
    assert_eq!(
        user["extra"]["authentication.kubernetes.io/pod-name"],
        serde_json::json!(["api-client"])
    );
}
