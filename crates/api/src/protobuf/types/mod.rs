//! The message types of every group version the API serves, with the field
//! numbers of upstream's `generated.proto` and the JSON names, pointer-ness
//! and `omitempty` of upstream's Go types.

// The statics carry upstream's type names, which are also the kinds.
#![allow(non_upper_case_globals)]

use super::schema::Msg;

mod admissionregistration_v1;
mod apiextensions_v1;
mod apps_v1;
mod authentication_v1;
mod authorization_v1;
mod autoscaling_v1;
mod autoscaling_v2;
mod batch_v1;
mod certificates_v1;
mod coordination_v1;
mod core_v1;
mod discovery_v1;
mod events_v1;
mod intstr;
mod meta_v1;
mod networking_v1;
mod policy_v1;
mod rbac_v1;
mod resource;
mod runtime;
mod scheduling_v1;
mod storage_v1;

/// The message of `kind` at `api_version`, if that kind is registered there.
/// The `meta/v1` kinds (`DeleteOptions`, `Status`, ...) are registered in
/// every group version, as upstream's `metav1.AddToGroupVersion` does.
pub fn lookup(api_version: &str, kind: &str) -> Option<&'static Msg> {
    let kinds = match api_version {
        "v1" => core_v1::KINDS,
        "apps/v1" => apps_v1::KINDS,
        "batch/v1" => batch_v1::KINDS,
        "autoscaling/v1" => autoscaling_v1::KINDS,
        "autoscaling/v2" => autoscaling_v2::KINDS,
        "policy/v1" => policy_v1::KINDS,
        "networking.k8s.io/v1" => networking_v1::KINDS,
        "storage.k8s.io/v1" => storage_v1::KINDS,
        "rbac.authorization.k8s.io/v1" => rbac_v1::KINDS,
        "coordination.k8s.io/v1" => coordination_v1::KINDS,
        "scheduling.k8s.io/v1" => scheduling_v1::KINDS,
        "discovery.k8s.io/v1" => discovery_v1::KINDS,
        "events.k8s.io/v1" => events_v1::KINDS,
        "certificates.k8s.io/v1" => certificates_v1::KINDS,
        "admissionregistration.k8s.io/v1" => admissionregistration_v1::KINDS,
        "apiextensions.k8s.io/v1" => apiextensions_v1::KINDS,
        "authentication.k8s.io/v1" => authentication_v1::KINDS,
        "authorization.k8s.io/v1" => authorization_v1::KINDS,
        "meta.k8s.io/v1" => &[],
        _ => return None,
    };
    kinds
        .iter()
        .chain(meta_v1::KINDS)
        .find(|msg| msg.name == kind)
        .copied()
}

#[cfg(test)]
mod tests {
    use super::super::schema::{Kind, Msg, Ty};
    use super::*;

    const ALL: &[&[&Msg]] = &[
        core_v1::KINDS,
        apps_v1::KINDS,
        batch_v1::KINDS,
        autoscaling_v1::KINDS,
        autoscaling_v2::KINDS,
        policy_v1::KINDS,
        networking_v1::KINDS,
        storage_v1::KINDS,
        rbac_v1::KINDS,
        coordination_v1::KINDS,
        scheduling_v1::KINDS,
        discovery_v1::KINDS,
        events_v1::KINDS,
        certificates_v1::KINDS,
        admissionregistration_v1::KINDS,
        apiextensions_v1::KINDS,
        authentication_v1::KINDS,
        authorization_v1::KINDS,
        meta_v1::KINDS,
    ];

    /// Every reachable message has its fields sorted by a unique tag (the
    /// decoder binary-searches them) and unique JSON names.
    #[test]
    fn tables_are_well_formed() {
        let mut seen: Vec<*const Msg> = Vec::new();
        let mut todo: Vec<&'static Msg> = ALL.iter().flat_map(|k| k.iter().copied()).collect();
        while let Some(msg) = todo.pop() {
            if seen.contains(&(msg as *const Msg)) {
                continue;
            }
            seen.push(msg);
            for pair in msg.fields.windows(2) {
                assert!(pair[0].tag < pair[1].tag, "{} {}", msg.pkg, msg.name);
            }
            let mut names: Vec<&str> = msg.fields.iter().map(|f| f.name).collect();
            names.retain(|n| !n.is_empty());
            names.sort_unstable();
            let count = names.len();
            names.dedup();
            assert_eq!(count, names.len(), "{} {}", msg.pkg, msg.name);
            for field in msg.fields {
                match field.kind {
                    Kind::Inline(sub)
                    | Kind::Omit(Ty::M(sub))
                    | Kind::Keep(Ty::M(sub))
                    | Kind::Rep(Ty::M(sub))
                    | Kind::Map(Ty::M(sub)) => todo.push(sub),
                    _ => {}
                }
            }
        }
        assert!(seen.len() > 500, "{}", seen.len());
    }

    #[test]
    fn lookup_finds_kinds_and_meta_kinds() {
        assert_eq!(lookup("apps/v1", "Deployment").unwrap().pkg, "apps/v1");
        assert_eq!(lookup("v1", "Event").unwrap().pkg, "core/v1");
        assert_eq!(
            lookup("events.k8s.io/v1", "Event").unwrap().pkg,
            "events.k8s.io/v1"
        );
        assert_eq!(lookup("apps/v1", "DeleteOptions").unwrap().pkg, "meta/v1");
        assert!(lookup("apps/v1", "DeploymentSpec").is_none());
        assert!(lookup("apps/v2", "Deployment").is_none());
    }
}
