//! Load benchmark for `capstan server`: time to ready, memory, create
//! throughput and latency, and list latency over 10,000 objects.
//!
//! Run with `cargo bench -p capstan --bench apiserver`. It starts the
//! release binary on loopback with fresh data dirs, drives it with kube-rs
//! and prints markdown tables for docs/benchmarks.md.

use std::collections::BTreeMap;
use std::error::Error;
use std::path::Path;
use std::process::{ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{sleep, timeout, MissedTickBehavior};
use tokio_rustls::rustls;

type Res<T> = Result<T, Box<dyn Error>>;

/// Fresh starts measured for time to ready.
const READY_STARTS: usize = 5;
/// Closed-loop create runs: (concurrent clients, creates). Together they
/// fill the list namespace with exactly `LIST_OBJECTS` ConfigMaps.
const CREATE_RUNS: [(usize, usize); 3] = [(1, 2_000), (16, 4_000), (64, 4_000)];
const LIST_OBJECTS: usize = 10_000;
const LIST_REPEATS: usize = 20;
const PAGED_REPEATS: usize = 5;
const PAGE_SIZE: u32 = 500;
const PACED_RATE: u64 = 500;
const PACED_SECONDS: u64 = 10;
const IDLE_WAIT: Duration = Duration::from_secs(3);

/// Bounds: one request, one create run, the whole benchmark.
const REQUEST_LIMIT: Duration = Duration::from_secs(10);
const RUN_LIMIT: Duration = Duration::from_secs(120);
const START_LIMIT: Duration = Duration::from_secs(30);
const TOTAL_LIMIT: Duration = Duration::from_secs(20 * 60);

const BENCH_NS: &str = "bench";
const PACED_NS: &str = "paced";
const TABLE_ACCEPT: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,\
                            application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

/// Targets from the issue (MiB for memory).
const TARGET_READY_MS: f64 = 500.0;
const TARGET_IDLE_RSS: f64 = 30.0;
const TARGET_LOADED_RSS: f64 = 150.0;
const TARGET_PACED_P99_MS: f64 = 10.0;

/// An application config file, as ConfigMaps usually carry.
const PROPERTIES: &str = "server.port=8080\n\
server.shutdown=graceful\n\
spring.datasource.url=jdbc:postgresql://db.payments.svc:5432/checkout\n\
spring.datasource.hikari.maximum-pool-size=20\n\
spring.jpa.open-in-view=false\n\
management.endpoints.web.exposure.include=health,info,prometheus\n\
management.endpoint.health.probes.enabled=true\n\
logging.level.root=INFO\n\
logging.level.com.example.checkout=DEBUG\n\
checkout.cart.ttl=PT30M\n\
checkout.payment.provider=stripe\n\
checkout.payment.timeout=PT5S\n\
checkout.feature.express=true\n";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    // Test runners list targets first: this one has no tests.
    if args.iter().any(|arg| arg == "--list") {
        return ExitCode::SUCCESS;
    }
    if !args.iter().any(|arg| arg == "--bench") {
        println!("apiserver: a load benchmark; run `cargo bench -p capstan --bench apiserver`");
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("apiserver bench: runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(async { timeout(TOTAL_LIMIT, run()).await }) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(error)) => {
            eprintln!("apiserver bench failed: {error}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("apiserver bench: gave up after {TOTAL_LIMIT:?}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Res<()> {
    let load_before = load_average();
    eprintln!("load average at start: {load_before}");
    let object = config_map("sample-00000", 0);
    eprintln!(
        "object: {} labels, {} bytes of data, {} bytes as JSON",
        object.metadata.labels.as_ref().map_or(0, |l| l.len()),
        object.data.as_ref().map_or(0, |d| d
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum::<usize>()),
        serde_json::to_vec(&object)?.len()
    );

    let ready = time_to_ready().await?;

    // One server for the rest.
    let dir = tempfile::Builder::new()
        .prefix("capstan-bench-")
        .tempdir()?;
    let mut server = Server::spawn(dir.path(), 0)?;
    let line = server.ready_line().await?;
    eprintln!(
        "server ready on port {} in {} ms (its own figure)",
        line.port, line.printed_ms
    );
    sleep(IDLE_WAIT).await;
    let idle = server.memory()?;
    eprintln!("idle: RSS {:.1} MiB", idle.rss);

    let client = client(dir.path()).await?;
    warm_up(&client).await?;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for name in [BENCH_NS, PACED_NS] {
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        namespaces
            .create(&PostParams::default(), &namespace)
            .await?;
    }

    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), BENCH_NS);
    let mut runs = Vec::new();
    let mut stored = 0;
    for (clients, creates) in CREATE_RUNS {
        let label = format!("{clients} client{}", if clients == 1 { "" } else { "s" });
        let prefix = format!("c{clients}");
        let result = closed_loop(&maps, &prefix, clients, creates, &server).await?;
        eprintln!("{}", result.summary(&label));
        stored += result.latencies.len();
        runs.push((label, result));
        sleep(Duration::from_secs(1)).await;
    }
    if stored < LIST_OBJECTS {
        // Failed creates are made up so the list sees exactly 10,000.
        let fill = closed_loop(&maps, "fill", 16, LIST_OBJECTS - stored, &server).await?;
        eprintln!("{}", fill.summary("top-up"));
    }
    sleep(Duration::from_secs(2)).await;

    let lists = list_benchmarks(&client).await?;
    sleep(Duration::from_secs(2)).await;
    let loaded = server.memory()?;
    let disk = dir_size(&dir.path().join("db"));
    eprintln!("loaded: RSS {:.1} MiB", loaded.rss);

    let paced_maps: Api<ConfigMap> = Api::namespaced(client.clone(), PACED_NS);
    let paced = paced(&paced_maps, &server).await?;
    eprintln!("{}", paced.summary("paced"));
    let after = server.memory()?;
    drop(client);
    let stop = server.stop().await?;
    let load_after = load_average();
    eprintln!("load average at end: {load_after}");

    let report = Report {
        ready,
        idle,
        loaded,
        after,
        disk,
        runs,
        paced,
        lists,
        stop,
        load_before,
        load_after,
    };
    report.print();
    Ok(())
}

/// A `capstan server` child process; its stdout is drained by a task.
struct Server {
    child: tokio::process::Child,
    pid: u32,
    started: Instant,
    lines: mpsc::UnboundedReceiver<(Instant, String)>,
}

struct ReadyLine {
    port: u16,
    printed_ms: u64,
    seen: Duration,
}

#[derive(Clone, Copy)]
struct Memory {
    rss: f64,
    peak: f64,
}

impl Server {
    fn spawn(data_dir: &Path, port: u16) -> Res<Server> {
        let started = Instant::now();
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_capstan"))
            .arg("server")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--bind-address", "127.0.0.1", "--https-port"])
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let pid = child.id().ok_or("no pid")?;
        let (sender, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            // Keep reading to the end so the server never writes into a
            // closed pipe.
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                let _ = sender.send((Instant::now(), line));
            }
        });
        Ok(Server {
            child,
            pid,
            started,
            lines,
        })
    }

    /// Waits for `capstan: API server ready at https://ADDR in N ms`.
    async fn ready_line(&mut self) -> Res<ReadyLine> {
        let deadline = self.started + START_LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (at, line) = match timeout(left, self.lines.recv()).await {
                Ok(Some(received)) => received,
                Ok(None) => return Err("capstan server exited before it was ready".into()),
                Err(_) => return Err("capstan server did not print its ready line".into()),
            };
            let Some(rest) = line.split("ready at https://").nth(1) else {
                continue;
            };
            let mut words = rest.split_whitespace();
            let address = words.next().unwrap_or_default();
            let port = address.rsplit(':').next().unwrap_or_default().parse()?;
            let printed_ms = words.nth(1).unwrap_or_default().parse()?;
            return Ok(ReadyLine {
                port,
                printed_ms,
                seen: at - self.started,
            });
        }
    }

    fn memory(&self) -> Res<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))?;
        let field = |name: &str| -> Res<f64> {
            let line = status
                .lines()
                .find(|line| line.starts_with(name))
                .ok_or("no such field in /proc/PID/status")?;
            let kib: f64 = line[name.len()..]
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()?;
            Ok(kib / 1024.0)
        };
        Ok(Memory {
            rss: field("VmRSS:")?,
            peak: field("VmHWM:")?,
        })
    }

    fn cpu(&self) -> Duration {
        cpu_time(&format!("/proc/{}/stat", self.pid))
    }

    /// SIGTERM, then the time until the process has exited.
    async fn stop(mut self) -> Res<Duration> {
        let signalled = Instant::now();
        std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()?;
        match timeout(Duration::from_secs(20), self.child.wait()).await {
            Ok(status) => {
                let status = status?;
                if !status.success() {
                    return Err(format!("capstan server exited with {status}").into());
                }
                Ok(signalled.elapsed())
            }
            Err(_) => {
                let _ = self.child.kill().await;
                Err("capstan server did not stop on SIGTERM".into())
            }
        }
    }
}

