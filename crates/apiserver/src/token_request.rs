//! `serviceaccounts/token`: a TokenRequest (authentication.k8s.io/v1) in,
//! the same with a signed token out, as upstream's `TokenREST`.

use capstan_api::{ApiError, FieldError};
use serde_json::{json, Value};

use crate::registry::Registry;
use crate::sa_token::{self, Ref, TokenFor, TokenSigner, API_AUDIENCE};

const GROUP: &str = "authentication.k8s.io";
const API_VERSION: &str = "authentication.k8s.io/v1";
pub const KIND: &str = "TokenRequest";

/// What a TokenRequest asks for when it says nothing (upstream's default).
const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;

/// The shortest and longest lifetimes a token may ask for.
const MIN_EXPIRATION_SECONDS: i64 = 10 * 60;
const MAX_EXPIRATION_SECONDS: i64 = 1 << 32;

/// Reads an authentication.k8s.io/v1 body of `kind` (TokenRequest,
/// TokenReview), JSON or Kubernetes' protobuf.
pub fn parse(body: &[u8], content_type: &str, kind: &str) -> Result<Value, ApiError> {
    parse_as(body, content_type, API_VERSION, kind)
}

/// Reads a body that must be `kind` of `api_version` where it says.
pub fn parse_as(
    body: &[u8],
    content_type: &str,
    api_version: &str,
    kind: &str,
) -> Result<Value, ApiError> {
    let media = content_type.split(';').next().unwrap_or_default().trim();
    let request = match media {
        capstan_api::protobuf::CONTENT_TYPE => capstan_api::protobuf::decode(body)?,
        "" | "application/json" | "*/*" => serde_json::from_slice(body).map_err(|error| {
            ApiError::bad_request(format!(
                "the object provided is unrecognized (must be of type {kind}): {error}"
            ))
        })?,
        _ => return Err(ApiError::unsupported_media_type(content_type)),
    };
    if !request.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    }
    for (field, expected) in [("apiVersion", api_version), ("kind", kind)] {
        match request.get(field).and_then(Value::as_str) {
            None | Some("") => {}
            Some(sent) if sent == expected => {}
            Some(sent) => {
                return Err(ApiError::bad_request(format!(
                "the {field} in the data ({sent}) does not match the expected {field} ({expected})"
            )))
            }
        }
    }
    Ok(request)
}

/// Issues a token for ServiceAccount `namespace/name` as `request` asks.
pub async fn create(
    registry: &Registry,
    signer: &TokenSigner,
    namespace: &str,
    name: &str,
    mut request: Value,
) -> Result<Value, ApiError> {
    let spec = request.get("spec").cloned().unwrap_or_else(|| json!({}));
    let expiration_seconds = match spec.get("expirationSeconds") {
        None | Some(Value::Null) => DEFAULT_EXPIRATION_SECONDS,
        Some(seconds) => seconds
            .as_i64()
            .ok_or_else(|| ApiError::bad_request("spec.expirationSeconds must be an integer"))?,
    };
    let errors = validate(expiration_seconds);
    if !errors.is_empty() {
        return Err(ApiError::invalid(GROUP, KIND, "", errors));
    }
    let account = get(registry, "serviceaccounts", Some(namespace), name).await?;
    let mut audiences: Vec<String> = spec
        .get("audiences")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if audiences.is_empty() {
        audiences = vec![API_AUDIENCE.to_string()];
    }
    let mut token = TokenFor {
        namespace: namespace.to_string(),
        service_account: Ref::of(&account),
        audiences,
        expiration_seconds,
        ..TokenFor::default()
    };
    if let Some(bound) = spec.get("boundObjectRef").filter(|r| !r.is_null()) {
        bind(registry, namespace, name, bound, &mut token).await?;
    }
    let now = sa_token::now();
    let jti = uuid::Uuid::new_v4().to_string();
    let (claims, _) = sa_token::claims(&token, now, &jti);
    let signed = signer
        .sign(&claims)
        .map_err(|error| ApiError::internal(format!("failed to generate token: {error}")))?;
    // The expiry the client asked for, also when the claims carry a
    // longer one: the kubelet refreshes by it.
    let expires = jiff::Timestamp::from_second(now + expiration_seconds)
        .map_err(|error| ApiError::internal(error.to_string()))?;
    request["apiVersion"] = API_VERSION.into();
    request["kind"] = KIND.into();
    if !request.get("metadata").is_some_and(Value::is_object) {
        request["metadata"] = json!({"creationTimestamp": null});
    }
    request["spec"] = spec;
    request["spec"]["audiences"] = json!(token.audiences);
    request["spec"]["expirationSeconds"] = expiration_seconds.into();
    request["status"] = json!({
        "token": signed,
        "expirationTimestamp": expires.to_string(),
    });
    Ok(request)
}

