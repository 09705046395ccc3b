//! Socket tests: the controller on loopback, serving configurations built
//! from Ingress objects, in front of backend servers the tests start.

mod support;

use std::future::Future;

use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::testing::{
    backend_by_number, endpoint_slice, self_signed, service, tls_secret, IngressBuilder,
    SliceEndpoint,
};
use support::{
    body_text, closed_port, config, get, https_get, services_for, HttpConnection, RunningIngress,
    TestBackend, SLOW_PART_PAUSE, TIMEOUT,
};

/// Runs a test, failing it if it takes longer than a bound.
async fn bounded(test: impl Future<Output = ()>) {
    tokio::time::timeout(TIMEOUT * 3, test)
        .await
        .expect("the test took too long");
}

#[tokio::test]
async fn host_and_path_routing_reaches_the_right_backend() {
    bounded(async {
        let (a, b) = (TestBackend::start("a").await, TestBackend::start("b").await);
        let (services, slices) = services_for(&[("a", &a), ("b", &b)]);
        let ingresses = [
            IngressBuilder::new("site")
                .rule("a.test", &[("/", "Prefix", backend_by_number("a", 80))])
                .build(),
            IngressBuilder::new("api")
                .rule(
                    "b.test",
                    &[
                        ("/api", "Prefix", backend_by_number("b", 80)),
                        ("/", "Prefix", backend_by_number("a", 80)),
                    ],
                )
                .build(),
        ];
        let ingress = RunningIngress::start(config(&ingresses, &services, &slices, &[])).await;

        let (status, body) = get(ingress.http, "a.test", "/index.html").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            body.starts_with("backend=a path=/index.html host=a.test "),
            "{body}"
        );
        let (_, body) = get(ingress.http, "B.test:8080", "/api/v1").await;
        assert!(
            body.starts_with("backend=b path=/api/v1 host=B.test:8080 "),
            "{body}"
        );
        let (_, body) = get(ingress.http, "b.test", "/apis").await;
        assert!(body.starts_with("backend=a "), "{body}");
        // The client's X-Forwarded-For is replaced, the rest is set.
        let port = ingress.http.port();
        assert!(
            body.contains(&format!(
                "xff=127.0.0.1 proto=http xfhost=b.test xfport={port}"
            )),
            "{body}"
        );

        // Bodies go through, on a kept-alive connection.
        let mut connection = HttpConnection::open(ingress.http).await;
        for round in 0..3 {
            let response = connection
                .send("POST", "a.test", "/echo", &format!("payload {round}"))
                .await;
            let body = body_text(response).await;
            assert!(body.ends_with(&format!("body=payload {round}")), "{body}");
        }
        ingress.stop().await;
    })
    .await;
}

#[tokio::test]
async fn unknown_host_is_404_and_backend_without_endpoints_is_503() {
    bounded(async {
        let a = TestBackend::start("a").await;
        let (mut services, mut slices) = services_for(&[("a", &a)]);
        services.push(service("idle", &[("http", 80)]));
        slices.push(endpoint_slice(
            "idle",
            &[("http", 80)],
            &[SliceEndpoint::not_ready("127.0.0.1")],
        ));
        let ingresses = [IngressBuilder::new("site")
            .rule("a.test", &[("/", "Prefix", backend_by_number("a", 80))])
            .rule(
                "idle.test",
                &[("/", "Prefix", backend_by_number("idle", 80))],
            )
            .rule(
                "gone.test",
                &[("/", "Prefix", backend_by_number("missing", 80))],
            )
            .build()];
        let ingress = RunningIngress::start(config(&ingresses, &services, &slices, &[])).await;

        let (status, body) = get(ingress.http, "nobody.test", "/").await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::NOT_FOUND, "404 Not Found\n")
        );
        assert_eq!(
            get(ingress.http, "idle.test", "/").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            get(ingress.http, "gone.test", "/").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        ingress.stop().await;
    })
    .await;
}

