//! The read endpoints: health, groups, blocked apps, suggestions, readiness, what-if.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use policy::EnforcementMode;
use policy::suggest::{Granularity, to_policy};
use query::readiness::{Candidate, GroupReadiness, ReadinessOptions, Status};
use query::report::{AppRow, OutcomeFilter, ReportOptions};
use query::simulate::{SimulateOptions, Simulation};
use query::suggest::{GroupSuggestions, SuggestOptions};

use crate::cache::Lookup;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, ApiQuery, WindowParams, list};
use crate::state::AppState;
use crate::upload::read_document;

type Shared = State<Arc<AppState>>;

/// `X-Cache: hit|miss` on cached answers.
fn with_lookup(mut response: Response, lookup: Lookup) -> Response {
    response
        .headers_mut()
        .insert("x-cache", HeaderValue::from_static(lookup.header_value()));
    response
}

/// The server is up.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
    /// lockstep's version.
    pub version: String,
}

/// Liveness, without authentication.
#[utoipa::path(get, path = "/api/v1/health", tag = "service",
    responses((status = 200, description = "The server is up", body = Health)),
    security(()))]
pub async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

/// Every group the inventory names or the store has computers of.
async fn known_groups(
    ctx: &datafusion::prelude::SessionContext,
    inventory: &query::Inventory,
) -> Result<BTreeSet<String>, ApiError> {
    let hosts = query::inventory::HostGroups::resolve(ctx, inventory).await?;
    let mut groups: BTreeSet<String> = inventory.groups().into_iter().collect();
    groups.extend(hosts.groups().map(str::to_owned));
    Ok(groups)
}

fn unknown_group(group: &str) -> ApiError {
    ApiError::not_found(format!(
        "no group {group:?}: it is neither in the inventory nor a group of any computer in the store (GET /api/v1/groups lists them)"
    ))
}

/// Readiness parameters.
#[derive(Debug, Clone, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReadinessParams {
    /// Only these groups, comma-separated (all when absent).
    pub groups: Option<String>,
    /// Days with events needed before a group can be `ready` (default 14).
    #[param(minimum = 0, maximum = 3650)]
    pub min_days: Option<u32>,
}

/// Readiness of the selected groups, cached per parameters.
async fn readiness_of(
    state: &AppState,
    window: &WindowParams,
    params: &ReadinessParams,
) -> Result<(Arc<Vec<GroupReadiness>>, Lookup), ApiError> {
    let min_days = params.min_days.unwrap_or(14);
    if min_days > 3650 {
        return Err(ApiError::bad_parameter("min_days: at most 3650"));
    }
    let opts = ReadinessOptions {
        window: window.window()?,
        groups: list(params.groups.as_deref()),
        min_days,
        include_noise: window.include_noise,
        include_allowed: true,
    };
    let key = format!("readiness|{}|{:?}|{min_days}", window.key(), opts.groups);
    let candidate = Candidate::CurrentPlusSuggestions {
        current: state.config.current_policy.clone(),
        granularity: None,
    };
    state
        .cache
        .get_or_compute(state.fingerprint(), key, || {
            state.query(|ctx, inventory| async move {
                Ok(
                    query::readiness::readiness_of(&ctx, &inventory, &candidate, None, &opts)
                        .await?,
                )
            })
        })
        .await
}

/// One group's readiness with its overall status.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct GroupReadinessView {
    /// The worst status of its collections.
    pub status: Status,
    #[serde(flatten)]
    pub readiness: GroupReadiness,
}

/// `GET /readiness`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ReadinessResponse {
    pub window: query::Window,
    pub min_days: u32,
    /// The candidate each group is judged under.
    pub candidate: String,
    pub groups: Vec<GroupReadinessView>,
}

fn candidate_label(state: &AppState) -> String {
    match state.config.current_policy {
        Some(_) => "the current policy plus the group's suggested rules (not flagged for review)",
        None => {
            "the group's suggested rules (not flagged for review); executions allowed today stay allowed"
        }
    }
    .into()
}

/// Per group and collection: ready to enforce, not ready (with what would still be blocked),
/// or insufficient data.
#[utoipa::path(get, path = "/api/v1/readiness", tag = "reports",
    params(WindowParams, ReadinessParams),
    responses(
        (status = 200, description = "Readiness per group", body = ReadinessResponse),
        (status = 400, description = "A bad parameter", body = ErrorBody),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
        (status = 503, description = "The query took too long, or the query engine (a Ballista scheduler) did not answer", body = ErrorBody)))]