/// User plus system CPU time from a /proc stat file (100 ticks a second).
fn cpu_time(path: &str) -> Duration {
    let Ok(stat) = std::fs::read_to_string(path) else {
        return Duration::ZERO;
    };
    let after_name = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<u64> = after_name
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|field| field.parse().ok())
        .collect();
    Duration::from_millis(fields.iter().sum::<u64>() * 10)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| entry.metadata().ok())
                .map(|meta| meta.len())
                .sum()
        })
        .unwrap_or(0)
}

struct Ready {
    readyz: Vec<Duration>,
    line: Vec<Duration>,
    printed: Vec<Duration>,
}

/// Fresh data dir, fixed free port: spawn to the first `/readyz` 200.
async fn time_to_ready() -> Res<Ready> {
    let connector = insecure_connector();
    let mut ready = Ready {
        readyz: Vec::new(),
        line: Vec::new(),
        printed: Vec::new(),
    };
    for _ in 0..READY_STARTS {
        let dir = tempfile::Builder::new()
            .prefix("capstan-bench-")
            .tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut server = Server::spawn(dir.path(), port)?;
        loop {
            if readyz_ok(&connector, port).await {
                break;
            }
            if server.started.elapsed() > START_LIMIT {
                return Err("/readyz did not answer ok".into());
            }
            sleep(Duration::from_millis(1)).await;
        }
        let readyz = server.started.elapsed();
        let line = server.ready_line().await?;
        server.stop().await?;
        eprintln!(
            "start: /readyz ok after {:.1} ms, ready line after {:.1} ms, printed {} ms",
            ms(readyz),
            ms(line.seen),
            line.printed_ms
        );
        ready.readyz.push(readyz);
        ready.line.push(line.seen);
        ready.printed.push(Duration::from_millis(line.printed_ms));
    }
    for list in [&mut ready.readyz, &mut ready.line, &mut ready.printed] {
        list.sort();
    }
    Ok(ready)
}

