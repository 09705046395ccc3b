//! The scheduler and the controller manager run under Leases in
//! kube-system, as upstream's, and hand over at once across a clean
//! restart.

mod support;

use std::time::Duration;

use support::{wait_for, TestServer};

const COMPONENTS: [&str; 2] = ["kube-controller-manager", "kube-scheduler"];

fn holder(server: &TestServer, lease: &str) -> Option<String> {
    let lease = server.get_json(&["get", "lease", "-n", "kube-system", lease])?;
    let holder = lease.pointer("/spec/holderIdentity")?.as_str()?;
    Some(holder.to_string()).filter(|holder| !holder.is_empty())
}

#[test]
fn components_hold_leases_and_hand_over_on_restart() {
    let mut server = TestServer::start();
    let before: Vec<String> = COMPONENTS
        .iter()
        .map(|lease| wait_for(lease, Duration::from_secs(10), || holder(&server, lease)))
        .collect();
    assert_eq!(before[0], before[1], "one identity per server");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert!(
        before[0].starts_with(&format!("{}_", host.trim())),
        "{}",
        before[0]
    );

    server.restart();
    for (lease, old) in COMPONENTS.iter().zip(&before) {
        // Released at shutdown, so the new server need not wait out the
        // 15 s lease duration.
        let new = wait_for(lease, Duration::from_secs(5), || {
            holder(&server, lease).filter(|holder| holder != old)
        });
        assert_ne!(&new, old);
        let transitions = server.ok(&[
            "get",
            "lease",
            "-n",
            "kube-system",
            lease,
            "-o",
            "jsonpath={.spec.leaseTransitions}",
        ]);
        assert_eq!(transitions, "1", "{lease}");
    }
    // And the controllers work again: a new namespace gets its account.
    server.ok(&["create", "namespace", "after-restart"]);
    wait_for(
        "the default ServiceAccount",
        Duration::from_secs(10),
        || server.get_json(&["get", "serviceaccount", "default", "-n", "after-restart"]),
    );
}
