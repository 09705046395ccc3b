//! The messages of apiextensions.k8s.io/v1.

use super::super::schema::*;
use super::meta_v1;
use super::runtime;

const PKG: &str = "apiextensions.k8s.io/v1";

msg! { ConversionRequest [
    (1, "uid", Keep(Str)),
    (2, "desiredAPIVersion", Keep(Str)),
    (3, "objects", Rep(M(&runtime::RawExtension))),
] }
msg! { ConversionResponse [
    (1, "uid", Keep(Str)),
    (2, "convertedObjects", Rep(M(&runtime::RawExtension))),
    (3, "result", Keep(M(&meta_v1::Status))),
] }
msg! { ConversionReview [
    (1, "request", Keep(M(&ConversionRequest))),
    (2, "response", Keep(M(&ConversionResponse))),
] }
msg! { CustomResourceColumnDefinition [
    (1, "name", Keep(Str)),
    (2, "type", Keep(Str)),
    (3, "format", Omit(Str)),
    (4, "description", Omit(Str)),
    (5, "priority", Omit(I32)),
    (6, "jsonPath", Keep(Str)),
] }
msg! { CustomResourceConversion [
    (1, "strategy", Keep(Str)),
    (2, "webhook", Keep(M(&WebhookConversion))),
] }
msg! { CustomResourceDefinition [
    (1, "metadata", Keep(M(&meta_v1::ObjectMeta))),
    (2, "spec", Keep(M(&CustomResourceDefinitionSpec))),
    (3, "status", Keep(M(&CustomResourceDefinitionStatus))),
] }
msg! { CustomResourceDefinitionCondition [
    (1, "type", Keep(Str)),
    (2, "status", Keep(Str)),
    (3, "lastTransitionTime", Keep(M(&meta_v1::Time))),
    (4, "reason", Omit(Str)),
    (5, "message", Omit(Str)),
    (6, "observedGeneration", Omit(I64)),
] }
msg! { CustomResourceDefinitionList [
    (1, "metadata", Keep(M(&meta_v1::ListMeta))),
    (2, "items", Rep(M(&CustomResourceDefinition))),
] }
msg! { CustomResourceDefinitionNames [
    (1, "plural", Keep(Str)),
    (2, "singular", Omit(Str)),
    (3, "shortNames", Rep(Str)),
    (4, "kind", Keep(Str)),
    (5, "listKind", Omit(Str)),
    (6, "categories", Rep(Str)),
] }
msg! { CustomResourceDefinitionSpec [
    (1, "group", Keep(Str)),
    (3, "names", Keep(M(&CustomResourceDefinitionNames))),
    (4, "scope", Keep(Str)),
    (7, "versions", Rep(M(&CustomResourceDefinitionVersion))),
    (9, "conversion", Keep(M(&CustomResourceConversion))),
    (10, "preserveUnknownFields", Omit(Bool)),
] }
msg! { CustomResourceDefinitionStatus [
    (1, "conditions", Rep(M(&CustomResourceDefinitionCondition))),
    (2, "acceptedNames", Keep(M(&CustomResourceDefinitionNames))),
    (3, "storedVersions", Rep(Str)),
    (4, "observedGeneration", Omit(I64)),
] }
msg! { CustomResourceDefinitionVersion [
    (1, "name", Keep(Str)),
    (2, "served", Keep(Bool)),
    (3, "storage", Keep(Bool)),
    (4, "schema", Keep(M(&CustomResourceValidation))),
    (5, "subresources", Keep(M(&CustomResourceSubresources))),
    (6, "additionalPrinterColumns", Rep(M(&CustomResourceColumnDefinition))),
    (7, "deprecated", Omit(Bool)),
    (8, "deprecationWarning", Keep(Str)),
    (9, "selectableFields", Rep(M(&SelectableField))),
] }
msg! { CustomResourceSubresourceScale [
    (1, "specReplicasPath", Keep(Str)),
    (2, "statusReplicasPath", Keep(Str)),
    (3, "labelSelectorPath", Keep(Str)),
] }
msg! { CustomResourceSubresourceStatus [] }
msg! { CustomResourceSubresources [
    (1, "status", Keep(M(&CustomResourceSubresourceStatus))),
    (2, "scale", Keep(M(&CustomResourceSubresourceScale))),
] }
msg! { CustomResourceValidation [(1, "openAPIV3Schema", Keep(M(&JSONSchemaProps)))] }
msg! { ExternalDocumentation [(1, "description", Omit(Str)), (2, "url", Omit(Str))] }
msg! { JSON as Unwrap [(1, "raw", Keep(Json))] }
msg! { JSONSchemaProps [
    (1, "id", Omit(Str)),
    (2, "$schema", Omit(Str)),
    (3, "$ref", Keep(Str)),
    (4, "description", Omit(Str)),
    (5, "type", Omit(Str)),
    (6, "format", Omit(Str)),
    (7, "title", Omit(Str)),
    (8, "default", Keep(M(&JSON))),
    (9, "maximum", Keep(F64)),
    (10, "exclusiveMaximum", Omit(Bool)),
    (11, "minimum", Keep(F64)),
    (12, "exclusiveMinimum", Omit(Bool)),
    (13, "maxLength", Keep(I64)),
    (14, "minLength", Keep(I64)),
    (15, "pattern", Omit(Str)),
    (16, "maxItems", Keep(I64)),
    (17, "minItems", Keep(I64)),
    (18, "uniqueItems", Omit(Bool)),
    (19, "multipleOf", Keep(F64)),
    (20, "enum", Rep(M(&JSON))),
    (21, "maxProperties", Keep(I64)),
    (22, "minProperties", Keep(I64)),
    (23, "required", Rep(Str)),
    (24, "items", Keep(M(&JSONSchemaPropsOrArray))),
    (25, "allOf", Rep(M(&JSONSchemaProps))),
    (26, "oneOf", Rep(M(&JSONSchemaProps))),
    (27, "anyOf", Rep(M(&JSONSchemaProps))),
    (28, "not", Keep(M(&JSONSchemaProps))),
    (29, "properties", Map(M(&JSONSchemaProps))),
    (30, "additionalProperties", Keep(M(&JSONSchemaPropsOrBool))),
    (31, "patternProperties", Map(M(&JSONSchemaProps))),
    (32, "dependencies", Map(M(&JSONSchemaPropsOrStringArray))),
    (33, "additionalItems", Keep(M(&JSONSchemaPropsOrBool))),
    (34, "definitions", Map(M(&JSONSchemaProps))),
    (35, "externalDocs", Keep(M(&ExternalDocumentation))),
    (36, "example", Keep(M(&JSON))),
    (37, "nullable", Omit(Bool)),
    (38, "x-kubernetes-preserve-unknown-fields", Keep(Bool)),
    (39, "x-kubernetes-embedded-resource", Omit(Bool)),
    (40, "x-kubernetes-int-or-string", Omit(Bool)),
    (41, "x-kubernetes-list-map-keys", Rep(Str)),
    (42, "x-kubernetes-list-type", Keep(Str)),
    (43, "x-kubernetes-map-type", Keep(Str)),
    (44, "x-kubernetes-validations", Rep(M(&ValidationRule))),
] }
msg! { JSONSchemaPropsOrArray as OrArray [
    (1, "schema", Keep(M(&JSONSchemaProps))),
    (2, "jSONSchemas", Rep(M(&JSONSchemaProps))),
] }
msg! { JSONSchemaPropsOrBool as OrBool [
    (1, "allows", Keep(Bool)),
    (2, "schema", Keep(M(&JSONSchemaProps))),
] }
msg! { JSONSchemaPropsOrStringArray as OrStringArray [
    (1, "schema", Keep(M(&JSONSchemaProps))),
    (2, "property", Rep(Str)),
] }
msg! { SelectableField [(1, "jsonPath", Keep(Str))] }
msg! { ServiceReference [
    (1, "namespace", Keep(Str)),
    (2, "name", Keep(Str)),
    (3, "path", Keep(Str)),
    (4, "port", Keep(I32)),
] }
msg! { ValidationRule [
    (1, "rule", Keep(Str)),
    (2, "message", Omit(Str)),
    (3, "messageExpression", Omit(Str)),
    (4, "reason", Keep(Str)),
    (5, "fieldPath", Omit(Str)),
    (6, "optionalOldSelf", Keep(Bool)),
] }
msg! { WebhookClientConfig [
    (1, "service", Keep(M(&ServiceReference))),
    (2, "caBundle", Omit(Bytes)),
    (3, "url", Keep(Str)),
] }
msg! { WebhookConversion [
    (2, "clientConfig", Keep(M(&WebhookClientConfig))),
    (3, "conversionReviewVersions", Rep(Str)),
] }

/// The kinds an object of this group version may have.
pub static KINDS: &[&Msg] = &[
    &ConversionReview,
    &CustomResourceDefinition,
    &CustomResourceDefinitionList,
];
