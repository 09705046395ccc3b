//! Scheduler throughput: N Node objects and M pods created through the API
//! of a fresh `capstan server`, timed until a watch has seen every pod
//! bound (scheduling only: no node runs the pods).
//!
//! Run with `cargo bench -p capstan --bench scheduler`; `-- --nodes N
//! --pods M` changes the sizes (default 1,000 nodes and 10,000 pods).
//! Progress goes to stderr, a markdown table to stdout.

#[path = "measure.rs"]
mod measure;

use std::collections::{BTreeMap, HashSet};
use std::error::Error;
use std::path::Path;
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::api::{Api, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher::{self, watcher, Event};
use serde_json::json;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::timeout;

type Res<T> = Result<T, Box<dyn Error>>;

const DEFAULT_NODES: usize = 1_000;
const DEFAULT_PODS: usize = 10_000;
/// Requests in flight while creating nodes and pods.
const CLIENTS: usize = 64;
const NAMESPACE: &str = "bench";
const START_LIMIT: Duration = Duration::from_secs(30);
const SCHEDULE_LIMIT: Duration = Duration::from_secs(120);
const TOTAL_LIMIT: Duration = Duration::from_secs(5 * 60);
/// The target, end to end at 1,000 nodes.
const TARGET_PODS_PER_SECOND: f64 = 1_000.0;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|arg| arg == "--list") {
        return ExitCode::SUCCESS;
    }
    if !args.iter().any(|arg| arg == "--bench") {
        println!("scheduler: a load benchmark; run `cargo bench -p capstan --bench scheduler`");
        return ExitCode::SUCCESS;
    }
    let number = |flag: &str, default: usize| -> usize {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (nodes, pods) = (
        number("--nodes", DEFAULT_NODES),
        number("--pods", DEFAULT_PODS),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(async { timeout(TOTAL_LIMIT, run(nodes, pods)).await }) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(error)) => {
            eprintln!("scheduler bench failed: {error}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("scheduler bench: gave up after {TOTAL_LIMIT:?}");
            ExitCode::FAILURE
        }
    }
}

async fn run(node_count: usize, pod_count: usize) -> Res<()> {
    let dir = tempfile::Builder::new()
        .prefix("capstan-sched-bench-")
        .tempdir()?;
    let server = Server::start(dir.path()).await?;
    let client = client(dir.path()).await?;
    let mut namespace = Namespace::default();
    namespace.metadata.name = Some(NAMESPACE.into());
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await?;

    let started = Instant::now();
    let nodes: Api<Node> = Api::all(client.clone());
    create_all(node_count, |i| {
        let nodes = nodes.clone();
        async move {
            nodes
                .create(&PostParams::default(), &node(i))
                .await
                .map(|_| ())
        }
    })
    .await?;
    eprintln!(
        "{node_count} nodes created in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // Let the scheduler's node watch catch up before the clock starts.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let bound = tokio::spawn(wait_all_bound(pods.clone(), pod_count));
    let cpu_before = server.cpu();
    let first_create = Instant::now();
    create_all(pod_count, |i| {
        let pods = pods.clone();
        async move {
            pods.create(&PostParams::default(), &pod(i))
                .await
                .map(|_| ())
        }
    })
    .await?;
    let created = first_create.elapsed();
    eprintln!(
        "{pod_count} pods created in {:.2} s ({:.0}/s)",
        created.as_secs_f64(),
        pod_count as f64 / created.as_secs_f64()
    );
    let all_bound = timeout(SCHEDULE_LIMIT, bound)
        .await
        .map_err(|_| "not every pod was bound in time")???;
    let elapsed = all_bound.duration_since(first_create);
    let server_cpu = server.cpu().saturating_sub(cpu_before);
    let rss = server.rss_mb();
    let rate = pod_count as f64 / elapsed.as_secs_f64();
    let (least, most) = spread(&pods).await?;

    println!("\n| figure | value | target | verdict |\n| --- | --- | --- | --- |");
    println!(
        "| scheduling throughput, {pod_count} pods onto {node_count} nodes (first create to last bind seen) \
         | {rate:.0} pods/s ({:.2} s) | ≥ {TARGET_PODS_PER_SECOND:.0} pods/s | {} |",
        elapsed.as_secs_f64(),
        if rate >= TARGET_PODS_PER_SECOND { "met" } else { "**not met**" }
    );
    println!(
        "| pod creation alone | {:.0} pods/s ({CLIENTS} clients) | | |",
        pod_count as f64 / created.as_secs_f64()
    );
    println!(
        "| last bind seen after the last create | {:.0} ms | | |",
        (elapsed.saturating_sub(created)).as_secs_f64() * 1000.0
    );
    println!(
        "| server CPU per pod (API server, scheduler, events) | {:.2} ms | | |",
        server_cpu.as_secs_f64() * 1000.0 / pod_count as f64
    );
    println!("| pods per node | {least} to {most} | | |");
    println!("| server RSS after scheduling | {rss:.1} MB | | |");
    server.stop().await;
    Ok(())
}

/// Runs `count` creates, `CLIENTS` at a time.
async fn create_all<F, Fut>(count: usize, create: F) -> Res<()>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<(), kube::Error>> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(CLIENTS));
    let mut tasks = JoinSet::new();
    for i in 0..count {
        let permit = slots.clone().acquire_owned().await?;
        let future = create(i);
        tasks.spawn(async move {
            let result = future.await;
            drop(permit);
            result
        });
        while let Some(done) = tasks.try_join_next() {
            done??;
        }
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

/// Watches the namespace until `count` pods have a node; when that was.
async fn wait_all_bound(pods: Api<Pod>, count: usize) -> Result<Instant, String> {
    let mut bound: HashSet<String> = HashSet::new();
    let mut stream = std::pin::pin!(watcher(pods, watcher::Config::default()));
    while let Some(event) = stream.next().await {
        let pod = match event.map_err(|e| e.to_string())? {
            Event::Apply(pod) | Event::InitApply(pod) => pod,
            _ => continue,
        };
        if pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_ref())
            .is_some()
        {
            bound.insert(pod.metadata.name.unwrap_or_default());
            if bound.len() >= count {
                return Ok(Instant::now());
            }
        }
    }
    Err("the pod watch ended".into())
}

