//! Lifecycle hooks, as upstream's handler runner: `postStart` runs right
//! after a container starts (the next container waits for it), `preStop`
//! before a container is asked to stop, inside its grace period. A hook
//! is a command run in the container, an HTTP GET to it (any answer
//! will do, only a failed request fails) or a sleep.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, LifecycleHandler, Pod};

use super::probes::{http_get, port_number};
use crate::events::{Events, Kind};
use crate::runtime::Runtime;

/// Upstream's shortest grace period left for the stop after a preStop
/// hook (`minimumGracePeriodInSeconds`).
const MINIMUM_GRACE: Duration = Duration::from_secs(2);

/// Runs `handler` for the container instance `id` (`<runtime>://<id>`),
/// taking at most `limit`; on failure, upstream's message.
pub async fn run<R: Runtime>(
    runtime: &R,
    pod: &Pod,
    container: &Container,
    id: &str,
    ip: &str,
    handler: &LifecycleHandler,
    limit: Duration,
) -> Result<(), String> {
    let pod_name = format!(
        "{}_{}({})",
        pod.metadata.name.as_deref().unwrap_or_default(),
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.uid.as_deref().unwrap_or_default()
    );
    if let Some(exec) = &handler.exec {
        let command = exec.command.clone().unwrap_or_default();
        let (failed, output) = match runtime.exec_sync(id, &command, limit).await {
            Ok(exited) if exited.code == 0 => return Ok(()),
            Ok(exited) => (
                format!(
                    "command '{}' exited with {}: {}",
                    command.join(" "),
                    exited.code,
                    exited.output
                ),
                exited.output,
            ),
            Err(error) => (error.message, String::new()),
        };
        return Err(format!(
            "Exec lifecycle hook ([{}]) for Container {:?} in Pod {pod_name:?} failed - error: {failed}, message: {output:?}",
            command.join(" "),
            container.name
        ));
    }
    if let Some(http) = &handler.http_get {
        let path = http.path.clone().unwrap_or_else(|| "/".into());
        let failed = |error: String| {
            format!(
                "HTTP lifecycle hook ({path}) for Container {:?} in Pod {pod_name:?} failed - error: {error}",
                container.name
            )
        };
        let host = http.host.clone().unwrap_or_else(|| ip.to_string());
        let port = port_number(container, &http.port)
            .ok_or_else(|| failed(format!("invalid port {:?}", http.port)))?;
        return match tokio::time::timeout(limit, http_get(&host, port, &path, http)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => Err(failed(error)),
            Err(_) => Err(failed("context deadline exceeded".into())),
        };
    }
    if let Some(sleep) = &handler.sleep {
        let wanted = Duration::from_secs(u64::try_from(sleep.seconds).unwrap_or(0));
        tokio::time::sleep(wanted.min(limit)).await;
        return Ok(());
    }
    Err(format!(
        "invalid handler for Container {:?} in Pod {pod_name:?}: only exec, httpGet and sleep are supported",
        container.name
    ))
}

/// Runs the preStop hooks of the given running instances (name, id) at
/// once, within `grace`; returns the grace left for stopping them.
pub async fn pre_stop<R: Runtime>(
    runtime: &R,
    events: &Events,
    pod: &Pod,
    running: &[(String, String)],
    ip: &str,
    grace: Duration,
) -> Duration {
    let Some(spec) = &pod.spec else {
        return grace;
    };
    let started = Instant::now();
    let hooks = running.iter().filter_map(|(name, id)| {
        let container = spec
            .containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
            .find(|c| &c.name == name)?;
        let handler = container.lifecycle.as_ref()?.pre_stop.as_ref()?;
        Some(async move {
            if let Err(message) = run(runtime, pod, container, id, ip, handler, grace).await {
                tracing::info!(container = %name, %message, "preStop hook");
                // The message is not recorded: it may hold secrets.
                let failed = "PreStopHook failed".to_string();
                events.container(pod, name, Kind::Warning, "FailedPreStopHook", failed);
            }
        })
    });
    let hooks: Vec<_> = hooks.collect();
    if hooks.is_empty() {
        return grace;
    }
    futures_util::future::join_all(hooks).await;
    grace.saturating_sub(started.elapsed()).max(MINIMUM_GRACE)
}
