//! What the Kubernetes API is made of, without any I/O: the resource table,
//! errors as `Status`, selectors, defaulting, validation and the columns
//! `kubectl get` prints. The API server serves every resource through one
//! generic code path driven by this crate.

pub mod apply;
pub mod convert;
pub mod cron;
pub mod defaults;
pub mod openapi;
pub mod patch;
pub mod protobuf;
pub mod resource;
pub mod selector;
pub mod status;
pub mod table;
pub mod toleration;
pub mod validation;

pub use resource::Resource;
pub use status::{ApiError, FieldError, FieldErrorKind};
