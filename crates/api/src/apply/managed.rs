//! `metadata.managedFields`: who owns which fields, read from and written
//! to objects as upstream encodes them.

use serde_json::{json, Map, Value};

use super::fieldpath::Set;
use super::fields_v1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Operation {
    Apply,
    Update,
}

impl Operation {
    fn name(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// Who wrote: a manager entry is identified by these, not by its time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Manager {
    pub name: String,
    pub operation: Operation,
    /// Part of the identity of updaters only: appliers own their fields
    /// whatever version they applied.
    pub api_version: String,
    pub subresource: String,
}

impl Manager {
    pub fn new(name: &str, operation: Operation, api_version: &str, subresource: &str) -> Manager {
        Manager {
            name: if name.is_empty() {
                "unknown".into()
            } else {
                name.into()
            },
            operation,
            api_version: api_version.into(),
            subresource: subresource.into(),
        }
    }

    pub fn same(&self, other: &Manager) -> bool {
        self.name == other.name
            && self.operation == other.operation
            && self.subresource == other.subresource
            && (self.operation == Operation::Apply || self.api_version == other.api_version)
    }

    /// Upstream's manager identifier, a JSON object, used to order managers
    /// in messages.
    pub fn identifier(&self) -> String {
        let mut out = format!(
            "{{\"manager\":{},\"operation\":\"{}\"",
            fields_v1::go_json_string(&self.name),
            self.operation.name()
        );
        if self.operation == Operation::Update && !self.api_version.is_empty() {
            out.push_str(&format!(
                ",\"apiVersion\":{}",
                fields_v1::go_json_string(&self.api_version)
            ));
        }
        if !self.subresource.is_empty() {
            out.push_str(&format!(
                ",\"subresource\":{}",
                fields_v1::go_json_string(&self.subresource)
            ));
        }
        out.push('}');
        out
    }

    /// `"kubectl-client-side-apply" using apps/v1`, as conflicts name it.
    pub fn describe(&self) -> String {
        let mut out = format!("{:?}", self.name);
        if !self.subresource.is_empty() {
            out.push_str(&format!(" with subresource {:?}", self.subresource));
        }
        if self.operation == Operation::Update {
            out.push_str(&format!(" using {}", self.api_version));
        }
        out
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub manager: Manager,
    pub time: Option<String>,
    pub set: Set,
}

/// All the entries of an object.
#[derive(Clone, Debug, Default)]
pub(crate) struct Managed {
    pub entries: Vec<Entry>,
}

impl Managed {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, manager: &Manager) -> Option<&Entry> {
        self.entries.iter().find(|e| e.manager.same(manager))
    }

    pub fn get_mut(&mut self, manager: &Manager) -> Option<&mut Entry> {
        self.entries.iter_mut().find(|e| e.manager.same(manager))
    }

    /// Sets the fields of `manager`, keeping its time.
    pub fn set(&mut self, manager: &Manager, set: Set) {
        match self.get_mut(manager) {
            Some(entry) => {
                entry.set = set;
                entry.manager = manager.clone();
            }
            None => self.entries.push(Entry {
                manager: manager.clone(),
                time: None,
                set,
            }),
        }
    }

    pub fn remove(&mut self, manager: &Manager) {
        self.entries.retain(|e| !e.manager.same(manager));
    }

    pub fn drop_empty(&mut self) {
        self.entries.retain(|e| !e.set.is_empty());
    }

    /// Every field someone owns.
    pub fn union(&self) -> Set {
        self.entries
            .iter()
            .fold(Set::new(), |all, e| all.union(&e.set))
    }

    /// Reads `managedFields`; an entry upstream would refuse makes it all
    /// unreadable.
    pub fn decode(value: Option<&Value>) -> Result<Managed, String> {
        let items = match value {
            None | Some(Value::Null) => return Ok(Managed::default()),
            Some(Value::Array(items)) => items,
            Some(_) => return Err("managedFields must be a list".into()),
        };
        let mut managed = Managed::default();
        for (i, item) in items.iter().enumerate() {
            let text = |key: &str| item.get(key).and_then(Value::as_str).unwrap_or("");
            let operation = match text("operation") {
                "Apply" => Operation::Apply,
                "Update" => Operation::Update,
                _ => return Err("operation must be `Apply` or `Update`".into()),
            };
            if text("apiVersion").is_empty() {
                return Err("apiVersion must not be empty".into());
            }
            match text("fieldsType") {
                "FieldsV1" => {}
                "" => return Err(format!("missing fieldsType in managed fields entry {i}")),
                other => {
                    return Err(format!(
                        "invalid fieldsType {other:?} in managed fields entry {i}"
                    ))
                }
            }
            let set = match item.get("fieldsV1") {
                Some(fields) => fields_v1::decode(fields)?,
                None => Set::new(),
            };
            let manager = Manager {
                name: text("manager").to_string(),
                operation,
                api_version: text("apiVersion").to_string(),
                subresource: text("subresource").to_string(),
            };
            let time = item.get("time").and_then(Value::as_str).map(str::to_string);
            managed.remove(&manager);
            managed.entries.push(Entry { manager, time, set });
        }
        Ok(managed)
    }

