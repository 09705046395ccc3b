//! Errors as the Kubernetes API reports them: a `Status` object with an
//! HTTP code, a machine-readable reason and a message worded as upstream,
//! so that kubectl prints what it prints against a real cluster.

use serde_json::{json, Value};

/// The kinds of field errors, as upstream's `field.ErrorType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldErrorKind {
    Required,
    Invalid,
    NotSupported,
    Duplicate,
    Forbidden,
    TooLong,
    TooMany,
    NotFound,
    TypeInvalid,
    Internal,
    /// Not a field error proper: a field another manager owns, in the
    /// causes of an apply conflict.
    ManagerConflict,
    /// Not a field error proper: the budget that refused an eviction.
    DisruptionBudget,
}

impl FieldErrorKind {
    /// The `reason` of a `StatusCause`.
    pub fn reason(self) -> &'static str {
        match self {
            FieldErrorKind::Required => "FieldValueRequired",
            FieldErrorKind::Invalid => "FieldValueInvalid",
            FieldErrorKind::NotSupported => "FieldValueNotSupported",
            FieldErrorKind::Duplicate => "FieldValueDuplicate",
            FieldErrorKind::Forbidden => "FieldValueForbidden",
            FieldErrorKind::TooLong => "FieldValueTooLong",
            FieldErrorKind::TooMany => "FieldValueTooMany",
            FieldErrorKind::NotFound => "FieldValueNotFound",
            FieldErrorKind::TypeInvalid => "FieldValueTypeInvalid",
            FieldErrorKind::Internal => "InternalError",
            FieldErrorKind::ManagerConflict => "FieldManagerConflict",
            FieldErrorKind::DisruptionBudget => "DisruptionBudget",
        }
    }

    /// The words that open the message.
    fn words(self) -> &'static str {
        match self {
            FieldErrorKind::Required => "Required value",
            FieldErrorKind::Invalid | FieldErrorKind::TypeInvalid => "Invalid value",
            FieldErrorKind::NotSupported => "Unsupported value",
            FieldErrorKind::Duplicate => "Duplicate value",
            FieldErrorKind::Forbidden => "Forbidden",
            FieldErrorKind::TooLong => "Too long",
            FieldErrorKind::TooMany => "Too many",
            FieldErrorKind::NotFound => "Not found",
            FieldErrorKind::Internal => "Internal error",
            FieldErrorKind::ManagerConflict | FieldErrorKind::DisruptionBudget => "",
        }
    }

    /// Whether upstream prints the offending value in the message.
    fn shows_value(self) -> bool {
        !matches!(
            self,
            FieldErrorKind::Required
                | FieldErrorKind::Forbidden
                | FieldErrorKind::TooLong
                | FieldErrorKind::Internal
                | FieldErrorKind::ManagerConflict
                | FieldErrorKind::DisruptionBudget
        )
    }
}

/// One invalid field: upstream's `field.Error`.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldError {
    pub kind: FieldErrorKind,
    /// The field path, e.g. `spec.containers[0].image`.
    pub field: String,
    pub value: Option<Value>,
    pub detail: String,
}

impl FieldError {
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> FieldError {
        FieldError::new(FieldErrorKind::Required, field, None, detail)
    }

    pub fn invalid(
        field: impl Into<String>,
        value: impl Into<Value>,
        detail: impl Into<String>,
    ) -> FieldError {
        FieldError::new(FieldErrorKind::Invalid, field, Some(value.into()), detail)
    }

    pub fn not_supported(
        field: impl Into<String>,
        value: impl Into<Value>,
        valid: &[&str],
    ) -> FieldError {
        let quoted: Vec<String> = valid.iter().map(|v| format!("{v:?}")).collect();
        let detail = if quoted.is_empty() {
            String::new()
        } else {
            format!("supported values: {}", quoted.join(", "))
        };
        FieldError::new(
            FieldErrorKind::NotSupported,
            field,
            Some(value.into()),
            detail,
        )
    }

    pub fn duplicate(field: impl Into<String>, value: impl Into<Value>) -> FieldError {
        FieldError::new(FieldErrorKind::Duplicate, field, Some(value.into()), "")
    }

    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> FieldError {
        FieldError::new(FieldErrorKind::Forbidden, field, None, detail)
    }

