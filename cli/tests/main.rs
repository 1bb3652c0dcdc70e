//! End-to-end tests of the `lockstep` binary: one smoke test per subcommand, checking exit
//! codes and the key lines of output. Add new subcommand tests as modules here.

mod alerts;
#[cfg(feature = "ballista")]
mod ballista;
mod docs;
mod export;
mod external;
mod generate;
mod golden;
mod ingest;
mod output;
mod policy;
mod report;
mod serve;
mod support;
mod workspace;
