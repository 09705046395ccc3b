//! Workloads end to end on hollow nodes: a fresh `capstan server
//! --sim-nodes N` (API server, controller manager, scheduler and N hollow
//! nodes in one process) driven through the API like a user would.
//!
//! 1. A Deployment of M replicas, from its creation until it reports M
//!    ready replicas; scheduling alone from the first to the last bind a
//!    pod watch sees; server RSS.
//! 2. After the Deployment is deleted and its pods are gone, bare pods
//!    created at a steady 100 pods/s for 20 s on the same nodes, each
//!    timed from its create call returning until a pod watch sees it
//!    Running and Ready.
//!
//! Run with `cargo bench -p capstan --bench workloads`; `-- --nodes N
//! --replicas M` changes the sizes (default 1,000 nodes and 10,000
//! replicas; the issue's larger run is `--nodes 5000 --replicas 30000`).
//! `-- --log FILE` keeps the server's stderr in FILE. `-- --hollow-process`
//! runs the hollow nodes as a separate `capstan sim` process instead, as
//! upstream's kubemark does, so the server's figures are the control
//! plane's alone; that process's RSS and CPU are reported apart. Progress
//! goes to stderr, a markdown table to stdout.

#[path = "measure.rs"]
mod measure;
#[path = "workloads/processes.rs"]
mod processes;

use measure::{cpu_model, load_average, machine_busy, ms, process_cpu, quantile};
use processes::{client, log_summary, Hollow, Server};
use std::collections::{HashMap, HashSet};
use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::api::{Api, DeleteParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher::{self, watcher, Event};
use serde_json::json;
use tokio::task::JoinSet;
use tokio::time::timeout;

type Res<T> = Result<T, Box<dyn Error>>;

const DEFAULT_NODES: usize = 1_000;
const DEFAULT_REPLICAS: usize = 10_000;
/// Every hollow node gets a podCIDR out of this (the default /16 has
/// room for 256 nodes only).
const CLUSTER_CIDR: &str = "10.0.0.0/8";
const NAMESPACE: &str = "bench";
const LATENCY_NAMESPACE: &str = "latency";
const DEPLOYMENT: &str = "web";
/// The steady rate of bare pod creates, and for how long.
const LATENCY_RATE: u32 = 100;
const LATENCY_DURATION: Duration = Duration::from_secs(20);
const START_LIMIT: Duration = Duration::from_secs(60);
/// After the last bare pod is created, how long the rest may take.
const LATENCY_DRAIN_LIMIT: Duration = Duration::from_secs(60);
const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// The issue's targets.
const TARGET_PODS_PER_SECOND: f64 = 1_000.0;
const TARGET_P99: Duration = Duration::from_secs(1);
const TARGET_RSS_MB: f64 = 1_000.0;

/// How long each wait may take, from the sizes.
struct Limits {
    nodes_ready: Duration,
    deployment_ready: Duration,
    pods_gone: Duration,
}

impl Limits {
    fn new(nodes: usize, replicas: usize) -> Limits {
        let per = |base: u64, count: usize, millis: u64| {
            Duration::from_secs(base) + Duration::from_millis(count as u64 * millis)
        };
        Limits {
            nodes_ready: per(30, nodes, 30),
            deployment_ready: per(60, replicas, 10),
            pods_gone: per(60, replicas, 10),
        }
    }

    fn total(&self) -> Duration {
        START_LIMIT
            + self.nodes_ready
            + self.deployment_ready
            + self.pods_gone
            + LATENCY_DURATION
            + LATENCY_DRAIN_LIMIT
            + Duration::from_secs(60)
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|arg| arg == "--list") {
        return ExitCode::SUCCESS;
    }
    if !args.iter().any(|arg| arg == "--bench") {
        println!("workloads: a load benchmark; run `cargo bench -p capstan --bench workloads`");
        return ExitCode::SUCCESS;
    }
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
    };
    let number = |flag: &str, default: usize| -> usize {
        value(flag).and_then(|v| v.parse().ok()).unwrap_or(default)
    };
    let (nodes, replicas) = (
        number("--nodes", DEFAULT_NODES),
        number("--replicas", DEFAULT_REPLICAS),
    );
    let log = value("--log").map(PathBuf::from);
    let hollow_process = args.iter().any(|arg| arg == "--hollow-process");
    let limits = Limits::new(nodes, replicas);
    let total = limits.total();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let run = run(nodes, replicas, limits, log, hollow_process);
    match runtime.block_on(async { timeout(total, run).await }) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(error)) => {
            eprintln!("workloads bench failed: {error}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("workloads bench: gave up after {total:?}");
            ExitCode::FAILURE
        }
    }
}