pub async fn readiness(
    State(state): Shared,
    ApiQuery(window): ApiQuery<WindowParams>,
    ApiQuery(params): ApiQuery<ReadinessParams>,
) -> Result<Response, ApiError> {
    let (groups, lookup) = readiness_of(&state, &window, &params).await?;
    let body = ReadinessResponse {
        window: window.window()?,
        min_days: params.min_days.unwrap_or(14),
        candidate: candidate_label(&state),
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

/// One card of the fleet overview.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct GroupOverview {
    pub group: String,
    pub status: Status,
    pub hosts_in_inventory: u64,
    pub hosts_reporting: u64,
    pub days_of_evidence: u64,
    /// Apps that would be blocked under *Enforce rules* today (audit events).
    pub would_block_apps: u64,
    /// Audit events (noise excluded).
    pub audit_events: u64,
    /// Readiness per collection.
    pub collections: Vec<query::readiness::CollectionReadiness>,
}

/// `GET /groups`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct GroupsResponse {
    pub window: query::Window,
    pub groups: Vec<GroupOverview>,
}

/// Every group with its readiness and what would be blocked.
#[utoipa::path(get, path = "/api/v1/groups", tag = "reports",
    params(WindowParams, ReadinessParams),
    responses(
        (status = 200, description = "The groups", body = GroupsResponse),
        (status = 400, description = "A bad parameter", body = ErrorBody),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
        (status = 503, description = "The query took too long, or the query engine (a Ballista scheduler) did not answer", body = ErrorBody)))]
pub async fn groups(
    State(state): Shared,
    ApiQuery(window): ApiQuery<WindowParams>,
    ApiQuery(params): ApiQuery<ReadinessParams>,
) -> Result<Response, ApiError> {
    let (ready, lookup) = readiness_of(&state, &window, &params).await?;
    let report_opts = ReportOptions {
        window: window.window()?,
        groups: list(params.groups.as_deref()),
        include_noise: window.include_noise,
        ..ReportOptions::default()
    };
    let (report, _) = report_of(&state, &window, report_opts).await?;
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
    let body = GroupsResponse {
        window: window.window()?,
        groups,
    };
    Ok(with_lookup(Json(body).into_response(), lookup))
}

async fn report_of(
    state: &AppState,
    window: &WindowParams,
    opts: ReportOptions,
) -> Result<(Arc<query::report::Report>, Lookup), ApiError> {
    let key = format!(
        "report|{}|{:?}|{:?}|{:?}",
        window.key(),
        opts.groups,
        opts.collections,
        opts.outcome
    );
    state
        .cache
        .get_or_compute(state.fingerprint(), key, || {
            state.query(|ctx, inventory| async move {
                Ok(query::report::blocked_apps_by_group(&ctx, &inventory, &opts).await?)
            })
        })
        .await
}

/// Parameters of the blocked-apps table.
#[derive(Debug, Clone, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BlockedParams {
    /// Only these collections, comma-separated: `EXE`, `DLL`, `MSI`, `SCRIPT`, `APPX`.
    pub collection: Option<String>,
    /// `audit` (would be blocked, the default), `blocked` (already blocked) or `all`.
    #[param(inline)]
    pub outcome: Option<Outcome>,
    /// Rows per page (default 100, at most 10,000).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<usize>,
    /// Rows to skip.
    #[param(minimum = 0)]
    pub offset: Option<usize>,
}

/// Which outcomes.
#[derive(Debug, Clone, Copy, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Audit,
    Blocked,
    All,
}

/// One page of a group's blocked apps.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct BlockedPage {
    pub group: String,
    pub window: query::Window,
    pub outcome: OutcomeFilter,
    pub hosts_in_inventory: u64,
    pub hosts_reporting: u64,
    pub hosts_policy_only: u64,
    pub audit_events: u64,
    pub noise_events: u64,
    /// Apps in all pages.
    pub total_apps: usize,
    pub offset: usize,
    pub limit: usize,
    /// Most events first.
    pub apps: Vec<AppRow>,
}

