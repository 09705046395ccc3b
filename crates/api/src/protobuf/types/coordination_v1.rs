//! The messages of coordination.k8s.io/v1.

use super::super::schema::*;
use super::meta_v1;

const PKG: &str = "coordination.k8s.io/v1";

msg! { Lease [(1, "metadata", Keep(M(&meta_v1::ObjectMeta))), (2, "spec", Keep(M(&LeaseSpec)))] }
msg! { LeaseList [(1, "metadata", Keep(M(&meta_v1::ListMeta))), (2, "items", Rep(M(&Lease)))] }
msg! { LeaseSpec [
    (1, "holderIdentity", Keep(Str)),
    (2, "leaseDurationSeconds", Keep(I32)),
    (3, "acquireTime", Keep(M(&meta_v1::MicroTime))),
    (4, "renewTime", Keep(M(&meta_v1::MicroTime))),
    (5, "leaseTransitions", Keep(I32)),
    (6, "strategy", Keep(Str)),
    (7, "preferredHolder", Keep(Str)),
] }

/// The kinds an object of this group version may have.
pub static KINDS: &[&Msg] = &[&Lease, &LeaseList];
