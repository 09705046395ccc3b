//! The messages of networking.k8s.io/v1.

use super::super::schema::*;
use super::core_v1;
use super::intstr;
use super::meta_v1;

const PKG: &str = "networking.k8s.io/v1";

msg! { HTTPIngressPath [
    (1, "path", Omit(Str)),
    (2, "backend", Keep(M(&IngressBackend))),
    (3, "pathType", Keep(Str)),
] }
msg! { HTTPIngressRuleValue [(1, "paths", Rep(M(&HTTPIngressPath)))] }
msg! { IPAddress [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "spec", Keep(M(&IPAddressSpec))),
] }
msg! { IPAddressList [
    (1, "metadata", Keep(M(&meta_v1::ListMeta))),
    (2, "items", Rep(M(&IPAddress))),
] }
msg! { IPAddressSpec [(1, "parentRef", Keep(M(&ParentReference)))] }
msg! { IPBlock [(1, "cidr", Keep(Str)), (2, "except", Rep(Str))] }
msg! { Ingress [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "spec", Keep(M(&IngressSpec))),
    (3, "status", Keep(M(&IngressStatus))),
] }
msg! { IngressBackend [
    (3, "resource", Keep(M(&core_v1::TypedLocalObjectReference))),
    (4, "service", Keep(M(&IngressServiceBackend))),
] }
msg! { IngressClass [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "spec", Keep(M(&IngressClassSpec))),
] }
msg! { IngressClassList [
    (1, "metadata", Keep(M(&meta_v1::ListMeta))),
    (2, "items", Rep(M(&IngressClass))),
] }
msg! { IngressClassParametersReference [
    (1, "apiGroup", Keep(Str)),
    (2, "kind", Keep(Str)),
    (3, "name", Keep(Str)),
    (4, "scope", Keep(Str)),
    (5, "namespace", Keep(Str)),
] }
msg! { IngressClassSpec [
    (1, "controller", Omit(Str)),
    (2, "parameters", Keep(M(&IngressClassParametersReference))),
] }
msg! { IngressList [(1, "metadata", Keep(M(&meta_v1::ListMeta))), (2, "items", Rep(M(&Ingress)))] }
msg! { IngressLoadBalancerIngress [
    (1, "ip", Omit(Str)),
    (2, "hostname", Omit(Str)),
    (4, "ports", Rep(M(&IngressPortStatus))),
] }
msg! { IngressLoadBalancerStatus [(1, "ingress", Rep(M(&IngressLoadBalancerIngress)))] }
msg! { IngressPortStatus [
    (1, "port", Keep(I32)),
    (2, "protocol", Keep(Str)),
    (3, "error", Keep(Str)),
] }
msg! { IngressRule [(1, "host", Omit(Str)), (2, "", Inline(&IngressRuleValue))] }
msg! { IngressRuleValue [(1, "http", Keep(M(&HTTPIngressRuleValue)))] }
msg! { IngressServiceBackend [(1, "name", Keep(Str)), (2, "port", Keep(M(&ServiceBackendPort)))] }
msg! { IngressSpec [
    (1, "defaultBackend", Keep(M(&IngressBackend))),
    (2, "tls", Rep(M(&IngressTLS))),
    (3, "rules", Rep(M(&IngressRule))),
    (4, "ingressClassName", Keep(Str)),
] }
msg! { IngressStatus [(1, "loadBalancer", Keep(M(&IngressLoadBalancerStatus)))] }
msg! { IngressTLS [(1, "hosts", Rep(Str)), (2, "secretName", Omit(Str))] }
msg! { NetworkPolicy [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "spec", Keep(M(&NetworkPolicySpec))),
] }
msg! { NetworkPolicyEgressRule [
    (1, "ports", Rep(M(&NetworkPolicyPort))),
    (2, "to", Rep(M(&NetworkPolicyPeer))),
] }
msg! { NetworkPolicyIngressRule [
    (1, "ports", Rep(M(&NetworkPolicyPort))),
    (2, "from", Rep(M(&NetworkPolicyPeer))),
] }
msg! { NetworkPolicyList [
    (1, "metadata", Keep(M(&meta_v1::ListMeta))),
    (2, "items", Rep(M(&NetworkPolicy))),
] }
msg! { NetworkPolicyPeer [
    (1, "podSelector", Keep(M(&meta_v1::LabelSelector))),
    (2, "namespaceSelector", Keep(M(&meta_v1::LabelSelector))),
    (3, "ipBlock", Keep(M(&IPBlock))),
] }
msg! { NetworkPolicyPort [
    (1, "protocol", Keep(Str)),
    (2, "port", Keep(M(&intstr::IntOrString))),
    (3, "endPort", Keep(I32)),
] }
msg! { NetworkPolicySpec [
    (1, "podSelector", Keep(M(&meta_v1::LabelSelector))),
    (2, "ingress", Rep(M(&NetworkPolicyIngressRule))),
    (3, "egress", Rep(M(&NetworkPolicyEgressRule))),
    (4, "policyTypes", Rep(Str)),
] }
msg! { ParentReference [
    (1, "group", Omit(Str)),
    (2, "resource", Omit(Str)),
    (3, "namespace", Omit(Str)),
    (4, "name", Omit(Str)),
] }
msg! { ServiceBackendPort [(1, "name", Omit(Str)), (2, "number", Omit(I32))] }
msg! { ServiceCIDR [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "spec", Keep(M(&ServiceCIDRSpec))),
    (3, "status", Keep(M(&ServiceCIDRStatus))),
] }
msg! { ServiceCIDRList [
    (1, "metadata", Keep(M(&meta_v1::ListMeta))),
    (2, "items", Rep(M(&ServiceCIDR))),
] }
msg! { ServiceCIDRSpec [(1, "cidrs", Rep(Str))] }
msg! { ServiceCIDRStatus [(1, "conditions", Rep(M(&meta_v1::Condition)))] }

/// The kinds an object of this group version may have.
pub static KINDS: &[&Msg] = &[
    &IPAddress,
    &IPAddressList,
    &Ingress,
    &IngressClass,
    &IngressClassList,
    &IngressList,
    &NetworkPolicy,
    &NetworkPolicyList,
    &ServiceCIDR,
    &ServiceCIDRList,
];
