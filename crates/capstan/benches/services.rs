//! Service networking throughput with real containers: `capstan server`
//! with this machine's agent, one backend pod (the host's nginx in an
//! image, answering "ok" over kept-alive connections), a ClusterIP
//! Service over it and an Ingress to that Service. wrk measures
//! requests/s and p99 latency to the pod directly and through the
//! ClusterIP, both from the host (the service proxy's nftables DNAT in the
//! output hook, and masquerade) and from a client pod (wrk run in the
//! pod's network namespace: DNAT in the prerouting hook, as pods meet
//! Services); through the built-in Ingress on port 80; and through nginx
//! on the host proxying to the same pod, the yardstick for the Ingress.
//! Prints a markdown table for docs/benchmarks.md.
//!
//! `flock /tmp/capstan-containers.lock cargo bench -p capstan --bench services`
//! (as root, with containerd, runc, containernetworking-plugins, wrk and
//! nginx installed, and ports 80 and 443 free for the ingress controller).

#[path = "../tests/support/images.rs"]
#[allow(dead_code)]
mod images;
#[path = "measure.rs"]
mod measure;
#[path = "services/nginx.rs"]
mod nginx;

use std::collections::BTreeSet;
use std::error::Error;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use capstan_agent::images::{build, FileContents, Image, ImageConfig, ImageFile};
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio::time::timeout;

use nginx::{backend_image, HostNginx};

type Res<T> = Result<T, Box<dyn Error>>;

const CONTAINERD: &str = "/usr/bin/containerd";
const WRK: &str = "/usr/bin/wrk";
const NGINX: &str = "/usr/sbin/nginx";

/// The bound of every wait: server start, pod start, a path answering.
const LIMIT: Duration = Duration::from_secs(120);
/// How long the server may take to stop before it is killed.
const STOP_LIMIT: Duration = Duration::from_secs(20);

/// wrk's load: one thread, 32 kept-alive connections.
const CONNECTIONS: u32 = 32;
const RUN_TIME: Duration = Duration::from_secs(10);
const WARM_UP_TIME: Duration = Duration::from_secs(2);
/// Runs per path; the median is reported.
const RUNS: usize = 5;

/// The node the server's agent registers.
const NODE: &str = "bench";
/// The name of the backend pod and of its Service and Ingress.
const BACKEND: &str = "bench-backend";
/// The pod whose network namespace wrk runs in for the "from a pod" paths.
const CLIENT: &str = "bench-client";
const BACKEND_PORT: u16 = 8080;
const SERVICE_PORT: u16 = 80;
/// The Ingress rule's host, sent as the Host header to reach it.
const INGRESS_HOST: &str = "bench.example.test";
/// The built-in ingress controller's HTTP port on every node.
const INGRESS_PORT: u16 = 80;

/// The goals the figures are held to.
const CLUSTER_IP_GOAL: f64 = 0.95;
const INGRESS_GOAL: f64 = 0.8;

/// This machine's disk may be fuller than upstream's eviction thresholds
/// allow; pressure would evict the backend mid-run.
const NO_PRESSURE: &str = "memory.available<1Mi,nodefs.available<1%";

