//! A stand-in for nft that records what it is fed, for testing sync loops without a kernel.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long `wait_for_transactions` waits.
const WAIT_LIMIT: Duration = Duration::from_secs(10);

/// A fake `nft` (a shell script in a temporary directory, removed on drop): `-f -` appends its
/// input and a timestamped end marker to a log, or fails while told to; `list tables` names
/// the table while told it exists.
pub struct FakeNft {
    dir: tempfile::TempDir,
    table: String,
}

/// One transaction the fake nft took.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub text: String,
    /// When it was taken, in nanoseconds since the epoch.
    pub ended_ns: u128,
}

impl FakeNft {
    /// A fake nft holding table `ip <table>`.
    pub fn new(table: &str) -> FakeNft {
        FakeNft {
            dir: tempfile::tempdir().expect("temp dir"),
            table: table.to_string(),
        }
    }

    /// The command line to configure instead of `["nft"]`.
    pub fn command(&self) -> Vec<String> {
        let dir = self.dir.path().display();
        let table = &self.table;
        let script = format!(
            r#"if [ "$1" = "-f" ]; then
                 if [ -e "{dir}/fail" ]; then cat >/dev/null; echo "Error: injected failure" >&2; exit 1; fi
                 {{ cat; echo "=== end $(date +%s%N)"; }} >> "{dir}/log"
               elif [ ! -e "{dir}/gone" ]; then echo "table ip {table}"; fi"#
        );
        ["sh", "-c", &script, "nft"].map(String::from).to_vec()
    }

    /// While `failing`, every transaction fails (and is not recorded).
    pub fn set_failing(&self, failing: bool) {
        self.set_marker("fail", failing);
    }

    /// While `gone`, the table is not listed, as if someone had deleted it.
    pub fn set_table_gone(&self, gone: bool) {
        self.set_marker("gone", gone);
    }

    fn set_marker(&self, name: &str, present: bool) {
        let path: PathBuf = self.dir.path().join(name);
        if present {
            std::fs::write(&path, "").expect("write marker");
        } else if path.exists() {
            std::fs::remove_file(&path).expect("remove marker");
        }
    }

    /// The transactions taken so far, in order.
    pub fn transactions(&self) -> Vec<Recorded> {
        read_log(&self.dir.path().join("log"))
    }

    /// The text of the transactions taken after the first `skip`, one after the other.
    pub fn text_after(&self, skip: usize) -> String {
        let transactions = self.transactions();
        let later = transactions.iter().skip(skip);
        later.map(|recorded| recorded.text.as_str()).collect()
    }

    /// The transactions once there are at least `count` of them; panics after 10 s.
    pub async fn wait_for_transactions(&self, count: usize) -> Vec<Recorded> {
        let deadline = tokio::time::Instant::now() + WAIT_LIMIT;
        loop {
            let found = self.transactions();
            if found.len() >= count {
                return found;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "waited for {count} transactions, have {}",
                found.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn read_log(path: &Path) -> Vec<Recorded> {
    let log = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = Vec::new();
    let mut current = String::new();
    for line in log.lines() {
        match line.strip_prefix("=== end ") {
            Some(time) => out.push(Recorded {
                text: std::mem::take(&mut current),
                ended_ns: time.trim().parse().unwrap_or(0),
            }),
            None => {
                current.push_str(line);
                current.push('\n');
            }
        }
    }
    out
}
