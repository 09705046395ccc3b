//! The TLS side of the HTTPS listener: certificates chosen per handshake
//! by SNI from the current configuration, and h2 or http/1.1 by ALPN.

use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use crate::config::SharedConfig;

/// Picks each handshake's certificate from the configuration of the moment,
/// so new certificates apply without restarting the listener.
#[derive(Debug)]
struct SniResolver {
    config: Arc<SharedConfig>,
    default: Arc<CertifiedKey>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let chosen = self
            .config
            .current()
            .certificates
            .choose(client_hello.server_name());
        Some(chosen.unwrap_or_else(|| self.default.clone()))
    }
}

/// The acceptor for the HTTPS listener; `default` is presented when no
/// Ingress has a certificate for the name the client asked for.
pub(crate) fn acceptor(
    config: Arc<SharedConfig>,
    default: Arc<CertifiedKey>,
) -> Result<TlsAcceptor, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("TLS configuration: {error}"))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SniResolver { config, default }));
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(server)))
}
