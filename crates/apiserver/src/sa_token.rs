//! Service account tokens: JWTs (ES256) signed with the server's service
//! account key, with upstream's claims (`pkg/serviceaccount/claims.go`).
//! The key lives next to the cluster CA and is made on first start, so
//! tokens stay valid across restarts.

use std::io;
use std::path::Path;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, KeyPair, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED,
    ECDSA_P256_SHA256_FIXED_SIGNING,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::PrivatePkcs8KeyDer;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// Who issues the tokens (`iss`), as k3s' and kubeadm's default.
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// The audience the API server accepts, and gives tokens that ask for none.
pub const API_AUDIENCE: &str = ISSUER;

/// Clock skew allowed on `exp` and `nbf`, as go-jose's default leeway.
pub const LEEWAY_SECONDS: i64 = 60;

/// The expiry admission gives the `kube-api-access` token; tokens bound to
/// a pod that ask for exactly this live a year and carry `warnafter`
/// instead (upstream's `--service-account-extend-token-expiration`).
pub const WARN_ONLY_EXPIRATION_SECONDS: i64 = 60 * 60 + 7;
const EXTENDED_EXPIRATION_SECONDS: i64 = 24 * 365 * 60 * 60;

/// The DER header of a P-256 `SubjectPublicKeyInfo`, before the point.
const P256_SPKI_PREFIX: &[u8] = &[
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// The service account signing key.
pub struct TokenSigner {
    key: EcdsaKeyPair,
    /// Upstream's key id: the SHA-256 of the public key's DER, base64url.
    key_id: String,
}

impl TokenSigner {
    /// The key at `path`, made (readable by its owner only) when missing.
    pub fn load_or_create(path: &Path) -> io::Result<TokenSigner> {
        if !path.exists() {
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(
                &ECDSA_P256_SHA256_FIXED_SIGNING,
                &SystemRandom::new(),
            )
            .map_err(|_| io::Error::other("service account key: cannot generate"))?;
            crate::pki::write_secret(path, &pem("PRIVATE KEY", pkcs8.as_ref()))?;
        }
        let text = std::fs::read(path)?;
        TokenSigner::from_pem(&text)
            .map_err(|error| io::Error::other(format!("{}: {error}", path.display())))
    }

    /// A key from PKCS#8 PEM.
    pub fn from_pem(text: &[u8]) -> Result<TokenSigner, String> {
        let der = PrivatePkcs8KeyDer::from_pem_slice(text)
            .map_err(|error| format!("service account key: {error}"))?;
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            der.secret_pkcs8_der(),
            &SystemRandom::new(),
        )
        .map_err(|error| format!("service account key: {error}"))?;
        let mut spki = P256_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(key.public_key().as_ref());
        let key_id = URL_SAFE_NO_PAD.encode(Sha256::digest(&spki));
        Ok(TokenSigner { key, key_id })
    }

    /// The public key as a JSON Web Key, as upstream's `/openid/v1/jwks`
    /// lists it.
    pub fn jwk(&self) -> Value {
        // An uncompressed P-256 point: 0x04, then x and y.
        let point = self.key.public_key().as_ref();
        let (x, y) = point[1..].split_at(32);
        json!({
            "use": "sig",
            "kty": "EC",
            "kid": self.key_id,
            "crv": "P-256",
            "alg": "ES256",
            "x": URL_SAFE_NO_PAD.encode(x),
            "y": URL_SAFE_NO_PAD.encode(y),
        })
    }

    /// A signed JWT carrying `claims`.
    pub fn sign(&self, claims: &Value) -> Result<String, String> {
        let header = json!({"alg": "ES256", "kid": self.key_id});
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .key
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .map_err(|_| "failed to generate token: signing failed".to_string())?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        ))
    }

    /// The claims of `token` when this key signed it; nothing else is
    /// checked here.
    pub fn verify(&self, token: &str) -> Option<Map<String, Value>> {
        let mut parts = token.split('.');
        let (header, claims, signature) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).ok();
        let parsed: Value = serde_json::from_slice(&decode(header)?).ok()?;
        if parsed.get("alg").and_then(Value::as_str) != Some("ES256") {
            return None;
        }
        let public = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, self.key.public_key());
        let signed = &token.as_bytes()[..header.len() + 1 + claims.len()];
        public.verify(signed, &decode(signature)?).ok()?;
        match serde_json::from_slice(&decode(claims)?).ok()? {
            Value::Object(claims) => Some(claims),
            _ => None,
        }
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    let encoded = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in encoded.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// A `name` and `uid` pair of the `kubernetes.io` claim.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ref {
    pub name: String,
    pub uid: String,
}

