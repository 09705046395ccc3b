//! The kernel's view of a table, for comparing what two ways of applying rules left behind.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::json;

use super::netns::Netns;

/// Table `ip <table>` in `netns` as the kernel has it (`nft -j list table`), in a form that does
/// not depend on creation order or handles: "chain NAME" → its declaration then its rules in
/// order; "set NAME" / "map NAME" → its declaration then its sorted elements.
pub fn kernel_table(netns: &Netns, table: &str) -> BTreeMap<String, Vec<String>> {
    let mut command = netns.nft();
    command.extend(["-j", "list", "table", "ip", table].map(String::from));
    let output = Command::new(&command[0])
        .args(&command[1..])
        .output()
        .expect("nft -j");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let listing: serde_json::Value = serde_json::from_slice(&output.stdout).expect("nft JSON");
    let mut contents: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for object in listing["nftables"].as_array().into_iter().flatten() {
        if let Some(chain) = object.get("chain") {
            let mut spec = chain.clone();
            if let Some(spec) = spec.as_object_mut() {
                spec.remove("handle");
            }
            let key = format!("chain {}", chain["name"].as_str().unwrap_or_default());
            contents.entry(key).or_default().insert(0, spec.to_string());
        } else if let Some(rule) = object.get("rule") {
            let key = format!("chain {}", rule["chain"].as_str().unwrap_or_default());
            let body = json!({"expr": rule["expr"], "comment": rule.get("comment")});
            contents.entry(key).or_default().push(body.to_string());
        } else if let Some((kind, set)) = object
            .get("set")
            .map(|set| ("set", set))
            .or(object.get("map").map(|map| ("map", map)))
        {
            let mut elements: Vec<String> = set["elem"]
                .as_array()
                .into_iter()
                .flatten()
                .map(ToString::to_string)
                .collect();
            elements.sort();
            let mut spec = set.clone();
            if let Some(spec) = spec.as_object_mut() {
                spec.remove("handle");
                spec.remove("elem");
            }
            elements.insert(0, spec.to_string());
            contents.insert(
                format!("{kind} {}", set["name"].as_str().unwrap_or_default()),
                elements,
            );
        }
    }
    contents
}
