//! Extractors whose rejections use the API's error shape, and the parameters endpoints share.

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Query parameters; a bad one is a 400 in the API's error shape.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Query::<T>::try_from_uri(&parts.uri)
            .map(|q| ApiQuery(q.0))
            .map_err(|e| ApiError::bad_parameter(e.body_text()))
    }
}

/// Path parameters; a bad one is a 400 in the API's error shape.
pub struct ApiPath<T>(pub T);

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
pub struct WindowParams {
    /// Start of the window: a date (`2026-10-05`) or an RFC 3339 time.
    pub since: Option<String>,
    /// End of the window: a date (that whole day included) or an RFC 3339 time (excluded).
    pub until: Option<String>,
    /// Keep PowerShell's `__PSSCRIPTPOLICYTEST_*` probes (left out as noise otherwise).
    #[serde(default)]
    pub include_noise: bool,
}

impl WindowParams {
    pub fn window(&self) -> Result<query::Window, ApiError> {
        let bound = |text: &Option<String>, is_until| {
            text.as_deref()
                .map(|t| query::parse_time_bound(t, is_until))
                .transpose()
        };
        let window = query::Window {
            since: bound(&self.since, false)?,
            until: bound(&self.until, true)?,
        };
        if let (Some(s), Some(u)) = (window.since, window.until)
            && s >= u
        {
            return Err(ApiError::bad_parameter("since must be before until"));
        }
        Ok(window)
    }

    /// The part of a cache key these parameters make.
    pub fn key(&self) -> String {
        format!(
            "since={:?}&until={:?}&noise={}",
            self.since, self.until, self.include_noise
        )
    }
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
