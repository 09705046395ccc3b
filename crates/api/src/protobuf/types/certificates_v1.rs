//! The messages of certificates.k8s.io/v1.

use super::super::schema::*;
use super::meta_v1;

const PKG: &str = "certificates.k8s.io/v1";

msg! { CertificateSigningRequest [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "spec", Keep(M(&CertificateSigningRequestSpec))),
    (3, "status", Keep(M(&CertificateSigningRequestStatus))),
] }
msg! { CertificateSigningRequestCondition [
    (1, "type", Keep(Str)),
    (2, "reason", Omit(Str)),
    (3, "message", Omit(Str)),
    (4, "lastUpdateTime", Keep(M(&meta_v1::Time))),
    (5, "lastTransitionTime", Keep(M(&meta_v1::Time))),
    (6, "status", Keep(Str)),
] }
msg! { CertificateSigningRequestList [
    (1, "metadata", Keep(M(&meta_v1::ListMeta))),
    (2, "items", Rep(M(&CertificateSigningRequest))),
] }
msg! { CertificateSigningRequestSpec [
    (1, "request", Keep(Bytes)),
    (2, "username", Omit(Str)),
    (3, "uid", Omit(Str)),
    (4, "groups", Rep(Str)),
    (5, "usages", Rep(Str)),
    (6, "extra", Map(M(&ExtraValue))),
    (7, "signerName", Keep(Str)),
    (8, "expirationSeconds", Keep(I32)),
] }
msg! { CertificateSigningRequestStatus [
    (1, "conditions", Rep(M(&CertificateSigningRequestCondition))),
    (2, "certificate", Omit(Bytes)),
] }
msg! { ExtraValue as Unwrap [(1, "items", Rep(Str))] }

/// The kinds an object of this group version may have.
pub static KINDS: &[&Msg] = &[&CertificateSigningRequest, &CertificateSigningRequestList];
