//! Integration tests of the query layer: the report on the bundled fleet against the
//! generator's own bookkeeping, and edge cases on hand-made tables. Add modules here.

mod fixtures;
mod hardening;
mod monitor;
mod policy_engine;
mod readiness;
mod report_edge_cases;
mod report_sample_logs;
mod summary;
mod timeline;
mod transition;
