//! Ingress backends resolved to the addresses that serve them: the
//! Service's port by number or name, then the ready endpoints of the
//! Service's EndpointSlices on the port of the same name.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use http::uri::Authority;
use k8s_openapi::api::core::v1::{Service, ServicePort};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::IngressBackend;

/// The label that ties an EndpointSlice to its Service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// Where one Ingress backend sends requests, chosen round robin.
pub struct Backend {
    /// `namespace/service:port`, for the log.
    pub name: String,
    endpoints: Vec<Authority>,
    next: AtomicUsize,
}

impl Backend {
    fn new(name: String, endpoints: Vec<Authority>) -> Backend {
        // A random start, so that a rebuilt table does not send the next
        // request of every backend to its first endpoint.
        let start = RandomState::new().hash_one(&name) as usize;
        Backend {
            name,
            endpoints,
            next: AtomicUsize::new(start),
        }
    }

    /// The endpoint for the next request, or None when nothing is ready.
    pub fn next_endpoint(&self) -> Option<&Authority> {
        if self.endpoints.is_empty() {
            return None;
        }
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        self.endpoints.get(turn % self.endpoints.len())
    }

    /// All ready endpoints, as `address:port`.
    pub fn endpoints(&self) -> &[Authority] {
        &self.endpoints
    }
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backend")
            .field("name", &self.name)
            .field("endpoints", &self.endpoints)
            .finish()
    }
}

/// The Services and EndpointSlices of the cluster, indexed for resolving
/// backends; a backend named twice resolves to one shared [`Backend`], so
/// that round robin spans all the rules that use it.
pub(crate) struct ServiceIndex<'a> {
    services: HashMap<(&'a str, &'a str), &'a Service>,
    slices: HashMap<(&'a str, &'a str), Vec<&'a EndpointSlice>>,
    resolved: HashMap<String, Arc<Backend>>,
}

impl<'a> ServiceIndex<'a> {
    pub(crate) fn new(services: &'a [Arc<Service>], slices: &'a [Arc<EndpointSlice>]) -> Self {
        let services = services
            .iter()
            .filter_map(|service| {
                let meta = &service.metadata;
                Some((
                    (meta.namespace.as_deref()?, meta.name.as_deref()?),
                    &**service,
                ))
            })
            .collect();
        let mut by_service: HashMap<(&str, &str), Vec<&EndpointSlice>> = HashMap::new();
        for slice in slices {
            let meta = &slice.metadata;
            let service = meta
                .labels
                .as_ref()
                .and_then(|labels| labels.get(SERVICE_NAME_LABEL));
            if let (Some(namespace), Some(service)) = (meta.namespace.as_deref(), service) {
                by_service
                    .entry((namespace, service))
                    .or_default()
                    .push(slice);
            }
        }
        ServiceIndex {
            services,
            slices: by_service,
            resolved: HashMap::new(),
        }
    }

    /// The backend an Ingress in `namespace` names. One that cannot be
    /// resolved (no such Service or port, a resource backend) has no
    /// endpoints, so requests to it get 503 as from a Service with none.
    pub(crate) fn backend(&mut self, namespace: &str, backend: &IngressBackend) -> Arc<Backend> {
        let name = backend_name(namespace, backend);
        if let Some(known) = self.resolved.get(&name) {
            return known.clone();
        }
        let found = backend.service.as_ref().and_then(|wanted| {
            let port = wanted.port.as_ref()?;
            let key = (namespace, wanted.name.as_str());
            let service = self.services.get(&key)?;
            let slices = self.slices.get(&key).map(Vec::as_slice).unwrap_or_default();
            Some(endpoints(
                service,
                port.number,
                port.name.as_deref(),
                slices,
            ))
        });
        let resolved = Arc::new(Backend::new(name.clone(), found.unwrap_or_default()));
        self.resolved.insert(name, resolved.clone());
        resolved
    }
}

