//! One request, from bytes to response: authenticate, route, authorize,
//! then serve discovery or dispatch the verb to the generic REST layer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::local::RequestBody;
use capstan_api::{ApiError, Resource};
use hyper::header::{ACCEPT, CONTENT_TYPE, USER_AGENT};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};

use crate::authn::{bearer_token, TokenAuthenticator, User};
use crate::authz::{Attributes, Chain};
use crate::discovery;
use crate::input::{
    delete_options, read_at, read_body, read_object, watch_request, with_warnings, FieldValidation,
};
use crate::join::{CredentialsRequest, NodeJoin, CREDENTIALS_PATH};
use crate::kubelet::KubeletClient;
use crate::metrics::{Metrics, RequestLabels};
use crate::openapi::OpenApi;
use crate::registry::ReadAt;
use crate::request::{self, Query, ResourceRequest, Route};
use crate::response::{self, Body, Shape};
use crate::rest::{DeleteOptions, Rest, WriteOptions};
use crate::sa_authn::ServiceAccountAuthenticator;
use crate::sa_token::TokenSigner;
use crate::selectors::Selectors;
use crate::subresources;
use crate::watch::{self};

pub struct ApiServer {
    pub rest: Rest,
    pub tokens: TokenAuthenticator,
    /// Service account tokens: `serviceaccounts/token` signs them, the
    /// authenticator checks them.
    pub token_signer: Arc<TokenSigner>,
    pub service_accounts: ServiceAccountAuthenticator,
    pub authorizer: Chain,
    /// `host:port` clients reach the server at, for `/api`.
    pub server_address: String,
    pub ready: AtomicBool,
    pub metrics: Arc<Metrics>,
    pub openapi: OpenApi,
    /// The client of nodes' endpoints, for `pods/log`.
    pub kubelet: KubeletClient,
    /// How machines join as nodes (`/cacerts`, node credentials).
    pub join: Option<NodeJoin>,
}

impl ApiServer {
    pub async fn handle(
        self: Arc<Self>,
        request: Request<RequestBody>,
        peer: Option<User>,
    ) -> Response<Body> {
        let started = std::time::Instant::now();
        let method = request.method().clone();
        let path = request.uri().path().to_string();
        let query = Query::parse(request.uri().query());
        if let Some(response) = self.open_endpoint(&method, &path) {
            return response;
        }
        if method == Method::POST && path == CREDENTIALS_PATH {
            return match self.node_credentials(request).await {
                Ok(response) => response,
                Err(error) => response::error(&error),
            };
        }
        let user = match peer.or_else(|| self.tokens.authenticate(request.headers())) {
            Some(user) => Some(user),
            None => match bearer_token(request.headers()) {
                Some(token) => {
                    let registry = &self.rest.registry;
                    self.service_accounts.authenticate(registry, token).await
                }
                None => None,
            },
        };
        let response = match user.map(|user| self.impersonate(user, request.headers())) {
            None => response::error(&ApiError::unauthorized()),
            Some(Err(error)) => response::error(&error),
            Some(Ok(user)) => match self.serve(request, &method, &path, &query, &user).await {
                Ok(response) => response,
                Err(error) => response::error(&error),
            },
        };
        let labels = request_labels(&method, &path, &query, response.status());
        self.metrics.record_request(labels, started.elapsed());
        response
    }

    /// Paths anyone may read: health and version.
    fn open_endpoint(&self, method: &Method, path: &str) -> Option<Response<Body>> {
        if *method != Method::GET && *method != Method::HEAD {
            return None;
        }
        match path {
            "/healthz" | "/livez" | "/readyz" => {
                let ready = path != "/readyz" || self.ready.load(Ordering::SeqCst);
                Some(if ready {
                    response::text(StatusCode::OK, "ok")
                } else {
                    response::text(StatusCode::SERVICE_UNAVAILABLE, "not ready")
                })
            }
            "/version" => Some(response::json(StatusCode::OK, &version())),
            "/cacerts" => {
                let ca = self.join.as_ref().and_then(|join| join.ca().ok())?;
                Some(response::text_owned(
                    StatusCode::OK,
                    "text/plain; charset=utf-8",
                    ca,
                ))
            }
            _ => None,
        }
    }

