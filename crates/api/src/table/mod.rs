//! What `kubectl get` prints: the columns of a `meta.k8s.io/v1` `Table` for
//! each resource and the cells of one object, as upstream's printers
//! (`pkg/printers/internalversion`) compute them.
//!
//! Cells are always computed as upstream's API server does, with the wide
//! columns included; kubectl hides `priority: 1` columns unless `-o wide`.

mod cluster;
mod core_v1;
mod docs;
mod pod;
mod workloads;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use serde_json::Value;

use crate::resource::Resource;

/// One column, serialised as a `TableColumnDefinition`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Column {
    pub name: &'static str,
    /// `string`, `integer`, `boolean` or `date`.
    #[serde(rename = "type")]
    pub type_: &'static str,
    /// `name` for the column holding the object's name, else empty.
    pub format: &'static str,
    pub description: &'static str,
    /// 0 always shown, 1 only with `-o wide`.
    pub priority: i32,
}

impl Column {
    const fn new(name: &'static str, type_: &'static str, description: &'static str) -> Column {
        Column {
            name,
            type_,
            format: "",
            description,
            priority: 0,
        }
    }

    const fn string(name: &'static str, description: &'static str) -> Column {
        Column::new(name, "string", description)
    }

    const fn integer(name: &'static str, description: &'static str) -> Column {
        Column::new(name, "integer", description)
    }

    const fn boolean(name: &'static str, description: &'static str) -> Column {
        Column::new(name, "boolean", description)
    }

    const fn named(self) -> Column {
        Column {
            format: "name",
            ..self
        }
    }

    const fn wide(self) -> Column {
        Column {
            priority: 1,
            ..self
        }
    }
}

const NAME: Column = Column::string("Name", docs::NAME).named();
const AGE: Column = Column::string("Age", docs::CREATION_TIMESTAMP);
const CONTAINERS_DOC: &str = "Names of each container in the template.";
const IMAGES_DOC: &str = "Images referenced by each container in the template.";
const CONTAINERS: Column = Column::string("Containers", CONTAINERS_DOC).wide();
const IMAGES: Column = Column::string("Images", IMAGES_DOC).wide();

/// Upstream's default for resources without a printer of their own
/// (roles, cluster roles, limit ranges, custom resource definitions).
const DEFAULT: &[Column] = &[
    NAME,
    Column::new("Created At", "date", docs::CREATION_TIMESTAMP),
];

/// The object being printed and the time its ages are measured at.
struct Row<'a> {
    object: &'a Value,
    now: Timestamp,
}

impl<'a> Row<'a> {
    fn get(&self, path: &str) -> Option<&'a Value> {
        get(self.object, path)
    }

    fn str(&self, path: &str) -> &'a str {
        str_at(self.object, path)
    }

    fn int(&self, path: &str) -> i64 {
        int_at(self.object, path).unwrap_or(0)
    }

    fn list(&self, path: &str) -> &'a [Value] {
        list_at(self.object, path)
    }

    fn name(&self) -> Value {
        self.str("metadata.name").into()
    }

    /// The AGE cell.
    fn age(&self) -> Value {
        self.since("metadata.creationTimestamp").into()
    }

    /// The time since the timestamp at `path`, `<unknown>` when unset.
    fn since(&self, path: &str) -> String {
        since(timestamp_at(self.object, path), self.now)
    }

    fn deleting(&self) -> bool {
        self.get("metadata.deletionTimestamp")
            .is_some_and(|v| !v.is_null())
    }
}

type Cells = fn(&Row) -> Vec<Value>;

/// The columns and the cell function of a resource.
fn printer(resource: &Resource) -> (&'static [Column], Cells) {
    if let Some(found) = pod::printer(resource)
        .or_else(|| core_v1::printer(resource))
        .or_else(|| workloads::printer(resource))
        .or_else(|| cluster::printer(resource))
    {
        return found;
    }
    (DEFAULT, default_cells)
}

fn default_cells(row: &Row) -> Vec<Value> {
    // Upstream prints the raw creation time here, RFC 3339 in UTC, and
    // Go's zero time when there is none.
    let created = timestamp_at(row.object, "metadata.creationTimestamp")
        .and_then(|t| Timestamp::from_second(t.as_second()).ok())
        .map_or_else(|| "0001-01-01T00:00:00Z".to_string(), |t| t.to_string());
    vec![row.name(), created.into()]
}