/// The apps that would be blocked in one group (the report's rows), a page at a time.
#[utoipa::path(get, path = "/api/v1/groups/{group}/blocked", tag = "reports",
    params(("group" = String, Path, description = "A business group"), WindowParams, BlockedParams),
    responses(
        (status = 200, description = "One page of apps", body = BlockedPage),
        (status = 400, description = "A bad parameter", body = ErrorBody),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
        (status = 404, description = "No such group", body = ErrorBody),
        (status = 503, description = "The query took too long, or the query engine (a Ballista scheduler) did not answer", body = ErrorBody)))]
pub async fn blocked(
    State(state): Shared,
    ApiPath(group): ApiPath<String>,
    ApiQuery(window): ApiQuery<WindowParams>,
    ApiQuery(params): ApiQuery<BlockedParams>,
) -> Result<Response, ApiError> {
    let limit = params.limit.unwrap_or(100);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::bad_parameter("limit: between 1 and 10000"));
    }
    let offset = params.offset.unwrap_or(0);
    let outcome = match params.outcome.unwrap_or(Outcome::Audit) {
        Outcome::Audit => OutcomeFilter::Audit,
        Outcome::Blocked => OutcomeFilter::Blocked,
        Outcome::All => OutcomeFilter::All,
    };
    let collections: Vec<String> = list(params.collection.as_deref())
        .into_iter()
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let opts = ReportOptions {
        window: window.window()?,
        groups: vec![group.clone()],
        collections,
        outcome,
        include_noise: window.include_noise,
        top: None,
    };
    ensure_group(&state, &group).await?;
    let (report, lookup) = report_of(&state, &window, opts).await?;
    let body = match report.groups.iter().find(|g| g.group == group) {
        Some(g) => BlockedPage {
            group: group.clone(),
            window: report.window,
            outcome: report.outcome,
            hosts_in_inventory: g.hosts_in_inventory,
            hosts_reporting: g.hosts_reporting,
            hosts_policy_only: g.hosts_policy_only,
            audit_events: g.audit_events,
            noise_events: g.noise_events,
            total_apps: g.apps.len(),
            offset,
            limit,
            apps: g.apps.iter().skip(offset).take(limit).cloned().collect(),
        },
        None => BlockedPage {
            group: group.clone(),
            window: report.window,
            outcome: report.outcome,
            hosts_in_inventory: 0,
            hosts_reporting: 0,
            hosts_policy_only: 0,
            audit_events: 0,
            noise_events: 0,
            total_apps: 0,
            offset,
            limit,
            apps: Vec::new(),
        },
    };
    Ok(with_lookup(Json(body).into_response(), lookup))
}

/// 404 unless `group` is known (cached with the store state).
async fn ensure_group(state: &AppState, group: &str) -> Result<(), ApiError> {
    let (known, _) = state
        .cache
        .get_or_compute(state.fingerprint(), "known-groups".into(), || {
            state.query(|ctx, inventory| async move { known_groups(&ctx, &inventory).await })
        })
        .await?;
    if known.contains(group) {
        Ok(())
    } else {
        Err(unknown_group(group))
    }
}

/// Parameters of the suggestions.
#[derive(Debug, Clone, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SuggestionParams {
    /// `json` (default) or `xml` (AppLocker policy XML); `Accept: application/xml` also
    /// selects XML.
    #[param(inline)]
    pub format: Option<SuggestionFormat>,
    /// How specific publisher rules are (default: product, binary for Microsoft).
    #[param(inline)]
    pub granularity: Option<GranularityParam>,
    /// XML only: also write the rules flagged for review (JSON always lists them).
    #[serde(default)]
    pub include_review: bool,
    /// XML only: collections as `Enabled` (enforce) instead of `AuditOnly`.
    #[serde(default)]
    pub enforce: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SuggestionFormat {
    Json,
    Xml,
}

#[derive(Debug, Clone, Copy, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum GranularityParam {
    Publisher,
    Product,
    Binary,
    Version,
}

impl From<GranularityParam> for Granularity {
    fn from(g: GranularityParam) -> Granularity {
        match g {
            GranularityParam::Publisher => Granularity::Publisher,
            GranularityParam::Product => Granularity::Product,
            GranularityParam::Binary => Granularity::Binary,
            GranularityParam::Version => Granularity::Version,
        }
    }
}

