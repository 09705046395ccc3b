//! CIDR flags such as `--service-cidr 10.43.0.0/16`.

use std::net::IpAddr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub network: IpAddr,
    pub prefix: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Cidr, String> {
        let invalid = || format!("invalid CIDR address: {text}");
        let (address, prefix) = text.split_once('/').ok_or_else(invalid)?;
        let address: IpAddr = address.parse().map_err(|_| invalid())?;
        let prefix: u8 = prefix.parse().map_err(|_| invalid())?;
        let bits = if address.is_ipv4() { 32 } else { 128 };
        if prefix > bits || prefix + 2 > bits {
            return Err(invalid());
        }
        let network = match address {
            IpAddr::V4(v4) => {
                let mask = u32::MAX.checked_shl(u32::from(32 - prefix)).unwrap_or(0);
                IpAddr::V4((u32::from(v4) & mask).into())
            }
            IpAddr::V6(v6) => {
                let mask = u128::MAX.checked_shl(u32::from(128 - prefix)).unwrap_or(0);
                IpAddr::V6((u128::from(v6) & mask).into())
            }
        };
        Ok(Cidr { network, prefix })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_parse_to_their_network() {
        let cidr: Cidr = "10.43.0.0/16".parse().unwrap();
        assert_eq!(cidr.network.to_string(), "10.43.0.0");
        let loose: Cidr = "10.43.7.9/16".parse().unwrap();
        assert_eq!(loose.to_string(), "10.43.0.0/16");
        assert!("10.43.0.0".parse::<Cidr>().is_err());
        assert!("10.43.0.0/33".parse::<Cidr>().is_err());
        let v6: Cidr = "fd00::5/108".parse().unwrap();
        assert_eq!(v6.to_string(), "fd00::/108");
    }
}
