//! Integration tests of `ingest`: the bundled sample fleet against the generator's
//! bookkeeping, real Windows files (negatives, near-misses, damage) and the same shapes made
//! with evtx-writer (`made_fixtures`), files damaged on
//! purpose, idempotency, strict mode, concurrent ingests, and analysts' tools on the store.
//! Add new test modules here (one test binary per crate).

mod analysts;
mod collector;
mod compaction;
mod concurrency;
mod damaged_input;
mod faults;
mod fixtures;
mod idempotency;
mod made_fixtures;
mod real_evtx;
mod sample_logs;
mod text_forms;
