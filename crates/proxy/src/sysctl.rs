//! Kernel settings service traffic needs.

use std::path::Path;

/// Routing between interfaces: DNATed packets to pods on a bridge or another node are
/// forwarded.
const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";
/// Makes bridged traffic go through the IP hooks, so a pod reaching another pod on the same
/// bridge through a ClusterIP is DNATed (and the reply un-DNATed). Present only when the
/// br_netfilter module is loaded.
const BRIDGE_NF_CALL_IPTABLES: &str = "/proc/sys/net/bridge/bridge-nf-call-iptables";

/// Sets what the proxy relies on; failures are logged, not fatal (the node may be set up
/// already, or run in a container that cannot change them).
pub(crate) fn prepare_kernel() {
    write_sysctl(IP_FORWARD);
    if Path::new(BRIDGE_NF_CALL_IPTABLES).exists() {
        write_sysctl(BRIDGE_NF_CALL_IPTABLES);
    }
}

fn write_sysctl(path: &str) {
    match std::fs::read_to_string(path) {
        Ok(value) if value.trim() == "1" => return,
        _ => {}
    }
    match std::fs::write(path, "1") {
        Ok(()) => tracing::info!(sysctl = path, "set to 1"),
        Err(err) => tracing::warn!(sysctl = path, error = %err, "cannot set to 1"),
    }
}
