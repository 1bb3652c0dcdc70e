//! The route table: one entry per endpoint, with the token it needs. The same table makes
//! the router, the list of routes and the OpenAPI document's paths (utoipa-axum registers
//! each handler's `#[utoipa::path]` as it adds the route), so they cannot disagree.
//!
//! One file per resource; each handler parses its input, asks [`AppState::query`] (which
//! hands it a [`query::Session`]) and shapes the answer.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::middleware;
use axum::response::Response;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{self, Role};
use crate::cache::Lookup;
use crate::error::ApiError;
use crate::state::AppState;

mod answers;
mod blocked;
mod decisions;
mod export;
mod groups;
mod health;

/// The liveness endpoint (outside the request limit; its route is `health::health`).
pub(crate) const HEALTH_PATH: &str = "/api/v1/health";
mod collector;
mod ingest;
mod inventory;
mod openapi;
mod policies;
mod readiness;
mod simulate;
mod suggestions;
mod timeline;
mod versions;
mod whoami;

/// The shared state, as handlers take it.
type Shared = State<Arc<AppState>>;

/// Every API endpoint, with the token it needs. Without a state (for the document alone)
/// the token checks are left out.
pub(crate) fn table(state: Option<&Arc<AppState>>) -> OpenApiRouter<Arc<AppState>> {
    let public = OpenApiRouter::new().routes(routes!(health::health));
    let read = OpenApiRouter::new()
        .routes(routes!(openapi::openapi_json))
        .routes(routes!(whoami::whoami))
        .routes(routes!(collector::collector))
        .routes(routes!(groups::groups))
        .routes(routes!(blocked::blocked))
        .routes(routes!(suggestions::suggestions))
        .routes(routes!(readiness::readiness))
        .routes(routes!(timeline::timeline))
        .routes(routes!(simulate::simulate))
        .routes(routes!(export::export_xlsx))
        .routes(routes!(inventory::get_inventory))
        .routes(routes!(policies::get_current))
        .routes(routes!(policies::get_fleet_current))
        .routes(routes!(policies::get_candidate))
        .routes(routes!(decisions::list))
        .routes(routes!(versions::list))
        .routes(routes!(versions::get_version))
        .routes(routes!(versions::diff))
        .routes(routes!(versions::rollouts))
        .routes(routes!(versions::monitor));
    let admin = OpenApiRouter::new()
        .routes(routes!(ingest::ingest_upload))
        .routes(routes!(inventory::put_inventory))
        .routes(routes!(policies::put_current))
        .routes(routes!(policies::put_fleet_current))
        .routes(routes!(decisions::put_group))
        .routes(routes!(decisions::put_fleet))
        .routes(routes!(versions::publish))
        .routes(routes!(versions::record));
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(public)
        .merge(guarded(read, state, Role::Read))
        .merge(guarded(admin, state, Role::Admin))
}

/// `routes`, answering only requests with a token of `role` (or above).
fn guarded(
    routes: OpenApiRouter<Arc<AppState>>,
    state: Option<&Arc<AppState>>,
    role: Role,
) -> OpenApiRouter<Arc<AppState>> {
    match state {
        Some(state) => routes.route_layer(middleware::from_fn_with_state(
            (state.clone(), role),
            auth::require,
        )),
        None => routes,
    }
}

/// The OpenAPI document, with the running version.
pub fn document() -> utoipa::openapi::OpenApi {
    static DOCUMENT: std::sync::OnceLock<utoipa::openapi::OpenApi> = std::sync::OnceLock::new();
    DOCUMENT
        .get_or_init(|| {
            let mut doc = table(None).into_openapi();
            doc.info.version = env!("CARGO_PKG_VERSION").into();
            doc
        })
        .clone()
}

/// Every route the API serves, as (lower-case method, path), sorted.
pub fn route_list() -> Vec<(String, String)> {
    let mut routes = Vec::new();
    for (path, item) in &document().paths.paths {
        let methods = [
            ("get", &item.get),
            ("put", &item.put),
            ("post", &item.post),
            ("delete", &item.delete),
            ("patch", &item.patch),
        ];
        for (method, operation) in methods {
            if operation.is_some() {
                routes.push((method.to_owned(), path.clone()));
            }
        }
    }
    routes.sort();
    routes
}

/// A policy as a download: AppLocker XML, `Content-Disposition` naming the file.
fn xml_response(xml: String, filename: &str) -> Result<Response, ApiError> {
    Response::builder()
        .header(header::CONTENT_TYPE, "application/xml; charset=utf-8")
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        )
        .body(Body::from(xml))
        .map_err(|e| ApiError::internal("building the response", &e))
}

/// `X-Cache: hit|miss` on cached answers.
fn with_lookup(mut response: Response, lookup: Lookup) -> Response {
    response
        .headers_mut()
        .insert("x-cache", HeaderValue::from_static(lookup.header_value()));
    response
}