fn main() -> ExitCode {
    if let Err(missing) = check_prerequisites() {
        eprintln!("services bench: {missing}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("services bench: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let rounds = match rounds_argument() {
        Ok(rounds) => rounds,
        Err(error) => {
            eprintln!("services bench: {error}");
            return ExitCode::FAILURE;
        }
    };
    match run(&runtime, rounds) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("services bench failed: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `--rounds N` (default [`RUNS`]): more rounds for a steadier median on a
/// busy machine.
fn rounds_argument() -> Result<usize, String> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|arg| arg == "--rounds") {
        None => Ok(RUNS),
        Some(at) => args
            .get(at + 1)
            .and_then(|value| value.parse().ok())
            .filter(|rounds| *rounds > 0)
            .ok_or_else(|| "--rounds takes a positive number".to_string()),
    }
}

fn check_prerequisites() -> Result<(), String> {
    for (program, package) in [
        (CONTAINERD, "containerd runc containernetworking-plugins"),
        (WRK, "wrk"),
        (NGINX, "nginx-light"),
        (images::DOCKER_REGISTRY, "docker-registry"),
    ] {
        if !Path::new(program).exists() {
            return Err(format!(
                "{program} is not installed: apt-get install {package}"
            ));
        }
    }
    // The ingress controller would only log that it cannot bind them, and
    // the bench would wait for nothing.
    for port in [INGRESS_PORT, 443] {
        TcpListener::bind(("0.0.0.0", port)).map_err(|error| {
            format!("port {port} is taken ({error}): the ingress controller needs it")
        })?;
    }
    Ok(())
}

/// One way to the backend, as wrk is pointed at it.
struct Route {
    name: &'static str,
    url: String,
    /// The Host header to send, for the Ingress.
    host: Option<&'static str>,
    /// The network namespace wrk and curl run in; the host's when None.
    netns: Option<PathBuf>,
    /// The route this one is a ratio to, and the goal for that ratio.
    compared_to: Option<(&'static str, f64)>,
}

const DIRECT: &str = "direct (pod IP), from the host";
const DIRECT_FROM_POD: &str = "direct (pod IP), from a pod";
const NGINX_ROUTE: &str = "nginx on the host";

/// What one wrk run measured.
#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    requests_per_second: f64,
    p99_ms: f64,
    /// Responses that were not 2xx or 3xx.
    bad_responses: u64,
    /// Connect, read, write errors and timeouts.
    socket_errors: u64,
}

/// The medians of a route's runs, and the errors of all of them.
#[derive(Clone, Debug)]
struct Figures {
    requests_per_second: f64,
    p99_ms: f64,
    /// The slowest and fastest run, to show how steady the machine was.
    slowest: f64,
    fastest: f64,
    socket_errors: u64,
    /// Round by round, the ratio to the route compared with, sorted.
    round_ratios: Vec<f64>,
}

fn run(runtime: &tokio::runtime::Runtime, rounds: usize) -> Res<()> {
    let image = backend_image()?;
    // Dropped in reverse: host nginx, cluster, registry.
    let registry = images::Registry::start();
    registry.push("nginx", "bench", &image);
    let image = registry.reference("nginx", "bench");
    let cluster = Cluster::start(&registry.host())?;
    let deployed = runtime.block_on(deploy_backend(cluster.data_dir(), &image))?;
    let (pod_ip, cluster_ip) = (deployed.backend_ip, deployed.cluster_ip);
    let client_netns = pod_netns(deployed.client_ip)?;
    let host_nginx = HostNginx::start(pod_ip)?;
    let route = |name, url, netns: Option<&PathBuf>, compared_to| Route {
        name,
        url,
        host: None,
        netns: netns.cloned(),
        compared_to,
    };
    let direct_url = format!("http://{}/", socket(pod_ip, BACKEND_PORT));
    let cluster_ip_url = format!("http://{}/", socket(cluster_ip, SERVICE_PORT));
    let routes = [
        route(DIRECT, direct_url.clone(), None, None),
        route(
            "ClusterIP (service proxy), from the host",
            cluster_ip_url.clone(),
            None,
            Some((DIRECT, CLUSTER_IP_GOAL)),
        ),
        route(DIRECT_FROM_POD, direct_url, Some(&client_netns), None),
        route(
            "ClusterIP (service proxy), from a pod",
            cluster_ip_url,
            Some(&client_netns),
            Some((DIRECT_FROM_POD, CLUSTER_IP_GOAL)),
        ),
        Route {
            host: Some(INGRESS_HOST),
            ..route(
                "Ingress (built-in)",
                format!("http://127.0.0.1:{INGRESS_PORT}/"),
                None,
                Some((NGINX_ROUTE, INGRESS_GOAL)),
            )
        },
        route(
            NGINX_ROUTE,
            format!("http://127.0.0.1:{}/", host_nginx.port),
            None,
            None,
        ),
    ];
    let figures = runtime.block_on(measure_routes(&routes, rounds))?;
    print_report(&routes, &figures, rounds);
    Ok(())
}

/// `IP:PORT`, with brackets for IPv6.
fn socket(ip: IpAddr, port: u16) -> String {
    std::net::SocketAddr::new(ip, port).to_string()
}

/// A `capstan server` with this machine's agent, on a temporary data dir.
/// On drop: stopped (TERM, then KILL), then `capstan killall` removes its
/// containers, containerd and packet rules, then the data dir goes.
struct Cluster {
    server: Child,
    data: tempfile::TempDir,
}

impl Cluster {
    fn start(registry_host: &str) -> Res<Cluster> {
        let data = tempfile::Builder::new()
            .prefix("capstan-bench-")
            .tempdir()?;
        // The server reads DIR/registries.yaml: the loopback registry is
        // plain HTTP.
        std::fs::write(
            data.path().join("registries.yaml"),
            format!(
                "mirrors:\n  \"{registry_host}\":\n    endpoint:\n      - \"http://{registry_host}\"\n"
            ),
        )?;
        let server = Command::new(env!("CARGO_BIN_EXE_capstan"))
            .arg("server")
            .arg("--data-dir")
            .arg(data.path())
            .args(["--bind-address", "127.0.0.1", "--https-port", "0"])
            .args(["--node-name", NODE, "--kubelet-port", "0"])
            .args(["--eviction-hard", NO_PRESSURE])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let mut cluster = Cluster { server, data };
        let stdout = cluster.server.stdout.take().ok_or("no stdout")?;
        let (ready, is_ready) = mpsc::channel();
        // Reads the server's output to its end, so it never blocks on a
        // full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.contains("ready at https://") {
                    let _ = ready.send(());
                }
            }
        });
        match is_ready.recv_timeout(LIMIT) {
            Ok(()) => Ok(cluster),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                Err(format!("capstan server was not ready in {LIMIT:?}").into())
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Err("capstan server exited".into()),
        }
    }

    fn data_dir(&self) -> &Path {
        self.data.path()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.server.id().to_string()])
            .status();
        let deadline = Instant::now() + STOP_LIMIT;
        while matches!(self.server.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.server.kill();
        let _ = self.server.wait();
        let killall = Command::new(env!("CARGO_BIN_EXE_capstan"))
            .arg("killall")
            .arg("--data-dir")
            .arg(self.data.path())
            .output();
        match killall {
            Ok(output) if !output.status.success() => eprintln!(
                "capstan killall: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ),
            Ok(_) => {}
            Err(error) => eprintln!("capstan killall: {error}"),
        }
    }
}

