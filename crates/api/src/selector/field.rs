//! Field selectors as upstream's `k8s.io/apimachinery/pkg/fields`, with the
//! per-kind field labels the API server accepts and the values it matches
//! them against.
//!
//! Upstream keeps two lists per kind that do not agree: the labels a request
//! may use (the version's field-label conversion) and the values an object
//! offers (the registry's `ToSelectableFields`). Both are kept here, so that
//! e.g. `status.podIPs` is accepted on pods and then matches nothing.

use std::fmt;

use serde_json::Value;

use super::{quote, SelectorError};
use crate::resource::Resource;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operator {
    /// `=` or `==`.
    Equals,
    /// `!=`.
    NotEquals,
}

/// One `field=value` or `field!=value` term.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    pub field: String,
    pub operator: Operator,
    pub value: String,
}

impl Requirement {
    fn matches(&self, fields: &[(String, String)]) -> bool {
        // An absent field reads as the empty string, as in upstream's
        // `fields.Set`.
        let have = fields
            .iter()
            .find(|(name, _)| *name == self.field)
            .map_or("", |(_, value)| value.as_str());
        (have == self.value) == (self.operator == Operator::Equals)
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.operator {
            Operator::Equals => "=",
            Operator::NotEquals => "!=",
        };
        write!(f, "{}{op}{}", self.field, escape_value(&self.value))
    }
}

/// A conjunction of terms; the default selector matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

impl Selector {
    pub fn everything() -> Selector {
        Selector::default()
    }

    /// Parses `a=b,c!=d` without knowing the resource: only the syntax.
    pub fn parse(text: &str) -> Result<Selector, SelectorError> {
        let mut parts = split_terms(text);
        parts.sort_unstable();
        let mut requirements = Vec::new();
        for part in parts.into_iter().filter(|p| !p.is_empty()) {
            let Some((field, operator, value)) = split_term(part) else {
                return Err(SelectorError(format!(
                    "invalid selector: '{text}'; can't understand '{part}'"
                )));
            };
            let value = unescape_value(value)?;
            // Upstream drops a term that is empty on both sides (`=`).
            if field.is_empty() && value.is_empty() {
                continue;
            }
            requirements.push(Requirement {
                field: field.to_string(),
                operator,
                value,
            });
        }
        Ok(Selector { requirements })
    }

    /// Parses and checks the labels against what `resource` supports,
    /// rewriting aliases to the canonical label (`spec.host` on pods is
    /// `spec.nodeName`; `regarding.name` on events.k8s.io is
    /// `involvedObject.name`).
    pub fn parse_for(resource: &Resource, text: &str) -> Result<Selector, SelectorError> {
        Selector::parse(text)?.for_resource(resource)
    }

    /// Checks an already parsed selector against `resource`, as `parse_for`.
    pub fn for_resource(self, resource: &Resource) -> Result<Selector, SelectorError> {
        let requirements = self
            .requirements
            .into_iter()
            .map(|r| {
                Ok(Requirement {
                    field: convert_label(resource, &r.field)?,
                    ..r
                })
            })
            .collect::<Result<_, SelectorError>>()?;
        Ok(Selector { requirements })
    }

    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Matches against field values such as `fields_for` gives.
    pub fn matches(&self, fields: &[(String, String)]) -> bool {
        self.requirements.iter().all(|r| r.matches(fields))
    }

    /// Matches an object of `resource`.
    pub fn matches_object(&self, resource: &Resource, object: &Value) -> bool {
        self.is_empty() || self.matches(&fields_for(resource, object))
    }

    /// The value a field must equal for this selector to match, if pinned:
    /// what lets a list of pods be narrowed to one node (`spec.nodeName=n`).
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.field == field && r.operator == Operator::Equals)
            .map(|r| r.value.as_str())
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, requirement) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{requirement}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Selector {
    type Err = SelectorError;

    fn from_str(text: &str) -> Result<Selector, SelectorError> {
        Selector::parse(text)
    }
}

/// Splits on commas not escaped by a backslash.
fn split_terms(text: &str) -> Vec<&str> {
    if text.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            terms.push(&text[start..i]);
            start = i + 1;
        }
    }
    terms.push(&text[start..]);
    terms
}

/// Splits a term at its first operator, trying `!=`, then `==`, then `=`
/// at each position.
fn split_term(term: &str) -> Option<(&str, Operator, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for (op, operator) in [
            ("!=", Operator::NotEquals),
            ("==", Operator::Equals),
            ("=", Operator::Equals),
        ] {
            if let Some(value) = rest.strip_prefix(op) {
                return Some((&term[..i], operator, value));
            }
        }
    }
    None
}

fn escape_value(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace(',', "\\,")
        .replace('=', "\\=")
}

fn unescape_value(value: &str) -> Result<String, SelectorError> {
    let mut out = String::with_capacity(value.len());
    let mut escaped = false;
    for c in value.chars() {
        if escaped {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(SelectorError(format!(
                    "invalid field selector: invalid escape sequence: \\{c}"
                )));
            }
            out.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' || c == '=' {
            // Upstream prints the rune as a number here.
            return Err(SelectorError(format!(
                "invalid field selector: unescaped character in value: {}",
                c as u32
            )));
        } else {
            out.push(c);
        }
    }
    if escaped {
        return Err(SelectorError(
            "invalid field selector: invalid escape sequence: \\".to_string(),
        ));
    }
    Ok(out)
}

