//! `GET` and `PUT /inventory`: the business groups, as the CSV `lockstep` reads.

use std::io::Write as _;

use axum::Json;
use axum::body::Body;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use super::Shared;
use crate::body::{read_document, require_media_type};
use crate::error::{ApiError, ErrorBody, ErrorCode, responses};

/// What the server holds when no inventory was given.
const EMPTY_INVENTORY: &str = "computer,group\n";

/// The served inventory as CSV (`computer,group`; names, FQDNs or globs).
#[utoipa::path(get, path = "/api/v1/inventory", tag = "admin",
    responses(
        (status = 200, description = "The inventory", body = String, content_type = "text/csv"),
        responses::Read))]
pub(crate) async fn get_inventory(
    axum::extract::State(state): Shared,
) -> Result<Response, ApiError> {
    let path = &state.config.inventory_path;
    let text = match tokio::fs::read_to_string(path).await {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => EMPTY_INVENTORY.into(),
        Err(e) => return Err(ApiError::internal("reading the inventory", &e)),
    };
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], text).into_response())
}

/// The inventory that was stored.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub(crate) struct InventorySaved {
    /// Lines (computers or globs).
    pub(crate) entries: usize,
    pub(crate) groups: Vec<String>,
}

/// Replaces the inventory (admin token). The CSV is checked first: a bad line is a 400
/// naming it, and the old inventory stays.
#[utoipa::path(put, path = "/api/v1/inventory", tag = "admin",
    request_body(content = String, description = "CSV with a `computer,group` header", content_type = "text/csv",
        example = json!("computer,group\nFIN-*,finance\nENG-WS001.corp.example,engineering\n")),
    responses(
        (status = 200, description = "Stored", body = InventorySaved),
        (status = 400, description = "A bad line (named)", body = ErrorBody),
        responses::Admin,
        responses::Document))]
pub(crate) async fn put_inventory(
    axum::extract::State(state): Shared,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<InventorySaved>, ApiError> {
    require_media_type(&headers, &["text/csv"])?;
    let bytes = read_document(body, &headers, state.config.document_limit, &state.config).await?;
    let text = String::from_utf8(bytes)
        .map_err(|_| ApiError::bad_body("the inventory is not UTF-8 text"))?;
    let inventory = query::Inventory::parse(&text).map_err(|e| match e {
        query::Error::Inventory { line, message, .. } => ApiError::new(
            ErrorCode::BadInventory,
            format!("inventory line {line}: {message}"),
        ),
        other => ApiError::new(ErrorCode::BadInventory, other.to_string()),
    })?;
    let path = state.config.inventory_path.clone();
    tokio::task::spawn_blocking(move || replace_file(&path, text.as_bytes()))
        .await
        .map_err(|e| ApiError::internal("the inventory task", &e))?
        .map_err(|e| ApiError::internal("storing the inventory", &e))?;
    state.changed();
    Ok(Json(InventorySaved {
        entries: inventory.entries.len(),
        groups: inventory.groups(),
    }))
}

/// Writes `bytes` to a new file beside `path`, syncs it and renames it over `path`: readers
/// see the old file or the new one, never a part.
fn replace_file(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut temp = tempfile::Builder::new()
        .prefix(".inventory-")
        .tempfile_in(dir)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
