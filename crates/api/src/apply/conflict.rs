//! The 409 an apply gets when it would change fields other managers own.

use super::fieldpath::{path_string, Path};
use super::managed::Manager;
use crate::status::{ApiError, Details, FieldError, FieldErrorKind};

/// A field another manager owns and an apply would change.
#[derive(Clone, Debug)]
pub(crate) struct Conflict {
    pub manager: Manager,
    pub path: Path,
}

/// Upstream's apply conflict: `Apply failed with 1 conflict: conflict with
/// "kubectl-client-side-apply" using apps/v1: .spec.replicas`.
pub(crate) fn conflict_error(conflicts: &[Conflict]) -> ApiError {
    let message = match conflicts {
        [one] => format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            one.manager.describe(),
            path_string(&one.path)
        ),
        many => {
            let mut managers: Vec<&Manager> = Vec::new();
            for conflict in many {
                if !managers.iter().any(|m| **m == conflict.manager) {
                    managers.push(&conflict.manager);
                }
            }
            managers.sort_by_key(|m| m.identifier());
            let mut lines = Vec::new();
            for manager in managers {
                lines.push(format!("conflicts with {}:", manager.describe()));
                for conflict in many.iter().filter(|c| c.manager == *manager) {
                    lines.push(format!("- {}", path_string(&conflict.path)));
                }
            }
            format!(
                "Apply failed with {} conflicts: {}",
                many.len(),
                lines.join("\n")
            )
        }
    };
    // Upstream lists each conflict as a `FieldManagerConflict` cause.
    let causes = conflicts
        .iter()
        .map(|conflict| {
            let detail = format!("conflict with {}", conflict.manager.describe());
            FieldError::new(
                FieldErrorKind::ManagerConflict,
                path_string(&conflict.path),
                None,
                detail,
            )
        })
        .collect();
    ApiError {
        code: 409,
        reason: "Conflict",
        message,
        details: Some(Box::new(Details {
            causes,
            ..Details::default()
        })),
    }
}
