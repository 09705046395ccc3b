//! Running the `nft` command: transactions on stdin (`nft -f -`, atomic), and small queries.
//! `nft` is the command line to run it with: `["nft"]`, or `["ip", "netns", "exec", NS, "nft"]`.

use std::io::Write as _;
use std::process::{Command, Stdio};

/// Applies `transaction` (nft input text). Either all of it takes effect or none; the error
/// carries nft's messages.
pub fn apply(nft: &[String], transaction: &str) -> Result<(), String> {
    run(nft, &["-f", "-"], Some(transaction)).map(drop)
}

/// Whether table `ip <table>` exists.
pub fn table_exists(nft: &[String], table: &str) -> Result<bool, String> {
    let listing = run(nft, &["list", "tables", "ip"], None)?;
    let wanted = format!("table ip {table}");
    Ok(listing.lines().any(|line| line.trim() == wanted))
}

/// `nft list table ip <table>`: the table as the kernel has it.
pub fn list_table(nft: &[String], table: &str) -> Result<String, String> {
    run(nft, &["list", "table", "ip", table], None)
}

/// Deletes table `ip <table>`, if it exists.
pub fn delete_table(nft: &[String], table: &str) -> Result<(), String> {
    // "add" first so that the delete cannot fail on a missing table.
    apply(
        nft,
        &format!("add table ip {table}\ndelete table ip {table}\n"),
    )
}

/// Table names go into nft input unquoted: keep them to what nft takes as an identifier.
pub fn validate_table_name(table: &str) -> Result<(), String> {
    let mut chars = table.chars();
    let valid_start = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '.');
    if valid_start
        && table.len() <= 255
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c))
    {
        Ok(())
    } else {
        Err(format!("{table:?} is not a valid nftables table name"))
    }
}

/// Runs `nft <args>`, feeding `input` on stdin; returns stdout.
fn run(nft: &[String], args: &[&str], input: Option<&str>) -> Result<String, String> {
    let (program, prefix_args) = nft
        .split_first()
        .ok_or_else(|| "no nft command configured".to_string())?;
    let mut child = Command::new(program)
        .args(prefix_args)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| format!("cannot run {program}: {err}"))?;
    // Write stdin from a thread while this one collects stdout and stderr: a large input and a
    // chatty nft must not wait on each other.
    let writer = match (input, child.stdin.take()) {
        (Some(input), Some(mut stdin)) => {
            let input = input.to_string();
            Some(std::thread::spawn(move || {
                stdin.write_all(input.as_bytes())
            }))
        }
        _ => None,
    };
    let output = child
        .wait_with_output()
        .map_err(|err| format!("waiting for {program}: {err}"))?;
    let written = writer.map(|writer| writer.join());
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!(
            "{} failed ({}): {}",
            nft.join(" "),
            output.status,
            stderr.trim()
        ));
    }
    match written {
        Some(Ok(Err(err))) => Err(format!("writing to {program}: {err}")),
        Some(Err(_)) => Err(format!("writing to {program}: writer thread panicked")),
        _ => Ok(String::from_utf8_lossy(&output.stdout).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names() {
        for good in ["capstan-proxy", "capstan-netpol", "_t", ".t/1"] {
            assert!(validate_table_name(good).is_ok(), "{good}");
        }
        let too_long = "t".repeat(256);
        for bad in ["", "1abc", "a b", "a;b", "a}", "-a", too_long.as_str()] {
            assert!(validate_table_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn missing_command_is_an_error() {
        assert!(apply(&[], "").is_err());
        let missing = vec!["/nonexistent/nft".to_string()];
        assert!(apply(&missing, "").unwrap_err().contains("cannot run"));
    }

    /// `sh -c` stands in for nft, with the arguments nft would get after "nft".
    fn stand_in(script: &str) -> Vec<String> {
        ["sh", "-c", script, "nft"].map(String::from).to_vec()
    }

    #[test]
    fn failures_carry_stderr() {
        let fake = stand_in("cat >/dev/null; echo 'Error: syntax error' >&2; exit 1");
        let err = apply(&fake, "add table ip x\n").unwrap_err();
        assert!(err.contains("Error: syntax error"), "{err}");
    }

    #[test]
    fn the_transaction_goes_to_stdin_and_queries_read_stdout() {
        // Echoes stdin back on stderr and fails, so that the input shows in the error.
        let echo = stand_in(r#"[ "$1 $2" = "-f -" ] && cat >&2; exit 1"#);
        let big = "add table ip x\n".repeat(20_000);
        let err = apply(&echo, &big).unwrap_err();
        assert_eq!(err.matches("add table ip x").count(), 20_000);

        let tables =
            stand_in(r#"[ "$*" = "list tables ip" ] && printf 'table ip a\ntable ip bb\n'"#);
        assert_eq!(table_exists(&tables, "bb"), Ok(true));
        assert_eq!(table_exists(&tables, "b"), Ok(false));

        let listing = stand_in(r#"echo "listed $*""#);
        assert_eq!(
            list_table(&listing, "t").as_deref(),
            Ok("listed list table ip t\n")
        );
    }
}
