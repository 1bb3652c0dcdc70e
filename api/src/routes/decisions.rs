//! Decisions on apps: read them (anyone with a token), take them (admin token). A decision
//! taken over HTTP is recorded under the name of the admin token it came with; `If-Match`
//! with the version a client saw refuses it (409) if someone decided since.

use axum::Json;
use axum::extract::Extension;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use policy::suggest::Granularity;
use query::{DecideRequest, DecisionView};
use workspace::{Decision, Scope, Verdict};

use super::{Shared, answers, with_lookup};
use crate::auth::Principal;
use crate::cache::CacheKey;
use crate::error::{ApiError, ErrorBody, responses};
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;

/// Parameters of a decisions read.
#[derive(Debug, Clone, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DecisionsParams {
    /// Every entry, oldest first, instead of the current decision on each app.
    #[serde(default)]
    pub(crate) history: bool,
}

/// A group's decisions.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct GroupDecisions {
    pub(crate) group: String,
    /// The group's own decisions and the fleet's on apps it has not decided (`scope` says
    /// which), or with `history` every entry of both.
    pub(crate) decisions: Vec<DecisionView>,
}

/// The decisions a group works with.
#[utoipa::path(get, path = "/api/v1/groups/{group}/decisions", tag = "decisions",
    params(("group" = String, Path, description = "A business group"), DecisionsParams),
    responses(
        (status = 200, description = "The decisions", body = GroupDecisions),
        responses::GroupQuery))]
pub(crate) async fn list(
    axum::extract::State(state): Shared,
    ApiPath(group): ApiPath<String>,
    ApiQuery(params): ApiQuery<DecisionsParams>,
) -> Result<Response, ApiError> {
    answers::ensure_group(&state, &group).await?;
    state.workspace()?;
    let key = CacheKey::Decisions {
        group: group.clone(),
        history: params.history,
    };
    let name = group.clone();
    let history = params.history;
    let (views, lookup) = state
        .cache
        .get_or_compute(state.fingerprint(), key, || {
            state.query(|session| async move {
                let scopes = [Scope::Fleet, Scope::Group(name.clone())];
                let mut views = session.decisions(&scopes, history).await?;
                if !history {
                    // The group's own decision wins over the fleet's on the same app.
                    let own: std::collections::BTreeSet<String> = views
                        .iter()
                        .filter(|v| v.decision.scope != Scope::Fleet)
                        .map(|v| v.decision.app_id.clone())
                        .collect();
                    views.retain(|v| {
                        v.decision.scope != Scope::Fleet || !own.contains(&v.decision.app_id)
                    });
                }
                Ok(views)
            })
        })
        .await?;
    let body = GroupDecisions {
        group,
        decisions: views.as_ref().clone(),
    };
    Ok(with_lookup(Json(body).into_response(), lookup))
}

/// A decision to take.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DecisionBody {
    pub(crate) verdict: Verdict,
    /// Why, for whoever reads the decision later.
    pub(crate) note: Option<String>,
    /// For `allow`: how specific the rule is (default: as suggested).
    pub(crate) granularity: Option<Granularity>,
    /// For `allow`: allow an app whose suggestion is flagged for review (recorded).
    #[serde(default)]
    pub(crate) force: bool,
}

/// The longest note kept.
const MAX_NOTE: usize = 4096;

async fn decide(
    state: &AppState,
    scope: Scope,
    app_id: String,
    headers: &HeaderMap,
    body: DecisionBody,
    who: &str,
) -> Result<Response, ApiError> {
    state.workspace()?;
    if body.note.as_ref().is_some_and(|n| n.len() > MAX_NOTE) {
        return Err(ApiError::bad_body(format!(
            "the note is longer than {MAX_NOTE} bytes"
        )));
    }
    let expected_version = match headers.get(header::IF_MATCH) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .map(|v| v.trim().trim_matches('"'))
                .and_then(|v| v.parse::<i64>().ok())
                .ok_or_else(|| {
                    ApiError::bad_parameter(
                        "If-Match: the version of the decision you saw, such as \"12\" (0: none yet)",
                    )
                })?,
        ),
    };
    let request = DecideRequest {
        scope,
        app_id,
        verdict: body.verdict,
        note: body.note,
        granularity: body.granularity,
        force: body.force,
        decided_by: who.to_owned(),
        expected_version,
    };
    let decision: Decision = state
        .query(|session| async move { Ok(session.decide(request).await?) })
        .await?;
    state.changed();
    let etag = HeaderValue::from_str(&format!("\"{}\"", decision.version))
        .map_err(|e| ApiError::internal("the ETag", &e))?;
    let mut response = Json(decision).into_response();
    response.headers_mut().insert(header::ETAG, etag);
    Ok(response)
}

/// Decides about one app of a group (admin token): `allow` (the candidate gets the rule the
/// suggestions propose), `block` (kept blocked on purpose) or `defer` (still looking).
#[utoipa::path(put, path = "/api/v1/groups/{group}/decisions/{app_id}", tag = "decisions",
    params(
        ("group" = String, Path, description = "A business group"),
        ("app_id" = String, Path, description = "The app's id (from the blocked apps, readiness or suggestions)"),
        ("If-Match" = Option<String>, Header, description = "The version of the decision the client saw (0: none); 409 if it changed")),
    request_body(content = DecisionBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Recorded; `ETag` is its version", body = Decision),
        (status = 400, description = "A bad body or If-Match", body = ErrorBody),
        (status = 404, description = "No such group, or no such app in its recorded events", body = ErrorBody),
        (status = 409, description = "The decision changed since the If-Match version", body = ErrorBody),
        (status = 422, description = "Flagged for review without force, or no safe rule can allow it", body = ErrorBody),
        responses::Admin,
        responses::Document,
        (status = 503, description = "The query took too long, or the workspace is not available", body = ErrorBody)))]
pub(crate) async fn put_group(
    axum::extract::State(state): Shared,
    Extension(principal): Extension<Principal>,
    ApiPath((group, app_id)): ApiPath<(String, String)>,
    headers: HeaderMap,
    body: crate::extract::ApiJson<DecisionBody>,
) -> Result<Response, ApiError> {
    decide(
        &state,
        Scope::Group(group),
        app_id,
        &headers,
        body.0,
        &principal.name,
    )
    .await
}

/// Decides about an app for the whole fleet (admin token): every group inherits it unless it
/// decides otherwise.
#[utoipa::path(put, path = "/api/v1/fleet/decisions/{app_id}", tag = "decisions",
    params(
        ("app_id" = String, Path, description = "The app's id"),
        ("If-Match" = Option<String>, Header, description = "The version of the decision the client saw (0: none); 409 if it changed")),
    request_body(content = DecisionBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Recorded; `ETag` is its version", body = Decision),
        (status = 400, description = "A bad body or If-Match", body = ErrorBody),
        (status = 404, description = "No such app in the recorded events", body = ErrorBody),
        (status = 409, description = "The decision changed since the If-Match version", body = ErrorBody),
        (status = 422, description = "Flagged for review without force, or no safe rule can allow it", body = ErrorBody),
        responses::Admin,
        responses::Document,
        (status = 503, description = "The query took too long, or the workspace is not available", body = ErrorBody)))]
pub(crate) async fn put_fleet(
    axum::extract::State(state): Shared,
    Extension(principal): Extension<Principal>,
    ApiPath(app_id): ApiPath<String>,
    headers: HeaderMap,
    body: crate::extract::ApiJson<DecisionBody>,
) -> Result<Response, ApiError> {
    decide(
        &state,
        Scope::Fleet,
        app_id,
        &headers,
        body.0,
        &principal.name,
    )
    .await
}
