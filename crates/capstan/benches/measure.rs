//! What the benchmarks read off the machine (CPU time of a process and of
//! all cores, load, memory of a process, the CPU model), how they sum up
//! samples, and how they wait for a `capstan server` they started.

#![allow(dead_code)]

use std::time::Duration;

/// User plus system CPU time from a /proc stat file (100 ticks a second).
pub fn cpu_time(path: &str) -> Duration {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or_default();
    let ticks: u64 = after_name
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|field| field.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

/// User plus system CPU time of a process so far.
pub fn process_cpu(pid: u32) -> Duration {
    cpu_time(&format!("/proc/{pid}/stat"))
}

/// CPU time all cores spent busy since boot, from /proc/stat.
pub fn machine_busy() -> Duration {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let line = stat.lines().next().unwrap_or_default();
    let ticks = line.split_whitespace().skip(1).take(8);
    let ticks: Vec<u64> = ticks.filter_map(|field| field.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal: all but idle and iowait.
    let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
    Duration::from_millis((ticks.iter().sum::<u64>().saturating_sub(idle)) * 10)
}

pub fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A memory figure of /proc/<pid>/status (VmRSS, VmHWM) in MB.
pub fn memory_mb(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb * 1024.0 / 1e6)
}

pub fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    info.lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
        .map_or_else(
            || "unknown CPU".into(),
            |(_, model)| model.trim().to_string(),
        )
}

/// The value at `q` of sorted `values` (nearest rank).
pub fn quantile(values: &[Duration], q: f64) -> Duration {
    if values.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

pub fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Waits up to `limit` for a spawned `capstan server` to print its ready
/// line on stdout, then keeps draining that output so the server never
/// writes into a closed pipe. `exited` says where to look if it stops
/// before.
pub async fn server_ready(
    child: &mut tokio::process::Child,
    limit: Duration,
    exited: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
    let ready = tokio::time::timeout(limit, async {
        while let Some(line) = lines.next_line().await? {
            if line.contains("ready at https://") {
                return Ok(true);
            }
        }
        Ok::<bool, std::io::Error>(false)
    });
    match ready.await {
        Err(_) => return Err("capstan server did not become ready".into()),
        Ok(Ok(false)) => {
            return Err(format!("capstan server exited before it was ready{exited}").into())
        }
        Ok(result) => result?,
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(())
}
