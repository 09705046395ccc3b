//! How a protobuf message maps onto upstream's JSON: one table entry per
//! message type, one per field. Kubernetes names its proto fields after the
//! JSON keys, so the table carries JSON names directly.

/// A message type.
pub struct Msg {
    /// The Go package, for error messages, e.g. `core/v1`.
    pub pkg: &'static str,
    /// The Go type name, which is also the kind of top-level objects.
    pub name: &'static str,
    pub shape: Shape,
    /// Sorted by tag.
    pub fields: &'static [Field],
}

pub struct Field {
    pub tag: u32,
    /// The JSON key; empty for inlined structs.
    pub name: &'static str,
    pub kind: Kind,
}

/// How a field sits in its message.
#[derive(Clone, Copy)]
pub enum Kind {
    /// A Go value field tagged `omitempty`: Go's generated marshaller writes
    /// it even when zero, but its JSON leaves zero values out.
    Omit(Ty),
    /// A pointer, or a value without `omitempty`: on the wire means in JSON,
    /// zero or not (`replicas: 0`).
    Keep(Ty),
    /// A repeated field: a JSON array, left out when empty.
    Rep(Ty),
    /// A proto map (repeated entries `{1 key, 2 value}`) with string keys.
    Map(Ty),
    /// An embedded Go struct whose fields JSON puts in the enclosing object,
    /// e.g. `VolumeSource` in `Volume`.
    Inline(&'static Msg),
}

/// What a value is on the wire and in JSON.
#[derive(Clone, Copy)]
pub enum Ty {
    Str,
    Bool,
    /// Varint, truncated to 32 bits as Go does.
    I32,
    I64,
    F64,
    /// Opaque bytes: base64 in JSON, as Go's `encoding/json` writes `[]byte`.
    Bytes,
    /// Bytes holding JSON text (`RawExtension`, `FieldsV1`, CRD `JSON`).
    Json,
    M(&'static Msg),
}

/// What a message's JSON looks like.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Shape {
    Object,
    /// `{1 seconds, 2 nanos}` as RFC 3339 to the second.
    Time,
    /// `{1 seconds, 2 nanos}` as RFC 3339 to the microsecond.
    MicroTime,
    /// `{1 type, 2 intVal, 3 strVal}` as a JSON number or string.
    IntOrString,
    /// A wrapper whose JSON is its one field: `Quantity`, `RawExtension`,
    /// `FieldsV1`, `JSON`, `ExtraValue`.
    Unwrap,
    /// `JSONSchemaPropsOrArray`: the array if set, else the schema.
    OrArray,
    /// `JSONSchemaPropsOrBool`: the schema if set, else the bool.
    OrBool,
    /// `JSONSchemaPropsOrStringArray`: the strings if set, else the schema.
    OrStringArray,
}

/// `msg! { Name [(tag, "json", Kind), ...] }` declares the message type
/// `Name` of the file's package `PKG`; `msg! { Name as Shape [...] }` one
/// whose JSON is not an object.
macro_rules! msg {
    ($name:ident [$(($tag:literal, $json:literal, $kind:expr)),* $(,)?]) => {
        msg! { $name as Object [$(($tag, $json, $kind)),*] }
    };
    ($name:ident as $shape:ident [$(($tag:literal, $json:literal, $kind:expr)),* $(,)?]) => {
        pub static $name: Msg = Msg {
            pkg: PKG,
            name: stringify!($name),
            shape: Shape::$shape,
            fields: &[$(Field { tag: $tag, name: $json, kind: $kind }),*],
        };
    };
}

pub(super) use msg;
pub use Kind::*;
pub use Ty::*;
