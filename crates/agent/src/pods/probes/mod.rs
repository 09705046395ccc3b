//! Startup, liveness and readiness probes, as upstream's prober: each
//! running container instance has its own results; a probe runs when its
//! period is due (after `initialDelaySeconds`), succeeds or fails
//! `successThreshold`/`failureThreshold` times in a row before its result
//! flips, and liveness and readiness wait until startup succeeded.

mod grpc;
mod http;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use tokio::net::TcpStream;

pub(super) use self::http::http_get;
use crate::events::{Events, Kind};
use crate::runtime::{ContainerState, Runtime, RuntimePodStatus};

/// The results of one container instance's probes.
#[derive(Clone, Debug, Default)]
pub struct Results {
    /// The instance these results are about.
    container_id: String,
    startup: Track,
    liveness: Track,
    readiness: Track,
}

/// One probe's run of results.
#[derive(Clone, Debug, Default)]
struct Track {
    /// The result as it stands (`None` before the first verdict).
    passing: Option<bool>,
    successes: i32,
    failures: i32,
    last_run: Option<Timestamp>,
}

impl Track {
    /// Records a result; true when it turned the probe to failing.
    fn record(&mut self, probe: &Probe, ok: bool, now: Timestamp) -> bool {
        let was_failing = self.passing == Some(false);
        self.last_run = Some(now);
        if ok {
            self.successes += 1;
            self.failures = 0;
            if self.successes >= probe.success_threshold.unwrap_or(1).max(1) {
                self.passing = Some(true);
            }
        } else {
            self.failures += 1;
            self.successes = 0;
            if self.failures >= probe.failure_threshold.unwrap_or(3).max(1) {
                self.passing = Some(false);
            }
        }
        !was_failing && self.passing == Some(false)
    }

    /// When the probe should run next.
    fn due(&self, probe: &Probe, started_at: Timestamp) -> Timestamp {
        let seconds = |s: Option<i32>| i64::from(s.unwrap_or(0).max(0));
        match self.last_run {
            None => {
                started_at
                    + k8s_openapi::jiff::SignedDuration::from_secs(seconds(
                        probe.initial_delay_seconds,
                    ))
            }
            Some(last) => {
                last + k8s_openapi::jiff::SignedDuration::from_secs(
                    seconds(probe.period_seconds.or(Some(10))).max(1),
                )
            }
        }
    }
}

/// What the probes found in one round.
#[derive(Debug, Default)]
pub struct Verdicts {
    /// Containers whose liveness or startup probe failed: restart them.
    pub kill: Vec<(String, String)>,
    /// When a probe is next due.
    pub wake_after: Option<Duration>,
}

