//! Service account tokens for pods' `serviceAccountToken` projections, as
//! upstream's kubelet token manager: each is asked of the API with a
//! TokenRequest bound to the pod, kept, and asked again once it is older
//! than 80% of its lifetime or than a day.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use kube::api::{Api, PostParams};

/// A token is renewed at the latest this long after it was issued.
const MAX_TTL_SECONDS: i64 = 24 * 60 * 60;

/// What a projection asks for when it does not say (upstream's default).
pub const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;

/// One token: for whom, for which audience, how long, bound to which pod.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct Key {
    namespace: String,
    account: String,
    audience: Option<String>,
    expiration_seconds: i64,
    pod_name: String,
    pod_uid: String,
}

#[derive(Clone, Debug)]
struct Issued {
    token: String,
    /// Seconds since the epoch.
    expires: i64,
}

pub struct TokenManager {
    api: kube::Client,
    tokens: Mutex<HashMap<Key, Issued>>,
}

impl TokenManager {
    pub fn new(api: kube::Client) -> TokenManager {
        TokenManager {
            api,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// The pod's token for `audience` (the API's when None), kept for as
    /// long as it need not be renewed.
    pub async fn token(
        &self,
        pod: &Pod,
        audience: Option<&str>,
        expiration_seconds: Option<i64>,
    ) -> Result<String, String> {
        let spec = pod.spec.as_ref();
        let account = spec
            .and_then(|s| s.service_account_name.as_deref())
            .filter(|name| !name.is_empty())
            .ok_or("the pod has no service account")?;
        let key = Key {
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            account: account.to_string(),
            audience: audience.filter(|a| !a.is_empty()).map(str::to_string),
            expiration_seconds: expiration_seconds.unwrap_or(DEFAULT_EXPIRATION_SECONDS),
            pod_name: pod.metadata.name.clone().unwrap_or_default(),
            pod_uid: pod.metadata.uid.clone().unwrap_or_default(),
        };
        let now = now();
        let cached = self.lock().get(&key).cloned();
        if let Some(cached) = &cached {
            if !requires_refresh(now, cached.expires, key.expiration_seconds) {
                return Ok(cached.token.clone());
            }
        }
        match self.request(&key).await {
            Ok(issued) => {
                let token = issued.token.clone();
                let mut tokens = self.lock();
                // Tokens that ran out with nobody asking again go.
                tokens.retain(|_, kept| kept.expires > now);
                tokens.insert(key, issued);
                Ok(token)
            }
            // A token that still works serves until the API answers again.
            Err(error) => match cached {
                Some(cached) if cached.expires > now => Ok(cached.token),
                _ => Err(error),
            },
        }
    }

    /// Drops the tokens of a pod that is gone from the node.
    pub fn forget_pod(&self, uid: &str) {
        self.lock().retain(|key, _| key.pod_uid != uid);
    }

    async fn request(&self, key: &Key) -> Result<Issued, String> {
        let accounts: Api<ServiceAccount> = Api::namespaced(self.api.clone(), &key.namespace);
        let request = TokenRequest {
            spec: TokenRequestSpec {
                audiences: key.audience.iter().cloned().collect(),
                expiration_seconds: Some(key.expiration_seconds),
                bound_object_ref: Some(BoundObjectReference {
                    api_version: Some("v1".into()),
                    kind: Some("Pod".into()),
                    name: Some(key.pod_name.clone()),
                    uid: Some(key.pod_uid.clone()),
                }),
            },
            ..TokenRequest::default()
        };
        let issued = accounts
            .create_token_request(&key.account, &PostParams::default(), &request)
            .await
            .map_err(|error| {
                format!(
                    "failed to fetch token: {}",
                    match error {
                        kube::Error::Api(status) => status.message,
                        other => other.to_string(),
                    }
                )
            })?;
        let status = issued
            .status
            .ok_or("failed to fetch token: no status in the answer")?;
        Ok(Issued {
            token: status.token,
            expires: status.expiration_timestamp.0.as_second(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Issued>> {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Upstream's `requiresRefresh`: past 80% of the token's lifetime, or
/// older than a day.
fn requires_refresh(now: i64, expires: i64, expiration_seconds: i64) -> bool {
    let issued = expires - expiration_seconds;
    now > issued + MAX_TTL_SECONDS || now > expires - expiration_seconds * 20 / 100
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_renewed_at_80_percent_or_after_a_day() {
        // An hour-long token issued at 1000.
        let expires = 1000 + 3600;
        assert!(!requires_refresh(1000, expires, 3600));
        assert!(!requires_refresh(1000 + 2880, expires, 3600));
        assert!(requires_refresh(1000 + 2881, expires, 3600));
        // A two-day token: renewed after a day.
        let long = 2 * 24 * 3600;
        assert!(!requires_refresh(1000 + MAX_TTL_SECONDS, 1000 + long, long));
        assert!(requires_refresh(1001 + MAX_TTL_SECONDS, 1000 + long, long));
    }
}