/// One plain HTTP/1.1 `GET /readyz` over TLS, anonymous as a load
/// balancer's probe. The server's certificate is not checked: the
/// connection is to loopback and its CA does not exist before it starts.
async fn readyz_ok(connector: &tokio_rustls::TlsConnector, port: u16) -> bool {
    let probe = async {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()?;
        let name = rustls::pki_types::ServerName::try_from("localhost").ok()?;
        let mut tls = connector.connect(name, tcp).await.ok()?;
        tls.write_all(b"GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut response = Vec::new();
        // A missing close_notify still leaves what was read in the buffer.
        let _ = tls.read_to_end(&mut response).await;
        Some(response.starts_with(b"HTTP/1.1 200"))
    };
    matches!(timeout(Duration::from_secs(2), probe).await, Ok(Some(true)))
}

fn insecure_connector() -> tokio_rustls::TlsConnector {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

async fn client(data_dir: &Path) -> Res<kube::Client> {
    let kubeconfig = Kubeconfig::read_from(data_dir.join("admin.kubeconfig"))?;
    let config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    Ok(kube::Client::try_from(config)?)
}

/// Opens the client's connections (64 at once) without storing anything.
async fn warm_up(client: &kube::Client) -> Res<()> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for _ in 0..3 {
        let mut tasks = JoinSet::new();
        for _ in 0..64 {
            let namespaces = namespaces.clone();
            tasks.spawn(async move { timeout(REQUEST_LIMIT, namespaces.get("default")).await });
        }
        while let Some(result) = tasks.join_next().await {
            result??.map_err(|_| "warm-up request timed out")?;
        }
    }
    Ok(())
}

/// A realistic small ConfigMap: ten labels and about 500 bytes of data.
fn config_map(name: &str, index: usize) -> ConfigMap {
    let mut labels: BTreeMap<String, String> = [
        ("app.kubernetes.io/name", "checkout"),
        ("app.kubernetes.io/instance", "checkout-prod"),
        ("app.kubernetes.io/version", "1.24.3"),
        ("app.kubernetes.io/component", "backend"),
        ("app.kubernetes.io/part-of", "shop"),
        ("app.kubernetes.io/managed-by", "capstan-bench"),
        ("environment", "production"),
        ("team", "payments"),
        ("tier", "api"),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_string(), value.to_string()))
    .collect();
    labels.insert("shard".into(), (index % 16).to_string());
    let data = BTreeMap::from([
        ("application.properties".to_string(), PROPERTIES.to_string()),
        ("log-level".to_string(), "info".to_string()),
        ("instance".to_string(), index.to_string()),
    ]);
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        data: Some(data),
        ..ConfigMap::default()
    }
}

