//! Each group's policy: the one in force (`/policy/current`, imported as AppLocker XML or a
//! GPO's registry.pol) and the candidate (`/policy/candidate`: the one in force plus the
//! rules of the group's decisions).

use axum::Json;
use axum::body::Body;
use axum::extract::Extension;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use query::transition::GroupCandidate;
use workspace::{Scope, StoredPolicy};

use super::{Shared, answers, with_lookup, xml_response};
use crate::auth::Principal;
use crate::body::{read_document, require_media_type};
use crate::cache::CacheKey;
use crate::error::{ApiError, ErrorBody, ErrorCode, responses};
use crate::extract::{ApiPath, ApiQuery, parsed_list};
use crate::state::AppState;

/// Parameters of a policy read.
#[derive(Debug, Clone, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PolicyParams {
    /// `xml` (default: the policy, for `Set-AppLockerPolicy`) or `json` (where it came
    /// from, with the XML; for the candidate, what the decisions added).
    #[param(inline)]
    pub(crate) format: Option<PolicyFormat>,
    /// Candidate only: the collections to write as `Enabled` (enforce), comma-separated
    /// (`EXE,SCRIPT`); the others are `AuditOnly`.
    pub(crate) enforce: Option<String>,
}

/// How a policy is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum PolicyFormat {
    Xml,
    Json,
}

/// The policy in force for a group: its own, else the fleet's.
#[utoipa::path(get, path = "/api/v1/groups/{group}/policy/current", tag = "policy",
    params(("group" = String, Path, description = "A business group"), PolicyParams),
    responses(
        (status = 200, description = "The policy (XML), or where it came from (JSON)",
            content((StoredPolicy = "application/json"), (String = "application/xml"))),
        (status = 404, description = "No such group, or no policy imported for it or the fleet", body = ErrorBody),
        responses::Query))]
pub(crate) async fn get_current(
    axum::extract::State(state): Shared,
    ApiPath(group): ApiPath<String>,
    ApiQuery(params): ApiQuery<PolicyParams>,
) -> Result<Response, ApiError> {
    answers::ensure_group(&state, &group).await?;
    let stored = state
        .workspace()?
        .policy_for_group(&group)
        ?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::NoPolicy,
                format!(
                    "no policy imported for {group} or the fleet: PUT it here (or /api/v1/fleet/policy/current), or `lockstep policy import`"
                ),
            )
        })?;
    stored_response(stored, params.format, &group)
}

fn stored_response(
    stored: StoredPolicy,
    format: Option<PolicyFormat>,
    name: &str,
) -> Result<Response, ApiError> {
    match format {
        Some(PolicyFormat::Json) => Ok(Json(stored).into_response()),
        _ => xml_response(
            stored.xml,
            &format!("{}-current.xml", policy::write::file_stem(name)),
        ),
    }
}

/// The policy in force for the fleet (every group without one of its own).
#[utoipa::path(get, path = "/api/v1/fleet/policy/current", tag = "policy",
    params(PolicyParams),
    responses(
        (status = 200, description = "The policy (XML), or where it came from (JSON)",
            content((StoredPolicy = "application/json"), (String = "application/xml"))),
        (status = 404, description = "No policy imported for the fleet", body = ErrorBody),
        responses::Query))]
pub(crate) async fn get_fleet_current(
    axum::extract::State(state): Shared,
    ApiQuery(params): ApiQuery<PolicyParams>,
) -> Result<Response, ApiError> {
    let stored = state
        .workspace()?
        .policy(&Scope::Fleet)?
        .ok_or_else(|| ApiError::new(ErrorCode::NoPolicy, "no policy imported for the fleet"))?;
    stored_response(stored, params.format, "fleet")
}

/// Reads a policy body: AppLocker XML, or a GPO's registry.pol (`application/octet-stream`).
async fn policy_body(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(policy::Policy, &'static str), ApiError> {
    require_media_type(
        headers,
        &["application/xml", "text/xml", "application/octet-stream"],
    )?;
    let bytes = read_document(body, headers, state.config.document_limit, &state.config).await?;
    let bad = |e: policy::Error| ApiError::new(ErrorCode::BadPolicy, format!("the policy: {e}"));
    state
        .cpu(move || {
            if policy::gpo::is_registry_pol(&bytes) {
                let parsed = policy::gpo::RegistryPol::parse(&bytes)
                    .and_then(|pol| pol.applocker_policy())?;
                return Ok((parsed.policy, "a registry.pol sent over HTTP"));
            }
            let parsed = policy::read::parse(&bytes)?;
            Ok((parsed.policy, "AppLocker policy XML sent over HTTP"))
        })
        .await?
        .map_err(bad)
}

/// What an import stored.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct PolicyImported {
    pub(crate) version: i64,
    #[serde(flatten)]
    pub(crate) scope: Scope,
    pub(crate) source: String,
    pub(crate) imported_by: String,
    pub(crate) imported_at: String,
    /// Rules per collection.
    pub(crate) rules: std::collections::BTreeMap<String, usize>,
}

