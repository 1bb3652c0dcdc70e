//! The flip and after, per group: published versions (`/versions`), what changes between
//! two policies (`/diff`), the rollout record (`/rollouts`) and the monitor (`/monitor`).

use axum::Json;
use axum::extract::Extension;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use query::monitor::GroupMonitor;
use query::versions::{PolicyChange, PolicyRef};
use workspace::{NewRollout, PolicyVersion, Published, Rollout, RolloutMode};

use super::{Shared, answers, xml_response};
use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody, responses};
use crate::extract::{ApiJson, ApiPath, ApiQuery, WindowParams, parsed_list};
use crate::routes::policies::{PolicyFormat, PolicyParams};

/// A group's published versions, oldest first.
#[utoipa::path(get, path = "/api/v1/groups/{group}/versions", tag = "policy",
    params(("group" = String, Path, description = "A business group")),
    responses(
        (status = 200, description = "The versions", body = Vec<PolicyVersion>),
        (status = 404, description = "No such group", body = ErrorBody),
        responses::Query))]
pub(crate) async fn list(
    axum::extract::State(state): Shared,
    ApiPath(group): ApiPath<String>,
) -> Result<Response, ApiError> {
    answers::ensure_group(&state, &group).await?;
    let versions = state.workspace()?.versions(&group)?;
    Ok(Json(versions).into_response())
}

/// What a publish says about itself.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
pub(crate) struct PublishBody {
    /// Why (a change ticket, say).
    pub(crate) note: Option<String>,
}

/// Freezes the group's candidate as its next version (admin token). 201 with the new
/// version; 200 with the latest one when it already does the same (nothing stored).
#[utoipa::path(post, path = "/api/v1/groups/{group}/versions", tag = "policy",
    params(("group" = String, Path, description = "A business group")),
    request_body(content = PublishBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Published", body = Published),
        (status = 200, description = "The latest version already does the same; nothing was stored", body = Published),
        (status = 400, description = "A bad body", body = ErrorBody),
        (status = 404, description = "No such group", body = ErrorBody),
        (status = 409, description = "The candidate has no rules", body = ErrorBody),
        responses::Admin,
        responses::Document,
        (status = 503, description = "The query took too long, or the workspace is not available", body = ErrorBody)))]
pub(crate) async fn publish(
    axum::extract::State(state): Shared,
    Extension(principal): Extension<Principal>,
    ApiPath(group): ApiPath<String>,
    body: ApiJson<PublishBody>,
) -> Result<Response, ApiError> {
    let note = body.0.note;
    let by = principal.name.clone();
    let published = state
        .query(|session| async move { Ok(session.publish(&group, note.as_deref(), &by).await?) })
        .await?;
    if published.new {
        state.changed();
    }
    let status = if published.new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(published)).into_response())
}

/// A published version: the XML (`enforce` sets the modes) or, with `format=json`, the
/// version with who, when and why.
#[utoipa::path(get, path = "/api/v1/groups/{group}/versions/{version}", tag = "policy",
    params(
        ("group" = String, Path, description = "A business group"),
        ("version" = i64, Path, description = "The version number"),
        PolicyParams),
    responses(
        (status = 200, description = "The version",
            content((PolicyVersion = "application/json"), (String = "application/xml"))),
        (status = 404, description = "No such group or version", body = ErrorBody),
        responses::Query))]
pub(crate) async fn get_version(
    axum::extract::State(state): Shared,
    ApiPath((group, number)): ApiPath<(String, i64)>,
    ApiQuery(params): ApiQuery<PolicyParams>,
) -> Result<Response, ApiError> {
    let enforce: Vec<query::Collection> = parsed_list("enforce", params.enforce.as_deref())?;
    answers::ensure_group(&state, &group).await?;
    let version = state.workspace()?.version(&group, number)?.ok_or_else(|| {
        ApiError::from(query::Error::NoVersion {
            group: group.clone(),
            version: number,
        })
    })?;
    if params.format == Some(PolicyFormat::Json) {
        return Ok(Json(version).into_response());
    }
    let policy = policy::read::parse(version.xml.as_bytes())
        .map_err(|e| ApiError::internal("reading a published version", &e))?
        .policy;
    let kinds: Vec<policy::CollectionKind> = enforce
        .iter()
        .map(|&c| query::app::rule_collection(c))
        .collect();
    xml_response(
        policy::write::to_xml(&policy::suggest::with_enforcement(&policy, &kinds)),
        &format!("{}-v{number}.xml", policy::write::file_stem(&group)),
    )
}

/// The two sides of a diff.
#[derive(Debug, Clone, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DiffParams {
    /// A version number, `current` or `candidate`.
    pub(crate) before: String,
    /// A version number, `current` or `candidate`.
    pub(crate) after: String,
}

fn policy_ref(name: &str, text: &str) -> Result<PolicyRef, ApiError> {
    PolicyRef::parse_named(text).ok_or_else(|| {
        ApiError::bad_parameter(format!(
            "{name}: {text:?} is not a version number, `current` or `candidate`"
        ))
    })
}