/// Runs the probes that are due for the pod's running containers, records
/// their results in `results` and sets each container's readiness in
/// `status`.
pub async fn run<R: Runtime>(
    runtime: &R,
    events: &Events,
    pod: &Pod,
    status: &mut RuntimePodStatus,
    results: &mut HashMap<String, Results>,
) -> Verdicts {
    let mut verdicts = Verdicts::default();
    let Some(spec) = &pod.spec else {
        return verdicts;
    };
    let ip = status.ip.clone().unwrap_or_default();
    let now = Timestamp::now();
    let containers = spec.containers.iter().chain(
        spec.init_containers
            .iter()
            .flatten()
            .filter(|c| c.restart_policy.as_deref() == Some("Always")),
    );
    for container in containers {
        let Some(found) = status
            .containers
            .iter_mut()
            .find(|c| c.name == container.name)
        else {
            continue;
        };
        let ContainerState::Running { started_at } = found.state else {
            results.remove(&container.name);
            continue;
        };
        let entry = results.entry(container.name.clone()).or_default();
        if entry.container_id != found.id {
            *entry = Results {
                container_id: found.id.clone(),
                ..Results::default()
            };
        }
        let mut next: Vec<Timestamp> = Vec::new();
        let id = found.id.clone();
        let probe_run = Run {
            runtime,
            events,
            pod,
            container,
            id: &id,
            ip: &ip,
            started_at,
            now,
        };
        let mut failed = Vec::new();
        if let Some(probe) = &container.startup_probe {
            if entry.startup.passing != Some(true) {
                let (due, turned) = probe_run.step(probe, "Startup", &mut entry.startup).await;
                next.push(due);
                failed.extend(turned.then_some("startup"));
            }
        }
        let started = container.startup_probe.is_none() || entry.startup.passing == Some(true);
        if started {
            if let Some(probe) = &container.liveness_probe {
                let (due, turned) = probe_run.step(probe, "Liveness", &mut entry.liveness).await;
                next.push(due);
                failed.extend(turned.then_some("liveness"));
            }
            if let Some(probe) = &container.readiness_probe {
                let (due, _) = probe_run
                    .step(probe, "Readiness", &mut entry.readiness)
                    .await;
                next.push(due);
            }
        }
        for kind in failed {
            kill(events, pod, container, kind);
            verdicts.kill.push((container.name.clone(), id.clone()));
        }
        // Ready once started and, with a readiness probe, once it passes.
        let dying = entry.liveness.passing == Some(false) || entry.startup.passing == Some(false);
        let ready = started
            && !dying
            && (container.readiness_probe.is_none() || entry.readiness.passing == Some(true));
        found.ready = Some(found.ready.unwrap_or(true) && ready);
        if let Some(soonest) = next.into_iter().min() {
            let after = soonest.duration_since(Timestamp::now());
            let after = Duration::try_from(after)
                .unwrap_or(Duration::ZERO)
                .max(Duration::from_millis(100));
            verdicts.wake_after = Some(verdicts.wake_after.map_or(after, |w| w.min(after)));
        }
    }
    results.retain(|name, _| status.containers.iter().any(|c| &c.name == name));
    verdicts
}

/// One round of a container instance's probes.
struct Run<'a, R> {
    runtime: &'a R,
    events: &'a Events,
    pod: &'a Pod,
    container: &'a Container,
    id: &'a str,
    ip: &'a str,
    started_at: Timestamp,
    now: Timestamp,
}

impl<R: Runtime> Run<'_, R> {
    /// Runs `probe` (`kind`: Startup, Liveness, Readiness) if it is due
    /// and records its result in `track`; returns when it is next due
    /// and whether this run turned it failing.
    async fn step(&self, probe: &Probe, kind: &str, track: &mut Track) -> (Timestamp, bool) {
        let mut turned = false;
        if track.due(probe, self.started_at) <= self.now {
            let result = check(self.runtime, self.container, self.id, self.ip, probe).await;
            let ok = report(self.events, self.pod, self.container, kind, result);
            turned = track.record(probe, ok, self.now);
        }
        (track.due(probe, self.started_at), turned)
    }
}

/// Records a failed probe, or one that passed with a warning, as
/// upstream's prober does; true when it passed.
fn report(
    events: &Events,
    pod: &Pod,
    container: &Container,
    probe: &str,
    result: Result<Option<String>, String>,
) -> bool {
    match result {
        Ok(None) => true,
        Ok(Some(warning)) => {
            let message = format!("{probe} probe warning: {warning}");
            events.container(pod, &container.name, Kind::Warning, "ProbeWarning", message);
            true
        }
        Err(output) => {
            let message = format!("{probe} probe failed: {output}");
            events.container(pod, &container.name, Kind::Warning, "Unhealthy", message);
            false
        }
    }
}

/// Records that a container is stopped for a failed probe.
fn kill(events: &Events, pod: &Pod, container: &Container, probe: &str) {
    let message = format!(
        "Container {} failed {probe} probe, will be restarted",
        container.name
    );
    events.container(pod, &container.name, Kind::Normal, "Killing", message);
}

