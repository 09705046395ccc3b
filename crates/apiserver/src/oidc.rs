//! Service account issuer discovery, as upstream: the OpenID provider
//! configuration and the key set, so that a relying party (a cloud's
//! workload identity, a secrets store) can verify service account tokens
//! without asking the API server about each one.

use hyper::header::{HeaderValue, CACHE_CONTROL};
use hyper::{Response, StatusCode};
use serde_json::json;

use crate::response::{self, Body};
use crate::sa_token::{TokenSigner, ISSUER};

pub const CONFIGURATION_PATH: &str = "/.well-known/openid-configuration";
pub const KEYS_PATH: &str = "/openid/v1/jwks";

/// The provider configuration; `server_address` is `host:port` of this
/// API server, where the keys are served.
pub fn configuration(server_address: &str) -> Response<Body> {
    let document = json!({
        "issuer": ISSUER,
        "jwks_uri": format!("https://{server_address}{KEYS_PATH}"),
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
    });
    cacheable(response::json(StatusCode::OK, &document))
}

/// The key set tokens are signed with.
pub fn keys(signer: &TokenSigner) -> Response<Body> {
    let document = json!({"keys": [signer.jwk()]});
    cacheable(response::json_with(
        StatusCode::OK,
        "application/jwk-set+json",
        &document,
    ))
}

/// Upstream lets both be cached for an hour.
fn cacheable(mut response: Response<Body>) -> Response<Body> {
    response.headers_mut().insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}
