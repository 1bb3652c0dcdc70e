//! `GET /collector`: the collector's latest status (`lockstep collect` or `serve --watch`):
//! the files watched, where reading stands in each, the lag, the last error.

use axum::Json;

use super::Shared;
use crate::error::responses;

/// `GET /collector`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct CollectorAnswer {
    /// `DATA/collector.json` as the collector's last pass wrote it (`pid`, `started_at`,
    /// `updated_at`, `watch`, `missing`, `settling`, `last_pass_rows_new`, `last_error`,
    /// `files` with `path`, `read_at`, `offset`, `last_record_id`, `behind`,
    /// `lag_seconds`); `null` when no collector has run on this data folder.
    #[schema(value_type = Option<Object>)]
    pub(crate) status: Option<ingest::collect::CollectorStatus>,
}

/// Where the collector stands: the files it watches, lag and errors.
#[utoipa::path(get, path = "/api/v1/collector", tag = "service",
    responses(
        (status = 200, description = "The collector's latest status, or null", body = CollectorAnswer),
        responses::Read))]
pub(crate) async fn collector(axum::extract::State(state): Shared) -> Json<CollectorAnswer> {
    Json(CollectorAnswer {
        status: ingest::collect::read_status(&state.config.data_dir),
    })
}
