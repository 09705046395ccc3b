//! IPv4 CIDR blocks, as written in `--cluster-cidr` and `loadBalancerSourceRanges`.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 network, `address/prefix`, kept as written (host bits are not cleared: nftables
/// accepts them and masks them itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ipv4Cidr {
    pub address: Ipv4Addr,
    pub prefix: u8,
}

impl Ipv4Cidr {
    /// The network address: the address with its host bits cleared.
    pub fn network(&self) -> Ipv4Addr {
        let mask = if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        };
        Ipv4Addr::from(u32::from(self.address) & mask)
    }

    /// Parses a comma-separated list (`"10.42.0.0/16,10.44.0.0/16"`), keeping the IPv4 blocks
    /// and returning the entries that are not IPv4 CIDRs separately, so the caller can say so.
    pub fn parse_list(list: &str) -> (Vec<Ipv4Cidr>, Vec<String>) {
        let mut cidrs = Vec::new();
        let mut rejected = Vec::new();
        for entry in list
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
        {
            match entry.parse::<Ipv4Cidr>() {
                Ok(cidr) if !cidrs.contains(&cidr) => cidrs.push(cidr),
                Ok(_) => {}
                Err(_) => rejected.push(entry.to_string()),
            }
        }
        (cidrs, rejected)
    }
}

impl FromStr for Ipv4Cidr {
    type Err = String;

    /// Accepts `a.b.c.d/n` and, as a /32, a bare address.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: Ipv4Addr = address
            .parse()
            .map_err(|_| format!("{text:?} is not an IPv4 CIDR"))?;
        let prefix = match prefix {
            None => 32,
            Some(digits) => match digits.parse::<u8>() {
                // Canonical digits only: `u8::from_str` would also take "+8" and "016".
                Ok(prefix) if prefix <= 32 && prefix.to_string() == digits => prefix,
                _ => return Err(format!("{text:?} has an invalid prefix length")),
            },
        };
        Ok(Ipv4Cidr { address, prefix })
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network(), self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_networks() {
        let cidr: Ipv4Cidr = "10.42.3.4/16".parse().unwrap();
        assert_eq!(cidr.to_string(), "10.42.0.0/16");
        assert_eq!(
            "192.0.2.7".parse::<Ipv4Cidr>().unwrap().to_string(),
            "192.0.2.7/32"
        );
        assert_eq!(
            "0.0.0.0/0".parse::<Ipv4Cidr>().unwrap().to_string(),
            "0.0.0.0/0"
        );
    }

    #[test]
    fn refuses_malformed_blocks() {
        for bad in [
            "",
            "10.0.0.0/33",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/016",
            "fd00::/8",
            "x/8",
        ] {
            assert!(bad.parse::<Ipv4Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_lists_keeping_ipv4_only() {
        let (cidrs, rejected) =
            Ipv4Cidr::parse_list(" 10.42.0.0/16, fd00::/56,10.42.0.0/16,10.44.0.0/16 ");
        assert_eq!(
            cidrs.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["10.42.0.0/16", "10.44.0.0/16"]
        );
        assert_eq!(rejected, ["fd00::/56"]);
    }
}
