//! Pod addresses from the node's podCIDR, as the host-local IPAM plugin
//! hands them out: the network address, the gateway (`.1`) and the
//! broadcast address are never given, and addresses go round-robin so a
//! freed one is not reused at once.

use std::net::Ipv4Addr;

/// The addresses of one node's podCIDR and which are in use.
#[derive(Debug)]
pub struct PodNetwork {
    base: u32,
    size: u32,
    used: Vec<u64>,
    next: u32,
}

/// Upper bound on the addresses tracked per node (a /16), so a huge
/// podCIDR cannot make the bitmap large.
const MAX_SIZE: u32 = 1 << 16;

impl PodNetwork {
    /// Parses `A.B.C.D/BITS`; `None` for anything else (IPv6 included).
    pub fn parse(cidr: &str) -> Option<PodNetwork> {
        let (address, bits) = cidr.trim().split_once('/')?;
        let address: Ipv4Addr = address.parse().ok()?;
        let bits: u32 = bits.parse().ok()?;
        if !(1..=30).contains(&bits) {
            return None;
        }
        let size = (1u32 << (32 - bits)).min(MAX_SIZE);
        let mask = u32::MAX << (32 - bits);
        Some(PodNetwork {
            base: u32::from(address) & mask,
            size,
            used: vec![0; size.div_ceil(64) as usize],
            next: 2,
        })
    }

    fn offset(&self, ip: Ipv4Addr) -> Option<u32> {
        let offset = u32::from(ip).checked_sub(self.base)?;
        (offset < self.size).then_some(offset)
    }

    fn is_used(&self, offset: u32) -> bool {
        self.used[(offset / 64) as usize] & (1 << (offset % 64)) != 0
    }

    fn set(&mut self, offset: u32, used: bool) {
        let word = &mut self.used[(offset / 64) as usize];
        if used {
            *word |= 1 << (offset % 64);
        } else {
            *word &= !(1 << (offset % 64));
        }
    }

    /// The next free address, or `None` when all are taken.
    pub fn allocate(&mut self) -> Option<Ipv4Addr> {
        let (first, last) = (2, self.size - 2);
        for step in 0..=(last - first) {
            let offset = first + (self.next - first + step) % (last - first + 1);
            if !self.is_used(offset) {
                self.set(offset, true);
                self.next = if offset == last { first } else { offset + 1 };
                return Some(Ipv4Addr::from(self.base + offset));
            }
        }
        None
    }

    /// Marks an address some pod already has; false if it is not ours.
    pub fn reserve(&mut self, ip: Ipv4Addr) -> bool {
        match self.offset(ip) {
            Some(offset) => {
                self.set(offset, true);
                true
            }
            None => false,
        }
    }

    pub fn release(&mut self, ip: Ipv4Addr) {
        if let Some(offset) = self.offset(ip) {
            self.set(offset, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hands_out_addresses_in_the_cidr_round_robin() {
        let mut network = PodNetwork::parse("10.42.3.0/24").unwrap();
        let first = network.allocate().unwrap();
        assert_eq!(first, Ipv4Addr::new(10, 42, 3, 2));
        assert_eq!(network.allocate().unwrap(), Ipv4Addr::new(10, 42, 3, 3));
        network.release(first);
        assert_eq!(network.allocate().unwrap(), Ipv4Addr::new(10, 42, 3, 4));
        assert!(network.reserve(Ipv4Addr::new(10, 42, 3, 5)));
        assert_eq!(network.allocate().unwrap(), Ipv4Addr::new(10, 42, 3, 6));
        assert!(!network.reserve(Ipv4Addr::new(10, 42, 4, 5)));
    }

    #[test]
    fn runs_out_and_refuses_bad_cidrs() {
        let mut network = PodNetwork::parse("10.0.0.0/30").unwrap();
        assert_eq!(network.allocate(), Some(Ipv4Addr::new(10, 0, 0, 2)));
        assert_eq!(network.allocate(), None);
        assert!(PodNetwork::parse("10.0.0.0").is_none());
        assert!(PodNetwork::parse("fd00::/64").is_none());
        assert!(PodNetwork::parse("10.0.0.0/31").is_none());
    }
}
