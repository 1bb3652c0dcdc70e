//! Integration tests of the fleet simulator. One test binary (cheap to link on 2 cores);
//! add new test modules here.

mod determinism;
mod fixtures;
mod flips;
mod independent_parsers;
mod options;
mod sample_logs;
