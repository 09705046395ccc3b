//! The cluster's DNS data at one moment: Services, EndpointSlices and
//! Namespaces arranged for lookups. A snapshot is rebuilt whole when the
//! watched objects change, so a query never sees half an update.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use hickory_proto::rr::Name;
use k8s_openapi::api::core::v1::{Namespace, Service, ServicePort};
use k8s_openapi::api::discovery::v1::{Endpoint as SliceEndpoint, EndpointPort, EndpointSlice};

/// TTL of every record in the zone, CoreDNS's default.
pub(crate) const TTL: u32 = 5;

/// The label EndpointSlices name their Service with.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// The protocol the API server defaults ports to.
const DEFAULT_PROTOCOL: &str = "tcp";

/// The cluster zone, and the addresses this server answers on (which the
/// zone's NS records point at).
#[derive(Clone, Debug)]
pub(crate) struct Zone {
    origin: Name,
    labels: Vec<String>,
    local_ips: Vec<IpAddr>,
}

impl Zone {
    /// The zone of `cluster_domain` (e.g. "cluster.local"), served on `local_ips`.
    pub(crate) fn new(cluster_domain: &str, local_ips: Vec<IpAddr>) -> Result<Zone, String> {
        let trimmed = cluster_domain.trim_end_matches('.');
        if trimmed.is_empty() {
            return Err("the cluster domain is empty".to_string());
        }
        let origin = Name::from_ascii(format!("{trimmed}."))
            .map_err(|error| format!("invalid cluster domain {cluster_domain:?}: {error}"))?
            .to_lowercase();
        let labels = lowercase_labels(&origin);
        Ok(Zone {
            origin,
            labels,
            local_ips,
        })
    }

    /// The zone's apex, e.g. `cluster.local.`.
    pub(crate) fn origin(&self) -> &Name {
        &self.origin
    }

    /// The labels in front of the zone of a name given as lowercase labels
    /// (empty at the apex), or `None` if the name is outside the zone.
    pub(crate) fn relative<'a>(&self, labels: &'a [String]) -> Option<&'a [String]> {
        let front = labels.len().checked_sub(self.labels.len())?;
        (labels[front..] == self.labels[..]).then(|| &labels[..front])
    }

    /// `<relative>.<zone>`, or `None` if that is no valid name (too long).
    pub(crate) fn name(&self, relative: &str) -> Option<Name> {
        Name::from_ascii(relative)
            .ok()?
            .append_domain(&self.origin)
            .ok()
    }
}

/// A name's labels, lowercased; labels that are not UTF-8 are kept lossily
/// (they match nothing in the zone anyway).
pub(crate) fn lowercase_labels(name: &Name) -> Vec<String> {
    name.iter()
        .map(|label| String::from_utf8_lossy(label).to_ascii_lowercase())
        .collect()
}

/// One snapshot of the zone's contents.
#[derive(Debug)]
pub(crate) struct Records {
    zone: Arc<Zone>,
    synced: bool,
    serial: u32,
    namespaces: HashSet<String>,
    services: HashMap<(String, String), ServiceRecord>,
    reverse: HashMap<IpAddr, Vec<Name>>,
    nameservers: Vec<(Name, IpAddr)>,
}

/// What DNS knows of one Service.
#[derive(Debug)]
pub(crate) struct ServiceRecord {
    /// `<svc>.<ns>.svc.<zone>`.
    pub(crate) domain: Name,
    pub(crate) kind: ServiceKind,
    /// The Service's ports; a Service without any has one [`Port::ANY`] so
    /// that its address records still exist, as in CoreDNS.
    pub(crate) ports: Vec<Port>,
    /// Addresses of its EndpointSlices that DNS publishes: ready ones, or
    /// all with `publishNotReadyAddresses`.
    pub(crate) endpoints: Vec<EndpointRecord>,
}

/// How a Service's own name resolves.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ServiceKind {
    /// To its ClusterIPs.
    ClusterIp(Vec<IpAddr>),
    /// To its endpoints (`clusterIP: None`).
    Headless,
    /// To a CNAME; `None` when `externalName` is not a usable name (an IP
    /// address, as CoreDNS ignores those, or garbage).
    ExternalName(Option<Name>),
}

/// A port of a Service or of an EndpointSlice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Port {
    /// Lowercase name, "" when unnamed.
    pub(crate) name: String,
    /// Lowercase protocol ("tcp", "udp", "sctp").
    pub(crate) protocol: String,
    /// `None` for the placeholder of a port-less object: it has addresses
    /// but nothing to put in an SRV record.
    pub(crate) number: Option<u16>,
}