#[tokio::test]
async fn unreachable_endpoint_is_502_and_requests_without_body_try_the_next() {
    bounded(async {
        let a = TestBackend::start("a").await;
        let dead = closed_port().await;
        let services = vec![
            service("dead", &[("http", 80)]),
            service("mixed", &[("", 80)]),
        ];
        let slices = vec![
            endpoint_slice(
                "dead",
                &[("http", i32::from(dead))],
                &[SliceEndpoint::ready("127.0.0.1")],
            ),
            // Two endpoints on different ports cannot share a slice, so two slices.
            endpoint_slice(
                "mixed",
                &[("", i32::from(dead))],
                &[SliceEndpoint::ready("127.0.0.1")],
            ),
            endpoint_slice(
                "mixed",
                &[("", i32::from(a.addr.port()))],
                &[SliceEndpoint::ready("127.0.0.1")],
            ),
        ];
        let ingresses = [IngressBuilder::new("site")
            .rule(
                "dead.test",
                &[("/", "Prefix", backend_by_number("dead", 80))],
            )
            .rule(
                "mixed.test",
                &[("/", "Prefix", backend_by_number("mixed", 80))],
            )
            .build()];
        let ingress = RunningIngress::start(config(&ingresses, &services, &slices, &[])).await;

        let (status, body) = get(ingress.http, "dead.test", "/").await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::BAD_GATEWAY, "502 Bad Gateway\n")
        );
        // Whichever endpoint comes first, a GET ends at the live one.
        for _ in 0..4 {
            let (status, body) = get(ingress.http, "mixed.test", "/").await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        ingress.stop().await;
    })
    .await;
}