/// What changes from `before` to `after`: the rules, and the apps, events, hosts and users
/// whose verdict changes over the window (simulate(after) − simulate(before)).
#[utoipa::path(get, path = "/api/v1/groups/{group}/diff", tag = "policy",
    params(("group" = String, Path, description = "A business group"), DiffParams, WindowParams),
    responses(
        (status = 200, description = "The change", body = PolicyChange),
        (status = 404, description = "No such group or version, or no policy in force", body = ErrorBody),
        responses::Query))]
pub(crate) async fn diff(
    axum::extract::State(state): Shared,
    ApiPath(group): ApiPath<String>,
    ApiQuery(params): ApiQuery<DiffParams>,
    ApiQuery(window): ApiQuery<WindowParams>,
) -> Result<Response, ApiError> {
    let before = policy_ref("before", &params.before)?;
    let after = policy_ref("after", &params.after)?;
    let window = window.window()?;
    let change = state
        .query(|session| async move {
            Ok(session
                .policy_change(&group, &before, &after, window)
                .await?)
        })
        .await?;
    Ok(Json(change).into_response())
}

/// A group's rollout record, in the order the changes went live.
#[utoipa::path(get, path = "/api/v1/groups/{group}/rollouts", tag = "rollout",
    params(("group" = String, Path, description = "A business group")),
    responses(
        (status = 200, description = "The record", body = Vec<Rollout>),
        (status = 404, description = "No such group", body = ErrorBody),
        responses::Query))]
pub(crate) async fn rollouts(
    axum::extract::State(state): Shared,
    ApiPath(group): ApiPath<String>,
) -> Result<Response, ApiError> {
    answers::ensure_group(&state, &group).await?;
    Ok(Json(state.workspace()?.rollouts(&group)?).into_response())
}

/// A rollout entry to record.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
pub(crate) struct RolloutBody {
    pub(crate) mode: RolloutMode,
    /// `EXE`, `DLL`, `MSI`, `SCRIPT`, `APPX`.
    pub(crate) collections: Vec<query::Collection>,
    /// The published version that went live (enforce).
    pub(crate) version: Option<i64>,
    /// When it went live, RFC 3339 (default: now).
    pub(crate) at: Option<String>,
    pub(crate) note: Option<String>,
}

/// What was recorded, and what to know about it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct RolloutRecorded {
    /// One entry per collection.
    pub(crate) recorded: Vec<Rollout>,
    /// Collections enforced that the version has no rules for (they block everything).
    pub(crate) warnings: Vec<query::versions::EnforceWarning>,
}

/// Records that collections of the group went to Enforce with a published version, or back
/// to audit (admin token).
#[utoipa::path(post, path = "/api/v1/groups/{group}/rollouts", tag = "rollout",
    params(("group" = String, Path, description = "A business group")),
    request_body(content = RolloutBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Recorded, one entry per collection, with warnings for collections the version has no rules for", body = RolloutRecorded),
        (status = 400, description = "No collection, no version to enforce, an unknown version or a bad time", body = ErrorBody),
        (status = 404, description = "No such group", body = ErrorBody),
        responses::Admin,
        responses::Document,
        (status = 503, description = "The workspace is not available", body = ErrorBody)))]
pub(crate) async fn record(
    axum::extract::State(state): Shared,
    Extension(principal): Extension<Principal>,
    ApiPath(group): ApiPath<String>,
    body: ApiJson<RolloutBody>,
) -> Result<Response, ApiError> {
    answers::ensure_group(&state, &group).await?;
    let body = body.0;
    let at = query::versions::rollout_time(body.at.as_deref())?;
    let collections: Vec<String> = body
        .collections
        .iter()
        .map(|c| c.as_str().to_owned())
        .collect();
    // An unknown version is refused (400) by the record itself, below.
    let known = |number| -> Result<bool, ApiError> {
        Ok(state.workspace()?.version(&group, number)?.is_some())
    };
    let warnings = match (body.mode, body.version) {
        (RolloutMode::Enforce, Some(number)) if known(number)? => {
            let (name, enforced) = (group.clone(), body.collections.clone());
            state
                .query(|session| async move {
                    let (policy, _) = session
                        .resolve_policy(&name, &PolicyRef::Version(number))
                        .await?;
                    Ok(query::versions::enforcing_without_rules(
                        &policy, &enforced, number,
                    ))
                })
                .await?
        }
        _ => Vec::new(),
    };
    let recorded = state.workspace()?.record_rollout(&NewRollout {
        group: &group,
        collections: &collections,
        mode: body.mode,
        version: body.version,
        at: &at,
        note: body.note.as_deref(),
        recorded_by: &principal.name,
    })?;
    state.changed();
    let answer = RolloutRecorded { recorded, warnings };
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// After the flip: blocks per day since enforcement (expected, unexpected), the exception
/// queue with a proposed rule each, and where the events disagree with the record.
#[utoipa::path(get, path = "/api/v1/groups/{group}/monitor", tag = "rollout",
    params(("group" = String, Path, description = "A business group")),
    responses(
        (status = 200, description = "The group after the flip", body = GroupMonitor),
        (status = 404, description = "No such group", body = ErrorBody),
        responses::Query))]
pub(crate) async fn monitor(
    axum::extract::State(state): Shared,
    ApiPath(group): ApiPath<String>,
) -> Result<Response, ApiError> {
    let m = state
        .query(|session| async move { Ok(session.monitor(&group).await?) })
        .await?;
    Ok(Json(m).into_response())
}
