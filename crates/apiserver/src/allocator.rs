//! Ranges handed out one member at a time: Service ClusterIPs from the
//! service CIDR and NodePorts from the node-port range. As upstream, each
//! range is a bitmap kept in the store (`/registry/ranges/...`) and changed
//! by compare-and-swap, so two servers or two concurrent creates never hand
//! out the same member, and a restart forgets nothing.

use std::net::IpAddr;
use std::sync::Arc;

use base64::Engine;
use capstan_store::{Bytes, Store, StoreError};
use serde_json::{json, Value};

/// Attempts at a compare-and-swap before giving up.
const ATTEMPTS: usize = 16;

#[derive(Debug, PartialEq, Eq)]
pub enum AllocateError {
    /// The member asked for is already allocated.
    Taken,
    /// The member asked for is outside the range.
    OutOfRange,
    /// No member is free.
    Full,
    Store(String),
}

pub struct RangeAllocator {
    store: Arc<dyn Store>,
    key: String,
    /// The range as written in the RangeAllocation, e.g. `10.43.0.0/16`.
    pub range: String,
    size: u64,
}

impl RangeAllocator {
    pub fn new(store: Arc<dyn Store>, key: &str, range: String, size: u64) -> RangeAllocator {
        RangeAllocator {
            store,
            key: key.to_string(),
            range,
            size,
        }
    }

    /// Allocates `wanted`, or any free member; returns its offset.
    pub async fn allocate(&self, wanted: Option<u64>) -> Result<u64, AllocateError> {
        if let Some(offset) = wanted {
            if offset >= self.size {
                return Err(AllocateError::OutOfRange);
            }
        }
        for _ in 0..ATTEMPTS {
            let (mut bits, revision) = self.read().await?;
            let offset = match wanted {
                Some(offset) if get(&bits, offset) => return Err(AllocateError::Taken),
                Some(offset) => offset,
                None => self.free_member(&bits).ok_or(AllocateError::Full)?,
            };
            set(&mut bits, offset, true);
            if self.write(&bits, revision).await? {
                return Ok(offset);
            }
        }
        Err(AllocateError::Store(
            "too much contention on the range".into(),
        ))
    }

    /// Frees a member; freeing a free member is not an error.
    pub async fn release(&self, offset: u64) -> Result<(), AllocateError> {
        for _ in 0..ATTEMPTS {
            let (mut bits, revision) = self.read().await?;
            if !get(&bits, offset) {
                return Ok(());
            }
            set(&mut bits, offset, false);
            if self.write(&bits, revision).await? {
                return Ok(());
            }
        }
        Err(AllocateError::Store(
            "too much contention on the range".into(),
        ))
    }

    /// A free member, searched from a random place so that members are
    /// spread and rarely reused at once.
    fn free_member(&self, bits: &[u8]) -> Option<u64> {
        let start = u64::from_le_bytes(uuid::Uuid::new_v4().as_bytes()[..8].try_into().ok()?)
            % self.size.max(1);
        (0..self.size)
            .map(|step| (start + step) % self.size)
            .find(|offset| !get(bits, *offset))
    }

    async fn read(&self) -> Result<(Vec<u8>, Option<i64>), AllocateError> {
        let stored = self
            .store
            .get(&self.key, 0)
            .await
            .map_err(|e| AllocateError::Store(e.to_string()))?;
        let Some(kv) = stored else {
            return Ok((vec![0; self.size.div_ceil(8) as usize], None));
        };
        let object: Value =
            serde_json::from_slice(&kv.value).map_err(|e| AllocateError::Store(e.to_string()))?;
        let mut bits = base64::engine::general_purpose::STANDARD
            .decode(object["data"].as_str().unwrap_or_default())
            .map_err(|e| AllocateError::Store(e.to_string()))?;
        bits.resize(self.size.div_ceil(8) as usize, 0);
        Ok((bits, Some(kv.mod_revision)))
    }

    /// Writes the bitmap if it is still at `revision`; false when another
    /// writer came first and the caller must read again.
    async fn write(&self, bits: &[u8], revision: Option<i64>) -> Result<bool, AllocateError> {
        let object = json!({
            "kind": "RangeAllocation",
            "apiVersion": "v1",
            "metadata": {"creationTimestamp": null},
            "range": self.range,
            "data": base64::engine::general_purpose::STANDARD.encode(bits),
        });
        let value = Bytes::from(object.to_string());
        let result = match revision {
            Some(revision) => self
                .store
                .update(&self.key, value, revision)
                .await
                .map(|_| ()),
            None => self.store.create(&self.key, value).await.map(|_| ()),
        };
        match result {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict { .. } | StoreError::AlreadyExists { .. }) => Ok(false),
            Err(other) => Err(AllocateError::Store(other.to_string())),
        }
    }
}