/// The rows of the table printed at the end.
#[derive(Default)]
struct Figures(Vec<String>);

impl Figures {
    fn add(&mut self, name: &str, value: String, target: &str, met: Option<bool>) {
        let verdict = match met {
            Some(true) => "met",
            Some(false) => "**not met**",
            None => "",
        };
        let row = format!("| {name} | {value} | {target} | {verdict} |");
        eprintln!("{row}");
        self.0.push(row);
    }
}

async fn run(
    nodes: usize,
    replicas: usize,
    limits: Limits,
    log: Option<PathBuf>,
    hollow_process: bool,
) -> Res<()> {
    let load_before = load_average();
    let machine_before = machine_busy();
    let bench_before = process_cpu(std::process::id());
    eprintln!("load average at start: {load_before}");
    let dir = tempfile::Builder::new()
        .prefix("capstan-workloads-bench-")
        .tempdir()?;
    let log = log.unwrap_or_else(|| dir.path().join("server.log"));
    let server = Server::start(dir.path(), nodes, &log, hollow_process).await?;
    let hollow = match hollow_process {
        true => Some(Hollow::start(dir.path(), nodes)?),
        false => None,
    };
    let hollow_cpu = || hollow.as_ref().map_or(Duration::ZERO, Hollow::cpu);
    let run_started = Instant::now();
    let client = client(dir.path()).await?;
    let mut figures = Figures::default();

    // All hollow nodes Ready.
    let started = Instant::now();
    wait_nodes_ready(Api::all(client.clone()), nodes, limits.nodes_ready).await?;
    figures.add(
        &format!("{nodes} hollow nodes Ready after the API server was ready"),
        format!("{:.1} s", started.elapsed().as_secs_f64()),
        "",
        None,
    );
    figures.add(
        "server RSS with the nodes Ready",
        format!("{:.0} MB", server.rss_mb("VmRSS")),
        "",
        None,
    );
    for name in [NAMESPACE, LATENCY_NAMESPACE] {
        let mut namespace = Namespace::default();
        namespace.metadata.name = Some(name.into());
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &namespace)
            .await?;
    }
    // Let the scheduler's and the controllers' watches settle.
    tokio::time::sleep(Duration::from_secs(2)).await;

    // 1. The Deployment.
    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NAMESPACE);
    let progress = Arc::new(Progress::default());
    let binds = tokio::spawn(watch_binds(pods.clone(), replicas, progress.clone()));
    let ready = tokio::spawn(watch_ready_replicas(
        deployments.clone(),
        replicas,
        progress.clone(),
    ));
    let reporter = tokio::spawn(report_progress(progress.clone(), replicas));
    let cpu_before = server.cpu();
    let hollow_cpu_before = hollow_cpu();
    let bench_cpu_before = process_cpu(std::process::id());
    let created_at = Instant::now();
    deployments
        .create(&PostParams::default(), &deployment(replicas))
        .await?;
    let all_ready = timeout(limits.deployment_ready, ready).await;
    reporter.abort();
    let all_ready = all_ready.map_err(|_| {
        format!(
            "the Deployment did not report {replicas} ready replicas within {:?} \
             ({} pods seen, {} bound, {} ready replicas)",
            limits.deployment_ready,
            progress.seen.load(Ordering::Relaxed),
            progress.bound.load(Ordering::Relaxed),
            progress.ready.load(Ordering::Relaxed),
        )
    })???;
    let binds = timeout(Duration::from_secs(10), binds)
        .await
        .map_err(|_| "the pod watch did not see every pod bound")???;
    let server_cpu = server.cpu().saturating_sub(cpu_before);
    let hollow_rollout_cpu = hollow_cpu().saturating_sub(hollow_cpu_before);
    let bench_cpu = process_cpu(std::process::id()).saturating_sub(bench_cpu_before);
    let end_to_end = all_ready.duration_since(created_at);
    let rate = replicas as f64 / end_to_end.as_secs_f64();
    figures.add(
        &format!(
            "Deployment of {replicas} replicas on {nodes} nodes, \
             create until readyReplicas = {replicas}"
        ),
        format!("{rate:.0} pods/s ({:.2} s)", end_to_end.as_secs_f64()),
        &format!("≥ {TARGET_PODS_PER_SECOND:.0} pods/s"),
        Some(rate >= TARGET_PODS_PER_SECOND),
    );
    let span = binds.last.duration_since(binds.first);
    figures.add(
        "scheduling only, first to last bind seen by a pod watch",
        format!(
            "{:.0} pods/s ({:.2} s)",
            replicas as f64 / span.as_secs_f64(),
            span.as_secs_f64()
        ),
        "",
        None,
    );
    let creating = binds.last_seen.duration_since(binds.first_seen);
    figures.add(
        "pod creation by the ReplicaSet controller, first to last pod seen by the watch",
        format!(
            "{:.0} pods/s ({:.2} s)",
            replicas as f64 / creating.as_secs_f64(),
            creating.as_secs_f64()
        ),
        "",
        None,
    );
    figures.add(
        "scheduling delay per pod, first seen until seen bound: p50 / p99 / max",
        format!(
            "{:.0} / {:.0} / {:.0} ms",
            ms(quantile(&binds.lags, 0.50)),
            ms(quantile(&binds.lags, 0.99)),
            ms(binds.lags.last().copied().unwrap_or_default())
        ),
        "",
        None,
    );
    figures.add(
        "first pod seen, first bind, last bind (after the Deployment create)",
        format!(
            "{:.0} ms, {:.0} ms, {:.0} ms",
            ms(binds.first_seen.duration_since(created_at)),
            ms(binds.first.duration_since(created_at)),
            ms(binds.last.duration_since(created_at)),
        ),
        "",
        None,
    );
    figures.add(
        "server CPU per pod during the rollout",
        format!(
            "{:.2} ms ({:.1} s in all, {:.2} cores)",
            ms(server_cpu) / replicas as f64,
            server_cpu.as_secs_f64(),
            server_cpu.as_secs_f64() / end_to_end.as_secs_f64()
        ),
        "",
        None,
    );
    if hollow.is_some() {
        figures.add(
            "hollow nodes' process CPU per pod during the rollout",
            format!("{:.2} ms", ms(hollow_rollout_cpu) / replicas as f64),
            "",
            None,
        );
    }
    figures.add(
        "bench CPU during the rollout (its watches)",
        format!("{:.1} s", bench_cpu.as_secs_f64()),
        "",
        None,
    );
    let rss = server.rss_mb("VmRSS");
    let at_issue_size = nodes >= 5_000 && replicas >= 30_000;
    figures.add(
        &format!("server RSS with {replicas} pods ready on {nodes} nodes"),
        format!("{rss:.0} MB (peak {:.0} MB)", server.rss_mb("VmHWM")),
        "≤ 1 GB at 5,000 nodes and 30,000 pods",
        at_issue_size.then_some(rss <= TARGET_RSS_MB),
    );
    if let Some(hollow) = &hollow {
        figures.add(
            &format!(
                "hollow nodes' process (`capstan sim`) RSS with {replicas} pods on {nodes} nodes"
            ),
            format!("{:.0} MB", measure::memory_mb(hollow.pid, "VmRSS")),
            "",
            None,
        );
    }

    // The Deployment away, and every one of its pods gone.
    let started = Instant::now();
    deployments
        .delete(DEPLOYMENT, &DeleteParams::background())
        .await?;
    wait_pods_gone(pods.clone(), limits.pods_gone).await?;
    figures.add(
        &format!("Deployment delete until all {replicas} pods are gone"),
        format!("{:.1} s", started.elapsed().as_secs_f64()),
        "",
        None,
    );

    // 2. Bare pods at a steady rate.
    let latency = pod_start_latency(
        Api::namespaced(client.clone(), LATENCY_NAMESPACE),
        LATENCY_RATE,
        LATENCY_DURATION,
    )
    .await?;
    let p99_met = latency.p99 <= TARGET_P99;
    figures.add(
        &format!(
            "pod start latency, {} bare pods at {LATENCY_RATE} pods/s on the same {nodes} nodes \
             (create returned until a watch sees Running and Ready): p50 / p99 / max",
            latency.count
        ),
        format!(
            "{:.0} / {:.0} / {:.0} ms",
            ms(latency.p50),
            ms(latency.p99),
            ms(latency.max)
        ),
        "p99 ≤ 1 s",
        Some(p99_met),
    );
    figures.add(
        "create call latency of those pods: p50 / p99",
        format!(
            "{:.1} / {:.1} ms",
            ms(latency.create_p50),
            ms(latency.create_p99)
        ),
        "",
        None,
    );
    figures.add(
        "rate achieved",
        format!("{:.1} pods/s", latency.rate),
        "",
        None,
    );
    figures.add(
        "server RSS at the end",
        format!(
            "{:.0} MB (peak {:.0} MB)",
            server.rss_mb("VmRSS"),
            server.rss_mb("VmHWM")
        ),
        "",
        None,
    );

    let server_total = server.cpu();
    let hollow_total = hollow_cpu();
    let bench_total = process_cpu(std::process::id()).saturating_sub(bench_before);
    let wall = run_started.elapsed();
    let others = machine_busy()
        .saturating_sub(machine_before)
        .saturating_sub(server_total)
        .saturating_sub(hollow_total)
        .saturating_sub(bench_total);
    drop(client);
    drop(hollow);
    server.stop().await;
    let load_after = load_average();
    eprintln!("load average at end: {load_after}");
    let (lines, samples) = log_summary(&log);
    figures.add(
        "server stderr lines (warnings and errors)",
        lines.to_string(),
        "",
        None,
    );
    for sample in &samples {
        eprintln!("server stderr: {sample}");
    }

    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "\nMachine: {cores} cores, {}. Load average (1, 5, 15 min): {load_before} at start, \
         {load_after} at end. Other processes kept {:.2} cores busy on average during the run \
         ({:.0} s); the server used {:.2} cores, the hollow nodes' process {:.2}, the bench {:.2}.",
        cpu_model(),
        others.as_secs_f64() / wall.as_secs_f64(),
        wall.as_secs_f64(),
        server_total.as_secs_f64() / wall.as_secs_f64(),
        hollow_total.as_secs_f64() / wall.as_secs_f64(),
        bench_total.as_secs_f64() / wall.as_secs_f64(),
    );
    if hollow_process {
        println!(
            "`capstan server --disable-agent --cluster-cidr {CLUSTER_CIDR}` and `capstan sim --nodes {nodes}`, \
             `cargo bench -p capstan --bench workloads -- --nodes {nodes} --replicas {replicas} --hollow-process`"
        );
    } else {
        println!(
            "`capstan server --sim-nodes {nodes} --cluster-cidr {CLUSTER_CIDR}`, \
             `cargo bench -p capstan --bench workloads -- --nodes {nodes} --replicas {replicas}`"
        );
    }
    println!("\n| figure | value | target | verdict |\n| --- | --- | --- | --- |");
    figures.0.iter().for_each(|row| println!("{row}"));
    Ok(())
}

