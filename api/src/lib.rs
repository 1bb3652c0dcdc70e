//! lockstep's HTTP API: the answers of `query` (reports, suggestions, readiness, what-if) as
//! JSON and AppLocker policy XML, uploads into the store, and the inventory, over axum.
//!
//! Secure by default: every endpoint but `/api/v1/health` needs a bearer token (a read token,
//! and an admin token for uploads and the inventory); bodies, time and concurrency are
//! bounded; answers for an unchanged store are cached.

mod alerts;
mod auth;
mod body;
mod cache;
mod dashboard;
mod error;
mod extract;
mod routes;
mod server;
mod state;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

pub use alerts::{AlertSettings, Webhook};
pub use auth::{ADMIN_NAME, MIN_TOKEN_LEN, READ_NAME, Tokens};
pub use dashboard::PATHS as DASHBOARD_PATHS;
pub use error::{ErrorBody, ErrorCode};
pub use routes::{document, route_list};
pub use server::{Tls, TlsError, serve};
pub use state::{AppState, Config};

use error::ApiError;

/// The router over `state`: the API's route table, the dashboard, and the limits every
/// request goes through.
pub fn router(state: Arc<AppState>) -> Router {
    let (api, _) = routes::table(Some(&state)).split_for_parts();
    Router::new()
        .merge(dashboard::routes())
        .merge(api)
        .fallback(|| async {
            ApiError::new(
                ErrorCode::UnknownEndpoint,
                "no such endpoint; GET /api/v1/openapi.json lists them",
            )
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                ErrorCode::MethodNotAllowed,
                "this endpoint does not take that method; GET /api/v1/openapi.json lists them",
            )
        })
        // Bodies are read by the handlers, each within its own limit.
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            bound_in_flight,
        ))
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

/// 503 when `max_in_flight` requests are already being answered. `/api/v1/health` is
/// outside the bound: a full server still says it is alive.
async fn bound_in_flight(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().path() == routes::HEALTH_PATH {
        return next.run(request).await;
    }
    match state.in_flight.clone().try_acquire_owned() {
        Ok(_permit) => next.run(request).await,
        Err(_) => ApiError::new(
            ErrorCode::Overloaded,
            "too many requests in progress; try again shortly",
        )
        .into_response(),
    }
}

/// One log line per request: method, path, status, latency, who (the token's name) and
/// from where (the client's address).
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let client = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map_or_else(|| "-".to_owned(), |c| c.0.to_string());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1e3;
    let principal = response
        .extensions()
        .get::<auth::Principal>()
        .map_or("-", |p| p.name.as_str())
        .to_owned();
    if response.status().is_server_error() {
        tracing::warn!(target: "lockstep::http", %method, %path, status, latency_ms, %principal, %client, "request");
    } else {
        tracing::info!(target: "lockstep::http", %method, %path, status, latency_ms, %principal, %client, "request");
    }
    response
}