    /// A joining node's certificates, for the join token.
    async fn node_credentials(
        &self,
        request: Request<RequestBody>,
    ) -> Result<Response<Body>, ApiError> {
        let join = self.join.as_ref().ok_or_else(ApiError::not_found_path)?;
        let presented = header(&request, hyper::header::AUTHORIZATION);
        let token = presented.strip_prefix("Bearer ").map(str::to_string);
        let body = crate::input::read_body(request).await?;
        let asked: CredentialsRequest = serde_json::from_slice(&body).map_err(|error| {
            ApiError::bad_request(format!("invalid node credentials request: {error}"))
        })?;
        let issued = join.credentials(token.as_deref(), &asked)?;
        let issued =
            serde_json::to_value(issued).map_err(|error| ApiError::internal(error.to_string()))?;
        Ok(response::json(StatusCode::OK, &issued))
    }

    async fn serve(
        &self,
        request: Request<RequestBody>,
        method: &Method,
        path: &str,
        query: &Query,
        user: &User,
    ) -> Result<Response<Body>, ApiError> {
        let accept = header(&request, ACCEPT);
        if *method == Method::POST && path == SELF_SUBJECT_REVIEWS {
            self.authorize(user, self_subject_review())?;
            return Ok(response::json(
                StatusCode::CREATED,
                &json!({
                    "kind": "SelfSubjectReview",
                    "apiVersion": "authentication.k8s.io/v1",
                    "metadata": {"creationTimestamp": null},
                    "status": {"userInfo": user.user_info()},
                }),
            ));
        }
        if *method == Method::GET || *method == Method::HEAD {
            match path {
                crate::oidc::CONFIGURATION_PATH => {
                    self.authorize(user, non_resource(path))?;
                    return Ok(crate::oidc::configuration(&self.server_address));
                }
                crate::oidc::KEYS_PATH => {
                    self.authorize(user, non_resource(path))?;
                    return Ok(crate::oidc::keys(&self.token_signer));
                }
                _ => {}
            }
        }
        if let Some(review) = (*method == Method::POST)
            .then(|| crate::access_review::Review::of_path(path))
            .flatten()
        {
            self.authorize(user, review.attributes())?;
            let content_type = header(&request, CONTENT_TYPE);
            let body = read_body(request).await?;
            let answered = crate::access_review::answer(
                &review,
                &self.authorizer,
                user,
                &body,
                &content_type,
            )?;
            return Ok(response::json(StatusCode::CREATED, &answered));
        }
        if *method == Method::POST && path == crate::token_review::PATH {
            self.authorize(user, crate::token_review::attributes())?;
            let content_type = header(&request, CONTENT_TYPE);
            let body = read_body(request).await?;
            let authenticators = crate::token_review::Authenticators {
                tokens: &self.tokens,
                service_accounts: &self.service_accounts,
                registry: &self.rest.registry,
            };
            let review = crate::token_review::review(authenticators, &body, &content_type).await?;
            return Ok(response::json(StatusCode::CREATED, &review));
        }
        match request::route(method, path, query)? {
            Route::GroupList { legacy } => {
                self.authorize(user, non_resource(path))?;
                if discovery::wants_aggregated(&accept) {
                    let document = discovery::aggregated(legacy);
                    return Ok(response::json_with(
                        StatusCode::OK,
                        discovery::AGGREGATED,
                        &document,
                    ));
                }
                let document = if legacy {
                    discovery::api_versions(&self.server_address)
                } else {
                    discovery::api_group_list()
                };
                Ok(response::json(StatusCode::OK, &document))
            }
            Route::Group { group } => {
                self.authorize(user, non_resource(path))?;
                let document = discovery::api_group(&group).ok_or_else(ApiError::not_found_path)?;
                Ok(response::json(StatusCode::OK, &document))
            }
            Route::ResourceList { group, version } => {
                self.authorize(user, non_resource(path))?;
                let document = discovery::api_resource_list(&group, &version)
                    .ok_or_else(ApiError::not_found_path)?;
                Ok(response::json(StatusCode::OK, &document))
            }
            Route::Other => {
                self.authorize(user, non_resource(path))?;
                if let Some(response) = self.openapi.serve(path, &accept) {
                    return response;
                }
                match path {
                    "/metrics" => Ok(response::text_owned(
                        StatusCode::OK,
                        // The body is OpenMetrics text (`# EOF`, counters typed
                        // without `_total`); say so.
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        self.metrics.encode(),
                    )),
                    _ => Err(ApiError::not_found_path()),
                }
            }
            Route::Resource(target) => {
                let resource =
                    capstan_api::resource::find(&target.group, &target.version, &target.resource)
                        .ok_or_else(ApiError::not_found_path)?;
                check_scope(resource, &target)?;
                self.authorize(user, attributes(&target))?;
                self.dispatch(request, resource, &target, query, &accept)
                    .await
            }
        }
    }

