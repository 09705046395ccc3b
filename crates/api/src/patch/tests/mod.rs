mod json;
mod kubectl;
mod strategic;

use serde_json::Value;

/// The strategic merge patch of `patch` onto `target`, panicking on error.
fn smp(group: &str, kind: &str, target: Value, patch: Value) -> Value {
    super::strategic_merge_patch(group, kind, &target, patch.to_string().as_bytes())
        .expect("patch applies")
}
