//! The contract between `ingest` (which writes the event store) and `query` (which reads it):
//! the Arrow schema of the event table and the layout of the data folder.
//!
//! It depends on `arrow-schema` only, so `query` never sees `evtx` (docs/architecture.md).
//!
//! - [`columns`] names every column; [`event_schema`] is the table's Arrow schema.
//! - [`values`]: what the `collection`, `outcome` and `policy_kind` columns hold
//!   ([`Collection`], [`Outcome`], [`PolicyKind`]), and [`computer_key`], the join key of a
//!   computer name.
//! - [`summary`]: the summary table ingest keeps beside the events ([`summary_schema`]).
//! - [`Store`] is the data folder: Parquet files listed by a manifest that is replaced
//!   atomically, so readers see one committed state or the next, never a half-written one.

pub mod columns;
pub mod store;
pub mod summary;
pub mod values;

pub use columns::event_schema;
pub use store::{Manifest, ManifestFile, RetiredFile, SourcePosition, Store, StoreError, sync_dir};
pub use summary::summary_schema;
pub use values::{
    Collection, Outcome, PolicyKind, UnknownValue, computer_key, sql_list, wildcard_match,
};
