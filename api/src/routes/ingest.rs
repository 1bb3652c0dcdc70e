//! `POST /ingest`: one EVTX file into the store, as `lockstep ingest` would.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Body;
use axum::http::HeaderMap;

use super::Shared;
use crate::body::{check_declared_length, receive, require_media_type};
use crate::error::{ApiError, ErrorBody, ErrorCode, responses};
use crate::extract::ApiQuery;

/// Parameters of an upload.
#[derive(Debug, Clone, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct IngestParams {
    /// Any damage refuses the whole file (422) before anything is stored.
    #[serde(default)]
    pub(crate) strict: bool,
}

/// A damaged part of the upload that was skipped.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub(crate) struct UploadDamage {
    pub(crate) chunk: Option<u64>,
    pub(crate) record: Option<u64>,
    pub(crate) message: String,
}

/// What an upload did to the store.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub(crate) struct UploadSummary {
    pub(crate) bytes_received: u64,
    pub(crate) records_read: u64,
    /// AppLocker events read, by event ID.
    pub(crate) applocker_events_by_id: BTreeMap<String, u64>,
    /// Records of other providers, skipped.
    pub(crate) other_records: u64,
    pub(crate) rows_new: u64,
    /// Events already in the store (the same upload twice stores them once).
    pub(crate) rows_duplicate: u64,
    pub(crate) rows_in_store: u64,
    /// True when damaged parts were skipped (listed in `damaged`); the rest was stored.
    pub(crate) partial: bool,
    pub(crate) damaged: Vec<UploadDamage>,
    pub(crate) elapsed_seconds: f64,
}

impl UploadSummary {
    fn new(s: ingest::Summary, bytes_received: u64) -> UploadSummary {
        UploadSummary {
            bytes_received,
            records_read: s.records_read,
            applocker_events_by_id: s
                .applocker_events_by_id
                .iter()
                .map(|(id, n)| (id.to_string(), *n))
                .collect(),
            other_records: s.other_records,
            rows_new: s.rows_new,
            rows_duplicate: s.rows_duplicate,
            rows_in_store: s.rows_in_store,
            partial: s.is_partial(),
            // The temporary file's path means nothing to the client: chunk and record do.
            damaged: s
                .damaged
                .iter()
                .map(|d| UploadDamage {
                    chunk: d.chunk,
                    record: d.record,
                    message: d.message.clone(),
                })
                .collect(),
            elapsed_seconds: s.elapsed_seconds,
        }
    }
}

/// Ingests one EVTX file sent as the body, like `lockstep ingest` (idempotent; damaged parts
/// are skipped and listed). Reads go on answering from the previous store state meanwhile.
#[utoipa::path(post, path = "/api/v1/ingest", tag = "admin",
    params(IngestParams),
    request_body(content = Vec<u8>, description = "One EVTX file", content_type = "application/octet-stream"),
    responses(
        (status = 200, description = "Ingested (see `partial`)", body = UploadSummary),
        (status = 400, description = "Not an EVTX file, or the upload was interrupted", body = ErrorBody),
        responses::Admin,
        (status = 408, description = "The upload stalled", body = ErrorBody),
        responses::Document,
        (status = 422, description = "Damaged input with strict=true; nothing was stored", body = ErrorBody)))]
pub(crate) async fn ingest_upload(
    axum::extract::State(state): Shared,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<IngestParams>,
    body: Body,
) -> Result<Json<UploadSummary>, ApiError> {
    require_media_type(&headers, &["application/octet-stream"])?;
    check_declared_length(&headers, state.config.upload_limit)?;
    let (temp, received) = receive(body, &state).await?;
    let _turn = state.ingest_turn.lock().await;
    let opts = ingest::Options {
        data_dir: state.config.data_dir.clone(),
        paths: vec![temp.path().to_owned()],
        strict: params.strict,
        threads: 0,
    };
    // Parsing is CPU work: off the async workers. The temporary file lives until it is done.
    let result = tokio::task::spawn_blocking(move || {
        let result = ingest::ingest(&opts, &ingest::Progress::default());
        drop(temp);
        result
    })
    .await
    .map_err(|e| ApiError::internal("the ingest task", &e))?;
    state.changed();
    let summary = match result {
        Ok(s) => s,
        Err(ingest::Error::Strict { .. }) => {
            return Err(ApiError::new(
                ErrorCode::DamagedInput,
                "the file is damaged and strict=true: nothing was stored (without strict, the readable records are stored and the damage listed)",
            ));
        }
        Err(e) => return Err(ApiError::internal("the ingest", &e)),
    };
    if let Some(skipped) = summary.skipped_inputs.first() {
        return Err(ApiError::new(
            ErrorCode::NotEvtx,
            format!(
                "the upload cannot be read: {}; nothing was stored",
                skipped.reason
            ),
        ));
    }
    tracing::info!(
        bytes = received,
        rows_new = summary.rows_new,
        rows_duplicate = summary.rows_duplicate,
        damaged = summary.damaged.len(),
        "upload ingested"
    );
    Ok(Json(UploadSummary::new(summary, received)))
}
