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
    /// The query engine failed (including running out of its memory budget).
    #[error("query engine")]
    Engine(#[from] datafusion::error::DataFusionError),
}

/// The result type of `query`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
