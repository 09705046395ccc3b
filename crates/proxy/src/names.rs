//! Names of the per-service chains and sets, built as kube-proxy's nftables mode builds them:
//! `<prefix><HASH>-<namespace>/<service>/<protocol>/<port name>[__<endpoint ip>/<endpoint port>]`,
//! where HASH is the first 8 base32 characters of the SHA-256 of the rest. The names are stable
//! across syncs and restarts, which is what lets a sync rewrite only what changed.

use std::net::Ipv4Addr;

use sha2::{Digest, Sha256};

use crate::model::ServicePortName;

/// The longest chain or set name the kernel takes (NFT_NAME_MAXLEN, 256, counts the NUL).
const NAME_LENGTH_MAX: usize = 255;
/// The longest of the prefixes below, plus room to spare, as upstream reserves.
const PREFIX_LENGTH_MAX: usize = 16;
const BASE_LENGTH_MAX: usize = NAME_LENGTH_MAX - PREFIX_LENGTH_MAX;

const SERVICE_PREFIX: &str = "service-";
const LOCAL_PREFIX: &str = "local-";
const EXTERNAL_PREFIX: &str = "external-";
const FIREWALL_PREFIX: &str = "firewall-";
const ENDPOINT_PREFIX: &str = "endpoint-";
const AFFINITY_PREFIX: &str = "affinity-";

/// The chain holding the endpoints used under the Cluster traffic policy.
pub fn service_chain(port: &ServicePortName) -> String {
    format!("{SERVICE_PREFIX}{}", service_base(port))
}

/// The chain holding the endpoints used under the Local traffic policy.
pub fn local_chain(port: &ServicePortName) -> String {
    format!("{LOCAL_PREFIX}{}", service_base(port))
}

/// The chain external traffic (NodePort, load balancer, external IPs) goes through.
pub fn external_chain(port: &ServicePortName) -> String {
    format!("{EXTERNAL_PREFIX}{}", service_base(port))
}

/// The chain enforcing `loadBalancerSourceRanges`.
pub fn firewall_chain(port: &ServicePortName) -> String {
    format!("{FIREWALL_PREFIX}{}", service_base(port))
}

/// The chain that DNATs to one endpoint.
pub fn endpoint_chain(port: &ServicePortName, ip: Ipv4Addr, endpoint_port: u16) -> String {
    format!(
        "{ENDPOINT_PREFIX}{}",
        endpoint_base(port, ip, endpoint_port)
    )
}

/// The set of client addresses stuck to one endpoint (sessionAffinity ClientIP).
pub fn affinity_set(port: &ServicePortName, ip: Ipv4Addr, endpoint_port: u16) -> String {
    format!(
        "{AFFINITY_PREFIX}{}",
        endpoint_base(port, ip, endpoint_port)
    )
}

/// True for the names this module makes, as opposed to the fixed chains of the table: only
/// these contain a `/`.
pub fn is_service_object(name: &str) -> bool {
    name.contains('/')
}

fn service_base(port: &ServicePortName) -> String {
    hash_and_truncate(&format!(
        "{}/{}/{}/{}",
        port.namespace,
        port.name,
        port.protocol.as_nft(),
        port.port
    ))
}

fn endpoint_base(port: &ServicePortName, ip: Ipv4Addr, endpoint_port: u16) -> String {
    hash_and_truncate(&format!(
        "{}/{}/{}/{}__{ip}/{endpoint_port}",
        port.namespace,
        port.name,
        port.protocol.as_nft(),
        port.port
    ))
}

/// Prefixes `name` with a hash of itself (so that truncated names stay unique and names that
/// differ in one digit look different) and cuts it to fit.
fn hash_and_truncate(name: &str) -> String {
    let digest = Sha256::digest(name.as_bytes());
    let mut out = base32_prefix(&digest);
    out.push('-');
    // Names come from validated Kubernetes names, but the table must stay loadable whatever
    // the API holds: anything nft would not take in a name becomes `_` (the hash above is of
    // the original, so distinct names stay distinct).
    out.extend(name.chars().map(|c| {
        if c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.') {
            c
        } else {
            '_'
        }
    }));
    if out.len() > BASE_LENGTH_MAX {
        out.truncate(BASE_LENGTH_MAX - 3);
        out.push_str("...");
    }
    out
}

/// The first 8 characters of the standard (RFC 4648) base32 encoding of `bytes`: 40 bits.
fn base32_prefix(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits: u64 = 0;
    for byte in bytes.iter().take(5) {
        bits = (bits << 8) | u64::from(*byte);
    }
    (0..8)
        .map(|i| char::from(ALPHABET[((bits >> (35 - 5 * i)) & 0x1f) as usize]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Protocol;

    fn port(namespace: &str, name: &str, port: &str) -> ServicePortName {
        ServicePortName {
            namespace: namespace.into(),
            name: name.into(),
            port: port.into(),
            protocol: Protocol::Tcp,
        }
    }

    #[test]
    fn names_match_kube_proxy() {
        // Chain names from kube-proxy's nftables tests (pkg/proxy/nftables/proxier_test.go).
        assert_eq!(
            service_chain(&port("ns1", "svc1", "p80")),
            "service-ULMVA6XW-ns1/svc1/tcp/p80"
        );
        assert_eq!(
            endpoint_chain(
                &port("ns1", "svc1", "p80"),
                Ipv4Addr::new(10, 180, 0, 1),
                80
            ),
            "endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80"
        );
        assert_eq!(
            external_chain(&port("ns2", "svc2", "p80")),
            "external-42NFTM6N-ns2/svc2/tcp/p80"
        );
    }

    #[test]
    fn names_are_legal_and_bounded() {
        let long = "a".repeat(300);
        let name = endpoint_chain(&port(&long, "svc", "p"), Ipv4Addr::LOCALHOST, 1);
        assert!(name.len() <= NAME_LENGTH_MAX);
        assert!(name.ends_with("..."));
        let odd = service_chain(&port("ns", "sv\"c {x}", ""));
        assert!(
            odd.chars()
                .all(|c| c.is_ascii_alphanumeric() || "/-_.".contains(c)),
            "{odd}"
        );
        assert!(is_service_object(&odd));
        assert!(!is_service_object("mark-for-masquerade"));
    }
}
