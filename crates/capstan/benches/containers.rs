//! Pod start latency with real containers: `capstan server` with this
//! machine's agent (containerd, runc, CNI), busybox from a registry on
//! loopback. Measures creation until every container started, as a
//! watch sees it, for 1 pod at a time and for 30 pods created at once,
//! and the memory of the server, containerd and the shims with 30 pods.
//!
//! `cargo bench -p capstan --bench containers` (as root, with containerd,
//! runc and containernetworking-plugins installed). With `-- --agent`
//! the node is a `capstan agent` process of its own, joined to a server
//! started with `--disable-agent`, so that the agent's memory and CPU
//! can be read apart from the control plane's.

#[path = "../tests/support/images.rs"]
#[allow(dead_code)]
mod images;
#[path = "measure.rs"]
mod measure;

use std::collections::HashMap;
use std::error::Error;
use std::path::Path;
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher::{self, Event};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::time::timeout;

type Res<T> = Result<T, Box<dyn Error>>;

const SINGLE_ROUNDS: usize = 10;
const BATCH: usize = 30;
const LIMIT: Duration = Duration::from_secs(120);

fn main() -> ExitCode {
    if !Path::new("/usr/bin/containerd").exists() {
        eprintln!("containerd is not installed: apt-get install containerd runc containernetworking-plugins");
        return ExitCode::FAILURE;
    }
    let runtime = tokio::runtime::Runtime::new().expect("tokio");
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("containers bench failed: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Res<()> {
    let registry = images::Registry::start();
    registry.push("busybox", "bench", &images::busybox_image());
    let image = registry.reference("busybox", "bench");
    let data = tempfile::Builder::new()
        .prefix("capstan-bench-")
        .tempdir()?;
    let registries = data.path().join("registries.yaml");
    let host = registry.host();
    std::fs::write(
        &registries,
        format!("mirrors:\n  \"{host}\":\n    endpoint:\n      - \"http://{host}\"\n"),
    )?;
    let separate_agent = std::env::args().any(|a| a == "--agent");
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_capstan"));
    server
        .arg("server")
        .arg("--data-dir")
        .arg(data.path())
        .args(["--bind-address", "127.0.0.1", "--https-port", "0"])
        .args(["--node-name", "bench"]);
    if separate_agent {
        server.arg("--disable-agent");
    }
    let mut server = server
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()?;
    let pid = server.id().ok_or("no pid")?;
    let mut lines = BufReader::new(server.stdout.take().ok_or("no stdout")?).lines();
    let url = timeout(LIMIT, async {
        while let Some(line) = lines.next_line().await? {
            if let Some((_, url)) = line.split_once("ready at ") {
                // "ready at https://ADDRESS in N ms"
                return Ok(url
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string());
            }
        }
        Err::<String, Box<dyn Error>>("capstan server exited".into())
    })
    .await
    .map_err(|_| "capstan server did not become ready")??;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    // The node: the server's own agent, or a `capstan agent` joined to it.
    let agent_dir = data.path().join("node");
    let mut agent = None;
    if separate_agent {
        std::fs::create_dir_all(&agent_dir)?;
        std::fs::copy(&registries, agent_dir.join("registries.yaml"))?;
        agent = Some(
            tokio::process::Command::new(env!("CARGO_BIN_EXE_capstan"))
                .arg("agent")
                .args(["--server", &url])
                .arg("--token-file")
                .arg(data.path().join("node-token"))
                .arg("--data-dir")
                .arg(&agent_dir)
                .args(["--node-name", "bench"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .kill_on_drop(true)
                .spawn()?,
        );
    }
    let agent_pid = agent.as_ref().and_then(|a| a.id());

    let result = measure(data.path(), &image, pid, agent_pid).await;
    if let Some(mut agent) = agent {
        if let Some(agent_pid) = agent_pid {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &agent_pid.to_string()])
                .status();
        }
        let _ = timeout(Duration::from_secs(20), agent.wait()).await;
        let _ = std::process::Command::new(env!("CARGO_BIN_EXE_capstan"))
            .arg("killall")
            .arg("--data-dir")
            .arg(&agent_dir)
            .output();
    }
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = timeout(Duration::from_secs(20), server.wait()).await;
    let _ = std::process::Command::new(env!("CARGO_BIN_EXE_capstan"))
        .arg("killall")
        .arg("--data-dir")
        .arg(data.path())
        .output();
    result
}

async fn measure(data_dir: &Path, image: &str, pid: u32, agent_pid: Option<u32>) -> Res<()> {
    let kubeconfig = Kubeconfig::read_from(data_dir.join("admin.kubeconfig"))?;
    let config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    let client = kube::Client::try_from(config)?;
    wait_node_ready(Api::all(client.clone())).await?;
    let pods: Api<Pod> = Api::namespaced(client, "default");

    // Warm: the image is pulled once, as on a node that has it.
    start_pods(&pods, image, "warm", 1).await?;
    delete_all(&pods).await?;

    let mut single = Vec::new();
    for round in 0..SINGLE_ROUNDS {
        single.extend(start_pods(&pods, image, &format!("one-{round}"), 1).await?);
        delete_all(&pods).await?;
    }
    let agent_cpu_now = || agent_pid.map(measure::process_cpu).unwrap_or_default();
    // containerd itself (not its shims): what the agent's CRI calls cost it.
    let containerd_cpu_now = || -> Duration {
        pids_of("containerd --config")
            .into_iter()
            .map(measure::process_cpu)
            .sum()
    };
    let (server_before, agent_before, containerd_before, machine_before) = (
        measure::process_cpu(pid),
        agent_cpu_now(),
        containerd_cpu_now(),
        measure::machine_busy(),
    );
    let mut batch = start_pods(&pods, image, "batch", BATCH).await?;
    batch.sort();
    let server_cpu = measure::process_cpu(pid).saturating_sub(server_before);
    let agent_cpu = agent_cpu_now().saturating_sub(agent_before);
    let containerd_cpu = containerd_cpu_now().saturating_sub(containerd_before);
    let machine_cpu = measure::machine_busy().saturating_sub(machine_before);
    // Let the agent settle before reading memory.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let server_mb = measure::memory_mb(pid, "VmRSS");
    // The agent's resident memory, and how much of it is its own (heap,
    // stacks) rather than pages mapped from files (the capstan executable
    // above all), which the page cache shares with every capstan process.
    let agent_mb = agent_pid.map(|p| {
        (
            measure::memory_mb(p, "VmRSS"),
            measure::memory_mb(p, "RssAnon"),
            measure::memory_mb(p, "RssFile"),
        )
    });
    let containerd_mb: f64 = pids_of("containerd --config")
        .iter()
        .map(|p| measure::memory_mb(*p, "VmRSS"))
        .sum();
    let shims = pids_of("containerd-shim-runc-v2");
    let shims_mb: f64 = shims.iter().map(|p| measure::memory_mb(*p, "VmRSS")).sum();
    delete_all(&pods).await?;
    single.sort();

    println!("machine: {} CPUs, {}", cpus(), measure::cpu_model());
    println!(
        "1 pod at a time ({SINGLE_ROUNDS} rounds): p50 {:.0} ms, p99 {:.0} ms",
        measure::ms(measure::quantile(&single, 0.5)),
        measure::ms(measure::quantile(&single, 0.99))
    );
    println!(
        "{BATCH} pods at once: p50 {:.0} ms, p99 {:.0} ms",
        measure::ms(measure::quantile(&batch, 0.5)),
        measure::ms(measure::quantile(&batch, 0.99))
    );
    println!(
        "CPU while {BATCH} pods started: capstan server {:.2} s{}, containerd {:.2} s, everything else (shims, runc, CNI, this bench) {:.2} s",
        server_cpu.as_secs_f64(),
        agent_pid.map_or(String::new(), |_| format!(", capstan agent {:.2} s", agent_cpu.as_secs_f64())),
        containerd_cpu.as_secs_f64(),
        machine_cpu
            .saturating_sub(server_cpu)
            .saturating_sub(agent_cpu)
            .saturating_sub(containerd_cpu)
            .as_secs_f64()
    );
    println!(
        "memory with {BATCH} pods: capstan server {server_mb:.1} MB{}, containerd {containerd_mb:.1} MB, {} shims {shims_mb:.1} MB",
        agent_mb.map_or(String::new(), |(rss, anon, file)| format!(
            ", capstan agent {rss:.1} MB ({anon:.1} MB anonymous, {file:.1} MB mapped from files)"
        )),
        shims.len()
    );
    Ok(())
}

/// Creates `count` pods at once and returns, per pod, the time from its
/// creation until a watch saw all its containers started.
async fn start_pods(
    pods: &Api<Pod>,
    image: &str,
    prefix: &str,
    count: usize,
) -> Res<Vec<Duration>> {
    let selector = format!("bench={prefix}");
    let config = watcher::Config::default().labels(&selector);
    let mut events = Box::pin(watcher::watcher(pods.clone(), config));
    // The watch is established before the first create.
    while let Some(event) = events.try_next().await? {
        if matches!(event, Event::InitDone) {
            break;
        }
    }
    let mut created = HashMap::new();
    let creates = (0..count).map(|i| {
        let name = format!("{prefix}-{i}");
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {"bench": prefix}},
            "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
                "name": "main", "image": image, "command": ["sleep", "3600"]}]}
        }))
        .expect("pod");
        async move {
            let at = Instant::now();
            pods.create(&PostParams::default(), &pod)
                .await
                .map(|_| (name, at))
        }
    });
    for result in futures_util::future::join_all(creates).await {
        let (name, at) = result?;
        created.insert(name, at);
    }
    let mut started = HashMap::new();
    timeout(LIMIT, async {
        while started.len() < count {
            let Some(event) = events.next().await else {
                break;
            };
            if let Ok(Event::Apply(pod) | Event::InitApply(pod)) = event {
                let name = pod.metadata.name.clone().unwrap_or_default();
                if all_started(&pod) && !started.contains_key(&name) {
                    started.insert(name, Instant::now());
                }
            }
        }
    })
    .await
    .map_err(|_| format!("{prefix}: pods did not start within {LIMIT:?}"))?;
    Ok(started
        .iter()
        .filter_map(|(name, at)| Some(*at - *created.get(name)?))
        .collect())
}