/// The addresses of what [`deploy_backend`] ran.
struct Deployed {
    backend_ip: IpAddr,
    cluster_ip: IpAddr,
    client_ip: IpAddr,
}

/// Runs the backend pod, a ClusterIP Service over it, an Ingress to that
/// Service, and a client pod (the same image; only its network namespace
/// is used); returns their addresses once the pods are ready.
async fn deploy_backend(data_dir: &Path, image: &str) -> Res<Deployed> {
    let kubeconfig = Kubeconfig::read_from(data_dir.join("admin.kubeconfig"))?;
    let config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    let client = kube::Client::try_from(config)?;
    wait_node_ready(Api::all(client.clone())).await?;

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for name in [BACKEND, CLIENT] {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {"app": name}},
            "spec": {
                "terminationGracePeriodSeconds": 1,
                "containers": [{
                    "name": "nginx",
                    "image": image,
                    "ports": [{"name": "http", "containerPort": BACKEND_PORT}],
                    "readinessProbe": {"tcpSocket": {"port": BACKEND_PORT}, "periodSeconds": 1},
                }],
            },
        }))?;
        pods.create(&PostParams::default(), &pod).await?;
    }

    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let service: Service = serde_json::from_value(serde_json::json!({
        "metadata": {"name": BACKEND},
        "spec": {
            "type": "ClusterIP",
            "selector": {"app": BACKEND},
            "ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": "http"}],
        },
    }))?;
    let service = services.create(&PostParams::default(), &service).await?;
    let cluster_ip = service
        .spec
        .and_then(|spec| spec.cluster_ip)
        .ok_or("the Service got no cluster IP")?
        .parse()?;

    let ingresses: Api<Ingress> = Api::namespaced(client, "default");
    let ingress: Ingress = serde_json::from_value(serde_json::json!({
        "metadata": {"name": BACKEND},
        "spec": {
            "ingressClassName": "capstan",
            "rules": [{
                "host": INGRESS_HOST,
                "http": {"paths": [{
                    "path": "/",
                    "pathType": "Prefix",
                    "backend": {"service": {"name": BACKEND, "port": {"number": SERVICE_PORT}}},
                }]},
            }],
        },
    }))?;
    ingresses.create(&PostParams::default(), &ingress).await?;

    Ok(Deployed {
        backend_ip: wait_pod_ready(&pods, BACKEND).await?,
        cluster_ip,
        client_ip: wait_pod_ready(&pods, CLIENT).await?,
    })
}