/// Latencies of one create run, sorted, and what it cost.
struct Run {
    latencies: Vec<Duration>,
    errors: usize,
    first_error: Option<String>,
    wall: Duration,
    server_cpu: Duration,
    client_cpu: Duration,
}

impl Run {
    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        percentile(&self.latencies, p)
    }

    fn max(&self) -> Duration {
        self.latencies.last().copied().unwrap_or_default()
    }

    /// Server CPU per create, in milliseconds.
    fn cpu_per_create(&self, cpu: Duration) -> f64 {
        ms(cpu) / self.latencies.len().max(1) as f64
    }

    fn summary(&self, label: &str) -> String {
        let mut text = format!(
            "{label}: {} creates in {:.2} s ({:.0}/s), p50 {} ms, p99 {} ms, max {} ms, \
             server CPU {:.2} ms/create, bench CPU {:.2} ms/create, {} errors",
            self.latencies.len(),
            self.wall.as_secs_f64(),
            self.rate(),
            fmt_ms(self.percentile(50.0)),
            fmt_ms(self.percentile(99.0)),
            fmt_ms(self.max()),
            self.cpu_per_create(self.server_cpu),
            self.cpu_per_create(self.client_cpu),
            self.errors
        );
        if let Some(error) = &self.first_error {
            text.push_str(&format!(" (first: {error})"));
        }
        text
    }
}

type Outcome = Result<Duration, String>;

fn finish(outcomes: Vec<Outcome>, wall: Duration, cpu: (Duration, Duration)) -> Run {
    let mut latencies = Vec::with_capacity(outcomes.len());
    let mut errors = 0;
    let mut first_error = None;
    for outcome in outcomes {
        match outcome {
            Ok(latency) => latencies.push(latency),
            Err(error) => {
                errors += 1;
                first_error.get_or_insert(error);
            }
        }
    }
    latencies.sort();
    Run {
        latencies,
        errors,
        first_error,
        wall,
        server_cpu: cpu.0,
        client_cpu: cpu.1,
    }
}

