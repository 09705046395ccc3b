//! The generic REST semantics every resource shares, as upstream's
//! `registry/generic` store: create, update, patch and delete with
//! preconditions, `generateName`, namespace lifecycle, the status split,
//! finalizers and graceful deletion. Per-kind differences come from
//! `strategy`.

use capstan_api::{ApiError, FieldError, Resource};
use serde_json::{json, Value};

use crate::admission;
use crate::object;
use crate::registry::{Registry, Stored};
use crate::services::ServiceAllocators;
use crate::strategy;

/// Options every write takes.
#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    pub dry_run: bool,
    pub field_manager: String,
    /// The write is a server-side apply, which records its own
    /// `managedFields`.
    pub applying: bool,
}

/// How many times a patch is retried when the object changes under it.
const PATCH_ATTEMPTS: usize = 5;

/// How many times a delete is tried when other writes keep changing the
/// object under it.
const DELETE_ATTEMPTS: usize = 5;

pub struct Rest {
    pub registry: Registry,
    pub services: ServiceAllocators,
    namespaces: admission::NamespaceLifecycle,
}

/// The body of a DELETE (`DeleteOptions`), read leniently.
#[derive(Clone, Debug, Default)]
pub struct DeleteOptions {
    pub grace_period_seconds: Option<i64>,
    pub propagation_policy: Option<String>,
    pub precondition_uid: Option<String>,
    pub precondition_resource_version: Option<String>,
    pub dry_run: bool,
}

impl DeleteOptions {
    pub fn from_body(body: &Value) -> DeleteOptions {
        let orphan = body.get("orphanDependents").and_then(Value::as_bool);
        DeleteOptions {
            grace_period_seconds: body.get("gracePeriodSeconds").and_then(Value::as_i64),
            propagation_policy: body
                .get("propagationPolicy")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| orphan.map(|o| if o { "Orphan" } else { "Background" }.into())),
            precondition_uid: body
                .pointer("/preconditions/uid")
                .and_then(Value::as_str)
                .map(str::to_string),
            precondition_resource_version: body
                .pointer("/preconditions/resourceVersion")
                .and_then(Value::as_str)
                .map(str::to_string),
            dry_run: body
                .get("dryRun")
                .and_then(Value::as_array)
                .is_some_and(|d| d.iter().any(|v| v == "All")),
        }
    }
}

impl Rest {
    pub fn new(registry: Registry, services: ServiceAllocators) -> Rest {
        Rest {
            registry,
            services,
            namespaces: admission::NamespaceLifecycle::default(),
        }
    }

