use super::*;
use crate::class::{served_ingresses, ClassSelection, CONTROLLER};
use crate::testing::{
    backend_by_name, backend_by_number, class, endpoint_slice, service, IngressBuilder,
    SliceEndpoint,
};

/// Services `a`, `b`, `c` and `d` on port 80, each with one ready endpoint
/// on 10.0.0.{1,2,3,4}:8080.
fn cluster() -> (Vec<Arc<Service>>, Vec<Arc<EndpointSlice>>) {
    let names = ["a", "b", "c", "d"];
    let services = names
        .iter()
        .map(|name| service(name, &[("http", 80)]))
        .collect();
    let slices = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            endpoint_slice(
                name,
                &[("http", 8080)],
                &[SliceEndpoint::ready(&format!("10.0.0.{}", i + 1))],
            )
        })
        .collect();
    (services, slices)
}

fn table(ingresses: &[Arc<Ingress>]) -> RouteTable {
    let (services, slices) = cluster();
    let selection = ClassSelection::new([&class("capstan", CONTROLLER, true)]);
    RouteTable::build(&served_ingresses(&selection, ingresses), &services, &slices)
}

/// The service a request reaches (`a`…`d`), or None for 404.
fn reached(table: &RouteTable, host: &str, path: &str) -> Option<String> {
    let route = table.route(host, path)?;
    let name = route.backend.name.as_str();
    Some(
        name.trim_start_matches("default/")
            .trim_end_matches(":80")
            .to_string(),
    )
}

#[test]
fn exact_host_is_case_insensitive_and_ignores_the_port() {
    let table = table(&[IngressBuilder::new("one")
        .rule(
            "Foo.Example.com",
            &[("/", "Prefix", backend_by_number("a", 80))],
        )
        .build()]);
    assert_eq!(
        reached(&table, "foo.example.com", "/x").as_deref(),
        Some("a")
    );
    assert_eq!(
        reached(&table, "FOO.example.COM:8443", "/x").as_deref(),
        Some("a")
    );
    assert_eq!(reached(&table, "bar.example.com", "/x"), None);
    assert_eq!(reached(&table, "", "/x"), None);
}

#[test]
fn wildcard_host_matches_exactly_one_label_and_exact_host_wins() {
    let table = table(&[
        IngressBuilder::new("wild")
            .rule(
                "*.example.com",
                &[("/", "Prefix", backend_by_number("a", 80))],
            )
            .build(),
        IngressBuilder::new("exact")
            .rule(
                "www.example.com",
                &[("/", "Prefix", backend_by_number("b", 80))],
            )
            .build(),
    ]);
    assert_eq!(
        reached(&table, "foo.example.com", "/").as_deref(),
        Some("a")
    );
    assert_eq!(
        reached(&table, "www.example.com", "/").as_deref(),
        Some("b")
    );
    assert_eq!(reached(&table, "example.com", "/"), None);
    assert_eq!(reached(&table, "a.b.example.com", "/"), None);
}

#[test]
fn rules_without_host_match_any_other_host() {
    let table = table(&[
        IngressBuilder::new("any")
            .rule("", &[("/", "Prefix", backend_by_number("a", 80))])
            .build(),
        IngressBuilder::new("named")
            .rule(
                "named.test",
                &[("/api", "Prefix", backend_by_number("b", 80))],
            )
            .build(),
    ]);
    assert_eq!(reached(&table, "whatever.test", "/x").as_deref(), Some("a"));
    assert_eq!(reached(&table, "", "/x").as_deref(), Some("a"));
    assert_eq!(
        reached(&table, "named.test", "/api/v1").as_deref(),
        Some("b")
    );
    // A known host's rules are its own: no fall-through to the host-less ones.
    assert_eq!(reached(&table, "named.test", "/x"), None);
}

#[test]
fn rules_for_one_host_merge_across_ingresses_and_the_oldest_wins_a_conflict() {
    let table = table(&[
        IngressBuilder::new("newer")
            .created(2000)
            .rule(
                "shop.test",
                &[
                    ("/cart", "Prefix", backend_by_number("b", 80)),
                    ("/", "Prefix", backend_by_number("c", 80)),
                ],
            )
            .build(),
        IngressBuilder::new("older")
            .created(1000)
            .rule("shop.test", &[("/", "Prefix", backend_by_number("a", 80))])
            .build(),
    ]);
    assert_eq!(
        reached(&table, "shop.test", "/cart/1").as_deref(),
        Some("b")
    );
    assert_eq!(reached(&table, "shop.test", "/").as_deref(), Some("a"));
    assert_eq!(
        &*table
            .route("shop.test", "/")
            .map(|route| route.ingress.clone())
            .unwrap_or_default(),
        "default/older"
    );
}