/// Upstream's `ValidateTokenRequest`.
fn validate(expiration_seconds: i64) -> Vec<FieldError> {
    let field = "spec.expirationSeconds";
    if expiration_seconds < MIN_EXPIRATION_SECONDS {
        vec![FieldError::invalid(
            field,
            expiration_seconds,
            "may not specify a duration less than 10 minutes",
        )]
    } else if expiration_seconds > MAX_EXPIRATION_SECONDS {
        vec![FieldError::invalid(
            field,
            expiration_seconds,
            "may not specify a duration larger than 2^32 seconds",
        )]
    } else {
        Vec::new()
    }
}

/// Binds the token to the pod, secret or node `bound` names, which must
/// exist (with the uid given, if any).
async fn bind(
    registry: &Registry,
    namespace: &str,
    account: &str,
    bound: &Value,
    token: &mut TokenFor,
) -> Result<(), ApiError> {
    let text = |field: &str| bound.get(field).and_then(Value::as_str).unwrap_or_default();
    let (kind, api_version, name, uid) =
        (text("kind"), text("apiVersion"), text("name"), text("uid"));
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let found = match (group, kind) {
        ("", "Pod") => {
            let pod = get(registry, "pods", Some(namespace), name).await?;
            let runs_as = pod
                .pointer("/spec/serviceAccountName")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if runs_as != account {
                return Err(ApiError::bad_request(format!(
                    "cannot bind token for serviceaccount {account:?} to pod running with different serviceaccount name."
                )));
            }
            // The pod's node goes in the claims when it can be read.
            let node = pod
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .filter(|node| !node.is_empty());
            if let Some(node) = node {
                if let Ok(node) = get(registry, "nodes", None, node).await {
                    token.node = Some(Ref::of(&node));
                }
            }
            token.pod = Some(Ref::of(&pod));
            pod
        }
        ("", "Secret") => {
            let secret = get(registry, "secrets", Some(namespace), name).await?;
            token.secret = Some(Ref::of(&secret));
            secret
        }
        ("", "Node") => {
            let node = get(registry, "nodes", None, name).await?;
            token.node = Some(Ref::of(&node));
            node
        }
        _ => {
            return Err(ApiError::bad_request(format!(
                "cannot bind token to object of type {group}/{version}, Kind={kind}"
            )))
        }
    };
    if !uid.is_empty() && Ref::of(&found).uid != uid {
        return Err(ApiError::conflict(
            group,
            kind,
            name,
            &format!("the UID in the bound object reference ({uid}) does not match the UID in record. The object might have been deleted and then recreated"),
        ));
    }
    Ok(())
}

