//! The three patch types of a `PATCH` request, with the statuses upstream
//! answers when one fails.
//!
//! - [`json_patch`]: RFC 6902 (`application/json-patch+json`).
//! - [`merge_patch`]: RFC 7386 (`application/merge-patch+json`).
//! - [`strategic_merge_patch`]: upstream's strategic merge patch
//!   (`application/strategic-merge-patch+json`), which lists merge by the
//!   merge keys of built-in kinds and which `kubectl apply`, `patch`,
//!   `set image` and `rollout restart` send.

// `ApiError` is the crate's error type; it is returned once per request,
// so its size does not matter.
#![allow(clippy::result_large_err)]

mod order;
pub(crate) mod schema;
mod strategic;

#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

use crate::status::ApiError;
use strategic::SmpError;

/// Upstream refuses JSON patches with more operations than this.
const MAX_JSON_PATCH_OPERATIONS: usize = 10_000;

/// Applies an RFC 6902 JSON patch to `target`.
///
/// A body that is not a list of operations is a 400; an operation that
/// does not apply (a failing `test`, a missing path) is upstream's generic
/// 422, whose message says no more than that.
pub fn json_patch(target: &Value, patch: &[u8]) -> Result<Value, ApiError> {
    let body: Value =
        serde_json::from_slice(patch).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let operations = match body {
        Value::Null => Vec::new(),
        Value::Array(operations) => operations,
        other => {
            return Err(ApiError::bad_request(go_unmarshal_error(
                &other,
                "jsonpatch.Patch",
            )))
        }
    };
    if let Some(op) = operations.iter().find(|op| !op.is_object()) {
        return Err(ApiError::bad_request(go_unmarshal_error(
            op,
            "jsonpatch.Operation",
        )));
    }
    if operations.len() > MAX_JSON_PATCH_OPERATIONS {
        return Err(ApiError::too_large(format!(
            "Request entity too large: The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, got {}",
            operations.len()
        )));
    }
    let operations: Vec<json_patch::PatchOperation> = operations
        .into_iter()
        .map(serde_json::from_value)
        .collect::<Result<_, _>>()
        .map_err(|_| unprocessable())?;
    let mut doc = target.clone();
    json_patch::patch(&mut doc, &operations).map_err(|_| unprocessable())?;
    Ok(doc)
}

/// Applies an RFC 7386 JSON merge patch to `target`: objects merge, `null`
/// deletes, anything else replaces.
pub fn merge_patch(target: &Value, patch: &[u8]) -> Result<Value, ApiError> {
    let patch: Value =
        serde_json::from_slice(patch).map_err(|_| ApiError::bad_request("Invalid JSON Patch"))?;
    if !patch.is_object() {
        return Err(ApiError::bad_request("Invalid JSON Patch"));
    }
    let mut doc = target.clone();
    json_patch::merge(&mut doc, &patch);
    Ok(doc)
}

/// Applies a strategic merge patch to `target`, an object of `kind` in
/// `group`, with upstream's merge keys and strategies for built-in kinds
/// and the directives `$patch` (`replace`, `merge`, `delete`),
/// `$retainKeys`, `$setElementOrder/<list>` and
/// `$deleteFromPrimitiveList/<list>`.
///
/// Kinds that are not built in merge as a JSON merge patch would, except
/// that directives still apply; the API server refuses strategic merge
/// patches of custom resources before getting here, as upstream does.
pub fn strategic_merge_patch(
    group: &str,
    kind: &str,
    target: &Value,
    patch: &[u8],
) -> Result<Value, ApiError> {
    let patch: Value =
        serde_json::from_slice(patch).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let patch = match patch {
        Value::Object(map) => map,
        Value::Null => Map::new(),
        other => {
            return Err(ApiError::bad_request(go_unmarshal_error(
                &other,
                "map[string]interface {}",
            )))
        }
    };
    let original = match target {
        Value::Object(map) => map.clone(),
        _ => return Err(unknown_error("invalid JSON document".into())),
    };
    match strategic::merge_map(original, patch, schema::root(group, kind)) {
        Ok(merged) => Ok(Value::Object(merged)),
        Err(SmpError::BadRequest(message)) => Err(ApiError::bad_request(message)),
        Err(SmpError::Unprocessable) => Err(unprocessable()),
        Err(SmpError::Internal(message)) => Err(unknown_error(message)),
    }
}

/// Upstream's answer to a patch that does not apply: 422 with a message
/// that hides why, which kubectl prints as `The request is invalid: ...`.
fn unprocessable() -> ApiError {
    ApiError {
        code: 422,
        reason: "Invalid",
        message: "the server rejected our request due to an error in our request".into(),
        details: None,
    }
}

/// A 500 with reason `Unknown`: what upstream answers when its merge code
/// returns an error that is not a status.
fn unknown_error(message: String) -> ApiError {
    ApiError {
        code: 500,
        reason: "",
        message,
        details: None,
    }
}

/// Go's `json: cannot unmarshal <kind> into Go value of type <type>`.
fn go_unmarshal_error(value: &Value, into: &str) -> String {
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    format!("json: cannot unmarshal {kind} into Go value of type {into}")
}
