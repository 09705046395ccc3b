//! Enforcement's side of the shared sync loop ([`capstan_nft::sync`]): each sync builds the
//! model from the cached NetworkPolicies, Pods and Namespaces and renders it; the loop applies
//! the difference.

use capstan_nft::{RuleSource, Ruleset, SyncReport};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::runtime::reflector::Store;

use crate::model::NetpolModel;
use crate::render::render;

/// What one sync found, for the log.
#[derive(Debug)]
pub(crate) struct PolicyCounts {
    pub policies: usize,
    pub pods: usize,
    pub isolated: usize,
}

/// The caches the rules are made from, and this node's name.
pub(crate) struct PolicyRules {
    pub policies: Store<NetworkPolicy>,
    pub pods: Store<Pod>,
    pub namespaces: Store<Namespace>,
    pub node_name: String,
}

impl RuleSource for PolicyRules {
    type Summary = PolicyCounts;
    const COMPONENT: &'static str = "network policy enforcement";
    const RULES: &'static str = "network policy rules";

    /// Applying a partial view could isolate a pod without the policies that allow its traffic.
    async fn ready(&self) -> bool {
        tokio::try_join!(
            self.policies.wait_until_ready(),
            self.pods.wait_until_ready(),
            self.namespaces.wait_until_ready()
        )
        .is_ok()
    }

    fn render(&self) -> (Ruleset, PolicyCounts) {
        let policies = self.policies.state();
        let pods = self.pods.state();
        let namespaces = self.namespaces.state();
        let model = NetpolModel::build(
            policies.iter().map(AsRef::as_ref),
            pods.iter().map(AsRef::as_ref),
            namespaces.iter().map(AsRef::as_ref),
            &self.node_name,
        );
        let counts = PolicyCounts {
            policies: model.policies_in_effect(),
            pods: model.pods.len(),
            isolated: model.isolated_count(),
        };
        (render(&model), counts)
    }

    /// Pod churn elsewhere in the cluster syncs often without changing anything here: only
    /// syncs that changed the table are worth a line.
    fn log_synced(&self, report: &SyncReport<PolicyCounts>) {
        if report.commands > 0 {
            tracing::info!(
                policies = report.summary.policies,
                pods = report.summary.pods,
                isolated = report.summary.isolated,
                full = report.full,
                commands = report.commands,
                duration_ms = report.duration.as_secs_f64() * 1000.0,
                "synced network policy rules"
            );
        }
    }
}

#[cfg(test)]
#[path = "sync_tests.rs"]
mod tests;
