//! The same workload through the sqlite and etcd backends, side by side.
//!
//! `cargo bench -p capstan-store --bench store` runs both backends;
//! `cargo bench -p capstan-store --bench store -- sqlite` runs one.
//! Data goes under `$CAPSTAN_BENCH_DIR` (default: the temporary directory).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use capstan_store::etcd::{EtcdOptions, EtcdStore};
use capstan_store::sqlite::{SqliteOptions, SqliteStore};
use capstan_store::testing::EtcdServer;
use capstan_store::{Bytes, RangeRequest, Store};
use futures_util::StreamExt;

const VALUE_SIZE: usize = 512;
const SEQUENTIAL_CREATES: usize = 2_000;
const WRITERS: usize = 16;
const CREATES_PER_WRITER: usize = 500;
const RANGE_KEYS: usize = 10_000;
const RANGE_READS: usize = 20;
const WATCHERS: usize = 100;
const WATCHED_WRITES: usize = 1_000;
const WAIT: Duration = Duration::from_secs(60);

struct Row {
    backend: &'static str,
    workload: String,
    ops_per_sec: f64,
    p50: Duration,
    p99: Duration,
}

fn value() -> Bytes {
    Bytes::from(vec![b'x'; VALUE_SIZE])
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (sorted.len() as f64 * fraction).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn row(
    backend: &'static str,
    workload: String,
    ops: usize,
    elapsed: Duration,
    mut latencies: Vec<Duration>,
) -> Row {
    latencies.sort();
    Row {
        backend,
        workload,
        ops_per_sec: ops as f64 / elapsed.as_secs_f64(),
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
    }
}

async fn sequential_creates<S: Store>(backend: &'static str, store: &S) -> Row {
    let mut latencies = Vec::with_capacity(SEQUENTIAL_CREATES);
    let start = Instant::now();
    for i in 0..SEQUENTIAL_CREATES {
        let began = Instant::now();
        store
            .create(&format!("/seq/{i:06}"), value())
            .await
            .expect("create");
        latencies.push(began.elapsed());
    }
    let workload = format!("sequential creates ({SEQUENTIAL_CREATES})");
    row(
        backend,
        workload,
        SEQUENTIAL_CREATES,
        start.elapsed(),
        latencies,
    )
}

async fn concurrent_creates<S: Store>(backend: &'static str, store: &Arc<S>) -> Row {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(CREATES_PER_WRITER);
            for i in 0..CREATES_PER_WRITER {
                let began = Instant::now();
                store
                    .create(&format!("/conc/{writer:02}/{i:06}"), value())
                    .await
                    .expect("create");
                latencies.push(began.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("writer task"));
    }
    let workload = format!("{WRITERS} concurrent writers ({WRITERS}×{CREATES_PER_WRITER} creates)");
    row(
        backend,
        workload,
        WRITERS * CREATES_PER_WRITER,
        start.elapsed(),
        latencies,
    )
}

async fn range_reads<S: Store>(backend: &'static str, store: &Arc<S>) -> Row {
    let mut tasks = Vec::new();
    for part in 0..WRITERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in (part..RANGE_KEYS).step_by(WRITERS) {
                store
                    .create(&format!("/range/{i:06}"), value())
                    .await
                    .expect("create");
            }
        }));
    }
    for task in tasks {
        task.await.expect("loader task");
    }
    let mut latencies = Vec::with_capacity(RANGE_READS);
    let start = Instant::now();
    for _ in 0..RANGE_READS {
        let began = Instant::now();
        let response = store
            .range(RangeRequest {
                prefix: "/range/".into(),
                ..Default::default()
            })
            .await
            .expect("range");
        latencies.push(began.elapsed());
        assert_eq!(response.kvs.len(), RANGE_KEYS);
    }
    let workload = format!("range of {RANGE_KEYS} keys (reads/s)");
    row(backend, workload, RANGE_READS, start.elapsed(), latencies)
}

