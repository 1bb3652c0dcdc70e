//! `GET /groups/{group}/blocked`: a group's would-be-blocked apps, a page at a time.

use axum::Json;
use axum::response::{IntoResponse, Response};
use query::Collection;
use query::report::{AppRow, OutcomeFilter, ReportOptions};

use super::{Shared, answers, with_lookup};
use crate::error::{ApiError, responses};
use crate::extract::{ApiPath, ApiQuery, WindowParams, page_size, parsed_list};

/// Parameters of the blocked-apps table.
#[derive(Debug, Clone, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct BlockedParams {
    /// Only these collections, comma-separated: `EXE`, `DLL`, `MSI`, `SCRIPT`, `APPX`.
    pub(crate) collection: Option<String>,
    /// `audit` (would be blocked, the default), `blocked` (already blocked) or `all`.
    #[param(inline)]
    pub(crate) outcome: Option<OutcomeFilter>,
    /// Rows per page (default 100, at most 10,000).
    #[param(minimum = 1, maximum = 10000)]
    pub(crate) limit: Option<usize>,
    /// Rows to skip.
    #[param(minimum = 0)]
    pub(crate) offset: Option<usize>,
}

/// One page of a group's blocked apps.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct BlockedPage {
    pub(crate) group: String,
    pub(crate) window: query::Window,
    pub(crate) outcome: OutcomeFilter,
    pub(crate) hosts_in_inventory: u64,
    pub(crate) hosts_reporting: u64,
    pub(crate) hosts_policy_only: u64,
    pub(crate) audit_events: u64,
    pub(crate) noise_events: u64,
    /// Apps in all pages.
    pub(crate) total_apps: usize,
    pub(crate) offset: usize,
    pub(crate) limit: usize,
    /// Most events first.
    pub(crate) apps: Vec<AppRow>,
}

/// The apps that would be blocked in one group (the report's rows), a page at a time.
#[utoipa::path(get, path = "/api/v1/groups/{group}/blocked", tag = "reports",
    params(("group" = String, Path, description = "A business group"), WindowParams, BlockedParams),
    responses(
        (status = 200, description = "One page of apps", body = BlockedPage),
        responses::GroupQuery))]
pub(crate) async fn blocked(
    axum::extract::State(state): Shared,
    ApiPath(group): ApiPath<String>,
    ApiQuery(window): ApiQuery<WindowParams>,
    ApiQuery(params): ApiQuery<BlockedParams>,
) -> Result<Response, ApiError> {
    let limit = page_size(params.limit, "limit")?;
    let offset = params.offset.unwrap_or(0);
    let opts = ReportOptions {
        window: window.window()?,
        groups: vec![group.clone()],
        collections: parsed_list::<Collection>("collection", params.collection.as_deref())?,
        outcome: params.outcome.unwrap_or_default(),
        include_noise: window.include_noise,
        top: None,
    };
    answers::ensure_group(&state, &group).await?;
    let (report, lookup) = answers::report(&state, opts).await?;
    let found = report.groups.iter().find(|g| g.group == group);
    let count = |f: fn(&query::report::GroupReport) -> u64| found.map_or(0, f);
    let apps = found.map_or(&[][..], |g| g.apps.as_slice());
    let body = BlockedPage {
        group,
        window: report.window,
        outcome: report.outcome,
        hosts_in_inventory: count(|g| g.hosts_in_inventory),
        hosts_reporting: count(|g| g.hosts_reporting),
        hosts_policy_only: count(|g| g.hosts_policy_only),
        audit_events: count(|g| g.audit_events),
        noise_events: count(|g| g.noise_events),
        total_apps: apps.len(),
        offset,
        limit,
        apps: apps.iter().skip(offset).take(limit).cloned().collect(),
    };
    Ok(with_lookup(Json(body).into_response(), lookup))
}
