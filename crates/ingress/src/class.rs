//! Which Ingresses this controller serves, decided by IngressClass as
//! upstream controllers do, and the `capstan` IngressClass it creates.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::networking::v1::{Ingress, IngressClass, IngressClassSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::PostParams;
use kube::Api;

/// The name of the IngressClass created for this controller.
pub const CLASS_NAME: &str = "capstan";
/// The `spec.controller` of the IngressClasses this controller serves.
pub const CONTROLLER: &str = "capstan.dev/ingress";
/// Marks the class that Ingresses without a class belong to.
const DEFAULT_CLASS_ANNOTATION: &str = "ingressclass.kubernetes.io/is-default-class";
/// The class annotation that predates `spec.ingressClassName`.
const LEGACY_CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";

/// The IngressClasses of this controller, as read from the cluster.
#[derive(Clone, Debug, Default)]
pub struct ClassSelection {
    /// Names of the classes whose controller is this one.
    ours: HashSet<String>,
    /// Names of all classes, whoever's they are.
    known: HashSet<String>,
    /// Whether one of ours is marked default, so that Ingresses without a
    /// class are ours too.
    default_is_ours: bool,
}

impl ClassSelection {
    pub fn new<'a>(classes: impl IntoIterator<Item = &'a IngressClass>) -> Self {
        let mut selection = ClassSelection::default();
        for class in classes {
            let Some(name) = class.metadata.name.clone() else {
                continue;
            };
            selection.known.insert(name.clone());
            let controller = class
                .spec
                .as_ref()
                .and_then(|spec| spec.controller.as_deref());
            if controller != Some(CONTROLLER) {
                continue;
            }
            if is_default(class) {
                selection.default_is_ours = true;
            }
            selection.ours.insert(name);
        }
        selection
    }

    /// Whether `ingress` belongs to this controller. The legacy annotation
    /// wins over `spec.ingressClassName`, as in ingress-nginx; it may name
    /// `capstan` even when no IngressClass of that name exists, as it could
    /// before IngressClasses did.
    pub fn serves(&self, ingress: &Ingress) -> bool {
        let annotation = ingress
            .metadata
            .annotations
            .as_ref()
            .and_then(|annotations| annotations.get(LEGACY_CLASS_ANNOTATION));
        if let Some(class) = annotation {
            return self.ours.contains(class)
                || (class == CLASS_NAME && !self.known.contains(class));
        }
        match ingress
            .spec
            .as_ref()
            .and_then(|spec| spec.ingress_class_name.as_deref())
        {
            Some(class) => self.ours.contains(class),
            None => self.default_is_ours,
        }
    }
}

fn is_default(class: &IngressClass) -> bool {
    class
        .metadata
        .annotations
        .as_ref()
        .and_then(|annotations| annotations.get(DEFAULT_CLASS_ANNOTATION))
        .is_some_and(|value| value == "true")
}

/// The IngressClass this controller creates when none of its name exists:
/// the default class, so that plain Ingresses work out of the box.
pub fn default_class() -> IngressClass {
    IngressClass {
        metadata: ObjectMeta {
            name: Some(CLASS_NAME.to_string()),
            annotations: Some(BTreeMap::from([(
                DEFAULT_CLASS_ANNOTATION.to_string(),
                "true".to_string(),
            )])),
            ..ObjectMeta::default()
        },
        spec: Some(IngressClassSpec {
            controller: Some(CONTROLLER.to_string()),
            parameters: None,
        }),
    }
}

/// Creates the `capstan` IngressClass unless one exists; an existing one is
/// left as the user made it. Retries until the API server answers.
pub(crate) async fn ensure_class_exists(api: Api<IngressClass>) {
    let mut delay = Duration::from_millis(500);
    loop {
        match api.create(&PostParams::default(), &default_class()).await {
            Ok(_) => {
                tracing::info!(class = CLASS_NAME, "created the default IngressClass");
                return;
            }
            Err(kube::Error::Api(status)) if status.is_already_exists() => return,
            Err(error) => {
                tracing::warn!(class = CLASS_NAME, %error, "cannot create the IngressClass; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// The Ingresses `selection` serves among `ingresses`, oldest first (then by
/// namespace and name), the order in which conflicting rules are decided.
pub fn served_ingresses(
    selection: &ClassSelection,
    ingresses: &[Arc<Ingress>],
) -> Vec<Arc<Ingress>> {
    let mut served: Vec<Arc<Ingress>> = ingresses
        .iter()
        .filter(|ingress| {
            ingress.metadata.deletion_timestamp.is_none() && selection.serves(ingress)
        })
        .cloned()
        .collect();
    served.sort_by(|a, b| {
        let key = |ingress: &Ingress| {
            (
                ingress
                    .metadata
                    .creation_timestamp
                    .as_ref()
                    .map(|time| time.0),
                ingress.metadata.namespace.clone(),
                ingress.metadata.name.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
    served
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{class, ingress_with_class};

    #[test]
    fn class_with_our_controller_is_served_by_name() {
        let selection = ClassSelection::new([
            &class("mine", CONTROLLER, false),
            &class("other", "x.io/nginx", false),
        ]);
        assert!(selection.serves(&ingress_with_class(Some("mine"), None)));
        assert!(!selection.serves(&ingress_with_class(Some("other"), None)));
        assert!(!selection.serves(&ingress_with_class(Some("absent"), None)));
    }

    #[test]
    fn ingress_without_class_is_served_only_when_our_class_is_default() {
        let not_default = ClassSelection::new([&class("capstan", CONTROLLER, false)]);
        assert!(!not_default.serves(&ingress_with_class(None, None)));
        let default = ClassSelection::new([&class("capstan", CONTROLLER, true)]);
        assert!(default.serves(&ingress_with_class(None, None)));
        let someone_elses_default =
            ClassSelection::new([&class("nginx", "k8s.io/ingress-nginx", true)]);
        assert!(!someone_elses_default.serves(&ingress_with_class(None, None)));
    }

    #[test]
    fn legacy_annotation_names_the_class() {
        let selection = ClassSelection::new([&class("capstan", CONTROLLER, false)]);
        assert!(selection.serves(&ingress_with_class(None, Some("capstan"))));
        assert!(!selection.serves(&ingress_with_class(None, Some("nginx"))));
        // The annotation wins over the field, as in ingress-nginx.
        assert!(!selection.serves(&ingress_with_class(Some("capstan"), Some("nginx"))));
        // Without any IngressClass object, the annotation still names us.
        assert!(ClassSelection::default().serves(&ingress_with_class(None, Some("capstan"))));
        // A class named capstan that a user gave to another controller is not ours.
        let repurposed = ClassSelection::new([&class("capstan", "x.io/other", false)]);
        assert!(!repurposed.serves(&ingress_with_class(None, Some("capstan"))));
    }

    #[test]
    fn default_class_is_ours_and_default() {
        let selection = ClassSelection::new([&default_class()]);
        assert!(selection.serves(&ingress_with_class(None, None)));
        assert!(selection.serves(&ingress_with_class(Some(CLASS_NAME), None)));
    }
}
