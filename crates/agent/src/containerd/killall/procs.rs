//! Processes from /proc, and signalling them.

use std::path::Path;
use std::time::{Duration, Instant};

/// A process, from /proc.
pub(super) struct Process {
    pub(super) pid: i32,
    pub(super) ppid: i32,
    pub(super) args: Vec<String>,
}

impl Process {
    /// The file name of argv[0].
    pub(super) fn name(&self) -> &str {
        let first = self.args.first().map(String::as_str).unwrap_or("");
        first.rsplit('/').next().unwrap_or(first)
    }

    /// Whether the command line has `flag value` or `flag=value` for one
    /// of `flags`, the value naming `path`.
    pub(super) fn has_flag(&self, flags: &[&str], path: &Path) -> bool {
        let same = |value: &str| same_path(Path::new(value), path);
        self.args.iter().enumerate().any(|(at, arg)| {
            flags.iter().any(|flag| {
                (arg == flag && self.args.get(at + 1).is_some_and(|value| same(value)))
                    || arg
                        .strip_prefix(flag)
                        .and_then(|rest| rest.strip_prefix('='))
                        .is_some_and(same)
            })
        })
    }
}

impl Process {
    /// The value after `flag` (as `flag value`).
    pub(super) fn flag(&self, flag: &str) -> Option<&str> {
        let at = self.args.iter().position(|arg| arg == flag)?;
        self.args.get(at + 1).map(String::as_str)
    }
}

pub(super) fn same_path(a: &Path, b: &Path) -> bool {
    a == b || std::fs::canonicalize(a).is_ok_and(|a| a == b)
}

/// Every process with a command line (not kernel threads).
pub(super) fn processes() -> Vec<Process> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let args: Vec<String> = cmdline
                .split(|byte| *byte == 0)
                .filter(|arg| !arg.is_empty())
                .map(|arg| String::from_utf8_lossy(arg).into_owned())
                .collect();
            let (_, ppid) = stat(pid)?;
            (!args.is_empty()).then_some(Process { pid, ppid, args })
        })
        .collect()
}

/// A process's state letter and parent, from /proc/PID/stat.
pub(super) fn stat(pid: i32) -> Option<(char, i32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = text[text.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Gone, or a zombie (dead, waiting for its parent to reap it).
pub(super) fn is_gone(pid: i32) -> bool {
    stat(pid).is_none_or(|(state, _)| state == 'Z' || state == 'X')
}

pub(super) fn signal(pids: &[i32], signal: i32) {
    for &pid in pids {
        // SAFETY: kill(2) has no memory effects.
        unsafe { libc::kill(pid, signal) };
    }
}

pub(super) fn wait_gone(pids: &[i32], timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if pids.iter().all(|&pid| is_gone(pid)) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// SIGTERM, then SIGKILL after `timeout`; true if it came to SIGKILL.
pub(super) fn terminate(pids: &[i32], timeout: Duration) -> bool {
    signal(pids, libc::SIGTERM);
    if wait_gone(pids, timeout) {
        return false;
    }
    signal(pids, libc::SIGKILL);
    wait_gone(pids, Duration::from_secs(2));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_flags_match_paths() {
        let process = Process {
            pid: 7,
            ppid: 1,
            args: [
                "/usr/bin/containerd-shim-runc-v2",
                "-namespace",
                "k8s.io",
                "-id",
                "x",
                "-address",
                "/d/c.sock",
            ]
            .map(String::from)
            .to_vec(),
        };
        assert_eq!(process.name(), "containerd-shim-runc-v2");
        assert!(process.has_flag(&["-address"], Path::new("/d/c.sock")));
        assert!(!process.has_flag(&["-address"], Path::new("/e/c.sock")));
        let daemon = Process {
            pid: 8,
            ppid: 1,
            args: ["containerd", "--config=/d/config.toml"]
                .map(String::from)
                .to_vec(),
        };
        assert!(daemon.has_flag(&["--config"], Path::new("/d/config.toml")));
        assert!(!daemon.has_flag(&["--config"], Path::new("/d/config.toml.x")));
    }
}
