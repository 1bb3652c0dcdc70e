//! `GET /readiness`: per group and collection, ready to enforce or why not.

use axum::Json;
use axum::response::{IntoResponse, Response};
use query::readiness::{
    DEFAULT_MIN_DAYS, DEFAULT_SILENT_DAYS, GroupReadiness, ReadinessOptions, Status,
};

use super::{Shared, answers, with_lookup};
use crate::error::{ApiError, responses};
use crate::extract::{ApiQuery, WindowParams, list};

/// The most `min_days` and `silent_days` may be.
const MAX_DAYS: u32 = 3650;

/// Readiness parameters.
#[derive(Debug, Clone, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ReadinessParams {
    /// Only these groups, comma-separated (all when absent).
    pub(crate) groups: Option<String>,
    /// Days with the group's hosts reporting needed before it can be `ready` (default 14).
    #[param(minimum = 0, maximum = 3650)]
    pub(crate) min_days: Option<u32>,
    /// A host whose last event is more than this many days before the window's end is
    /// silent (default 7).
    #[param(minimum = 0, maximum = 3650)]
    pub(crate) silent_days: Option<u32>,
}

impl ReadinessParams {
    /// The readiness options of these parameters and `window`.
    pub(crate) fn options(&self, window: &WindowParams) -> Result<ReadinessOptions, ApiError> {
        let days = |value: Option<u32>, default: u32, name: &str| {
            let days = value.unwrap_or(default);
            if days > MAX_DAYS {
                return Err(ApiError::bad_parameter(format!(
                    "{name}: at most {MAX_DAYS}"
                )));
            }
            Ok(days)
        };
        Ok(ReadinessOptions {
            window: window.window()?,
            groups: list(self.groups.as_deref()),
            min_days: days(self.min_days, DEFAULT_MIN_DAYS, "min_days")?,
            silent_days: days(self.silent_days, DEFAULT_SILENT_DAYS, "silent_days")?,
            include_noise: window.include_noise,
        })
    }
}

/// One group's readiness with its overall status.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct GroupReadinessView {
    /// The worst status of its collections.
    pub(crate) status: Status,
    #[serde(flatten)]
    pub(crate) readiness: GroupReadiness,
}

/// `GET /readiness`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ReadinessResponse {
    pub(crate) window: query::Window,
    pub(crate) min_days: u32,
    /// Each group's candidate (its policy in force plus its decisions) is in its entry.
    pub(crate) groups: Vec<GroupReadinessView>,
}

/// Per group and collection: ready to enforce, not ready (with what would still be blocked),
/// or insufficient data.
#[utoipa::path(get, path = "/api/v1/readiness", tag = "reports",
    params(WindowParams, ReadinessParams),
    responses(
        (status = 200, description = "Readiness per group", body = ReadinessResponse),
        responses::Query))]
pub(crate) async fn readiness(
    axum::extract::State(state): Shared,
    ApiQuery(window): ApiQuery<WindowParams>,
    ApiQuery(params): ApiQuery<ReadinessParams>,
) -> Result<Response, ApiError> {
    let opts = params.options(&window)?;
    let (window, min_days) = (opts.window, opts.min_days);
    let (groups, lookup) = answers::readiness(&state, opts).await?;
    let body = ReadinessResponse {
        window,
        min_days,
        groups: groups
            .iter()
            .map(|g| GroupReadinessView {
                status: g.status(),
                readiness: g.clone(),
            })
            .collect(),
    };
    Ok(with_lookup(Json(body).into_response(), lookup))
}
