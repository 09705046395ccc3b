//! The termination message of an exited container, as upstream's
//! `convertToKubeContainerStatus`: the file the container wrote at its
//! `terminationMessagePath` (its last 4 KiB), or with
//! `FallbackToLogsOnError` and a failed exit, the tail of its log.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use k8s_cri::v1 as cri;

use super::config::{TERMINATION_MESSAGE_PATH, TERMINATION_MESSAGE_POLICY};
use crate::server::logs::{parse_cri, tail_start};

/// Upstream's `MaxContainerTerminationMessageLength`.
const MAX_MESSAGE_BYTES: u64 = 4 * 1024;
/// Upstream's limits on a message read from the log.
const MAX_LOG_LINES: u64 = 80;
const MAX_LOG_BYTES: usize = 2 * 1024;

/// The message `terminated.message` reports, if any.
pub fn message(status: &cri::ContainerStatus) -> Option<String> {
    let annotation = |key: &str| status.annotations.get(key).map(String::as_str);
    let path = annotation(TERMINATION_MESSAGE_PATH).unwrap_or_default();
    // A container that could not even start has no log to fall back to.
    let fallback = annotation(TERMINATION_MESSAGE_POLICY) == Some("FallbackToLogsOnError")
        && status.exit_code != 0
        && status.reason != "ContainerCannotRun";
    let (mut written, check_logs) = from_file(status, path, fallback);
    if check_logs {
        written = from_log(Path::new(&status.log_path));
    }
    let mut message = status.message.clone();
    if !written.is_empty() {
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&written);
    }
    Some(message).filter(|m| !m.is_empty())
}

/// The file mounted at `path`, and whether to read the log instead.
fn from_file(status: &cri::ContainerStatus, path: &str, fallback: bool) -> (String, bool) {
    if path.is_empty() {
        return (String::new(), fallback);
    }
    let Some(mount) = status.mounts.iter().find(|m| m.container_path == path) else {
        return (String::new(), fallback);
    };
    match read_last(Path::new(&mount.host_path), MAX_MESSAGE_BYTES) {
        Ok(data) => {
            let empty = data.is_empty();
            (
                String::from_utf8_lossy(&data).into_owned(),
                fallback && empty,
            )
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => (String::new(), fallback),
        Err(error) => (
            format!(
                "Error on reading termination log {}: {error}",
                mount.host_path
            ),
            false,
        ),
    }
}

/// At most the last `max` bytes of a file.
fn read_last(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let mut file = File::open(path)?;
    let size = file.seek(SeekFrom::End(0))?;
    file.seek(SeekFrom::Start(size.saturating_sub(max)))?;
    let mut data = Vec::new();
    file.take(max).read_to_end(&mut data)?;
    Ok(data)
}

/// The last lines of a CRI log, at most 80 and the last 2 KiB of them.
fn from_log(path: &Path) -> String {
    let read = || -> io::Result<Vec<u8>> {
        let mut file = File::open(path)?;
        let start = tail_start(&mut file, Some(MAX_LOG_LINES))?;
        file.seek(SeekFrom::Start(start))?;
        let mut raw = Vec::new();
        file.read_to_end(&mut raw)?;
        let mut text = Vec::new();
        for line in raw.split_inclusive(|&b| b == b'\n') {
            if let Ok(record) = parse_cri(line) {
                text.extend_from_slice(record.text);
            }
        }
        let cut = text.len().saturating_sub(MAX_LOG_BYTES);
        Ok(text.split_off(cut))
    };
    match read() {
        Ok(text) => String::from_utf8_lossy(&text).into_owned(),
        Err(error) => format!("Error on reading termination message from logs: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn exited(
        dir: &Path,
        policy: &str,
        exit_code: i32,
        file: Option<&str>,
    ) -> cri::ContainerStatus {
        let host = dir.join("termination-log");
        if let Some(text) = file {
            std::fs::write(&host, text).unwrap();
        }
        let log = dir.join("0.log");
        let lines: String = (0..100)
            .map(|i| format!("2024-01-01T00:00:00.000000000Z stderr F line {i}\n"))
            .collect();
        std::fs::write(&log, lines).unwrap();
        cri::ContainerStatus {
            exit_code,
            log_path: log.to_string_lossy().into_owned(),
            annotations: HashMap::from([
                (
                    TERMINATION_MESSAGE_PATH.to_string(),
                    "/dev/termination-log".to_string(),
                ),
                (TERMINATION_MESSAGE_POLICY.to_string(), policy.to_string()),
            ]),
            mounts: vec![cri::Mount {
                container_path: "/dev/termination-log".into(),
                host_path: host.to_string_lossy().into_owned(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn the_file_then_the_log_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let status = exited(dir.path(), "File", 1, Some("bye\n"));
        assert_eq!(message(&status).as_deref(), Some("bye\n"));
        // No file written and the policy File: no message.
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(message(&exited(dir.path(), "File", 1, None)), None);
        // FallbackToLogsOnError reads the log's last 80 lines on failure...
        let dir = tempfile::tempdir().unwrap();
        let text = message(&exited(dir.path(), "FallbackToLogsOnError", 2, Some(""))).unwrap();
        assert!(
            text.starts_with("line 20\n") && text.ends_with("line 99\n"),
            "{text}"
        );
        // ...but not on success.
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            message(&exited(dir.path(), "FallbackToLogsOnError", 0, Some(""))),
            None
        );
        // The runtime's own message comes first.
        let dir = tempfile::tempdir().unwrap();
        let mut status = exited(dir.path(), "File", 137, Some("out of memory"));
        status.message = "killed".into();
        assert_eq!(message(&status).as_deref(), Some("killed: out of memory"));
        // A long file is cut to its last 4 KiB.
        let dir = tempfile::tempdir().unwrap();
        let long = "x".repeat(5000) + "end";
        let text = message(&exited(dir.path(), "File", 0, Some(&long))).unwrap();
        assert_eq!(text.len(), 4096);
        assert!(text.ends_with("end"));
    }
}