/// `namespace/service:port` of a backend, which also tells backends apart.
fn backend_name(namespace: &str, backend: &IngressBackend) -> String {
    match (&backend.service, &backend.resource) {
        (Some(service), _) => {
            let port = service.port.as_ref();
            match (
                port.and_then(|port| port.number),
                port.and_then(|port| port.name.as_deref()),
            ) {
                (Some(number), _) => format!("{namespace}/{}:{number}", service.name),
                (None, Some(port)) => format!("{namespace}/{}:{port}", service.name),
                (None, None) => format!("{namespace}/{}", service.name),
            }
        }
        // Backends of other kinds (a CRD's objects) mean nothing to a proxy.
        (None, Some(resource)) => format!(
            "{namespace}/{}/{} (unsupported resource backend)",
            resource.kind, resource.name
        ),
        (None, None) => format!("{namespace}/(no backend)"),
    }
}

/// The addresses serving `service`'s port given by `number` or `name`.
fn endpoints(
    service: &Service,
    number: Option<i32>,
    name: Option<&str>,
    slices: &[&EndpointSlice],
) -> Vec<Authority> {
    let spec = service.spec.as_ref();
    let port = spec
        .and_then(|spec| spec.ports.as_deref())
        .unwrap_or_default()
        .iter()
        .find(|port| match number {
            Some(number) => port.port == number,
            None => name.is_some_and(|name| port.name.as_deref() == Some(name)),
        });
    let Some(port) = port else {
        return Vec::new();
    };
    if spec.and_then(|spec| spec.type_.as_deref()) == Some("ExternalName") {
        // The Service is a DNS name outside the cluster; the connector
        // resolves it per connection, as ingress-nginx does.
        let host = spec
            .and_then(|spec| spec.external_name.as_deref())
            .unwrap_or_default();
        return authority(host, port.port).into_iter().collect();
    }
    let mut found: Vec<Authority> = slices
        .iter()
        .flat_map(|slice| ready_addresses(slice, port))
        .collect();
    found.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    // An endpoint may sit in two slices while they are being rebalanced.
    found.dedup();
    found
}

/// The ready endpoints of one slice on the slice port named as `port` is.
fn ready_addresses<'s>(
    slice: &'s EndpointSlice,
    port: &ServicePort,
) -> impl Iterator<Item = Authority> + 's {
    let wanted = port.name.as_deref().unwrap_or_default();
    let number = slice
        .ports
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|candidate| candidate.name.as_deref().unwrap_or_default() == wanted)
        .and_then(|candidate| candidate.port);
    slice
        .endpoints
        .iter()
        .filter(move |_| number.is_some())
        // A missing `ready` means ready, as the API documents.
        .filter(|endpoint| {
            endpoint
                .conditions
                .as_ref()
                .and_then(|conditions| conditions.ready)
                != Some(false)
        })
        // The addresses of one endpoint are fungible; the first is used, as
        // kube-proxy does.
        .filter_map(move |endpoint| authority(endpoint.addresses.first()?, number?))
}