#[tokio::test]
async fn https_presents_the_certificate_chosen_by_sni_and_routes_by_host() {
    bounded(async {
        let a = TestBackend::start("a").await;
        let (services, slices) = services_for(&[("a", &a)]);
        let (cert_pem, key_pem) = self_signed(&["secure.test"]);
        let secret_cert = rustls::pki_types::pem::PemObject::from_pem_slice(cert_pem.as_bytes())
            .map(|cert: rustls::pki_types::CertificateDer<'_>| cert.to_vec())
            .expect("test certificate");
        let secrets = [tls_secret("secure-tls", &cert_pem, &key_pem)];
        let ingresses = [IngressBuilder::new("secure")
            .rule(
                "secure.test",
                &[("/", "Prefix", backend_by_number("a", 80))],
            )
            .rule("other.test", &[("/", "Prefix", backend_by_number("a", 80))])
            .tls(&["secure.test"], "secure-tls")
            .build()];
        let ingress = RunningIngress::start(config(&ingresses, &services, &slices, &secrets)).await;

        for alpn in [&[b"h2".as_slice(), b"http/1.1"][..], &[b"http/1.1"], &[]] {
            let exchange = https_get(
                ingress.https,
                Some("secure.test"),
                "secure.test",
                "/x",
                alpn,
            )
            .await;
            assert_eq!(exchange.certificate, secret_cert);
            assert_eq!(exchange.status, StatusCode::OK);
            let port = ingress.https.port();
            assert!(
                exchange
                    .body
                    .starts_with("backend=a path=/x host=secure.test "),
                "{}",
                exchange.body
            );
            assert!(
                exchange
                    .body
                    .contains(&format!("proto=https xfhost=secure.test xfport={port}")),
                "{}",
                exchange.body
            );
            let expected_alpn = alpn.first().map(|protocol| protocol.to_vec());
            assert_eq!(exchange.alpn, expected_alpn);
        }
        // A host without a certificate of its own, and no SNI at all, get
        // the default certificate, and are still served.
        let other = https_get(
            ingress.https,
            Some("other.test"),
            "other.test",
            "/",
            &[b"h2"],
        )
        .await;
        assert_eq!(other.certificate, ingress.default_certificate);
        assert_eq!(other.status, StatusCode::OK);
        let unnamed = https_get(ingress.https, None, "secure.test", "/", &[b"http/1.1"]).await;
        assert_eq!(unnamed.certificate, ingress.default_certificate);
        assert_ne!(unnamed.certificate, secret_cert);
        ingress.stop().await;
    })
    .await;
}

#[tokio::test]
async fn plain_http_to_a_tls_host_is_redirected_unless_the_ingress_opts_out() {
    bounded(async {
        let a = TestBackend::start("a").await;
        let (services, slices) = services_for(&[("a", &a)]);
        let ingresses = [
            IngressBuilder::new("strict")
                .rule(
                    "strict.test",
                    &[("/", "Prefix", backend_by_number("a", 80))],
                )
                .tls(&["strict.test"], "absent-secret")
                .build(),
            IngressBuilder::new("relaxed")
                .annotation("nginx.ingress.kubernetes.io/ssl-redirect", "false")
                .rule(
                    "relaxed.test",
                    &[("/", "Prefix", backend_by_number("a", 80))],
                )
                .tls(&["relaxed.test"], "absent-secret")
                .build(),
        ];
        let ingress = RunningIngress::start(config(&ingresses, &services, &slices, &[])).await;

        let mut connection = HttpConnection::open(ingress.http).await;
        let response = connection
            .send("GET", "strict.test", "/cart?item=1", "")
            .await;
        assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
        let location = response
            .headers()
            .get("location")
            .and_then(|value| value.to_str().ok())
            .map(str::to_string);
        let expected = format!("https://strict.test:{}/cart?item=1", ingress.https.port());
        assert_eq!(location.as_deref(), Some(expected.as_str()));
        let (status, _) = connection
            .get("strict.test", "/.well-known/acme-challenge/token")
            .await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = connection.get("relaxed.test", "/").await;
        assert_eq!(status, StatusCode::OK);
        ingress.stop().await;
    })
    .await;
}

#[tokio::test]
async fn configuration_swap_does_not_break_a_request_in_flight() {
    bounded(async {
        let a = TestBackend::start("a").await;
        let (services, slices) = services_for(&[("a", &a)]);
        let ingresses = [IngressBuilder::new("site")
            .rule("a.test", &[("/", "Prefix", backend_by_number("a", 80))])
            .build()];
        let ingress = RunningIngress::start(config(&ingresses, &services, &slices, &[])).await;

        let mut connection = HttpConnection::open(ingress.http).await;
        let response = connection.send("GET", "a.test", "/slow", "").await;
        assert_eq!(response.status(), StatusCode::OK);
        // While the body is still coming, the Ingress goes away.
        tokio::time::sleep(SLOW_PART_PAUSE / 2).await;
        ingress.config.replace(config(&[], &services, &slices, &[]));
        assert_eq!(body_text(response).await, "part0;part1;part2;");
        // The connection lives on, under the new configuration.
        let (status, _) = connection.get("a.test", "/").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        ingress.stop().await;
    })
    .await;
}

#[tokio::test]
async fn upgrade_is_tunnelled_both_ways() {
    bounded(async {
        let a = TestBackend::start("a").await;
        let (services, slices) = services_for(&[("a", &a)]);
        let ingresses = [IngressBuilder::new("site")
            .rule("a.test", &[("/", "Prefix", backend_by_number("a", 80))])
            .build()];
        let ingress = RunningIngress::start(config(&ingresses, &services, &slices, &[])).await;

        let mut stream = TcpStream::connect(ingress.http).await.expect("connect");
        let handshake =
            "GET /ws HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n";
        stream
            .write_all(handshake.as_bytes())
            .await
            .expect("write the handshake");
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && head.len() < 4096 {
            stream
                .read_exact(&mut byte)
                .await
                .expect("read the response head");
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 101"), "{head}");
        assert!(head.contains("upgrade: echo"), "{head}");
        for message in ["hello", "again"] {
            stream.write_all(message.as_bytes()).await.expect("write");
            let mut echoed = [0u8; 5];
            stream.read_exact(&mut echoed).await.expect("read the echo");
            assert_eq!(&echoed, message.as_bytes());
        }
        ingress.stop().await;
    })
    .await;
}

#[tokio::test]
async fn binding_a_taken_port_names_the_address() {
    bounded(async {
        let taken = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = taken.local_addr().expect("address");
        let options = crate::IngressOptions {
            node_name: "test".into(),
            http: address,
            https: "127.0.0.1:0".parse().expect("address"),
            manage_status: false,
        };
        let error = crate::Ingress::bind(options)
            .await
            .err()
            .unwrap_or_default();
        assert!(error.contains(&address.to_string()), "{error}");
    })
    .await;
}
