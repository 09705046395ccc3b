//! What the agent's container tests share.

use capstan_agent::{containerd, machine};

/// Why containers cannot run here, if they cannot. With
/// `CAPSTAN_REQUIRE_CONTAINERS` set (the test command sets it as root,
/// having installed them) a missing tool fails the test instead.
pub fn cannot_run_containers() -> Option<String> {
    let reason = if !machine::is_root() {
        Some("containers need root".to_string())
    } else {
        containerd::check_tools().err()
    };
    if let Some(reason) = &reason {
        assert!(
            std::env::var_os("CAPSTAN_REQUIRE_CONTAINERS").is_none(),
            "{reason}"
        );
    }
    reason
}