impl Port {
    /// The placeholder port of an object without ports.
    const ANY: Port = Port {
        name: String::new(),
        protocol: String::new(),
        number: None,
    };
}

/// One published endpoint address of a Service.
#[derive(Debug)]
pub(crate) struct EndpointRecord {
    pub(crate) ip: IpAddr,
    /// Its hostname, or its address with dashes (`10-42-0-5`).
    pub(crate) label: String,
    /// `<label>.<svc>.<ns>.svc.<zone>`.
    pub(crate) domain: Name,
    /// The ports of the EndpointSlice it came from.
    pub(crate) ports: Arc<[Port]>,
}

impl Records {
    /// The snapshot before anything was read from the cluster: every name in
    /// the zone fails (SERVFAIL) until the first full one replaces it.
    pub(crate) fn unsynced(zone: Arc<Zone>) -> Records {
        Records::build(zone, &[], &[], &[], false)
    }

    /// A snapshot of these objects. `synced` says whether they are the whole
    /// cluster (each watch has listed once) or a partial view.
    pub(crate) fn build(
        zone: Arc<Zone>,
        services: &[Arc<Service>],
        slices: &[Arc<EndpointSlice>],
        namespaces: &[Arc<Namespace>],
        synced: bool,
    ) -> Records {
        let mut records = Records {
            zone,
            synced,
            serial: unix_now(),
            namespaces: HashSet::new(),
            services: HashMap::new(),
            reverse: HashMap::new(),
            nameservers: Vec::new(),
        };
        for namespace in namespaces {
            if let Some(name) = &namespace.metadata.name {
                records.namespaces.insert(name.to_ascii_lowercase());
            }
        }
        // Sorted so that a snapshot does not depend on the caches' order.
        let mut services: Vec<&Service> = services.iter().map(Arc::as_ref).collect();
        services.sort_by_cached_key(|service| object_key(&service.metadata));
        let mut publish_not_ready = HashSet::new();
        for service in services {
            let Some(key) = object_key(&service.metadata) else {
                continue;
            };
            let spec = service.spec.as_ref();
            if spec.and_then(|spec| spec.publish_not_ready_addresses) == Some(true) {
                publish_not_ready.insert(key.clone());
            }
            records.add_service(key, service);
        }

        let mut slices: Vec<&EndpointSlice> = slices.iter().map(Arc::as_ref).collect();
        slices.sort_by_cached_key(|slice| object_key(&slice.metadata));
        let mut endpoint_reverse: HashMap<IpAddr, Vec<Name>> = HashMap::new();
        for slice in slices {
            let Some(service_key) = slice_service(slice) else {
                continue;
            };
            let all = publish_not_ready.contains(&service_key);
            for endpoint in records.slice_endpoints(&service_key, slice, all) {
                let names = endpoint_reverse.entry(endpoint.ip).or_default();
                if !names.contains(&endpoint.domain) {
                    names.push(endpoint.domain.clone());
                }
                if let Some(service) = records.services.get_mut(&service_key) {
                    service.endpoints.push(endpoint);
                }
            }
        }
        // A ClusterIP names its Service alone; other addresses name every
        // endpoint they are (CoreDNS's serviceRecordForIP).
        for (ip, names) in endpoint_reverse {
            records.reverse.entry(ip).or_insert(names);
        }
        records.nameservers = records.find_nameservers();
        records
    }

    fn add_service(&mut self, key: (String, String), service: &Service) {
        let (namespace, name) = &key;
        let Some(domain) = self.zone.name(&format!("{name}.{namespace}.svc")) else {
            return;
        };
        let spec = service.spec.clone().unwrap_or_default();
        let kind = if spec.type_.as_deref() == Some("ExternalName") {
            ServiceKind::ExternalName(spec.external_name.as_deref().and_then(alias_target))
        } else {
            let cluster_ips = match spec.cluster_ips.filter(|ips| !ips.is_empty()) {
                Some(ips) => ips,
                None => spec.cluster_ip.into_iter().collect(),
            };
            if cluster_ips.first().map(String::as_str) == Some("None") {
                ServiceKind::Headless
            } else {
                let ips: Vec<IpAddr> = cluster_ips
                    .iter()
                    .filter_map(|ip| ip.parse().ok())
                    .collect();
                for ip in &ips {
                    self.reverse
                        .entry(*ip)
                        .or_insert_with(|| vec![domain.clone()]);
                }
                ServiceKind::ClusterIp(ips)
            }
        };
        let mut ports: Vec<Port> = spec.ports.iter().flatten().map(service_port).collect();
        if ports.is_empty() {
            ports.push(Port::ANY);
        }
        self.namespaces.insert(namespace.clone());
        self.services.insert(
            key,
            ServiceRecord {
                domain,
                kind,
                ports,
                endpoints: Vec::new(),
            },
        );
    }

