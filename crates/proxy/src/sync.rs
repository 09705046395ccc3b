//! The proxy's side of the shared sync loop ([`capstan_nft::sync`]): each sync builds the model
//! from the cached Services and EndpointSlices and renders it; the loop applies the difference.

use capstan_nft::{RuleSource, Ruleset, SyncReport};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::Store;

use crate::cidr::Ipv4Cidr;
use crate::model::ProxyModel;
use crate::render::render;

/// What one sync found, for the log.
#[derive(Debug)]
pub(crate) struct ServiceCounts {
    pub services: usize,
    pub service_ports: usize,
    pub endpoints: usize,
}

/// The caches the rules are made from, and what else rendering needs.
pub(crate) struct ServiceRules {
    pub services: Store<Service>,
    pub slices: Store<EndpointSlice>,
    pub node_name: String,
    pub cluster_cidrs: Vec<Ipv4Cidr>,
}

impl RuleSource for ServiceRules {
    type Summary = ServiceCounts;
    const COMPONENT: &'static str = "service proxy";
    const RULES: &'static str = "service rules";

    async fn ready(&self) -> bool {
        tokio::try_join!(
            self.services.wait_until_ready(),
            self.slices.wait_until_ready()
        )
        .is_ok()
    }

    fn render(&self) -> (Ruleset, ServiceCounts) {
        let services = self.services.state();
        let slices = self.slices.state();
        let model = ProxyModel::build(
            services.iter().map(AsRef::as_ref),
            slices.iter().map(AsRef::as_ref),
            &self.node_name,
        );
        let counts = ServiceCounts {
            services: model.service_count(),
            service_ports: model.service_ports.len(),
            endpoints: model.endpoint_count(),
        };
        (render(&model, &self.cluster_cidrs), counts)
    }

    fn log_synced(&self, report: &SyncReport<ServiceCounts>) {
        tracing::info!(
            services = report.summary.services,
            service_ports = report.summary.service_ports,
            endpoints = report.summary.endpoints,
            full = report.full,
            commands = report.commands,
            duration_ms = report.duration.as_secs_f64() * 1000.0,
            "synced service rules"
        );
    }
}

#[cfg(test)]
#[path = "sync_tests.rs"]
mod tests;
