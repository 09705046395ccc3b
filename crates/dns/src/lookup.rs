//! What a name inside the cluster zone stands for, whatever the record type
//! asked: the parsing and matching of CoreDNS's `kubernetes` plugin
//! (`parseRequest`, `findServices`, `findPods`), kept apart from how the
//! answer is written.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::Name;

use crate::records::{Port, Records, ServiceKind, ServiceRecord};

/// What a name in the zone is.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Node {
    /// Nothing: NXDOMAIN.
    Missing,
    /// A name that exists without records of its own: `svc.<zone>`,
    /// `pod.<zone>`, `<ns>.svc.<zone>`, `<ns>.pod.<zone>`.
    Empty,
    /// The zone apex (SOA and NS).
    Apex,
    /// `ns.dns.<zone>`, the name server's own name.
    NameServer,
    /// `dns-version.<zone>`, the schema version TXT record of the spec.
    SchemaVersion,
    /// A Service, endpoint or pod name: what it points at.
    Targets(Vec<Target>),
}

/// One thing a name points at, with the port and name SRV records use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) host: Host,
    /// `None` where there is no port to publish (port-less objects, pods).
    pub(crate) port: Option<u16>,
    /// The name that holds `host`'s address record: the SRV target.
    pub(crate) domain: Name,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Host {
    Ip(IpAddr),
    /// An ExternalName Service's CNAME target.
    Alias(Name),
}

/// What `name`, whose labels in front of the zone are `relative`
/// (lowercase), stands for.
pub(crate) fn lookup(records: &Records, name: &Name, relative: &[String]) -> Node {
    let labels: Vec<&str> = relative.iter().map(String::as_str).collect();
    match labels.as_slice() {
        [] => return Node::Apex,
        ["svc"] | ["pod"] => return Node::Empty,
        ["ns", "dns"] => return Node::NameServer,
        ["dns-version"] => return Node::SchemaVersion,
        _ => {}
    }
    let Some(request) = Request::parse(&labels) else {
        return Node::Missing;
    };
    if !records.has_namespace(request.namespace) {
        return Node::Missing;
    }
    let Some(service) = request.service else {
        return Node::Empty;
    };
    if request.pods {
        return match pod_address(service) {
            Some(ip) => Node::Targets(vec![Target {
                host: Host::Ip(ip),
                port: None,
                domain: name.to_lowercase(),
            }]),
            None => Node::Missing,
        };
    }
    match records.service(request.namespace, service) {
        Some(record) => find_targets(record, &request),
        None => Node::Missing,
    }
}

/// A name under `<ns>.svc.<zone>` or `<ns>.pod.<zone>`, split as CoreDNS
/// does. Empty `port`/`protocol`/`endpoint` match anything.
#[derive(Debug, PartialEq, Eq)]
struct Request<'a> {
    pods: bool,
    namespace: &'a str,
    service: Option<&'a str>,
    endpoint: &'a str,
    port: &'a str,
    protocol: &'a str,
}

