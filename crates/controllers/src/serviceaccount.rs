//! The part of upstream's ServiceAccounts controller that makes a `default`
//! ServiceAccount exist in every active namespace, and recreates it when it
//! is deleted.

use std::future::Future;
use std::sync::Arc;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};

use crate::informers::Subscription;
use crate::{describe, status_code, Error};

/// The accounts every namespace gets.
pub const ACCOUNTS: &[&str] = &["default"];

/// Runs the controller until `shutdown` completes, from the shared
/// Namespaces.
pub async fn run(
    client: Client,
    namespaces: Subscription<Namespace>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let cache = namespaces.store();
    let accounts: Api<ServiceAccount> = Api::all(client.clone());
    // Only the accounts we keep: a deleted one brings its namespace back.
    let ours = watcher::Config::default().fields("metadata.name=default");
    Controller::for_shared_stream(namespaces.applied(), cache)
        .watches(accounts, ours, |account| {
            account
                .namespace()
                .map(|namespace| ObjectRef::<Namespace>::new(&namespace))
        })
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, Arc::new(client))
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "serviceaccount controller");
            }
        })
        .await;
}

/// Whether accounts should be made in this namespace: only in active ones,
/// as upstream (a terminating namespace refuses new content anyway).
pub fn wants_accounts(namespace: &Namespace) -> bool {
    let phase = namespace.status.as_ref().and_then(|s| s.phase.as_deref());
    namespace.metadata.deletion_timestamp.is_none() && matches!(phase, Some("Active") | None)
}

async fn reconcile(namespace: Arc<Namespace>, client: Arc<Client>) -> Result<Action, Error> {
    if !wants_accounts(&namespace) {
        return Ok(Action::await_change());
    }
    let name = namespace.name_any();
    let accounts: Api<ServiceAccount> = Api::namespaced((*client).clone(), &name);
    let mut failures = Vec::new();
    for account in ACCOUNTS {
        if accounts.get_metadata_opt(account).await?.is_some() {
            continue;
        }
        let wanted = ServiceAccount {
            metadata: ObjectMeta {
                name: Some(account.to_string()),
                namespace: Some(name.clone()),
                ..ObjectMeta::default()
            },
            ..ServiceAccount::default()
        };
        match accounts.create(&PostParams::default(), &wanted).await {
            Ok(_) => {}
            Err(error) if status_code(&error) == Some(409) => {}
            Err(error) if is_terminating(&error) => {}
            Err(error) => failures.push(describe(&error)),
        }
    }
    if failures.is_empty() {
        Ok(Action::await_change())
    } else {
        Err(Error::new(failures.join("; ")))
    }
}

/// The namespace began terminating after we looked: nothing to do. Known
/// by upstream's `NamespaceTerminating` cause, or else by its message.
fn is_terminating(error: &kube::Error) -> bool {
    let kube::Error::Api(status) = error else {
        return false;
    };
    let by_cause = status.details.as_ref().is_some_and(|details| {
        details
            .causes
            .iter()
            .any(|cause| cause.reason == "NamespaceTerminating")
    });
    status.code == 403 && (by_cause || status.message.contains("because it is being terminated"))
}

fn error_policy(namespace: Arc<Namespace>, error: &Error, _: Arc<Client>) -> Action {
    tracing::info!(namespace = %namespace.name_any(), %error, "cannot make service accounts");
    Action::requeue(std::time::Duration::from_secs(5))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::NamespaceStatus;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn namespace(phase: Option<&str>, deleting: bool) -> Namespace {
        Namespace {
            metadata: ObjectMeta {
                name: Some("x".into()),
                deletion_timestamp: deleting.then(|| Time(k8s_openapi::jiff::Timestamp::now())),
                ..ObjectMeta::default()
            },
            status: Some(NamespaceStatus {
                phase: phase.map(str::to_string),
                ..NamespaceStatus::default()
            }),
            ..Namespace::default()
        }
    }

    #[test]
    fn accounts_only_in_active_namespaces() {
        assert!(wants_accounts(&namespace(Some("Active"), false)));
        assert!(wants_accounts(&namespace(None, false)));
        assert!(!wants_accounts(&namespace(Some("Terminating"), false)));
        assert!(!wants_accounts(&namespace(Some("Active"), true)));
    }
}