/// Counters the watches keep for the progress lines.
#[derive(Default)]
struct Progress {
    seen: AtomicUsize,
    bound: AtomicUsize,
    ready: AtomicUsize,
}

async fn report_progress(progress: Arc<Progress>, replicas: usize) {
    let started = Instant::now();
    loop {
        tokio::time::sleep(PROGRESS_EVERY).await;
        eprintln!(
            "{:>5.1} s: {} pods seen, {} bound, {} of {replicas} replicas ready",
            started.elapsed().as_secs_f64(),
            progress.seen.load(Ordering::Relaxed),
            progress.bound.load(Ordering::Relaxed),
            progress.ready.load(Ordering::Relaxed),
        );
    }
}

/// Watches nodes until `count` of them are Ready.
async fn wait_nodes_ready(nodes: Api<Node>, count: usize, limit: Duration) -> Res<()> {
    let mut ready: HashMap<String, bool> = HashMap::new();
    let mut stream = std::pin::pin!(watcher(nodes, watcher::Config::default()));
    let mut last_report = Instant::now();
    let watching = async {
        while let Some(event) = stream.next().await {
            match event? {
                Event::Apply(node) | Event::InitApply(node) => {
                    let is_ready = node
                        .status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|conditions| {
                            conditions
                                .iter()
                                .any(|c| c.type_ == "Ready" && c.status == "True")
                        });
                    ready.insert(node.metadata.name.unwrap_or_default(), is_ready);
                }
                Event::Delete(node) => {
                    ready.remove(&node.metadata.name.unwrap_or_default());
                }
                _ => continue,
            }
            let count_ready = ready.values().filter(|r| **r).count();
            if count_ready >= count {
                return Ok::<(), Box<dyn Error>>(());
            }
            if last_report.elapsed() >= PROGRESS_EVERY {
                last_report = Instant::now();
                eprintln!("{} nodes registered, {count_ready} Ready", ready.len());
            }
        }
        Err("the node watch ended".into())
    };
    timeout(limit, watching).await.map_err(|_| {
        format!(
            "not all {count} nodes were Ready within {limit:?} ({} registered, {} Ready)",
            ready.len(),
            ready.values().filter(|r| **r).count()
        )
    })?
}

