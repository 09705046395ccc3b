use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use capstan_store::sqlite::{SqliteOptions, SqliteStore};
use capstan_store::{Bytes, Store};

const DIR_VAR: &str = "CAPSTAN_CRASH_DIR";
const RUN_VAR: &str = "CAPSTAN_CRASH_RUN";
const TASKS: usize = 8;
const KEYS_PER_TASK: usize = 20_000;
const RUNS: usize = 3;
const LINE_TIMEOUT: Duration = Duration::from_secs(60);

fn value_of(key: &str) -> Bytes {
    Bytes::from(format!("value of {key}"))
}

fn db_path(dir: &Path) -> PathBuf {
    dir.join("state.db")
}

/// Run by `crash_recovery` in a child process: writes keys from several
/// tasks and prints `ack <key> <mod_revision>` once each create returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "run by crash_recovery in a child process"]
async fn crash_child() {
    let Ok(dir) = std::env::var(DIR_VAR) else {
        return;
    };
    let run = std::env::var(RUN_VAR).unwrap_or_default();
    let store = SqliteStore::open(db_path(Path::new(&dir)), SqliteOptions::default())
        .await
        .expect("open the sqlite store after a crash");
    let store = Arc::new(store);
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let store = store.clone();
        let run = run.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..KEYS_PER_TASK {
                let key = format!("/crash/{run}/{task}/{i:06}");
                let kv = store.create(&key, value_of(&key)).await.expect("create");
                let mut out = std::io::stdout().lock();
                writeln!(out, "ack {} {}", kv.key, kv.mod_revision).expect("write ack");
                out.flush().expect("flush ack");
            }
        }));
    }
    for task in tasks {
        task.await.expect("writer task panicked");
    }
}

struct Ack {
    key: String,
    revision: i64,
    run: usize,
}

fn parse_ack(line: &str, run: usize) -> Option<Ack> {
    let mut words = line.strip_prefix("ack ")?.split(' ');
    let key = words.next()?.to_string();
    let revision = words.next()?.parse().ok()?;
    Some(Ack { key, revision, run })
}

/// xorshift64, seeded from the clock.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Runs the child once, kills it with SIGKILL after `kill_after` acks and
/// returns every ack it printed.
fn run_child(dir: &Path, run: usize, kill_after: usize) -> Vec<Ack> {
    let exe = std::env::current_exe().expect("the test binary");
    let mut child = Command::new(exe)
        .args(["crash_child", "--exact", "--ignored", "--nocapture"])
        .env(DIR_VAR, dir)
        .env(RUN_VAR, run.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the child");
    let stdout = child.stdout.take().expect("the child's stdout");
    let (lines, received) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });

    let mut acks = Vec::new();
    while acks.len() < kill_after {
        match received.recv_timeout(LINE_TIMEOUT) {
            Ok(line) => acks.extend(parse_ack(&line, run)),
            Err(RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                panic!("run {run}: no output from the child for {LINE_TIMEOUT:?}");
            }
            Err(RecvTimeoutError::Disconnected) => {
                let status = child.wait().expect("wait for the child");
                panic!(
                    "run {run}: the child exited ({status}) after {} acks",
                    acks.len()
                );
            }
        }
    }
    child.kill().expect("kill the child");
    let status = child.wait().expect("wait for the child");
    assert!(!status.success(), "run {run}: the child was not killed");
    reader.join().expect("the reader thread panicked");
    acks.extend(received.try_iter().filter_map(|line| parse_ack(&line, run)));
    acks
}

fn integrity_check(path: &Path) {
    let connection = rusqlite::Connection::open(path).expect("open the file with sqlite");
    let result: String = connection
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .expect("run the integrity check");
    assert_eq!(result, "ok", "integrity check of {}", path.display());
}

#[test]
fn crash_recovery() {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .subsec_nanos();
    let mut seed = u64::from(nanos) | 1;
    let mut acks = Vec::new();
    for run in 0..RUNS {
        let kill_after = 1 + (next_random(&mut seed) % 800) as usize;
        let got = run_child(dir.path(), run, kill_after);
        eprintln!(
            "run {run}: killed after {kill_after} acks, {} acks in all",
            got.len()
        );
        assert!(got.len() >= kill_after);
        acks.extend(got);
    }

    let path = db_path(dir.path());
    integrity_check(&path);

    let mut revisions = HashSet::new();
    for ack in &acks {
        assert!(
            revisions.insert(ack.revision),
            "revision {} acknowledged twice",
            ack.revision
        );
    }
    for run in 1..RUNS {
        let before = acks
            .iter()
            .filter(|a| a.run < run)
            .map(|a| a.revision)
            .max();
        let first = acks
            .iter()
            .filter(|a| a.run == run)
            .map(|a| a.revision)
            .min();
        if let (Some(before), Some(first)) = (before, first) {
            assert!(
                first > before,
                "run {run} reused revision {first} <= {before}"
            );
        }
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let store = SqliteStore::open(&path, SqliteOptions::default())
            .await
            .expect("open the sqlite store after the crashes");
        for ack in &acks {
            let kv = store
                .get(&ack.key, 0)
                .await
                .expect("get")
                .unwrap_or_else(|| panic!("acknowledged key {} is lost", ack.key));
            assert_eq!(kv.mod_revision, ack.revision, "{}", ack.key);
            assert_eq!(kv.create_revision, ack.revision, "{}", ack.key);
            assert_eq!(kv.version, 1, "{}", ack.key);
            assert_eq!(kv.value, value_of(&ack.key), "{}", ack.key);
        }
        let count = store.count("/crash/").await.expect("count");
        assert!(
            count >= acks.len() as i64,
            "{count} keys, {} acks",
            acks.len()
        );
        let newest = acks.iter().map(|a| a.revision).max().unwrap_or(0);
        assert!(store.current_revision().await.expect("current revision") >= newest);
        let kv = store
            .create("/crash/after", value_of("/crash/after"))
            .await
            .expect("create after the crashes");
        assert!(kv.mod_revision > newest);
        store.close().await;
    });
    integrity_check(&path);
}
