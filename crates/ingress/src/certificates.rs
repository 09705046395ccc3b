//! Server certificates by host name, from the `spec.tls` entries of the
//! served Ingresses and the `tls.crt`/`tls.key` of the Secrets they name;
//! hosts without a usable one get the generated default certificate.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::networking::v1::Ingress;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;

use crate::hosts;

/// The subject of the default certificate, which says what it is to
/// whoever inspects it (ingress-nginx's is the "Fake Certificate").
const DEFAULT_CERTIFICATE_NAME: &str = "Capstan Ingress Controller Fake Certificate";

/// Finds a Secret by namespace and name.
pub(crate) type SecretLookup<'a> = &'a dyn Fn(&str, &str) -> Option<Arc<Secret>>;

/// The certificates to present, by the host a client names in SNI.
#[derive(Debug, Default)]
pub struct CertificateTable {
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// Keyed by the domain under the wildcard: `example.com` for `*.example.com`.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
}

impl CertificateTable {
    /// The certificates of `ingresses`, served ones oldest first: when two
    /// name a certificate for one host, the first keeps it.
    pub(crate) fn build(
        ingresses: &[Arc<Ingress>],
        secrets: SecretLookup<'_>,
        cache: &mut CertificateCache,
    ) -> Self {
        let mut table = CertificateTable::default();
        let mut used = HashSet::new();
        for ingress in ingresses {
            let Some(spec) = &ingress.spec else { continue };
            let namespace = ingress.metadata.namespace.as_deref().unwrap_or("default");
            for entry in spec.tls.iter().flatten() {
                let Some(secret_name) =
                    entry.secret_name.as_deref().filter(|name| !name.is_empty())
                else {
                    continue;
                };
                let key = (namespace.to_string(), secret_name.to_string());
                let certificate = cache.certificate(&key, secrets);
                used.insert(key);
                // Without a certificate, these hosts get the default one.
                let Some(certificate) = certificate else {
                    continue;
                };
                let entry_hosts: Vec<String> = match entry.hosts.as_deref() {
                    Some(listed) if !listed.is_empty() => listed
                        .iter()
                        .map(|host| hosts::normalize_configured(host))
                        .collect(),
                    // An entry without hosts is for the hosts of the rules.
                    _ => spec
                        .rules
                        .iter()
                        .flatten()
                        .filter_map(|rule| rule.host.as_deref())
                        .map(hosts::normalize_configured)
                        .collect(),
                };
                for host in entry_hosts {
                    table.insert(&host, &certificate);
                }
            }
        }
        cache.forget_all_but(&used);
        table
    }

    fn insert(&mut self, host: &str, certificate: &Arc<CertifiedKey>) {
        if host.is_empty() {
            return;
        }
        let (map, key) = match hosts::wildcard_domain(host) {
            Some(domain) => (&mut self.wildcard, domain),
            None => (&mut self.exact, host),
        };
        map.entry(key.to_string())
            .or_insert_with(|| certificate.clone());
    }

    /// The certificate for the name a client sent in SNI: one for that
    /// exact host, else one for the wildcard one label above it. None means
    /// the default certificate.
    pub fn choose(&self, server_name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let name = hosts::normalize(server_name?);
        self.exact
            .get(name.as_ref())
            .or_else(|| hosts::wildcard_parent(&name).and_then(|parent| self.wildcard.get(parent)))
            .cloned()
    }
}

/// Certificates parsed from Secrets, kept across rebuilds of the table so
/// that a Secret is parsed, and a bad one reported, once per version.
#[derive(Default)]
pub(crate) struct CertificateCache {
    parsed: HashMap<SecretName, ParsedSecret>,
    /// Secrets named but absent, already reported.
    missing: HashSet<SecretName>,
}

/// A Secret's namespace and name.
type SecretName = (String, String);

/// What one version of a Secret held.
struct ParsedSecret {
    resource_version: Option<String>,
    /// None when it held no usable certificate.
    certificate: Option<Arc<CertifiedKey>>,
}