/// When the pod watch saw the first pod, the first bind and the last.
struct Binds {
    first_seen: Instant,
    last_seen: Instant,
    first: Instant,
    last: Instant,
    /// Each pod's time from first seen (unbound) until seen bound, sorted.
    lags: Vec<Duration>,
}

/// Watches the namespace until `count` pods have a node.
async fn watch_binds(
    pods: Api<Pod>,
    count: usize,
    progress: Arc<Progress>,
) -> Result<Binds, String> {
    let mut seen: HashMap<String, Instant> = HashMap::new();
    let mut bound: HashSet<String> = HashSet::new();
    let mut lags: Vec<Duration> = Vec::with_capacity(count);
    let (mut first_seen, mut last_seen, mut first) = (None, None, None);
    let mut stream = std::pin::pin!(watcher(pods, watcher::Config::default()));
    while let Some(event) = stream.next().await {
        let pod = match event.map_err(|e| e.to_string())? {
            Event::Apply(pod) | Event::InitApply(pod) => pod,
            _ => continue,
        };
        let now = Instant::now();
        let name = pod.metadata.name.unwrap_or_default();
        first_seen.get_or_insert(now);
        let seen_at = *seen.entry(name.clone()).or_insert_with(|| {
            last_seen = Some(now);
            now
        });
        progress.seen.store(seen.len(), Ordering::Relaxed);
        let has_node = pod.spec.as_ref().and_then(|s| s.node_name.as_ref());
        if has_node.is_some() && bound.insert(name) {
            first.get_or_insert(now);
            lags.push(now - seen_at);
            progress.bound.store(bound.len(), Ordering::Relaxed);
            if bound.len() >= count {
                lags.sort();
                return Ok(Binds {
                    first_seen: first_seen.unwrap_or(now),
                    last_seen: last_seen.unwrap_or(now),
                    first: first.unwrap_or(now),
                    last: now,
                    lags,
                });
            }
        }
    }
    Err("the pod watch ended".into())
}

