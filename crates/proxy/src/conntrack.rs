//! Stale UDP flows, cleared after each sync as kube-proxy's conntrack cleanup does. UDP has no
//! connection to close: a client that keeps sending from one source port keeps its conntrack
//! entry, and with it the endpoint it was first sent to, long after that endpoint is gone.
//! So every UDP flow to a service address (ClusterIP, external IP, load balancer IP) or a
//! NodePort whose reply comes from an address that is no longer a serving endpoint of that
//! service is deleted; the next packet is balanced afresh. Services without serving endpoints
//! are left alone, as upstream: their flows have nowhere better to go.
//!
//! The kernel's table is read and edited through the `conntrack` tool (conntrack-tools).

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::process::Command;

use crate::model::{Protocol, ProxyModel};

/// The serving endpoint addresses of every UDP service address and NodePort.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UdpServices {
    /// (service address, service port) → serving endpoint addresses.
    by_address: HashMap<(Ipv4Addr, u16), BTreeSet<Ipv4Addr>>,
    /// NodePort → serving endpoint addresses.
    by_node_port: HashMap<u16, BTreeSet<Ipv4Addr>>,
}

impl UdpServices {
    pub fn from_model(model: &ProxyModel) -> UdpServices {
        let mut services = UdpServices::default();
        for port in &model.service_ports {
            if port.name.protocol != Protocol::Udp {
                continue;
            }
            // Traffic policies and terminating state are not looked at: a change of policy
            // must not cut flows, as for TCP.
            let serving: BTreeSet<Ipv4Addr> = port
                .endpoints
                .iter()
                .filter(|e| e.serving)
                .map(|e| e.ip)
                .collect();
            if serving.is_empty() {
                continue;
            }
            let addresses = std::iter::once(port.cluster_ip)
                .chain(port.external_ips.iter().copied())
                .chain(port.load_balancer_ips.iter().copied());
            for address in addresses {
                services
                    .by_address
                    .insert((address, port.port), serving.clone());
            }
            if let Some(node_port) = port.node_port {
                services.by_node_port.insert(node_port, serving.clone());
            }
        }
        services
    }

    pub fn is_empty(&self) -> bool {
        self.by_address.is_empty() && self.by_node_port.is_empty()
    }
}

/// What identifies a UDP flow here: its original destination and who answers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flow {
    pub original_destination: Ipv4Addr,
    pub original_destination_port: u16,
    pub reply_source: Ipv4Addr,
}

/// The UDP flows in `conntrack -L -p udp` output. Each line holds the original tuple then the
/// reply tuple (`src= dst= sport= dport=` twice); anything else is skipped.
pub fn parse_flows(listing: &str) -> Vec<Flow> {
    listing
        .lines()
        .filter(|line| line.split_whitespace().next() == Some("udp"))
        .filter_map(|line| {
            let mut destinations = Vec::new();
            let mut destination_ports = Vec::new();
            let mut sources = Vec::new();
            for field in line.split_whitespace() {
                if let Some((key, value)) = field.split_once('=') {
                    match key {
                        "src" => sources.push(value),
                        "dst" => destinations.push(value),
                        "dport" => destination_ports.push(value),
                        _ => {}
                    }
                }
            }
            Some(Flow {
                original_destination: destinations.first()?.parse().ok()?,
                original_destination_port: destination_ports.first()?.parse().ok()?,
                reply_source: sources.get(1)?.parse().ok()?,
            })
        })
        .collect()
}

/// A deletion of flows, as `conntrack -D` arguments.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum StaleFlows {
    /// To a service address and port, answered by `reply_source`.
    ToAddress {
        address: Ipv4Addr,
        port: u16,
        reply_source: Ipv4Addr,
    },
    /// To a NodePort on any address, answered by `reply_source`.
    ToNodePort { port: u16, reply_source: Ipv4Addr },
}

impl StaleFlows {
    pub fn arguments(&self) -> Vec<String> {
        let mut arguments: Vec<String> = ["-D", "-p", "udp"].map(String::from).to_vec();
        match self {
            StaleFlows::ToAddress {
                address,
                port,
                reply_source,
            } => arguments.extend([
                "--orig-dst".to_string(),
                address.to_string(),
                "--orig-port-dst".to_string(),
                port.to_string(),
                "--reply-src".to_string(),
                reply_source.to_string(),
            ]),
            StaleFlows::ToNodePort { port, reply_source } => arguments.extend([
                "--orig-port-dst".to_string(),
                port.to_string(),
                "--reply-src".to_string(),
                reply_source.to_string(),
            ]),
        }
        arguments
    }
}

/// The deletions that clear every stale flow among `flows`.
pub fn stale(services: &UdpServices, flows: &[Flow]) -> BTreeSet<StaleFlows> {
    let mut deletions = BTreeSet::new();
    for flow in flows {
        let key = (flow.original_destination, flow.original_destination_port);
        if let Some(serving) = services.by_address.get(&key) {
            if !serving.contains(&flow.reply_source) {
                deletions.insert(StaleFlows::ToAddress {
                    address: flow.original_destination,
                    port: flow.original_destination_port,
                    reply_source: flow.reply_source,
                });
            }
        }
        if let Some(serving) = services.by_node_port.get(&flow.original_destination_port) {
            if !serving.contains(&flow.reply_source) {
                deletions.insert(StaleFlows::ToNodePort {
                    port: flow.original_destination_port,
                    reply_source: flow.reply_source,
                });
            }
        }
    }
    deletions
}

/// Lists the kernel's UDP flows with `conntrack` (the command line, e.g. `["conntrack"]`) and
/// deletes the stale ones; returns how many deletions were run.
pub fn clear_stale(conntrack: &[String], services: &UdpServices) -> Result<usize, String> {
    if services.is_empty() {
        return Ok(0);
    }
    let listing = run(conntrack, &["-L", "-p", "udp"])?;
    let deletions = stale(services, &parse_flows(&listing));
    for deletion in &deletions {
        let arguments = deletion.arguments();
        let arguments: Vec<&str> = arguments.iter().map(String::as_str).collect();
        match run(conntrack, &arguments) {
            Ok(_) => {}
            // The flow may have ended between the listing and the deletion.
            Err(error) if error.contains("0 flow entries") => {}
            Err(error) => return Err(error),
        }
    }
    Ok(deletions.len())
}

fn run(command: &[String], arguments: &[&str]) -> Result<String, String> {
    let (program, leading) = command
        .split_first()
        .ok_or("no conntrack command configured")?;
    let output = Command::new(program)
        .args(leading)
        .args(arguments)
        .output()
        .map_err(|error| format!("{program}: {error}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "{} {}: {}",
            command.join(" "),
            arguments.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

#[cfg(test)]
#[path = "conntrack_tests.rs"]
mod tests;
