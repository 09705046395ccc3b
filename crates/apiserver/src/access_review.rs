//! authorization.k8s.io/v1 reviews, answered by the authorizer chain as
//! upstream's: may I (SelfSubjectAccessReview, `kubectl auth can-i`), may
//! this user (SubjectAccessReview, LocalSubjectAccessReview in one
//! namespace), and what may I do here (SelfSubjectRulesReview, `kubectl
//! auth can-i --list`).

use std::collections::BTreeMap;

use capstan_api::{ApiError, FieldError};
use serde_json::{json, Value};

use crate::authn::User;
use crate::authz::{Attributes, Chain, Rules};
use crate::token_request::parse_as;

const GROUP: &str = "authorization.k8s.io";
const API_VERSION: &str = "authorization.k8s.io/v1";
const PREFIX: &str = "/apis/authorization.k8s.io/v1/";

/// Which review a request asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Review {
    SelfSubjectAccess,
    SelfSubjectRules,
    SubjectAccess,
    /// A SubjectAccessReview confined to this namespace.
    LocalSubjectAccess(String),
}

impl Review {
    /// The review `path` names, if any.
    pub fn of_path(path: &str) -> Option<Review> {
        let rest = path.strip_prefix(PREFIX)?;
        match rest {
            "selfsubjectaccessreviews" => Some(Review::SelfSubjectAccess),
            "selfsubjectrulesreviews" => Some(Review::SelfSubjectRules),
            "subjectaccessreviews" => Some(Review::SubjectAccess),
            _ => {
                let (namespace, resource) = rest.strip_prefix("namespaces/")?.split_once('/')?;
                (resource == "localsubjectaccessreviews" && !namespace.is_empty())
                    .then(|| Review::LocalSubjectAccess(namespace.to_string()))
            }
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Review::SelfSubjectAccess => "SelfSubjectAccessReview",
            Review::SelfSubjectRules => "SelfSubjectRulesReview",
            Review::SubjectAccess => "SubjectAccessReview",
            Review::LocalSubjectAccess(_) => "LocalSubjectAccessReview",
        }
    }

    /// What the caller must be allowed to do to ask.
    pub fn attributes(&self) -> Attributes {
        let (resource, namespace) = match self {
            Review::SelfSubjectAccess => ("selfsubjectaccessreviews", ""),
            Review::SelfSubjectRules => ("selfsubjectrulesreviews", ""),
            Review::SubjectAccess => ("subjectaccessreviews", ""),
            Review::LocalSubjectAccess(namespace) => {
                ("localsubjectaccessreviews", namespace.as_str())
            }
        };
        Attributes {
            verb: "create".into(),
            group: GROUP.into(),
            resource: resource.into(),
            namespace: namespace.into(),
            ..Attributes::default()
        }
    }
}

/// Answers `review` for `caller` with the body posted; the object with
/// its status.
pub fn answer(
    review: &Review,
    authorizer: &Chain,
    caller: &User,
    body: &[u8],
    content_type: &str,
) -> Result<Value, ApiError> {
    let kind = review.kind();
    let mut object = parse_as(body, content_type, API_VERSION, kind)?;
    let spec = object.get("spec").cloned().unwrap_or_else(|| json!({}));
    let status = match review {
        Review::SelfSubjectRules => {
            let namespace = spec
                .get("namespace")
                .and_then(Value::as_str)
                .unwrap_or_default();
            rules_status(&authorizer.rules_for(caller, namespace))
        }
        Review::SelfSubjectAccess => {
            let attributes = attributes_of(&spec, kind)?;
            access_status(authorizer.authorize(caller, &attributes))
        }
        Review::SubjectAccess | Review::LocalSubjectAccess(_) => {
            let subject = subject_of(&spec, kind)?;
            let attributes = attributes_of(&spec, kind)?;
            if let Review::LocalSubjectAccess(namespace) = review {
                if spec.get("resourceAttributes").is_none() {
                    return Err(invalid(
                        kind,
                        FieldError::invalid(
                            "spec.resourceAttributes",
                            Value::Null,
                            "resourceAttributes must be specified",
                        ),
                    ));
                }
                if attributes.namespace != *namespace {
                    return Err(ApiError::bad_request(format!(
                        "spec.resourceAttributes.namespace must match namespace: {namespace}"
                    )));
                }
            }
            access_status(authorizer.authorize(&subject, &attributes))
        }
    };
    object["apiVersion"] = API_VERSION.into();
    object["kind"] = kind.into();
    object["metadata"] = json!({"creationTimestamp": null});
    if let Review::LocalSubjectAccess(namespace) = review {
        object["metadata"]["namespace"] = namespace.as_str().into();
    }
    object["status"] = status;
    Ok(object)
}

