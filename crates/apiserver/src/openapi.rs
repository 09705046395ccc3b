//! `/openapi/v3` and `/openapi/v2`: the schemas kubectl reads for `apply`,
//! `diff`, `explain` and validation. Built on first request and kept: they
//! never change while the server runs, and building them costs more than
//! a start-up can afford.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use bytes::Bytes;
use capstan_api::ApiError;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};

use crate::response::{full, Body};

const V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

#[derive(Default)]
pub struct OpenApi {
    root: OnceLock<Bytes>,
    v2_json: OnceLock<Bytes>,
    v2_protobuf: OnceLock<Bytes>,
    documents: Mutex<HashMap<String, Option<Bytes>>>,
}

impl OpenApi {
    /// Answers `path` if it is an OpenAPI path; `None` otherwise.
    pub fn serve(&self, path: &str, accept: &str) -> Option<Result<Response<Body>, ApiError>> {
        if path == "/openapi/v3" || path == "/openapi/v3/" {
            let bytes = self
                .root
                .get_or_init(|| json_bytes(&capstan_api::openapi::v3_root()));
            return Some(Ok(respond(bytes.clone(), "application/json")));
        }
        if let Some(key) = path.strip_prefix("/openapi/v3/") {
            return Some(
                self.document(key)
                    .map(|bytes| respond(bytes, "application/json")),
            );
        }
        if path == "/openapi/v2" {
            // kubectl asks for the protobuf encoding; others get JSON.
            if accept.contains("com.github.proto-openapi.spec.v2") {
                let bytes = self
                    .v2_protobuf
                    .get_or_init(|| Bytes::from(capstan_api::openapi::v2_protobuf()));
                return Some(Ok(respond(bytes.clone(), V2_PROTOBUF)));
            }
            let bytes = self
                .v2_json
                .get_or_init(|| json_bytes(&capstan_api::openapi::v2_document()));
            return Some(Ok(respond(bytes.clone(), "application/json")));
        }
        None
    }

    /// The document of `api/v1` or `apis/GROUP/VERSION`.
    fn document(&self, key: &str) -> Result<Bytes, ApiError> {
        let mut documents = self
            .documents
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let built = documents.entry(key.to_string()).or_insert_with(|| {
            let parts: Vec<&str> = key.split('/').collect();
            let document = match parts.as_slice() {
                ["api", version] => capstan_api::openapi::v3_document("", version),
                ["apis", group, version] => capstan_api::openapi::v3_document(group, version),
                _ => None,
            };
            document.map(|document| json_bytes(&document))
        });
        built.clone().ok_or_else(ApiError::not_found_path)
    }
}

fn json_bytes(value: &serde_json::Value) -> Bytes {
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}

fn respond(bytes: Bytes, content_type: &'static str) -> Response<Body> {
    let mut response = Response::new(full(bytes));
    *response.status_mut() = StatusCode::OK;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