impl Ref {
    pub fn of(object: &Value) -> Ref {
        let meta = |field: &str| {
            object
                .pointer(&format!("/metadata/{field}"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        Ref {
            name: meta("name"),
            uid: meta("uid"),
        }
    }

    fn claim(&self) -> Value {
        json!({"name": self.name, "uid": self.uid})
    }
}

/// What a token is issued for.
#[derive(Clone, Debug, Default)]
pub struct TokenFor {
    pub namespace: String,
    pub service_account: Ref,
    pub audiences: Vec<String>,
    pub expiration_seconds: i64,
    pub pod: Option<Ref>,
    pub secret: Option<Ref>,
    /// The node the token is bound to, or the node of the bound pod.
    pub node: Option<Ref>,
}

/// The claims of a new token issued at `now` (seconds since the epoch),
/// and when it expires: upstream's `Claims`, with the expiry extended for
/// the pod-bound `kube-api-access` tokens of the API audience.
pub fn claims(request: &TokenFor, now: i64, jti: &str) -> (Value, i64) {
    let mut expires = now + request.expiration_seconds;
    let mut warn_after = None;
    let extend = request.pod.is_some()
        && request.expiration_seconds == WARN_ONLY_EXPIRATION_SECONDS
        && request.audiences.iter().any(|aud| aud == API_AUDIENCE);
    if extend {
        warn_after = Some(expires);
        expires = now + EXTENDED_EXPIRATION_SECONDS;
    }
    let mut kubernetes = json!({
        "namespace": request.namespace,
        "serviceaccount": request.service_account.claim(),
    });
    if let Some(pod) = &request.pod {
        kubernetes["pod"] = pod.claim();
    } else if let Some(secret) = &request.secret {
        kubernetes["secret"] = secret.claim();
    }
    if let Some(node) = &request.node {
        kubernetes["node"] = node.claim();
    }
    if let Some(warn_after) = warn_after {
        kubernetes["warnafter"] = warn_after.into();
    }
    let claims = json!({
        "iss": ISSUER,
        "sub": username(&request.namespace, &request.service_account.name),
        "aud": request.audiences,
        "exp": expires,
        "iat": now,
        "nbf": now,
        "jti": jti,
        "kubernetes.io": kubernetes,
    });
    (claims, expires)
}

/// `system:serviceaccount:<namespace>:<name>`
pub fn username(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .unwrap_or_default()
}

/// The claims of a token this server signed, for the API audience and
/// within its lifetime at `now`: what the authenticator goes on to check
/// against the objects it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub namespace: String,
    pub service_account: Ref,
    pub pod: Option<Ref>,
    pub secret: Option<Ref>,
    pub node: Option<Ref>,
    pub jti: Option<String>,
}

/// Whether `token` has a JWT's three parts: anything else is not a
/// service account token.
pub fn is_jwt(token: &str) -> bool {
    token.split('.').count() == 3
}

/// Checks the signature, issuer, audience and lifetime of `token`.
pub fn verify(signer: &TokenSigner, token: &str, now: i64) -> Option<Verified> {
    verify_for(signer, token, now, &[API_AUDIENCE]).map(|(verified, _)| verified)
}

/// As [`verify`], for a token meant for any of `audiences`; also returns
/// those of them the token names (a TokenReview's `status.audiences`).
pub fn verify_for(
    signer: &TokenSigner,
    token: &str,
    now: i64,
    audiences: &[&str],
) -> Option<(Verified, Vec<String>)> {
    let claims = signer.verify(token)?;
    if claims.get("iss").and_then(Value::as_str) != Some(ISSUER) {
        return None;
    }
    let named: Vec<&str> = match claims.get("aud")? {
        Value::String(one) => vec![one.as_str()],
        Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let matched: Vec<String> = audiences
        .iter()
        .filter(|audience| named.contains(audience))
        .map(|audience| audience.to_string())
        .collect();
    if matched.is_empty() {
        return None;
    }
    let expires = claims.get("exp").and_then(Value::as_i64)?;
    if now > expires + LEEWAY_SECONDS {
        return None;
    }
    if let Some(not_before) = claims.get("nbf").and_then(Value::as_i64) {
        if now + LEEWAY_SECONDS < not_before {
            return None;
        }
    }
    let kubernetes = claims.get("kubernetes.io")?;
    let reference = |field: &str| {
        let value = kubernetes.get(field)?;
        let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_string);
        Some(Ref {
            name: text("name")?,
            uid: text("uid").unwrap_or_default(),
        })
    };
    let namespace = kubernetes.get("namespace").and_then(Value::as_str)?;
    let service_account = reference("serviceaccount")?;
    if namespace.is_empty() || service_account.name.is_empty() {
        return None;
    }
    let verified = Verified {
        namespace: namespace.to_string(),
        service_account,
        pod: reference("pod"),
        secret: reference("secret"),
        node: reference("node"),
        jti: claims
            .get("jti")
            .and_then(Value::as_str)
            .map(str::to_string),
    };
    Some((verified, matched))
}

/// A fresh key, kept nowhere.
#[cfg(test)]
pub(crate) fn test_signer() -> TokenSigner {
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .unwrap();
    TokenSigner::from_pem(pem("PRIVATE KEY", pkcs8.as_ref()).as_bytes()).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> TokenSigner {
        test_signer()
    }

    fn request() -> TokenFor {
        TokenFor {
            namespace: "ns".into(),
            service_account: Ref {
                name: "builder".into(),
                uid: "sa-uid".into(),
            },
            audiences: vec![API_AUDIENCE.into()],
            expiration_seconds: 3600,
            ..TokenFor::default()
        }
    }

    #[test]
    fn claims_are_upstreams() {
        let mut bound = request();
        bound.pod = Some(Ref {
            name: "web".into(),
            uid: "pod-uid".into(),
        });
        bound.node = Some(Ref {
            name: "node-1".into(),
            uid: "node-uid".into(),
        });
        let (claims, expires) = claims(&bound, 1000, "id-1");
        assert_eq!(expires, 4600);
        assert_eq!(claims["iss"], ISSUER);
        assert_eq!(claims["sub"], "system:serviceaccount:ns:builder");
        assert_eq!(claims["aud"], json!([API_AUDIENCE]));
        assert_eq!(
            (claims["iat"].clone(), claims["nbf"].clone()),
            (json!(1000), json!(1000))
        );
        assert_eq!(claims["jti"], "id-1");
        let kubernetes = &claims["kubernetes.io"];
        assert_eq!(kubernetes["namespace"], "ns");
        assert_eq!(
            kubernetes["serviceaccount"],
            json!({"name": "builder", "uid": "sa-uid"})
        );
        assert_eq!(kubernetes["pod"], json!({"name": "web", "uid": "pod-uid"}));
        assert_eq!(
            kubernetes["node"],
            json!({"name": "node-1", "uid": "node-uid"})
        );
        assert!(kubernetes.get("warnafter").is_none());
        // The admission's 3607 seconds, bound to a pod: a year, with a warning time.
        bound.expiration_seconds = WARN_ONLY_EXPIRATION_SECONDS;
        let (claims, expires) = super::claims(&bound, 1000, "id-2");
        assert_eq!(expires, 1000 + EXTENDED_EXPIRATION_SECONDS);
        assert_eq!(claims["kubernetes.io"]["warnafter"], 1000 + 3607);
        // Not bound to a pod: as asked.
        let mut unbound = request();
        unbound.expiration_seconds = WARN_ONLY_EXPIRATION_SECONDS;
        assert_eq!(super::claims(&unbound, 1000, "id-3").1, 1000 + 3607);
    }

    #[test]
    fn tokens_verify_with_their_key_only() {
        let signer = signer();
        let now = 10_000;
        let (claims, _) = claims(&request(), now, "id");
        let token = signer.sign(&claims).unwrap();
        let verified = verify(&signer, &token, now + 5).unwrap();
        assert_eq!(verified.namespace, "ns");
        assert_eq!(verified.service_account.uid, "sa-uid");
        assert_eq!(verified.jti.as_deref(), Some("id"));
        assert!(verified.pod.is_none());
        // Another key, a changed payload, an expired or foreign token: no.
        assert!(verify(&test_signer(), &token, now).is_none());
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(
            json!({"iss": ISSUER, "aud": [API_AUDIENCE], "exp": now + 10,
                "kubernetes.io": {"namespace": "kube-system", "serviceaccount": {"name": "x", "uid": "y"}}})
            .to_string(),
        );
        parts[1] = &forged;
        assert!(verify(&signer, &parts.join("."), now).is_none());
        assert!(verify(&signer, &token, now + 3600 + LEEWAY_SECONDS + 1).is_none());
        assert!(verify(&signer, "not.a.token", now).is_none());
        assert!(verify(&signer, "abc", now).is_none());
    }

    #[test]
    fn other_audiences_are_refused() {
        let signer = signer();
        let mut other = request();
        other.audiences = vec!["vault".into()];
        let (claims, _) = claims(&other, 100, "id");
        let token = signer.sign(&claims).unwrap();
        assert!(signer.verify(&token).is_some());
        assert!(verify(&signer, &token, 100).is_none());
    }

    #[test]
    fn the_key_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("service.key");
        let first = TokenSigner::load_or_create(&path).unwrap();
        let again = TokenSigner::load_or_create(&path).unwrap();
        assert_eq!(first.key_id, again.key_id);
        let token = first.sign(&claims(&request(), 5, "id").0).unwrap();
        assert!(verify(&again, &token, 5).is_some());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
