//! Authentication by service account token, as upstream's JWT
//! authenticator with its validator: a token this server signed, for the
//! API audience, within its lifetime, whose ServiceAccount (and bound pod,
//! secret or node) still exists with the uid the token names.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::authn::User;
use crate::registry::Registry;
use crate::sa_token::{self, Ref, TokenSigner, Verified, LEEWAY_SECONDS};

/// Where the token's bound object and node go in the user's extra.
const EXTRA_POD_NAME: &str = "authentication.kubernetes.io/pod-name";
const EXTRA_POD_UID: &str = "authentication.kubernetes.io/pod-uid";
const EXTRA_NODE_NAME: &str = "authentication.kubernetes.io/node-name";
const EXTRA_NODE_UID: &str = "authentication.kubernetes.io/node-uid";
const EXTRA_CREDENTIAL_ID: &str = "authentication.kubernetes.io/credential-id";

#[derive(Clone)]
pub struct ServiceAccountAuthenticator {
    signer: Arc<TokenSigner>,
}

impl ServiceAccountAuthenticator {
    pub fn new(signer: Arc<TokenSigner>) -> ServiceAccountAuthenticator {
        ServiceAccountAuthenticator { signer }
    }

    /// The service account `token` stands for, if it is a valid one.
    pub async fn authenticate(&self, registry: &Registry, token: &str) -> Option<User> {
        let audiences = [sa_token::API_AUDIENCE];
        self.authenticate_for(registry, token, &audiences)
            .await
            .map(|(user, _)| user)
    }

    /// As [`Self::authenticate`] for a token meant for any of `audiences`,
    /// with those the token names.
    pub async fn authenticate_for(
        &self,
        registry: &Registry,
        token: &str,
        audiences: &[&str],
    ) -> Option<(User, Vec<String>)> {
        // Anything but a JWT is not ours; skip the signature check.
        if !sa_token::is_jwt(token) {
            return None;
        }
        let now = sa_token::now();
        let (verified, matched) = sa_token::verify_for(&self.signer, token, now, audiences)?;
        match still_valid(registry, &verified, now).await {
            Ok(user) => Some((user, matched)),
            Err(why) => {
                tracing::debug!(namespace = %verified.namespace,
                    account = %verified.service_account.name, why, "service account token refused");
                None
            }
        }
    }
}

/// Upstream's validator: the objects the token names must exist as they
/// were when it was issued.
async fn still_valid(registry: &Registry, token: &Verified, now: i64) -> Result<User, String> {
    let namespace = token.namespace.as_str();
    let account = &token.service_account;
    let found = lookup(registry, "serviceaccounts", Some(namespace), &account.name)
        .await
        .ok_or_else(|| format!("service account {namespace}/{} not found", account.name))?;
    check(&found, account, now, "service account")?;
    if let Some(secret) = &token.secret {
        let found = lookup(registry, "secrets", Some(namespace), &secret.name)
            .await
            .ok_or("service account token has been invalidated")?;
        check(&found, secret, now, "secret")?;
    }
    let mut extra = BTreeMap::new();
    if let Some(pod) = &token.pod {
        let found = lookup(registry, "pods", Some(namespace), &pod.name)
            .await
            .ok_or("service account token has been invalidated")?;
        check(&found, pod, now, "pod")?;
        extra.insert(EXTRA_POD_NAME.to_string(), vec![pod.name.clone()]);
        extra.insert(EXTRA_POD_UID.to_string(), vec![pod.uid.clone()]);
    }
    if let Some(node) = &token.node {
        // A pod-bound token only reports its pod's node; a node-bound one
        // lives as long as the node.
        if token.pod.is_none() {
            let found = lookup(registry, "nodes", None, &node.name)
                .await
                .ok_or("service account token has been invalidated")?;
            check(&found, node, now, "node")?;
        }
        extra.insert(EXTRA_NODE_NAME.to_string(), vec![node.name.clone()]);
        extra.insert(EXTRA_NODE_UID.to_string(), vec![node.uid.clone()]);
    }
    if let Some(jti) = &token.jti {
        extra.insert(EXTRA_CREDENTIAL_ID.to_string(), vec![format!("JTI={jti}")]);
    }
    let mut user = User::new(
        sa_token::username(namespace, &account.name),
        account.uid.clone(),
        vec![
            "system:serviceaccounts".to_string(),
            format!("system:serviceaccounts:{namespace}"),
        ],
    );
    user.extra = extra;
    Ok(user)
}

/// Refuses an object deleted more than the leeway ago, or another object
/// of the same name.
fn check(found: &Value, claimed: &Ref, now: i64, what: &str) -> Result<(), String> {
    let deleted = found
        .pointer("/metadata/deletionTimestamp")
        .and_then(Value::as_str)
        .and_then(|at| at.parse::<jiff::Timestamp>().ok());
    if deleted.is_some_and(|at| at.as_second() < now - LEEWAY_SECONDS) {
        return Err(format!("{what} {} has been deleted", claimed.name));
    }
    let uid = Ref::of(found).uid;
    if uid != claimed.uid {
        return Err(format!(
            "{what} UID ({uid}) does not match claim ({})",
            claimed.uid
        ));
    }
    Ok(())
}

