//! The `ports` of a NetworkPolicy rule: protocol, number or name, and `endPort` ranges; and
//! the named container ports of pods, which named rule ports resolve against.

pub use capstan_nft::Protocol;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::networking::v1::NetworkPolicyPort;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// Destination ports of one protocol: all of them, or an inclusive range (one port: first == last).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortMatch {
    pub protocol: Protocol,
    /// None: every port of the protocol.
    pub range: Option<(u16, u16)>,
}

impl PortMatch {
    pub fn single(protocol: Protocol, port: u16) -> PortMatch {
        PortMatch {
            protocol,
            range: Some((port, port)),
        }
    }
}

/// One entry of a rule's `ports`, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RulePort {
    /// A number, a range (`endPort`), or the whole protocol (no `port`).
    Numbers(PortMatch),
    /// A container port name, resolved against the destination pod.
    Named { protocol: Protocol, name: String },
    /// Something no packet matches (unknown protocol, port out of range, endPort < port):
    /// the API server refuses these; if one gets through it allows nothing rather than more.
    Invalid(String),
}

impl RulePort {
    pub fn parse(port: &NetworkPolicyPort) -> RulePort {
        let Some(protocol) = Protocol::parse(port.protocol.as_deref()) else {
            return RulePort::Invalid(format!("unsupported protocol {:?}", port.protocol));
        };
        match &port.port {
            // endPort needs a numbered port (upstream validation).
            None | Some(IntOrString::String(_)) if port.end_port.is_some() => {
                RulePort::Invalid("endPort without a numbered port".to_string())
            }
            None => RulePort::Numbers(PortMatch {
                protocol,
                range: None,
            }),
            // A string is always a name (upstream validation wants a letter in it, so "80" names
            // no container port and matches nothing).
            Some(IntOrString::String(name)) if name.is_empty() => {
                RulePort::Invalid("empty port name".to_string())
            }
            Some(IntOrString::String(name)) => RulePort::Named {
                protocol,
                name: name.clone(),
            },
            Some(IntOrString::Int(number)) => match u16::try_from(*number) {
                Ok(number) if number > 0 => numbered(protocol, number, port.end_port),
                _ => RulePort::Invalid(format!("port {number} out of range")),
            },
        }
    }
}

fn numbered(protocol: Protocol, port: u16, end_port: Option<i32>) -> RulePort {
    let last = match end_port {
        None => port,
        Some(end) => match u16::try_from(end) {
            Ok(end) if end >= port => end,
            _ => return RulePort::Invalid(format!("endPort {end} is not in {port}..=65535")),
        },
    };
    RulePort::Numbers(PortMatch {
        protocol,
        range: Some((port, last)),
    })
}

/// A pod's named container port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedPort {
    pub name: String,
    pub protocol: Protocol,
    pub port: u16,
}

/// The named ports of a pod's containers (sidecars, restartable init containers, included).
pub fn named_ports(pod: &Pod) -> Vec<NamedPort> {
    let Some(spec) = &pod.spec else {
        return Vec::new();
    };
    let containers = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten());
    containers
        .flat_map(|container| container.ports.iter().flatten())
        .filter_map(|port| {
            let name = port.name.as_ref().filter(|name| !name.is_empty())?;
            Some(NamedPort {
                name: name.clone(),
                protocol: Protocol::parse(port.protocol.as_deref())?,
                port: u16::try_from(port.container_port)
                    .ok()
                    .filter(|&port| port > 0)?,
            })
        })
        .collect()
}

/// The port a name resolves to among `ports`: same name and same protocol, as upstream
/// implementations match them.
pub fn resolve(ports: &[NamedPort], protocol: Protocol, name: &str) -> Option<u16> {
    ports
        .iter()
        .find(|port| port.protocol == protocol && port.name == name)
        .map(|port| port.port)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: serde_json::Value) -> RulePort {
        RulePort::parse(&serde_json::from_value(value).unwrap())
    }

    #[test]
    fn parses_rule_ports() {
        assert_eq!(
            parse(json!({"port": 80})),
            RulePort::Numbers(PortMatch::single(Protocol::Tcp, 80))
        );
        assert_eq!(
            parse(json!({"protocol": "UDP", "port": 53})),
            RulePort::Numbers(PortMatch::single(Protocol::Udp, 53))
        );
        assert_eq!(
            parse(json!({"protocol": "SCTP"})),
            RulePort::Numbers(PortMatch {
                protocol: Protocol::Sctp,
                range: None
            })
        );
        assert_eq!(
            parse(json!({"port": 32000, "endPort": 32768})),
            RulePort::Numbers(PortMatch {
                protocol: Protocol::Tcp,
                range: Some((32000, 32768))
            })
        );
        assert_eq!(
            parse(json!({"port": "http"})),
            RulePort::Named {
                protocol: Protocol::Tcp,
                name: "http".into()
            }
        );
        for bad in [
            json!({"protocol": "ICMP", "port": 1}),
            json!({"port": 0}),
            json!({"port": 70000}),
            json!({"port": 80, "endPort": 79}),
            json!({"port": 80, "endPort": 65536}),
            json!({"port": ""}),
            json!({"endPort": 90}),
            json!({"port": "http", "endPort": 90}),
        ] {
            assert!(matches!(parse(bad.clone()), RulePort::Invalid(_)), "{bad}");
        }
    }

    #[test]
    fn named_ports_of_a_pod() {
        let pod: Pod = serde_json::from_value(json!({
            "spec": {
                "containers": [
                    {"name": "web", "ports": [{"name": "http", "containerPort": 8080},
                                              {"name": "dns", "containerPort": 5353, "protocol": "UDP"},
                                              {"containerPort": 9000}]},
                ],
                "initContainers": [{"name": "proxy", "restartPolicy": "Always",
                                    "ports": [{"name": "metrics", "containerPort": 9090}]}],
            }
        }))
        .unwrap();
        let ports = named_ports(&pod);
        assert_eq!(ports.len(), 3);
        assert_eq!(resolve(&ports, Protocol::Tcp, "http"), Some(8080));
        assert_eq!(resolve(&ports, Protocol::Udp, "dns"), Some(5353));
        assert_eq!(
            resolve(&ports, Protocol::Tcp, "dns"),
            None,
            "the protocol must match"
        );
        assert_eq!(resolve(&ports, Protocol::Tcp, "metrics"), Some(9090));
        assert_eq!(resolve(&ports, Protocol::Tcp, "nope"), None);
        assert!(named_ports(&Pod::default()).is_empty());
    }
}