fn all_started(pod: &Pod) -> bool {
    let statuses = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref());
    statuses.is_some_and(|all| !all.is_empty() && all.iter().all(|c| c.started == Some(true)))
}

async fn delete_all(pods: &Api<Pod>) -> Res<()> {
    pods.delete_collection(&DeleteParams::default(), &Default::default())
        .await?;
    timeout(LIMIT, async {
        loop {
            if pods
                .list(&Default::default())
                .await
                .map(|l| l.items.is_empty())
                .unwrap_or(false)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .map_err(|_| "pods were not deleted in time")?;
    Ok(())
}

async fn wait_node_ready(nodes: Api<Node>) -> Res<()> {
    timeout(LIMIT, async {
        loop {
            let ready = nodes
                .get_opt("bench")
                .await
                .ok()
                .flatten()
                .is_some_and(|n| {
                    n.status
                        .and_then(|s| s.conditions)
                        .into_iter()
                        .flatten()
                        .any(|c| c.type_ == "Ready" && c.status == "True")
                });
            if ready {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .map_err(|_| "the node did not become Ready")?;
    Ok(())
}

fn pids_of(pattern: &str) -> Vec<u32> {
    let output = std::process::Command::new("pgrep")
        .args(["-f", pattern])
        .output();
    output
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
