//! Container security contexts and seccomp profiles.

use serde_json::Value;

use super::container::local_descending_path;
use super::names::inclusive_range_error;
use super::path::{boolean, get, int, s, Path};
use crate::status::FieldError;

pub fn validate_security_context(sc: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for field in ["runAsUser", "runAsGroup"] {
        if let Some(id) = int(sc, field) {
            if !(0..=4294967295).contains(&id) {
                errs.push(
                    path.child(field)
                        .invalid(id, &inclusive_range_error(0, 4294967295)),
                );
            }
        }
    }
    if let Some(proc_mount) = sc.get("procMount").and_then(Value::as_str) {
        if proc_mount != "Default" && proc_mount != "Unmasked" {
            errs.push(
                path.child("procMount")
                    .not_supported(proc_mount, &["Default", "Unmasked"]),
            );
        }
    }
    if let Some(profile) = get(sc, "seccompProfile") {
        errs.extend(validate_seccomp_profile(
            profile,
            &path.child("seccompProfile"),
        ));
    }
    if boolean(sc, "allowPrivilegeEscalation") == Some(false)
        && boolean(sc, "privileged") == Some(true)
    {
        errs.push(path.invalid_shown(
            "&core.SecurityContext{...}",
            "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
        ));
    }
    errs
}

pub fn validate_seccomp_profile(profile: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let kind = s(profile, "type");
    match kind {
        "Localhost" | "RuntimeDefault" | "Unconfined" => {}
        "" => errs.push(
            path.child("type")
                .required("type is required when seccompProfile is set"),
        ),
        other => errs.push(
            path.child("type")
                .not_supported(other, &["Localhost", "RuntimeDefault", "Unconfined"]),
        ),
    }
    let local = profile.get("localhostProfile").and_then(Value::as_str);
    if kind == "Localhost" {
        match local {
            None => errs.push(
                path.child("localhostProfile")
                    .required("must be set when seccomp type is Localhost"),
            ),
            Some(local) => errs.extend(local_descending_path(
                local,
                &path.child("localhostProfile"),
            )),
        }
    } else if local.is_some() {
        errs.push(path.child("localhostProfile").invalid_shown(
            "&core.SeccompProfile{...}",
            "can only be set when seccomp type is Localhost",
        ));
    }
    errs
}
