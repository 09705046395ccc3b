//! Request bodies in Kubernetes' protobuf encoding
//! (`application/vnd.kubernetes.protobuf`), which kubectl's generator
//! commands (`kubectl create deployment|configmap|secret|...`) send.
//!
//! A body is the magic `k8s\0` followed by a `runtime.Unknown` message:
//! `{1 typeMeta {1 apiVersion, 2 kind}, 2 raw, 3 contentEncoding,
//! 4 contentType}`, where `raw` is the object's own message. [`decode`]
//! turns it into the JSON upstream's Go types would marshal to, so the rest
//! of the API server sees the same `serde_json::Value` as for a JSON body.
//!
//! Decoding is strict: a field the schema does not know is an error rather
//! than silently dropped data, and no input can make it panic.

mod schema;
mod types;
mod wire;

use std::borrow::Cow;

use serde_json::{Map, Number, Value};

use crate::status::ApiError;
use schema::{Kind, Msg, Shape, Ty};
use wire::{Fields, Wire};

/// The prefix of every Kubernetes protobuf body.
pub const MAGIC: &[u8] = b"k8s\0";

/// The media type of Kubernetes protobuf bodies.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// Messages nest deeper than this only in hostile input; the bound keeps
/// recursion (CRD schemas are recursive) off the end of the stack.
const MAX_DEPTH: usize = 100;

/// Decodes a protobuf request body into the object's JSON, with
/// `apiVersion` and `kind` from the envelope.
///
/// Fails with 400 BadRequest when the envelope is malformed, the kind is not
/// one the API knows, or the object has a field the schema does not know.
// `ApiError` is the crate's error type, returned once per request.
#[allow(clippy::result_large_err)]
pub fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let rest = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| bad("the body does not start with the protobuf magic \"k8s\\x00\""))?;
    let envelope = Envelope::parse(rest).map_err(|e| bad(&e))?;
    if !envelope.content_encoding.is_empty() {
        return Err(bad(&format!(
            "unsupported content encoding {:?}",
            envelope.content_encoding
        )));
    }
    if !envelope.content_type.is_empty() && envelope.content_type != CONTENT_TYPE {
        return Err(bad(&format!(
            "unsupported content type {:?} inside the envelope",
            envelope.content_type
        )));
    }
    if envelope.kind.is_empty() {
        return Err(bad("the envelope does not name a kind"));
    }
    let msg = types::lookup(&envelope.api_version, &envelope.kind).ok_or_else(|| {
        bad(&format!(
            "no kind {:?} is registered for version {:?}",
            envelope.kind, envelope.api_version
        ))
    })?;
    let mut object = object(msg, envelope.raw, 0).map_err(|e| bad(&e.to_string()))?;
    object.insert("apiVersion".into(), Value::String(envelope.api_version));
    object.insert("kind".into(), Value::String(envelope.kind));
    Ok(Value::Object(object))
}

fn bad(what: &str) -> ApiError {
    ApiError::bad_request(format!("unable to decode the protobuf body: {what}"))
}

/// `runtime.Unknown`, the envelope around the object.
#[derive(Default)]
struct Envelope<'a> {
    api_version: String,
    kind: String,
    raw: &'a [u8],
    content_encoding: String,
    content_type: String,
}

impl<'a> Envelope<'a> {
    fn parse(buf: &'a [u8]) -> Result<Self, String> {
        let mut envelope = Envelope::default();
        for field in Fields::new(buf) {
            match field? {
                (1, Wire::Len(type_meta)) => {
                    for field in Fields::new(type_meta) {
                        match field? {
                            (1, Wire::Len(v)) => envelope.api_version = utf8(v)?,
                            (2, Wire::Len(v)) => envelope.kind = utf8(v)?,
                            (tag, wire) => return Err(unexpected("typeMeta", tag, wire)),
                        }
                    }
                }
                (2, Wire::Len(raw)) => envelope.raw = raw,
                (3, Wire::Len(v)) => envelope.content_encoding = utf8(v)?,
                (4, Wire::Len(v)) => envelope.content_type = utf8(v)?,
                (tag, wire) => return Err(unexpected("the envelope", tag, wire)),
            }
        }
        Ok(envelope)
    }
}

