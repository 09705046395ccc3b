use crate::{KeyValue, Revision};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Everything that can go wrong in the store. The API server maps each to a
/// Kubernetes `Status` (404, 409, 410, 413, 503, ...).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    #[error("key not found: {key}")]
    NotFound { key: String },

    #[error("key already exists: {key}")]
    AlreadyExists { key: String },

    /// A guarded write found another `mod_revision` than it expected.
    #[error("conflict on {}: expected mod revision {expected}, found {}", current.key, current.mod_revision)]
    Conflict {
        expected: Revision,
        current: Box<KeyValue>,
    },

    /// The requested revision is older than the compacted revision.
    #[error("required revision {requested} has been compacted (compacted revision {compacted})")]
    Compacted {
        requested: Revision,
        compacted: Revision,
    },

    /// The requested revision is newer than the latest write.
    #[error("required revision {requested} is a future revision (current revision {current})")]
    FutureRevision {
        requested: Revision,
        current: Revision,
    },

    #[error("value of {size} bytes is over the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },

    /// The backend cannot serve now: disk error, etcd unreachable, shut down.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

impl StoreError {
    pub(crate) fn unavailable(error: impl std::fmt::Display) -> Self {
        StoreError::Unavailable(error.to_string())
    }
}
