//! The messages of authorization.k8s.io/v1.

use super::super::schema::*;
use super::meta_v1;

const PKG: &str = "authorization.k8s.io/v1";

msg! { ExtraValue as Unwrap [(1, "items", Rep(Str))] }
msg! { FieldSelectorAttributes [
    (1, "rawSelector", Omit(Str)),
    (2, "requirements", Rep(M(&meta_v1::FieldSelectorRequirement))),
] }
msg! { LabelSelectorAttributes [
    (1, "rawSelector", Omit(Str)),
    (2, "requirements", Rep(M(&meta_v1::LabelSelectorRequirement))),
] }
msg! { LocalSubjectAccessReview [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "spec", Keep(M(&SubjectAccessReviewSpec))),
    (3, "status", Keep(M(&SubjectAccessReviewStatus))),
] }
msg! { NonResourceAttributes [(1, "path", Omit(Str)), (2, "verb", Omit(Str))] }
msg! { NonResourceRule [(1, "verbs", Rep(Str)), (2, "nonResourceURLs", Rep(Str))] }
msg! { ResourceAttributes [
    (1, "namespace", Omit(Str)),
    (2, "verb", Omit(Str)),
    (3, "group", Omit(Str)),
    (4, "version", Omit(Str)),
    (5, "resource", Omit(Str)),
    (6, "subresource", Omit(Str)),
    (7, "name", Omit(Str)),
    (8, "fieldSelector", Keep(M(&FieldSelectorAttributes))),
    (9, "labelSelector", Keep(M(&LabelSelectorAttributes))),
] }
msg! { ResourceRule [
    (1, "verbs", Rep(Str)),
    (2, "apiGroups", Rep(Str)),
    (3, "resources", Rep(Str)),
    (4, "resourceNames", Rep(Str)),
] }
msg! { SelfSubjectAccessReview [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "spec", Keep(M(&SelfSubjectAccessReviewSpec))),
    (3, "status", Keep(M(&SubjectAccessReviewStatus))),
] }
msg! { SelfSubjectAccessReviewSpec [
    (1, "resourceAttributes", Keep(M(&ResourceAttributes))),
    (2, "nonResourceAttributes", Keep(M(&NonResourceAttributes))),
] }
msg! { SelfSubjectRulesReview [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "spec", Keep(M(&SelfSubjectRulesReviewSpec))),
    (3, "status", Keep(M(&SubjectRulesReviewStatus))),
] }
msg! { SelfSubjectRulesReviewSpec [(1, "namespace", Omit(Str))] }
msg! { SubjectAccessReview [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "spec", Keep(M(&SubjectAccessReviewSpec))),
    (3, "status", Keep(M(&SubjectAccessReviewStatus))),
] }
msg! { SubjectAccessReviewSpec [
    (1, "resourceAttributes", Keep(M(&ResourceAttributes))),
    (2, "nonResourceAttributes", Keep(M(&NonResourceAttributes))),
    (3, "user", Omit(Str)),
    (4, "groups", Rep(Str)),
    (5, "extra", Map(M(&ExtraValue))),
    (6, "uid", Omit(Str)),
] }
msg! { SubjectAccessReviewStatus [
    (1, "allowed", Keep(Bool)),
    (2, "reason", Omit(Str)),
    (3, "evaluationError", Omit(Str)),
    (4, "denied", Omit(Bool)),
] }
msg! { SubjectRulesReviewStatus [
    (1, "resourceRules", Rep(M(&ResourceRule))),
    (2, "nonResourceRules", Rep(M(&NonResourceRule))),
    (3, "incomplete", Keep(Bool)),
    (4, "evaluationError", Omit(Str)),
] }

/// The kinds an object of this group version may have.
pub static KINDS: &[&Msg] = &[
    &LocalSubjectAccessReview,
    &SelfSubjectAccessReview,
    &SelfSubjectRulesReview,
    &SubjectAccessReview,
];