    /// The published endpoint addresses of one EndpointSlice of the Service
    /// `service_key` (which need not exist).
    fn slice_endpoints(
        &self,
        (namespace, service): &(String, String),
        slice: &EndpointSlice,
        include_not_ready: bool,
    ) -> Vec<EndpointRecord> {
        // FQDN slices (and unknown types) hold no addresses DNS can publish.
        if !matches!(slice.address_type.as_str(), "IPv4" | "IPv6") {
            return Vec::new();
        }
        let mut ports: Vec<Port> = slice.ports.iter().flatten().map(slice_port).collect();
        if ports.is_empty() {
            ports.push(Port::ANY);
        }
        let ports: Arc<[Port]> = ports.into();
        let mut endpoints = Vec::new();
        for endpoint in &slice.endpoints {
            if !include_not_ready && !is_ready(endpoint) {
                continue;
            }
            for address in &endpoint.addresses {
                let Ok(ip) = address.parse::<IpAddr>() else {
                    continue;
                };
                let label = match endpoint.hostname.as_deref() {
                    Some(hostname) if !hostname.is_empty() => hostname.to_ascii_lowercase(),
                    _ => dashed_ip(ip),
                };
                let Some(domain) = self
                    .zone
                    .name(&format!("{label}.{service}.{namespace}.svc"))
                else {
                    continue;
                };
                endpoints.push(EndpointRecord {
                    ip,
                    label,
                    domain,
                    ports: ports.clone(),
                });
            }
        }
        endpoints
    }

    /// The names and addresses of this server in the zone, as CoreDNS finds
    /// them: the Services whose endpoints are this server's addresses, or
    /// else `ns.dns.<zone>` at those addresses.
    fn find_nameservers(&self) -> Vec<(Name, IpAddr)> {
        let mut found = Vec::new();
        for local in &self.zone.local_ips {
            for service in self.services.values() {
                for endpoint in service.endpoints.iter().filter(|e| e.ip == *local) {
                    match &service.kind {
                        ServiceKind::Headless => found.push((endpoint.domain.clone(), endpoint.ip)),
                        ServiceKind::ClusterIp(ips) => {
                            found.extend(ips.iter().map(|ip| (service.domain.clone(), *ip)))
                        }
                        ServiceKind::ExternalName(_) => {}
                    }
                }
            }
        }
        if found.is_empty() {
            if let Some(name) = self.zone.name("ns.dns") {
                found = self
                    .zone
                    .local_ips
                    .iter()
                    .map(|ip| (name.clone(), *ip))
                    .collect();
            }
        }
        found.sort();
        found.dedup();
        found
    }

    pub(crate) fn zone(&self) -> &Zone {
        &self.zone
    }

    /// Whether every watch has listed once; until then names in the zone
    /// fail rather than being wrongly denied.
    pub(crate) fn synced(&self) -> bool {
        self.synced
    }

    /// The SOA serial: when the snapshot was taken, in Unix seconds, as
    /// CoreDNS uses the time of the last change.
    pub(crate) fn serial(&self) -> u32 {
        self.serial
    }

    pub(crate) fn has_namespace(&self, namespace: &str) -> bool {
        self.namespaces.contains(namespace)
    }

    /// The Service `name` in `namespace` (both lowercase).
    pub(crate) fn service(&self, namespace: &str, name: &str) -> Option<&ServiceRecord> {
        self.services
            .get(&(namespace.to_string(), name.to_string()))
    }

    /// The names PTR records of `ip` point at (empty if none).
    pub(crate) fn reverse(&self, ip: &IpAddr) -> &[Name] {
        self.reverse.get(ip).map(Vec::as_slice).unwrap_or_default()
    }

    /// The zone's name servers: (NS target, address).
    pub(crate) fn nameservers(&self) -> &[(Name, IpAddr)] {
        &self.nameservers
    }
}

