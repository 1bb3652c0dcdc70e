//! `GET /groups`: the fleet overview, one card per group.

use axum::Json;
use axum::response::{IntoResponse, Response};
use query::readiness::{CollectionReadiness, Status};
use query::report::ReportOptions;

use super::readiness::ReadinessParams;
use super::{Shared, answers, with_lookup};
use crate::error::{ApiError, responses};
use crate::extract::{ApiQuery, WindowParams};

/// One card of the fleet overview.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct GroupOverview {
    pub(crate) group: String,
    pub(crate) status: Status,
    pub(crate) hosts_in_inventory: u64,
    pub(crate) hosts_reporting: u64,
    pub(crate) days_of_evidence: u64,
    /// Apps that would be blocked under *Enforce rules* today (audit events).
    pub(crate) would_block_apps: u64,
    /// Audit events (noise excluded).
    pub(crate) audit_events: u64,
    /// Readiness per collection.
    pub(crate) collections: Vec<CollectionReadiness>,
}

/// `GET /groups`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct GroupsResponse {
    pub(crate) window: query::Window,
    pub(crate) groups: Vec<GroupOverview>,
}

/// Every group with its readiness and what would be blocked.
#[utoipa::path(get, path = "/api/v1/groups", tag = "reports",
    params(WindowParams, ReadinessParams),
    responses(
        (status = 200, description = "The groups", body = GroupsResponse),
        responses::Query))]
pub(crate) async fn groups(
    axum::extract::State(state): Shared,
    ApiQuery(window): ApiQuery<WindowParams>,
    ApiQuery(params): ApiQuery<ReadinessParams>,
) -> Result<Response, ApiError> {
    let opts = params.options(&window)?;
    let report_opts = ReportOptions {
        window: opts.window,
        groups: opts.groups.clone(),
        include_noise: opts.include_noise,
        ..ReportOptions::default()
    };
    let window = opts.window;
    let (ready, lookup) = answers::readiness(&state, opts).await?;
    let (report, _) = answers::report(&state, report_opts).await?;
    let groups = ready
        .iter()
        .map(|g| {
            let r = report.groups.iter().find(|r| r.group == g.group);
            GroupOverview {
                group: g.group.clone(),
                status: g.status(),
                hosts_in_inventory: g.hosts_in_inventory,
                hosts_reporting: g.hosts_reporting,
                days_of_evidence: g.days_of_evidence,
                would_block_apps: r.map_or(0, |r| r.apps.len() as u64),
                audit_events: r.map_or(0, |r| r.audit_events),
                collections: g.collections.clone(),
            }
        })
        .collect();
    let body = GroupsResponse { window, groups };
    Ok(with_lookup(Json(body).into_response(), lookup))
}
