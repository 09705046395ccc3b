//! The proxy's view of the cluster: each service port with its endpoints, built from Service and
//! EndpointSlice objects as kube-proxy's service and endpoint-slice caches build theirs
//! (pkg/proxy/serviceport.go, endpointslicecache.go, topology.go). Pure: no I/O.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;

pub use capstan_nft::Protocol;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

use crate::cidr::Ipv4Cidr;

/// The label linking an EndpointSlice to its Service.
pub const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";
/// Services (and their slices) with this label belong to another proxy.
pub const LABEL_SERVICE_PROXY_NAME: &str = "service.kubernetes.io/service-proxy-name";
/// Set on the slices of headless Services, which get no rules.
pub const LABEL_HEADLESS: &str = "service.kubernetes.io/headless";
/// `sessionAffinityConfig.clientIP.timeoutSeconds` when unset: three hours.
pub const DEFAULT_AFFINITY_TIMEOUT_SECONDS: u32 = 10800;

/// One port of one Service: what endpoint-slice ports are matched against.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServicePortName {
    pub namespace: String,
    pub name: String,
    /// The port's name; empty for the single unnamed port a Service may have.
    pub port: String,
    pub protocol: Protocol,
}

impl fmt::Display for ServicePortName {
    /// `namespace/name:port`, or `namespace/name` for an unnamed port, as kube-proxy prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)?;
        if !self.port.is_empty() {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

/// A service port with everything the rules need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePort {
    pub name: ServicePortName,
    pub cluster_ip: Ipv4Addr,
    pub port: u16,
    /// Set for NodePort and LoadBalancer services that were allocated one.
    pub node_port: Option<u16>,
    pub external_ips: Vec<Ipv4Addr>,
    /// `status.loadBalancer.ingress[].ip` in VIP mode.
    pub load_balancer_ips: Vec<Ipv4Addr>,
    pub load_balancer_source_ranges: Vec<Ipv4Cidr>,
    /// The stickiness timeout when `sessionAffinity` is ClientIP.
    pub affinity_timeout_seconds: Option<u32>,
    /// `externalTrafficPolicy: Local` on a NodePort or LoadBalancer service.
    pub external_policy_local: bool,
    /// `internalTrafficPolicy: Local`.
    pub internal_policy_local: bool,
    /// `spec.healthCheckNodePort` of a LoadBalancer with `externalTrafficPolicy: Local`.
    pub health_check_node_port: Option<u16>,
    /// Deduplicated and sorted by `ip:port` text, as kube-proxy sorts them (the order decides
    /// which endpoint each `numgen` value picks, so it must not vary between syncs).
    pub endpoints: Vec<Endpoint>,
}

/// One address and port behind a service port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub ip: Ipv4Addr,
    pub port: u16,
    /// On this node (`nodeName` is the proxy's node).
    pub local: bool,
    pub ready: bool,
    pub serving: bool,
    pub terminating: bool,
}

/// The endpoints of a service port sorted for the traffic policies, as kube-proxy's
/// `CategorizeEndpoints` does (without topology hints).
#[derive(Debug, Default)]
pub struct CategorizedEndpoints<'a> {
    /// What Cluster traffic policy uses: the ready endpoints, or, when none is ready anywhere,
    /// the serving terminating ones. Empty if the port never uses Cluster policy.
    pub cluster: Vec<&'a Endpoint>,
    /// What Local traffic policy uses: the local ready endpoints, or the local serving
    /// terminating ones. Empty if the port never uses Local policy.
    pub local: Vec<&'a Endpoint>,
    /// The union of the two: the endpoints that get a chain on this node.
    pub reachable: Vec<&'a Endpoint>,
    /// Whether the service has a usable endpoint anywhere in the cluster.
    pub has_any: bool,
}

impl ServicePort {
    /// Reachable other than through the ClusterIP.
    pub fn externally_accessible(&self) -> bool {
        self.node_port.is_some()
            || !self.load_balancer_ips.is_empty()
            || !self.external_ips.is_empty()
    }

