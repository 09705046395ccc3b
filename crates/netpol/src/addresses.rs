//! Sets of IPv4 addresses as sorted, disjoint, non-adjacent ranges: what an nftables interval
//! set holds. Pod addresses and `ipBlock`s (a CIDR minus its `except` blocks) are merged into
//! one canonical list, so that the set never holds overlapping elements (which nft refuses)
//! and the same addresses always give the same elements (which keeps diffs small).

use std::fmt;
use std::net::Ipv4Addr;

/// An inclusive range of addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ipv4Range {
    pub first: u32,
    pub last: u32,
}

impl Ipv4Range {
    pub fn single(address: Ipv4Addr) -> Ipv4Range {
        let address = u32::from(address);
        Ipv4Range {
            first: address,
            last: address,
        }
    }

    /// Parses `a.b.c.d/n`. Host bits are ignored (upstream validation only warns about them).
    pub fn parse_cidr(text: &str) -> Result<Ipv4Range, String> {
        let text = text.trim();
        let (address, digits) = text
            .split_once('/')
            .ok_or_else(|| format!("{text:?} is not a CIDR"))?;
        let address: Ipv4Addr = address
            .parse()
            .map_err(|_| format!("{text:?} is not an IPv4 CIDR"))?;
        let prefix = match digits.parse::<u8>() {
            // Canonical digits only: `u8::from_str` would also take "+8" and "016".
            Ok(prefix) if prefix <= 32 && prefix.to_string() == digits => prefix,
            _ => return Err(format!("{text:?} has an invalid prefix length")),
        };
        let host_bits = 32 - u32::from(prefix);
        let host_mask = if host_bits == 32 {
            u32::MAX
        } else {
            (1u32 << host_bits) - 1
        };
        let first = u32::from(address) & !host_mask;
        Ok(Ipv4Range {
            first,
            last: first | host_mask,
        })
    }

    /// The prefix length when the range is exactly one CIDR block.
    fn prefix_length(&self) -> Option<u32> {
        let size = u64::from(self.last) - u64::from(self.first) + 1;
        if !size.is_power_of_two() {
            return None;
        }
        let host_bits = size.trailing_zeros();
        let aligned = host_bits == 32 || self.first & ((1u32 << host_bits) - 1) == 0;
        aligned.then_some(32 - host_bits)
    }
}

/// The nft element text: `10.0.0.1`, `10.0.0.0/24` or `10.0.0.1-10.0.0.6`.
impl fmt::Display for Ipv4Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let first = Ipv4Addr::from(self.first);
        if self.first == self.last {
            return write!(f, "{first}");
        }
        match self.prefix_length() {
            Some(prefix) => write!(f, "{first}/{prefix}"),
            None => write!(f, "{first}-{}", Ipv4Addr::from(self.last)),
        }
    }
}

/// A set of addresses in canonical form: sorted ranges, neither overlapping nor touching.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct AddressSet {
    ranges: Vec<Ipv4Range>,
}

impl AddressSet {
    /// Builds the set from any ranges (overlapping, unsorted, duplicated).
    pub fn from_ranges(mut ranges: Vec<Ipv4Range>) -> AddressSet {
        ranges.sort_unstable();
        let mut merged: Vec<Ipv4Range> = Vec::with_capacity(ranges.len());
        for range in ranges {
            match merged.last_mut() {
                // Touching ranges merge too: `last + 1` cannot overflow when last < first.
                Some(previous) if previous.last == u32::MAX || range.first <= previous.last + 1 => {
                    previous.last = previous.last.max(range.last);
                }
                _ => merged.push(range),
            }
        }
        AddressSet { ranges: merged }
    }

    /// `block` without the addresses in `except`: an ipBlock.
    pub fn block_except(block: Ipv4Range, except: &[Ipv4Range]) -> AddressSet {
        let except = AddressSet::from_ranges(except.to_vec());
        let mut remaining = Vec::new();
        let mut next = u64::from(block.first);
        let end = u64::from(block.last);
        for hole in &except.ranges {
            let (hole_first, hole_last) = (u64::from(hole.first), u64::from(hole.last));
            if hole_last < next || hole_first > end {
                continue;
            }
            if hole_first > next {
                remaining.push(range_of(next, hole_first - 1));
            }
            next = hole_last + 1;
        }
        if next <= end {
            remaining.push(range_of(next, end));
        }
        AddressSet { ranges: remaining }
    }