    pub async fn get(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, ApiError> {
        Ok(self.registry.get(resource, namespace, name).await?.object)
    }

    pub async fn create(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        mut object: Value,
        options: &WriteOptions,
    ) -> Result<Value, ApiError> {
        check_type(resource, &mut object)?;
        set_namespace(resource, namespace, &mut object)?;
        if let Some(namespace) = namespace.filter(|_| resource.namespaced) {
            let name = object::name(&object).unwrap_or_default().to_string();
            self.namespaces
                .admit(&self.registry, resource, &name, namespace)
                .await?;
        }
        if object::name(&object).is_none() {
            match object::meta_str(&object, "generateName") {
                Some(prefix) => {
                    let name = object::generate_name(prefix);
                    object::set_meta(&mut object, "name", name);
                }
                None => {
                    return Err(invalid(
                        resource,
                        "",
                        vec![FieldError::required(
                            "metadata.name",
                            "name or generateName is required",
                        )],
                    ))
                }
            }
        }
        let meta = object::meta_mut(&mut object);
        for field in [
            "uid",
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            meta.remove(field);
        }
        meta.insert("uid".into(), uuid::Uuid::new_v4().to_string().into());
        meta.insert("creationTimestamp".into(), object::now().into());
        strategy::prepare_for_create(resource, &mut object);
        strategy::apply_defaults(resource, &mut object);
        if resource.group.is_empty() && resource.plural == "pods" {
            admission::admit_pod(&self.registry, &mut object).await?;
        }
        strategy::finish_create(resource, &mut object);
        if !options.applying {
            let now = object::now();
            capstan_api::apply::record_update(
                resource.group,
                resource.kind,
                None,
                &mut object,
                &options.field_manager,
                None,
                &now,
            );
        }
        let errors = strategy::validate_create(resource, &object);
        if !errors.is_empty() {
            let name = object::name(&object).unwrap_or_default().to_string();
            return Err(invalid(resource, &name, errors));
        }
        let allocated = match is_service(resource) {
            true => Some(self.services.allocate(&mut object, None).await?),
            false => None,
        };
        let created = match options.dry_run {
            true => Ok(object),
            false => self
                .registry
                .create(resource, &object)
                .await
                .map(|stored| stored.object),
        };
        if let (Some(allocated), true) = (allocated, options.dry_run || created.is_err()) {
            self.services.release(allocated).await;
        }
        created
    }

    /// A PUT: replaces the object, or its status with `subresource`.
    /// Returns the object and whether it was created.
    pub async fn update(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
        mut object: Value,
        subresource: Option<&str>,
        options: &WriteOptions,
    ) -> Result<(Value, bool), ApiError> {
        check_type(resource, &mut object)?;
        set_namespace(resource, namespace, &mut object)?;
        match object::name(&object) {
            Some(body_name) if body_name != name => {
                return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )))
            }
            Some(_) => {}
            None => object::set_meta(&mut object, "name", name),
        }
        let current = match self.registry.get(resource, namespace, name).await {
            Ok(current) => current,
            Err(error)
                if error.code == 404
                    && subresource.is_none()
                    && strategy::allow_create_on_update(resource) =>
            {
                let created = self.create(resource, namespace, object, options).await?;
                return Ok((created, true));
            }
            Err(error) => return Err(error),
        };
        if let Some(wanted) = object::resource_version(&object) {
            if wanted != current.revision.to_string() {
                return Err(ApiError::stale(resource.group, resource.plural, name));
            }
        }
        let updated = self
            .write_update(resource, &current, object, subresource, options)
            .await?;
        Ok((updated, false))
    }

    /// Applies `change` to the current object and writes the result,
    /// retrying from a fresh read when the object changed in between.
    pub async fn patch(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<&str>,
        options: &WriteOptions,
        change: impl Fn(&Value) -> Result<Value, ApiError>,
    ) -> Result<Value, ApiError> {
        let mut attempt = 0;
        let mut fresh = false;
        loop {
            attempt += 1;
            // The first try starts from the watch cache; a try that fails
            // on a cached copy is made again from the store, as upstream's
            // GuaranteedUpdate.
            let current = match fresh {
                false => {
                    self.registry
                        .get_for_update(resource, namespace, name)
                        .await?
                }
                true => self.registry.get(resource, namespace, name).await?,
            };
            let result = self
                .patch_once(
                    resource,
                    name,
                    namespace,
                    subresource,
                    options,
                    &change,
                    &current,
                )
                .await;
            match result {
                Err(_) if current.from_cache => fresh = true,
                Err(error)
                    if error.code == 409
                        && error.reason == "Conflict"
                        && attempt < PATCH_ATTEMPTS =>
                {
                    fresh = true
                }
                result => return result,
            }
        }
    }

    /// One read-modify-write of a patch against `current`.
    #[allow(clippy::too_many_arguments)]
    async fn patch_once(
        &self,
        resource: &Resource,
        name: &str,
        namespace: Option<&str>,
        subresource: Option<&str>,
        options: &WriteOptions,
        change: &impl Fn(&Value) -> Result<Value, ApiError>,
        current: &Stored,
    ) -> Result<Value, ApiError> {
        let mut patched = change(&current.object)?;
        check_type(resource, &mut patched)?;
        if object::name(&patched) != Some(name)
            || object::namespace(&patched) != namespace.filter(|_| resource.namespaced)
        {
            return Err(ApiError::bad_request(
                "metadata.name and metadata.namespace may not be changed by a patch",
            ));
        }
        // A patch that names a resourceVersion is a precondition.
        if let Some(wanted) = object::resource_version(&patched) {
            if wanted != current.revision.to_string() {
                return Err(ApiError::stale(resource.group, resource.plural, name));
            }
        }
        self.write_update(resource, current, patched, subresource, options)
            .await
    }

    /// The common tail of update and patch: keep what the client may not
    /// change, default, validate and write against `current`'s revision.
    async fn write_update(
        &self,
        resource: &Resource,
        current: &Stored,
        mut object: Value,
        subresource: Option<&str>,
        options: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let old = &current.object;
        let name = object::name(old).unwrap_or_default().to_string();
        if let (Some(sent), Some(kept)) = (object::uid(&object), object::uid(old)) {
            if sent != kept {
                return Err(ApiError::conflict(
                    resource.group,
                    resource.plural,
                    &name,
                    &format!("Precondition failed: UID in precondition: {sent}, UID in object meta: {kept}"),
                ));
            }
        }
        match subresource {
            Some("status") => strategy::prepare_for_status_update(resource, &mut object, old),
            // The scale subresource changes the spec; it is named only in
            // the writer's `managedFields` entry.
            Some("scale") => strategy::prepare_for_update(resource, &mut object, old),
            Some("ephemeralcontainers") if is_pod(resource) => {
                strategy::prepare_for_ephemeral_containers_update(&mut object, old)
            }
            Some(other) => {
                return Err(ApiError::method_not_supported(
                    &format!("{}/{other}", resource.plural),
                    "update",
                ))
            }
            None => strategy::prepare_for_update(resource, &mut object, old),
        }
        // Fields only the server sets.
        for field in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        ] {
            match old.get("metadata").and_then(|m| m.get(field)) {
                Some(value) => object::set_meta(&mut object, field, value.clone()),
                None => object::remove_meta(&mut object, field),
            }
        }
        object::set_meta(&mut object, "resourceVersion", current.revision.to_string());
        if is_service(resource) {
            self.services.keep_allocated(&mut object, old);
        }
        strategy::apply_defaults(resource, &mut object);
        if !options.applying {
            let now = object::now();
            capstan_api::apply::record_update(
                resource.group,
                resource.kind,
                Some(old),
                &mut object,
                &options.field_manager,
                subresource,
                &now,
            );
        }
        let errors = strategy::validate_update(resource, subresource, &object, old);
        if !errors.is_empty() {
            return Err(invalid(resource, &name, errors));
        }
        let allocated = match is_service(resource) {
            true => Some(self.services.allocate(&mut object, Some(old)).await?),
            false => None,
        };
        let written = self
            .write_or_finish(resource, current, object, options)
            .await;
        if let Some(allocated) = allocated {
            match &written {
                Ok(new) if !options.dry_run => {
                    let remaining = (!object::is_deleting(new)
                        || !object::finalizers(new).is_empty())
                    .then_some(new);
                    self.services.release_unused(old, remaining).await;
                }
                _ => self.services.release(allocated).await,
            }
        }
        written
    }

    /// Writes an update, or deletes the object when the update removed the
    /// last finalizer of an object being deleted.
    async fn write_or_finish(
        &self,
        resource: &Resource,
        current: &Stored,
        object: Value,
        options: &WriteOptions,
    ) -> Result<Value, ApiError> {
        if options.dry_run {
            return Ok(object);
        }
        if finished(resource, &object) {
            let pending = Stored {
                object,
                revision: current.revision,
                from_cache: current.from_cache,
            };
            return Ok(self.registry.delete(resource, &pending).await?.object);
        }
        Ok(self
            .registry
            .update(resource, current, &object)
            .await?
            .object)
    }

    /// A DELETE of one object. Objects with finalizers, and pods running on
    /// a node, are only marked for deletion; the rest go at once. A write
    /// that lost a race with another (a controller updating status) is
    /// tried again on the object as it now is, as upstream's store does;
    /// preconditions are checked again each time.
    pub async fn delete(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
        options: &DeleteOptions,
    ) -> Result<Value, ApiError> {
        let mut tries = 0;
        loop {
            tries += 1;
            match self.delete_once(resource, namespace, name, options).await {
                Err(error) if error.code == 409 && tries < DELETE_ATTEMPTS => continue,
                done => return done,
            }
        }
    }

    async fn delete_once(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
        options: &DeleteOptions,
    ) -> Result<Value, ApiError> {
        let current = self.registry.get(resource, namespace, name).await?;
        let object = &current.object;
        if resource.group.is_empty() && resource.kind == "Namespace" {
            self.namespaces.deleting(name);
        }
        if let Some(uid) = &options.precondition_uid {
            let actual = object::uid(object).unwrap_or_default();
            if uid != actual {
                return Err(ApiError::conflict(
                    resource.group,
                    resource.plural,
                    name,
                    &format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"),
                ));
            }
        }
        if let Some(version) = &options.precondition_resource_version {
            let actual = current.revision.to_string();
            if *version != actual {
                return Err(ApiError::conflict(
                    resource.group,
                    resource.plural,
                    name,
                    &format!("Precondition failed: ResourceVersion in precondition: {version}, ResourceVersion in object meta: {actual}"),
                ));
            }
        }
        if object::is_deleting(object) {
            return self
                .delete_again(
                    resource,
                    current,
                    options.grace_period_seconds,
                    options.dry_run,
                )
                .await;
        }
        let mut marked = object.clone();
        let mut finalizers = object::finalizers(object);
        let propagation = options.propagation_policy.as_deref();
        let extra = match propagation {
            Some("Foreground") => Some("foregroundDeletion"),
            Some("Orphan") => Some("orphan"),
            // Upstream keeps the v1 behaviour for these two: a delete that
            // names no policy orphans the pods.
            None if is_orphaning_by_default(resource) => Some("orphan"),
            Some("Background") | None => None,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "Invalid propagationPolicy: {other:?}: supported values: \"Background\", \"Foreground\", \"Orphan\""
                )))
            }
        };
        if let Some(extra) = extra {
            if !finalizers.iter().any(|f| f == extra) {
                finalizers.push(extra.to_string());
            }
        }
        let grace = self.grace_period(resource, object, options);
        if finalizers.is_empty() && grace == 0 && namespace_finalizers(resource, object).is_empty()
        {
            if options.dry_run {
                return Ok(current.object);
            }
            let deleted = self.registry.delete(resource, &current).await?.object;
            if is_service(resource) {
                self.services.release_unused(&deleted, None).await;
            }
            return Ok(deleted);
        }
        let when = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(grace);
        let meta = object::meta_mut(&mut marked);
        meta.insert(
            "deletionTimestamp".into(),
            when.strftime("%Y-%m-%dT%H:%M:%SZ").to_string().into(),
        );
        meta.insert("deletionGracePeriodSeconds".into(), grace.into());
        if !finalizers.is_empty() {
            meta.insert("finalizers".into(), json!(finalizers));
        }
        if resource.kind == "Namespace" {
            marked["status"]["phase"] = "Terminating".into();
        }
        if options.dry_run {
            return Ok(marked);
        }
        Ok(self
            .registry
            .update(resource, &current, &marked)
            .await?
            .object)
    }

    /// A DELETE of an object already being deleted: only a shorter grace
    /// period changes anything, as upstream; down to 0 (`kubectl delete
    /// --grace-period=0 --force`) the object goes at once unless finalizers
    /// hold it.
    async fn delete_again(
        &self,
        resource: &Resource,
        current: Stored,
        grace: Option<i64>,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let object = &current.object;
        let pending = object
            .pointer("/metadata/deletionGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let Some(grace) = grace.map(|g| g.max(0)).filter(|g| *g < pending) else {
            return Ok(current.object);
        };
        if grace == 0 && object::finalizers(object).is_empty() {
            if dry_run {
                return Ok(current.object);
            }
            let deleted = self.registry.delete(resource, &current).await?.object;
            if is_service(resource) {
                self.services.release_unused(&deleted, None).await;
            }
            return Ok(deleted);
        }
        let mut marked = object.clone();
        let when = object
            .pointer("/metadata/deletionTimestamp")
            .and_then(Value::as_str)
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .unwrap_or_else(jiff::Timestamp::now)
            - jiff::SignedDuration::from_secs(pending)
            + jiff::SignedDuration::from_secs(grace);
        let meta = object::meta_mut(&mut marked);
        meta.insert(
            "deletionTimestamp".into(),
            when.strftime("%Y-%m-%dT%H:%M:%SZ").to_string().into(),
        );
        meta.insert("deletionGracePeriodSeconds".into(), grace.into());
        if dry_run {
            return Ok(marked);
        }
        Ok(self
            .registry
            .update(resource, &current, &marked)
            .await?
            .object)
    }

    /// Seconds a deleted object is given before it goes: pods bound to a
    /// node get their grace period, for the node to stop them.
    fn grace_period(&self, resource: &Resource, object: &Value, options: &DeleteOptions) -> i64 {
        if resource.kind != "Pod" {
            return 0;
        }
        let bound = object
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty());
        let finished = matches!(
            object.pointer("/status/phase").and_then(Value::as_str),
            Some("Succeeded" | "Failed")
        );
        if !bound || finished {
            return 0;
        }
        options
            .grace_period_seconds
            .or_else(|| {
                object
                    .pointer("/spec/terminationGracePeriodSeconds")
                    .and_then(Value::as_i64)
            })
            .unwrap_or(30)
            .max(0)
    }
}

