//! The one error shape of the API, `{"error": kind, "code": code, "message": ...}`, and the
//! catalogue of codes ([`ErrorCode`]): clients and the dashboard match `code` (or the coarser
//! `error`), never the message. Server-side failures are logged in full and answered with a
//! message that leaks nothing.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The body of every error response.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The class of error, stable: `bad_parameter`, `bad_body`, `unauthorized`, `forbidden`,
    /// `not_found`, `method_not_allowed`, `conflict`, `refused`, `timeout`, `too_large`,
    /// `unsupported_media_type`, `damaged_input`, `overloaded`, `engine_unavailable`,
    /// `unavailable`, `internal`.
    pub error: String,
    /// What exactly, stable and finer than `error` (see the `ErrorCode` schema).
    pub(crate) code: ErrorCode,
    /// For people: what was wrong and, where it helps, what to do.
    pub message: String,
}

/// Every error the API answers with. Each has one HTTP status and one class.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// A query parameter or path segment is not valid (the message names it).
    BadParameter,
    /// The request body is not what the endpoint takes.
    BadBody,
    /// The policy in the body could not be read (the message names the line).
    BadPolicy,
    /// The inventory in the body has a bad line (the message names it).
    BadInventory,
    /// The body is none of the input forms (EVTX, event XML, JSON).
    NotEvtx,
    /// The upload ended before its end.
    UploadInterrupted,
    /// No `Authorization: Bearer` header.
    MissingToken,
    /// A token that is not this server's.
    InvalidToken,
    /// The read token on an endpoint that needs the admin token.
    AdminTokenNeeded,
    /// No such endpoint.
    UnknownEndpoint,
    /// No such business group.
    UnknownGroup,
    /// The endpoint does not take that method.
    MethodNotAllowed,
    /// The upload sent nothing for too long.
    UploadStalled,
    /// The body is larger than the server accepts.
    TooLarge,
    /// The body's media type is not the one the endpoint takes.
    UnsupportedMediaType,
    /// A damaged EVTX upload with `strict=true`: nothing was stored.
    DamagedInput,
    /// The query did not finish within the server's query timeout.
    QueryTimeout,
    /// Too many requests in progress.
    Overloaded,
    /// The query engine (a Ballista scheduler) did not answer.
    EngineUnavailable,
    /// No app of that id in the recorded events of the group (or fleet).
    UnknownApp,
    /// The decision changed since the version the request names (`If-Match`).
    Conflict,
    /// Allowing an app whose suggestion is flagged for review needs `force`.
    ReviewFlagged,
    /// No safe rule can allow the app.
    NoSafeRule,
    /// Neither the group nor the fleet has a policy imported.
    NoPolicy,
    /// The workspace (DATA/workspace.sqlite) is not available.
    WorkspaceUnavailable,
    /// The server failed; its log has the details.
    Internal,
}

impl ErrorCode {
    /// The HTTP status answered with this code.
    pub fn status(self) -> StatusCode {
        use ErrorCode::*;
        match self {
            BadParameter | BadBody | BadPolicy | BadInventory | NotEvtx | UploadInterrupted => {
                StatusCode::BAD_REQUEST
            }
            MissingToken | InvalidToken => StatusCode::UNAUTHORIZED,
            AdminTokenNeeded => StatusCode::FORBIDDEN,
            UnknownEndpoint | UnknownGroup | UnknownApp | NoPolicy => StatusCode::NOT_FOUND,
            Conflict => StatusCode::CONFLICT,
            ReviewFlagged | NoSafeRule => StatusCode::UNPROCESSABLE_ENTITY,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            UploadStalled => StatusCode::REQUEST_TIMEOUT,
            TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            DamagedInput => StatusCode::UNPROCESSABLE_ENTITY,
            QueryTimeout | Overloaded | EngineUnavailable | WorkspaceUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The coarse class (`error` in the body), as older clients match it.
    pub fn kind(self) -> &'static str {
        use ErrorCode::*;
        match self {
            BadParameter => "bad_parameter",
            BadBody | BadPolicy | BadInventory | NotEvtx | UploadInterrupted => "bad_body",
            MissingToken | InvalidToken => "unauthorized",
            AdminTokenNeeded => "forbidden",
            UnknownEndpoint | UnknownGroup | UnknownApp | NoPolicy => "not_found",
            Conflict => "conflict",
            ReviewFlagged | NoSafeRule => "refused",
            WorkspaceUnavailable => "unavailable",
            MethodNotAllowed => "method_not_allowed",
            UploadStalled | QueryTimeout => "timeout",
            TooLarge => "too_large",
            UnsupportedMediaType => "unsupported_media_type",
            DamagedInput => "damaged_input",
            Overloaded => "overloaded",
            EngineUnavailable => "engine_unavailable",
            Internal => "internal",
        }
    }
}

/// An error answer.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) code: ErrorCode,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn bad_parameter(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::BadParameter, message)
    }

    pub(crate) fn bad_body(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::BadBody, message)
    }

    pub(crate) fn unknown_group(group: &str) -> ApiError {
        ApiError::new(
            ErrorCode::UnknownGroup,
            format!(
                "no group {group:?}: it is neither in the inventory nor a group of any computer in the store (GET /api/v1/groups lists them)"
            ),
        )
    }

    pub(crate) fn too_large(limit: u64) -> ApiError {
        ApiError::new(
            ErrorCode::TooLarge,
            format!("the request body is larger than this server accepts ({limit} bytes)"),
        )
    }

    pub(crate) fn unsupported_media_type(expected: &str) -> ApiError {
        ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!("send the body as {expected}"),
        )
    }

    /// A failure of the server itself: the details go to the log, not to the client.
    pub(crate) fn internal(context: &str, err: &dyn std::error::Error) -> ApiError {
        tracing::error!(error = %error_chain(err), "{context}");
        ApiError::new(
            ErrorCode::Internal,
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
        let status = self.code.status();
        let body = ErrorBody {
            error: self.code.kind().to_owned(),
            code: self.code,
            message: self.message,
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"lockstep\""),
            );
        }
        response
    }
}

