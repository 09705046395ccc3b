//! Builders of the cluster objects the tests feed the routing with.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Secret, Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressClass, IngressClassSpec,
    IngressRule, IngressServiceBackend, IngressSpec, IngressTLS, ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::ByteString;

pub(crate) const NAMESPACE: &str = "default";

pub(crate) fn class(name: &str, controller: &str, default: bool) -> IngressClass {
    let annotations = default.then(|| {
        BTreeMap::from([(
            "ingressclass.kubernetes.io/is-default-class".to_string(),
            "true".to_string(),
        )])
    });
    IngressClass {
        metadata: ObjectMeta {
            name: Some(name.into()),
            annotations,
            ..ObjectMeta::default()
        },
        spec: Some(IngressClassSpec {
            controller: Some(controller.into()),
            parameters: None,
        }),
    }
}

pub(crate) fn ingress_with_class(class_name: Option<&str>, annotation: Option<&str>) -> Ingress {
    let mut builder = IngressBuilder::new("classy");
    builder
        .ingress
        .spec
        .get_or_insert_with(IngressSpec::default)
        .ingress_class_name = class_name.map(Into::into);
    if let Some(annotation) = annotation {
        builder = builder.annotation("kubernetes.io/ingress.class", annotation);
    }
    builder.ingress
}

pub(crate) fn backend_by_number(service: &str, port: i32) -> IngressBackend {
    IngressBackend {
        service: Some(IngressServiceBackend {
            name: service.into(),
            port: Some(ServiceBackendPort {
                name: None,
                number: Some(port),
            }),
        }),
        resource: None,
    }
}

pub(crate) fn backend_by_name(service: &str, port: &str) -> IngressBackend {
    IngressBackend {
        service: Some(IngressServiceBackend {
            name: service.into(),
            port: Some(ServiceBackendPort {
                name: Some(port.into()),
                number: None,
            }),
        }),
        resource: None,
    }
}

/// A ClusterIP Service in [`NAMESPACE`] with (name, port) ports.
pub(crate) fn service(name: &str, ports: &[(&str, i32)]) -> Arc<Service> {
    Arc::new(Service {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(NAMESPACE.into()),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            ports: Some(
                ports
                    .iter()
                    .map(|(port_name, port)| ServicePort {
                        name: (!port_name.is_empty()).then(|| port_name.to_string()),
                        port: *port,
                        ..ServicePort::default()
                    })
                    .collect(),
            ),
            ..ServiceSpec::default()
        }),
        status: None,
    })
}

/// One endpoint of a slice and its readiness.
pub(crate) struct SliceEndpoint {
    address: String,
    ready: Option<bool>,
}

impl SliceEndpoint {
    pub(crate) fn ready(address: &str) -> Self {
        SliceEndpoint {
            address: address.into(),
            ready: Some(true),
        }
    }
    pub(crate) fn not_ready(address: &str) -> Self {
        SliceEndpoint {
            address: address.into(),
            ready: Some(false),
        }
    }
    /// Without a `ready` condition, which the API reads as ready.
    pub(crate) fn unknown(address: &str) -> Self {
        SliceEndpoint {
            address: address.into(),
            ready: None,
        }
    }
}

/// An EndpointSlice of `service` in [`NAMESPACE`] with (name, port) ports.
pub(crate) fn endpoint_slice(
    service: &str,
    ports: &[(&str, i32)],
    endpoints: &[SliceEndpoint],
) -> Arc<EndpointSlice> {
    let address_type = if endpoints
        .iter()
        .any(|endpoint| endpoint.address.contains(':'))
    {
        "IPv6"
    } else {
        "IPv4"
    };
    Arc::new(EndpointSlice {
        metadata: ObjectMeta {
            generate_name: Some(format!("{service}-")),
            name: Some(format!("{service}-{}", endpoints.len())),
            namespace: Some(NAMESPACE.into()),
            labels: Some(BTreeMap::from([(
                "kubernetes.io/service-name".to_string(),
                service.to_string(),
            )])),
            ..ObjectMeta::default()
        },
        address_type: address_type.into(),
        endpoints: endpoints
            .iter()
            .map(|endpoint| Endpoint {
                addresses: vec![endpoint.address.clone()],
                conditions: Some(EndpointConditions {
                    ready: endpoint.ready,
                    ..EndpointConditions::default()
                }),
                ..Endpoint::default()
            })
            .collect(),
        ports: Some(
            ports
                .iter()
                .map(|(port_name, port)| EndpointPort {
                    name: Some(port_name.to_string()),
                    port: Some(*port),
                    protocol: Some("TCP".into()),
                    app_protocol: None,
                })
                .collect(),
        ),
    })
}

