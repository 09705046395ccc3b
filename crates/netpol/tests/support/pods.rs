//! A node with pods, in network namespaces: a "node" namespace holding a bridge with the
//! gateway address 10.97.0.1, and one namespace per "pod" attached to it by a veth pair, as the
//! CNI bridge plugin wires pods. Bridged traffic goes through the node's IP forward hook
//! (br_netfilter's bridge-nf-call-iptables, per namespace on this kernel); where that sysctl is
//! missing the pods are routed through the node with /32 routes instead, which passes the same
//! hook. Everything goes away with the namespaces on drop.

use capstan_nft::testing::Netns;

pub const GATEWAY: &str = "10.97.0.1";
const BRIDGE_NF: &str = "net/bridge/bridge-nf-call-iptables";

pub struct Node {
    pub netns: Netns,
    pub pods: Vec<PodNs>,
    bridged: bool,
}

pub struct PodNs {
    pub netns: Netns,
    pub ip: String,
}

impl Node {
    pub fn create() -> Result<Node, String> {
        let netns = Netns::create()?;
        netns.set_sysctl("net/ipv4/ip_forward", "1")?;
        let bridged = netns.sysctl(BRIDGE_NF).is_some() && netns.set_sysctl(BRIDGE_NF, "1").is_ok();
        if bridged {
            netns.ip(&["link", "add", "capstan0", "type", "bridge"])?;
            netns.ip(&["addr", "add", &format!("{GATEWAY}/24"), "dev", "capstan0"])?;
            netns.ip(&["link", "set", "capstan0", "up"])?;
        } else {
            eprintln!(
                "no {BRIDGE_NF} in a new namespace: pods are routed through the node instead"
            );
        }
        Ok(Node {
            netns,
            pods: Vec::new(),
            bridged,
        })
    }

    /// Adds a pod namespace with address 10.97.0.<host>; returns its index in `pods`.
    pub fn add_pod(&mut self, host: u8) -> Result<usize, String> {
        let pod = Netns::create()?;
        let ip = format!("10.97.0.{host}");
        let host_end = format!("veth{host}");
        self.netns.ip(&[
            "link", "add", &host_end, "type", "veth", "peer", "name", "eth0", "netns", &pod.name,
        ])?;
        if self.bridged {
            self.netns
                .ip(&["link", "set", &host_end, "master", "capstan0"])?;
            self.netns.ip(&["link", "set", &host_end, "up"])?;
            pod.ip(&["addr", "add", &format!("{ip}/24"), "dev", "eth0"])?;
            pod.ip(&["link", "set", "eth0", "up"])?;
        } else {
            self.netns
                .ip(&["addr", "add", &format!("{GATEWAY}/32"), "dev", &host_end])?;
            self.netns.ip(&["link", "set", &host_end, "up"])?;
            self.netns
                .ip(&["route", "add", &format!("{ip}/32"), "dev", &host_end])?;
            pod.ip(&["addr", "add", &format!("{ip}/32"), "dev", "eth0"])?;
            pod.ip(&["link", "set", "eth0", "up"])?;
            pod.ip(&["route", "add", GATEWAY, "dev", "eth0"])?;
        }
        pod.ip(&["route", "add", "default", "via", GATEWAY])?;
        self.pods.push(PodNs { netns: pod, ip });
        Ok(self.pods.len() - 1)
    }
}