fn wants_xml(headers: &HeaderMap, format: Option<SuggestionFormat>) -> bool {
    match format {
        Some(f) => f == SuggestionFormat::Xml,
        None => headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|v| v.split(';').next().unwrap_or("").trim())
            .any(|v| v == "application/xml" || v == "text/xml"),
    }
}

/// The rules that would let a group's would-be-blocked apps run, with their evidence; or the
/// AppLocker policy XML that `Set-AppLockerPolicy -Merge` takes.
#[utoipa::path(get, path = "/api/v1/groups/{group}/suggestions", tag = "policy",
    params(("group" = String, Path, description = "A business group"), WindowParams, SuggestionParams),
    responses(
        (status = 200, description = "Suggested rules (JSON) or the policy (XML)",
            content((GroupSuggestions = "application/json"), (String = "application/xml"))),
        (status = 400, description = "A bad parameter", body = ErrorBody),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
        (status = 404, description = "No such group", body = ErrorBody),
        (status = 503, description = "The query took too long, or the query engine (a Ballista scheduler) did not answer", body = ErrorBody)))]
pub async fn suggestions(
    State(state): Shared,
    headers: HeaderMap,
    ApiPath(group): ApiPath<String>,
    ApiQuery(window): ApiQuery<WindowParams>,
    ApiQuery(params): ApiQuery<SuggestionParams>,
) -> Result<Response, ApiError> {
    let opts = SuggestOptions {
        window: window.window()?,
        groups: vec![group.clone()],
        granularity: params.granularity.map(Into::into),
        sid: policy::eval::EVERYONE.into(),
        include_noise: window.include_noise,
    };
    ensure_group(&state, &group).await?;
    let key = format!("suggest|{}|{group}|{:?}", window.key(), opts.granularity);
    let current = state.config.current_policy.clone();
    let (found, lookup) = state
        .cache
        .get_or_compute(state.fingerprint(), key, || {
            state.query(|ctx, inventory| async move {
                Ok(
                    query::suggest::suggest_rules(&ctx, &inventory, current.as_ref(), &opts)
                        .await?,
                )
            })
        })
        .await?;
    let suggestions =
        found
            .iter()
            .find(|g| g.group == group)
            .cloned()
            .unwrap_or(GroupSuggestions {
                group,
                suggestions: Vec::new(),
            });
    if wants_xml(&headers, params.format) {
        let mode = if params.enforce {
            EnforcementMode::Enabled
        } else {
            EnforcementMode::AuditOnly
        };
        let policy = to_policy(
            &suggestions.suggestions,
            params.include_review,
            mode,
            state.config.current_policy.as_ref(),
        );
        let xml = policy::write::to_xml(&policy);
        let response = Response::builder()
            .header(header::CONTENT_TYPE, "application/xml; charset=utf-8")
            .header(
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"{}-suggested.xml\"",
                    policy::write::file_stem(&suggestions.group)
                ),
            )
            .body(Body::from(xml))
            .map_err(|e| ApiError::internal("building the response", &e))?;
        return Ok(with_lookup(response, lookup));
    }
    Ok(with_lookup(Json(suggestions).into_response(), lookup))
}

/// Parameters of the timeline.
#[derive(Debug, Clone, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TimelineParams {
    /// Only these groups, comma-separated (all when absent).
    pub groups: Option<String>,
}

/// `GET /timeline`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct TimelineResponse {
    pub window: query::Window,
    /// Per group and day (UTC) with any audit or blocked event, by group then day.
    pub days: Vec<query::timeline::DayCount>,
}

/// Audit and blocked events per group and day: the burn-down as rules are added.
#[utoipa::path(get, path = "/api/v1/timeline", tag = "reports",
    params(WindowParams, TimelineParams),
    responses(
        (status = 200, description = "Events per group and day", body = TimelineResponse),
        (status = 400, description = "A bad parameter", body = ErrorBody),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
        (status = 503, description = "The query took too long, or the query engine (a Ballista scheduler) did not answer", body = ErrorBody)))]
