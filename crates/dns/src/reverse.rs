//! Reverse names (`in-addr.arpa.`, `ip6.arpa.`): which names are in the
//! reverse zones, and the address a full reverse name spells.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Where a name stands with respect to the reverse zones.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ReverseName {
    /// Not under `in-addr.arpa.` or `ip6.arpa.`.
    Outside,
    /// The reverse name of one whole address.
    Address(IpAddr),
    /// Under a reverse zone, but not one whole address (a network, garbage).
    Other,
}

/// Classifies a name given as lowercase labels.
pub(crate) fn classify(labels: &[String]) -> ReverseName {
    match labels {
        [front @ .., in_addr, arpa] if in_addr == "in-addr" && arpa == "arpa" => {
            ipv4(front).map_or(ReverseName::Other, ReverseName::Address)
        }
        [front @ .., ip6, arpa] if ip6 == "ip6" && arpa == "arpa" => {
            ipv6(front).map_or(ReverseName::Other, ReverseName::Address)
        }
        _ => ReverseName::Outside,
    }
}

/// `d.c.b.a` → a.b.c.d; octets in plain decimal, as Go's `net.ParseIP`
/// reads them (no leading zeros).
fn ipv4(labels: &[String]) -> Option<IpAddr> {
    let [d, c, b, a] = labels else {
        return None;
    };
    let octet = |label: &String| -> Option<u8> {
        if label.is_empty() || (label.len() > 1 && label.starts_with('0')) {
            return None;
        }
        if !label.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        label.parse().ok()
    };
    Some(IpAddr::V4(Ipv4Addr::new(
        octet(a)?,
        octet(b)?,
        octet(c)?,
        octet(d)?,
    )))
}

/// 32 nibbles, least significant first.
fn ipv6(labels: &[String]) -> Option<IpAddr> {
    if labels.len() != 32 {
        return None;
    }
    let mut value: u128 = 0;
    for label in labels.iter().rev() {
        let [digit] = label.as_bytes() else {
            return None;
        };
        let nibble = char::from(*digit).to_digit(16)?;
        value = (value << 4) | u128::from(nibble);
    }
    Some(IpAddr::V6(Ipv6Addr::from(value)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::lowercase_labels;
    use hickory_proto::rr::Name;

    fn classify_name(name: &str) -> ReverseName {
        classify(&lowercase_labels(&Name::from_ascii(name).unwrap()))
    }

    #[test]
    fn full_reverse_names_are_addresses() {
        for ip in [
            "10.43.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "fd00::1",
            "2001:db8::abcd:1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            let name = Name::from(ip);
            assert_eq!(
                classify(&lowercase_labels(&name)),
                ReverseName::Address(ip),
                "{name}"
            );
        }
        assert_eq!(
            classify_name("1.0.43.10.IN-ADDR.ARPA."),
            ReverseName::Address("10.43.0.1".parse().unwrap())
        );
    }

    #[test]
    fn partial_or_odd_reverse_names_are_other() {
        assert_eq!(classify_name("0.43.10.in-addr.arpa."), ReverseName::Other);
        assert_eq!(classify_name("in-addr.arpa."), ReverseName::Other);
        assert_eq!(
            classify_name("01.0.43.10.in-addr.arpa."),
            ReverseName::Other
        );
        assert_eq!(
            classify_name("256.0.43.10.in-addr.arpa."),
            ReverseName::Other
        );
        assert_eq!(classify_name("x.0.43.10.in-addr.arpa."), ReverseName::Other);
        assert_eq!(classify_name("1.2.ip6.arpa."), ReverseName::Other);
        assert_eq!(classify_name("example.com."), ReverseName::Outside);
        assert_eq!(classify_name("arpa."), ReverseName::Outside);
    }
}
