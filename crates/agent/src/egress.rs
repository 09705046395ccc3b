//! Masquerade of pods' traffic leaving the cluster, as flannel does it:
//! traffic between pods keeps its source address on every node (which
//! NetworkPolicy and the services behind it see), traffic to anywhere
//! else leaves with the node's address. The CNI bridge's own ipMasq would
//! also hide pod addresses from pods on other nodes, so it is off when
//! the cluster CIDR is known.

use std::io::Write;
use std::process::{Command, Stdio};

/// The nftables table of these rules.
pub const TABLE: &str = "capstan-egress";

/// The table's text: one postrouting rule.
pub fn ruleset(cluster_cidr: &str) -> String {
    let cidrs: Vec<&str> = cluster_cidr
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty() && !c.contains(':'))
        .collect();
    let set = cidrs.join(", ");
    format!(
        "table ip {TABLE}\ndelete table ip {TABLE}\ntable ip {TABLE} {{\n\
         \tchain postrouting {{\n\
         \t\ttype nat hook postrouting priority srcnat; policy accept;\n\
         \t\tip saddr {{ {set} }} ip daddr != {{ {set} }} ip daddr != 224.0.0.0/4 masquerade\n\
         \t}}\n}}\n"
    )
}

/// Installs (or replaces) the rules, atomically.
pub fn install(cluster_cidr: &str) -> Result<(), String> {
    nft(&ruleset(cluster_cidr))
}

/// Removes the rules (for killall).
pub fn remove() -> Result<(), String> {
    nft(&format!("table ip {TABLE}\ndelete table ip {TABLE}\n"))
}

fn nft(script: &str) -> Result<(), String> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("nft: {error} (install nftables)"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|error| format!("nft: {error}"))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|error| format!("nft: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "nft: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masquerades_only_what_leaves_the_cluster() {
        let text = ruleset("10.42.0.0/16");
        assert!(
            text.contains("ip saddr { 10.42.0.0/16 } ip daddr != { 10.42.0.0/16 } ip daddr != 224.0.0.0/4 masquerade"),
            "{text}"
        );
        assert!(text.starts_with("table ip capstan-egress\ndelete table ip capstan-egress\n"));
    }
}