    /// Cluster policy is used by internal traffic unless it is Local, and by any external
    /// traffic (even with Local policy, to short-circuit traffic from the node and from pods).
    pub fn uses_cluster_endpoints(&self) -> bool {
        !self.internal_policy_local || self.externally_accessible()
    }

    pub fn uses_local_endpoints(&self) -> bool {
        self.internal_policy_local || (self.external_policy_local && self.externally_accessible())
    }

    pub fn categorize(&self) -> CategorizedEndpoints<'_> {
        let mut out = CategorizedEndpoints::default();
        if self.endpoints.is_empty() {
            return out;
        }
        let serving_terminating = |ep: &&Endpoint| ep.serving && ep.terminating;
        if self.uses_cluster_endpoints() {
            out.cluster = self.endpoints.iter().filter(|ep| ep.ready).collect();
            if out.cluster.is_empty() {
                out.cluster = self.endpoints.iter().filter(serving_terminating).collect();
            }
            out.has_any = !out.cluster.is_empty();
        }
        if !self.uses_local_endpoints() {
            out.reachable = out.cluster.clone();
            return out;
        }
        let usable = |ep: &&Endpoint| ep.ready || serving_terminating(ep);
        out.has_any |= self.endpoints.iter().any(|ep| usable(&ep));
        out.local = self
            .endpoints
            .iter()
            .filter(|ep| ep.local && ep.ready)
            .collect();
        let local_uses_terminating = out.local.is_empty();
        if local_uses_terminating {
            out.local = self
                .endpoints
                .iter()
                .filter(|ep| ep.local && serving_terminating(ep))
                .collect();
        }
        if !self.uses_cluster_endpoints() {
            out.reachable = out.local.clone();
        } else if !local_uses_terminating {
            // Local ready endpoints are all in the cluster list already.
            out.reachable = out.cluster.clone();
        } else {
            // Local serving-terminating endpoints may not be in the (ready) cluster list.
            out.reachable = out.cluster.clone();
            for ep in &out.local {
                if !out.reachable.iter().any(|known| std::ptr::eq(*known, *ep)) {
                    out.reachable.push(ep);
                }
            }
            out.reachable.sort_by_key(|ep| endpoint_key(ep.ip, ep.port));
        }
        out
    }
}

/// Every programmed service port, sorted by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyModel {
    pub service_ports: Vec<ServicePort>,
}

impl ProxyModel {
    /// Builds the model from the Services and EndpointSlices the proxy watches. `node_name`
    /// decides which endpoints are local. Objects the proxy does not handle (headless,
    /// ExternalName, IPv6-only, other proxies' services) are skipped, as is anything malformed.
    pub fn build<'a>(
        services: impl IntoIterator<Item = &'a Service>,
        slices: impl IntoIterator<Item = &'a EndpointSlice>,
        node_name: &str,
    ) -> ProxyModel {
        let mut endpoints = endpoints_by_service_port(slices, node_name);
        let mut ports = BTreeMap::new();
        for service in services {
            for mut port in service_ports(service) {
                port.endpoints = endpoints
                    .remove(&port.name)
                    .map(|by_key| by_key.into_values().collect())
                    .unwrap_or_default();
                ports.insert(port.name.clone(), port);
            }
        }
        ProxyModel {
            service_ports: ports.into_values().collect(),
        }
    }

    /// The number of distinct Services with at least one programmed port.
    pub fn service_count(&self) -> usize {
        let mut count = 0;
        let mut last: Option<(&str, &str)> = None;
        for port in &self.service_ports {
            let key = (port.name.namespace.as_str(), port.name.name.as_str());
            if last != Some(key) {
                count += 1;
                last = Some(key);
            }
        }
        count
    }

    /// The number of endpoints across all service ports.
    pub fn endpoint_count(&self) -> usize {
        self.service_ports
            .iter()
            .map(|port| port.endpoints.len())
            .sum()
    }
}