/// Runs one probe once; on failure, its output as upstream words it. A
/// probe that passed with a warning gives the warning.
async fn check<R: Runtime>(
    runtime: &R,
    container: &Container,
    id: &str,
    ip: &str,
    probe: &Probe,
) -> Result<Option<String>, String> {
    let timeout =
        Duration::from_secs(u64::try_from(probe.timeout_seconds.unwrap_or(1).max(1)).unwrap_or(1));
    if let Some(exec) = &probe.exec {
        let command = exec.command.clone().unwrap_or_default();
        return match runtime.exec_sync(id, &command, timeout).await {
            Ok(exited) if exited.code == 0 => Ok(None),
            Ok(exited) => Err(exited.output),
            Err(error) => Err(error.message),
        };
    }
    let port_of = |port: &IntOrString| -> Result<u16, String> {
        port_number(container, port).ok_or_else(|| format!("invalid port {port:?}"))
    };
    if let Some(grpc) = &probe.grpc {
        // It keeps its own deadline, for upstream's timeout messages.
        let port = u16::try_from(grpc.port).map_err(|_| format!("invalid port {}", grpc.port))?;
        let service = grpc.service.as_deref().unwrap_or_default();
        let result = grpc::check(ip, port, service, timeout).await;
        tracing::debug!(container = %container.name, ?result, "probe");
        return result.map(|()| None);
    }
    // The URL being fetched, for a timeout's message.
    let mut url = String::new();
    let work = async {
        if let Some(action) = &probe.http_get {
            let host = action
                .host
                .as_deref()
                .filter(|h| !h.is_empty())
                .unwrap_or(ip);
            let port = port_of(&action.port)?;
            let path = action.path.as_deref().unwrap_or_default();
            let answer = http::get(host, port, path, action, &mut url).await?;
            if !(200..400).contains(&answer.code) {
                return Err(format!(
                    "HTTP probe failed with statuscode: {}",
                    answer.code
                ));
            }
            if answer.code >= 300 {
                // Upstream passes a redirect it did not follow (to another
                // host), warning about it.
                return Ok(Some(format!(
                    "Probe terminated redirects, Response body: {}",
                    answer.body
                )));
            }
            return Ok(None);
        }
        if let Some(socket) = &probe.tcp_socket {
            let host = socket
                .host
                .as_deref()
                .filter(|h| !h.is_empty())
                .unwrap_or(ip);
            return dial(host, port_of(&socket.port)?).await.map(|_| None);
        }
        Ok(None)
    };
    let result = match tokio::time::timeout(timeout, work).await {
        Ok(result) => result,
        Err(_) if probe.http_get.is_some() => Err(format!(
            "Get {url:?}: context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
        )),
        Err(_) => Err("i/o timeout".into()),
    };
    tracing::debug!(container = %container.name, ?result, "probe");
    result
}

/// A probe's or hook's port: a number, or the name of a container port.
pub(super) fn port_number(container: &Container, port: &IntOrString) -> Option<u16> {
    match port {
        IntOrString::Int(number) => u16::try_from(*number).ok(),
        IntOrString::String(name) => container
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .and_then(|p| u16::try_from(p.container_port).ok()),
    }
}

/// A connection to `host:port` as Go's dialer makes it, a name looked up
/// first; failures worded as Go's (`dial tcp 10.42.0.5:80: connect:
/// connection refused`).
async fn dial(host: &str, port: u16) -> Result<TcpStream, String> {
    let addresses: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map(Iterator::collect)
            .unwrap_or_default(),
    };
    let mut failure = format!("dial tcp: lookup {host}: no such host");
    for address in addresses {
        match TcpStream::connect(address).await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(error) => failure = format!("dial tcp {address}: {}", connect_error(&error)),
        }
    }
    Err(failure)
}

/// `host:port`, an IPv6 host in brackets (Go's `net.JoinHostPort`).
fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// A failed connect as Go words it.
fn connect_error(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::ConnectionRefused => "connect: connection refused".into(),
        std::io::ErrorKind::HostUnreachable => "connect: no route to host".into(),
        std::io::ErrorKind::NetworkUnreachable => "connect: network is unreachable".into(),
        _ => format!("connect: {error}"),
    }
}

#[cfg(test)]
mod tests;
