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
                        if entry.startup.record(probe, ok, now) {
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
                    if entry.liveness.record(probe, ok, now) {
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

/// Runs one probe once; true when it passed.
async fn check<R: Runtime>(
    runtime: &R,
    container: &Container,
    id: &str,
    ip: &str,
    probe: &Probe,
) -> bool {
    let timeout =
        Duration::from_secs(u64::try_from(probe.timeout_seconds.unwrap_or(1).max(1)).unwrap_or(1));
    if let Some(exec) = &probe.exec {
        let command = exec.command.clone().unwrap_or_default();
        return matches!(runtime.exec_sync(id, &command, timeout).await, Ok(0));
    }
    let port_of = |port: &IntOrString| -> Option<u16> {
        match port {
            IntOrString::Int(number) => u16::try_from(*number).ok(),
            IntOrString::String(name) => container
                .ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .and_then(|p| u16::try_from(p.container_port).ok()),
        }
    };
    let work = async {
        if let Some(http) = &probe.http_get {
            let host = http.host.clone().unwrap_or_else(|| ip.to_string());
            let port = port_of(&http.port)?;
            if http.scheme.as_deref() == Some("HTTPS") {
                // Without TLS in the prober, HTTPS probes check that the
                // port accepts connections.
                return tcp(&host, port).await.then_some(true);
            }
            return http_get(&host, port, http.path.as_deref().unwrap_or("/"), http).await;
        }
        if let Some(socket) = &probe.tcp_socket {
            let host = socket.host.clone().unwrap_or_else(|| ip.to_string());
            return Some(tcp(&host, port_of(&socket.port)?).await);
        }
        if let Some(grpc) = &probe.grpc {
            // A gRPC health check needs a gRPC client per probe; until
            // then the port accepting connections counts.
            return Some(tcp(ip, u16::try_from(grpc.port).ok()?).await);
        }
        Some(true)
    };
    let passed = matches!(tokio::time::timeout(timeout, work).await, Ok(Some(true)));
    tracing::debug!(container = %container.name, passed, "probe");
    passed
}

async fn tcp(host: &str, port: u16) -> bool {
    let Ok(address) = format!("{host}:{port}").parse::<SocketAddr>() else {
        return false;
    };
    TcpStream::connect(address).await.is_ok()
}

/// An HTTP GET as upstream's prober sends it; 200–399 passes.
async fn http_get(
    host: &str,
    port: u16,
    path: &str,
    http: &k8s_openapi::api::core::v1::HTTPGetAction,
) -> Option<bool> {
    let address: SocketAddr = format!("{host}:{port}").parse().ok()?;
    let mut stream = TcpStream::connect(address).await.ok()?;
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: kube-probe/1.33\r\nAccept: */*\r\nConnection: close\r\n");
    for header in http.http_headers.iter().flatten() {
        request.push_str(&format!("{}: {}\r\n", header.name, header.value));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut head = [0u8; 64];
    let read = stream.read(&mut head).await.ok()?;
    let line = std::str::from_utf8(&head[..read]).ok()?;
    let code: u16 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some((200..400).contains(&code))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{RuntimeContainer, RuntimeError};

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
        async fn exec_sync(&self, _: &str, _: &[String], _: Duration) -> Result<i32, RuntimeError> {
            Ok(self.code)
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
        let first = run(&failing, &pod, &mut current, &mut results).await;
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
        let second = run(&failing, &pod, &mut current, &mut results).await;
        assert_eq!(
            second.kill,
            vec![("c".to_string(), "containerd://1".to_string())]
        );

        let passing = Fake { code: 0 };
        let mut results = HashMap::new();
        let mut current = status(started);
        run(&passing, &pod, &mut current, &mut results).await;
        assert_eq!(current.containers[0].ready, Some(true));
    }
}