/// The sort and deduplication key of an endpoint: its `ip:port` text.
fn endpoint_key(ip: Ipv4Addr, port: u16) -> String {
    format!("{ip}:{port}")
}

fn has_label(labels: Option<&BTreeMap<String, String>>, key: &str) -> bool {
    labels.is_some_and(|labels| labels.contains_key(key))
}

/// The programmed ports of one Service, without their endpoints.
fn service_ports(service: &Service) -> Vec<ServicePort> {
    let meta = &service.metadata;
    let (Some(namespace), Some(name), Some(spec)) = (&meta.namespace, &meta.name, &service.spec)
    else {
        return Vec::new();
    };
    if has_label(meta.labels.as_ref(), LABEL_SERVICE_PROXY_NAME) {
        return Vec::new();
    }
    let service_type = spec.type_.as_deref().unwrap_or("ClusterIP");
    if service_type == "ExternalName" {
        return Vec::new();
    }
    // The IPv4 cluster IP: headless services ("None") and IPv6-only ones have none.
    let cluster_ip = spec
        .cluster_ips
        .iter()
        .flatten()
        .chain(spec.cluster_ip.iter())
        .find_map(|ip| ip.parse::<Ipv4Addr>().ok());
    let Some(cluster_ip) = cluster_ip else {
        return Vec::new();
    };
    let external_type = matches!(service_type, "NodePort" | "LoadBalancer");
    let external_ips = parse_ipv4_list(spec.external_ips.iter().flatten());
    let load_balancer_ips = if service_type == "LoadBalancer" {
        let ingress = service
            .status
            .as_ref()
            .and_then(|status| status.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref());
        // Proxy-mode ingress IPs are the load balancer's own: traffic arrives from it already
        // addressed to the node, so only VIP-mode ones are captured.
        parse_ipv4_list(
            ingress
                .into_iter()
                .flatten()
                .filter(|ingress| ingress.ip_mode.as_deref().is_none_or(|mode| mode == "VIP"))
                .filter_map(|ingress| ingress.ip.as_ref()),
        )
    } else {
        Vec::new()
    };
    let load_balancer_source_ranges: Vec<Ipv4Cidr> = spec
        .load_balancer_source_ranges
        .iter()
        .flatten()
        .filter_map(|range| range.trim().parse::<Ipv4Cidr>().ok())
        .collect();
    let affinity_timeout_seconds =
        (spec.session_affinity.as_deref() == Some("ClientIP")).then(|| {
            spec.session_affinity_config
                .as_ref()
                .and_then(|config| config.client_ip.as_ref())
                .and_then(|client_ip| client_ip.timeout_seconds)
                .and_then(|seconds| u32::try_from(seconds).ok())
                .filter(|seconds| *seconds > 0)
                .unwrap_or(DEFAULT_AFFINITY_TIMEOUT_SECONDS)
        });
    let external_policy_local =
        external_type && spec.external_traffic_policy.as_deref() == Some("Local");
    let internal_policy_local = spec.internal_traffic_policy.as_deref() == Some("Local");
    let health_check_node_port = spec
        .health_check_node_port
        .filter(|_| service_type == "LoadBalancer" && external_policy_local)
        .and_then(|port| u16::try_from(port).ok())
        .filter(|port| *port != 0);

    let mut out = Vec::new();
    for port in spec.ports.iter().flatten() {
        let (Some(protocol), Ok(number)) = (
            Protocol::parse(port.protocol.as_deref()),
            u16::try_from(port.port),
        ) else {
            continue;
        };
        if number == 0 {
            continue;
        }
        let node_port = port
            .node_port
            .filter(|_| external_type)
            .and_then(|node_port| u16::try_from(node_port).ok())
            .filter(|node_port| *node_port != 0);
        out.push(ServicePort {
            name: ServicePortName {
                namespace: namespace.clone(),
                name: name.clone(),
                port: port.name.clone().unwrap_or_default(),
                protocol,
            },
            cluster_ip,
            port: number,
            node_port,
            external_ips: external_ips.clone(),
            load_balancer_ips: load_balancer_ips.clone(),
            load_balancer_source_ranges: load_balancer_source_ranges.clone(),
            affinity_timeout_seconds,
            external_policy_local,
            internal_policy_local,
            health_check_node_port,
            endpoints: Vec::new(),
        });
    }
    out
}

