//! `GET /groups/{group}/suggestions`: the rules that would let a group's apps run, as JSON
//! with the evidence or as the policy XML `Set-AppLockerPolicy -Merge` takes.

use axum::Json;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use policy::suggest::Granularity;
use query::suggest::{GroupSuggestions, PolicyOutput, SuggestOptions};

use super::{Shared, answers, with_lookup, xml_response};
use crate::cache::CacheKey;
use crate::error::{ApiError, responses};
use crate::extract::{ApiPath, ApiQuery, WindowParams};

/// Parameters of the suggestions.
#[derive(Debug, Clone, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SuggestionParams {
    /// `json` (default) or `xml` (AppLocker policy XML); `Accept: application/xml` also
    /// selects XML.
    #[param(inline)]
    pub(crate) format: Option<SuggestionFormat>,
    /// How specific publisher rules are (default: product, binary for Microsoft).
    #[param(inline)]
    pub(crate) granularity: Option<Granularity>,
    /// XML only: also write the rules flagged for review (JSON always lists them).
    #[serde(default)]
    pub(crate) include_review: bool,
    /// XML only: collections as `Enabled` (enforce) instead of `AuditOnly`.
    #[serde(default)]
    pub(crate) enforce: bool,
    /// XML only: also deny the programs that bypass allow lists (`policy::harden`'s list);
    /// `POST /simulate?harden=true` shows who that would hit.
    #[serde(default)]
    pub(crate) harden: bool,
}

/// How the suggestions are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SuggestionFormat {
    Json,
    Xml,
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
        responses::GroupQuery))]
pub(crate) async fn suggestions(
    axum::extract::State(state): Shared,
    headers: HeaderMap,
    ApiPath(group): ApiPath<String>,
    ApiQuery(window): ApiQuery<WindowParams>,
    ApiQuery(params): ApiQuery<SuggestionParams>,
) -> Result<Response, ApiError> {
    let opts = SuggestOptions {
        window: window.window()?,
        groups: vec![group.clone()],
        granularity: params.granularity,
        sid: policy::eval::EVERYONE.into(),
        include_noise: window.include_noise,
        scope_to: None,
    };
    answers::ensure_group(&state, &group).await?;
    let key = CacheKey::Suggestions {
        window: opts.window,
        include_noise: opts.include_noise,
        group: group.clone(),
        granularity: opts.granularity,
    };
    let group_of = group.clone();
    let (answer, lookup) = state
        .cache
        .get_or_compute(state.fingerprint(), key, || {
            state.query(|session| async move {
                let current = session.current_for(&group_of)?.map(|(p, _)| p);
                Ok((session.suggest(&opts).await?, current))
            })
        })
        .await?;
    let (found, current) = (&answer.0, answer.1.as_ref());
    let suggestions =
        found
            .iter()
            .find(|g| g.group == group)
            .cloned()
            .unwrap_or(GroupSuggestions {
                group,
                suggestions: Vec::new(),
            });
    if !wants_xml(&headers, params.format) {
        return Ok(with_lookup(Json(suggestions).into_response(), lookup));
    }
    let output = PolicyOutput {
        include_review: params.include_review,
        enforce: params.enforce,
        harden: params.harden,
    };
    let xml = suggestions.to_xml(output, current);
    let filename = format!(
        "{}-suggested.xml",
        policy::write::file_stem(&suggestions.group)
    );
    let response = xml_response(xml, &filename)?;
    Ok(with_lookup(response, lookup))
}
