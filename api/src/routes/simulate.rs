//! `POST /simulate`: what a candidate policy would still and newly block.

use axum::Json;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use query::simulate::{SimulateOptions, Simulation};

use super::Shared;
use crate::body::{read_document, require_media_type};
use crate::error::{ApiError, ErrorCode, responses};
use crate::extract::{ApiQuery, WindowParams, list, page_size};

/// Parameters of a what-if.
#[derive(Debug, Clone, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SimulateParams {
    /// Only these groups, comma-separated (all when absent).
    pub(crate) groups: Option<String>,
    /// At most this many apps per group and list (default 100, at most 10,000); the event
    /// counts always cover all of them.
    #[param(minimum = 1, maximum = 10000)]
    pub(crate) top: Option<usize>,
    /// Also deny the programs that bypass allow lists (`policy::harden`'s list) and answer
    /// who that would hit (`hardening_hits`).
    #[serde(default)]
    pub(crate) harden: bool,
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
        (status = 200, description = "What the candidate would block", body = SimulateAnswer,
            headers(("x-policy-warnings" = u64, description = "The number of `policy_warnings`"))),
        responses::Query,
        responses::Document))]
pub(crate) async fn simulate(
    axum::extract::State(state): Shared,
    headers: HeaderMap,
    ApiQuery(window): ApiQuery<WindowParams>,
    ApiQuery(params): ApiQuery<SimulateParams>,
    body: Body,
) -> Result<Response, ApiError> {
    require_media_type(&headers, &["application/xml", "text/xml"])?;
    let top = page_size(params.top, "top")?;
    let harden = params.harden;
    let opts = SimulateOptions {
        window: window.window()?,
        groups: list(params.groups.as_deref()),
        include_noise: window.include_noise,
        include_allowed: true,
        with_who: false,
        unknown_current: false,
    };
    let bytes = read_document(body, &headers, state.config.document_limit, &state.config).await?;
    // Memberships from the imported identities, for rules on group SIDs.
    let sid_groups = state
        .query(|session| async move { Ok(session.sid_groups(None)?) })
        .await?;
    let (parsed, evaluator) = state
        .cpu(move || {
            policy::read::parse(&bytes).map(|mut parsed| {
                if harden {
                    let hardened = policy::harden::harden(&parsed.policy, None);
                    for kind in &hardened.collections_skipped {
                        parsed.warnings.push(format!(
                            "hardening: no {kind} rules in the candidate, so no {kind} deny rules were added"
                        ));
                    }
                    parsed.policy = hardened.policy;
                }
                let evaluator = policy::Evaluator::new(&parsed.policy, sid_groups);
                (parsed, evaluator)
            })
        })
        .await?
        .map_err(|e| ApiError::new(ErrorCode::BadPolicy, format!("the candidate policy: {e}")))?;
    let mut simulation = state
        .query(|session| async move { Ok(session.simulate(&evaluator, &opts).await?) })
        .await?;
    for g in &mut simulation.groups {
        g.still_blocked.truncate(top);
        g.newly_blocked.truncate(top);
        g.bypass_risks.truncate(top);
        g.hardening_hits.truncate(top);
    }
    let warnings = parsed.warnings.len();
    let mut response = Json(SimulateAnswer {
        simulation,
        policy_warnings: parsed.warnings,
    })
    .into_response();
    // The count only: the warnings themselves are in the body (a header has no room for
    // a long list; clients gave up on a 185 KB one).
    response
        .headers_mut()
        .insert(POLICY_WARNINGS_HEADER, HeaderValue::from(warnings));
    Ok(response)
}

/// The response header with the number of policy warnings.
pub(crate) const POLICY_WARNINGS_HEADER: &str = "x-policy-warnings";

/// The simulation, and what was skipped reading the candidate.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct SimulateAnswer {
    #[serde(flatten)]
    pub(crate) simulation: Simulation,
    /// Parts of the candidate that were skipped (unknown elements, …), with their lines: why
    /// a rule may have had no effect. At most 100, then one that counts the rest.
    pub(crate) policy_warnings: Vec<String>,
}
