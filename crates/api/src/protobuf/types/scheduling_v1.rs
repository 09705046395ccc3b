//! The messages of scheduling.k8s.io/v1.

use super::super::schema::*;
use super::meta_v1;

const PKG: &str = "scheduling.k8s.io/v1";

msg! { PriorityClass [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "value", Keep(I32)),
    (3, "globalDefault", Omit(Bool)),
    (4, "description", Omit(Str)),
    (5, "preemptionPolicy", Keep(Str)),
] }
msg! { PriorityClassList [
    (1, "metadata", Keep(M(&meta_v1::ListMeta))),
    (2, "items", Rep(M(&PriorityClass))),
] }

/// The kinds an object of this group version may have.
pub static KINDS: &[&Msg] = &[&PriorityClass, &PriorityClassList];
