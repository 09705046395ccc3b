//! Label and field selectors: the `labelSelector` and `fieldSelector` query
//! parameters, the `LabelSelector` of workload specs, and the per-kind field
//! values a field selector can match, all with upstream's error messages.

pub mod field;
pub mod label;
mod validation;

pub use field::{fields_for, selectable_paths, Selector as FieldSelector};
pub use label::Selector as LabelSelector;

use crate::status::ApiError;

/// A selector that could not be parsed or does not apply to a resource. The
/// message is upstream's, and the API answers it as 400 Bad Request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectorError(pub String);

impl std::fmt::Display for SelectorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SelectorError {}

impl From<SelectorError> for ApiError {
    fn from(error: SelectorError) -> ApiError {
        ApiError::bad_request(error.0)
    }
}

/// A string quoted as Go's `%q` does, for messages that quote user input.
fn quote(text: &str) -> String {
    format!("{text:?}")
}