/// The fewest and most pods on a node.
async fn spread(pods: &Api<Pod>) -> Res<(usize, usize)> {
    let mut per_node: BTreeMap<String, usize> = BTreeMap::new();
    for pod in pods.list(&ListParams::default()).await? {
        if let Some(node) = pod.spec.and_then(|s| s.node_name) {
            *per_node.entry(node).or_default() += 1;
        }
    }
    let least = per_node.values().min().copied().unwrap_or(0);
    let most = per_node.values().max().copied().unwrap_or(0);
    Ok((least, most))
}

fn node(i: usize) -> Node {
    let name = format!("node-{i:05}");
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name,
            "topology.kubernetes.io/zone": format!("zone-{}", i % 3),
        }},
        "status": {
            "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
            "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"},
        },
    }))
    .expect("a node")
}

fn pod(i: usize) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": format!("pod-{i:05}"), "labels": {"app": format!("app-{}", i % 20)}},
        "spec": {"containers": [{"name": "app", "image": "registry.example/app:1",
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]},
    }))
    .expect("a pod")
}

async fn client(data_dir: &Path) -> Res<kube::Client> {
    let kubeconfig = Kubeconfig::read_from(data_dir.join("admin.kubeconfig"))?;
    let config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    Ok(kube::Client::try_from(config)?)
}

/// A `capstan server` child on a free loopback port.
struct Server {
    child: tokio::process::Child,
    pid: u32,
}

impl Server {
    async fn start(data_dir: &Path) -> Res<Server> {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_capstan"))
            .arg("server")
            .arg("--data-dir")
            .arg(data_dir)
            .args([
                "--disable-agent",
                "--bind-address",
                "127.0.0.1",
                "--https-port",
                "0",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id().ok_or("no pid")?;
        measure::server_ready(&mut child, START_LIMIT, "").await?;
        Ok(Server { child, pid })
    }

    /// User plus system CPU time of the server so far.
    fn cpu(&self) -> Duration {
        measure::process_cpu(self.pid)
    }

    fn rss_mb(&self) -> f64 {
        measure::memory_mb(self.pid, "VmRSS")
    }

    async fn stop(mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        if timeout(Duration::from_secs(20), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}
