//! The messages of discovery.k8s.io/v1.

use super::super::schema::*;
use super::core_v1;
use super::meta_v1;

const PKG: &str = "discovery.k8s.io/v1";

msg! { Endpoint [
    (1, "addresses", Rep(Str)),
    (2, "conditions", Keep(M(&EndpointConditions))),
    (3, "hostname", Keep(Str)),
    (4, "targetRef", Keep(M(&core_v1::ObjectReference))),
    (5, "deprecatedTopology", Map(Str)),
    (6, "nodeName", Keep(Str)),
    (7, "zone", Keep(Str)),
    (8, "hints", Keep(M(&EndpointHints))),
] }
msg! { EndpointConditions [
    (1, "ready", Keep(Bool)),
    (2, "serving", Keep(Bool)),
    (3, "terminating", Keep(Bool)),
] }
msg! { EndpointHints [(1, "forZones", Rep(M(&ForZone))), (2, "forNodes", Rep(M(&ForNode)))] }
msg! { EndpointPort [
    (1, "name", Keep(Str)),
    (2, "protocol", Keep(Str)),
    (3, "port", Keep(I32)),
    (4, "appProtocol", Keep(Str)),
] }
msg! { EndpointSlice [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "endpoints", Rep(M(&Endpoint))),
    (3, "ports", Rep(M(&EndpointPort))),
    (4, "addressType", Keep(Str)),
] }
msg! { EndpointSliceList [
    (1, "metadata", Keep(M(&meta_v1::ListMeta))),
    (2, "items", Rep(M(&EndpointSlice))),
] }
msg! { ForNode [(1, "name", Keep(Str))] }
msg! { ForZone [(1, "name", Keep(Str))] }

/// The kinds an object of this group version may have.
pub static KINDS: &[&Msg] = &[&EndpointSlice, &EndpointSliceList];
