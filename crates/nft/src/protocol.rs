//! The transport protocols Services and NetworkPolicies name, from the API's spelling to nft's.

use std::fmt;

/// A transport protocol a service port or a policy port can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    /// The API spelling (`TCP`, `UDP`, `SCTP`), TCP when unset as the API defaults it; None
    /// for anything else.
    pub fn parse(protocol: Option<&str>) -> Option<Protocol> {
        match protocol.unwrap_or("TCP") {
            "TCP" => Some(Protocol::Tcp),
            "UDP" => Some(Protocol::Udp),
            "SCTP" => Some(Protocol::Sctp),
            _ => None,
        }
    }

    /// The nft spelling (`tcp`), also fit for chain and set names.
    pub fn as_nft(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

impl fmt::Display for Protocol {
    /// The nft spelling.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_nft())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_spellings() {
        assert_eq!(Protocol::parse(None), Some(Protocol::Tcp));
        assert_eq!(Protocol::parse(Some("UDP")), Some(Protocol::Udp));
        assert_eq!(Protocol::parse(Some("SCTP")), Some(Protocol::Sctp));
        // The API spells them in capitals only.
        for unknown in ["tcp", "ICMP", ""] {
            assert_eq!(Protocol::parse(Some(unknown)), None, "{unknown}");
        }
        assert_eq!(Protocol::Sctp.to_string(), "sctp");
        assert_eq!(Protocol::Tcp.as_nft(), "tcp");
    }
}
