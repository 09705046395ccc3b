use std::io::{Cursor, Write};

use super::*;

const LOG: &str = "\
2016-10-06T00:17:09.669794202Z stdout F one
2016-10-06T00:17:10.000000000Z stderr F two
2016-10-06T00:17:11.5Z stdout P thr
2016-10-06T00:17:11.6Z stdout F ee
2016-10-06T00:17:12Z stdout F four
";

/// What the writer shows of `log` under `options`, read whole.
fn read(log: &str, options: LogOptions) -> String {
    let mut cursor = Cursor::new(log.as_bytes().to_vec());
    let start = tail_start(&mut cursor, options.tail).unwrap() as usize;
    let mut writer = LogWriter::new(options);
    let mut out = Vec::new();
    for line in log.as_bytes()[start..].split_inclusive(|&b| b == b'\n') {
        if writer.done() {
            break;
        }
        writer.line(line, &mut out);
    }
    String::from_utf8(out).unwrap()
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

#[test]
fn records_parse_as_upstream() {
    let record = parse_cri(b"2016-10-06T00:17:09.669794202Z stdout F log line\n").unwrap();
    assert_eq!(record.timestamp, at("2016-10-06T00:17:09.669794202Z"));
    assert_eq!(record.stream, "stdout");
    assert_eq!(record.text, b"log line\n");
    // A partial line loses its newline; the next record goes on from it.
    let partial = parse_cri(b"2016-10-06T00:17:09Z stderr P half\n").unwrap();
    assert_eq!((partial.stream, partial.text), ("stderr", &b"half"[..]));
    // Tags may carry more after a colon; text keeps its spaces.
    let tagged = parse_cri(b"2016-10-06T00:17:09Z stdout F:x a  b\n").unwrap();
    assert_eq!(tagged.text, b"a  b\n");
    // An offset other than Z is read too.
    let offset = parse_cri(b"2016-10-06T02:17:09+02:00 stdout F x\n").unwrap();
    assert_eq!(offset.timestamp, at("2016-10-06T00:17:09Z"));
    assert!(parse_cri(b"not a log line\n").is_err());
    assert!(parse_cri(b"2016-10-06T00:17:09Z stdin F x\n").is_err());
    assert!(parse_cri(b"yesterday stdout F x\n").is_err());
}

#[test]
fn everything_by_default_with_partial_lines_joined() {
    assert_eq!(read(LOG, LogOptions::default()), "one\ntwo\nthree\nfour\n");
}

#[test]
fn timestamps_are_rfc3339_with_nine_digits() {
    assert_eq!(
        format_timestamp(at("2016-10-06T00:17:11.5Z")),
        "2016-10-06T00:17:11.500000000Z"
    );
    assert_eq!(
        format_timestamp(at("2016-10-06T02:17:12+02:00")),
        "2016-10-06T00:17:12.000000000Z"
    );
    let options = LogOptions {
        timestamps: true,
        ..LogOptions::default()
    };
    let shown = read(LOG, options);
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines[0], "2016-10-06T00:17:09.669794202Z one");
    // As upstream, each piece of a partial line has its own time.
    assert_eq!(
        lines[2],
        "2016-10-06T00:17:11.500000000Z thr2016-10-06T00:17:11.600000000Z ee"
    );
}

#[test]
fn tail_counts_lines_of_the_file() {
    let tail = |n| LogOptions {
        tail: Some(n),
        ..LogOptions::default()
    };
    assert_eq!(read(LOG, tail(1)), "four\n");
    // The lines of a partial record count one each, as upstream.
    assert_eq!(read(LOG, tail(2)), "ee\nfour\n");
    assert_eq!(read(LOG, tail(3)), "three\nfour\n");
    assert_eq!(read(LOG, tail(0)), "");
    assert_eq!(read(LOG, tail(100)), "one\ntwo\nthree\nfour\n");
    // An unfinished last line does not count.
    let unfinished = format!("{LOG}2016-10-06T00:17:13Z stdout F fi");
    let mut cursor = Cursor::new(unfinished.into_bytes());
    let everything = LOG.len() as u64;
    let last_line = LOG.trim_end().rfind('\n').unwrap() as u64 + 1;
    assert_eq!(tail_start(&mut cursor, Some(0)).unwrap(), everything);
    assert_eq!(tail_start(&mut cursor, Some(1)).unwrap(), last_line);
    assert_eq!(tail_start(&mut cursor, None).unwrap(), 0);
}

#[test]
fn tail_finds_lines_across_blocks() {
    let mut log = String::new();
    for i in 0..20_000 {
        log.push_str(&format!("2016-10-06T00:17:09Z stdout F line {i}\n"));
    }
    let options = LogOptions {
        tail: Some(3),
        ..LogOptions::default()
    };
    assert_eq!(read(&log, options), "line 19997\nline 19998\nline 19999\n");
}

