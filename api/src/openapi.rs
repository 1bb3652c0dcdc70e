//! The OpenAPI 3.1 document, derived from the handlers and their types.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::ErrorBody;
use crate::{inventory, routes, upload};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "lockstep",
        description = "AppLocker audit events to enforce-ready policies, per business group. Every endpoint but /health needs `Authorization: Bearer <token>`; uploads and the inventory need the admin token.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    paths(
        routes::health,
        routes::groups,
        routes::blocked,
        routes::suggestions,
        routes::readiness,
        routes::timeline,
        routes::simulate,
        upload::ingest_upload,
        inventory::get_inventory,
        inventory::put_inventory,
        openapi_json,
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "reports", description = "What would be blocked, and readiness"),
        (name = "policy", description = "Suggested rules and what-if"),
        (name = "admin", description = "Uploads and the inventory (admin token)"),
        (name = "service", description = "Health and this document"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document, with the running version.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").into();
    doc
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "service",
    responses(
        (status = 200, description = "The OpenAPI document", body = Object),
        (status = 401, description = "No or a wrong token", body = ErrorBody)))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}