/// The network namespace (under /var/run/netns, where the CNI plugins
/// put pods' namespaces) holding `ip`.
fn pod_netns(ip: IpAddr) -> Res<PathBuf> {
    let wanted = format!("inet {ip}/");
    for entry in std::fs::read_dir("/var/run/netns")? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        let output = Command::new("ip")
            .args(["-n", &name, "-4", "-o", "addr", "show"])
            .output()?;
        if String::from_utf8_lossy(&output.stdout).contains(&wanted) {
            return Ok(Path::new("/var/run/netns").join(name));
        }
    }
    Err(format!("no network namespace holds the client pod's address {ip}").into())
}

async fn wait_node_ready(nodes: Api<Node>) -> Res<()> {
    timeout(LIMIT, async {
        loop {
            let ready = nodes.get_opt(NODE).await.ok().flatten().is_some_and(|n| {
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
    .map_err(|_| format!("the node was not Ready in {LIMIT:?}"))?;
    Ok(())
}

/// Waits until the pod is Ready and returns its IP.
async fn wait_pod_ready(pods: &Api<Pod>, name: &str) -> Res<IpAddr> {
    let mut last = None;
    let waited = timeout(LIMIT, async {
        loop {
            if let Ok(pod) = pods.get(name).await {
                let status = pod.status.unwrap_or_default();
                let ready = status
                    .conditions
                    .iter()
                    .flatten()
                    .any(|c| c.type_ == "Ready" && c.status == "True");
                if let (true, Some(ip)) = (ready, status.pod_ip.as_deref()) {
                    return ip
                        .parse::<IpAddr>()
                        .map_err(|e| format!("pod IP {ip:?}: {e}"));
                }
                last = status.container_statuses;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    match waited {
        Ok(ip) => Ok(ip?),
        Err(_) => Err(format!(
            "pod {name} was not Ready in {LIMIT:?}: {}",
            serde_json::to_string(&last).unwrap_or_default()
        )
        .into()),
    }
}

/// Waits for every route to answer 200, warms each up, then runs wrk on
/// them in turn, `rounds` times, so that a slow moment of this shared
/// machine spreads over all routes rather than one. Every other round
/// goes in the reverse order, so that no route of a pair is always the
/// one measured second.
async fn measure_routes(routes: &[Route], rounds: usize) -> Res<Vec<Figures>> {
    for route in routes {
        wait_answering(route).await?;
    }
    for route in routes {
        wrk(route, WARM_UP_TIME).await?;
    }
    let mut samples = vec![Vec::new(); routes.len()];
    for round in 0..rounds {
        let mut order: Vec<usize> = (0..routes.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for index in order {
            let route = &routes[index];
            let sample = wrk(route, RUN_TIME).await?;
            if sample.bad_responses > 0 {
                return Err(format!(
                    "{}: {} responses were not 2xx or 3xx",
                    route.name, sample.bad_responses
                )
                .into());
            }
            samples[index].push(sample);
        }
    }
    Ok(routes
        .iter()
        .zip(&samples)
        .map(|(route, runs)| {
            let mut figures = summarize(runs);
            // Each round's ratio to the route compared with, measured a few
            // seconds apart: a slow minute of the machine weighs on both.
            if let Some((other, _)) = route.compared_to {
                if let Some(index) = routes.iter().position(|r| r.name == other) {
                    let mut ratios: Vec<f64> = runs
                        .iter()
                        .zip(&samples[index])
                        .map(|(a, b)| ratio(a.requests_per_second, b.requests_per_second))
                        .collect();
                    ratios.sort_by(f64::total_cmp);
                    figures.round_ratios = ratios;
                }
            }
            figures
        })
        .collect())
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

fn summarize(runs: &[Sample]) -> Figures {
    let median = |value: fn(&Sample) -> f64| {
        let mut values: Vec<f64> = runs.iter().map(value).collect();
        values.sort_by(f64::total_cmp);
        values.get(values.len() / 2).copied().unwrap_or(0.0)
    };
    let rates = runs.iter().map(|s| s.requests_per_second);
    Figures {
        requests_per_second: median(|s| s.requests_per_second),
        p99_ms: median(|s| s.p99_ms),
        slowest: rates.clone().fold(f64::INFINITY, f64::min),
        fastest: rates.fold(0.0, f64::max),
        socket_errors: runs.iter().map(|s| s.socket_errors).sum(),
        round_ratios: Vec::new(),
    }
}

/// `program`, run in the route's network namespace.
fn command_for(route: &Route, program: &str) -> tokio::process::Command {
    match &route.netns {
        Some(netns) => {
            let mut command = tokio::process::Command::new("nsenter");
            command
                .arg(format!("--net={}", netns.display()))
                .arg(program);
            command
        }
        None => tokio::process::Command::new(program),
    }
}

/// Polls the route with curl until it answers 200.
async fn wait_answering(route: &Route) -> Res<()> {
    let deadline = Instant::now() + LIMIT;
    let mut last = String::new();
    while Instant::now() < deadline {
        let mut curl = command_for(route, "curl");
        curl.args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "2",
        ]);
        if let Some(host) = route.host {
            curl.args(["-H", &format!("Host: {host}")]);
        }
        let output = curl.arg(&route.url).kill_on_drop(true).output().await?;
        last = String::from_utf8_lossy(&output.stdout).into_owned();
        if last == "200" {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Err(format!(
        "{} ({}) did not answer 200 in {LIMIT:?}; last status {last:?}",
        route.name, route.url
    )
    .into())
}

/// One `wrk -t1 -c32 -d<time> --latency` run against the route.
async fn wrk(route: &Route, time: Duration) -> Res<Sample> {
    let mut command = command_for(route, WRK);
    command
        .args(["-t1", &format!("-c{CONNECTIONS}")])
        .arg(format!("-d{}s", time.as_secs()))
        .arg("--latency");
    if let Some(host) = route.host {
        command.args(["-H", &format!("Host: {host}")]);
    }
    command
        .arg(&route.url)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = timeout(time + Duration::from_secs(30), command.output())
        .await
        .map_err(|_| format!("wrk on {} did not finish", route.name))??;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "wrk on {}: {}{}",
            route.name,
            text.trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        )
        .into());
    }
    parse_wrk(&text).map_err(|error| format!("wrk on {}: {error}:\n{text}", route.name).into())
}

/// Reads a `wrk --latency` report: `Requests/sec:`, the `99%` line of the
/// latency distribution, and the error lines wrk prints only when there
/// were errors.
fn parse_wrk(report: &str) -> Result<Sample, String> {
    let mut sample = Sample::default();
    let mut rate = None;
    let mut p99 = None;
    for line in report.lines().map(str::trim) {
        if let Some(value) = line.strip_prefix("Requests/sec:") {
            rate = value.trim().parse::<f64>().ok();
        } else if let Some(value) = line.strip_prefix("99%") {
            p99 = latency_ms(value.trim());
        } else if let Some(value) = line.strip_prefix("Non-2xx or 3xx responses:") {
            sample.bad_responses = value.trim().parse().unwrap_or(0);
        } else if let Some(counts) = line.strip_prefix("Socket errors:") {
            // `connect 0, read 0, write 0, timeout 0`
            sample.socket_errors = counts
                .split(',')
                .filter_map(|count| count.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum();
        }
    }
    sample.requests_per_second = rate.ok_or("no Requests/sec line")?;
    sample.p99_ms = p99.ok_or("no 99% latency line")?;
    Ok(sample)
}

/// A wrk duration (`812.00us`, `1.23ms`, `2.01s`, `1.50m`) in milliseconds.
fn latency_ms(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match unit {
        "us" => 0.001,
        "ms" => 1.0,
        "s" => 1000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        _ => return None,
    };
    Some(number * scale)
}

/// The machine, the load, and the figures as a markdown table with the
/// ratios and the goals beside them.
fn print_report(routes: &[Route], figures: &[Figures], rounds: usize) {
    let rate_of = |name: &str| {
        routes
            .iter()
            .position(|r| r.name == name)
            .map_or(0.0, |index| figures[index].requests_per_second)
    };
    let verdict = |value: f64, goal: f64| if value >= goal { "met" } else { "missed" };
    let median = |values: &[f64]| values.get(values.len() / 2).copied().unwrap_or(0.0);

    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!();
    println!("machine: {cpus} CPUs, {}", measure::cpu_model());
    println!("load average: {}", measure::load_average());
    println!(
        "load: wrk -t1 -c{CONNECTIONS} -d{}s --latency, median of {rounds} runs per path; \
         backend: one nginx pod (1 worker) answering \"ok\"",
        RUN_TIME.as_secs()
    );
    println!();
    println!("| path | req/s | p99 ms | ratio (of medians; median of rounds) |");
    println!("| --- | ---: | ---: | --- |");
    for (route, figure) in routes.iter().zip(figures) {
        let note = match route.compared_to {
            Some((other, goal)) => {
                let of_medians = ratio(figure.requests_per_second, rate_of(other));
                let of_rounds = median(&figure.round_ratios);
                format!(
                    "{of_medians:.3}; {of_rounds:.3} of {other} (goal >= {goal:.2}: {})",
                    verdict(of_rounds, goal)
                )
            }
            None => String::new(),
        };
        println!(
            "| {} | {:.0} | {:.2} | {note} |",
            route.name, figure.requests_per_second, figure.p99_ms
        );
    }
    println!();
    for (route, figure) in routes.iter().zip(figures) {
        print!(
            "runs of {}: {:.0} to {:.0} req/s",
            route.name, figure.slowest, figure.fastest
        );
        if !figure.round_ratios.is_empty() {
            let rounds: Vec<String> = figure
                .round_ratios
                .iter()
                .map(|r| format!("{r:.3}"))
                .collect();
            print!("; ratio by round {}", rounds.join(" "));
        }
        println!();
        if figure.socket_errors > 0 {
            println!(
                "note: {} had {} socket errors over its runs",
                route.name, figure.socket_errors
            );
        }
    }
}
