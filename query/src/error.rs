//! Errors of the query layer. Expected errors (bad input, unknown group) are separate from
//! `Engine` errors, so the API can answer 4xx for the first and 500 for the second.

use std::path::PathBuf;

/// Errors of `query`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: line {line}: {message}")]
    Inventory {
        path: String,
        line: usize,
        message: String,
    },
    #[error("invalid {name}: {message}")]
    BadParameter { name: &'static str, message: String },
    /// The distributed engine's scheduler did not answer.
    #[error("cannot reach the Ballista scheduler at {address}")]
    Unreachable {
        address: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] schema::StoreError),
    #[error(transparent)]
    Workspace(#[from] workspace::Error),
    #[error(transparent)]
    Policy(#[from] policy::Error),
    /// A group neither the inventory nor the store knows.
    #[error(
        "no group {0:?}: it is neither in the inventory nor a group of any computer in the store"
    )]
    UnknownGroup(String),
    /// An app id no recorded event of the group (or fleet) has.
    #[error("no app {app_id} in {scope}'s recorded events (report and readiness list the app ids)")]
    UnknownApp { scope: String, app_id: String },
    /// Allowing an app whose suggestion is flagged for review, without saying so.
    #[error(
        "{label} ({app_id}) is flagged for review: {reasons}; allow it anyway with --force (it is recorded as flagged)"
    )]
    Flagged {
        app_id: String,
        label: String,
        reasons: String,
    },
    /// No safe rule can allow the app.
    #[error("{label} ({app_id}) cannot be allowed by a safe rule: {why}")]
    NoRule {
        app_id: String,
        label: String,
        why: String,
    },
    /// A version number the group has not published.
    #[error(
        "{group} has no published version {version} (`lockstep policy versions --group {group}` lists them)"
    )]
    NoVersion { group: String, version: i64 },
    /// No policy in force for the group, where one is needed.
    #[error("no policy in force for {0}: `lockstep policy import` stores one")]
    NoPolicy(String),
    /// A candidate with no rules at all: nothing to publish.
    #[error(
        "{0}'s candidate has no rules (no policy in force imported and no allow or block decisions): nothing to publish"
    )]
    NothingToPublish(String),
    /// Something that needs the workspace, without one.
    #[error("this needs the workspace (DATA/workspace.sqlite)")]
    NoWorkspace,
    /// The query engine failed (including running out of its memory budget).
    #[error("query engine")]
    Engine(#[from] datafusion::error::DataFusionError),
}

/// The result type of `query`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
