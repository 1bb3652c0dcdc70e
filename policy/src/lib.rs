//! AppLocker policies: the model, XML in and out, the evaluator, and rule suggestions.
//!
//! Pure logic without I/O beyond reading a policy file; `query` feeds it the recorded
//! events and the CLI and API present the results. See `shared/spec/applocker-policy-xml.md`.
//!
//! - [`read::parse`] / [`read::read_file`]: XML as found in the wild, hostile XML refused;
//!   [`gpo::read_any`]: also a GPO's `registry.pol` or a GPO backup folder.
//! - [`write::to_xml`]: XML that validates against `AppLocker.xsd`.
//! - [`eval::Evaluator`]: allow / deny / not covered, with the reason.
//! - [`diff::diff`]: two policies compared by what their rules do; [`diff::content_hash`].
//! - [`suggest`]: rules that would let observed apps run, never a path rule on a
//!   user-writable place ([`path::user_writable`]).
//! - [`identities`]: names for SIDs and group memberships from AD exports.
//! - [`harden`]: the deny list for the programs that bypass allow lists (the what-if).

pub mod csp;
pub mod diff;
mod error;
pub mod eval;
pub mod gpo;
pub mod harden;
pub mod identities;
pub mod ids;
pub mod limits;
mod model;
pub mod path;
pub mod read;
pub mod suggest;
mod version;
pub mod write;

pub use error::Error;
pub use eval::{
    Decision, Evaluator, FileFacts, NoRule, RuleIndex, RuleSummary, SidGroups, Verdict,
};
pub use model::{
    Action, CollectionKind, Condition, Element, EnforcementMode, FileHash, HashCondition,
    PathCondition, Policy, PublisherCondition, Rule, RuleCollection,
};
pub use version::Version;
