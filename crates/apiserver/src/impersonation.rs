//! Impersonation, as upstream's filter: a request carrying
//! `Impersonate-User` (with `-Group`, `-Uid` and `-Extra-<key>`) runs as
//! that user once its sender is allowed to impersonate each of them. This
//! is what `kubectl --as` and `--as-group` send.

use std::collections::BTreeMap;

use capstan_api::ApiError;
use hyper::HeaderMap;

use crate::authn::User;
use crate::authz::Attributes;

const USER: &str = "impersonate-user";
const GROUP: &str = "impersonate-group";
const UID: &str = "impersonate-uid";
const EXTRA_PREFIX: &str = "impersonate-extra-";
const SERVICE_ACCOUNT_PREFIX: &str = "system:serviceaccount:";

/// Who a request asks to act as.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Requested {
    user: String,
    groups: Vec<String>,
    uid: Option<String>,
    extra: BTreeMap<String, Vec<String>>,
}

/// What `headers` ask for: nothing when they do not impersonate, an error
/// when they ask for groups, a uid or extras without a user.
pub fn requested(headers: &HeaderMap) -> Result<Option<Requested>, ApiError> {
    let text = |value: &hyper::header::HeaderValue| {
        value
            .to_str()
            .map(str::to_string)
            .map_err(|_| ApiError::bad_request("invalid impersonation header"))
    };
    let mut asked = Requested::default();
    let mut any = false;
    for (name, value) in headers {
        let name = name.as_str();
        if name == USER {
            asked.user = text(value)?;
            any = true;
        } else if name == GROUP {
            asked.groups.push(text(value)?);
            any = true;
        } else if name == UID {
            asked.uid = Some(text(value)?);
            any = true;
        } else if let Some(key) = name.strip_prefix(EXTRA_PREFIX) {
            let key = percent_decoded(key).to_lowercase();
            asked.extra.entry(key).or_default().push(text(value)?);
            any = true;
        }
    }
    if !any {
        return Ok(None);
    }
    if asked.user.is_empty() {
        let mut what: Vec<String> = asked
            .groups
            .iter()
            .map(|g| format!("group {g:?}"))
            .collect();
        what.extend(asked.uid.iter().map(|uid| format!("uid {uid:?}")));
        what.extend(asked.extra.keys().map(|key| format!("extra {key:?}")));
        return Err(ApiError::bad_request(format!(
            "requested [{}] without impersonating a user",
            what.join(" ")
        )));
    }
    Ok(Some(asked))
}

impl Requested {
    /// What the sender must be allowed, one check per attribute of the
    /// user asked for.
    pub fn checks(&self) -> Vec<Attributes> {
        let impersonate = |group: &str, resource: &str, namespace: &str, name: &str| Attributes {
            verb: "impersonate".into(),
            group: group.into(),
            resource: resource.into(),
            namespace: namespace.into(),
            name: name.into(),
            ..Attributes::default()
        };
        let mut checks = vec![match service_account(&self.user) {
            Some((namespace, name)) => impersonate("", "serviceaccounts", namespace, name),
            None => impersonate("", "users", "", &self.user),
        }];
        for group in &self.groups {
            checks.push(impersonate("", "groups", "", group));
        }
        if let Some(uid) = &self.uid {
            checks.push(impersonate("authentication.k8s.io", "uids", "", uid));
        }
        for (key, values) in &self.extra {
            for value in values {
                let mut check = impersonate("authentication.k8s.io", "userextras", "", value);
                check.subresource = key.clone();
                checks.push(check);
            }
        }
        checks
    }

    /// The user the request runs as: the groups asked for, a service
    /// account's own groups, and `system:authenticated`, as upstream.
    pub fn into_user(self) -> User {
        let mut groups = self.groups;
        if let Some((namespace, _)) = service_account(&self.user) {
            for group in [
                "system:serviceaccounts".to_string(),
                format!("system:serviceaccounts:{namespace}"),
            ] {
                if !groups.contains(&group) {
                    groups.push(group);
                }
            }
        }
        let added = if self.user == "system:anonymous" {
            "system:unauthenticated"
        } else {
            "system:authenticated"
        };
        if !groups.iter().any(|group| group == added) {
            groups.push(added.to_string());
        }
        User {
            name: self.user,
            uid: self.uid.unwrap_or_default(),
            groups,
            extra: self.extra,
        }
    }
}

/// The namespace and name of `system:serviceaccount:NS:NAME`.
fn service_account(user: &str) -> Option<(&str, &str)> {
    let (namespace, name) = user.strip_prefix(SERVICE_ACCOUNT_PREFIX)?.split_once(':')?;
    (!namespace.is_empty() && !name.is_empty()).then_some((namespace, name))
}

/// Header names cannot hold every character of an extra's key: clients
/// percent-encode it.
fn percent_decoded(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                hyper::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    #[test]
    fn a_user_with_groups_and_extras() {
        let asked = requested(&headers(&[
            ("Impersonate-User", "jane"),
            ("Impersonate-Group", "dev"),
            ("Impersonate-Group", "ops"),
            ("Impersonate-Extra-Scopes%2Fread", "a"),
        ]))
        .unwrap()
        .unwrap();
        let checks = asked.checks();
        let described: Vec<(&str, &str, &str)> = checks
            .iter()
            .map(|c| (c.resource.as_str(), c.subresource.as_str(), c.name.as_str()))
            .collect();
        assert_eq!(
            described,
            [
                ("users", "", "jane"),
                ("groups", "", "dev"),
                ("groups", "", "ops"),
                ("userextras", "scopes/read", "a")
            ]
        );
        let user = asked.into_user();
        assert_eq!(user.name, "jane");
        assert_eq!(user.groups, ["dev", "ops", "system:authenticated"]);
        assert_eq!(user.extra["scopes/read"], ["a"]);
    }

    #[test]
    fn a_service_account_gets_its_groups() {
        let asked = requested(&headers(&[(
            "Impersonate-User",
            "system:serviceaccount:dev:builder",
        )]))
        .unwrap()
        .unwrap();
        let check = &asked.checks()[0];
        assert_eq!(
            (
                check.resource.as_str(),
                check.namespace.as_str(),
                check.name.as_str()
            ),
            ("serviceaccounts", "dev", "builder")
        );
        assert_eq!(
            asked.into_user().groups,
            [
                "system:serviceaccounts",
                "system:serviceaccounts:dev",
                "system:authenticated"
            ]
        );
    }

    #[test]
    fn groups_need_a_user() {
        assert_eq!(requested(&HeaderMap::new()).unwrap(), None);
        let error = requested(&headers(&[("Impersonate-Group", "dev")])).unwrap_err();
        assert_eq!(error.code, 400);
        assert_eq!(
            error.message,
            "requested [group \"dev\"] without impersonating a user"
        );
    }
}