    /// The `managedFields` list, in upstream's order: appliers first, then
    /// by time, manager, version and subresource. `None` when empty.
    pub fn encode(&self) -> Option<Value> {
        if self.entries.is_empty() {
            return None;
        }
        let mut entries: Vec<&Entry> = self.entries.iter().collect();
        entries.sort_by(|a, b| {
            (
                a.manager.operation,
                seconds(a.time.as_deref()),
                &a.manager.name,
                &a.manager.api_version,
                &a.manager.subresource,
            )
                .cmp(&(
                    b.manager.operation,
                    seconds(b.time.as_deref()),
                    &b.manager.name,
                    &b.manager.api_version,
                    &b.manager.subresource,
                ))
        });
        let encoded = entries
            .into_iter()
            .map(|entry| {
                let mut out = Map::new();
                out.insert("manager".into(), json!(entry.manager.name));
                out.insert("operation".into(), json!(entry.manager.operation.name()));
                out.insert("apiVersion".into(), json!(entry.manager.api_version));
                if let Some(time) = &entry.time {
                    out.insert("time".into(), json!(time));
                }
                out.insert("fieldsType".into(), json!("FieldsV1"));
                out.insert("fieldsV1".into(), fields_v1::encode(&entry.set));
                if !entry.manager.subresource.is_empty() {
                    out.insert("subresource".into(), json!(entry.manager.subresource));
                }
                Value::Object(out)
            })
            .collect();
        Some(Value::Array(encoded))
    }

    /// Keeps at most `max` updaters: the oldest merge into one
    /// `ancient-changes` entry per version, as upstream caps them.
    pub fn cap_updaters(&mut self, max: usize) {
        let mut updaters: Vec<usize> = (0..self.entries.len())
            .filter(|&i| self.entries[i].manager.operation == Operation::Update)
            .collect();
        if updaters.len() <= max {
            return;
        }
        updaters.sort_by(|&a, &b| {
            let (a, b) = (&self.entries[a], &self.entries[b]);
            (seconds(a.time.as_deref()), a.manager.identifier())
                .cmp(&(seconds(b.time.as_deref()), b.manager.identifier()))
        });
        let mut remaining = updaters.len();
        let mut first_of_version: Vec<(String, Manager)> = Vec::new();
        let mut merged = Vec::new();
        for &index in &updaters {
            if remaining <= max {
                break;
            }
            let entry = self.entries[index].clone();
            let version = entry.manager.api_version.clone();
            let bucket = Manager::new("ancient-changes", Operation::Update, &version, "");
            let Some((_, first)) = first_of_version.iter().find(|(v, _)| *v == version) else {
                first_of_version.push((version, entry.manager.clone()));
                continue;
            };
            if self.get(&bucket).is_none() {
                // The first of this version becomes the bucket.
                let first_entry = self.get(first).cloned().unwrap_or(Entry {
                    manager: bucket.clone(),
                    time: None,
                    set: Set::new(),
                });
                merged.push(first.clone());
                self.entries.push(Entry {
                    manager: bucket.clone(),
                    time: first_entry.time,
                    set: first_entry.set,
                });
            }
            if let Some(bucket_entry) = self.get_mut(&bucket) {
                bucket_entry.set = entry.set.union(&bucket_entry.set);
                bucket_entry.time = entry.time.clone();
            }
            merged.push(entry.manager);
            remaining -= 1;
        }
        self.entries.retain(|e| {
            !merged.iter().any(|m| m.same(&e.manager)) || e.manager.name == "ancient-changes"
        });
    }
}

/// Seconds since the epoch of an RFC 3339 time; 0 when absent.
fn seconds(time: Option<&str>) -> i64 {
    time.and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map_or(0, |t| t.as_second())
}