/// The workspace refused (a version conflict: 409; a request it cannot record: 400) or
/// failed (a server problem).
impl From<workspace::Error> for ApiError {
    fn from(err: workspace::Error) -> Self {
        match err {
            workspace::Error::Conflict { .. } => {
                ApiError::new(ErrorCode::Conflict, err.to_string())
            }
            workspace::Error::Invalid(message) => ApiError::bad_parameter(message),
            other => ApiError::internal("the workspace", &other),
        }
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
                ErrorCode::Internal,
                format!("the served inventory is invalid at line {line}: {message}"),
            ),
            query::Error::Unreachable { ref source, .. } => {
                ApiError::new(ErrorCode::EngineUnavailable, format!("{err}: {source}"))
            }
            query::Error::UnknownGroup(ref group) => ApiError::unknown_group(group),
            query::Error::UnknownApp { .. } => {
                ApiError::new(ErrorCode::UnknownApp, err.to_string())
            }
            query::Error::Flagged { .. } => {
                ApiError::new(ErrorCode::ReviewFlagged, err.to_string())
            }
            query::Error::NoRule { .. } => ApiError::new(ErrorCode::NoSafeRule, err.to_string()),
            query::Error::NoPolicy(_) | query::Error::NoVersion { .. } => {
                ApiError::new(ErrorCode::NoPolicy, err.to_string())
            }
            query::Error::NothingToPublish(_) => {
                ApiError::new(ErrorCode::Conflict, err.to_string())
            }
            query::Error::NoWorkspace => ApiError::new(
                ErrorCode::WorkspaceUnavailable,
                "the workspace (DATA/workspace.sqlite) is not available",
            ),
            query::Error::Workspace(e) => e.into(),
            query::Error::Policy(ref e) => {
                ApiError::new(ErrorCode::BadPolicy, format!("the policy: {e}"))
            }
            other => ApiError::internal("the query", &other),
        }
    }
}

/// The error responses the OpenAPI document declares, shared by the endpoints: each set is
/// what a kind of endpoint can answer besides its success.
pub(crate) mod responses {
    use super::ErrorBody;

    /// A question about the store (any group).
    #[derive(utoipa::IntoResponses)]
    #[allow(dead_code)]
    pub(crate) enum Query {
        /// A bad parameter (named in the message).
        #[response(status = 400)]
        BadParameter(ErrorBody),
        /// No or a wrong token.
        #[response(status = 401)]
        Unauthorized(ErrorBody),
        /// The query took too long, or the query engine (a Ballista scheduler) did not answer.
        #[response(status = 503)]
        Unavailable(ErrorBody),
    }

    /// A question about one group.
    #[derive(utoipa::IntoResponses)]
    #[allow(dead_code)]
    pub(crate) enum GroupQuery {
        /// A bad parameter (named in the message).
        #[response(status = 400)]
        BadParameter(ErrorBody),
        /// No or a wrong token.
        #[response(status = 401)]
        Unauthorized(ErrorBody),
        /// No such group.
        #[response(status = 404)]
        UnknownGroup(ErrorBody),
        /// The query took too long, or the query engine (a Ballista scheduler) did not answer.
        #[response(status = 503)]
        Unavailable(ErrorBody),
    }

    /// A body that is a document (policy, inventory) besides the question.
    #[derive(utoipa::IntoResponses)]
    #[allow(dead_code)]
    pub(crate) enum Document {
        /// Larger than the server accepts.
        #[response(status = 413)]
        TooLarge(ErrorBody),
        /// Not sent with the media type the endpoint takes.
        #[response(status = 415)]
        UnsupportedMediaType(ErrorBody),
    }

    /// An endpoint that needs the admin token.
    #[derive(utoipa::IntoResponses)]
    #[allow(dead_code)]
    pub(crate) enum Admin {
        /// No or a wrong token.
        #[response(status = 401)]
        Unauthorized(ErrorBody),
        /// Not the admin token.
        #[response(status = 403)]
        Forbidden(ErrorBody),
    }

    /// Any endpoint that needs a token.
    #[derive(utoipa::IntoResponses)]
    #[allow(dead_code)]
    pub(crate) enum Read {
        /// No or a wrong token.
        #[response(status = 401)]
        Unauthorized(ErrorBody),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_status_and_a_class_that_agree() {
        for code in [
            ErrorCode::BadParameter,
            ErrorCode::BadPolicy,
            ErrorCode::NotEvtx,
            ErrorCode::MissingToken,
            ErrorCode::AdminTokenNeeded,
            ErrorCode::UnknownGroup,
            ErrorCode::UploadStalled,
            ErrorCode::QueryTimeout,
            ErrorCode::Internal,
        ] {
            let class = code.kind();
            let status = code.status().as_u16();
            let expected = match class {
                "bad_parameter" | "bad_body" => 400,
                "unauthorized" => 401,
                "forbidden" => 403,
                "not_found" => 404,
                "timeout" => {
                    assert!(status == 408 || status == 503, "{code:?}");
                    status
                }
                "internal" => 500,
                "overloaded" | "engine_unavailable" => 503,
                other => panic!("{other}"),
            };
            assert_eq!(status, expected, "{code:?}");
        }
    }
}