    /// The user the request runs as: `user`, or whom it impersonates if
    /// `user` may.
    fn impersonate(&self, user: User, headers: &hyper::HeaderMap) -> Result<User, ApiError> {
        let Some(asked) = crate::impersonation::requested(headers)? else {
            return Ok(user);
        };
        for check in asked.checks() {
            self.authorize(&user, check)?;
        }
        Ok(asked.into_user())
    }

    fn authorize(&self, user: &User, attributes: Attributes) -> Result<(), ApiError> {
        self.authorizer
            .authorize(user, &attributes)
            .map_err(|reason| {
                let action = if attributes.resource.is_empty() {
                    format!(
                        "cannot {} path {:?}",
                        attributes.verb,
                        attributes.path.clone().unwrap_or_default()
                    )
                } else {
                    format!(
                        "cannot {} resource {:?} in API group {:?}{}",
                        attributes.verb,
                        attributes.resource,
                        attributes.group,
                        if attributes.namespace.is_empty() {
                            " at the cluster scope".to_string()
                        } else {
                            format!(" in the namespace {:?}", attributes.namespace)
                        }
                    )
                };
                let why = if reason.is_empty() {
                    format!("User {:?} {action}", user.name)
                } else {
                    format!("User {:?} {action}: {reason}", user.name)
                };
                ApiError::forbidden(
                    &attributes.group,
                    &attributes.resource,
                    &attributes.name,
                    &why,
                )
            })
    }

