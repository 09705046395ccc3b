//! gRPC probes as upstream's prober: the standard `grpc.health.v1`
//! Health/Check call over plaintext HTTP/2 (upstream uses no TLS here),
//! passing when the service answers SERVING; failures worded as
//! upstream's.

use std::time::Duration;

use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use super::http::PROBE_USER_AGENT;
use super::join_host_port;
use crate::events::go_duration;

/// The first wait between connection attempts, doubled up to a second.
const FIRST_RETRY: Duration = Duration::from_millis(100);

/// Checks `service` (empty: the server as a whole) at `host:port` within
/// `timeout`.
pub(super) async fn check(
    host: &str,
    port: u16,
    service: &str,
    timeout: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let address = join_host_port(host, port);
    let within = go_duration(timeout);
    let channel = connect(&address, deadline)
        .await
        .map_err(|error| match error {
            Failure::Timeout => format!(
                "timeout: failed to connect service {address:?} within {within}: context deadline exceeded"
            ),
            Failure::Other(error) => {
                format!("error: failed to connect service at {address:?}: {error}")
            }
        })?;
    let left = deadline.saturating_duration_since(Instant::now());
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: service.to_string(),
    });
    // The server learns the deadline too, as grpc-go tells it.
    request.set_timeout(left);
    let timed_out = || format!("timeout: health rpc did not complete within {within}");
    let answer = match tokio::time::timeout_at(deadline, HealthClient::new(channel).check(request))
        .await
    {
        Err(_) => return Err(timed_out()),
        Ok(Err(status)) => {
            return Err(match status.code() {
                Code::Unimplemented => format!(
                    "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): {}",
                    status.message()
                ),
                Code::DeadlineExceeded => timed_out(),
                code => format!(
                    "error: health rpc probe failed: rpc error: code = {} desc = {}",
                    go_code(code),
                    status.message()
                ),
            });
        }
        Ok(Ok(answer)) => answer.into_inner(),
    };
    if answer.status == ServingStatus::Serving as i32 {
        return Ok(());
    }
    // Go prints an enum value it does not know as its number.
    let status = ServingStatus::try_from(answer.status)
        .map_or_else(|_| answer.status.to_string(), |s| s.as_str_name().into());
    Err(format!("service unhealthy (responded with {status:?})"))
}

/// Why no connection was made.
enum Failure {
    Timeout,
    Other(String),
}

/// An HTTP/2 connection to `address`, tried again until `deadline` as
/// grpc-go's blocking dial does (a server still starting may come up).
async fn connect(address: &str, deadline: Instant) -> Result<Channel, Failure> {
    let endpoint = Endpoint::from_shared(format!("http://{address}"))
        .and_then(|e| e.user_agent(PROBE_USER_AGENT))
        .map_err(|e| Failure::Other(e.to_string()))?;
    let mut wait = FIRST_RETRY;
    loop {
        match tokio::time::timeout_at(deadline, endpoint.connect()).await {
            Ok(Ok(channel)) => return Ok(channel),
            Ok(Err(error)) => {
                tracing::trace!(%address, %error, "gRPC probe: connect failed");
            }
            Err(_) => return Err(Failure::Timeout),
        }
        if Instant::now() + wait >= deadline {
            tokio::time::sleep_until(deadline).await;
            return Err(Failure::Timeout);
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(1));
    }
}

/// A gRPC code as grpc-go names it.
fn go_code(code: Code) -> String {
    match code {
        Code::Ok => "OK".into(),
        Code::Cancelled => "Canceled".into(),
        code => format!("{code:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_go_prints_them() {
        assert_eq!(go_code(Code::NotFound), "NotFound");
        assert_eq!(go_code(Code::Cancelled), "Canceled");
    }
}
