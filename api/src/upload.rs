//! Request bodies: the EVTX upload (streamed to a temporary file, never held in memory) and
//! small documents (policies, inventories) read within a size limit.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;
use crate::state::AppState;

/// 415 unless the body is sent as one of `expected` (parameters such as `charset` allowed).
pub(crate) fn require_media_type(headers: &HeaderMap, expected: &[&str]) -> Result<(), ApiError> {
    let given = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    match given {
        Some(t) if expected.contains(&t.as_str()) => Ok(()),
        _ => Err(ApiError::unsupported_media_type(&expected.join(" or "))),
    }
}

/// 413 at once when the declared length is over `limit`.
fn check_declared_length(headers: &HeaderMap, limit: u64) -> Result<(), ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > limit => Err(ApiError::too_large(limit)),
        _ => Ok(()),
    }
}

/// A small body, whole, within `limit` bytes.
pub(crate) async fn read_document(
    body: Body,
    headers: &HeaderMap,
    limit: u64,
) -> Result<Vec<u8>, ApiError> {
    check_declared_length(headers, limit)?;
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| ApiError::bad_body("the request body could not be read"))?;
        if bytes.len() as u64 + chunk.len() as u64 > limit {
            return Err(ApiError::too_large(limit));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Streams `body` into a new temporary file in `dir` (a name of the server's choosing).
async fn receive(body: Body, state: &AppState) -> Result<(tempfile::NamedTempFile, u64), ApiError> {
    let config = &state.config;
    let temp = tempfile::Builder::new()
        .prefix("lockstep-upload-")
        .suffix(".evtx")
        .tempfile_in(&config.upload_dir)
        .map_err(|e| ApiError::internal("creating the upload file", &e))?;
    let file = temp
        .as_file()
        .try_clone()
        .map_err(|e| ApiError::internal("opening the upload file", &e))?;
    let mut out = tokio::io::BufWriter::with_capacity(1 << 20, tokio::fs::File::from_std(file));
    let mut stream = body.into_data_stream();
    let mut received: u64 = 0;
    loop {
        let next = tokio::time::timeout(config.upload_idle_timeout, stream.next())
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "timeout",
                    format!(
                        "the upload sent nothing for {} s; nothing was stored",
                        config.upload_idle_timeout.as_secs()
                    ),
                )
            })?;
        let Some(chunk) = next else { break };
        // A client that goes away mid-upload ends here; the temporary file is removed when
        // `temp` drops and nothing reaches the store.
        let chunk = chunk.map_err(|_| {
            ApiError::bad_body("the upload was interrupted before its end; nothing was stored")
        })?;
        received += chunk.len() as u64;
        if received > config.upload_limit {
            return Err(ApiError::too_large(config.upload_limit));
        }
        out.write_all(&chunk)
            .await
            .map_err(|e| ApiError::internal("writing the upload", &e))?;
    }
    out.flush()
        .await
        .map_err(|e| ApiError::internal("writing the upload", &e))?;
    Ok((temp, received))
}

/// Parameters of an upload.
#[derive(Debug, Clone, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IngestParams {
    /// Any damage refuses the whole file (422) before anything is stored.
    #[serde(default)]
    pub strict: bool,
}

/// A damaged part of the upload that was skipped.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct UploadDamage {
    pub chunk: Option<u64>,
    pub record: Option<u64>,
    pub message: String,
}

/// What an upload did to the store.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct UploadSummary {
    pub bytes_received: u64,
    pub records_read: u64,
    /// AppLocker events read, by event ID.
    pub applocker_events_by_id: BTreeMap<String, u64>,
    /// Records of other providers, skipped.
    pub other_records: u64,
    pub rows_new: u64,
    /// Events already in the store (the same upload twice stores them once).
    pub rows_duplicate: u64,
    pub rows_in_store: u64,
    /// True when damaged parts were skipped (listed in `damaged`); the rest was stored.
    pub partial: bool,
    pub damaged: Vec<UploadDamage>,
    pub elapsed_seconds: f64,
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
        (status = 401, description = "No or a wrong token", body = ErrorBody),
        (status = 403, description = "Not the admin token", body = ErrorBody),
        (status = 408, description = "The upload stalled", body = ErrorBody),
        (status = 413, description = "Larger than the server accepts", body = ErrorBody),
        (status = 415, description = "Not sent as application/octet-stream", body = ErrorBody),
        (status = 422, description = "Damaged input with strict=true; nothing was stored", body = ErrorBody)))]
pub async fn ingest_upload(
    State(state): State<Arc<AppState>>,
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
                StatusCode::UNPROCESSABLE_ENTITY,
                "damaged_input",
                "the file is damaged and strict=true: nothing was stored (without strict, the readable records are stored and the damage listed)",
            ));
        }
        Err(e) => return Err(ApiError::internal("the ingest", &e)),
    };
    if let Some(skipped) = summary.skipped_inputs.first() {
        return Err(ApiError::bad_body(format!(
            "not an EVTX file ({}); nothing was stored",
            skipped.reason
        )));
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
