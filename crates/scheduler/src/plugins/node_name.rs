//! NodeName: a pod naming a node fits only there.

use k8s_openapi::api::core::v1::Pod;

use crate::framework::Status;
use crate::snapshot::NodeInfo;

pub const NAME: &str = "NodeName";
pub const ERR_REASON: &str = "node(s) didn't match the requested node name";

pub fn filter(pod: &Pod, node: &NodeInfo) -> Result<(), Status> {
    match pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
        Some(name) if !name.is_empty() && name != node.name => {
            Err(Status::unresolvable(NAME, ERR_REASON))
        }
        _ => Ok(()),
    }
}
