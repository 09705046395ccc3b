//! The messages of admissionregistration.k8s.io/v1.

use super::super::schema::*;
use super::meta_v1;

const PKG: &str = "admissionregistration.k8s.io/v1";

msg! { AuditAnnotation [(1, "key", Keep(Str)), (2, "valueExpression", Keep(Str))] }
msg! { ExpressionWarning [(2, "fieldRef", Keep(Str)), (3, "warning", Keep(Str))] }
msg! { MatchCondition [(1, "name", Keep(Str)), (2, "expression", Keep(Str))] }
msg! { MatchResources [
    (1, "namespaceSelector", Keep(M(&meta_v1::LabelSelector))),
    (2, "objectSelector", Keep(M(&meta_v1::LabelSelector))),
    (3, "resourceRules", Rep(M(&NamedRuleWithOperations))),
    (4, "excludeResourceRules", Rep(M(&NamedRuleWithOperations))),
    (7, "matchPolicy", Keep(Str)),
] }
msg! { MutatingWebhook [
    (1, "name", Keep(Str)),
    (2, "clientConfig", Keep(M(&WebhookClientConfig))),
    (3, "rules", Rep(M(&RuleWithOperations))),
    (4, "failurePolicy", Keep(Str)),
    (5, "namespaceSelector", Keep(M(&meta_v1::LabelSelector))),
    (6, "sideEffects", Keep(Str)),
    (7, "timeoutSeconds", Keep(I32)),
    (8, "admissionReviewVersions", Rep(Str)),
    (9, "matchPolicy", Keep(Str)),
    (10, "reinvocationPolicy", Keep(Str)),
    (11, "objectSelector", Keep(M(&meta_v1::LabelSelector))),
    (12, "matchConditions", Rep(M(&MatchCondition))),
] }
msg! { MutatingWebhookConfiguration [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "webhooks", Rep(M(&MutatingWebhook))),
] }
msg! { MutatingWebhookConfigurationList [
    (1, "metadata", Keep(M(&meta_v1::ListMeta))),
    (2, "items", Rep(M(&MutatingWebhookConfiguration))),
] }
msg! { NamedRuleWithOperations [
    (1, "resourceNames", Rep(Str)),
    (2, "", Inline(&RuleWithOperations)),
] }
msg! { ParamKind [(1, "apiVersion", Omit(Str)), (2, "kind", Omit(Str))] }
msg! { ParamRef [
    (1, "name", Omit(Str)),
    (2, "namespace", Omit(Str)),
    (3, "selector", Keep(M(&meta_v1::LabelSelector))),
    (4, "parameterNotFoundAction", Keep(Str)),
] }
msg! { Rule [
    (1, "apiGroups", Rep(Str)),
    (2, "apiVersions", Rep(Str)),
    (3, "resources", Rep(Str)),
    (4, "scope", Keep(Str)),
] }
msg! { RuleWithOperations [(1, "operations", Rep(Str)), (2, "", Inline(&Rule))] }
msg! { ServiceReference [
    (1, "namespace", Keep(Str)),
    (2, "name", Keep(Str)),
    (3, "path", Keep(Str)),
    (4, "port", Keep(I32)),
] }
msg! { TypeChecking [(1, "expressionWarnings", Rep(M(&ExpressionWarning)))] }
msg! { ValidatingAdmissionPolicy [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "spec", Keep(M(&ValidatingAdmissionPolicySpec))),
    (3, "status", Keep(M(&ValidatingAdmissionPolicyStatus))),
] }
msg! { ValidatingAdmissionPolicyBinding [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "spec", Keep(M(&ValidatingAdmissionPolicyBindingSpec))),
] }
msg! { ValidatingAdmissionPolicyBindingList [
    (1, "metadata", Keep(M(&meta_v1::ListMeta))),
    (2, "items", Rep(M(&ValidatingAdmissionPolicyBinding))),
] }
msg! { ValidatingAdmissionPolicyBindingSpec [
    (1, "policyName", Omit(Str)),
    (2, "paramRef", Keep(M(&ParamRef))),
    (3, "matchResources", Keep(M(&MatchResources))),
    (4, "validationActions", Rep(Str)),
] }
msg! { ValidatingAdmissionPolicyList [
    (1, "metadata", Keep(M(&meta_v1::ListMeta))),
    (2, "items", Rep(M(&ValidatingAdmissionPolicy))),
] }
msg! { ValidatingAdmissionPolicySpec [
    (1, "paramKind", Keep(M(&ParamKind))),
    (2, "matchConstraints", Keep(M(&MatchResources))),
    (3, "validations", Rep(M(&Validation))),
    (4, "failurePolicy", Keep(Str)),
    (5, "auditAnnotations", Rep(M(&AuditAnnotation))),
    (6, "matchConditions", Rep(M(&MatchCondition))),
    (7, "variables", Rep(M(&Variable))),
] }
msg! { ValidatingAdmissionPolicyStatus [
    (1, "observedGeneration", Omit(I64)),
    (2, "typeChecking", Keep(M(&TypeChecking))),
    (3, "conditions", Rep(M(&meta_v1::Condition))),
] }
msg! { ValidatingWebhook [
    (1, "name", Keep(Str)),
    (2, "clientConfig", Keep(M(&WebhookClientConfig))),
    (3, "rules", Rep(M(&RuleWithOperations))),
    (4, "failurePolicy", Keep(Str)),
    (5, "namespaceSelector", Keep(M(&meta_v1::LabelSelector))),
    (6, "sideEffects", Keep(Str)),
    (7, "timeoutSeconds", Keep(I32)),
    (8, "admissionReviewVersions", Rep(Str)),
    (9, "matchPolicy", Keep(Str)),
    (10, "objectSelector", Keep(M(&meta_v1::LabelSelector))),
    (11, "matchConditions", Rep(M(&MatchCondition))),
] }
msg! { ValidatingWebhookConfiguration [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "webhooks", Rep(M(&ValidatingWebhook))),
] }
msg! { ValidatingWebhookConfigurationList [
    (1, "metadata", Keep(M(&meta_v1::ListMeta))),
    (2, "items", Rep(M(&ValidatingWebhookConfiguration))),
] }
msg! { Validation [
    (1, "expression", Keep(Str)),
    (2, "message", Omit(Str)),
    (3, "reason", Keep(Str)),
    (4, "messageExpression", Omit(Str)),
] }
msg! { Variable [(1, "name", Keep(Str)), (2, "expression", Keep(Str))] }
msg! { WebhookClientConfig [
    (1, "service", Keep(M(&ServiceReference))),
    (2, "caBundle", Omit(Bytes)),
    (3, "url", Keep(Str)),
] }

/// The kinds an object of this group version may have.
pub static KINDS: &[&Msg] = &[
    &MutatingWebhookConfiguration,
    &MutatingWebhookConfigurationList,
    &ValidatingAdmissionPolicy,
    &ValidatingAdmissionPolicyBinding,
    &ValidatingAdmissionPolicyBindingList,
    &ValidatingAdmissionPolicyList,
    &ValidatingWebhookConfiguration,
    &ValidatingWebhookConfigurationList,
];
