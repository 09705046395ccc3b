//! The agent's containerd for real, each test in a temporary data dir:
//! started by `start()`, answering on its socket, importing the pause
//! image, running a pod sandbox on the CNI network, and `killall` leaving
//! nothing behind; started again after dying; pulling through plain-HTTP
//! mirrors with auth from registries.yaml.
//!
//! Skipped (with a note) without containerd, its tools or root.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use capstan_agent::containerd::{self, ContainerdOptions};
use k8s_cri::v1 as cri;

/// Runs killall if the test fails half-way.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.0.join("agent/containerd/containerd.log");
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(40)..];
            eprintln!("containerd.log:\n{}", tail.join("\n"));
            eprintln!("cleanup:\n{}", containerd::killall(&self.0));
        }
    }
}

fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = dir.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .filter(|mount| mount.starts_with(&prefix))
        .map(str::to_string)
        .collect()
}

/// Pids of processes whose command line mentions `text`.
fn processes_naming(text: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let zombie = state
                .rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z'));
            !zombie && String::from_utf8_lossy(&cmdline).contains(text)
        })
        .collect()
}

fn sandbox_config(name: &str, log_directory: &Path) -> cri::PodSandboxConfig {
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: name.into(),
            uid: format!("uid-{name}"),
            namespace: "default".into(),
            attempt: 0,
        }),
        hostname: name.into(),
        log_directory: log_directory.to_string_lossy().into_owned(),
        linux: Some(cri::LinuxPodSandboxConfig::default()),
        ..cri::PodSandboxConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containerd_runs_a_sandbox_and_killall_cleans_up() {
    if let Some(reason) = support::cannot_run_containers() {
        eprintln!("skipped: {reason}");
        return;
    }
    let tools = containerd::check_tools().unwrap();
    let temp = tempfile::Builder::new()
        .prefix("cs")
        .tempdir_in("/tmp")
        .unwrap();
    let data_dir = std::fs::canonicalize(temp.path()).unwrap();
    let _cleanup = Cleanup(data_dir.clone());
    let agent_dir = data_dir.join("agent");
    let images = agent_dir.join("images");
    std::fs::create_dir_all(&images).unwrap();
    let archive = images.join("pause.tar");
    std::fs::write(&archive, capstan_agent::images::pause_archive()).unwrap();

    let options = ContainerdOptions {
        agent_dir: agent_dir.clone(),
        sandbox_image: capstan_agent::images::PAUSE_IMAGE.into(),
        private_registry: None,
    };
    let started = Instant::now();
    let handle = containerd::start(&options, &tools).await.unwrap();
    eprintln!(
        "containerd answered in {} ms",
        started.elapsed().as_millis()
    );
    let socket = handle.socket().to_path_buf();
    assert_eq!(socket, agent_dir.join("containerd/containerd.sock"));

    // A second containerd of the same data dir is refused.
    let error = containerd::start(&options, &tools).await.err().unwrap();
    assert!(error.contains("already answers"), "{error}");

    let version = std::process::Command::new(&tools.ctr)
        .arg("--address")
        .arg(&socket)
        .arg("version")
        .output()
        .unwrap();
    assert!(version.status.success(), "{version:?}");
    assert!(String::from_utf8_lossy(&version.stdout).contains("Server:"));

    containerd::import_image_dir(&socket, &agent_dir).await;
    let names = containerd::import_image(&socket, &archive).await.unwrap();
    assert_eq!(names, [capstan_agent::images::PAUSE_IMAGE]);
    let missing = containerd::import_image(&socket, &images.join("none.tar")).await;
    assert!(missing.is_err());

    containerd::write_cni_config(&agent_dir, "10.42.0.0/24", true, None).unwrap();

    // A pod sandbox through CRI: a shim, runc state, mounts, a netns.
    let mut cri = capstan_agent::cri::CriClient::new(&socket);
    let logs = agent_dir.join("pods/default_sandbox");
    std::fs::create_dir_all(&logs).unwrap();
    // CRI picks the CNI config up a moment after it is written, and a
    // sandbox asked for before fails and keeps its name reserved: wait for
    // NetworkReady as the kubelet does.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = cri
            .runtime
            .status(cri::StatusRequest { verbose: false })
            .await
            .unwrap()
            .into_inner();
        let conditions = status
            .status
            .map(|status| status.conditions)
            .unwrap_or_default();
        if conditions
            .iter()
            .any(|c| c.r#type == "NetworkReady" && c.status)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "network not ready: {conditions:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let request = cri::RunPodSandboxRequest {
        config: Some(sandbox_config("sandbox", &logs)),
        runtime_handler: String::new(),
    };
    let sandbox = cri
        .runtime
        .run_pod_sandbox(request)
        .await
        .unwrap()
        .into_inner()
        .pod_sandbox_id;
    let status = cri
        .runtime
        .pod_sandbox_status(cri::PodSandboxStatusRequest {
            pod_sandbox_id: sandbox.clone(),
            verbose: false,
        })
        .await
        .unwrap()
        .into_inner()
        .status
        .unwrap();
    let ip = status.network.unwrap().ip;
    assert!(ip.starts_with("10.42.0."), "{ip}");
    assert!(agent_dir
        .join("containerd/runc/k8s.io")
        .join(&sandbox)
        .is_dir());
    let socket_text = socket.to_string_lossy().into_owned();
    // containerd 1.6's shim.SocketAddress.
    let shim_socket = {
        use sha2::Digest;
        let key = format!("{socket_text}/k8s.io/{sandbox}");
        let hash = sha2::Sha256::digest(key.as_bytes());
        let hex: String = hash.iter().map(|byte| format!("{byte:02x}")).collect();
        PathBuf::from("/run/containerd/s").join(hex)
    };
    assert!(shim_socket.exists(), "no {}", shim_socket.display());
    assert!(!processes_naming(&socket_text).is_empty());
    assert!(!mounts_under(&data_dir).is_empty());

    let log = std::fs::read_to_string(agent_dir.join("containerd/containerd.log")).unwrap();
    let errors: Vec<&str> = log
        .lines()
        .filter(|line| {
            line.contains("level=error") && !line.contains("failed to load cni during init")
        })
        .collect();
    assert!(
        errors.is_empty(),
        "errors in containerd.log:\n{}",
        errors.join("\n")
    );

    // As if the agent had crashed: containerd and the sandbox left running.
    let pid = handle.detach().unwrap();
    let report = tokio::task::spawn_blocking({
        let data_dir = data_dir.clone();
        move || containerd::killall(&data_dir)
    })
    .await
    .unwrap();
    eprintln!("killall:\n{report}");
    assert!(
        report.contains(&format!("stopped containerd (pid {pid})")),
        "{report}"
    );
    assert!(report.contains("deleted 1 container(s)"), "{report}");
    assert!(report.contains("killed 1 shim(s)"), "{report}");
    assert!(
        report.contains("removed 1 network namespace(s)"),
        "{report}"
    );
    assert!(processes_naming(&socket_text).is_empty());
    assert!(!shim_socket.exists(), "{} is left", shim_socket.display());
    assert!(processes_naming(
        &data_dir
            .join("agent/containerd/config.toml")
            .to_string_lossy()
    )
    .is_empty());
    assert_eq!(mounts_under(&data_dir), Vec::<String>::new());

    // Nothing is left for a second run.
    let again = containerd::killall(&data_dir);
    assert!(again.starts_with("nothing of "), "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containerd_started_again_after_dying_and_stopped() {
    if let Some(reason) = support::cannot_run_containers() {
        eprintln!("skipped: {reason}");
        return;
    }
    let tools = containerd::check_tools().unwrap();
    let temp = tempfile::Builder::new()
        .prefix("cs")
        .tempdir_in("/tmp")
        .unwrap();
    let _cleanup = Cleanup(temp.path().to_path_buf());
    let options = ContainerdOptions {
        agent_dir: temp.path().join("agent"),
        sandbox_image: capstan_agent::images::PAUSE_IMAGE.into(),
        private_registry: None,
    };
    let handle = containerd::start(&options, &tools).await.unwrap();
    let first = handle.pid().unwrap();
    // SAFETY: kill(2) has no memory effects.
    unsafe { libc::kill(first as i32, libc::SIGKILL) };
    let deadline = Instant::now() + Duration::from_secs(10);
    let second = loop {
        match handle.pid() {
            Some(pid) if pid != first && answers(handle.socket()).await => break pid,
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "containerd was not started again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    handle.stop().await;
    assert!(processes_naming(
        &temp
            .path()
            .join("agent/containerd/config.toml")
            .to_string_lossy()
    )
    .is_empty());
    assert!(!Path::new(&format!("/proc/{second}/status")).exists() || is_zombie(second));
}

async fn answers(socket: &Path) -> bool {
    tokio::net::UnixStream::connect(socket).await.is_ok()
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_default()
        .rsplit_once(") ")
        .is_some_and(|(_, rest)| rest.starts_with('Z'))
}

/// A registry over plain HTTP that wants Basic auth (capstan:secret) and
/// serves the pause image under any name but library/none; records the
/// requests it gets.
async fn http_registry() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let image = capstan_agent::images::pause_image();
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let image = image.clone();
            let log = log.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&request).into_owned();
                let mut words = text.split_whitespace();
                let method = words.next().unwrap_or("");
                // containerd adds `?ns=<registry>` for mirrors.
                let path = words.next().unwrap_or("").split('?').next().unwrap_or("");
                let authorized = text.contains("Authorization: Basic Y2Fwc3RhbjpzZWNyZXQ=");
                log.lock()
                    .unwrap()
                    .push(format!("{method} {path} auth={authorized}"));
                let manifest_type = "application/vnd.oci.image.manifest.v1+json";
                let (status, content_type, digest, body): (&str, &str, String, Vec<u8>) =
                    if !authorized {
                        (
                            "401 Unauthorized",
                            "text/plain",
                            String::new(),
                            b"no".to_vec(),
                        )
                    } else if path == "/v2/" {
                        ("200 OK", "application/json", String::new(), b"{}".to_vec())
                    } else if path.starts_with("/v2/library/none/") {
                        ("404 Not Found", "text/plain", String::new(), b"no".to_vec())
                    } else if path.contains("/manifests/") {
                        (
                            "200 OK",
                            manifest_type,
                            image.manifest_digest.clone(),
                            image.manifest_json.clone(),
                        )
                    } else if let Some((digest, blob)) = image
                        .blobs()
                        .into_iter()
                        .find(|(digest, _)| path.ends_with(&format!("/blobs/{digest}")))
                    {
                        (
                            "200 OK",
                            "application/octet-stream",
                            digest.to_string(),
                            blob.to_vec(),
                        )
                    } else {
                        ("404 Not Found", "text/plain", String::new(), b"no".to_vec())
                    };
                let mut head = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
                    body.len()
                );
                if !digest.is_empty() {
                    head.push_str(&format!("Docker-Content-Digest: {digest}\r\n"));
                }
                if !authorized {
                    head.push_str("WWW-Authenticate: Basic realm=\"capstan\"\r\n");
                }
                head.push_str("\r\n");
                let _ = stream.write_all(head.as_bytes()).await;
                if method != "HEAD" {
                    let _ = stream.write_all(&body).await;
                }
                let _ = stream.shutdown().await;
            });
        }
    });
    (port, seen)
}