impl<'a> Request<'a> {
    /// `[[[_port._proto.]|[endpoint.]]service.]namespace.(svc|pod)`;
    /// `None` for anything else.
    fn parse(labels: &[&'a str]) -> Option<Request<'a>> {
        let (kind, rest) = labels.split_last()?;
        let pods = match *kind {
            "svc" => false,
            "pod" => true,
            _ => return None,
        };
        let (namespace, rest) = rest.split_last()?;
        let mut request = Request {
            pods,
            namespace,
            service: None,
            endpoint: "",
            port: "",
            protocol: "",
        };
        let Some((service, rest)) = rest.split_last() else {
            return Some(request);
        };
        request.service = Some(service);
        match rest {
            [] => {}
            [endpoint] => request.endpoint = endpoint,
            [port, protocol] => {
                request.port = strip_underscore(port);
                request.protocol = strip_underscore(protocol);
            }
            _ => return None,
        }
        Some(request)
    }
}

fn strip_underscore(label: &str) -> &str {
    label.strip_prefix('_').unwrap_or(label)
}

/// The address a pod name spells: `10-42-0-5` or `fd00--5` (CoreDNS's
/// `pods insecure`: no pod is looked up).
fn pod_address(label: &str) -> Option<IpAddr> {
    if label.matches('-').count() == 3 && !label.contains("--") {
        label
            .replace('-', ".")
            .parse::<Ipv4Addr>()
            .ok()
            .map(IpAddr::V4)
    } else {
        label
            .replace('-', ":")
            .parse::<Ipv6Addr>()
            .ok()
            .map(IpAddr::V6)
    }
}

/// The records of one Service matching the request; `Missing` when none
/// match, as CoreDNS answers NXDOMAIN then (a headless Service without
/// ready endpoints included).
fn find_targets(service: &ServiceRecord, request: &Request) -> Node {
    let mut targets = Vec::new();
    let mut matched = false;
    // CoreDNS answers endpoint names of any Service from its endpoints, not
    // only of headless ones.
    let by_endpoints = service.kind == ServiceKind::Headless || !request.endpoint.is_empty();
    match &service.kind {
        ServiceKind::ExternalName(alias) => {
            let plain = request.endpoint.is_empty()
                && request.port.is_empty()
                && request.protocol.is_empty();
            if let (Some(alias), true) = (alias, plain) {
                matched = true;
                targets.push(Target {
                    host: Host::Alias(alias.clone()),
                    port: None,
                    domain: service.domain.clone(),
                });
            }
        }
        _ if by_endpoints => {
            for endpoint in &service.endpoints {
                if !request.endpoint.is_empty() && request.endpoint != endpoint.label {
                    continue;
                }
                for port in endpoint
                    .ports
                    .iter()
                    .filter(|port| port_matches(port, request))
                {
                    matched = true;
                    targets.push(Target {
                        host: Host::Ip(endpoint.ip),
                        port: port.number,
                        domain: endpoint.domain.clone(),
                    });
                }
            }
        }
        ServiceKind::ClusterIp(ips) => {
            for port in service
                .ports
                .iter()
                .filter(|port| port_matches(port, request))
            {
                matched = true;
                targets.extend(ips.iter().map(|ip| Target {
                    host: Host::Ip(*ip),
                    port: port.number,
                    domain: service.domain.clone(),
                }));
            }
        }
        ServiceKind::Headless => {}
    }
    if matched {
        Node::Targets(targets)
    } else {
        Node::Missing
    }
}

fn port_matches(port: &Port, request: &Request) -> bool {
    (request.port.is_empty() || request.port == port.name)
        && (request.protocol.is_empty() || request.protocol == port.protocol)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(name: &str) -> Option<Request<'_>> {
        let labels: Vec<&str> = name.split('.').collect();
        Request::parse(&labels)
    }

    #[test]
    fn parses_names_as_coredns() {
        let request = parse("_http._tcp.web.default.svc").unwrap();
        assert_eq!(
            (
                request.pods,
                request.namespace,
                request.service,
                request.port,
                request.protocol
            ),
            (false, "default", Some("web"), "http", "tcp")
        );
        let request = parse("web-0.web.default.svc").unwrap();
        assert_eq!((request.service, request.endpoint), (Some("web"), "web-0"));
        let request = parse("default.svc").unwrap();
        assert_eq!((request.namespace, request.service), ("default", None));
        let request = parse("1-2-3-4.default.pod").unwrap();
        assert!(request.pods);
        assert_eq!(parse("a.b.c.web.default.svc"), None);
        assert_eq!(parse("web.default.other"), None);
    }

    #[test]
    fn pod_addresses() {
        assert_eq!(pod_address("10-42-0-5"), Some("10.42.0.5".parse().unwrap()));
        assert_eq!(pod_address("fd00--5"), Some("fd00::5".parse().unwrap()));
        assert_eq!(pod_address("10-42-0"), None);
        assert_eq!(pod_address("300-1-1-1"), None);
        assert_eq!(pod_address("web"), None);
    }
}