fn unexpected(what: &str, tag: u32, wire: Wire<'_>) -> String {
    format!("unexpected {} field {tag} in {what}", wire.name())
}

fn utf8(bytes: &[u8]) -> Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| "a string is not valid UTF-8".into())
}

/// A decoding failure and the JSON path to where it happened.
struct Error {
    what: String,
    /// Innermost first.
    path: Vec<String>,
}

impl Error {
    fn at(mut self, segment: String) -> Self {
        self.path.push(segment);
        self
    }
}

impl From<String> for Error {
    fn from(what: String) -> Self {
        Error {
            what,
            path: Vec::new(),
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.what)?;
        if !self.path.is_empty() {
            f.write_str(" at ")?;
            for (i, segment) in self.path.iter().rev().enumerate() {
                if i > 0 && !segment.starts_with('[') {
                    f.write_str(".")?;
                }
                f.write_str(segment)?;
            }
        }
        Ok(())
    }
}

/// Decodes a message as its JSON value; `None` when upstream's JSON would
/// have nothing (a zero `Time`, an empty `RawExtension`).
fn message(msg: &'static Msg, buf: &[u8], depth: usize) -> Result<Option<Value>, Error> {
    let fields = object(msg, buf, depth)?;
    shape(msg, fields)
}

/// Decodes a message's fields into a JSON object keyed by the table's names.
fn object(msg: &'static Msg, buf: &[u8], depth: usize) -> Result<Map<String, Value>, Error> {
    if depth > MAX_DEPTH {
        return Err(format!("messages nest more than {MAX_DEPTH} deep").into());
    }
    // Group the occurrences of each field: a repeated one is a list, and a
    // singular message given twice is, as protobuf merges it, the
    // concatenation of both encodings.
    let mut seen: Vec<(usize, Wire)> = Vec::new();
    for field in Fields::new(buf) {
        let (tag, wire) = field?;
        let index = msg
            .fields
            .binary_search_by_key(&tag, |f| f.tag)
            .map_err(|_| format!("unknown field number {tag} in {} {}", msg.pkg, msg.name))?;
        seen.push((index, wire));
    }
    seen.sort_by_key(|(index, _)| *index);
    let mut out = Map::new();
    for group in seen.chunk_by(|a, b| a.0 == b.0) {
        let field = &msg.fields[group[0].0];
        let wires = group.iter().map(|(_, wire)| *wire);
        let at = |e: Error| e.at(field.name.to_string());
        match field.kind {
            Kind::Omit(ty) | Kind::Keep(ty) => {
                let Some(value) = single(ty, wires, depth).map_err(at)? else {
                    continue;
                };
                if matches!(field.kind, Kind::Keep(_)) || !is_zero(&value) {
                    out.insert(field.name.to_string(), value);
                }
            }
            Kind::Rep(ty) => {
                let mut items = Vec::new();
                for wire in wires {
                    repeated(ty, wire, depth, &mut items)
                        .map_err(|e| at(e.at(format!("[{}]", items.len()))))?;
                }
                if !items.is_empty() {
                    out.insert(field.name.to_string(), Value::Array(items));
                }
            }
            Kind::Map(ty) => {
                let mut map = Map::new();
                for wire in wires {
                    let (key, value) = entry(ty, wire, depth).map_err(at)?;
                    map.insert(key, value);
                }
                out.insert(field.name.to_string(), Value::Object(map));
            }
            Kind::Inline(sub) => {
                let bytes = concat(wires)?;
                out.extend(object(sub, &bytes, depth + 1)?);
            }
        }
    }
    Ok(out)
}

/// Go's `omitempty` test on a decoded value.
fn is_zero(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// The bytes of all occurrences of a length-delimited field, joined.
fn concat<'a>(wires: impl Iterator<Item = Wire<'a>>) -> Result<Cow<'a, [u8]>, String> {
    let mut bytes = Cow::Borrowed(&[][..]);
    let mut first = true;
    for wire in wires {
        let Wire::Len(chunk) = wire else {
            return Err(format!(
                "expected a length-delimited field, got {}",
                wire.name()
            ));
        };
        if first {
            bytes = Cow::Borrowed(chunk);
            first = false;
        } else {
            bytes.to_mut().extend_from_slice(chunk);
        }
    }
    Ok(bytes)
}

