//! The `labelSelector` and `fieldSelector` of a list, watch or
//! deletecollection, as one filter over objects.

use std::collections::BTreeMap;

use capstan_api::selector::{fields_for, FieldSelector, LabelSelector};
use capstan_api::{ApiError, Resource};
use serde_json::Value;

use crate::object;
use crate::request::Query;

pub struct Selectors {
    resource: &'static Resource,
    labels: Option<LabelSelector>,
    fields: Option<FieldSelector>,
}

impl Selectors {
    pub fn from_query(resource: &'static Resource, query: &Query) -> Result<Selectors, ApiError> {
        let labels = query
            .get("labelSelector")
            .map(LabelSelector::parse)
            .transpose()?;
        let fields = query
            .get("fieldSelector")
            .map(|text| FieldSelector::parse_for(resource, text))
            .transpose()?;
        Ok(Selectors {
            resource,
            labels: labels.filter(|selector| !selector.is_empty()),
            fields: fields.filter(|selector| !selector.is_empty()),
        })
    }

    /// Whether no selector was given (or only empty ones).
    pub fn select_everything(&self) -> bool {
        self.labels.is_none() && self.fields.is_none()
    }

    /// `matches` on what [`Selectable::of`] took from the object.
    pub fn matches_selectable(&self, selectable: &Selectable) -> bool {
        if let Some(labels) = &self.labels {
            if !labels.matches(&selectable.labels) {
                return false;
            }
        }
        if let Some(fields) = &self.fields {
            if !fields.matches(&selectable.fields) {
                return false;
            }
        }
        true
    }

    pub fn matches(&self, object: &Value) -> bool {
        if let Some(labels) = &self.labels {
            if !labels.matches(&object::labels(object)) {
                return false;
            }
        }
        if let Some(fields) = &self.fields {
            if !fields.matches(&fields_for(self.resource, object)) {
                return false;
            }
        }
        true
    }
}

/// What selectors look at in an object: its labels and the fields its kind
/// offers. Far smaller than the object, so watches can keep it for many
/// more events than they keep decoded objects.
#[derive(Debug, PartialEq)]
pub struct Selectable {
    labels: BTreeMap<String, String>,
    fields: Vec<(String, String)>,
}

impl Selectable {
    pub fn of(resource: &'static Resource, object: &Value) -> Selectable {
        Selectable {
            labels: object::labels(object),
            fields: fields_for(resource, object),
        }
    }
}
