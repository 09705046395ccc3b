//! The messages of api/resource.

use super::super::schema::*;

const PKG: &str = "api/resource";

msg! { Quantity as Unwrap [(1, "string", Keep(Str))] }