async fn get(
    registry: &Registry,
    plural: &str,
    namespace: Option<&str>,
    name: &str,
) -> Result<Value, ApiError> {
    let resource =
        capstan_api::resource::find("", "v1", plural).expect("core resources are served");
    Ok(registry.get(resource, namespace, name).await?.object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn resource(plural: &str) -> &'static capstan_api::Resource {
        capstan_api::resource::find("", "v1", plural).unwrap()
    }

    async fn registry() -> Registry {
        let registry = Registry::new(Arc::new(capstan_store::memory::MemoryStore::new()), None);
        let account = json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": "default", "namespace": "ns", "uid": "sa-1"}});
        registry
            .create(resource("serviceaccounts"), &account)
            .await
            .unwrap();
        registry
    }

    #[tokio::test]
    async fn a_token_with_upstreams_defaults() {
        let registry = registry().await;
        let signer = crate::sa_token::test_signer();
        let request = parse(b"{}", "application/json", KIND).unwrap();
        let issued = create(&registry, &signer, "ns", "default", request)
            .await
            .unwrap();
        assert_eq!(issued["kind"], "TokenRequest");
        assert_eq!(issued["apiVersion"], "authentication.k8s.io/v1");
        assert_eq!(issued["spec"]["audiences"], json!([API_AUDIENCE]));
        assert_eq!(issued["spec"]["expirationSeconds"], 3600);
        let token = issued["status"]["token"].as_str().unwrap();
        let claims = signer.verify(token).unwrap();
        assert_eq!(claims["sub"], "system:serviceaccount:ns:default");
        assert_eq!(claims["kubernetes.io"]["serviceaccount"]["uid"], "sa-1");
        let expires: jiff::Timestamp = issued["status"]["expirationTimestamp"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(expires.as_second(), claims["exp"].as_i64().unwrap());
    }

    #[tokio::test]
    async fn lifetimes_and_accounts_are_checked() {
        let registry = registry().await;
        let signer = crate::sa_token::test_signer();
        let short = json!({"spec": {"expirationSeconds": 60}});
        let error = create(&registry, &signer, "ns", "default", short)
            .await
            .unwrap_err();
        assert_eq!(error.code, 422);
        assert_eq!(error.to_string(), "TokenRequest.authentication.k8s.io \"\" is invalid: spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes");
        let long = json!({"spec": {"expirationSeconds": (1i64 << 32) + 1}});
        let error = create(&registry, &signer, "ns", "default", long)
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("larger than 2^32 seconds"),
            "{error}"
        );
        let error = create(&registry, &signer, "ns", "nobody", json!({}))
            .await
            .unwrap_err();
        assert_eq!(error.code, 404);
        assert_eq!(error.to_string(), "serviceaccounts \"nobody\" not found");
        assert!(parse(b"{\"kind\": \"Pod\"}", "application/json", KIND).is_err());
    }

    #[tokio::test]
    async fn bound_objects_must_exist_with_their_uid() {
        let registry = registry().await;
        let signer = crate::sa_token::test_signer();
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "namespace": "ns", "uid": "pod-1"},
            "spec": {"serviceAccountName": "default", "nodeName": "node-1"}});
        registry.create(resource("pods"), &pod).await.unwrap();
        let node = json!({"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "node-1", "uid": "node-uid"}});
        registry.create(resource("nodes"), &node).await.unwrap();
        let bound = |name: &str, uid: &str| json!({"spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": name, "uid": uid}}});
        let issued = create(&registry, &signer, "ns", "default", bound("web", "pod-1"))
            .await
            .unwrap();
        let claims = signer
            .verify(issued["status"]["token"].as_str().unwrap())
            .unwrap();
        assert_eq!(
            claims["kubernetes.io"]["pod"],
            json!({"name": "web", "uid": "pod-1"})
        );
        assert_eq!(
            claims["kubernetes.io"]["node"],
            json!({"name": "node-1", "uid": "node-uid"})
        );
        let error = create(&registry, &signer, "ns", "default", bound("web", "other"))
            .await
            .unwrap_err();
        assert_eq!(error.code, 409);
        assert!(error.to_string().starts_with("Operation cannot be fulfilled on Pod \"web\": the UID in the bound object reference (other) does not match"), "{error}");
        let error = create(&registry, &signer, "ns", "default", bound("gone", ""))
            .await
            .unwrap_err();
        assert_eq!(error.code, 404);
        let config_map = json!({"spec": {"boundObjectRef": {"kind": "ConfigMap", "apiVersion": "v1", "name": "x"}}});
        let error = create(&registry, &signer, "ns", "default", config_map)
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "cannot bind token to object of type /v1, Kind=ConfigMap"
        );
    }
}
