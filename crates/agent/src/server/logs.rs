//! Container logs as upstream's kubelet reads them
//! (`pkg/kubelet/kuberuntime/logs`): CRI log files, one line a record
//! (`2016-10-06T00:17:09.669794202Z stdout F text`), read with the
//! `PodLogOptions` semantics: tailLines, sinceSeconds/sinceTime,
//! timestamps, limitBytes and follow.

use std::future::Future;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use k8s_openapi::jiff::Timestamp;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

/// How often a followed log is looked at again when it has no new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// Output is sent in pieces of about this size (and at every pause).
const CHUNK: usize = 32 * 1024;

/// What to read of a log, upstream's `LogOptions`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogOptions {
    /// The last lines only; None for all.
    pub tail: Option<u64>,
    /// At most this many bytes; None for no limit.
    pub limit_bytes: Option<u64>,
    /// Lines older than this are skipped.
    pub since: Option<Timestamp>,
    pub follow: bool,
    pub timestamps: bool,
}

/// One record of a CRI log file.
#[derive(Debug, PartialEq)]
pub struct Record<'a> {
    pub timestamp: Timestamp,
    pub stream: &'a str,
    /// The text, with its newline unless it is a partial line (tag `P`),
    /// which the next record continues.
    pub text: &'a [u8],
}

/// Reads one line of a CRI log file, as upstream's `parseCRILog`.
pub fn parse_cri(line: &[u8]) -> Result<Record<'_>, String> {
    let mut fields = line.splitn(4, |&b| b == b' ');
    let time = fields.next().unwrap_or_default();
    let (Some(stream), Some(tag), Some(mut text)) = (fields.next(), fields.next(), fields.next())
    else {
        return Err("not a CRI log line".into());
    };
    let timestamp = std::str::from_utf8(time)
        .ok()
        .and_then(|t| t.parse::<Timestamp>().ok())
        .ok_or_else(|| format!("unexpected timestamp {:?}", String::from_utf8_lossy(time)))?;
    let stream = match stream {
        b"stdout" => "stdout",
        b"stderr" => "stderr",
        other => {
            return Err(format!(
                "unexpected stream type {:?}",
                String::from_utf8_lossy(other)
            ))
        }
    };
    // Tags are `:`-separated, the first says partial or full.
    let partial = tag.split(|&b| b == b':').next() == Some(b"P");
    if partial {
        text = text.strip_suffix(b"\n").unwrap_or(text);
    }
    Ok(Record {
        timestamp,
        stream,
        text,
    })
}

/// A time as upstream prints it before a line: RFC 3339 in UTC with
/// nanoseconds, always nine digits (`RFC3339NanoFixed`).
pub fn format_timestamp(timestamp: Timestamp) -> String {
    let nanos = timestamp.subsec_nanosecond().max(0);
    format!("{}.{nanos:09}Z", timestamp.strftime("%Y-%m-%dT%H:%M:%S"))
}

