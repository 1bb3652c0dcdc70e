//! The OpenAPI 3.1 document: its frame here (title, security, tags); its paths come from the
//! route table (`routes::table`), each from its handler's `#[utoipa::path]`.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{ErrorBody, responses};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "lockstep",
        description = "AppLocker audit events to enforce-ready policies, per business group. Every endpoint but /health needs `Authorization: Bearer <token>`; uploads, the inventory, policy imports and decisions need the admin token. Errors are `{\"error\", \"code\", \"message\"}`: match `code`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "reports", description = "What would be blocked, and readiness"),
        (name = "policy", description = "Each group's policy in force and candidate, suggested rules, what-if"),
        (name = "decisions", description = "Allow, block or defer each app (admin token to decide)"),
        (name = "admin", description = "Uploads and the inventory (admin token)"),
        (name = "service", description = "Health, who the token is, and this document"),
    )
)]
pub(crate) struct ApiDoc;

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

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "service",
    responses(
        (status = 200, description = "The OpenAPI document", body = Object),
        responses::Read))]
pub(crate) async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(super::document())
}