    async fn dispatch(
        &self,
        request: Request<RequestBody>,
        resource: &'static Resource,
        target: &ResourceRequest,
        query: &Query,
        accept: &str,
    ) -> Result<Response<Body>, ApiError> {
        let namespace = target.namespace.as_deref().filter(|_| resource.namespaced);
        let name = target.name.as_deref();
        let subresource = target.subresource.as_deref();
        if let Some(subresource) = subresource {
            if !resource.has_subresource(subresource) {
                return Err(ApiError::not_found_path());
            }
        }
        if let Some(kind) = subresource.and_then(crate::stream::Kind::of) {
            let (namespace, name) = (namespace.unwrap_or_default(), name.unwrap_or_default());
            let (rest, kubelet) = (&self.rest, &self.kubelet);
            return crate::stream::serve(rest, kubelet, request, kind, namespace, name).await;
        }
        if (target.verb, subresource) == ("get", Some("log")) {
            let (namespace, name) = (namespace.unwrap_or_default(), name.unwrap_or_default());
            return crate::logs::serve(&self.rest, &self.kubelet, namespace, name, query).await;
        }
        let shape = Shape::negotiate(accept, query.get("includeObject"))?;
        let options = WriteOptions {
            dry_run: query.dry_run()?,
            field_manager: field_manager(&request, query),
            applying: false,
        };
        let content_type = header(&request, CONTENT_TYPE);
        let validation = FieldValidation::from_query(query)?;
        let rest = &self.rest;
        match (target.verb, subresource) {
            ("get", None | Some("status" | "ephemeralcontainers")) => {
                let object = rest
                    .get(resource, namespace, name.unwrap_or_default())
                    .await?;
                Ok(respond(StatusCode::OK, resource, &object, shape))
            }
            ("list", None) => self.list(resource, namespace, query, shape).await,
            ("watch", None) => {
                let mut watch = watch_request(resource, namespace, query, shape)?;
                watch.guard = Some(self.metrics.watch_opened(
                    resource.group,
                    resource.version,
                    resource.plural,
                ));
                watch::serve(&rest.registry, watch).await
            }
            ("create", None) => {
                let (body, warnings) =
                    read_object(request, &content_type, resource, validation).await?;
                let created = rest.create(resource, namespace, body, &options).await?;
                Ok(with_warnings(
                    respond(StatusCode::CREATED, resource, &created, shape),
                    &warnings,
                ))
            }
            ("update", None | Some("status" | "ephemeralcontainers")) => {
                let (body, warnings) =
                    read_object(request, &content_type, resource, validation).await?;
                let name = name.unwrap_or_default();
                let (object, created) = rest
                    .update(resource, namespace, name, body, subresource, &options)
                    .await?;
                let status = if created {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                };
                Ok(with_warnings(
                    respond(status, resource, &object, shape),
                    &warnings,
                ))
            }
            ("patch", None | Some("status" | "ephemeralcontainers")) => {
                let patch_type = content_type
                    .split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                let body = read_body(request).await?;
                let name = name.unwrap_or_default();
                let patch = subresources::PatchRequest {
                    patch_type: &patch_type,
                    body: &body,
                    validation,
                };
                let patched = subresources::patch(
                    rest,
                    resource,
                    namespace,
                    name,
                    subresource,
                    &patch,
                    &options,
                    query,
                )
                .await?;
                let status = if patched.created {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                };
                Ok(with_warnings(
                    respond(status, resource, &patched.object, shape),
                    &patched.warnings,
                ))
            }
            ("delete", None) => {
                let body = read_body(request).await?;
                let options = delete_options(&body, query)?;
                let deleted = rest
                    .delete(resource, namespace, name.unwrap_or_default(), &options)
                    .await?;
                Ok(respond(StatusCode::OK, resource, &deleted, shape))
            }
            ("deletecollection", None) => {
                let body = read_body(request).await?;
                let options = delete_options(&body, query)?;
                self.delete_collection(resource, namespace, query, &options)
                    .await
            }
            (verb, Some("scale")) => {
                let body = match verb {
                    "update" | "patch" => {
                        Some((header(&request, CONTENT_TYPE), read_body(request).await?))
                    }
                    _ => None,
                };
                let scale = subresources::scale(
                    rest,
                    resource,
                    namespace,
                    name.unwrap_or_default(),
                    verb,
                    body,
                    &options,
                )
                .await?;
                Ok(response::json_with(
                    StatusCode::OK,
                    shape.content_type(),
                    &response::shaped_scale(&scale, shape),
                ))
            }
            ("create", Some("binding")) => {
                let (body, _) =
                    read_object(request, &content_type, resource, FieldValidation::Ignore).await?;
                let status =
                    subresources::bind(rest, namespace, name.unwrap_or_default(), &body, &options)
                        .await?;
                Ok(response::json(StatusCode::CREATED, &status))
            }
            ("create", Some("eviction")) => {
                let (body, _) =
                    read_object(request, &content_type, resource, FieldValidation::Ignore).await?;
                let status =
                    subresources::evict(rest, namespace, name.unwrap_or_default(), &body, &options)
                        .await?;
                Ok(response::json(StatusCode::CREATED, &status))
            }
            ("create", Some("token")) => {
                let body = read_body(request).await?;
                let asked =
                    crate::token_request::parse(&body, &content_type, crate::token_request::KIND)?;
                let (namespace, name) = (namespace.unwrap_or_default(), name.unwrap_or_default());
                let signer = &self.token_signer;
                let issued =
                    crate::token_request::create(&rest.registry, signer, namespace, name, asked)
                        .await?;
                Ok(response::json(StatusCode::CREATED, &issued))
            }
            ("update", Some("finalize")) => {
                let (body, _) =
                    read_object(request, &content_type, resource, FieldValidation::Ignore).await?;
                let name = name.unwrap_or_default();
                let object = subresources::finalize_namespace(rest, name, body, &options).await?;
                Ok(respond(StatusCode::OK, resource, &object, shape))
            }
            (verb, Some(subresource)) => Err(ApiError::method_not_supported(
                &format!("{}/{subresource}", resource.plural),
                verb,
            )),
            (verb, None) => Err(ApiError::method_not_supported(resource.plural, verb)),
        }
    }