impl CertificateCache {
    fn certificate(
        &mut self,
        key: &(String, String),
        secrets: SecretLookup<'_>,
    ) -> Option<Arc<CertifiedKey>> {
        let (namespace, name) = key;
        let Some(secret) = secrets(namespace, name) else {
            self.parsed.remove(key);
            if self.missing.insert(key.clone()) {
                tracing::warn!(secret = %format!("{namespace}/{name}"), "TLS secret not found; its hosts get the default certificate");
            }
            return None;
        };
        self.missing.remove(key);
        let resource_version = secret.metadata.resource_version.clone();
        if let Some(seen) = self.parsed.get(key) {
            if seen.resource_version == resource_version {
                return seen.certificate.clone();
            }
        }
        let certificate = match certified_key_of(&secret) {
            Ok(certificate) => Some(Arc::new(certificate)),
            Err(error) => {
                tracing::warn!(secret = %format!("{namespace}/{name}"), %error, "unusable TLS secret; its hosts get the default certificate");
                None
            }
        };
        let parsed = ParsedSecret {
            resource_version,
            certificate: certificate.clone(),
        };
        self.parsed.insert(key.clone(), parsed);
        certificate
    }

    /// Drops what no Ingress names any more, so that a Secret named again
    /// later is read (and reported) afresh.
    fn forget_all_but(&mut self, used: &HashSet<SecretName>) {
        self.parsed.retain(|key, _| used.contains(key));
        self.missing.retain(|key| used.contains(key));
    }
}

/// The certificate chain and key of a TLS Secret (`tls.crt`, `tls.key`).
fn certified_key_of(secret: &Secret) -> Result<CertifiedKey, String> {
    let data = secret.data.as_ref().ok_or("the secret has no data")?;
    let chain = data.get("tls.crt").ok_or("the secret has no tls.crt")?;
    let key = data.get("tls.key").ok_or("the secret has no tls.key")?;
    certified_key_from_pem(&chain.0, &key.0)
}

/// A certificate chain and its private key from PEM; the key must match
/// the first certificate.
pub(crate) fn certified_key_from_pem(
    chain_pem: &[u8],
    key_pem: &[u8],
) -> Result<CertifiedKey, String> {
    let chain = CertificateDer::pem_slice_iter(chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("tls.crt: {error}"))?;
    if chain.is_empty() {
        return Err("tls.crt holds no certificate".into());
    }
    let key =
        PrivateKeyDer::from_pem_slice(key_pem).map_err(|error| format!("tls.key: {error}"))?;
    CertifiedKey::from_der(chain, key, &rustls::crypto::ring::default_provider())
        .map_err(|error| error.to_string())
}