/// The columns `kubectl get` shows for `resource`.
pub fn columns(resource: &Resource) -> Vec<Column> {
    printer(resource).0.to_vec()
}

/// The cells of one object of `resource`, one per column, ages measured at
/// `now`.
pub fn cells(resource: &Resource, object: &Value, now: Timestamp) -> Vec<Value> {
    (printer(resource).1)(&Row { object, now })
}

/// The `conditions` of a table row: upstream marks finished pods
/// `Completed` so that clients can tell them apart.
pub fn row_conditions(resource: &Resource, object: &Value) -> Vec<Value> {
    if resource.group.is_empty() && resource.plural == "pods" {
        pod::row_conditions(object)
    } else {
        Vec::new()
    }
}

/// A duration as upstream's `duration.HumanDuration`, which `kubectl get`
/// uses for ages: `59s`, `119s`, `2m3s` below ten minutes, `179m`, `7h59m`,
/// `47h`, `7d23h`, `729d`, `7y364d`, `8y`.
pub fn human_duration(duration: SignedDuration) -> String {
    let nanos = duration.as_nanos();
    let seconds = nanos / 1_000_000_000;
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    if seconds < 0 {
        return "0s".to_string();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{days}d")
        } else {
            format!("{days}d{h}h")
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{days}d");
    }
    let years = days / 365;
    if hours < 24 * 365 * 8 {
        let d = days % 365;
        return if d == 0 {
            format!("{years}y")
        } else {
            format!("{years}y{d}d")
        };
    }
    format!("{years}y")
}

/// Upstream's `translateTimestampSince`: the age of a timestamp, or
/// `<unknown>` when it is unset.
fn since(time: Option<Timestamp>, now: Timestamp) -> String {
    match time {
        Some(time) => human_duration(now.duration_since(time)),
        None => "<unknown>".to_string(),
    }
}

fn get<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |v, key| v.get(key))
}

fn str_at<'a>(value: &'a Value, path: &str) -> &'a str {
    get(value, path).and_then(Value::as_str).unwrap_or_default()
}

fn int_at(value: &Value, path: &str) -> Option<i64> {
    let value = get(value, path)?;
    value.as_i64().or_else(|| value.as_f64().map(|f| f as i64))
}

fn bool_at(value: &Value, path: &str) -> Option<bool> {
    get(value, path).and_then(Value::as_bool)
}

fn list_at<'a>(value: &'a Value, path: &str) -> &'a [Value] {
    get(value, path)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn map_len(value: &Value, path: &str) -> usize {
    get(value, path)
        .and_then(Value::as_object)
        .map_or(0, serde_json::Map::len)
}

fn timestamp_at(value: &Value, path: &str) -> Option<Timestamp> {
    str_at(value, path).parse().ok()
}

/// A quantity or int-or-string as text; a quantity that is unset prints as
/// upstream's zero quantity, `0`.
fn quantity(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "0".to_string(),
    }
}

/// The CONTAINERS and IMAGES cells of a pod spec.
fn containers(spec: Option<&Value>) -> [Value; 2] {
    let list = spec.map_or(&[][..], |spec| list_at(spec, "containers"));
    let names: Vec<&str> = list.iter().map(|c| str_at(c, "name")).collect();
    let images: Vec<&str> = list.iter().map(|c| str_at(c, "image")).collect();
    [names.join(",").into(), images.join(",").into()]
}

/// A `LabelSelector` at `path` as `metav1.FormatLabelSelector` prints it.
fn label_selector(row: &Row, path: &str) -> Value {
    let selector = row
        .get(path)
        .and_then(|v| serde_json::from_value(v.clone()).ok());
    crate::selector::label::format_label_selector(selector.as_ref()).into()
}

/// A string map at `path` as `labels.FormatLabels` prints it.
fn label_map(row: &Row, path: &str) -> Value {
    let map = row
        .get(path)
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    crate::selector::label::format_labels(&map).into()
}

/// `a,b,c + 2 more...` as upstream shortens long lists, or `<unset>`.
fn list_with_more(list: &[String], more: bool, count: usize, max: usize) -> String {
    let joined = list.join(",");
    if more {
        format!("{joined} + {} more...", count - max)
    } else if joined.is_empty() {
        "<unset>".to_string()
    } else {
        joined
    }
}

#[cfg(test)]
mod tests;
