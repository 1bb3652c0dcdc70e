//! `GET /timeline`: audit and blocked events per group and day.

use axum::Json;
use axum::response::{IntoResponse, Response};
use query::timeline::{DayCount, TimelineOptions};

use super::{Shared, with_lookup};
use crate::cache::CacheKey;
use crate::error::{ApiError, responses};
use crate::extract::{ApiQuery, WindowParams, list};

/// Parameters of the timeline.
#[derive(Debug, Clone, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct TimelineParams {
    /// Only these groups, comma-separated (all when absent).
    pub(crate) groups: Option<String>,
}

/// `GET /timeline`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct TimelineResponse {
    pub(crate) window: query::Window,
    /// Per group and day (UTC) with any audit or blocked event, by group then day.
    pub(crate) days: Vec<DayCount>,
}

/// Audit and blocked events per group and day: the burn-down as rules are added.
#[utoipa::path(get, path = "/api/v1/timeline", tag = "reports",
    params(WindowParams, TimelineParams),
    responses(
        (status = 200, description = "Events per group and day", body = TimelineResponse),
        responses::Query))]
pub(crate) async fn timeline(
    axum::extract::State(state): Shared,
    ApiQuery(window): ApiQuery<WindowParams>,
    ApiQuery(params): ApiQuery<TimelineParams>,
) -> Result<Response, ApiError> {
    let opts = TimelineOptions {
        window: window.window()?,
        groups: list(params.groups.as_deref()),
        include_noise: window.include_noise,
    };
    let key = CacheKey::Timeline {
        window: opts.window,
        include_noise: opts.include_noise,
        groups: opts.groups.clone(),
    };
    let window = opts.window;
    let (days, lookup) = state
        .cache
        .get_or_compute(state.fingerprint(), key, || {
            state.query(|session| async move { Ok(session.timeline(&opts).await?) })
        })
        .await?;
    let body = TimelineResponse {
        window,
        days: days.as_ref().clone(),
    };
    Ok(with_lookup(Json(body).into_response(), lookup))
}
