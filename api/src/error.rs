//! The one error shape of the API: `{"error": kind, "message": ...}` with the right status.
//! Server-side failures are logged in full and answered with a message that leaks nothing.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The body of every error response.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A stable, machine-readable kind: `bad_parameter`, `bad_body`, `unauthorized`,
    /// `forbidden`, `not_found`, `method_not_allowed`, `too_large`, `unsupported_media_type`,
    /// `damaged_input`, `timeout`, `overloaded`, `engine_unavailable`, `internal`.
    pub error: String,
    /// For people: what was wrong and, where it helps, what to do.
    pub message: String,
}

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind,
            message: message.into(),
        }
    }

    pub fn bad_parameter(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_parameter", message)
    }

    pub fn bad_body(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_body", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn too_large(limit: u64) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the request body is larger than this server accepts ({limit} bytes)"),
        )
    }

    pub fn unsupported_media_type(expected: &str) -> ApiError {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("send the body as {expected}"),
        )
    }

    /// A failure of the server itself: the details go to the log, not to the client.
    pub fn internal(context: &str, err: &dyn std::error::Error) -> ApiError {
        tracing::error!(error = %error_chain(err), "{context}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("{context} failed; the server log has the details"),
        )
    }
}

/// `err: source: source…` on one line, for the log.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.kind.to_owned(),
            message: self.message,
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"lockstep\""),
            );
        }
        response
    }
}

impl From<query::Error> for ApiError {
    fn from(err: query::Error) -> ApiError {
        match err {
            query::Error::BadParameter { name, message } => {
                ApiError::bad_parameter(format!("{}: {message}", name.trim_start_matches('-')))
            }
            // The served inventory is the server's file: a broken one is the server's problem,
            // but naming the line helps whoever PUT it.
            query::Error::Inventory { line, message, .. } => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("the served inventory is invalid at line {line}: {message}"),
            ),
            query::Error::Unreachable { ref source, .. } => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "engine_unavailable",
                format!("{err}: {source}"),
            ),
            other => ApiError::internal("the query", &other),
        }
    }
}