/// Where the last `tail` lines of `file` start: the offset after which
/// there are `tail` newlines (an unfinished last line does not count), as
/// upstream's `FindTailLineStartIndex`. None starts at the beginning.
pub fn tail_start(file: &mut (impl Read + Seek), tail: Option<u64>) -> io::Result<u64> {
    let Some(tail) = tail else {
        return Ok(0);
    };
    const BLOCK: u64 = 64 * 1024;
    let size = file.seek(SeekFrom::End(0))?;
    let mut end = size;
    let mut seen = 0u64;
    let mut block = vec![0u8; BLOCK as usize];
    while end > 0 {
        let start = end.saturating_sub(BLOCK);
        let buffer = &mut block[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(buffer)?;
        for (at, _) in buffer.iter().enumerate().rev().filter(|(_, &b)| b == b'\n') {
            seen += 1;
            if seen > tail {
                return Ok(start + at as u64 + 1);
            }
        }
        end = start;
    }
    Ok(0)
}

/// Turns records into output under the options, as upstream's
/// `logWriter` and the loop of `ReadLogs`.
#[derive(Debug)]
pub struct LogWriter {
    options: LogOptions,
    /// Bytes left under limitBytes.
    remain: u64,
    /// Lines left when reading a tail without following.
    lines_left: Option<u64>,
    done: bool,
}

impl LogWriter {
    pub fn new(options: LogOptions) -> LogWriter {
        LogWriter {
            remain: options.limit_bytes.unwrap_or(u64::MAX),
            lines_left: options.tail.filter(|_| !options.follow),
            done: options.limit_bytes == Some(0),
            options,
        }
    }

    /// Whether nothing more is to be written.
    pub fn done(&self) -> bool {
        self.done || self.lines_left == Some(0)
    }

    /// Takes one raw line of the file, appending what it shows to `out`.
    /// Lines that are not CRI records are skipped.
    pub fn line(&mut self, raw: &[u8], out: &mut Vec<u8>) {
        if self.done() {
            return;
        }
        let Ok(record) = parse_cri(raw) else {
            tracing::debug!(line = %String::from_utf8_lossy(raw), "not a CRI log line");
            return;
        };
        if let Some(left) = &mut self.lines_left {
            *left -= 1;
        }
        if self
            .options
            .since
            .is_some_and(|since| record.timestamp < since)
        {
            return;
        }
        let mut line = Vec::with_capacity(record.text.len() + 32);
        if self.options.timestamps {
            line.extend_from_slice(format_timestamp(record.timestamp).as_bytes());
            line.push(b' ');
        }
        line.extend_from_slice(record.text);
        let take = usize::try_from(self.remain).map_or(line.len(), |remain| remain.min(line.len()));
        out.extend_from_slice(&line[..take]);
        self.remain -= take as u64;
        if self.remain == 0 {
            self.done = true;
        }
    }
}

/// Opens a log file and finds where the read starts (an error here is
/// the request's: it is answered before any output).
pub fn open(path: &Path, options: &LogOptions) -> Result<(std::fs::File, u64), String> {
    let mut file = std::fs::File::open(path).map_err(|e| {
        format!(
            "failed to open log file {:?}: {e}",
            path.display().to_string()
        )
    })?;
    let start = tail_start(&mut file, options.tail).map_err(|e| {
        format!(
            "failed to tail {} lines of log file {:?}: {e}",
            options.tail.unwrap_or_default(),
            path.display().to_string()
        )
    })?;
    Ok((file, start))
}

/// Streams the log from `start` into `out` until it is read (or, when
/// following, until the container has stopped, `running` says so, and
/// the rest is read) or the receiver goes away.
pub async fn stream<F, Fut>(
    file: std::fs::File,
    start: u64,
    options: LogOptions,
    mut running: F,
    out: mpsc::Sender<Bytes>,
) -> io::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let follow = options.follow;
    let mut file = tokio::fs::File::from_std(file);
    tokio::io::AsyncSeekExt::seek(&mut file, SeekFrom::Start(start)).await?;
    let mut reader = BufReader::with_capacity(CHUNK, file);
    let mut writer = LogWriter::new(options);
    let (mut line, mut pending) = (Vec::new(), Vec::new());
    let mut stopped = false;
    while !writer.done() {
        reader.read_until(b'\n', &mut line).await?;
        if line.ends_with(b"\n") {
            writer.line(&line, &mut pending);
            line.clear();
            if pending.len() >= CHUNK && !send(&out, &mut pending).await {
                return Ok(());
            }
            continue;
        }
        // The end of what is written so far. An unfinished line stays in
        // `line` until the rest of it comes.
        if !follow {
            if !line.is_empty() {
                writer.line(&line, &mut pending);
            }
            break;
        }
        if !send(&out, &mut pending).await || stopped {
            return Ok(());
        }
        if !running().await {
            // Read what it wrote before it stopped, then end.
            stopped = true;
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(FOLLOW_POLL) => {}
            _ = out.closed() => return Ok(()),
        }
    }
    send(&out, &mut pending).await;
    Ok(())
}

/// Sends what is pending; false when the receiver is gone.
async fn send(out: &mpsc::Sender<Bytes>, pending: &mut Vec<u8>) -> bool {
    if pending.is_empty() {
        return !out.is_closed();
    }
    out.send(Bytes::from(std::mem::take(pending))).await.is_ok()
}

#[cfg(test)]
#[path = "logs_tests.rs"]
mod tests;
