//! What the DNS server is told at start-up.

use std::net::{IpAddr, SocketAddr, SocketAddrV6};
use std::path::Path;

/// The port resolv.conf nameservers listen on.
const DNS_PORT: u16 = 53;

/// Where the DNS server listens, which zone it serves and where other names go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsOptions {
    /// Addresses to serve on, each over UDP and TCP (e.g. the node's IP, port 53).
    pub listen: Vec<SocketAddr>,
    /// The cluster domain [default "cluster.local"].
    pub cluster_domain: String,
    /// Where names outside the cluster domain go (the host's resolvers).
    pub upstream: Vec<SocketAddr>,
}

impl DnsOptions {
    /// Nameservers of a resolv.conf (port 53), e.g. /etc/resolv.conf; empty if unreadable.
    pub fn upstream_from_resolv_conf(path: &Path) -> Vec<SocketAddr> {
        match std::fs::read_to_string(path) {
            Ok(text) => nameservers(&text),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "cannot read resolv.conf; no upstream resolvers");
                Vec::new()
            }
        }
    }
}

/// The `nameserver` lines of a resolv.conf, in order.
fn nameservers(resolv_conf: &str) -> Vec<SocketAddr> {
    resolv_conf
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            if words.next()? != "nameserver" {
                return None;
            }
            let address = words.next()?;
            let parsed = nameserver_address(address);
            if parsed.is_none() {
                tracing::debug!(
                    address,
                    "ignoring a resolv.conf nameserver that is not an IP address"
                );
            }
            parsed
        })
        .collect()
}

/// One nameserver address; IPv6 link-local ones may carry a numeric zone
/// (`fe80::1%2`). Interface names as zones are not resolved.
fn nameserver_address(address: &str) -> Option<SocketAddr> {
    if let Ok(ip) = address.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, DNS_PORT));
    }
    let (ip, zone) = address.split_once('%')?;
    let ip = ip.parse().ok()?;
    let scope = zone.parse().ok()?;
    Some(SocketAddr::V6(SocketAddrV6::new(ip, DNS_PORT, 0, scope)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nameservers_in_order_and_skips_the_rest() {
        let text = "# generated\n\
                    search default.svc.cluster.local svc.cluster.local\n\
                    nameserver 10.0.0.2\n\
                    ; comment\n\
                    nameserver   2001:db8::53  \n\
                    nameserver fe80::1%3\n\
                    nameserver fe80::1%eth0\n\
                    nameserver not-an-ip\n\
                    nameserver\n\
                    options ndots:5\n\
                    #nameserver 9.9.9.9\n";
        assert_eq!(
            nameservers(text),
            vec![
                "10.0.0.2:53".parse().unwrap(),
                "[2001:db8::53]:53".parse().unwrap(),
                "[fe80::1%3]:53".parse().unwrap(),
            ]
        );
    }

    #[test]
    fn unreadable_file_means_no_upstream() {
        let missing = Path::new("/nonexistent/resolv.conf");
        assert!(DnsOptions::upstream_from_resolv_conf(missing).is_empty());
    }

    #[test]
    fn reads_a_file() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, b"nameserver 192.0.2.1\n").unwrap();
        let upstream = DnsOptions::upstream_from_resolv_conf(file.path());
        assert_eq!(upstream, vec!["192.0.2.1:53".parse().unwrap()]);
    }
}
