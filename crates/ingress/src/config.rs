//! The configuration the proxy serves, built whole from the cluster's
//! objects and swapped atomically: a request or TLS handshake reads one
//! snapshot from start to end, and open connections live on across swaps.

use std::sync::{Arc, PoisonError, RwLock};

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};

use crate::certificates::{CertificateCache, CertificateTable, SecretLookup};
use crate::class::{served_ingresses, ClassSelection};
use crate::routes::RouteTable;

/// Routes and certificates, as of one moment.
#[derive(Debug, Default)]
pub(crate) struct Config {
    pub(crate) routes: RouteTable,
    pub(crate) certificates: CertificateTable,
}

/// The cluster's objects a [`Config`] is built from.
pub(crate) struct ClusterObjects<'a> {
    pub(crate) classes: &'a [Arc<IngressClass>],
    pub(crate) ingresses: &'a [Arc<Ingress>],
    pub(crate) services: &'a [Arc<Service>],
    pub(crate) endpoint_slices: &'a [Arc<EndpointSlice>],
    pub(crate) secrets: SecretLookup<'a>,
}

impl Config {
    pub(crate) fn build(
        objects: &ClusterObjects<'_>,
        certificates: &mut CertificateCache,
    ) -> Config {
        let selection = ClassSelection::new(objects.classes.iter().map(Arc::as_ref));
        let served = served_ingresses(&selection, objects.ingresses);
        Config {
            routes: RouteTable::build(&served, objects.services, objects.endpoint_slices),
            certificates: CertificateTable::build(&served, objects.secrets, certificates),
        }
    }
}

/// The current [`Config`], shared by the listeners and replaced whole.
#[derive(Debug, Default)]
pub(crate) struct SharedConfig {
    current: RwLock<Arc<Config>>,
}

impl SharedConfig {
    #[cfg(test)]
    pub(crate) fn new(config: Config) -> Self {
        SharedConfig {
            current: RwLock::new(Arc::new(config)),
        }
    }

    /// The configuration now; it stays valid however long it is held.
    pub(crate) fn current(&self) -> Arc<Config> {
        // The lock only guards a pointer swap, so a panic elsewhere cannot
        // leave it half-written; a poisoned lock is still good.
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn replace(&self, config: Config) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(config);
    }
}