async fn create(maps: &Api<ConfigMap>, object: &ConfigMap) -> Result<(), String> {
    match timeout(REQUEST_LIMIT, maps.create(&PostParams::default(), object)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!("no answer in {REQUEST_LIMIT:?}")),
    }
}

/// `clients` tasks create back to back until `creates` are done (or the
/// run's time is up).
async fn closed_loop(
    maps: &Api<ConfigMap>,
    prefix: &str,
    clients: usize,
    creates: usize,
    server: &Server,
) -> Res<Run> {
    let next = Arc::new(AtomicUsize::new(0));
    let (server_cpu, own_cpu) = (server.cpu(), cpu_time("/proc/self/stat"));
    let started = Instant::now();
    let stop_at = started + RUN_LIMIT;
    let mut tasks = JoinSet::new();
    for _ in 0..clients {
        let (maps, next, prefix) = (maps.clone(), next.clone(), prefix.to_string());
        tasks.spawn(async move {
            let mut outcomes = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= creates || Instant::now() >= stop_at {
                    return outcomes;
                }
                let object = config_map(&format!("{prefix}-{index:05}"), index);
                let sent = Instant::now();
                let result = create(&maps, &object).await;
                outcomes.push(result.map(|()| sent.elapsed()));
            }
        });
    }
    let mut outcomes = Vec::with_capacity(creates);
    while let Some(result) = tasks.join_next().await {
        outcomes.extend(result?);
    }
    let wall = started.elapsed();
    let cpu = (
        server.cpu().saturating_sub(server_cpu),
        cpu_time("/proc/self/stat").saturating_sub(own_cpu),
    );
    Ok(finish(outcomes, wall, cpu))
}

/// Open loop at a fixed rate: each create is sent at its scheduled time
/// whatever the earlier ones are doing, and its latency counts from that
/// time, so a stalled server shows up as latency, not as a lower rate.
async fn paced(maps: &Api<ConfigMap>, server: &Server) -> Res<Run> {
    let total = PACED_RATE * PACED_SECONDS;
    let mut ticks = tokio::time::interval(Duration::from_nanos(1_000_000_000 / PACED_RATE));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let (server_cpu, own_cpu) = (server.cpu(), cpu_time("/proc/self/stat"));
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for index in 0..total as usize {
        let scheduled = ticks.tick().await.into_std();
        let maps = maps.clone();
        tasks.spawn(async move {
            let object = config_map(&format!("paced-{index:05}"), index);
            create(&maps, &object).await.map(|()| scheduled.elapsed())
        });
    }
    let sent = started.elapsed();
    let mut outcomes = Vec::with_capacity(total as usize);
    while let Some(result) = tasks.join_next().await {
        outcomes.push(result?);
    }
    let cpu = (
        server.cpu().saturating_sub(server_cpu),
        cpu_time("/proc/self/stat").saturating_sub(own_cpu),
    );
    // The rate is what was offered: creates over the sending period.
    Ok(finish(outcomes, sent, cpu))
}

struct ListFigure {
    label: String,
    times: Vec<Duration>,
    items: usize,
    bytes: usize,
    pages: usize,
}

async fn list_text(
    client: &kube::Client,
    params: &ListParams,
    accept: Option<&str>,
) -> Res<(Duration, String)> {
    let path = format!("/api/v1/namespaces/{BENCH_NS}/configmaps");
    let mut request = kube::core::Request::new(path).list(params)?;
    if let Some(accept) = accept {
        request.headers_mut().insert("accept", accept.parse()?);
    }
    let sent = Instant::now();
    let text = timeout(REQUEST_LIMIT, client.request_text(request))
        .await
        .map_err(|_| "list timed out")??;
    Ok((sent.elapsed(), text))
}

