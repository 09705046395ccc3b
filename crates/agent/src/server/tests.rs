use std::path::Path;

use http_body_util::Empty;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    SanType,
};
use tokio_rustls::TlsConnector;

use super::*;

fn now() -> Timestamp {
    "2024-01-01T12:00:00Z".parse().unwrap()
}

fn parsed(query: &str) -> (LogOptions, bool) {
    parse_query(Some(query), now()).unwrap()
}

#[test]
fn queries_read_as_the_kubelet_reads_them() {
    assert_eq!(parsed(""), (LogOptions::default(), false));
    let (options, previous) =
        parsed("follow=true&previous=true&timestamps=1&tailLines=5&limitBytes=100&sinceSeconds=60");
    assert!(previous);
    assert_eq!(
        options,
        LogOptions {
            tail: Some(5),
            limit_bytes: Some(100),
            since: Some("2024-01-01T11:59:00Z".parse().unwrap()),
            follow: true,
            timestamps: true,
        }
    );
    let (options, _) = parsed("sinceTime=2024-01-01T10%3A00%3A00Z");
    assert_eq!(options.since, Some("2024-01-01T10:00:00Z".parse().unwrap()));
    // The old `tail` parameter, and `all` for everything.
    assert_eq!(parsed("tail=3").0.tail, Some(3));
    assert_eq!(parsed("tailLines=3&tail=all").0.tail, None);

    let refused = |query| parse_query(Some(query), now()).unwrap_err();
    assert_eq!(refused("tailLines=x").0, StatusCode::BAD_REQUEST);
    assert_eq!(refused("follow=maybe").0, StatusCode::BAD_REQUEST);
    for invalid in [
        "tailLines=-1",
        "limitBytes=0",
        "sinceSeconds=0",
        "sinceSeconds=5&sinceTime=2024-01-01T10%3A00%3A00Z",
    ] {
        let (status, message) = refused(invalid);
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{invalid}");
        assert_eq!(message, r#"{"message": "Invalid request."}"#);
    }
}

/// A CA and certificates it signed: the node's serving one and a client's.
struct Pki {
    ca_pem: String,
    serving: ServingTls,
    client: (String, String),
    stranger: (String, String),
}

fn pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "test-ca");
    let ca_cert = params.self_signed(&ca_key).unwrap();
    let ca_pem = ca_cert.pem();
    let ca = Issuer::from_ca_cert_pem(&ca_pem, ca_key).unwrap();
    let issue = |name: &str, usage: ExtendedKeyUsagePurpose, issuer: &Issuer<'_, KeyPair>| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
        params.subject_alt_names = vec![SanType::IpAddress("127.0.0.1".parse().unwrap())];
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (cert, key) = issue("node", ExtendedKeyUsagePurpose::ServerAuth, &ca);
    let client = issue(
        "kube-apiserver-kubelet-client",
        ExtendedKeyUsagePurpose::ClientAuth,
        &ca,
    );
    // A certificate of another CA.
    let other_key = KeyPair::generate().unwrap();
    let other = CertificateParams::default()
        .self_signed(&other_key)
        .unwrap();
    let other = Issuer::from_ca_cert_pem(&other.pem(), other_key).unwrap();
    let stranger = issue("stranger", ExtendedKeyUsagePurpose::ClientAuth, &other);
    Pki {
        serving: ServingTls {
            ca_cert: ca_pem.clone(),
            cert,
            key,
        },
        ca_pem,
        client,
        stranger,
    }
}

/// GET `path` over TLS, with a client certificate or none: the status and
/// body, or None when the TLS handshake fails.
async fn get(
    port: u16,
    ca_pem: &str,
    identity: Option<&(String, String)>,
    path: &str,
) -> Option<(StatusCode, String)> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match identity {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .ok()?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .ok()?;
    tokio::spawn(connection);
    let request = Request::get(path)
        .header("host", "127.0.0.1")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.ok()?;
    let status = response.status();
    let body = response.into_body().collect().await.ok()?.to_bytes();
    Some((status, String::from_utf8_lossy(&body).into_owned()))
}

#[tokio::test]
async fn only_clients_of_the_cluster_ca_are_served() {
    let pki = pki();
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
    let finder = Finder {
        client: kube::Client::try_from(config).unwrap(),
        nodes: vec!["node".into()],
        cri: crate::cri::CriClient::new(Path::new("/nonexistent/cri.sock")),
        agent_dir: std::env::temp_dir(),
    };
    let server = tokio::spawn(serve(listener, tls_config(&pki.serving).unwrap(), finder));

    let with_client = Some(&pki.client);
    assert_eq!(
        get(port, &pki.ca_pem, with_client, "/healthz").await,
        Some((StatusCode::OK, "ok".into()))
    );
    assert_eq!(
        get(port, &pki.ca_pem, None, "/containerLogs/default/web/app").await,
        Some((StatusCode::UNAUTHORIZED, "Unauthorized".into()))
    );
    // A certificate of another CA fails the handshake.
    let stranger = get(port, &pki.ca_pem, Some(&pki.stranger), "/healthz").await;
    assert!(stranger.is_none() || stranger.unwrap().0 == StatusCode::UNAUTHORIZED);
    let (status, _) = get(port, &pki.ca_pem, with_client, "/pods").await.unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Bad options are refused before anything is looked up.
    assert_eq!(
        get(
            port,
            &pki.ca_pem,
            with_client,
            "/containerLogs/default/web/app?tailLines=-2"
        )
        .await
        .unwrap()
        .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    server.abort();
}