    async fn list(
        &self,
        resource: &'static Resource,
        namespace: Option<&str>,
        query: &Query,
        shape: Shape,
    ) -> Result<Response<Body>, ApiError> {
        let selectors = Selectors::from_query(resource, query)?;
        let limit = query.number::<i64>("limit")?.unwrap_or(0).max(0) as usize;
        let read_at = read_at(query)?;
        let keep = move |object: &Value| selectors.matches(object);
        let page = self
            .rest
            .registry
            .list(
                resource,
                namespace,
                read_at,
                limit,
                query.get("continue"),
                &keep,
            )
            .await?;
        let mut meta = json!({"resourceVersion": page.revision.to_string()});
        if let Some(token) = &page.continue_token {
            meta["continue"] = token.clone().into();
        }
        let body = match shape {
            // Built by hand: `json!` would copy every item.
            Shape::Object => {
                let mut list = serde_json::Map::new();
                list.insert("kind".into(), format!("{}List", resource.kind).into());
                list.insert("apiVersion".into(), resource.api_version().into());
                list.insert("metadata".into(), meta);
                list.insert("items".into(), Value::Array(page.items));
                Value::Object(list)
            }
            Shape::Table { v1, include } => {
                response::table(resource, &page.items, meta, v1, include, true)
            }
            Shape::PartialMetadata { v1 } => response::partial_metadata_list(&page.items, meta, v1),
        };
        Ok(response::json_with(
            StatusCode::OK,
            shape.content_type(),
            &body,
        ))
    }

    async fn delete_collection(
        &self,
        resource: &'static Resource,
        namespace: Option<&str>,
        query: &Query,
        options: &DeleteOptions,
    ) -> Result<Response<Body>, ApiError> {
        let selectors = Selectors::from_query(resource, query)?;
        let keep = move |object: &Value| selectors.matches(object);
        let page = self
            .rest
            .registry
            .list(resource, namespace, ReadAt::Latest, 0, None, &keep)
            .await?;
        let mut deleted = Vec::new();
        for item in &page.items {
            let name = crate::object::name(item).unwrap_or_default();
            let namespace = crate::object::namespace(item);
            match self.rest.delete(resource, namespace, name, options).await {
                Ok(object) => deleted.push(object),
                Err(error) if error.code == 404 => {}
                Err(error) => return Err(error),
            }
        }
        let list = json!({
            "kind": format!("{}List", resource.kind),
            "apiVersion": resource.api_version(),
            "metadata": {"resourceVersion": page.revision.to_string()},
            "items": deleted,
        });
        Ok(response::json(StatusCode::OK, &list))
    }
}

