//! The proxy's side of the shared sync loop ([`capstan_nft::sync`]): each sync builds the model
//! from the cached Services and EndpointSlices and renders it; the loop applies the difference.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use capstan_nft::{RuleSource, Ruleset, SyncReport};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::Store;

use crate::cidr::Ipv4Cidr;
use crate::conntrack::{clear_stale, UdpServices};
use crate::health::{health_checks, HealthServers};
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
    /// How `conntrack` is run.
    pub conntrack: Vec<String>,
    pub flows: StaleFlowCleanup,
    pub health: HealthServers,
}

/// The UDP services of the last render and of the last cleanup of their stale flows.
#[derive(Default)]
pub(crate) struct StaleFlowCleanup {
    rendered: Mutex<UdpServices>,
    cleared: Mutex<Option<UdpServices>>,
    /// `conntrack` failed once: said once in the log, not at every sync.
    warned: AtomicBool,
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
        *lock(&self.flows.rendered) = UdpServices::from_model(&model);
        self.health.sync(&health_checks(&model));
        (render(&model, &self.cluster_cidrs), counts)
    }

    /// Flows can only have gone stale if the UDP services' endpoints changed since the last
    /// cleanup: flows made after it were balanced over the current ones.
    fn after_sync(&self) {
        let rendered = lock(&self.flows.rendered).clone();
        let mut cleared = lock(&self.flows.cleared);
        if cleared.as_ref() == Some(&rendered) {
            return;
        }
        match clear_stale(&self.conntrack, &rendered) {
            Ok(deletions) => {
                if deletions > 0 {
                    tracing::info!(deletions, "cleared stale UDP flows");
                }
                *cleared = Some(rendered);
                self.flows.warned.store(false, Ordering::Relaxed);
            }
            Err(error) => {
                // Retried at the next sync: `cleared` is left as it was.
                if !self.flows.warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!(%error, "stale UDP flows not cleared (is conntrack installed? apt-get install conntrack)");
                }
            }
        }
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

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
#[path = "sync_tests.rs"]
mod tests;