/// A self-signed certificate made at start, for hosts without one of their
/// own and clients that send no SNI.
pub(crate) fn default_certificate() -> Result<CertifiedKey, String> {
    let failed = |error: rcgen::Error| format!("cannot generate the default certificate: {error}");
    let key = rcgen::KeyPair::generate().map_err(failed)?;
    let mut params =
        rcgen::CertificateParams::new(vec!["ingress.local".to_string()]).map_err(failed)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, DEFAULT_CERTIFICATE_NAME);
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "Acme Co");
    let certificate = params.self_signed(&key).map_err(failed)?;
    let key = PrivatePkcs8KeyDer::from(key.serialize_der());
    CertifiedKey::from_der(
        vec![certificate.der().clone()],
        key.into(),
        &rustls::crypto::ring::default_provider(),
    )
    .map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::testing::{backend_by_number, self_signed, tls_secret, IngressBuilder};

    struct Fixture {
        secrets: Vec<Arc<Secret>>,
        /// The certificate each secret holds, by secret name.
        certificates: HashMap<String, Vec<u8>>,
    }

    impl Fixture {
        fn new(named: &[(&str, &[&str])]) -> Fixture {
            let mut fixture = Fixture {
                secrets: Vec::new(),
                certificates: HashMap::new(),
            };
            for (name, hosts) in named {
                let (cert, key) = self_signed(hosts);
                let der =
                    CertificateDer::from_pem_slice(cert.as_bytes()).expect("test certificate");
                fixture.certificates.insert(name.to_string(), der.to_vec());
                fixture.secrets.push(tls_secret(name, &cert, &key));
            }
            fixture
        }

        fn lookup(&self) -> impl Fn(&str, &str) -> Option<Arc<Secret>> + '_ {
            move |namespace, name| {
                self.secrets
                    .iter()
                    .find(|secret| {
                        secret.metadata.namespace.as_deref() == Some(namespace)
                            && secret.metadata.name.as_deref() == Some(name)
                    })
                    .cloned()
            }
        }

        /// Which secret's certificate `table` presents for `sni`.
        fn chosen(&self, table: &CertificateTable, sni: Option<&str>) -> Option<String> {
            let chosen = table.choose(sni)?;
            let der = chosen.end_entity_cert().ok()?.to_vec();
            self.certificates
                .iter()
                .find(|(_, cert)| **cert == der)
                .map(|(name, _)| name.clone())
        }
    }

    #[test]
    fn sni_picks_exact_then_wildcard_certificate() {
        let fixture = Fixture::new(&[
            ("exact", &["www.example.com"]),
            ("wild", &["*.example.com"]),
        ]);
        let ingress = IngressBuilder::new("tls")
            .rule(
                "www.example.com",
                &[("/", "Prefix", backend_by_number("a", 80))],
            )
            .tls(&["www.example.com"], "exact")
            .tls(&["*.example.com"], "wild")
            .build();
        let table = CertificateTable::build(
            &[ingress],
            &fixture.lookup(),
            &mut CertificateCache::default(),
        );
        assert_eq!(
            fixture.chosen(&table, Some("www.example.com")).as_deref(),
            Some("exact")
        );
        assert_eq!(
            fixture.chosen(&table, Some("WWW.Example.com")).as_deref(),
            Some("exact")
        );
        assert_eq!(
            fixture.chosen(&table, Some("api.example.com")).as_deref(),
            Some("wild")
        );
        assert_eq!(fixture.chosen(&table, Some("a.b.example.com")), None);
        assert_eq!(fixture.chosen(&table, Some("example.com")), None);
        assert_eq!(fixture.chosen(&table, None), None);
    }

    #[test]
    fn tls_entry_without_hosts_covers_the_rule_hosts() {
        let fixture = Fixture::new(&[("site", &["site.test"])]);
        let mut builder = IngressBuilder::new("tls")
            .rule("site.test", &[("/", "Prefix", backend_by_number("a", 80))]);
        builder = builder.tls(&[], "site");
        let table = CertificateTable::build(
            &[builder.build()],
            &fixture.lookup(),
            &mut CertificateCache::default(),
        );
        assert_eq!(
            fixture.chosen(&table, Some("site.test")).as_deref(),
            Some("site")
        );
    }

    #[test]
    fn oldest_ingress_keeps_a_host_both_claim() {
        let fixture = Fixture::new(&[("first", &["h.test"]), ("second", &["h.test"])]);
        let first = IngressBuilder::new("first")
            .tls(&["h.test"], "first")
            .build();
        let second = IngressBuilder::new("second")
            .tls(&["h.test"], "second")
            .build();
        let table = CertificateTable::build(
            &[first, second],
            &fixture.lookup(),
            &mut CertificateCache::default(),
        );
        assert_eq!(
            fixture.chosen(&table, Some("h.test")).as_deref(),
            Some("first")
        );
    }

    #[test]
    fn missing_or_bad_secrets_leave_the_host_to_the_default_certificate() {
        let fixture = Fixture::new(&[("good", &["good.test"])]);
        let (_, other_key) = self_signed(&["other.test"]);
        let (cert, _) = self_signed(&["mismatch.test"]);
        let mut secrets = fixture.secrets.clone();
        secrets.push(tls_secret("mismatched", &cert, &other_key));
        secrets.push(tls_secret("garbage", "not pem", "not pem either"));
        let mut no_data = (*tls_secret("empty", "", "")).clone();
        no_data.data = Some(BTreeMap::new());
        secrets.push(Arc::new(no_data));
        let lookup = |namespace: &str, name: &str| {
            secrets
                .iter()
                .find(|secret| {
                    secret.metadata.namespace.as_deref() == Some(namespace)
                        && secret.metadata.name.as_deref() == Some(name)
                })
                .cloned()
        };
        let ingress = IngressBuilder::new("tls")
            .tls(&["good.test"], "good")
            .tls(&["mismatch.test"], "mismatched")
            .tls(&["garbage.test"], "garbage")
            .tls(&["empty.test"], "empty")
            .tls(&["absent.test"], "absent")
            .build();
        let mut cache = CertificateCache::default();
        let table = CertificateTable::build(std::slice::from_ref(&ingress), &lookup, &mut cache);
        assert_eq!(
            fixture.chosen(&table, Some("good.test")).as_deref(),
            Some("good")
        );
        for host in ["mismatch.test", "garbage.test", "empty.test", "absent.test"] {
            assert!(
                table.choose(Some(host)).is_none(),
                "{host} must get the default certificate"
            );
        }
        // Parsed once per version: the cache remembers both outcomes.
        assert_eq!(cache.parsed.len(), 4);
        assert_eq!(cache.missing.len(), 1);
        let _ = CertificateTable::build(&[], &lookup, &mut cache);
        assert!(cache.parsed.is_empty() && cache.missing.is_empty());
    }

    #[test]
    fn default_certificate_is_generated() {
        let certificate = default_certificate().expect("default certificate");
        assert!(certificate.keys_match().is_ok());
    }
}