async fn watch_fan_out<S: Store>(backend: &'static str, store: &Arc<S>) -> Row {
    let from = store.current_revision().await.expect("current revision") + 1;
    let mut watchers = Vec::new();
    for _ in 0..WATCHERS {
        let mut watch = store.watch("/fan/", from).await.expect("watch");
        watchers.push(tokio::spawn(async move {
            let mut received = Vec::with_capacity(WATCHED_WRITES);
            while received.len() < WATCHED_WRITES {
                match tokio::time::timeout(WAIT, watch.next()).await {
                    Ok(Some(Ok(event))) => received.push((event.revision(), Instant::now())),
                    other => panic!("watch: {other:?}"),
                }
            }
            received
        }));
    }
    let mut sent = Vec::with_capacity(WATCHED_WRITES);
    let start = Instant::now();
    for i in 0..WATCHED_WRITES {
        let began = Instant::now();
        let kv = store
            .create(&format!("/fan/{i:06}"), value())
            .await
            .expect("create");
        sent.push((kv.mod_revision, began));
    }
    let mut last_seen = vec![start; WATCHED_WRITES];
    for watcher in watchers {
        let received = watcher.await.expect("watcher task");
        for (i, (revision, at)) in received.into_iter().enumerate() {
            assert_eq!(revision, sent[i].0, "watcher saw another revision");
            last_seen[i] = last_seen[i].max(at);
        }
    }
    let finished = last_seen.iter().copied().max().unwrap_or(start);
    let latencies = sent
        .iter()
        .zip(&last_seen)
        .map(|((_, began), seen)| seen.duration_since(*began))
        .collect();
    let workload = format!("watch fan-out to {WATCHERS} ({WATCHED_WRITES} writes, events/s)");
    row(
        backend,
        workload,
        WATCHERS * WATCHED_WRITES,
        finished.duration_since(start),
        latencies,
    )
}

async fn workload<S: Store>(backend: &'static str, store: Arc<S>) -> Vec<Row> {
    eprintln!("{backend}: sequential creates");
    let mut rows = vec![sequential_creates(backend, &*store).await];
    eprintln!("{backend}: concurrent writers");
    rows.push(concurrent_creates(backend, &store).await);
    eprintln!("{backend}: range");
    rows.push(range_reads(backend, &store).await);
    eprintln!("{backend}: watch fan-out");
    rows.push(watch_fan_out(backend, &store).await);
    rows
}

fn bench_dir() -> PathBuf {
    std::env::var_os("CAPSTAN_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
}

async fn run(backends: &[String]) -> Vec<Row> {
    let wanted = |name: &str| backends.is_empty() || backends.iter().any(|b| b == name);
    let mut rows = Vec::new();
    if wanted("sqlite") {
        let dir = tempfile::Builder::new()
            .prefix("capstan-bench-")
            .tempdir_in(bench_dir())
            .expect("create the data directory");
        let store = SqliteStore::open(dir.path().join("state.db"), SqliteOptions::default())
            .await
            .expect("open sqlite");
        let store = Arc::new(store);
        rows.extend(workload("sqlite", store.clone()).await);
        store.close().await;
    }
    if wanted("etcd") {
        let server = tokio::task::block_in_place(|| EtcdServer::start_in(&bench_dir()));
        let store = EtcdStore::connect(EtcdOptions {
            endpoints: vec![server.endpoint()],
            prefix: "/bench".into(),
            ..Default::default()
        })
        .await
        .expect("connect to etcd");
        rows.extend(workload("etcd", Arc::new(store)).await);
    }
    rows
}

fn millis(duration: Duration) -> String {
    format!("{:.3}", duration.as_secs_f64() * 1000.0)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|arg| arg == "--bench") {
        println!("not a test: run it with `cargo bench -p capstan-store --bench store`");
        return;
    }
    let backends: Vec<String> = args.into_iter().filter(|a| !a.starts_with('-')).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let rows = runtime.block_on(run(&backends));

    println!("| backend | workload | ops/s | p50 (ms) | p99 (ms) |");
    println!("|---|---|---:|---:|---:|");
    for row in rows {
        println!(
            "| {} | {} | {:.0} | {} | {} |",
            row.backend,
            row.workload,
            row.ops_per_sec,
            millis(row.p50),
            millis(row.p99)
        );
    }
}
