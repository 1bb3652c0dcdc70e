//! The answers several endpoints share, computed once per parameters and store state (the
//! response cache) on a session the state hands out.

use std::collections::BTreeSet;
use std::sync::Arc;

use query::Candidate;
use query::readiness::{GroupReadiness, ReadinessOptions};
use query::report::{Report, ReportOptions};

use crate::cache::{CacheKey, Lookup};
use crate::error::ApiError;
use crate::state::AppState;

/// Readiness of `opts.groups` under each group's default candidate.
pub(super) async fn readiness(
    state: &AppState,
    opts: ReadinessOptions,
) -> Result<(Arc<Vec<GroupReadiness>>, Lookup), ApiError> {
    let key = CacheKey::Readiness {
        window: opts.window,
        include_noise: opts.include_noise,
        groups: opts.groups.clone(),
        min_days: opts.min_days,
        silent_days: opts.silent_days,
    };
    state
        .cache
        .get_or_compute(state.fingerprint(), key, || {
            state.query(|session| async move {
                Ok(session
                    .readiness(&Candidate::Decisions, None, &opts)
                    .await?)
            })
        })
        .await
}

/// The report for `opts`, whole: callers cut pages themselves and pass no `top` (the cache
/// key leaves it out).
pub(super) async fn report(
    state: &AppState,
    opts: ReportOptions,
) -> Result<(Arc<Report>, Lookup), ApiError> {
    debug_assert!(opts.top.is_none(), "the cache key leaves `top` out");
    let key = CacheKey::Report {
        window: opts.window,
        include_noise: opts.include_noise,
        groups: opts.groups.clone(),
        collections: opts.collections.clone(),
        outcome: opts.outcome,
    };
    state
        .cache
        .get_or_compute(state.fingerprint(), key, || {
            state.query(|session| async move { Ok(session.report(&opts).await?) })
        })
        .await
}

/// 404 unless `group` is in the inventory or a computer of the store is in it.
pub(super) async fn ensure_group(state: &AppState, group: &str) -> Result<(), ApiError> {
    let (known, _): (Arc<BTreeSet<String>>, _) = state
        .cache
        .get_or_compute(state.fingerprint(), CacheKey::KnownGroups, || {
            state.query(|session| async move { Ok(session.known_groups().await?) })
        })
        .await?;
    if known.contains(group) {
        Ok(())
    } else {
        Err(ApiError::unknown_group(group))
    }
}
