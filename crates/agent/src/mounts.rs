//! Mounts on this machine, from /proc/self/mountinfo, and unmounting
//! them: what the agent mounted for pods and what `capstan killall`
//! cleans up.

use std::collections::BTreeSet;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Lazily unmounts every mount at or under `dir`, deepest first: how many,
/// and what is still mounted after a few rounds.
pub fn unmount_under(dir: &Path) -> (usize, Vec<PathBuf>) {
    let mut count = 0;
    for _ in 0..5 {
        let mounts = mounts_under(dir);
        if mounts.is_empty() {
            return (count, Vec::new());
        }
        // Deepest first; among equals the later (upper) mount first.
        let mut order: Vec<(usize, usize)> = mounts
            .iter()
            .enumerate()
            .map(|(at, path)| (path.components().count(), at))
            .collect();
        order.sort_unstable_by(|a, b| b.cmp(a));
        for (_, at) in order {
            if unmount(&mounts[at]) {
                count += 1;
            }
        }
    }
    let left: BTreeSet<PathBuf> = mounts_under(dir).into_iter().collect();
    (count, left.into_iter().collect())
}

pub fn unmount(path: &Path) -> bool {
    let Ok(path) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a valid NUL-terminated path.
    unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) == 0 }
}

/// Whether something is mounted at `path`.
pub fn is_mount_point(path: &Path) -> bool {
    mounts_under(path).iter().any(|mount| mount == path)
}

/// Mount points at or under `dir`, in /proc/self/mountinfo's order.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    parse_mount_points(&text)
        .into_iter()
        .filter(|mount| mount.starts_with(dir))
        .collect()
}

/// The mount points (fifth field) of mountinfo, unescaped.
pub fn parse_mount_points(mountinfo: &str) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| PathBuf::from(std::ffi::OsStr::from_bytes(&unescape_octal(field))))
        .collect()
}

/// mountinfo writes space, tab, newline and backslash as `\040` etc.
pub fn unescape_octal(field: &str) -> Vec<u8> {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let octal = bytes.get(at + 1..at + 4).filter(|digits| {
            bytes[at] == b'\\' && digits.iter().all(|digit| (b'0'..=b'7').contains(digit))
        });
        match octal {
            Some(digits) => {
                out.push(
                    digits
                        .iter()
                        .fold(0u8, |value, digit| value.wrapping_mul(8) + (digit - b'0')),
                );
                at += 4;
            }
            None => {
                out.push(bytes[at]);
                at += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_parsed_and_unescaped() {
        let text = "22 1 0:21 / /proc rw,nosuid - proc proc rw\n\
                    90 22 0:50 / /d/agent/containerd/state/io.containerd.runtime.v2.task/k8s.io/abc/rootfs rw - overlay overlay rw\n\
                    91 22 0:51 / /d/a\\040b\\134c rw - tmpfs tmpfs rw\n";
        assert_eq!(
            parse_mount_points(text),
            [
                PathBuf::from("/proc"),
                PathBuf::from(
                    "/d/agent/containerd/state/io.containerd.runtime.v2.task/k8s.io/abc/rootfs"
                ),
                PathBuf::from("/d/a b\\c"),
            ]
        );
        assert_eq!(unescape_octal("a\\01"), b"a\\01");
    }
}
