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
    let opts = SimulateOptions {
        window: window.window()?,
        groups: list(params.groups.as_deref()),
        include_noise: window.include_noise,
        include_allowed: true,
        with_who: false,
        unknown_current: false,
    };
    let bytes = read_document(body, &headers, state.config.document_limit).await?;
    let parsed = policy::read::parse(&bytes)
        .map_err(|e| ApiError::new(ErrorCode::BadPolicy, format!("the candidate policy: {e}")))?;
    let evaluator = policy::Evaluator::new(&parsed.policy, None);
    let mut sim = state
        .query(|session| async move { Ok(session.simulate(&evaluator, &opts).await?) })
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