/// Watches the Deployment until it reports `count` ready replicas.
async fn watch_ready_replicas(
    deployments: Api<Deployment>,
    count: usize,
    progress: Arc<Progress>,
) -> Result<Instant, String> {
    let config = watcher::Config::default().fields(&format!("metadata.name={DEPLOYMENT}"));
    let mut stream = std::pin::pin!(watcher(deployments, config));
    while let Some(event) = stream.next().await {
        let deployment = match event.map_err(|e| e.to_string())? {
            Event::Apply(d) | Event::InitApply(d) => d,
            _ => continue,
        };
        let ready = deployment
            .status
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0)
            .max(0) as usize;
        progress.ready.store(ready, Ordering::Relaxed);
        if ready >= count {
            return Ok(Instant::now());
        }
    }
    Err("the Deployment watch ended".into())
}

/// Watches the namespace's pods until there are none.
async fn wait_pods_gone(pods: Api<Pod>, limit: Duration) -> Res<()> {
    let mut live: HashSet<String> = HashSet::new();
    let mut listed = false;
    let mut last_report = Instant::now();
    let mut stream = std::pin::pin!(watcher(pods, watcher::Config::default()));
    let watching = async {
        while let Some(event) = stream.next().await {
            match event? {
                Event::Apply(pod) | Event::InitApply(pod) => {
                    live.insert(pod.metadata.name.unwrap_or_default());
                }
                Event::Delete(pod) => {
                    live.remove(&pod.metadata.name.unwrap_or_default());
                }
                Event::Init => live.clear(),
                Event::InitDone => listed = true,
            }
            if listed && live.is_empty() {
                return Ok::<(), Box<dyn Error>>(());
            }
            if listed && last_report.elapsed() >= PROGRESS_EVERY {
                last_report = Instant::now();
                eprintln!("{} pods left", live.len());
            }
        }
        Err("the pod watch ended".into())
    };
    timeout(limit, watching).await.map_err(|_| {
        format!(
            "the Deployment's pods were not all gone within {limit:?} ({} left)",
            live.len()
        )
    })?
}

