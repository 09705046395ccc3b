//! `POST /apis/authentication.k8s.io/v1/tokenreviews`: who a bearer token
//! stands for, as upstream's TokenReview REST. Other programs (a proxy
//! guarding its port, a secrets store logging pods in) hand the API server
//! a token they were given and learn the user, or that it is not valid.

use capstan_api::ApiError;
use serde_json::{json, Value};

use crate::authn::TokenAuthenticator;
use crate::authz::Attributes;
use crate::registry::Registry;
use crate::sa_authn::ServiceAccountAuthenticator;
use crate::sa_token::API_AUDIENCE;
use crate::token_request;

pub const PATH: &str = "/apis/authentication.k8s.io/v1/tokenreviews";
const KIND: &str = "TokenReview";

/// What a caller must be allowed to do to review tokens.
pub fn attributes() -> Attributes {
    Attributes {
        verb: "create".into(),
        group: "authentication.k8s.io".into(),
        resource: "tokenreviews".into(),
        ..Attributes::default()
    }
}

/// The authenticators a token is tried against.
pub struct Authenticators<'a> {
    pub tokens: &'a TokenAuthenticator,
    pub service_accounts: &'a ServiceAccountAuthenticator,
    pub registry: &'a Registry,
}

/// Reviews the token in `body`; the review with its status.
pub async fn review(
    authenticators: Authenticators<'_>,
    body: &[u8],
    content_type: &str,
) -> Result<Value, ApiError> {
    let mut review = token_request::parse(body, content_type, KIND)?;
    let spec = review.get("spec").cloned().unwrap_or_else(|| json!({}));
    let token = spec
        .get("token")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if token.is_empty() {
        return Err(ApiError::bad_request(
            "token is required for TokenReview in authentication",
        ));
    }
    if let Some(namespace) = review
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .filter(|namespace| !namespace.is_empty())
    {
        return Err(ApiError::bad_request(format!(
            "namespace is not allowed on this type: {namespace}"
        )));
    }
    let asked: Vec<&str> = spec
        .get("audiences")
        .and_then(Value::as_array)
        .map(|audiences| audiences.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let status = match authenticate(&authenticators, token, &asked).await {
        Some((user, audiences)) => json!({
            "authenticated": true,
            "user": user.user_info(),
            "audiences": audiences,
        }),
        // A token no authenticator recognises is simply not authenticated;
        // a service account token that fails its checks says so.
        None if crate::sa_token::is_jwt(token) => {
            json!({"user": {}, "error": "invalid bearer token"})
        }
        None => json!({"user": {}}),
    };
    review["apiVersion"] = "authentication.k8s.io/v1".into();
    review["kind"] = KIND.into();
    review["metadata"] = json!({"creationTimestamp": null});
    review["status"] = status;
    Ok(review)
}

/// The user of `token` and the audiences it is good for, among `asked`
/// (the API server's own when none are asked for).
async fn authenticate(
    authenticators: &Authenticators<'_>,
    token: &str,
    asked: &[&str],
) -> Option<(crate::authn::User, Vec<String>)> {
    let wanted: Vec<&str> = if asked.is_empty() {
        vec![API_AUDIENCE]
    } else {
        asked.to_vec()
    };
    // Static tokens know no audiences: they are good for the API server's,
    // as upstream's audience-agnostic wrapper has it.
    if wanted.contains(&API_AUDIENCE) {
        if let Some(user) = authenticators.tokens.user(token) {
            return Some((user, vec![API_AUDIENCE.to_string()]));
        }
    }
    authenticators
        .service_accounts
        .authenticate_for(authenticators.registry, token, &wanted)
        .await
}