    pub fn ranges(&self) -> &[Ipv4Range] {
        &self.ranges
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub fn contains(&self, address: Ipv4Addr) -> bool {
        let address = u32::from(address);
        let index = self.ranges.partition_point(|range| range.last < address);
        self.ranges
            .get(index)
            .is_some_and(|range| range.first <= address)
    }
}

/// Both ends fit in u32: they come from u32 values and stay within [first, last].
fn range_of(first: u64, last: u64) -> Ipv4Range {
    Ipv4Range {
        first: u32::try_from(first).unwrap_or(u32::MAX),
        last: u32::try_from(last).unwrap_or(u32::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(text: &str) -> Ipv4Range {
        Ipv4Range::parse_cidr(text).unwrap()
    }

    fn texts(set: &AddressSet) -> Vec<String> {
        set.ranges().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn parses_cidrs() {
        assert_eq!(cidr("10.0.0.0/8").to_string(), "10.0.0.0/8");
        assert_eq!(
            cidr("10.1.2.3/16").to_string(),
            "10.1.0.0/16",
            "host bits are cleared"
        );
        assert_eq!(cidr("192.0.2.7/32").to_string(), "192.0.2.7");
        assert_eq!(cidr("0.0.0.0/0").to_string(), "0.0.0.0/0");
        for bad in [
            "",
            "10.0.0.0",
            "10.0.0.0/33",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/08",
            "fd00::/8",
            "x/8",
        ] {
            assert!(Ipv4Range::parse_cidr(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn merges_overlapping_and_touching_ranges() {
        let set = AddressSet::from_ranges(vec![
            Ipv4Range::single("10.0.0.3".parse().unwrap()),
            Ipv4Range::single("10.0.0.1".parse().unwrap()),
            Ipv4Range::single("10.0.0.2".parse().unwrap()),
            Ipv4Range::single("10.0.0.9".parse().unwrap()),
            cidr("10.1.0.0/24"),
            cidr("10.1.0.128/25"),
            cidr("10.1.1.0/24"),
            Ipv4Range::single("10.0.0.9".parse().unwrap()),
        ]);
        assert_eq!(
            texts(&set),
            ["10.0.0.1-10.0.0.3", "10.0.0.9", "10.1.0.0/23"]
        );
        assert!(set.contains("10.0.0.2".parse().unwrap()));
        assert!(!set.contains("10.0.0.4".parse().unwrap()));
        assert!(set.contains("10.1.1.255".parse().unwrap()));
        assert!(!set.contains("10.1.2.0".parse().unwrap()));
    }

    #[test]
    fn everything_merges_without_overflow() {
        let set = AddressSet::from_ranges(vec![
            cidr("0.0.0.0/1"),
            cidr("128.0.0.0/1"),
            cidr("255.255.255.255/32"),
        ]);
        assert_eq!(texts(&set), ["0.0.0.0/0"]);
    }

    #[test]
    fn blocks_with_exceptions() {
        let set = AddressSet::block_except(
            cidr("10.0.0.0/8"),
            &[cidr("10.1.0.0/16"), cidr("10.255.0.0/16")],
        );
        assert_eq!(texts(&set), ["10.0.0.0/16", "10.2.0.0-10.254.255.255"]);
        assert!(!set.contains("10.1.2.3".parse().unwrap()));
        assert!(set.contains("10.2.2.3".parse().unwrap()));

        // Exceptions at the edges, overlapping each other, outside the block, or all of it.
        let set = AddressSet::block_except(
            cidr("0.0.0.0/0"),
            &[
                cidr("0.0.0.0/8"),
                cidr("0.0.0.0/9"),
                cidr("255.0.0.0/8"),
                cidr("10.0.0.0/8"),
            ],
        );
        assert_eq!(
            texts(&set),
            ["1.0.0.0-9.255.255.255", "11.0.0.0-254.255.255.255"]
        );
        let set = AddressSet::block_except(cidr("192.168.0.0/24"), &[cidr("10.0.0.0/8")]);
        assert_eq!(texts(&set), ["192.168.0.0/24"]);
        assert!(
            AddressSet::block_except(cidr("192.168.0.0/24"), &[cidr("192.168.0.0/16")]).is_empty()
        );
    }
}