fn respond(
    status: StatusCode,
    resource: &Resource,
    object: &Value,
    shape: Shape,
) -> Response<Body> {
    match shape {
        // The object as it is: encoded without a copy.
        Shape::Object => response::json_with(status, shape.content_type(), object),
        _ => {
            let shaped = response::shaped_object(resource, object, shape);
            response::json_with(status, shape.content_type(), &shaped)
        }
    }
}

/// The version this server reports.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": concat!("v1.33.0+capstan-", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, if cfg!(target_arch = "x86_64") { "amd64" } else { std::env::consts::ARCH }),
    })
}

fn header(request: &Request<RequestBody>, name: hyper::header::HeaderName) -> String {
    request
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// The field manager of a write: the `fieldManager` parameter, else the
/// client's name from its User-Agent, as upstream.
fn field_manager(request: &Request<RequestBody>, query: &Query) -> String {
    if let Some(manager) = query.get("fieldManager") {
        return manager.to_string();
    }
    let agent = header(request, USER_AGENT);
    let name = agent.split('/').next().unwrap_or_default().trim();
    if name.is_empty() {
        "unknown".into()
    } else {
        name.chars().take(128).collect()
    }
}

/// The labels upstream puts on a request in its metrics.
fn request_labels(method: &Method, path: &str, query: &Query, status: StatusCode) -> RequestLabels {
    let code = status.as_u16().to_string();
    match request::route(method, path, query) {
        Ok(Route::Resource(target)) => RequestLabels {
            verb: match target.verb {
                "get" => "GET",
                "list" => "LIST",
                "watch" => "WATCH",
                "create" => "POST",
                "update" => "PUT",
                "patch" => "PATCH",
                "delete" => "DELETE",
                _ => "DELETECOLLECTION",
            }
            .into(),
            scope: match (&target.name, &target.namespace) {
                (Some(_), _) => "resource",
                (None, Some(_)) => "namespace",
                (None, None) => "cluster",
            }
            .into(),
            group: target.group,
            version: target.version,
            resource: target.resource,
            subresource: target.subresource.unwrap_or_default(),
            code,
        },
        _ => RequestLabels {
            verb: method.as_str().to_string(),
            code,
            ..RequestLabels::default()
        },
    }
}

/// Who am I: the user the request authenticated as, echoed back.
const SELF_SUBJECT_REVIEWS: &str = "/apis/authentication.k8s.io/v1/selfsubjectreviews";

fn self_subject_review() -> Attributes {
    Attributes {
        verb: "create".into(),
        group: "authentication.k8s.io".into(),
        resource: "selfsubjectreviews".into(),
        ..Attributes::default()
    }
}

fn non_resource(path: &str) -> Attributes {
    Attributes {
        verb: "get".into(),
        path: Some(path.to_string()),
        ..Attributes::default()
    }
}

fn attributes(target: &ResourceRequest) -> Attributes {
    Attributes {
        verb: target.verb.to_string(),
        group: target.group.clone(),
        resource: target.resource.clone(),
        subresource: target.subresource.clone().unwrap_or_default(),
        namespace: target.namespace.clone().unwrap_or_default(),
        name: target.name.clone().unwrap_or_default(),
        path: None,
    }
}

/// Named objects of a namespaced resource need a namespace; cluster-scoped
/// ones must not have one.
fn check_scope(resource: &Resource, target: &ResourceRequest) -> Result<(), ApiError> {
    let is_namespace_itself = resource.plural == "namespaces";
    let needs_namespace = resource.namespaced
        && (target.name.is_some() || target.verb == "create" || target.verb == "deletecollection");
    if needs_namespace && target.namespace.is_none() {
        return Err(ApiError::not_found_path());
    }
    if !resource.namespaced && !is_namespace_itself && target.namespace.is_some() {
        return Err(ApiError::not_found_path());
    }
    Ok(())
}
