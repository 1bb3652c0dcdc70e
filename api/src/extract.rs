//! Extractors whose rejections use the API's error shape, and the parameters endpoints share.

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Query parameters; a bad one is a 400 in the API's error shape.
pub(crate) struct ApiQuery<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Query::<T>::try_from_uri(&parts.uri)
            .map(|q| ApiQuery(q.0))
            .map_err(|e| ApiError::bad_parameter(e.body_text()))
    }
}

/// Path parameters; a bad one is a 400 in the API's error shape.
pub(crate) struct ApiPath<T>(pub(crate) T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e| ApiError::bad_parameter(e.body_text()))
    }
}

/// The time window and noise switch most endpoints take.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct WindowParams {
    /// Start of the window: a date (`2026-10-05`) or an RFC 3339 time.
    pub(crate) since: Option<String>,
    /// End of the window: a date (that whole day included) or an RFC 3339 time (excluded).
    pub(crate) until: Option<String>,
    /// Keep PowerShell's `__PSSCRIPTPOLICYTEST_*` probes (left out as noise otherwise).
    #[serde(default)]
    pub(crate) include_noise: bool,
}

impl WindowParams {
    pub(crate) fn window(&self) -> Result<query::Window, ApiError> {
        Ok(query::Window::parse(
            self.since.as_deref(),
            self.until.as_deref(),
        )?)
    }
}

/// Rows per page, or apps per list, unless the request says otherwise.
pub(crate) const PAGE_DEFAULT: usize = 100;
/// The most a request may ask for at once.
pub(crate) const PAGE_MAX: usize = 10_000;

/// The page size of parameter `name` (`limit`, `top`): [`PAGE_DEFAULT`] when absent.
pub(crate) fn page_size(value: Option<usize>, name: &str) -> Result<usize, ApiError> {
    let size = value.unwrap_or(PAGE_DEFAULT);
    if (1..=PAGE_MAX).contains(&size) {
        Ok(size)
    } else {
        Err(ApiError::bad_parameter(format!(
            "{name}: between 1 and {PAGE_MAX}"
        )))
    }
}

/// A comma-separated list of values of a value list (`EXE,SCRIPT`), each checked.
pub(crate) fn parsed_list<T>(name: &str, text: Option<&str>) -> Result<Vec<T>, ApiError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    list(text)
        .iter()
        .map(|item| {
            item.parse()
                .map_err(|e| ApiError::bad_parameter(format!("{name}: {e}")))
        })
        .collect()
}

/// A comma-separated list parameter (`finance,hr`), trimmed, empty items dropped.
pub(crate) fn list(text: Option<&str>) -> Vec<String> {
    text.unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The most a JSON request body may be.
const MAX_JSON_BODY: u64 = 1 << 20;

/// A JSON body (`Content-Type: application/json`, at most 1 MiB); a bad one is a 400, 413
/// or 415 in the API's error shape.
pub(crate) struct ApiJson<T>(pub(crate) T);

impl<T: DeserializeOwned> axum::extract::FromRequest<std::sync::Arc<crate::state::AppState>>
    for ApiJson<T>
{
    type Rejection = ApiError;

    async fn from_request(
        request: axum::extract::Request,
        state: &std::sync::Arc<crate::state::AppState>,
    ) -> Result<Self, ApiError> {
        let (parts, body) = request.into_parts();
        crate::body::require_media_type(&parts.headers, &["application/json"])?;
        let bytes =
            crate::body::read_document(body, &parts.headers, MAX_JSON_BODY, &state.config).await?;
        axum::Json::<T>::from_bytes(&bytes)
            .map(|j| ApiJson(j.0))
            .map_err(|e| ApiError::bad_body(e.body_text()))
    }
}