/// A singular field: a message merges all its occurrences, a scalar takes
/// the last, as protobuf does.
fn single<'a>(
    ty: Ty,
    wires: impl Iterator<Item = Wire<'a>>,
    depth: usize,
) -> Result<Option<Value>, Error> {
    if let Ty::M(msg) = ty {
        let bytes = concat(wires)?;
        return message(msg, &bytes, depth + 1);
    }
    let mut last = None;
    for wire in wires {
        last = scalar(ty, wire)?;
    }
    Ok(last)
}

/// One occurrence of a repeated field, which for numbers may be packed.
fn repeated(ty: Ty, wire: Wire<'_>, depth: usize, items: &mut Vec<Value>) -> Result<(), Error> {
    match (ty, wire) {
        (Ty::M(msg), Wire::Len(bytes)) => {
            items.push(message(msg, bytes, depth + 1)?.unwrap_or(Value::Null));
        }
        (Ty::Bool | Ty::I32 | Ty::I64, Wire::Len(mut packed)) => {
            while !packed.is_empty() {
                let raw = wire::varint(&mut packed)?;
                items.push(scalar(ty, Wire::Varint(raw))?.unwrap_or(Value::Null));
            }
        }
        (Ty::F64, Wire::Len(packed)) => {
            if packed.len() % 8 != 0 {
                return Err(String::from("packed doubles of a length not a multiple of 8").into());
            }
            for chunk in packed.chunks_exact(8) {
                let raw = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
                items.push(scalar(ty, Wire::Fixed64(raw))?.unwrap_or(Value::Null));
            }
        }
        _ => items.push(scalar(ty, wire)?.unwrap_or(Value::Null)),
    }
    Ok(())
}

/// One map entry `{1 key, 2 value}`; missing parts take their zero values.
fn entry(ty: Ty, wire: Wire<'_>, depth: usize) -> Result<(String, Value), Error> {
    let Wire::Len(bytes) = wire else {
        return Err(format!("expected a map entry, got a {} field", wire.name()).into());
    };
    let mut key = String::new();
    let mut value: Vec<Wire> = Vec::new();
    for field in Fields::new(bytes) {
        match field? {
            (1, Wire::Len(k)) => key = utf8(k)?,
            (2, v) => value.push(v),
            (tag, wire) => return Err(unexpected("a map entry", tag, wire).into()),
        }
    }
    let at = |e: Error| e.at(key.clone());
    let value = match (ty, value.is_empty()) {
        (Ty::M(msg), true) => message(msg, &[], depth + 1).map_err(at)?,
        (_, true) => scalar(ty, zero_wire(ty)).map_err(at)?,
        (_, false) => single(ty, value.into_iter(), depth).map_err(at)?,
    };
    Ok((key, value.unwrap_or(Value::Null)))
}

/// The wire form of a scalar's zero value.
fn zero_wire(ty: Ty) -> Wire<'static> {
    match ty {
        Ty::Bool | Ty::I32 | Ty::I64 => Wire::Varint(0),
        Ty::F64 => Wire::Fixed64(0),
        _ => Wire::Len(&[]),
    }
}

/// A scalar's JSON; `None` for empty embedded JSON.
fn scalar(ty: Ty, wire: Wire<'_>) -> Result<Option<Value>, Error> {
    let value = match (ty, wire) {
        (Ty::Str, Wire::Len(bytes)) => Value::String(utf8(bytes)?),
        (Ty::Bytes, Wire::Len(bytes)) => Value::String(base64(bytes)),
        (Ty::Json, Wire::Len(bytes)) => {
            if bytes.is_empty() {
                return Ok(None);
            }
            serde_json::from_slice(bytes).map_err(|e| format!("embedded JSON is invalid: {e}"))?
        }
        (Ty::Bool, Wire::Varint(v)) => Value::Bool(v != 0),
        // Go truncates an int32's (sign-extended) varint to 32 bits.
        (Ty::I32, Wire::Varint(v)) => Value::from(v as i32),
        (Ty::I64, Wire::Varint(v)) => Value::from(v as i64),
        (Ty::F64, Wire::Fixed64(v)) => float(f64::from_bits(v))?,
        (ty, wire) => {
            return Err(format!("expected {}, got a {} field", ty_name(ty), wire.name()).into());
        }
    };
    Ok(Some(value))
}