/// registries.yaml: a mirror over plain HTTP, with auth from `configs`
/// keyed by the endpoint's host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_through_a_plain_http_mirror_with_auth() {
    if let Some(reason) = support::cannot_run_containers() {
        eprintln!("skipped: {reason}");
        return;
    }
    let tools = containerd::check_tools().unwrap();
    let (port, seen) = http_registry().await;
    let temp = tempfile::Builder::new()
        .prefix("cs")
        .tempdir_in("/tmp")
        .unwrap();
    let _cleanup = Cleanup(temp.path().to_path_buf());
    let registries = temp.path().join("registries.yaml");
    std::fs::write(
        &registries,
        format!(
            "mirrors:\n  registry.capstan.test:\n    endpoint: [\"http://127.0.0.1:{port}\"]\n\
             \x20 \"*\":\n    endpoint: [\"http://127.0.0.1:{port}\"]\n\
             \x20 \"127.0.0.1:{port}\":\n    endpoint: [\"http://127.0.0.1:{port}\"]\n\
             configs:\n  \"127.0.0.1:{port}\":\n    auth: {{username: capstan, password: secret}}\n"
        ),
    )
    .unwrap();
    let options = ContainerdOptions {
        agent_dir: temp.path().join("agent"),
        sandbox_image: capstan_agent::images::PAUSE_IMAGE.into(),
        private_registry: Some(registries),
    };
    let handle = containerd::start(&options, &tools).await.unwrap();
    let mut cri = capstan_agent::cri::CriClient::new(handle.socket());
    let image = "registry.capstan.test/library/pause:1";
    let pulled = cri
        .images
        .pull_image(cri::PullImageRequest {
            image: Some(cri::ImageSpec {
                image: image.into(),
                ..cri::ImageSpec::default()
            }),
            auth: None,
            sandbox_config: None,
        })
        .await;
    let seen = seen.lock().unwrap().clone();
    let pulled = pulled.unwrap_or_else(|status| panic!("{status:?}; the registry saw {seen:?}"));
    assert_eq!(
        pulled.into_inner().image_ref,
        capstan_agent::images::pause_image().config_digest
    );
    assert!(
        seen.contains(&"GET /v2/library/pause/manifests/1 auth=true".to_string())
            || seen.contains(&"HEAD /v2/library/pause/manifests/1 auth=true".to_string()),
        "{seen:?}"
    );
    // Mirror `*`: certs.d/_default, for registries without a folder.
    let everything = cri
        .images
        .pull_image(cri::PullImageRequest {
            image: Some(cri::ImageSpec {
                image: "nowhere.capstan.test/library/pause:2".into(),
                ..cri::ImageSpec::default()
            }),
            auth: None,
            sandbox_config: None,
        })
        .await;
    assert!(everything.is_ok(), "{everything:?}");
    // The registry itself over plain HTTP (k3s's recipe): a missing image
    // fails at once, with no HTTPS tried after the HTTP 404.
    let started = Instant::now();
    let missing = cri
        .images
        .pull_image(cri::PullImageRequest {
            image: Some(cri::ImageSpec {
                image: format!("127.0.0.1:{port}/library/none:1"),
                ..cri::ImageSpec::default()
            }),
            auth: None,
            sandbox_config: None,
        })
        .await;
    assert!(missing.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    handle.stop().await;
}
