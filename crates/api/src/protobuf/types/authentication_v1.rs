//! The messages of authentication.k8s.io/v1.

use super::super::schema::*;
use super::meta_v1;

const PKG: &str = "authentication.k8s.io/v1";

msg! { BoundObjectReference [
    (1, "kind", Omit(Str)),
    (2, "apiVersion", Omit(Str)),
    (3, "name", Omit(Str)),
    (4, "uid", Omit(Str)),
] }
msg! { ExtraValue as Unwrap [(1, "items", Rep(Str))] }
msg! { SelfSubjectReview [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "status", Keep(M(&SelfSubjectReviewStatus))),
] }
msg! { SelfSubjectReviewStatus [(1, "userInfo", Keep(M(&UserInfo)))] }
msg! { TokenRequest [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "spec", Keep(M(&TokenRequestSpec))),
    (3, "status", Keep(M(&TokenRequestStatus))),
] }
msg! { TokenRequestSpec [
    (1, "audiences", Rep(Str)),
    (3, "boundObjectRef", Keep(M(&BoundObjectReference))),
    (4, "expirationSeconds", Keep(I64)),
] }
msg! { TokenRequestStatus [
    (1, "token", Keep(Str)),
    (2, "expirationTimestamp", Keep(M(&meta_v1::Time))),
] }
msg! { TokenReview [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "spec", Keep(M(&TokenReviewSpec))),
    (3, "status", Keep(M(&TokenReviewStatus))),
] }
msg! { TokenReviewSpec [(1, "token", Omit(Str)), (2, "audiences", Rep(Str))] }
msg! { TokenReviewStatus [
    (1, "authenticated", Omit(Bool)),
    (2, "user", Keep(M(&UserInfo))),
    (3, "error", Omit(Str)),
    (4, "audiences", Rep(Str)),
] }
msg! { UserInfo [
    (1, "username", Omit(Str)),
    (2, "uid", Omit(Str)),
    (3, "groups", Rep(Str)),
    (4, "extra", Map(M(&ExtraValue))),
] }

/// The kinds an object of this group version may have.
pub static KINDS: &[&Msg] = &[&SelfSubjectReview, &TokenRequest, &TokenReview];
