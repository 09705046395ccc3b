//! The messages of util/intstr.

use super::super::schema::*;

const PKG: &str = "util/intstr";

msg! { IntOrString as IntOrString [
    (1, "type", Keep(I64)),
    (2, "intVal", Keep(I32)),
    (3, "strVal", Keep(Str)),
] }
