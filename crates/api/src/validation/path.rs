//! Field paths as upstream's `field.Path` prints them, and read-only access
//! to JSON objects with Go's zero values for absent fields: validation runs
//! on what the client sent, where any field may be missing or mistyped.

use serde_json::{Map, Value};

use crate::status::{FieldError, FieldErrorKind};

/// `spec.containers[0].image`, `metadata.labels`, `data[key]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Path(String);

impl Path {
    pub fn new(name: &str) -> Path {
        Path(name.to_string())
    }

    /// The path of a whole object, which upstream prints as `[]`.
    pub fn root() -> Path {
        Path("[]".to_string())
    }

    pub fn child(&self, name: &str) -> Path {
        if self.0.is_empty() {
            Path(name.to_string())
        } else {
            Path(format!("{}.{name}", self.0))
        }
    }

    pub fn index(&self, index: usize) -> Path {
        Path(format!("{}[{index}]", self.0))
    }

    pub fn key(&self, key: &str) -> Path {
        Path(format!("{}[{key}]", self.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn required(&self, detail: &str) -> FieldError {
        FieldError::required(self.0.clone(), detail)
    }

    pub fn invalid(&self, value: impl Into<Value>, detail: &str) -> FieldError {
        FieldError::invalid(self.0.clone(), value, detail)
    }

    /// An invalid value printed the way Go's `%#v` or `Stringer` prints it
    /// (maps, lists, structs, IntOrString), which JSON cannot show.
    pub fn invalid_shown(&self, shown: &str, detail: &str) -> FieldError {
        let detail = if detail.is_empty() {
            shown.to_string()
        } else {
            format!("{shown}: {detail}")
        };
        FieldError::new(FieldErrorKind::Invalid, self.0.clone(), None, detail)
    }

    pub fn not_supported(&self, value: impl Into<Value>, valid: &[&str]) -> FieldError {
        FieldError::not_supported(self.0.clone(), value, valid)
    }

    pub fn duplicate(&self, value: impl Into<Value>) -> FieldError {
        FieldError::duplicate(self.0.clone(), value)
    }

    pub fn duplicate_shown(&self, shown: &str) -> FieldError {
        FieldError::new(FieldErrorKind::Duplicate, self.0.clone(), None, shown)
    }

    pub fn forbidden(&self, detail: &str) -> FieldError {
        FieldError::forbidden(self.0.clone(), detail)
    }

    pub fn not_found(&self, value: impl Into<Value>) -> FieldError {
        FieldError::not_found(self.0.clone(), value)
    }

    pub fn too_long(&self, max: usize) -> FieldError {
        FieldError::too_long(self.0.clone(), max)
    }

    pub fn too_many(&self, actual: usize, max: usize) -> FieldError {
        FieldError::too_many(self.0.clone(), actual, max)
    }

    /// One `Invalid` per message, as upstream's `for _, msg := range ...`.
    pub fn invalid_each(&self, value: &str, messages: Vec<String>) -> Vec<FieldError> {
        messages
            .iter()
            .map(|msg| self.invalid(value, msg))
            .collect()
    }
}

/// A field that is present and not null.
pub fn get<'a>(object: &'a Value, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|value| !value.is_null())
}

/// A string field, `""` when absent, as Go's zero value.
pub fn s<'a>(object: &'a Value, key: &str) -> &'a str {
    object.get(key).and_then(Value::as_str).unwrap_or("")
}

/// A list field, empty when absent.
pub fn arr<'a>(object: &'a Value, key: &str) -> &'a [Value] {
    object
        .get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

pub fn obj<'a>(object: &'a Value, key: &str) -> Option<&'a Map<String, Value>> {
    object.get(key).and_then(Value::as_object)
}

/// A number field; floats with no fraction count as integers.
pub fn int(object: &Value, key: &str) -> Option<i64> {
    object.get(key).and_then(as_int)
}

pub fn as_int(value: &Value) -> Option<i64> {
    value.as_i64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
            .map(|f| f as i64)
    })
}

/// A number field, 0 when absent.
pub fn int0(object: &Value, key: &str) -> i64 {
    int(object, key).unwrap_or(0)
}

pub fn boolean(object: &Value, key: &str) -> Option<bool> {
    object.get(key).and_then(Value::as_bool)
}

/// A `map[string]string` field as sorted pairs; non-string values count as
/// empty strings.
pub fn str_map<'a>(object: &'a Value, key: &str) -> Vec<(&'a str, &'a str)> {
    let mut pairs: Vec<(&str, &str)> = obj(object, key)
        .map(|map| {
            map.iter()
                .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    pairs.sort();
    pairs
}

/// A nested field by a dotted list of keys.
pub fn dig<'a>(object: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    let mut current = object;
    for key in keys {
        current = get(current, key)?;
    }
    Some(current)
}

/// The value at `keys`, or JSON null: for comparing fields on update.
pub fn dig_or_null<'a>(object: &'a Value, keys: &[&str]) -> &'a Value {
    dig(object, keys).unwrap_or(&Value::Null)
}