/// A `kubernetes.io/tls` Secret in [`NAMESPACE`].
pub(crate) fn tls_secret(name: &str, cert_pem: &str, key_pem: &str) -> Arc<Secret> {
    Arc::new(Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(NAMESPACE.into()),
            resource_version: Some("1".into()),
            ..ObjectMeta::default()
        },
        type_: Some("kubernetes.io/tls".into()),
        data: Some(BTreeMap::from([
            (
                "tls.crt".to_string(),
                ByteString(cert_pem.as_bytes().to_vec()),
            ),
            (
                "tls.key".to_string(),
                ByteString(key_pem.as_bytes().to_vec()),
            ),
        ])),
        ..Secret::default()
    })
}

/// A self-signed certificate for `hosts`: (certificate PEM, key PEM).
pub(crate) fn self_signed(hosts: &[&str]) -> (String, String) {
    let hosts: Vec<String> = hosts.iter().map(|host| host.to_string()).collect();
    let certified = rcgen::generate_simple_self_signed(hosts).expect("generate a test certificate");
    (certified.cert.pem(), certified.signing_key.serialize_pem())
}

/// An Ingress in [`NAMESPACE`], of the class `capstan`.
pub(crate) struct IngressBuilder {
    pub(crate) ingress: Ingress,
}

impl IngressBuilder {
    pub(crate) fn new(name: &str) -> Self {
        IngressBuilder {
            ingress: Ingress {
                metadata: ObjectMeta {
                    name: Some(name.into()),
                    namespace: Some(NAMESPACE.into()),
                    ..ObjectMeta::default()
                },
                spec: Some(IngressSpec {
                    ingress_class_name: Some("capstan".into()),
                    ..IngressSpec::default()
                }),
                status: None,
            },
        }
    }

    fn spec(&mut self) -> &mut IngressSpec {
        self.ingress.spec.get_or_insert_with(IngressSpec::default)
    }

    /// Created `seconds` after the epoch: the older Ingress wins conflicts.
    pub(crate) fn created(mut self, seconds: i64) -> Self {
        let time = k8s_openapi::jiff::Timestamp::from_second(seconds).expect("a valid time");
        self.ingress.metadata.creation_timestamp = Some(Time(time));
        self
    }

    pub(crate) fn annotation(mut self, key: &str, value: &str) -> Self {
        self.ingress
            .metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(key.into(), value.into());
        self
    }

    /// A rule for `host` ("" for any host) with (path, pathType, backend) paths.
    pub(crate) fn rule(mut self, host: &str, paths: &[(&str, &str, IngressBackend)]) -> Self {
        let rule = IngressRule {
            host: (!host.is_empty()).then(|| host.to_string()),
            http: Some(HTTPIngressRuleValue {
                paths: paths
                    .iter()
                    .map(|(path, path_type, backend)| HTTPIngressPath {
                        path: Some(path.to_string()),
                        path_type: path_type.to_string(),
                        backend: backend.clone(),
                    })
                    .collect(),
            }),
        };
        self.spec().rules.get_or_insert_with(Vec::new).push(rule);
        self
    }

    pub(crate) fn default_backend(mut self, backend: IngressBackend) -> Self {
        self.spec().default_backend = Some(backend);
        self
    }

    pub(crate) fn tls(mut self, hosts: &[&str], secret: &str) -> Self {
        let entry = IngressTLS {
            hosts: Some(hosts.iter().map(|host| host.to_string()).collect()),
            secret_name: Some(secret.into()),
        };
        self.spec().tls.get_or_insert_with(Vec::new).push(entry);
        self
    }

    pub(crate) fn build(self) -> Arc<Ingress> {
        Arc::new(self.ingress)
    }
}
