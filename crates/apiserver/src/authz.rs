//! May this user do this? A chain of authorizers, each allowing, denying
//! or having no opinion, as upstream's union authorizer; RBAC joins the
//! chain later. With no opinion from anyone the request is denied.

use crate::authn::User;

/// What a request does, in upstream's authorization vocabulary.
#[derive(Clone, Debug, Default)]
pub struct Attributes {
    /// get, list, watch, create, update, patch, delete, deletecollection,
    /// or the HTTP verb in lower case for non-resource paths.
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
    /// Set for requests outside the resource API (`/healthz`, `/metrics`).
    pub path: Option<String>,
}

pub enum Decision {
    Allow,
    Deny(String),
    NoOpinion,
}

pub trait Authorizer: Send + Sync {
    fn authorize(&self, user: &User, attributes: &Attributes) -> Decision;
}

/// Lets every authenticated user do everything: what the cluster runs with
/// until RBAC is enforced.
pub struct AllowAuthenticated;

impl Authorizer for AllowAuthenticated {
    fn authorize(&self, user: &User, _: &Attributes) -> Decision {
        if user
            .groups
            .iter()
            .any(|group| group == "system:authenticated")
        {
            Decision::Allow
        } else {
            Decision::NoOpinion
        }
    }
}

pub struct Chain {
    authorizers: Vec<Box<dyn Authorizer>>,
}

impl Chain {
    pub fn new(authorizers: Vec<Box<dyn Authorizer>>) -> Chain {
        Chain { authorizers }
    }

    /// `Ok` if allowed, else the reason to give in the 403.
    pub fn authorize(&self, user: &User, attributes: &Attributes) -> Result<(), String> {
        for authorizer in &self.authorizers {
            match authorizer.authorize(user, attributes) {
                Decision::Allow => return Ok(()),
                Decision::Deny(reason) => return Err(reason),
                Decision::NoOpinion => {}
            }
        }
        Err(String::new())
    }
}
