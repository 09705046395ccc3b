//! Who is asking: x509 client certificates signed by the cluster CA (CN is
//! the user, O the groups), bearer tokens from a static token file
//! (upstream's `--token-auth-file` CSV: `token,user,uid,"group1,group2"`)
//! and service account tokens (`sa_authn`).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use hyper::header::AUTHORIZATION;
use hyper::HeaderMap;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
    /// What else the authenticator knows (a service account token's pod).
    pub extra: BTreeMap<String, Vec<String>>,
}

impl User {
    /// The cluster admin, as the admin kubeconfig's certificate names it.
    pub fn admin() -> User {
        User::new(
            "system:admin".into(),
            String::new(),
            vec!["system:masters".into()],
        )
    }

    pub(crate) fn new(name: String, uid: String, mut groups: Vec<String>) -> User {
        // Every authenticated user is in this group, as upstream.
        if !groups.iter().any(|group| group == "system:authenticated") {
            groups.push("system:authenticated".into());
        }
        User {
            name,
            uid,
            groups,
            extra: BTreeMap::new(),
        }
    }

    /// The `userInfo` of a SelfSubjectReview or TokenReview.
    pub fn user_info(&self) -> serde_json::Value {
        let mut info = serde_json::json!({"username": self.name, "groups": self.groups});
        if !self.uid.is_empty() {
            info["uid"] = self.uid.clone().into();
        }
        if !self.extra.is_empty() {
            info["extra"] = serde_json::json!(self.extra);
        }
        info
    }
}

/// The user named by a client certificate the TLS layer already verified
/// against the cluster CA.
pub fn user_from_certificate(der: &[u8]) -> Option<User> {
    let (_, certificate) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = certificate.subject();
    let name = subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())?
        .to_string();
    let groups = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(str::to_string))
        .collect();
    Some(User::new(name, String::new(), groups))
}

#[derive(Default)]
pub struct TokenAuthenticator {
    tokens: HashMap<String, User>,
}

impl TokenAuthenticator {
    /// Reads a static token file; blank lines and `#` comments are skipped.
    pub fn from_file(path: &Path) -> Result<TokenAuthenticator, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("token file {}: {error}", path.display()))?;
        TokenAuthenticator::parse(&text)
            .map_err(|error| format!("token file {}: {error}", path.display()))
    }

    pub fn parse(text: &str) -> Result<TokenAuthenticator, String> {
        let mut tokens = HashMap::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields = split_csv(line);
            if fields.len() < 3 || fields[0].is_empty() || fields[1].is_empty() {
                return Err(format!("line {}: want at least token,user,uid", number + 1));
            }
            let groups = fields
                .get(3)
                .map(|groups| {
                    groups
                        .split(',')
                        .map(str::trim)
                        .filter(|group| !group.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            let user = User::new(fields[1].clone(), fields[2].clone(), groups);
            tokens.insert(fields[0].clone(), user);
        }
        Ok(TokenAuthenticator { tokens })
    }

    pub fn add(&mut self, token: &str, name: &str, groups: &[&str]) {
        let groups = groups.iter().map(|group| group.to_string()).collect();
        let user = User::new(name.to_string(), String::new(), groups);
        self.tokens.insert(token.to_string(), user);
    }

    /// The user of the request's bearer token, if it has a known one.
    pub fn authenticate(&self, headers: &HeaderMap) -> Option<User> {
        self.user(bearer_token(headers)?)
    }

    /// The user of `token`, if it is a known one.
    pub fn user(&self, token: &str) -> Option<User> {
        self.tokens.get(token).cloned()
    }
}

/// The request's bearer token.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

/// Splits one CSV line, honouring double quotes.
fn split_csv(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(String::new()),
            c => fields.last_mut().expect("never empty").push(c),
        }
    }
    fields
        .iter()
        .map(|field| field.trim().to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_file_lines_become_users() {
        let tokens = TokenAuthenticator::parse(
            "# comment\nsecret1,alice,1001,\"dev,ops\"\nsecret2,bob,1002\n",
        )
        .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, "Bearer secret1".parse().unwrap());
        let alice = tokens.authenticate(&headers).unwrap();
        assert_eq!(alice.name, "alice");
        assert_eq!(alice.groups, ["dev", "ops", "system:authenticated"]);
        headers.insert(AUTHORIZATION, "Bearer nope".parse().unwrap());
        assert!(tokens.authenticate(&headers).is_none());
        assert!(TokenAuthenticator::parse("onlytoken\n").is_err());
    }
}