pub async fn timeline(
    State(state): Shared,
    ApiQuery(window): ApiQuery<WindowParams>,
    ApiQuery(params): ApiQuery<TimelineParams>,
) -> Result<Response, ApiError> {
    let opts = query::timeline::TimelineOptions {
        window: window.window()?,
        groups: list(params.groups.as_deref()),
        include_noise: window.include_noise,
    };
    let key = format!("timeline|{}|{:?}", window.key(), opts.groups);
    let (days, lookup) = state
        .cache
        .get_or_compute(state.fingerprint(), key, || {
            state.query(|ctx, inventory| async move {
                Ok(query::timeline::daily_events(&ctx, &inventory, &opts).await?)
            })
        })
        .await?;
    let body = TimelineResponse {
        window: window.window()?,
        days: days.as_ref().clone(),
    };
    Ok(with_lookup(Json(body).into_response(), lookup))
}

/// Parameters of a what-if.
#[derive(Debug, Clone, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SimulateParams {
    /// Only these groups, comma-separated (all when absent).
    pub groups: Option<String>,
    /// At most this many apps per group and list (default 100, at most 10,000); the event
    /// counts always cover all of them.
    #[param(minimum = 1, maximum = 10000)]
    pub top: Option<usize>,
}

/// A candidate for the document's example: Exe rules that allow only Program Files.
const EXAMPLE_POLICY: &str = r#"<AppLockerPolicy Version="1"><RuleCollection Type="Exe" EnforcementMode="Enabled"><FilePathRule Id="921cc481-6e17-4653-8f75-050b80acca20" Name="Program Files" Description="" UserOrGroupSid="S-1-1-0" Action="Allow"><Conditions><FilePathCondition Path="%PROGRAMFILES%\*" /></Conditions></FilePathRule></RuleCollection></AppLockerPolicy>"#;

/// What a candidate policy would still and newly block, per group, judged on every recorded
/// execution in the window.
#[utoipa::path(post, path = "/api/v1/simulate", tag = "policy",
    params(WindowParams, SimulateParams),
    request_body(content = String, description = "The candidate AppLocker policy XML", content_type = "application/xml",
        example = json!(EXAMPLE_POLICY)),
    responses(
        (status = 200, description = "What the candidate would block", body = Simulation),
        (status = 400, description = "A bad parameter or policy", body = ErrorBody),
        (status = 401, description = "No or a wrong token", body = ErrorBody),
        (status = 413, description = "The policy is too large", body = ErrorBody),
        (status = 415, description = "Not sent as XML", body = ErrorBody),
        (status = 503, description = "The query took too long, or the query engine (a Ballista scheduler) did not answer", body = ErrorBody)))]
pub async fn simulate(
    State(state): Shared,
    headers: HeaderMap,
    ApiQuery(window): ApiQuery<WindowParams>,
    ApiQuery(params): ApiQuery<SimulateParams>,
    body: Body,
) -> Result<Response, ApiError> {
    crate::upload::require_media_type(&headers, &["application/xml", "text/xml"])?;
    let top = params.top.unwrap_or(100);
    if !(1..=10_000).contains(&top) {
        return Err(ApiError::bad_parameter("top: between 1 and 10000"));
    }
    let opts = SimulateOptions {
        window: window.window()?,
        groups: list(params.groups.as_deref()),
        include_noise: window.include_noise,
        include_allowed: true,
    };
    let bytes = read_document(body, &headers, state.config.document_limit).await?;
    let parsed = policy::read::parse(&bytes)
        .map_err(|e| ApiError::bad_body(format!("the candidate policy: {e}")))?;
    let evaluator = policy::Evaluator::new(&parsed.policy, None);
    let mut sim = state
        .query(|ctx, inventory| async move {
            Ok(query::simulate::simulate(&ctx, &inventory, &evaluator, &opts).await?)
        })
        .await?;
    for g in &mut sim.groups {
        g.still_blocked.truncate(top);
        g.newly_blocked.truncate(top);
    }
    let mut response = Json(sim).into_response();
    if !parsed.warnings.is_empty() {
        // Skipped parts of the policy, for whoever wonders why a rule had no effect.
        let joined: Vec<String> = parsed.warnings.iter().map(|w| w.to_string()).collect();
        if let Ok(v) = HeaderValue::from_str(&joined.join("; ").replace(['\r', '\n'], " ")) {
            response.headers_mut().insert("x-policy-warnings", v);
        }
    }
    Ok(response)
}

/// `StatusCode` of a response (used by the router's fallbacks).
pub(crate) fn not_found_route() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint; GET /api/v1/openapi.json lists them",
    )
}