/// How a kind's field-label conversion words a refusal.
enum Refusal {
    /// `field label not supported: foo`
    NotSupported,
    /// `field label "foo" not supported for Job`
    NotSupportedFor(&'static str),
    /// The fallback for kinds with no conversion of their own.
    MetadataOnly,
}

/// The labels a kind accepts, aliases mapped to their canonical label.
fn accepted(resource: &Resource) -> (&'static [(&'static str, &'static str)], Refusal) {
    match (resource.group, resource.plural) {
        ("", "pods") => (
            &[
                ("metadata.name", "metadata.name"),
                ("metadata.namespace", "metadata.namespace"),
                ("spec.nodeName", "spec.nodeName"),
                ("spec.restartPolicy", "spec.restartPolicy"),
                ("spec.schedulerName", "spec.schedulerName"),
                ("spec.serviceAccountName", "spec.serviceAccountName"),
                ("spec.hostNetwork", "spec.hostNetwork"),
                ("status.phase", "status.phase"),
                ("status.podIP", "status.podIP"),
                ("status.podIPs", "status.podIPs"),
                ("status.nominatedNodeName", "status.nominatedNodeName"),
                ("spec.host", "spec.nodeName"),
            ],
            Refusal::NotSupported,
        ),
        ("", "nodes") => (
            &[
                ("metadata.name", "metadata.name"),
                ("spec.unschedulable", "spec.unschedulable"),
            ],
            Refusal::NotSupported,
        ),
        ("", "replicationcontrollers") => (
            &[
                ("metadata.name", "metadata.name"),
                ("metadata.namespace", "metadata.namespace"),
                ("status.replicas", "status.replicas"),
            ],
            Refusal::NotSupported,
        ),
        ("", "events") => (
            &[
                ("involvedObject.kind", "involvedObject.kind"),
                ("involvedObject.namespace", "involvedObject.namespace"),
                ("involvedObject.name", "involvedObject.name"),
                ("involvedObject.uid", "involvedObject.uid"),
                ("involvedObject.apiVersion", "involvedObject.apiVersion"),
                (
                    "involvedObject.resourceVersion",
                    "involvedObject.resourceVersion",
                ),
                ("involvedObject.fieldPath", "involvedObject.fieldPath"),
                ("reason", "reason"),
                ("reportingComponent", "reportingComponent"),
                ("source", "source"),
                ("type", "type"),
                ("metadata.namespace", "metadata.namespace"),
                ("metadata.name", "metadata.name"),
            ],
            Refusal::NotSupported,
        ),
        ("events.k8s.io", "events") => (
            &[
                ("reason", "reason"),
                ("regarding.kind", "involvedObject.kind"),
                ("regarding.namespace", "involvedObject.namespace"),
                ("regarding.name", "involvedObject.name"),
                ("regarding.uid", "involvedObject.uid"),
                ("regarding.apiVersion", "involvedObject.apiVersion"),
                (
                    "regarding.resourceVersion",
                    "involvedObject.resourceVersion",
                ),
                ("regarding.fieldPath", "involvedObject.fieldPath"),
                ("reportingController", "reportingComponent"),
                ("source", "source"),
                ("type", "type"),
                ("metadata.namespace", "metadata.namespace"),
                ("metadata.name", "metadata.name"),
            ],
            Refusal::NotSupported,
        ),
        ("", "namespaces") => (
            &[
                ("status.phase", "status.phase"),
                ("metadata.name", "metadata.name"),
            ],
            Refusal::NotSupported,
        ),
        ("", "secrets") => (
            &[
                ("type", "type"),
                ("metadata.namespace", "metadata.namespace"),
                ("metadata.name", "metadata.name"),
            ],
            Refusal::NotSupported,
        ),
        ("", "services") => (
            &[
                ("metadata.namespace", "metadata.namespace"),
                ("metadata.name", "metadata.name"),
                ("spec.clusterIP", "spec.clusterIP"),
                ("spec.type", "spec.type"),
            ],
            Refusal::NotSupported,
        ),
        ("batch", "jobs") => (
            &[
                ("metadata.name", "metadata.name"),
                ("metadata.namespace", "metadata.namespace"),
                ("status.successful", "status.successful"),
            ],
            Refusal::NotSupportedFor("Job"),
        ),
        ("certificates.k8s.io", "certificatesigningrequests") => (
            &[
                ("metadata.name", "metadata.name"),
                ("spec.signerName", "spec.signerName"),
            ],
            Refusal::NotSupported,
        ),
        _ => (
            &[
                ("metadata.name", "metadata.name"),
                ("metadata.namespace", "metadata.namespace"),
            ],
            Refusal::MetadataOnly,
        ),
    }
}

/// The canonical label for what a request names on `resource`, or
/// upstream's refusal (answered as 400 Bad Request).
pub fn convert_label(resource: &Resource, label: &str) -> Result<String, SelectorError> {
    let (labels, refusal) = accepted(resource);
    if let Some((_, canonical)) = labels.iter().find(|(name, _)| *name == label) {
        return Ok(canonical.to_string());
    }
    Err(SelectorError(match refusal {
        Refusal::NotSupported => format!("field label not supported: {label}"),
        Refusal::NotSupportedFor(kind) => {
            format!("field label {} not supported for {kind}", quote(label))
        }
        Refusal::MetadataOnly => format!(
            "{} is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
            quote(label)
        ),
    }))
}

/// The value at a dotted path, as a field selector sees it: strings as they
/// are, numbers and booleans in their JSON form, absent as empty.
fn text(object: &Value, path: &str) -> String {
    let value = path.split('.').try_fold(object, |v, key| v.get(key));
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

/// A count that upstream always sets, so absent reads as `0`.
fn count(object: &Value, path: &str) -> String {
    let value = text(object, path);
    if value.is_empty() {
        "0".to_string()
    } else {
        value
    }
}

/// The first pod IP, as upstream reads `status.podIPs[0]`, falling back to
/// the singular field older writers set alone.
pub(crate) fn pod_ip(pod: &Value) -> String {
    let first = pod
        .pointer("/status/podIPs/0/ip")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if first.is_empty() {
        text(pod, "status.podIP")
    } else {
        first.to_string()
    }
}

/// What [`fields_for`] and the labels read of an object of `resource`, as
/// dotted paths (a path keeps its whole value), so that a reader can take
/// just these out of the stored bytes; `None` for kinds not listed here,
/// which are read whole. Pods are listed for their watches: every pod
/// event is tested against each node's `spec.nodeName` selector.
pub fn selectable_paths(resource: &Resource) -> Option<&'static [&'static str]> {
    match (resource.group, resource.plural) {
        ("", "pods") => Some(&[
            "metadata.labels",
            "metadata.name",
            "metadata.namespace",
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.nominatedNodeName",
            "status.podIP",
            "status.podIPs",
        ]),
        ("", "nodes") => Some(&["metadata.labels", "metadata.name", "spec.unschedulable"]),
        _ => None,
    }
}

/// The field values an object of `resource` offers to field selectors, as
/// upstream's `ToSelectableFields` for its kind: `metadata.name` always,
/// `metadata.namespace` for namespaced resources, and the kind's own.
pub fn fields_for(resource: &Resource, object: &Value) -> Vec<(String, String)> {
    let mut fields = vec![("metadata.name".to_string(), text(object, "metadata.name"))];
    if resource.namespaced {
        fields.push((
            "metadata.namespace".to_string(),
            text(object, "metadata.namespace"),
        ));
    }
    let mut add = |name: &str, value: String| fields.push((name.to_string(), value));
    match (resource.group, resource.plural) {
        ("", "pods") => {
            for path in [
                "spec.nodeName",
                "spec.restartPolicy",
                "spec.schedulerName",
                "spec.serviceAccountName",
                "status.phase",
                "status.nominatedNodeName",
            ] {
                add(path, text(object, path));
            }
            let host_network = object.pointer("/spec/hostNetwork") == Some(&Value::Bool(true));
            add("spec.hostNetwork", host_network.to_string());
            add("status.podIP", pod_ip(object));
        }
        ("", "events") | ("events.k8s.io", "events") => {
            let core = resource.group.is_empty();
            let (reference, reporting, source) = if core {
                ("involvedObject", "reportingComponent", "source.component")
            } else {
                (
                    "regarding",
                    "reportingController",
                    "deprecatedSource.component",
                )
            };
            for part in [
                "kind",
                "namespace",
                "name",
                "uid",
                "apiVersion",
                "resourceVersion",
                "fieldPath",
            ] {
                add(
                    &format!("involvedObject.{part}"),
                    text(object, &format!("{reference}.{part}")),
                );
            }
            add("reason", text(object, "reason"));
            let reporting = text(object, reporting);
            let mut source = text(object, source);
            if source.is_empty() {
                source = reporting.clone();
            }
            add("reportingComponent", reporting);
            add("source", source);
            add("type", text(object, "type"));
        }
        ("", "secrets") => add("type", text(object, "type")),
        ("", "services") => {
            add("spec.clusterIP", text(object, "spec.clusterIP"));
            add("spec.type", text(object, "spec.type"));
        }
        ("", "nodes") => {
            let unschedulable = object.pointer("/spec/unschedulable") == Some(&Value::Bool(true));
            add("spec.unschedulable", unschedulable.to_string());
        }
        ("", "namespaces") => add("status.phase", text(object, "status.phase")),
        ("", "replicationcontrollers") | ("apps", "replicasets") => {
            add("status.replicas", count(object, "status.replicas"));
        }
        ("batch", "jobs") => add("status.successful", count(object, "status.succeeded")),
        ("certificates.k8s.io", "certificatesigningrequests") => {
            add("spec.signerName", text(object, "spec.signerName"));
        }
        _ => {}
    }
    fields
}

#[cfg(test)]
#[path = "field_tests.rs"]
mod tests;
