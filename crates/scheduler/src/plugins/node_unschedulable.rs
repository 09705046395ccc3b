//! NodeUnschedulable: cordoned nodes (`spec.unschedulable`) take only pods
//! tolerating the `node.kubernetes.io/unschedulable` NoSchedule taint.

use k8s_openapi::api::core::v1::{Taint, Toleration};

use crate::framework::Status;
use crate::plugins::taint_toleration::tolerates;
use crate::snapshot::NodeInfo;

pub const NAME: &str = "NodeUnschedulable";
pub const ERR_REASON: &str = "node(s) were unschedulable";
pub const TAINT_KEY: &str = "node.kubernetes.io/unschedulable";

pub fn filter(tolerations: &[Toleration], node: &NodeInfo) -> Result<(), Status> {
    if !node.unschedulable {
        return Ok(());
    }
    let taint = Taint {
        key: TAINT_KEY.into(),
        effect: "NoSchedule".into(),
        ..Taint::default()
    };
    if tolerations.iter().any(|t| tolerates(t, &taint)) {
        return Ok(());
    }
    Err(Status::unresolvable(NAME, ERR_REASON))
}
