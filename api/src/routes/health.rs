//! `GET /health`: liveness, without a token.

use axum::Json;

/// The server is up.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub(crate) struct Health {
    /// Always `ok`.
    pub(crate) status: String,
    /// lockstep's version.
    pub(crate) version: String,
}

/// Liveness, without authentication.
#[utoipa::path(get, path = "/api/v1/health", tag = "service",
    responses((status = 200, description = "The server is up", body = Health)),
    security(()))]
pub(crate) async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}
