//! The messages of runtime.

use super::super::schema::*;

const PKG: &str = "runtime";

msg! { RawExtension as Unwrap [(1, "raw", Keep(Json))] }