/// Items (or Table rows) and the continue token of one list response;
/// parsed outside the timed part.
fn page_contents(text: &str, table: bool) -> Res<(usize, Option<String>)> {
    let value: serde_json::Value = serde_json::from_str(text)?;
    let items = value[if table { "rows" } else { "items" }]
        .as_array()
        .map_or(0, Vec::len);
    let token = value["metadata"]["continue"]
        .as_str()
        .filter(|token| !token.is_empty())
        .map(str::to_string);
    Ok((items, token))
}

/// The whole namespace in one response, `repeats` times.
async fn full_lists(
    client: &kube::Client,
    label: &str,
    params: &ListParams,
    accept: Option<&str>,
) -> Res<ListFigure> {
    let table = accept.is_some();
    let mut figure = ListFigure {
        label: label.into(),
        times: Vec::new(),
        items: 0,
        bytes: 0,
        pages: 1,
    };
    for _ in 0..LIST_REPEATS {
        let (took, text) = list_text(client, params, accept).await?;
        figure.times.push(took);
        figure.bytes = text.len();
        figure.items = page_contents(&text, table)?.0;
    }
    figure.times.sort();
    Ok(figure)
}

/// Walks the namespace in pages of `PAGE_SIZE`; the time is the sum of the
/// requests.
async fn paged_lists(client: &kube::Client, label: &str, accept: Option<&str>) -> Res<ListFigure> {
    let table = accept.is_some();
    let mut figure = ListFigure {
        label: label.into(),
        times: Vec::new(),
        items: 0,
        bytes: 0,
        pages: 0,
    };
    for _ in 0..PAGED_REPEATS {
        let (mut total, mut items, mut bytes, mut pages) = (Duration::ZERO, 0, 0, 0);
        let mut token: Option<String> = None;
        loop {
            let mut params = ListParams::default().limit(PAGE_SIZE);
            if let Some(token) = &token {
                params = params.continue_token(token);
            }
            let (took, text) = list_text(client, &params, accept).await?;
            total += took;
            bytes += text.len();
            pages += 1;
            let (count, next) = page_contents(&text, table)?;
            items += count;
            token = next;
            if token.is_none() || pages > LIST_OBJECTS {
                break;
            }
        }
        figure.times.push(total);
        (figure.items, figure.bytes, figure.pages) = (items, bytes, pages);
    }
    figure.times.sort();
    Ok(figure)
}

async fn list_benchmarks(client: &kube::Client) -> Res<Vec<ListFigure>> {
    let figures = vec![
        full_lists(client, "full list (JSON)", &ListParams::default(), None).await?,
        full_lists(
            client,
            "full list, resourceVersion=0",
            &ListParams::default().match_any(),
            None,
        )
        .await?,
        paged_lists(client, "paged list, limit=500", None).await?,
        paged_lists(
            client,
            "`kubectl get cm` Table, limit=500",
            Some(TABLE_ACCEPT),
        )
        .await?,
    ];
    for figure in &figures {
        eprintln!(
            "{}: {} items in {} page(s), {} bytes, p50 {} ms",
            figure.label,
            figure.items,
            figure.pages,
            figure.bytes,
            fmt_ms(percentile(&figure.times, 50.0))
        );
        if figure.items != LIST_OBJECTS {
            return Err(format!(
                "{} returned {} items, expected {LIST_OBJECTS}",
                figure.label, figure.items
            )
            .into());
        }
    }
    Ok(figures)
}

/// Nearest-rank percentile of sorted durations.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn fmt_ms(duration: Duration) -> String {
    let value = ms(duration);
    if value < 10.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.1}")
    }
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "**not met**"
    }
}

struct Report {
    ready: Ready,
    idle: Memory,
    loaded: Memory,
    after: Memory,
    disk: u64,
    runs: Vec<(String, Run)>,
    paced: Run,
    lists: Vec<ListFigure>,
    stop: Duration,
    load_before: String,
    load_after: String,
}

