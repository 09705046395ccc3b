//! Leader election through `coordination.k8s.io` Leases, as upstream's
//! client-go leaderelection: several servers sharing one store run one
//! scheduler and one controller manager between them. The holder renews
//! its Lease; a candidate takes it over once it has not been renewed for
//! the lease duration; a holder that cannot renew stops its component.

use std::future::Future;
use std::time::Duration;

use futures_util::future::{BoxFuture, FutureExt};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::Client;

/// Upstream's defaults for kube-scheduler and kube-controller-manager.
const LEASE_DURATION: Duration = Duration::from_secs(15);
const RENEW_DEADLINE: Duration = Duration::from_secs(10);
const RETRY_PERIOD: Duration = Duration::from_secs(2);

/// Where the Leases live.
const NAMESPACE: &str = "kube-system";

/// This process's identity as a candidate: `<hostname>_<random>`, as
/// upstream.
pub fn identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .unwrap_or_else(|_| "capstan".into());
    format!("{host}_{}", uuid::Uuid::new_v4())
}

/// Runs `component` whenever this process holds the Lease `name`, until
/// `shutdown` completes; then releases the Lease so another server (or
/// this one restarted) takes over at once.
pub async fn run_elected<F, Fut>(
    client: Client,
    name: &'static str,
    identity: String,
    component: F,
    shutdown: BoxFuture<'static, ()>,
) where
    F: Fn(BoxFuture<'static, ()>) -> Fut + Send,
    Fut: Future<Output = ()> + Send + 'static,
{
    let leases: Api<Lease> = Api::namespaced(client, NAMESPACE);
    let shutdown = shutdown.shared();
    loop {
        // Candidate: try until the Lease is ours.
        loop {
            match try_acquire_or_renew(&leases, name, &identity).await {
                Ok(true) => break,
                Ok(false) => {}
                Err(error) => tracing::debug!(%error, lease = name, "leader election"),
            }
            tokio::select! {
                _ = shutdown.clone() => return,
                _ = tokio::time::sleep(RETRY_PERIOD) => {}
            }
        }
        tracing::info!(lease = name, %identity, "became leader");
        // Leader: run the component while renewals succeed.
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let mut running = tokio::spawn(component(Box::pin(async move {
            let _ = stopped.await;
        })));
        let mut last_renewal = tokio::time::Instant::now();
        let released = loop {
            tokio::select! {
                _ = shutdown.clone() => break true,
                _ = &mut running => break false,
                _ = tokio::time::sleep(RETRY_PERIOD) => {}
            }
            match try_acquire_or_renew(&leases, name, &identity).await {
                Ok(true) => last_renewal = tokio::time::Instant::now(),
                Ok(false) => break false,
                Err(error) => {
                    tracing::debug!(%error, lease = name, "leader election: renew");
                    if last_renewal.elapsed() > RENEW_DEADLINE {
                        break false;
                    }
                }
            }
        };
        let _ = stop.send(());
        if tokio::time::timeout(Duration::from_secs(5), &mut running)
            .await
            .is_err()
        {
            running.abort();
        }
        if released {
            release(&leases, name, &identity).await;
            return;
        }
        tracing::warn!(lease = name, "lost leadership");
    }
}

/// Takes the Lease if it is free, expired or ours, and renews it; false
/// if another candidate holds it.
async fn try_acquire_or_renew(
    leases: &Api<Lease>,
    name: &str,
    identity: &str,
) -> kube::Result<bool> {
    let now = MicroTime(jiff::Timestamp::now());
    let Some(mut lease) = leases.get_opt(name).await? else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(identity.into()),
                lease_duration_seconds: Some(LEASE_DURATION.as_secs() as i32),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        return match leases.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(error) => Err(error),
        };
    };
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    let holder = spec.holder_identity.clone().unwrap_or_default();
    if holder != identity && !holder.is_empty() && !expired(spec, now.0) {
        return Ok(false);
    }
    if holder != identity {
        spec.holder_identity = Some(identity.into());
        spec.acquire_time = Some(now.clone());
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
    }
    spec.lease_duration_seconds = Some(LEASE_DURATION.as_secs() as i32);
    spec.renew_time = Some(now);
    // The resourceVersion read above makes this a compare-and-swap: of two
    // candidates taking an expired Lease, one gets a conflict.
    match leases.replace(name, &PostParams::default(), &lease).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(error) => Err(error),
    }
}

fn expired(spec: &LeaseSpec, now: jiff::Timestamp) -> bool {
    let duration = i64::from(spec.lease_duration_seconds.unwrap_or(0));
    match &spec.renew_time {
        Some(renewed) => renewed.0 + jiff::SignedDuration::from_secs(duration) < now,
        None => true,
    }
}

/// Gives the Lease up at shutdown, as upstream's ReleaseOnCancel: an empty
/// holder that expires in a second.
async fn release(leases: &Api<Lease>, name: &str, identity: &str) {
    let Ok(Some(mut lease)) = leases.get_opt(name).await else {
        return;
    };
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    if spec.holder_identity.as_deref() != Some(identity) {
        return;
    }
    spec.holder_identity = None;
    spec.lease_duration_seconds = Some(1);
    let _ = leases.replace(name, &PostParams::default(), &lease).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_expires_after_its_duration() {
        let renewed = jiff::Timestamp::from_second(1_000).unwrap();
        let spec = LeaseSpec {
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(renewed)),
            ..LeaseSpec::default()
        };
        let at = |second| jiff::Timestamp::from_second(second).unwrap();
        assert!(!expired(&spec, at(1_015)));
        assert!(expired(&spec, at(1_016)));
        assert!(expired(&LeaseSpec::default(), at(0)));
    }

    #[test]
    fn identities_differ() {
        assert_ne!(identity(), identity());
    }
}