/// Go's `%#v` of a `map[string]string`.
pub fn go_string_map(value: Option<&Value>) -> String {
    match value.and_then(Value::as_object) {
        None => "map[string]string(nil)".to_string(),
        Some(map) => {
            let mut pairs: Vec<(&String, &Value)> = map.iter().collect();
            pairs.sort_by(|a, b| a.0.cmp(b.0));
            let inner: Vec<String> = pairs
                .iter()
                .map(|(k, v)| format!("{:?}:{:?}", k, v.as_str().unwrap_or("")))
                .collect();
            format!("map[string]string{{{}}}", inner.join(", "))
        }
    }
}

/// Go's `%#v` of a `[]string`.
pub fn go_string_list(values: &[Value]) -> String {
    if values.is_empty() {
        return "[]string(nil)".to_string();
    }
    let inner: Vec<String> = values
        .iter()
        .map(|v| format!("{:?}", v.as_str().unwrap_or("")))
        .collect();
    format!("[]string{{{}}}", inner.join(", "))
}

/// Go's `%#v` of a `metav1.LabelSelector`, as upstream prints selectors.
pub fn go_label_selector(selector: Option<&Value>) -> String {
    let Some(selector) = selector.filter(|v| v.is_object()) else {
        return "null".to_string();
    };
    let labels = get(selector, "matchLabels");
    let labels = if labels.is_some() {
        go_string_map(labels)
    } else {
        "map[string]string(nil)".to_string()
    };
    let exprs = arr(selector, "matchExpressions");
    let exprs = if exprs.is_empty() {
        "[]v1.LabelSelectorRequirement(nil)".to_string()
    } else {
        let items: Vec<String> = exprs
            .iter()
            .map(|e| {
                format!(
                    "v1.LabelSelectorRequirement{{Key:{:?}, Operator:{:?}, Values:{}}}",
                    s(e, "key"),
                    s(e, "operator"),
                    go_string_list(arr(e, "values"))
                )
            })
            .collect();
        format!("[]v1.LabelSelectorRequirement{{{}}}", items.join(", "))
    };
    format!("v1.LabelSelector{{MatchLabels:{labels}, MatchExpressions:{exprs}}}")
}

/// How an `IntOrString` prints (it is a `Stringer`): bare.
pub fn int_or_string(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Number(n) => n.to_string(),
        Value::Null => "0".to_string(),
        other => other.to_string(),
    }
}

/// Semantic equality of two optional fields where absent, null and an empty
/// map or list mean the same, as Go's nil and empty compare equal after a
/// JSON round trip through `omitempty` fields.
pub fn same(a: &Value, b: &Value) -> bool {
    fn empty(v: &Value) -> bool {
        match v {
            Value::Null => true,
            Value::Object(m) => m.is_empty(),
            Value::Array(a) => a.is_empty(),
            _ => false,
        }
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().all(|k| {
                same(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                )
            })
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ if empty(a) && empty(b) => true,
        (Value::Bool(false), Value::Null) | (Value::Null, Value::Bool(false)) => true,
        (Value::String(t), Value::Null) | (Value::Null, Value::String(t)) => t.is_empty(),
        (Value::Number(n), Value::Null) | (Value::Null, Value::Number(n)) => {
            n.as_f64() == Some(0.0)
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_print_as_upstream() {
        let p = Path::new("spec")
            .child("containers")
            .index(0)
            .child("image");
        assert_eq!(p.as_str(), "spec.containers[0].image");
        assert_eq!(Path::new("data").key("a b").as_str(), "data[a b]");
        assert_eq!(Path::root().as_str(), "[]");
    }

    #[test]
    fn go_values() {
        let labels = json!({"b": "2", "a": "1"});
        assert_eq!(
            go_string_map(Some(&labels)),
            r#"map[string]string{"a":"1", "b":"2"}"#
        );
        assert_eq!(go_string_map(None), "map[string]string(nil)");
        assert_eq!(int_or_string(&json!("25%")), "25%");
    }

    #[test]
    fn semantic_equality_ignores_empty_and_absent() {
        assert!(same(&json!({"a": null, "b": []}), &json!({})));
        assert!(same(&json!({"x": 1}), &json!({"x": 1.0})));
        assert!(!same(&json!({"x": 1}), &json!({"x": 2})));
        assert!(same(&json!({"f": false}), &json!({})));
    }
}