/// Whether an object being deleted has nothing left holding it: no
/// finalizer, and for a namespace no `spec.finalizers` either (the
/// namespace controller removes `kubernetes` once the content is gone).
fn finished(resource: &Resource, object: &Value) -> bool {
    object::is_deleting(object)
        && object::finalizers(object).is_empty()
        && namespace_finalizers(resource, object).is_empty()
}

fn namespace_finalizers(resource: &Resource, object: &Value) -> Vec<Value> {
    match resource.kind {
        "Namespace" if resource.group.is_empty() => object
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Kinds whose deletes orphan their dependents unless told otherwise.
fn is_orphaning_by_default(resource: &Resource) -> bool {
    matches!(
        (resource.group, resource.plural),
        ("batch", "jobs") | ("", "replicationcontrollers")
    )
}

fn is_pod(resource: &Resource) -> bool {
    resource.group.is_empty() && resource.kind == "Pod"
}

fn is_service(resource: &Resource) -> bool {
    resource.group.is_empty() && resource.kind == "Service"
}

fn invalid(resource: &Resource, name: &str, errors: Vec<FieldError>) -> ApiError {
    ApiError::invalid(resource.group, resource.kind, name, errors)
}

/// Checks the body's `apiVersion` and `kind` against the URL, filling them
/// in when absent, and drops the fields the kind does not have, as
/// upstream's decoder does.
fn check_type(resource: &Resource, object: &mut Value) -> Result<(), ApiError> {
    if !object.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    }
    let expected = resource.api_version();
    match object.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => object["apiVersion"] = expected.clone().into(),
        Some(sent) if sent == expected => {}
        Some(sent) => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({sent}) does not match the expected API version ({expected})"
            )))
        }
    }
    match object.get("kind").and_then(Value::as_str) {
        None | Some("") => object["kind"] = resource.kind.into(),
        Some(sent) if sent == resource.kind => {}
        Some(sent) => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({sent}) does not match the expected kind ({})",
                resource.kind
            )))
        }
    }
    capstan_api::openapi::prune_unknown_fields(
        resource.group,
        resource.version,
        resource.kind,
        object,
    );
    Ok(())
}

/// Makes the body's namespace the URL's; cluster-scoped objects have none.
fn set_namespace(
    resource: &Resource,
    namespace: Option<&str>,
    object: &mut Value,
) -> Result<(), ApiError> {
    if !resource.namespaced {
        object::remove_meta(object, "namespace");
        return Ok(());
    }
    let Some(namespace) = namespace else {
        return Err(ApiError::bad_request(
            "the namespace of the object must be given in the URL",
        ));
    };
    match object::namespace(object) {
        Some(sent) if sent != namespace => Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
        _ => {
            object::set_meta(object, "namespace", namespace);
            Ok(())
        }
    }
}
