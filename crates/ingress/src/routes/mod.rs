//! The routing table: which backend serves a (host, path), built from the
//! served Ingresses, the Services and their EndpointSlices. It is pure
//! data, rebuilt whole when any of those change and swapped in atomically.
//!
//! A request picks one group of rules by host (an exact host, else a
//! wildcard one label deep, else the rules without a host), then a path
//! within it; when nothing matches, the `defaultBackend` of the oldest
//! Ingress that has one serves it, else the answer is 404.

mod backends;
mod paths;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;

pub use backends::Backend;
use backends::ServiceIndex;
use paths::{PathMatch, PathRoutes};

use crate::hosts;

/// The annotation with which an Ingress opts out of the redirect of plain
/// HTTP to HTTPS for its TLS hosts (ingress-nginx's name for it).
const SSL_REDIRECT_ANNOTATION: &str = "nginx.ingress.kubernetes.io/ssl-redirect";

/// What a matched rule leads to.
#[derive(Debug)]
pub struct Route {
    /// `namespace/name` of the Ingress the rule comes from.
    pub ingress: Arc<str>,
    pub backend: Arc<Backend>,
    /// Whether requests over plain HTTP are redirected to HTTPS: the host
    /// has a TLS entry in the rule's Ingress, which did not opt out.
    pub ssl_redirect: bool,
}

/// Routes by (host, path); see the module documentation.
#[derive(Debug, Default)]
pub struct RouteTable {
    exact_hosts: HashMap<String, PathRoutes>,
    /// Keyed by the domain under the wildcard: `example.com` for `*.example.com`.
    wildcard_hosts: HashMap<String, PathRoutes>,
    any_host: Option<PathRoutes>,
    default_backend: Option<Arc<Route>>,
}

impl RouteTable {
    /// The table for `ingresses`, which must be the served ones in order of
    /// precedence (oldest first): when two Ingresses claim the same host
    /// and path, the first keeps it, as in ingress-nginx.
    pub fn build(
        ingresses: &[Arc<Ingress>],
        services: &[Arc<Service>],
        endpoint_slices: &[Arc<EndpointSlice>],
    ) -> RouteTable {
        let mut index = ServiceIndex::new(services, endpoint_slices);
        let mut table = RouteTable::default();
        for ingress in ingresses {
            table.add(ingress, &mut index);
        }
        table
    }

    fn add(&mut self, ingress: &Ingress, index: &mut ServiceIndex<'_>) {
        let Some(spec) = &ingress.spec else { return };
        let namespace = ingress.metadata.namespace.as_deref().unwrap_or("default");
        let ingress_name: Arc<str> = format!(
            "{namespace}/{}",
            ingress.metadata.name.as_deref().unwrap_or_default()
        )
        .into();
        if let (None, Some(default)) = (&self.default_backend, &spec.default_backend) {
            self.default_backend = Some(Arc::new(Route {
                ingress: ingress_name.clone(),
                backend: index.backend(namespace, default),
                ssl_redirect: false,
            }));
        }
        let tls = TlsHosts::of(ingress);
        let redirect_allowed = ingress
            .metadata
            .annotations
            .as_ref()
            .and_then(|annotations| annotations.get(SSL_REDIRECT_ANNOTATION))
            .is_none_or(|value| value.trim() != "false");
        for rule in spec.rules.iter().flatten() {
            let Some(http) = &rule.http else { continue };
            let host = hosts::normalize_configured(rule.host.as_deref().unwrap_or_default());
            let ssl_redirect = redirect_allowed && tls.covers(&host);
            let routes = if host.is_empty() {
                self.any_host.get_or_insert_with(PathRoutes::default)
            } else if let Some(domain) = hosts::wildcard_domain(&host) {
                self.wildcard_hosts.entry(domain.to_string()).or_default()
            } else {
                self.exact_hosts.entry(host.clone()).or_default()
            };
            for path in &http.paths {
                let route = Arc::new(Route {
                    ingress: ingress_name.clone(),
                    backend: index.backend(namespace, &path.backend),
                    ssl_redirect,
                });
                let rule_path = path.path.as_deref().unwrap_or_default();
                if !routes.insert(rule_path, PathMatch::from_path_type(&path.path_type), route) {
                    tracing::debug!(ingress = %ingress_name, host, path = rule_path, "path is taken by an older Ingress or is not a path; ignored");
                }
            }
        }
    }

    /// The route for a request: `host` as in the `Host` header (any port is
    /// ignored), `path` without the query. None means 404.
    pub fn route(&self, host: &str, path: &str) -> Option<&Route> {
        let host = hosts::normalize(host);
        let routes = self
            .exact_hosts
            .get(host.as_ref())
            .or_else(|| {
                hosts::wildcard_parent(&host).and_then(|parent| self.wildcard_hosts.get(parent))
            })
            .or(self.any_host.as_ref());
        routes
            .and_then(|routes| routes.find(path))
            .or(self.default_backend.as_ref())
            .map(Arc::as_ref)
    }
}

/// The hosts an Ingress's `spec.tls` covers. A TLS entry without hosts
/// covers all the hosts of the Ingress's rules.
struct TlsHosts {
    hosts: HashSet<String>,
    all: bool,
}

impl TlsHosts {
    fn of(ingress: &Ingress) -> TlsHosts {
        let mut tls_hosts = TlsHosts {
            hosts: HashSet::new(),
            all: false,
        };
        for entry in ingress
            .spec
            .iter()
            .flat_map(|spec| spec.tls.iter().flatten())
        {
            match entry.hosts.as_deref() {
                None | Some([]) => tls_hosts.all = true,
                Some(hosts) => tls_hosts
                    .hosts
                    .extend(hosts.iter().map(|host| hosts::normalize_configured(host))),
            }
        }
        tls_hosts
    }

    fn covers(&self, host: &str) -> bool {
        if host.is_empty() {
            return false;
        }
        self.all
            || self.hosts.contains(host)
            || hosts::wildcard_parent(host)
                .is_some_and(|parent| self.hosts.contains(&format!("*.{parent}")))
    }
}

/// A route to nowhere, labelled, for tests of the matching.
#[cfg(test)]
pub(crate) fn test_route(label: &str) -> Arc<Route> {
    let backends = ServiceIndex::new(&[], &[]).backend("test", &Default::default());
    Arc::new(Route {
        ingress: label.into(),
        backend: backends,
        ssl_redirect: false,
    })
}

#[cfg(test)]
mod tests;