#[test]
fn since_skips_older_lines() {
    let since = |time| LogOptions {
        since: Some(at(time)),
        ..LogOptions::default()
    };
    assert_eq!(
        read(LOG, since("2016-10-06T00:17:10Z")),
        "two\nthree\nfour\n"
    );
    assert_eq!(read(LOG, since("2016-10-06T00:17:11.6Z")), "ee\nfour\n");
    assert_eq!(read(LOG, since("2030-01-01T00:00:00Z")), "");
}

#[test]
fn limit_bytes_cuts_the_output() {
    let limit = |n| LogOptions {
        limit_bytes: Some(n),
        ..LogOptions::default()
    };
    assert_eq!(read(LOG, limit(6)), "one\ntw");
    assert_eq!(read(LOG, limit(4)), "one\n");
    assert_eq!(read(LOG, limit(1000)), "one\ntwo\nthree\nfour\n");
    let with_times = LogOptions {
        limit_bytes: Some(10),
        timestamps: true,
        ..LogOptions::default()
    };
    assert_eq!(read(LOG, with_times), "2016-10-06");
}

#[test]
fn other_lines_are_skipped() {
    let log = "garbage\n2016-10-06T00:17:09Z stdout F fine\n";
    assert_eq!(read(log, LogOptions::default()), "fine\n");
}

/// Collects what `stream` sends.
async fn collect(mut received: mpsc::Receiver<Bytes>) -> String {
    let mut all = Vec::new();
    while let Some(chunk) = received.recv().await {
        all.extend_from_slice(&chunk);
    }
    String::from_utf8(all).unwrap()
}

#[tokio::test]
async fn a_file_is_streamed_whole() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(LOG.as_bytes()).unwrap();
    // The last line is not finished yet: shown anyway when not following.
    file.write_all(b"2016-10-06T00:17:13Z stdout F fi").unwrap();
    let options = LogOptions {
        since: Some(at("2016-10-06T00:17:11.6Z")),
        ..LogOptions::default()
    };
    let (opened, start) = open(file.path(), &options).unwrap();
    let (sender, received) = mpsc::channel(4);
    let reader = tokio::spawn(collect(received));
    stream(opened, start, options, || async { false }, sender)
        .await
        .unwrap();
    assert_eq!(reader.await.unwrap(), "ee\nfour\nfi");
    // A tail counts finished lines only, and ends with them.
    let options = LogOptions {
        tail: Some(2),
        ..LogOptions::default()
    };
    let (opened, start) = open(file.path(), &options).unwrap();
    let (sender, received) = mpsc::channel(4);
    let reader = tokio::spawn(collect(received));
    stream(opened, start, options, || async { false }, sender)
        .await
        .unwrap();
    assert_eq!(reader.await.unwrap(), "ee\nfour\n");
    let missing = open(&file.path().with_extension("gone"), &LogOptions::default());
    assert!(missing.unwrap_err().starts_with("failed to open log file"));
}

#[tokio::test]
async fn following_sees_new_lines_until_the_container_stops() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(b"2016-10-06T00:17:09Z stdout F first\n")
        .unwrap();
    let path = file.path().to_path_buf();
    let options = LogOptions {
        follow: true,
        tail: Some(0),
        ..LogOptions::default()
    };
    let (opened, start) = open(&path, &options).unwrap();
    let running = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let (sender, mut received) = mpsc::channel(4);
    let still = running.clone();
    let follower = tokio::spawn(stream(
        opened,
        start,
        options,
        move || {
            let still = still.clone();
            async move { still.load(std::sync::atomic::Ordering::SeqCst) }
        },
        sender,
    ));
    // A line written in two pieces comes out whole, once finished.
    file.write_all(b"2016-10-06T00:17:10Z stdout F sec")
        .unwrap();
    file.flush().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    file.write_all(b"ond\n").unwrap();
    file.flush().unwrap();
    let chunk = tokio::time::timeout(Duration::from_secs(5), received.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&chunk[..], b"second\n");
    // The container writes its last line and stops: the stream ends.
    file.write_all(b"2016-10-06T00:17:11Z stdout F last\n")
        .unwrap();
    file.flush().unwrap();
    running.store(false, std::sync::atomic::Ordering::SeqCst);
    let rest = tokio::time::timeout(Duration::from_secs(5), collect(received))
        .await
        .unwrap();
    assert_eq!(rest, "last\n");
    follower.await.unwrap().unwrap();
}

#[tokio::test]
async fn following_ends_when_the_reader_goes_away() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let options = LogOptions {
        follow: true,
        ..LogOptions::default()
    };
    let (opened, start) = open(file.path(), &options).unwrap();
    let (sender, received) = mpsc::channel(4);
    let follower = tokio::spawn(stream(opened, start, options, || async { true }, sender));
    drop(received);
    tokio::time::timeout(Duration::from_secs(5), follower)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
