//! Request bodies: the EVTX upload (streamed to a temporary file, never held in memory) and
//! small documents (policies, inventories) read within a size limit.

use axum::body::Body;
use axum::http::{HeaderMap, header};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::error::{ApiError, ErrorCode};
use crate::state::{AppState, Config};

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
pub(crate) fn check_declared_length(headers: &HeaderMap, limit: u64) -> Result<(), ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > limit => Err(ApiError::too_large(limit)),
        _ => Ok(()),
    }
}

/// A small body, whole, within `limit` bytes, arriving within the configured deadlines:
/// nothing for `document_idle_timeout` or not all of it by `document_timeout` is a 408
/// (a client trickling a byte every few seconds would otherwise hold its request slot for
/// as long as it likes).
pub(crate) async fn read_document(
    body: Body,
    headers: &HeaderMap,
    limit: u64,
    config: &Config,
) -> Result<Vec<u8>, ApiError> {
    check_declared_length(headers, limit)?;
    let (idle, total) = (config.document_idle_timeout, config.document_timeout);
    let late = |what: String| ApiError::new(ErrorCode::UploadStalled, what);
    let read = async {
        let mut stream = body.into_data_stream();
        let mut bytes = Vec::new();
        loop {
            let next = tokio::time::timeout(idle, stream.next())
                .await
                .map_err(|_| {
                    late(format!(
                        "the request body sent nothing for {} s",
                        idle.as_secs_f32()
                    ))
                })?;
            let Some(chunk) = next else { break };
            let chunk =
                chunk.map_err(|_| ApiError::bad_body("the request body could not be read"))?;
            if bytes.len() as u64 + chunk.len() as u64 > limit {
                return Err(ApiError::too_large(limit));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    };
    tokio::time::timeout(total, read).await.map_err(|_| {
        late(format!(
            "the request body did not arrive within {} s",
            total.as_secs_f32()
        ))
    })?
}

/// Streams `body` into a new temporary file in `dir` (a name of the server's choosing).
pub(crate) async fn receive(
    body: Body,
    state: &AppState,
) -> Result<(tempfile::NamedTempFile, u64), ApiError> {
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
                    ErrorCode::UploadStalled,
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
            ApiError::new(
                ErrorCode::UploadInterrupted,
                "the upload was interrupted before its end; nothing was stored",
            )
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