fn get(bits: &[u8], offset: u64) -> bool {
    bits.get((offset / 8) as usize)
        .is_some_and(|byte| byte & (1 << (offset % 8)) != 0)
}

fn set(bits: &mut [u8], offset: u64, value: bool) {
    if let Some(byte) = bits.get_mut((offset / 8) as usize) {
        if value {
            *byte |= 1 << (offset % 8);
        } else {
            *byte &= !(1 << (offset % 8));
        }
    }
}

/// A CIDR such as `10.43.0.0/16`. As the service CIDR it is a range of
/// addresses: offset 0 is the network address plus one; the last
/// (broadcast) address is never handed out.
#[derive(Clone, Copy, Debug)]
pub struct Cidr {
    pub network: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    /// Members in the range; large IPv6 ranges are cut to 2^20 so the
    /// bitmap stays small.
    pub fn size(&self) -> u64 {
        let host_bits =
            u32::from(if self.network.is_ipv4() { 32 } else { 128 } - self.prefix).min(20);
        (1u64 << host_bits).saturating_sub(2)
    }

    pub fn address(&self, offset: u64) -> IpAddr {
        match self.network {
            IpAddr::V4(v4) => IpAddr::V4((u32::from(v4) + 1 + offset as u32).into()),
            IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) + 1 + u128::from(offset)).into()),
        }
    }

    pub fn offset(&self, address: IpAddr) -> Option<u64> {
        let offset = match (self.network, address) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                u64::from(u32::from(ip).checked_sub(u32::from(net))?)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                u64::try_from(u128::from(ip).checked_sub(u128::from(net))?).ok()?
            }
            _ => return None,
        };
        (offset >= 1 && offset - 1 < self.size()).then(|| offset - 1)
    }
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
    use capstan_store::memory::MemoryStore;

    #[tokio::test]
    async fn members_are_handed_out_once() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let ports = RangeAllocator::new(
            store.clone(),
            "/registry/ranges/servicenodeports",
            "30000-30003".into(),
            4,
        );
        assert_eq!(ports.allocate(Some(2)).await, Ok(2));
        assert_eq!(ports.allocate(Some(2)).await, Err(AllocateError::Taken));
        assert_eq!(
            ports.allocate(Some(9)).await,
            Err(AllocateError::OutOfRange)
        );
        let mut taken = vec![2];
        for _ in 0..3 {
            taken.push(ports.allocate(None).await.unwrap());
        }
        taken.sort();
        assert_eq!(taken, [0, 1, 2, 3]);
        assert_eq!(ports.allocate(None).await, Err(AllocateError::Full));
        ports.release(1).await.unwrap();
        assert_eq!(ports.allocate(None).await, Ok(1));
        // The bitmap lives in the store: a new allocator sees it.
        let again = RangeAllocator::new(
            store,
            "/registry/ranges/servicenodeports",
            "30000-30003".into(),
            4,
        );
        assert_eq!(again.allocate(None).await, Err(AllocateError::Full));
    }

    #[test]
    fn cidrs_parse_to_their_network() {
        let cidr: Cidr = "10.43.7.9/16".parse().unwrap();
        assert_eq!(cidr.to_string(), "10.43.0.0/16");
        assert!("10.43.0.0".parse::<Cidr>().is_err());
        assert!("10.43.0.0/33".parse::<Cidr>().is_err());
        let v6: Cidr = "fd00::5/108".parse().unwrap();
        assert_eq!(v6.to_string(), "fd00::/108");
    }

    #[test]
    fn service_cidr_offsets() {
        let cidr = Cidr {
            network: "10.43.0.0".parse().unwrap(),
            prefix: 16,
        };
        assert_eq!(cidr.size(), 65534);
        assert_eq!(cidr.address(0).to_string(), "10.43.0.1");
        assert_eq!(cidr.offset("10.43.0.10".parse().unwrap()), Some(9));
        assert_eq!(cidr.offset("10.44.0.1".parse().unwrap()), None);
        assert_eq!(cidr.offset("10.43.255.255".parse().unwrap()), None);
    }
}