fn ty_name(ty: Ty) -> &'static str {
    match ty {
        Ty::Str => "a string",
        Ty::Bool => "a bool",
        Ty::I32 | Ty::I64 => "an integer",
        Ty::F64 => "a double",
        Ty::Bytes | Ty::Json => "bytes",
        Ty::M(_) => "a message",
    }
}

/// A double as Go's `encoding/json` writes it: integral values without a
/// fraction (`1`, not `1.0`).
fn float(f: f64) -> Result<Value, String> {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        return Ok(Value::from(f as i64));
    }
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| format!("{f} is not a JSON number"))
}

/// Standard base64 with padding, as Go's `encoding/json` writes `[]byte`.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Turns a decoded message into its JSON form according to its shape.
fn shape(msg: &'static Msg, mut fields: Map<String, Value>) -> Result<Option<Value>, Error> {
    let value = match msg.shape {
        Shape::Object => Value::Object(fields),
        // Upstream writes a zero time as an empty message.
        Shape::Time | Shape::MicroTime if fields.is_empty() => return Ok(None),
        Shape::Time | Shape::MicroTime => {
            let seconds = fields.get("seconds").and_then(Value::as_i64).unwrap_or(0);
            let nanos = fields.get("nanos").and_then(Value::as_i64).unwrap_or(0);
            Value::String(time(seconds, nanos, msg.shape == Shape::MicroTime)?)
        }
        Shape::IntOrString => match fields.get("type").and_then(Value::as_i64).unwrap_or(0) {
            0 => fields.remove("intVal").unwrap_or(Value::from(0)),
            1 => fields
                .remove("strVal")
                .unwrap_or_else(|| Value::String(String::new())),
            other => return Err(format!("IntOrString has invalid type {other}").into()),
        },
        Shape::Unwrap => match msg.fields.first().and_then(|f| fields.remove(f.name)) {
            Some(value) => value,
            None => return Ok(None),
        },
        Shape::OrArray => match fields
            .remove("jSONSchemas")
            .or_else(|| fields.remove("schema"))
        {
            Some(value) => value,
            None => return Ok(None),
        },
        Shape::OrBool => fields
            .remove("schema")
            .or_else(|| fields.remove("allows"))
            .unwrap_or(Value::Bool(false)),
        Shape::OrStringArray => match fields
            .remove("property")
            .or_else(|| fields.remove("schema"))
        {
            Some(value) => value,
            None => return Ok(None),
        },
    };
    Ok(Some(value))
}

/// `metav1.Time` and `metav1.MicroTime` as their JSON: RFC 3339 in UTC, to
/// the second or to the microsecond.
fn time(seconds: i64, nanos: i64, micro: bool) -> Result<String, String> {
    // Go's time.Unix carries nanoseconds outside [0, 1e9) into the seconds.
    let seconds = seconds.checked_add(nanos.div_euclid(1_000_000_000));
    let nanos = nanos.rem_euclid(1_000_000_000);
    let timestamp = seconds
        .and_then(|s| jiff::Timestamp::new(s, nanos as i32).ok())
        .filter(|t| (0..=9999).contains(&t.to_zoned(jiff::tz::TimeZone::UTC).year()))
        .ok_or_else(|| "time is outside the years 0 to 9999".to_string())?;
    let format = if micro {
        "%Y-%m-%dT%H:%M:%S.%6fZ"
    } else {
        "%Y-%m-%dT%H:%M:%SZ"
    };
    Ok(timestamp.strftime(format).to_string())
}

#[cfg(test)]
mod tests;