impl Report {
    fn print(&self) {
        let ready = &self.ready;
        let median = |list: &[Duration]| percentile(list, 50.0);
        let ready_ms = ms(median(&ready.readyz));
        let paced_p99 = ms(self.paced.percentile(99.0));
        println!();
        println!(
            "Load average (1/5/15 min): {} at start, {} at end.",
            self.load_before, self.load_after
        );
        println!();
        println!("| figure | value | target | verdict |");
        println!("| --- | --- | --- | --- |");
        println!(
            "| time to ready: spawn to `/readyz` ok, median of {READY_STARTS} fresh starts | \
             {ready_ms:.1} ms (min {:.1}, max {:.1}; ready line on stdout {:.1} ms; \
             server's own figure {:.0} ms) | ≤ 500 ms | {} |",
            ms(ready.readyz[0]),
            ms(ready.readyz[ready.readyz.len() - 1]),
            ms(median(&ready.line)),
            ms(median(&ready.printed)),
            verdict(ready_ms <= TARGET_READY_MS)
        );
        println!(
            "| RSS idle, {} s after ready | {:.1} MiB | ≤ 30 MB | {} |",
            IDLE_WAIT.as_secs(),
            self.idle.rss,
            verdict(self.idle.rss <= TARGET_IDLE_RSS)
        );
        println!(
            "| RSS with {LIST_OBJECTS} ConfigMaps, after the lists | {:.1} MiB (peak {:.1} MiB) \
             | ≤ 150 MB | {} |",
            self.loaded.rss,
            self.loaded.peak,
            verdict(self.loaded.rss <= TARGET_LOADED_RSS)
        );
        println!(
            "| create p99 at {PACED_RATE} creates/s for {PACED_SECONDS} s (open loop) | \
             {} ms (p50 {} ms, max {} ms, {} errors) | ≤ 10 ms | {} |",
            fmt_ms(self.paced.percentile(99.0)),
            fmt_ms(self.paced.percentile(50.0)),
            fmt_ms(self.paced.max()),
            self.paced.errors,
            verdict(paced_p99 <= TARGET_PACED_P99_MS && self.paced.errors == 0)
        );
        println!(
            "| RSS after the paced run ({} ConfigMaps) | {:.1} MiB (peak {:.1} MiB) | | |",
            LIST_OBJECTS + self.paced.latencies.len(),
            self.after.rss,
            self.after.peak
        );
        println!(
            "| SQLite files with {LIST_OBJECTS} ConfigMaps | {:.1} MiB | | |",
            self.disk as f64 / 1024.0 / 1024.0
        );
        println!("| shutdown on SIGTERM | {:.0} ms | | |", ms(self.stop));
        println!();
        println!(
            "| ConfigMap creates | creates | errors | creates/s | p50 | p99 | max \
             | server CPU per create | bench CPU per create |"
        );
        println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        let rows = self
            .runs
            .iter()
            .map(|(label, run)| (format!("{label}, closed loop"), run))
            .chain(std::iter::once((
                format!("paced {PACED_RATE}/s, open loop"),
                &self.paced,
            )));
        for (label, run) in rows {
            println!(
                "| {label} | {} | {} | {:.0} | {} ms | {} ms | {} ms | {:.2} ms | {:.2} ms |",
                run.latencies.len(),
                run.errors,
                run.rate(),
                fmt_ms(run.percentile(50.0)),
                fmt_ms(run.percentile(99.0)),
                fmt_ms(run.max()),
                run.cpu_per_create(run.server_cpu),
                run.cpu_per_create(run.client_cpu)
            );
        }
        println!();
        println!(
            "| list of {LIST_OBJECTS} ConfigMaps | requests | pages each | body | p50 | p99 |"
        );
        println!("| --- | ---: | ---: | ---: | ---: | ---: |");
        for figure in &self.lists {
            println!(
                "| {} | {} | {} | {:.1} MiB | {} ms | {} ms |",
                figure.label,
                figure.times.len(),
                figure.pages,
                figure.bytes as f64 / 1024.0 / 1024.0,
                fmt_ms(percentile(&figure.times, 50.0)),
                fmt_ms(percentile(&figure.times, 99.0))
            );
        }
    }
}