/// The request attributes of an access review's spec: exactly one of
/// resourceAttributes and nonResourceAttributes.
fn attributes_of(spec: &Value, kind: &str) -> Result<Attributes, ApiError> {
    let text = |value: &Value, field: &str| {
        value
            .get(field)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    match (
        spec.get("resourceAttributes").filter(|v| !v.is_null()),
        spec.get("nonResourceAttributes").filter(|v| !v.is_null()),
    ) {
        (Some(_), Some(other)) => Err(invalid(
            kind,
            FieldError::invalid(
                "spec.nonResourceAttributes",
                other.clone(),
                "cannot be specified in combination with resourceAttributes",
            ),
        )),
        (None, None) => Err(invalid(
            kind,
            FieldError::invalid(
                "spec.resourceAttributes",
                Value::Null,
                "exactly one of nonResourceAttributes or resourceAttributes must be specified",
            ),
        )),
        (Some(resource), None) => Ok(Attributes {
            verb: text(resource, "verb"),
            group: text(resource, "group"),
            resource: text(resource, "resource"),
            subresource: text(resource, "subresource"),
            namespace: text(resource, "namespace"),
            name: text(resource, "name"),
            path: None,
        }),
        (None, Some(non_resource)) => Ok(Attributes {
            verb: text(non_resource, "verb"),
            path: Some(text(non_resource, "path")),
            ..Attributes::default()
        }),
    }
}

/// The user a SubjectAccessReview asks about, exactly as given: no group
/// is added.
fn subject_of(spec: &Value, kind: &str) -> Result<User, ApiError> {
    let name = spec
        .get("user")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let groups: Vec<String> = spec
        .get("groups")
        .and_then(Value::as_array)
        .map(|groups| {
            groups
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if name.is_empty() && groups.is_empty() {
        return Err(invalid(
            kind,
            FieldError::invalid(
                "spec.user",
                "",
                "at least one of user or group must be specified",
            ),
        ));
    }
    let extra: BTreeMap<String, Vec<String>> = spec
        .get("extra")
        .and_then(|extra| serde_json::from_value(extra.clone()).ok())
        .unwrap_or_default();
    Ok(User {
        name,
        uid: spec
            .get("uid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        groups,
        extra,
    })
}

fn access_status(decision: Result<(), String>) -> Value {
    match decision {
        Ok(()) => json!({"allowed": true}),
        Err(reason) if reason.is_empty() => json!({"allowed": false}),
        Err(reason) => json!({"allowed": false, "reason": reason}),
    }
}

fn rules_status(rules: &Rules) -> Value {
    let resource: Vec<Value> = rules
        .resource
        .iter()
        .map(|rule| {
            let mut entry = json!({"verbs": rule.verbs, "apiGroups": rule.api_groups,
                "resources": rule.resources});
            if !rule.resource_names.is_empty() {
                entry["resourceNames"] = json!(rule.resource_names);
            }
            entry
        })
        .collect();
    let non_resource: Vec<Value> = rules
        .non_resource
        .iter()
        .map(|rule| json!({"verbs": rule.verbs, "nonResourceURLs": rule.urls}))
        .collect();
    json!({
        "resourceRules": resource,
        "nonResourceRules": non_resource,
        "incomplete": rules.incomplete,
    })
}

fn invalid(kind: &str, error: FieldError) -> ApiError {
    ApiError::invalid(GROUP, kind, "", vec![error])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_their_review() {
        let of = Review::of_path;
        assert_eq!(
            of("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"),
            Some(Review::SelfSubjectAccess)
        );
        assert_eq!(
            of("/apis/authorization.k8s.io/v1/namespaces/dev/localsubjectaccessreviews"),
            Some(Review::LocalSubjectAccess("dev".into()))
        );
        assert_eq!(of("/apis/authorization.k8s.io/v1/roles"), None);
        assert_eq!(
            of("/apis/authorization.k8s.io/v1/namespaces//localsubjectaccessreviews"),
            None
        );
    }

    #[test]
    fn attributes_come_from_exactly_one_kind_of_spec() {
        let resource = json!({"resourceAttributes": {"verb": "get", "resource": "pods",
            "namespace": "dev", "subresource": "log", "name": "web"}});
        let attributes = attributes_of(&resource, "SubjectAccessReview").unwrap();
        assert_eq!(
            (
                attributes.verb.as_str(),
                attributes.resource.as_str(),
                attributes.subresource.as_str()
            ),
            ("get", "pods", "log")
        );
        let path = json!({"nonResourceAttributes": {"verb": "get", "path": "/healthz"}});
        assert_eq!(
            attributes_of(&path, "SubjectAccessReview").unwrap().path,
            Some("/healthz".into())
        );
        let neither = attributes_of(&json!({}), "SubjectAccessReview").unwrap_err();
        assert_eq!(neither.code, 422);
        let both = json!({"resourceAttributes": {}, "nonResourceAttributes": {}});
        assert_eq!(
            attributes_of(&both, "SubjectAccessReview")
                .unwrap_err()
                .code,
            422
        );
    }
}