/// `host:port`, with IPv6 addresses bracketed; None for what is not a host.
fn authority(host: &str, port: i32) -> Option<Authority> {
    let port = u16::try_from(port).ok().filter(|port| *port != 0)?;
    let text = match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(address)) => format!("[{address}]:{port}"),
        Ok(IpAddr::V4(address)) => format!("{address}:{port}"),
        Err(_) => format!("{}:{port}", host.trim_end_matches('.')),
    };
    match text.parse::<Authority>() {
        Ok(authority) if !host.is_empty() => Some(authority),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{
        backend_by_name, backend_by_number, endpoint_slice, service, SliceEndpoint,
    };

    fn resolve(
        services: &[Arc<Service>],
        slices: &[Arc<EndpointSlice>],
        backend: &IngressBackend,
    ) -> Vec<String> {
        let mut index = ServiceIndex::new(services, slices);
        let backend = index.backend("default", backend);
        backend
            .endpoints()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn port_number_picks_the_service_port_and_its_slice_port_by_name() {
        let services = [service("web", &[("http", 80), ("admin", 81)])];
        let slices = [endpoint_slice(
            "web",
            &[("http", 8080), ("admin", 9090)],
            &[
                SliceEndpoint::ready("10.0.0.1"),
                SliceEndpoint::ready("10.0.0.2"),
            ],
        )];
        assert_eq!(
            resolve(&services, &slices, &backend_by_number("web", 80)),
            ["10.0.0.1:8080", "10.0.0.2:8080"]
        );
        assert_eq!(
            resolve(&services, &slices, &backend_by_number("web", 81)),
            ["10.0.0.1:9090", "10.0.0.2:9090"]
        );
        assert_eq!(
            resolve(&services, &slices, &backend_by_name("web", "admin")),
            ["10.0.0.1:9090", "10.0.0.2:9090"]
        );
    }

    #[test]
    fn unknown_service_or_port_has_no_endpoints() {
        let services = [service("web", &[("http", 80)])];
        let slices = [endpoint_slice(
            "web",
            &[("http", 8080)],
            &[SliceEndpoint::ready("10.0.0.1")],
        )];
        assert!(resolve(&services, &slices, &backend_by_number("web", 81)).is_empty());
        assert!(resolve(&services, &slices, &backend_by_name("web", "grpc")).is_empty());
        assert!(resolve(&services, &slices, &backend_by_number("api", 80)).is_empty());
    }

    #[test]
    fn only_ready_endpoints_count_and_missing_readiness_means_ready() {
        let services = [service("web", &[("", 80)])];
        let slices = [
            endpoint_slice(
                "web",
                &[("", 8080)],
                &[
                    SliceEndpoint::ready("10.0.0.1"),
                    SliceEndpoint::not_ready("10.0.0.2"),
                    SliceEndpoint::unknown("10.0.0.3"),
                ],
            ),
            endpoint_slice(
                "web",
                &[("", 8080)],
                &[
                    SliceEndpoint::ready("fd00::4"),
                    SliceEndpoint::ready("10.0.0.1"),
                ],
            ),
        ];
        assert_eq!(
            resolve(&services, &slices, &backend_by_number("web", 80)),
            ["10.0.0.1:8080", "10.0.0.3:8080", "[fd00::4]:8080"]
        );
    }

    #[test]
    fn round_robin_visits_every_endpoint() {
        let services = [service("web", &[("", 80)])];
        let slices = [endpoint_slice(
            "web",
            &[("", 80)],
            &[
                SliceEndpoint::ready("10.0.0.1"),
                SliceEndpoint::ready("10.0.0.2"),
            ],
        )];
        let mut index = ServiceIndex::new(&services, &slices);
        let backend = index.backend("default", &backend_by_number("web", 80));
        let first = backend.next_endpoint().map(ToString::to_string);
        let second = backend.next_endpoint().map(ToString::to_string);
        let third = backend.next_endpoint().map(ToString::to_string);
        assert_ne!(first, second);
        assert_eq!(first, third);
        // The same backend named again is the same object, so turns are shared.
        assert!(Arc::ptr_eq(
            &backend,
            &index.backend("default", &backend_by_number("web", 80))
        ));
    }

    #[test]
    fn external_name_service_points_at_its_dns_name() {
        let mut external = service("ext", &[("", 443)]);
        if let Some(spec) = Arc::make_mut(&mut external).spec.as_mut() {
            spec.type_ = Some("ExternalName".into());
            spec.external_name = Some("api.example.com".into());
        }
        assert_eq!(
            resolve(&[external], &[], &backend_by_number("ext", 443)),
            ["api.example.com:443"]
        );
    }

    #[test]
    fn nonsense_addresses_are_skipped() {
        assert!(authority("", 80).is_none());
        assert!(authority("10.0.0.1", 0).is_none());
        assert!(authority("10.0.0.1", 70000).is_none());
        assert!(authority("bad host", 80).is_none());
    }
}