#[test]
fn exact_over_prefix_then_longest_prefix() {
    let table = table(&[IngressBuilder::new("paths")
        .rule(
            "p.test",
            &[
                ("/", "Prefix", backend_by_number("a", 80)),
                ("/foo", "ImplementationSpecific", backend_by_number("b", 80)),
                ("/foo", "Exact", backend_by_number("c", 80)),
                ("/foo/bar/", "Prefix", backend_by_number("d", 80)),
            ],
        )
        .build()]);
    assert_eq!(reached(&table, "p.test", "/foo").as_deref(), Some("c"));
    assert_eq!(reached(&table, "p.test", "/foo/").as_deref(), Some("b"));
    assert_eq!(reached(&table, "p.test", "/foo/baz").as_deref(), Some("b"));
    assert_eq!(reached(&table, "p.test", "/foo/bar").as_deref(), Some("d"));
    assert_eq!(reached(&table, "p.test", "/foobar").as_deref(), Some("a"));
}

#[test]
fn default_backend_of_the_oldest_ingress_catches_what_nothing_else_does() {
    let table = table(&[
        IngressBuilder::new("young")
            .created(30)
            .default_backend(backend_by_number("b", 80))
            .build(),
        IngressBuilder::new("old")
            .created(10)
            .default_backend(backend_by_number("a", 80))
            .build(),
        IngressBuilder::new("site")
            .created(20)
            .rule(
                "site.test",
                &[("/app", "Prefix", backend_by_number("c", 80))],
            )
            .build(),
    ]);
    assert_eq!(reached(&table, "site.test", "/app").as_deref(), Some("c"));
    assert_eq!(reached(&table, "site.test", "/other").as_deref(), Some("a"));
    assert_eq!(reached(&table, "unknown.test", "/").as_deref(), Some("a"));
}

#[test]
fn ingresses_of_other_classes_are_not_routed() {
    let mut other =
        IngressBuilder::new("other").rule("x.test", &[("/", "Prefix", backend_by_number("a", 80))]);
    if let Some(spec) = other.ingress.spec.as_mut() {
        spec.ingress_class_name = Some("nginx".into());
    }
    let table = table(&[other.build()]);
    assert_eq!(reached(&table, "x.test", "/"), None);
}

#[test]
fn named_ports_resolve_through_the_service() {
    let services = vec![service("web", &[("http", 80), ("metrics", 9100)])];
    let slices = vec![endpoint_slice(
        "web",
        &[("http", 8080), ("metrics", 9101)],
        &[SliceEndpoint::ready("10.1.0.1")],
    )];
    let ingress = IngressBuilder::new("named")
        .rule(
            "n.test",
            &[
                ("/metrics", "Prefix", backend_by_name("web", "metrics")),
                ("/", "Prefix", backend_by_name("web", "http")),
            ],
        )
        .build();
    let table = RouteTable::build(&[ingress], &services, &slices);
    let endpoint = |path| {
        table
            .route("n.test", path)
            .and_then(|route| route.backend.next_endpoint())
            .map(ToString::to_string)
    };
    assert_eq!(endpoint("/metrics").as_deref(), Some("10.1.0.1:9101"));
    assert_eq!(endpoint("/").as_deref(), Some("10.1.0.1:8080"));
}

#[test]
fn backend_without_ready_endpoints_is_routed_but_has_none() {
    let services = vec![service("web", &[("", 80)])];
    let slices = vec![endpoint_slice(
        "web",
        &[("", 8080)],
        &[SliceEndpoint::not_ready("10.1.0.1")],
    )];
    let ingress = IngressBuilder::new("down")
        .rule(
            "down.test",
            &[("/", "Prefix", backend_by_number("web", 80))],
        )
        .build();
    let table = RouteTable::build(&[ingress], &services, &slices);
    let route = table.route("down.test", "/");
    assert!(route.is_some_and(|route| route.backend.next_endpoint().is_none()));
}

#[test]
fn ssl_redirect_follows_tls_hosts_and_the_annotation() {
    let table = table(&[
        IngressBuilder::new("secure")
            .rule(
                "secure.test",
                &[("/", "Prefix", backend_by_number("a", 80))],
            )
            .rule("plain.test", &[("/", "Prefix", backend_by_number("a", 80))])
            .rule(
                "w.wild.test",
                &[("/", "Prefix", backend_by_number("a", 80))],
            )
            .tls(&["secure.test", "*.wild.test"], "cert")
            .build(),
        IngressBuilder::new("optout")
            .annotation(SSL_REDIRECT_ANNOTATION, "false")
            .rule(
                "relaxed.test",
                &[("/", "Prefix", backend_by_number("b", 80))],
            )
            .tls(&["relaxed.test"], "cert")
            .build(),
    ]);
    let redirects = |host| {
        table
            .route(host, "/")
            .is_some_and(|route| route.ssl_redirect)
    };
    assert!(redirects("secure.test"));
    assert!(redirects("w.wild.test"));
    assert!(!redirects("plain.test"));
    assert!(!redirects("relaxed.test"));
}
