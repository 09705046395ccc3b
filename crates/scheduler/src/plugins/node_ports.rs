//! NodePorts: a host port (IP, protocol, port) is taken by one pod per node;
//! the wildcard IP 0.0.0.0 conflicts with every IP.

use k8s_openapi::api::core::v1::Pod;

use crate::framework::Status;
use crate::snapshot::NodeInfo;

pub const NAME: &str = "NodePorts";
pub const ERR_REASON: &str = "node(s) didn't have free ports for the requested pod ports";
const WILDCARD: &str = "0.0.0.0";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPort {
    pub ip: String,
    pub protocol: String,
    pub port: i32,
}

impl HostPort {
    fn conflicts(&self, other: &HostPort) -> bool {
        self.port == other.port
            && self.protocol == other.protocol
            && (self.ip == other.ip || self.ip == WILDCARD || other.ip == WILDCARD)
    }
}

/// The host ports of a pod's containers and sidecars.
pub fn host_ports(pod: &Pod) -> Vec<HostPort> {
    let Some(spec) = pod.spec.as_ref() else {
        return Vec::new();
    };
    let sidecars = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"));
    spec.containers
        .iter()
        .chain(sidecars)
        .flat_map(|c| c.ports.iter().flatten())
        .filter(|p| p.host_port.is_some_and(|h| h > 0))
        .map(|p| HostPort {
            ip: p
                .host_ip
                .clone()
                .filter(|ip| !ip.is_empty())
                .unwrap_or_else(|| WILDCARD.into()),
            protocol: p
                .protocol
                .clone()
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "TCP".into()),
            port: p.host_port.unwrap_or(0),
        })
        .collect()
}

pub fn filter(wanted: &[HostPort], node: &NodeInfo) -> Result<(), Status> {
    let taken = wanted
        .iter()
        .any(|w| node.used_ports.iter().any(|used| used.conflicts(w)));
    if taken {
        Err(Status::unschedulable(NAME, ERR_REASON))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(ip: &str, protocol: &str, port: i32) -> HostPort {
        HostPort {
            ip: ip.into(),
            protocol: protocol.into(),
            port,
        }
    }

    #[test]
    fn same_port_and_protocol_conflict_through_the_wildcard() {
        let mut node = NodeInfo::new(&Default::default());
        node.used_ports = vec![port("127.0.0.1", "TCP", 8080)];
        assert!(filter(&[port("127.0.0.1", "TCP", 8080)], &node).is_err());
        assert!(filter(&[port("0.0.0.0", "TCP", 8080)], &node).is_err());
        assert!(filter(&[port("127.0.0.2", "TCP", 8080)], &node).is_ok());
        assert!(filter(&[port("127.0.0.1", "UDP", 8080)], &node).is_ok());
        assert!(filter(&[port("127.0.0.1", "TCP", 8081)], &node).is_ok());
        let status = filter(&[port("0.0.0.0", "TCP", 8080)], &node).unwrap_err();
        assert_eq!(status.reasons, vec![ERR_REASON]);
    }
}
