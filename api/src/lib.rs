//! lockstep's HTTP API: the answers of `query` (reports, suggestions, readiness, what-if) as
//! JSON and AppLocker policy XML, uploads into the store, and the inventory, over axum.
//!
//! Secure by default: every endpoint but `/api/v1/health` needs a bearer token (a read token,
//! and an admin token for uploads and the inventory); bodies, time and concurrency are
//! bounded; answers for an unchanged store are cached.

pub mod auth;
pub mod cache;
pub mod dashboard;
pub mod error;
pub mod extract;
pub mod inventory;
pub mod openapi;
pub mod routes;
pub mod state;
pub mod upload;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

pub use auth::Tokens;
pub use error::{ApiError, ErrorBody};
pub use state::{AppState, Config};

/// The API's routes (method, path), as the router serves them; a test checks the OpenAPI
/// document lists exactly these.
pub const ROUTES: [(&str, &str); 11] = [
    ("get", "/api/v1/health"),
    ("get", "/api/v1/openapi.json"),
    ("get", "/api/v1/groups"),
    ("get", "/api/v1/groups/{group}/blocked"),
    ("get", "/api/v1/groups/{group}/suggestions"),
    ("get", "/api/v1/readiness"),
    ("get", "/api/v1/timeline"),
    ("post", "/api/v1/simulate"),
    ("post", "/api/v1/ingest"),
    ("get", "/api/v1/inventory"),
    ("put", "/api/v1/inventory"),
];

/// The router over `state`.
pub fn router(state: Arc<AppState>) -> Router {
    let read = Router::new()
        .route("/api/v1/openapi.json", get(openapi::openapi_json))
        .route("/api/v1/groups", get(routes::groups))
        .route("/api/v1/groups/{group}/blocked", get(routes::blocked))
        .route(
            "/api/v1/groups/{group}/suggestions",
            get(routes::suggestions),
        )
        .route("/api/v1/readiness", get(routes::readiness))
        .route("/api/v1/timeline", get(routes::timeline))
        .route("/api/v1/simulate", post(routes::simulate))
        .route("/api/v1/inventory", get(inventory::get_inventory))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_read,
        ));
    let admin = Router::new()
        .route("/api/v1/ingest", post(upload::ingest_upload))
        .route(
            "/api/v1/inventory",
            axum::routing::put(inventory::put_inventory),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_admin,
        ));
    Router::new()
        .route("/api/v1/health", get(routes::health))
        .merge(dashboard::routes())
        .merge(read)
        .merge(admin)
        .fallback(|| async { routes::not_found_route() })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
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

/// 503 when `max_in_flight` requests are already being answered.
async fn bound_in_flight(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    match state.in_flight.clone().try_acquire_owned() {
        Ok(_permit) => next.run(request).await,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "too many requests in progress; try again shortly",
        )
        .into_response(),
    }
}

/// One log line per request: method, path, status, latency.
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1e3;
    if response.status().is_server_error() {
        tracing::warn!(target: "lockstep::http", %method, %path, status, latency_ms, "request");
    } else {
        tracing::info!(target: "lockstep::http", %method, %path, status, latency_ms, "request");
    }
    response
}

/// Serves `state` on `listener` until `shutdown` completes; requests in progress are then
/// finished (an upload being ingested commits or leaves the store as it was).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