struct Latency {
    count: usize,
    rate: f64,
    p50: Duration,
    p99: Duration,
    max: Duration,
    create_p50: Duration,
    create_p99: Duration,
}

/// Creates bare pods at `rate` per second for `duration`, each timed from
/// its create call returning until a watch sees it Running and Ready.
async fn pod_start_latency(pods: Api<Pod>, rate: u32, duration: Duration) -> Res<Latency> {
    let count = (rate as u64 * duration.as_secs()) as usize;
    let created: Arc<Mutex<HashMap<String, (Instant, Duration)>>> = Arc::default();
    let running: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let watch = {
        let (pods, running) = (pods.clone(), running.clone());
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(watcher(pods, watcher::Config::default()));
            while let Some(event) = stream.next().await {
                let pod = match event.map_err(|e| e.to_string())? {
                    Event::Apply(pod) | Event::InitApply(pod) => pod,
                    _ => continue,
                };
                if is_running_and_ready(&pod) {
                    let name = pod.metadata.name.unwrap_or_default();
                    let mut running = running.lock().expect("lock");
                    running.entry(name).or_insert_with(Instant::now);
                    if running.len() >= count {
                        return Ok(());
                    }
                }
            }
            Err::<(), String>("the pod watch ended".into())
        })
    };
    // The watch is established before the first create.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let mut ticks = tokio::time::interval(Duration::from_secs(1) / rate);
    let mut creates = JoinSet::new();
    let started = Instant::now();
    for i in 0..count {
        ticks.tick().await;
        let (pods, created) = (pods.clone(), created.clone());
        creates.spawn(async move {
            let name = format!("start-{i:05}");
            let call = Instant::now();
            pods.create(&PostParams::default(), &bare_pod(&name))
                .await?;
            let now = Instant::now();
            created
                .lock()
                .expect("lock")
                .insert(name, (now, now - call));
            Ok::<(), kube::Error>(())
        });
        while let Some(done) = creates.try_join_next() {
            done??;
        }
    }
    while let Some(done) = creates.join_next().await {
        done??;
    }
    let achieved = count as f64 / started.elapsed().as_secs_f64();
    eprintln!(
        "{count} bare pods created in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    timeout(LATENCY_DRAIN_LIMIT, watch).await.map_err(|_| {
        format!(
            "only {} of {count} bare pods were seen Running and Ready within {:?} \
                 of the last create",
            running.lock().map_or(0, |r| r.len()),
            LATENCY_DRAIN_LIMIT
        )
    })???;

    let created = created.lock().expect("lock");
    let running = running.lock().expect("lock");
    let mut starts: Vec<Duration> = created
        .iter()
        .map(|(name, (at, _))| {
            running
                .get(name)
                .map_or(Duration::MAX, |seen| seen.saturating_duration_since(*at))
        })
        .collect();
    let mut calls: Vec<Duration> = created.values().map(|(_, call)| *call).collect();
    starts.sort();
    calls.sort();
    Ok(Latency {
        count,
        rate: achieved,
        p50: quantile(&starts, 0.50),
        p99: quantile(&starts, 0.99),
        max: starts.last().copied().unwrap_or_default(),
        create_p50: quantile(&calls, 0.50),
        create_p99: quantile(&calls, 0.99),
    })
}

fn is_running_and_ready(pod: &Pod) -> bool {
    let Some(status) = pod.status.as_ref() else {
        return false;
    };
    status.phase.as_deref() == Some("Running")
        && status.conditions.as_ref().is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        })
}

fn deployment(replicas: usize) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": DEPLOYMENT},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": DEPLOYMENT}},
            "template": {
                "metadata": {"labels": {"app": DEPLOYMENT}},
                "spec": {"containers": [{"name": "app", "image": "registry.example/web:1",
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]},
            },
        },
    }))
    .expect("a deployment")
}

fn bare_pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "start"}},
        "spec": {"containers": [{"name": "app", "image": "registry.example/start:1",
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]},
    }))
    .expect("a pod")
}