/// The IPv4 addresses of a list, deduplicated, in order; others (IPv6, garbage) are dropped.
fn parse_ipv4_list<'a>(list: impl IntoIterator<Item = &'a String>) -> Vec<Ipv4Addr> {
    let mut out: Vec<Ipv4Addr> = Vec::new();
    for ip in list
        .into_iter()
        .filter_map(|ip| ip.trim().parse::<Ipv4Addr>().ok())
    {
        if !out.contains(&ip) {
            out.push(ip);
        }
    }
    out
}

/// The endpoints of every service port named by the slices, deduplicated by `ip:port`.
fn endpoints_by_service_port<'a>(
    slices: impl IntoIterator<Item = &'a EndpointSlice>,
    node_name: &str,
) -> BTreeMap<ServicePortName, BTreeMap<String, Endpoint>> {
    // Slice order decides nothing below, but sorting keeps the result independent of how the
    // cache happens to list them.
    let mut slices: Vec<&EndpointSlice> = slices.into_iter().collect();
    slices.sort_by(|a, b| {
        (&a.metadata.namespace, &a.metadata.name).cmp(&(&b.metadata.namespace, &b.metadata.name))
    });

    let mut out: BTreeMap<ServicePortName, BTreeMap<String, Endpoint>> = BTreeMap::new();
    for slice in slices {
        let meta = &slice.metadata;
        let labels = meta.labels.as_ref();
        let service = labels.and_then(|labels| labels.get(LABEL_SERVICE_NAME));
        let (Some(namespace), Some(service)) = (&meta.namespace, service) else {
            continue;
        };
        if service.is_empty()
            || slice.address_type != "IPv4"
            || has_label(labels, LABEL_SERVICE_PROXY_NAME)
            || has_label(labels, LABEL_HEADLESS)
        {
            continue;
        }
        for port in slice.ports.iter().flatten() {
            let (Some(protocol), Some(number)) = (
                Protocol::parse(port.protocol.as_deref()),
                port.port
                    .and_then(|number| u16::try_from(number).ok())
                    .filter(|n| *n != 0),
            ) else {
                continue;
            };
            let name = ServicePortName {
                namespace: namespace.clone(),
                name: service.clone(),
                // An unnamed port matches the Service's unnamed port.
                port: port.name.clone().unwrap_or_default(),
                protocol,
            };
            let endpoints = out.entry(name).or_default();
            for endpoint in &slice.endpoints {
                let Some(ip) = endpoint
                    .addresses
                    .first()
                    .and_then(|ip| ip.parse::<Ipv4Addr>().ok())
                else {
                    continue;
                };
                let conditions = endpoint.conditions.as_ref();
                let candidate = Endpoint {
                    ip,
                    port: number,
                    local: !node_name.is_empty()
                        && endpoint.node_name.as_deref() == Some(node_name),
                    ready: conditions.and_then(|c| c.ready).unwrap_or(true),
                    serving: conditions.and_then(|c| c.serving).unwrap_or(true),
                    terminating: conditions.and_then(|c| c.terminating).unwrap_or(false),
                };
                // The same endpoint may sit in two slices while it moves between them: keep
                // one, preferring the local and then the ready copy.
                let key = endpoint_key(ip, number);
                match endpoints.get(&key) {
                    Some(known)
                        if (known.local, known.ready) >= (candidate.local, candidate.ready) => {}
                    _ => {
                        endpoints.insert(key, candidate);
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
#[path = "model_tests.rs"]
pub(crate) mod tests;
