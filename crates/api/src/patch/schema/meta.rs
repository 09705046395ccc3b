//! Merge strategies of ObjectMeta and the other shared meta/v1 types.

use super::*;

pub(crate) static META_OBJECT_META: TypeDef = TypeDef {
    fields: &[
        f(
            "ownerReferences",
            list(ListKind::Map(&[key("uid")]), Elem::Atomic, Some("uid")),
        ),
        f("finalizers", list(ListKind::Set, Elem::Deduced, Some(""))),
    ],
};