/// (namespace, name), lowercase, of an object that has both.
fn object_key(
    metadata: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<(String, String)> {
    Some((
        metadata.namespace.as_deref()?.to_ascii_lowercase(),
        metadata.name.as_deref()?.to_ascii_lowercase(),
    ))
}

/// (namespace, service name) an EndpointSlice belongs to.
fn slice_service(slice: &EndpointSlice) -> Option<(String, String)> {
    let namespace = slice.metadata.namespace.as_deref()?;
    let service = slice.metadata.labels.as_ref()?.get(SERVICE_NAME_LABEL)?;
    Some((namespace.to_ascii_lowercase(), service.to_ascii_lowercase()))
}

/// Ready, or of unknown readiness (which consumers must take as ready).
fn is_ready(endpoint: &SliceEndpoint) -> bool {
    endpoint.conditions.as_ref().and_then(|c| c.ready) != Some(false)
}

fn service_port(port: &ServicePort) -> Port {
    Port {
        name: port
            .name
            .as_deref()
            .unwrap_or_default()
            .to_ascii_lowercase(),
        protocol: protocol(port.protocol.as_deref()),
        number: u16::try_from(port.port).ok(),
    }
}

fn slice_port(port: &EndpointPort) -> Port {
    Port {
        name: port
            .name
            .as_deref()
            .unwrap_or_default()
            .to_ascii_lowercase(),
        protocol: protocol(port.protocol.as_deref()),
        number: port.port.and_then(|number| u16::try_from(number).ok()),
    }
}

fn protocol(protocol: Option<&str>) -> String {
    protocol.map_or_else(|| DEFAULT_PROTOCOL.to_string(), str::to_ascii_lowercase)
}

/// The name an ExternalName Service aliases, unless it is an IP address
/// (CoreDNS answers nothing for those) or not a name at all.
fn alias_target(external_name: &str) -> Option<Name> {
    let trimmed = external_name.trim_end_matches('.');
    if trimmed.is_empty() || trimmed.parse::<IpAddr>().is_ok() {
        return None;
    }
    Name::from_ascii(format!("{trimmed}.")).ok()
}

/// An address as one DNS label, as CoreDNS spells endpoints without a
/// hostname: `10-42-0-5`, `fd00--5`, `fd00--0` for `fd00::`.
pub(crate) fn dashed_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string().replace('.', "-"),
        IpAddr::V6(v6) => {
            let dashed = v6.to_string().replace(':', "-");
            if dashed.ends_with('-') {
                dashed + "0"
            } else {
                dashed
            }
        }
    }
}

fn unix_now() -> u32 {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    // SOA serials are 32-bit sequence numbers (RFC 1982): wrapping is fine.
    seconds as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_labels_are_case_insensitive() {
        let zone = Zone::new("Cluster.Local", vec![]).unwrap();
        assert_eq!(zone.origin().to_ascii(), "cluster.local.");
        let relative = |name: &str| {
            let labels = lowercase_labels(&Name::from_ascii(name).unwrap());
            zone.relative(&labels).map(<[String]>::to_vec)
        };
        assert_eq!(
            relative("Web.Default.SVC.cluster.LOCAL."),
            Some(vec![
                "web".to_string(),
                "default".to_string(),
                "svc".to_string()
            ])
        );
        assert_eq!(relative("cluster.local."), Some(vec![]));
        assert_eq!(relative("local."), None);
        assert_eq!(relative("example.com."), None);
        assert_eq!(relative("xcluster.local."), None);
    }

    #[test]
    fn invalid_cluster_domains_are_refused() {
        assert!(Zone::new("", vec![]).is_err());
        assert!(Zone::new(".", vec![]).is_err());
        assert!(Zone::new("a..b", vec![]).is_err());
    }

    #[test]
    fn dashed_ips() {
        assert_eq!(dashed_ip("10.42.0.5".parse().unwrap()), "10-42-0-5");
        assert_eq!(dashed_ip("fd00::5".parse().unwrap()), "fd00--5");
        assert_eq!(dashed_ip("fd00::".parse().unwrap()), "fd00--0");
    }

    #[test]
    fn external_names_that_are_addresses_are_ignored() {
        assert_eq!(alias_target("1.2.3.4"), None);
        assert_eq!(alias_target(""), None);
        assert_eq!(
            alias_target("example.com").unwrap().to_ascii(),
            "example.com."
        );
        assert_eq!(
            alias_target("example.com.").unwrap().to_ascii(),
            "example.com."
        );
    }
}
