//! The node's pressure conditions from its measurements, against hard
//! eviction thresholds in the kubelet's `--eviction-hard` syntax
//! (`memory.available<100Mi,nodefs.available<10%`). The defaults are
//! upstream's for memory and the node's filesystem. capstan keeps images
//! under the data dir, on that filesystem, with no image filesystem of
//! their own: the `nodefs` thresholds govern it, and `imagefs` ones,
//! when given, judge the same filesystem.

use crate::runtime::{DiskStats, NodeHealth};

/// The thresholds when none are given.
pub const DEFAULT: &str = "memory.available<100Mi,nodefs.available<10%,nodefs.inodesFree<5%";

/// Signals below these values put the node under pressure.
#[derive(Clone, Debug, PartialEq)]
pub struct Thresholds {
    memory_available: Option<Amount>,
    nodefs_available: Option<Amount>,
    nodefs_inodes_free: Option<Amount>,
    imagefs_available: Option<Amount>,
    imagefs_inodes_free: Option<Amount>,
    pid_available: Option<Amount>,
}

/// A threshold: a quantity of bytes (or inodes, PIDs), or a share of the
/// capacity.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Amount {
    Absolute(u64),
    Percent(f64),
}

impl Amount {
    /// Whether `available` of `capacity` is under the threshold.
    fn crossed(self, available: u64, capacity: u64) -> bool {
        match self {
            Amount::Absolute(limit) => available < limit,
            Amount::Percent(share) => {
                capacity > 0 && (available as f64) < (capacity as f64) * share / 100.0
            }
        }
    }
}

impl Default for Thresholds {
    /// Upstream's `DefaultEvictionHard` for memory and the node's
    /// filesystem.
    fn default() -> Thresholds {
        Thresholds::parse(DEFAULT).expect("the defaults parse")
    }
}

impl Thresholds {
    /// Parses `signal<amount` pairs separated by commas; signals not
    /// named have no threshold. An empty text sets none.
    pub fn parse(text: &str) -> Result<Thresholds, String> {
        let mut thresholds = Thresholds {
            memory_available: None,
            nodefs_available: None,
            nodefs_inodes_free: None,
            imagefs_available: None,
            imagefs_inodes_free: None,
            pid_available: None,
        };
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((signal, amount)) = pair.split_once('<') else {
                return Err(format!(
                    "invalid eviction threshold {pair:?}: expected signal<quantity"
                ));
            };
            let amount = parse_amount(amount.trim())
                .ok_or_else(|| format!("invalid eviction threshold {pair:?}: bad quantity"))?;
            let slot = match signal.trim() {
                "memory.available" => &mut thresholds.memory_available,
                "nodefs.available" => &mut thresholds.nodefs_available,
                "nodefs.inodesFree" => &mut thresholds.nodefs_inodes_free,
                "imagefs.available" => &mut thresholds.imagefs_available,
                "imagefs.inodesFree" => &mut thresholds.imagefs_inodes_free,
                "pid.available" => &mut thresholds.pid_available,
                other => return Err(format!("unsupported eviction signal {other:?}")),
            };
            *slot = Some(amount);
        }
        Ok(thresholds)
    }

    /// The pressures (memory, disk, PID) the measurements show.
    pub fn judge(&self, health: &NodeHealth) -> [bool; 3] {
        let memory = match (self.memory_available, health.memory) {
            (Some(limit), Some((available, capacity))) => limit.crossed(available, capacity),
            _ => false,
        };
        let disk = health.disk.is_some_and(|disk: DiskStats| {
            let space = |limit: Option<Amount>| {
                limit.is_some_and(|l| l.crossed(disk.available, disk.capacity))
            };
            let inodes = |limit: Option<Amount>| {
                limit.is_some_and(|l| l.crossed(disk.inodes_free, disk.inodes))
            };
            space(self.nodefs_available)
                || space(self.imagefs_available)
                || inodes(self.nodefs_inodes_free)
                || inodes(self.imagefs_inodes_free)
        });
        let pid = match (self.pid_available, health.pids) {
            (Some(limit), Some((available, capacity))) => limit.crossed(available, capacity),
            _ => false,
        };
        [memory, disk, pid]
    }
}

/// `10%`, or a quantity (`100Mi`, `1G`, `5000`).
fn parse_amount(text: &str) -> Option<Amount> {
    if let Some(percent) = text.strip_suffix('%') {
        let share: f64 = percent.parse().ok()?;
        return (0.0..=100.0)
            .contains(&share)
            .then_some(Amount::Percent(share));
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let scale: u64 = match suffix {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        _ => return None,
    };
    Some(Amount::Absolute(number.checked_mul(scale)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(memory_available: u64, disk_available: u64) -> NodeHealth {
        NodeHealth {
            memory: Some((memory_available, 8 << 30)),
            disk: Some(DiskStats {
                capacity: 100 << 30,
                available: disk_available,
                inodes: 1000,
                inodes_free: 900,
            }),
            ..NodeHealth::default()
        }
    }

    #[test]
    fn upstream_defaults_judge_memory_and_disk() {
        let defaults = Thresholds::default();
        assert_eq!(defaults.judge(&health(1 << 30, 50 << 30)), [false; 3]);
        assert_eq!(
            defaults.judge(&health(50 << 20, 50 << 30)),
            [true, false, false]
        );
        assert_eq!(
            defaults.judge(&health(1 << 30, 9 << 30)),
            [false, true, false]
        );
        assert_eq!(defaults.judge(&health(1 << 30, 11 << 30)), [false; 3]);
        // imagefs thresholds judge the same filesystem.
        let images = Thresholds::parse("imagefs.available<15%").unwrap();
        assert_eq!(
            images.judge(&health(1 << 30, 14 << 30)),
            [false, true, false]
        );
        // No measurements, no pressure.
        assert_eq!(defaults.judge(&NodeHealth::default()), [false; 3]);
    }

    #[test]
    fn thresholds_parse_as_the_kubelet_flag() {
        let custom = Thresholds::parse("nodefs.available<99%, memory.available<1Gi").unwrap();
        assert_eq!(
            custom.judge(&health(2 << 30, 50 << 30)),
            [false, true, false]
        );
        assert_eq!(
            custom.judge(&health(512 << 20, 100 << 30)),
            [true, false, false]
        );
        assert_eq!(
            Thresholds::parse("").unwrap().judge(&health(0, 0)),
            [false; 3]
        );
        assert!(Thresholds::parse("memory.available>1Gi").is_err());
        assert!(Thresholds::parse("memory.available<lots").is_err());
        assert!(Thresholds::parse("cpu.available<1").is_err());
        assert!(Thresholds::parse("nodefs.available<150%").is_err());
    }
}
