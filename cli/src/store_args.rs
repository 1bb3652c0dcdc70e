//! Arguments every question about the store shares (`report`, `suggest`, `simulate`,
//! `readiness`), and the session they open.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::{engine, output};

/// The store, the inventory and the engine: what every command on the store opens.
#[derive(Debug, Args)]
pub(crate) struct DataArgs {
    /// The data folder (the event store and the workspace).
    #[arg(long, env = "LOCKSTEP_DATA", default_value = "lockstep-data")]
    pub(crate) data: PathBuf,
    /// Business groups: CSV with `computer,group` (short names, FQDNs or globs). Default:
    /// the inventory.csv of the one folder ingested first, else DATA/inventory.csv.
    #[arg(long, value_name = "CSV")]
    pub(crate) inventory: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) engine: engine::EngineArgs,
}

impl DataArgs {
    /// The session over the store, with the inventory that applies (`--inventory`, else
    /// that of the one folder in `inputs`, else the data folder's) and the workspace when
    /// there is one; says on stderr when there is no inventory.
    pub(crate) fn session(&self, inputs: &[PathBuf]) -> anyhow::Result<query::Session> {
        let session = query::Session::open(&self.data, self.inventory.as_deref(), inputs)?
            .with_engine(self.engine.engine.clone(), self.engine.memory_mb)
            .with_existing_workspace()?;
        if session.inventory_path().is_none() {
            eprintln!(
                "no inventory given (--inventory CSV): every computer is in group `unassigned`"
            );
        }
        Ok(session)
    }

    /// [`DataArgs::session`] with the data folder's workspace, made when missing (for the
    /// commands that write to it: decisions, versions, the rollout record).
    pub(crate) fn session_with_workspace(&self) -> anyhow::Result<query::Session> {
        let workspace = std::sync::Arc::new(workspace::Workspace::open(&self.data)?);
        Ok(self.session(&[])?.with_workspace(workspace))
    }
}

/// `--enforce EXE,SCRIPT`: the collections a written policy has `Enabled`.
#[derive(Debug, Args)]
pub(crate) struct EnforceCollections {
    /// Collections to write as Enabled (enforce), comma-separated (EXE,SCRIPT); the others
    /// are AuditOnly.
    #[arg(
        long,
        value_name = "COLLECTIONS",
        value_delimiter = ',',
        value_enum,
        ignore_case = true
    )]
    pub(crate) enforce: Vec<query::Collection>,
}

/// Warns, on stderr, for each of `collections` that `policy` (version `version`) has no
/// rules for: enforcing it blocks everything of the collection.
pub(crate) fn warn_enforcing_without_rules(
    policy: &policy::Policy,
    collections: &[query::Collection],
    version: i64,
) {
    for w in query::versions::enforcing_without_rules(policy, collections, version) {
        eprintln!("warning: {}", w.message);
    }
}

/// The store, the inventory, the window and the groups to look at.
#[derive(Debug, Args)]
pub(crate) struct StoreArgs {
    #[command(flatten)]
    pub(crate) base: DataArgs,
    /// Start of the window: a date (2026-10-05) or an RFC 3339 time.
    #[arg(long, value_name = "T")]
    pub(crate) since: Option<String>,
    /// End of the window: a date (that whole day included) or an RFC 3339 time (excluded).
    #[arg(long, value_name = "T")]
    pub(crate) until: Option<String>,
    /// Only this group (repeatable).
    #[arg(long = "group", value_name = "NAME")]
    pub(crate) groups: Vec<String>,
    /// Keep PowerShell's __PSSCRIPTPOLICYTEST_* probes (counted as noise otherwise).
    #[arg(long)]
    pub(crate) include_noise: bool,
}

impl StoreArgs {
    pub(crate) fn window(&self) -> anyhow::Result<query::Window> {
        Ok(query::Window::parse(
            self.since.as_deref(),
            self.until.as_deref(),
        )?)
    }

    /// See [`DataArgs::session`].
    pub(crate) fn session(&self, inputs: &[PathBuf]) -> anyhow::Result<query::Session> {
        self.base.session(inputs)
    }

    /// `--group` as given, each checked to be a group the inventory or the store knows: a
    /// mistyped name is an error naming the known groups, not an empty answer.
    pub(crate) fn checked_groups(&self, session: &query::Session) -> anyhow::Result<Vec<String>> {
        if self.groups.is_empty() {
            return Ok(Vec::new());
        }
        let known = crate::engine::block_on(session.known_groups())?;
        let unknown: Vec<&str> = self
            .groups
            .iter()
            .filter(|g| !known.contains(*g))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            let known: Vec<&str> = known.iter().map(String::as_str).collect();
            anyhow::bail!(
                "no group {}: the inventory and the store know {}",
                unknown.join(", "),
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            );
        }
        Ok(self.groups.clone())
    }
}

/// Reads a policy, whatever form it has (policy XML, a registry.pol, a GPO backup folder),
/// printing what was skipped.
pub(crate) fn read_policy(path: &Path) -> anyhow::Result<policy::Policy> {
    Ok(read_policy_from(path)?.0)
}

/// [`read_policy`], with what it was read from.
pub(crate) fn read_policy_from(
    path: &Path,
) -> anyhow::Result<(policy::Policy, policy::gpo::PolicySource)> {
    let (parsed, source) = policy::gpo::read_any(path)?;
    for warning in &parsed.warnings {
        eprintln!(
            "{}: {}",
            output::path(path),
            output::escape_controls(warning)
        );
    }
    Ok((parsed.policy, source))
}

/// Reads `--sid-groups`.
pub(crate) fn read_sid_groups(path: Option<&Path>) -> anyhow::Result<Option<policy::SidGroups>> {
    let Some(path) = path else { return Ok(None) };
    let text =
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    policy::SidGroups::parse(&text)
        .map(Some)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}
