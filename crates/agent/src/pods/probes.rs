//! Startup, liveness and readiness probes, as upstream's prober: each
//! running container instance has its own results; a probe runs when its
//! period is due (after `initialDelaySeconds`), succeeds or fails
//! `successThreshold`/`failureThreshold` times in a row before its result
//! flips, and liveness and readiness wait until startup succeeded.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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
        let started = match &container.startup_probe {
            None => true,
            Some(probe) => {
                if entry.startup.passing != Some(true) {
                    let due = entry.startup.due(probe, started_at);
                    if due <= now {
                        let ok = check(runtime, container, &found.id, &ip, probe).await;
                        let ok = report(events, pod, container, "Startup", ok);
                        if entry.startup.record(probe, ok, now) {
                            kill(events, pod, container, "startup");
                            verdicts
                                .kill
                                .push((container.name.clone(), found.id.clone()));
                        }
                        next.push(entry.startup.due(probe, started_at));
                    } else {
                        next.push(due);
                    }
                }
                entry.startup.passing == Some(true)
            }
        };
        if started {
            if let Some(probe) = &container.liveness_probe {
                let due = entry.liveness.due(probe, started_at);
                if due <= now {
                    let ok = check(runtime, container, &found.id, &ip, probe).await;
                    let ok = report(events, pod, container, "Liveness", ok);
                    if entry.liveness.record(probe, ok, now) {
                        kill(events, pod, container, "liveness");
                        verdicts
                            .kill
                            .push((container.name.clone(), found.id.clone()));
                    }
                }
                next.push(entry.liveness.due(probe, started_at));
            }
            if let Some(probe) = &container.readiness_probe {
                let due = entry.readiness.due(probe, started_at);
                if due <= now {
                    let ok = check(runtime, container, &found.id, &ip, probe).await;
                    let ok = report(events, pod, container, "Readiness", ok);
                    entry.readiness.record(probe, ok, now);
                }
                next.push(entry.readiness.due(probe, started_at));
            }
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

/// Records a failed probe as upstream's prober does; true when it passed.
fn report(
    events: &Events,
    pod: &Pod,
    container: &Container,
    probe: &str,
    result: Result<(), String>,
) -> bool {
    let Err(output) = result else {
        return true;
    };
    let message = format!("{probe} probe failed: {output}");
    events.container(pod, &container.name, Kind::Warning, "Unhealthy", message);
    false
}

/// Records that a container is stopped for a failed probe.
fn kill(events: &Events, pod: &Pod, container: &Container, probe: &str) {
    let message = format!(
        "Container {} failed {probe} probe, will be restarted",
        container.name
    );
    events.container(pod, &container.name, Kind::Normal, "Killing", message);
}

/// Runs one probe once; on failure, its output as upstream words it.
async fn check<R: Runtime>(
    runtime: &R,
    container: &Container,
    id: &str,
    ip: &str,
    probe: &Probe,
) -> Result<(), String> {
    let timeout =
        Duration::from_secs(u64::try_from(probe.timeout_seconds.unwrap_or(1).max(1)).unwrap_or(1));
    if let Some(exec) = &probe.exec {
        let command = exec.command.clone().unwrap_or_default();
        return match runtime.exec_sync(id, &command, timeout).await {
            Ok(exited) if exited.code == 0 => Ok(()),
            Ok(exited) => Err(exited.output),
            Err(error) => Err(error.message),
        };
    }
    let port_of = |port: &IntOrString| -> Result<u16, String> {
        port_number(container, port).ok_or_else(|| format!("invalid port {port:?}"))
    };
    let mut target = String::new();
    let work = async {
        if let Some(http) = &probe.http_get {
            let host = http.host.clone().unwrap_or_else(|| ip.to_string());
            let port = port_of(&http.port)?;
            let path = http.path.as_deref().unwrap_or("/");
            let scheme = http
                .scheme
                .as_deref()
                .unwrap_or("HTTP")
                .to_ascii_lowercase();
            target = format!("Get \"{scheme}://{host}:{port}{path}\": ");
            if scheme == "https" {
                // Without TLS in the prober, HTTPS probes check that the
                // port accepts connections.
                return tcp(&host, port).await.map_err(|e| format!("{target}{e}"));
            }
            let code = http_get(&host, port, path, http).await?;
            if !(200..400).contains(&code) {
                return Err(format!("HTTP probe failed with statuscode: {code}"));
            }
            return Ok(());
        }
        if let Some(socket) = &probe.tcp_socket {
            let host = socket.host.clone().unwrap_or_else(|| ip.to_string());
            return tcp(&host, port_of(&socket.port)?).await;
        }
        if let Some(grpc) = &probe.grpc {
            // A gRPC health check needs a gRPC client per probe; until
            // then the port accepting connections counts.
            let port = u16::try_from(grpc.port).map_err(|e| e.to_string())?;
            return tcp(ip, port).await;
        }
        Ok(())
    };
    let result = match tokio::time::timeout(timeout, work).await {
        Ok(result) => result,
        Err(_) if probe.http_get.is_some() => Err(format!(
            "{target}context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
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

async fn tcp(host: &str, port: u16) -> Result<(), String> {
    let address = format!("{host}:{port}");
    let parsed: SocketAddr = address
        .parse()
        .map_err(|_| format!("dial tcp: address {address}: invalid address"))?;
    TcpStream::connect(parsed)
        .await
        .map(|_| ())
        .map_err(|e| format!("dial tcp {address}: {}", connect_error(&e)))
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

/// An HTTP GET as upstream's prober sends it; returns the status code.
pub(super) async fn http_get(
    host: &str,
    port: u16,
    path: &str,
    http: &k8s_openapi::api::core::v1::HTTPGetAction,
) -> Result<u16, String> {
    let address = format!("{host}:{port}");
    let url = format!("Get \"http://{address}{path}\"");
    let parsed: SocketAddr = address
        .parse()
        .map_err(|_| format!("{url}: dial tcp: address {address}: invalid address"))?;
    let mut stream = TcpStream::connect(parsed)
        .await
        .map_err(|e| format!("{url}: dial tcp {address}: {}", connect_error(&e)))?;
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: kube-probe/1.33\r\nAccept: */*\r\nConnection: close\r\n");
    for header in http.http_headers.iter().flatten() {
        request.push_str(&format!("{}: {}\r\n", header.name, header.value));
    }
    request.push_str("\r\n");
    let broken = |e: std::io::Error| format!("{url}: read tcp {address}: {e}");
    stream.write_all(request.as_bytes()).await.map_err(broken)?;
    let mut head = [0u8; 64];
    let read = stream.read(&mut head).await.map_err(broken)?;
    std::str::from_utf8(&head[..read])
        .ok()
        .and_then(|line| line.split_whitespace().nth(1)?.parse::<u16>().ok())
        .ok_or_else(|| format!("{url}: malformed HTTP response"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{Exited, RuntimeContainer, RuntimeError};

    /// A runtime whose exec probes exit with `code`.
    struct Fake {
        code: i32,
    }

    impl Runtime for Fake {
        async fn start_container(
            &self,
            _: &Pod,
            _: &Container,
            _: u32,
        ) -> Result<(), RuntimeError> {
            Ok(())
        }
        async fn stop_pod(&self, _: &str, _: Duration) -> Result<(), RuntimeError> {
            Ok(())
        }
        async fn remove_pod(&self, _: &str) {}
        async fn pod_status(&self, _: &str) -> RuntimePodStatus {
            RuntimePodStatus::default()
        }
        async fn exec_sync(
            &self,
            _: &str,
            _: &[String],
            _: Duration,
        ) -> Result<Exited, RuntimeError> {
            Ok(Exited {
                code: self.code,
                output: String::new(),
            })
        }
    }

    fn pod() -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "uid": "u"},
            "spec": {"containers": [{"name": "c",
                "livenessProbe": {"exec": {"command": ["check"]}, "periodSeconds": 1, "failureThreshold": 2},
                "readinessProbe": {"exec": {"command": ["check"]}, "periodSeconds": 1}}]}
        }))
        .unwrap()
    }

    fn status(started: Timestamp) -> RuntimePodStatus {
        RuntimePodStatus {
            sandbox_ready: true,
            ip: Some("127.0.0.1".into()),
            containers: vec![RuntimeContainer {
                name: "c".into(),
                id: "containerd://1".into(),
                image: String::new(),
                image_id: String::new(),
                attempt: 0,
                state: ContainerState::Running {
                    started_at: started,
                },
                previous: None,
                ready: None,
            }],
        }
    }

    #[tokio::test]
    async fn failing_probes_unready_then_kill() {
        let pod = pod();
        let started = Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_secs(5);
        let mut results = HashMap::new();
        let failing = Fake { code: 1 };
        let mut current = status(started);
        let first = run(
            &failing,
            &Events::default(),
            &pod,
            &mut current,
            &mut results,
        )
        .await;
        assert!(first.kill.is_empty(), "one failure is under the threshold");
        assert_eq!(current.containers[0].ready, Some(false));
        assert!(first
            .wake_after
            .is_some_and(|w| w <= Duration::from_secs(1)));
        // The next period: a second failure kills.
        for track in results.values_mut() {
            track.liveness.last_run =
                Some(Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_secs(2));
        }
        let mut current = status(started);
        let second = run(
            &failing,
            &Events::default(),
            &pod,
            &mut current,
            &mut results,
        )
        .await;
        assert_eq!(
            second.kill,
            vec![("c".to_string(), "containerd://1".to_string())]
        );

        let passing = Fake { code: 0 };
        let mut results = HashMap::new();
        let mut current = status(started);
        run(
            &passing,
            &Events::default(),
            &pod,
            &mut current,
            &mut results,
        )
        .await;
        assert_eq!(current.containers[0].ready, Some(true));
    }
}
