//! The `labelSelector` and `fieldSelector` of a list, watch or
//! deletecollection, as one filter over objects.

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