/// The object from the watch cache when it has it, else from the store:
/// this runs on every request a service account makes.
async fn lookup(
    registry: &Registry,
    plural: &str,
    namespace: Option<&str>,
    name: &str,
) -> Option<Value> {
    let resource = capstan_api::resource::find("", "v1", plural)?;
    registry
        .get_for_update(resource, namespace, name)
        .await
        .ok()
        .map(|stored| stored.object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sa_token::{claims, TokenFor, API_AUDIENCE};
    use serde_json::json;

    fn resource(plural: &str) -> &'static capstan_api::Resource {
        capstan_api::resource::find("", "v1", plural).unwrap()
    }

    async fn setup() -> (Registry, ServiceAccountAuthenticator, TokenFor) {
        let store = Arc::new(capstan_store::memory::MemoryStore::new());
        let registry = Registry::new(store, None);
        let account = json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": "builder", "namespace": "ns", "uid": "sa-1"}});
        registry
            .create(resource("serviceaccounts"), &account)
            .await
            .unwrap();
        let request = TokenFor {
            namespace: "ns".into(),
            service_account: Ref {
                name: "builder".into(),
                uid: "sa-1".into(),
            },
            audiences: vec![API_AUDIENCE.into()],
            expiration_seconds: 3600,
            ..TokenFor::default()
        };
        let signer = Arc::new(crate::sa_token::test_signer());
        (registry, ServiceAccountAuthenticator::new(signer), request)
    }

    fn sign(authn: &ServiceAccountAuthenticator, request: &TokenFor, now: i64) -> String {
        authn.signer.sign(&claims(request, now, "j1").0).unwrap()
    }

    #[tokio::test]
    async fn a_good_token_is_its_service_account() {
        let (registry, authn, request) = setup().await;
        let token = sign(&authn, &request, sa_token::now());
        let user = authn.authenticate(&registry, &token).await.unwrap();
        assert_eq!(user.name, "system:serviceaccount:ns:builder");
        assert_eq!(user.uid, "sa-1");
        assert_eq!(
            user.groups,
            [
                "system:serviceaccounts",
                "system:serviceaccounts:ns",
                "system:authenticated"
            ]
        );
        assert_eq!(user.extra[EXTRA_CREDENTIAL_ID], ["JTI=j1"]);
        assert!(!user.extra.contains_key(EXTRA_POD_NAME));
    }

    #[tokio::test]
    async fn expired_foreign_and_other_audience_tokens_are_refused() {
        let (registry, authn, mut request) = setup().await;
        let long_ago = sa_token::now() - 2 * 3600;
        let expired = sign(&authn, &request, long_ago);
        assert!(authn.authenticate(&registry, &expired).await.is_none());
        let other = ServiceAccountAuthenticator::new(Arc::new(crate::sa_token::test_signer()));
        let foreign = sign(&other, &request, sa_token::now());
        assert!(authn.authenticate(&registry, &foreign).await.is_none());
        request.audiences = vec!["https://vault.example".into()];
        let elsewhere = sign(&authn, &request, sa_token::now());
        assert!(authn.authenticate(&registry, &elsewhere).await.is_none());
        assert!(authn
            .authenticate(&registry, "static-token")
            .await
            .is_none());
    }

    #[tokio::test]
    async fn a_deleted_or_recreated_account_ends_its_tokens() {
        let (registry, authn, request) = setup().await;
        let token = sign(&authn, &request, sa_token::now());
        let accounts = resource("serviceaccounts");
        let current = registry.get(accounts, Some("ns"), "builder").await.unwrap();
        registry.delete(accounts, &current).await.unwrap();
        assert!(authn.authenticate(&registry, &token).await.is_none());
        let again = json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": "builder", "namespace": "ns", "uid": "sa-2"}});
        registry.create(accounts, &again).await.unwrap();
        assert!(authn.authenticate(&registry, &token).await.is_none());
    }

    #[tokio::test]
    async fn pod_bound_tokens_last_as_long_as_their_pod() {
        let (registry, authn, mut request) = setup().await;
        let pods = resource("pods");
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "namespace": "ns", "uid": "pod-1"}, "spec": {}});
        registry.create(pods, &pod).await.unwrap();
        request.pod = Some(Ref {
            name: "web".into(),
            uid: "pod-1".into(),
        });
        request.node = Some(Ref {
            name: "node-1".into(),
            uid: "node-uid".into(),
        });
        let token = sign(&authn, &request, sa_token::now());
        let user = authn.authenticate(&registry, &token).await.unwrap();
        assert_eq!(user.extra[EXTRA_POD_NAME], ["web"]);
        assert_eq!(user.extra[EXTRA_POD_UID], ["pod-1"]);
        assert_eq!(user.extra[EXTRA_NODE_NAME], ["node-1"]);
        // Deleted long enough ago: refused.
        let current = registry.get(pods, Some("ns"), "web").await.unwrap();
        let mut deleting = current.object.clone();
        let long_ago = jiff::Timestamp::from_second(sa_token::now() - 120).unwrap();
        deleting["metadata"]["deletionTimestamp"] = json!(long_ago.to_string());
        registry.update(pods, &current, &deleting).await.unwrap();
        assert!(authn.authenticate(&registry, &token).await.is_none());
        let current = registry.get(pods, Some("ns"), "web").await.unwrap();
        registry.delete(pods, &current).await.unwrap();
        assert!(authn.authenticate(&registry, &token).await.is_none());
    }
}
