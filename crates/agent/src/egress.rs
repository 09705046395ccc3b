//! Masquerade of pods' traffic leaving the cluster, as flannel does it:
//! traffic between pods keeps its source address on every node (which
//! NetworkPolicy and the services behind it see), traffic to anywhere
//! else leaves with the node's address. The CNI bridge's own ipMasq would
//! also hide pod addresses from pods on other nodes, so it is off when
//! the cluster CIDR is known.

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
    capstan_nft::command::apply(&nft(), &ruleset(cluster_cidr))
}

/// Removes the rules (for killall).
pub fn remove() -> Result<(), String> {
    capstan_nft::command::delete_table(&nft(), TABLE)
}

fn nft() -> Vec<String> {
    vec!["nft".to_string()]
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