    pub fn too_long(field: impl Into<String>, max: usize) -> FieldError {
        let detail = format!("may not be more than {max} bytes");
        FieldError::new(FieldErrorKind::TooLong, field, None, detail)
    }

    pub fn too_many(field: impl Into<String>, actual: usize, max: usize) -> FieldError {
        let detail = format!("must have at most {max} items");
        FieldError::new(FieldErrorKind::TooMany, field, Some(actual.into()), detail)
    }

    pub fn not_found(field: impl Into<String>, value: impl Into<Value>) -> FieldError {
        FieldError::new(FieldErrorKind::NotFound, field, Some(value.into()), "")
    }

    pub fn new(
        kind: FieldErrorKind,
        field: impl Into<String>,
        value: Option<Value>,
        detail: impl Into<String>,
    ) -> FieldError {
        FieldError {
            kind,
            field: field.into(),
            value,
            detail: detail.into(),
        }
    }

    /// The message without the field, as in a `StatusCause`:
    /// `Invalid value: "a b": a lowercase RFC 1123 label must ...`.
    pub fn body(&self) -> String {
        if matches!(
            self.kind,
            FieldErrorKind::ManagerConflict | FieldErrorKind::DisruptionBudget
        ) {
            return self.detail.clone();
        }
        let mut body = self.kind.words().to_string();
        if self.kind.shows_value() {
            if let Some(value) = &self.value {
                body.push_str(": ");
                body.push_str(&show_value(value));
            }
        }
        if !self.detail.is_empty() {
            body.push_str(": ");
            body.push_str(&self.detail);
        }
        body
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

/// A value as upstream prints it in a field error: strings quoted, numbers
/// and booleans bare, anything else as JSON.
fn show_value(value: &Value) -> String {
    match value {
        Value::String(text) => format!("{text:?}"),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

/// A failed API request, ready to be sent as a `Status`.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub code: u16,
    /// The `StatusReason`, e.g. `NotFound`; empty for `Unknown`.
    pub reason: &'static str,
    pub message: String,
    /// Boxed: errors travel by value through every `Result`.
    pub details: Option<Box<Details>>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Details {
    pub name: String,
    pub group: String,
    /// The resource (plural) for most errors, the kind for `Invalid`.
    pub kind: String,
    pub causes: Vec<FieldError>,
    pub retry_after_seconds: Option<u32>,
}

/// `pods` for the core group, `deployments.apps` for others.
fn qualified(group: &str, resource: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    fn with_details(mut self, group: &str, kind: &str, name: &str) -> ApiError {
        self.details = Some(Box::new(Details {
            name: name.to_string(),
            group: group.to_string(),
            kind: kind.to_string(),
            ..Details::default()
        }));
        self
    }

    /// `pods "web" not found`
    pub fn not_found(group: &str, resource: &str, name: &str) -> ApiError {
        let message = format!("{} {name:?} not found", qualified(group, resource));
        ApiError::new(404, "NotFound", message).with_details(group, resource, name)
    }

    /// `pods "web" already exists`
    pub fn already_exists(group: &str, resource: &str, name: &str) -> ApiError {
        let message = format!("{} {name:?} already exists", qualified(group, resource));
        ApiError::new(409, "AlreadyExists", message).with_details(group, resource, name)
    }

    /// `Operation cannot be fulfilled on pods "web": <detail>`
    pub fn conflict(group: &str, resource: &str, name: &str, detail: &str) -> ApiError {
        let message = format!(
            "Operation cannot be fulfilled on {} {name:?}: {detail}",
            qualified(group, resource)
        );
        ApiError::new(409, "Conflict", message).with_details(group, resource, name)
    }

    /// The conflict of an update made against an old resourceVersion.
    pub fn stale(group: &str, resource: &str, name: &str) -> ApiError {
        ApiError::conflict(
            group,
            resource,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// `Deployment.apps "web" is invalid: [spec.replicas: Invalid value: -1: ...]`
    pub fn invalid(group: &str, kind: &str, name: &str, causes: Vec<FieldError>) -> ApiError {
        let listed: Vec<String> = causes.iter().map(ToString::to_string).collect();
        let summary = match listed.as_slice() {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        let message = format!("{} {name:?} is invalid: {summary}", qualified(group, kind));
        let mut error = ApiError::new(422, "Invalid", message).with_details(group, kind, name);
        if let Some(details) = &mut error.details {
            details.causes = causes;
        }
        error
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(401, "Unauthorized", "Unauthorized")
    }

    /// `pods "web" is forbidden: User "bob" cannot get resource "pods" ...`
    pub fn forbidden(group: &str, resource: &str, name: &str, why: &str) -> ApiError {
        let target = if name.is_empty() {
            qualified(group, resource)
        } else {
            format!("{} {name:?}", qualified(group, resource))
        };
        ApiError::new(403, "Forbidden", format!("{target} is forbidden: {why}"))
            .with_details(group, resource, name)
    }

    pub fn not_found_path() -> ApiError {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    pub fn method_not_supported(resource: &str, verb: &str) -> ApiError {
        ApiError::new(
            405,
            "MethodNotAllowed",
            format!("{verb} is not supported on resources of kind {resource:?}"),
        )
    }

    pub fn not_acceptable(message: impl Into<String>) -> ApiError {
        ApiError::new(406, "NotAcceptable", message)
    }

    pub fn unsupported_media_type(content_type: &str) -> ApiError {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf; got {content_type:?}"),
        )
    }

    /// The watch or list asked for history that was compacted away.
    pub fn gone(message: impl Into<String>) -> ApiError {
        ApiError::new(410, "Expired", message)
    }

    pub fn too_large(message: impl Into<String>) -> ApiError {
        ApiError::new(413, "RequestEntityTooLarge", message)
    }

    pub fn too_many_requests(retry_after_seconds: u32) -> ApiError {
        let mut error = ApiError::new(
            429,
            "TooManyRequests",
            "Too many requests, please try again later.",
        );
        error.details = Some(Box::new(Details {
            retry_after_seconds: Some(retry_after_seconds),
            ..Details::default()
        }));
        error
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        let message = format!("Internal error occurred: {}", message.into());
        ApiError::new(500, "InternalError", message)
    }

    pub fn service_unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(503, "ServiceUnavailable", message)
    }

    pub fn timeout(message: impl Into<String>) -> ApiError {
        ApiError::new(504, "Timeout", message)
    }

    /// The `Status` object sent to the client.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(details) = &self.details {
            let mut out = serde_json::Map::new();
            if !details.name.is_empty() {
                out.insert("name".into(), details.name.clone().into());
            }
            if !details.group.is_empty() {
                out.insert("group".into(), details.group.clone().into());
            }
            if !details.kind.is_empty() {
                out.insert("kind".into(), details.kind.clone().into());
            }
            if !details.causes.is_empty() {
                let causes: Vec<Value> = details
                    .causes
                    .iter()
                    .map(|cause| {
                        let mut out = json!({
                            "reason": cause.kind.reason(),
                            "message": cause.body(),
                        });
                        // Upstream leaves out an empty field.
                        if !cause.field.is_empty() {
                            out["field"] = cause.field.clone().into();
                        }
                        out
                    })
                    .collect();
                out.insert("causes".into(), causes.into());
            }
            // Upstream leaves out a zero (`omitempty`).
            if let Some(seconds) = details.retry_after_seconds.filter(|s| *s > 0) {
                out.insert("retryAfterSeconds".into(), seconds.into());
            }
            status["details"] = Value::Object(out);
        }
        status
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_as_upstream() {
        assert_eq!(
            ApiError::not_found("", "pods", "web").message,
            r#"pods "web" not found"#
        );
        assert_eq!(
            ApiError::not_found("apps", "deployments", "web").message,
            r#"deployments.apps "web" not found"#
        );
        let one = ApiError::invalid(
            "apps",
            "Deployment",
            "web",
            vec![FieldError::invalid(
                "spec.replicas",
                -1,
                "must be greater than or equal to 0",
            )],
        );
        assert_eq!(
            one.message,
            r#"Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"#
        );
        let two = ApiError::invalid(
            "",
            "Pod",
            "p",
            vec![
                FieldError::required("spec.containers", ""),
                FieldError::not_supported("spec.restartPolicy", "Sometimes", &["Always", "Never"]),
            ],
        );
        assert_eq!(
            two.message,
            r#"Pod "p" is invalid: [spec.containers: Required value, spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "Never"]"#
        );
        let status = two.to_status();
        assert_eq!(status["code"], 422);
        assert_eq!(
            status["details"]["causes"][0]["reason"],
            "FieldValueRequired"
        );
        assert_eq!(
            status["details"]["causes"][1]["field"],
            "spec.restartPolicy"
        );
    }
}