async fn import(
    state: &AppState,
    scope: Scope,
    headers: &HeaderMap,
    body: Body,
    who: &str,
) -> Result<Json<PolicyImported>, ApiError> {
    let (policy, source) = policy_body(state, headers, body).await?;
    let stored =
        state
            .workspace()?
            .import_policy(&scope, &policy::write::to_xml(&policy), source, who)?;
    state.changed();
    let mut rules = std::collections::BTreeMap::new();
    for c in &policy.collections {
        rules.insert(c.kind.xml_name().to_owned(), c.rules.len());
    }
    Ok(Json(PolicyImported {
        version: stored.version,
        scope: stored.scope,
        source: stored.source,
        imported_by: stored.imported_by,
        imported_at: stored.imported_at,
        rules,
    }))
}

/// Stores the policy in force for a group (admin token): AppLocker policy XML
/// (`application/xml`, as `Get-AppLockerPolicy -Xml` writes it) or a GPO's `registry.pol`
/// (`application/octet-stream`). Nothing is stored if it cannot be read.
#[utoipa::path(put, path = "/api/v1/groups/{group}/policy/current", tag = "policy",
    params(("group" = String, Path, description = "A business group")),
    request_body(content = String, description = "AppLocker policy XML, or a registry.pol", content_type = "application/xml"),
    responses(
        (status = 200, description = "Stored", body = PolicyImported),
        (status = 400, description = "Not a policy (the line is named)", body = ErrorBody),
        (status = 404, description = "No such group", body = ErrorBody),
        responses::Admin,
        responses::Document,
        (status = 503, description = "The workspace is not available", body = ErrorBody)))]
pub(crate) async fn put_current(
    axum::extract::State(state): Shared,
    Extension(principal): Extension<Principal>,
    ApiPath(group): ApiPath<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<PolicyImported>, ApiError> {
    answers::ensure_group(&state, &group).await?;
    import(&state, Scope::Group(group), &headers, body, &principal.name).await
}

/// Stores the policy in force for the fleet (admin token), which every group without one of
/// its own uses.
#[utoipa::path(put, path = "/api/v1/fleet/policy/current", tag = "policy",
    request_body(content = String, description = "AppLocker policy XML, or a registry.pol", content_type = "application/xml"),
    responses(
        (status = 200, description = "Stored", body = PolicyImported),
        (status = 400, description = "Not a policy (the line is named)", body = ErrorBody),
        responses::Admin,
        responses::Document,
        (status = 503, description = "The workspace is not available", body = ErrorBody)))]
pub(crate) async fn put_fleet_current(
    axum::extract::State(state): Shared,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<PolicyImported>, ApiError> {
    import(&state, Scope::Fleet, &headers, body, &principal.name).await
}

/// A group's candidate: the policy in force plus the rules of its allow decisions plus the
/// deny rules its block decisions need, as the XML `Set-AppLockerPolicy -Merge` takes
/// (`AuditOnly`, or `Enabled` for the collections in `enforce`); JSON says what the
/// decisions added and what could not be done.
#[utoipa::path(get, path = "/api/v1/groups/{group}/policy/candidate", tag = "policy",
    params(("group" = String, Path, description = "A business group"), PolicyParams),
    responses(
        (status = 200, description = "The candidate (XML), or how it was made (JSON)",
            content((GroupCandidate = "application/json"), (String = "application/xml"))),
        responses::GroupQuery))]
pub(crate) async fn get_candidate(
    axum::extract::State(state): Shared,
    ApiPath(group): ApiPath<String>,
    ApiQuery(params): ApiQuery<PolicyParams>,
) -> Result<Response, ApiError> {
    let enforce: Vec<query::Collection> = parsed_list("enforce", params.enforce.as_deref())?;
    answers::ensure_group(&state, &group).await?;
    let key = CacheKey::Candidate {
        group: group.clone(),
    };
    let name = group.clone();
    let (candidate, lookup) = state
        .cache
        .get_or_compute(state.fingerprint(), key, || {
            state.query(|session| async move { Ok(session.candidate(&name).await?) })
        })
        .await?;
    if params.format == Some(PolicyFormat::Json) {
        return Ok(with_lookup(
            Json(candidate.as_ref().clone()).into_response(),
            lookup,
        ));
    }
    let response = xml_response(
        candidate.to_xml(&enforce),
        &format!("{}-candidate.xml", policy::write::file_stem(&group)),
    )?;
    Ok(with_lookup(response, lookup))
}
