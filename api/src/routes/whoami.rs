//! `GET /whoami`: who the token is (its name, and whether it may change anything), so a
//! client shows the buttons it may use.

use axum::Json;
use axum::extract::Extension;

use crate::auth::{Principal, Role};
use crate::error::responses;

/// The token's holder.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct WhoAmI {
    /// The token's name (`reader`, `admin`, or a named admin token's name).
    pub(crate) name: String,
    /// `read` or `admin`.
    pub(crate) role: String,
}

/// The caller, as the server knows it by its token.
#[utoipa::path(get, path = "/api/v1/whoami", tag = "service",
    responses(
        (status = 200, description = "The token's name and role", body = WhoAmI),
        responses::Read))]
pub(crate) async fn whoami(Extension(principal): Extension<Principal>) -> Json<WhoAmI> {
    Json(WhoAmI {
        name: principal.name,
        role: match principal.role {
            Role::Read => "read",
            Role::Admin => "admin",
        }
        .into(),
    })
}
