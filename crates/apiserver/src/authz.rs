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

/// What a user may do in a namespace, as a SelfSubjectRulesReview lists
/// it: upstream's `ResourceRuleInfo` and `NonResourceRuleInfo`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rules {
    pub resource: Vec<ResourceRule>,
    pub non_resource: Vec<NonResourceRule>,
    /// Some authorizer could not list its rules.
    pub incomplete: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourceRule {
    pub verbs: Vec<String>,
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    /// Empty: every name.
    pub resource_names: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NonResourceRule {
    pub verbs: Vec<String>,
    pub urls: Vec<String>,
}

pub trait Authorizer: Send + Sync {
    fn authorize(&self, user: &User, attributes: &Attributes) -> Decision;

    /// The rules this authorizer grants `user` in `namespace`; an
    /// authorizer that cannot list them says the list is incomplete.
    fn rules_for(&self, _user: &User, _namespace: &str) -> Rules {
        Rules {
            incomplete: true,
            ..Rules::default()
        }
    }
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

    /// Everything, as upstream's AlwaysAllow lists it.
    fn rules_for(&self, user: &User, _namespace: &str) -> Rules {
        if !user
            .groups
            .iter()
            .any(|group| group == "system:authenticated")
        {
            return Rules::default();
        }
        let all = || vec!["*".to_string()];
        Rules {
            resource: vec![ResourceRule {
                verbs: all(),
                api_groups: all(),
                resources: all(),
                resource_names: Vec::new(),
            }],
            non_resource: vec![NonResourceRule {
                verbs: all(),
                urls: all(),
            }],
            incomplete: false,
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

    /// The union of every authorizer's rules for `user` in `namespace`.
    pub fn rules_for(&self, user: &User, namespace: &str) -> Rules {
        let mut all = Rules::default();
        for authorizer in &self.authorizers {
            let rules = authorizer.rules_for(user, namespace);
            all.resource.extend(rules.resource);
            all.non_resource.extend(rules.non_resource);
            all.incomplete |= rules.incomplete;
        }
        all
    }
}
