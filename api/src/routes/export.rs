//! `GET /export.xlsx`: the change board's workbook (the `workbook` crate), to download.

use axum::body::Body;
use axum::http::header;
use axum::response::Response;

use super::Shared;
use crate::error::{ApiError, ErrorCode, responses};
use crate::extract::{ApiQuery, WindowParams, list};

/// The workbook's media type.
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// Which groups the workbook covers.
#[derive(Debug, Clone, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ExportParams {
    /// Only these groups, comma-separated (all when absent); an unknown one is a 404.
    pub(crate) groups: Option<String>,
}

/// The Excel workbook for the change board: a summary per group (readiness, counts, hosts,
/// the candidate's version), a sheet per group (apps, decisions, suggested rules, review
/// flags, who is blocked), the candidates' rules with evidence, and per-host activity.
#[utoipa::path(get, path = "/api/v1/export.xlsx", tag = "policy",
    params(WindowParams, ExportParams),
    responses(
        (status = 200, description = "The workbook", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = Vec<u8>),
        responses::GroupQuery))]
pub(crate) async fn export_xlsx(
    axum::extract::State(state): Shared,
    ApiQuery(window): ApiQuery<WindowParams>,
    ApiQuery(params): ApiQuery<ExportParams>,
) -> Result<Response, ApiError> {
    let opts = workbook::WorkbookOptions {
        window: window.window()?,
        groups: list(params.groups.as_deref()),
        include_noise: window.include_noise,
    };
    let bytes = state
        .query(|session| async move {
            workbook::build(&session, &opts).await.map_err(|e| match e {
                workbook::Error::UnknownGroups { .. } => {
                    ApiError::new(ErrorCode::UnknownGroup, e.to_string())
                }
                workbook::Error::Query(q) => q.into(),
                workbook::Error::Xlsx(x) => ApiError::internal("writing the workbook", &x),
            })
        })
        .await?;
    Response::builder()
        .header(header::CONTENT_TYPE, XLSX)
        .header(
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"lockstep-workbook.xlsx\"",
        )
        .body(Body::from(bytes))
        .map_err(|e| ApiError::internal("building the response", &e))
}
