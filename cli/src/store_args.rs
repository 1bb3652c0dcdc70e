//! Arguments every question about the store shares (`report`, `suggest`, `simulate`,
//! `readiness`), and the session they open.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::engine;

/// The store, the inventory, the window and the groups to look at.
#[derive(Debug, Args)]
pub(crate) struct StoreArgs {
    /// The data folder (the event store).
    #[arg(long, env = "LOCKSTEP_DATA", default_value = "lockstep-data")]
    pub(crate) data: PathBuf,
    /// Business groups: CSV with `computer,group` (short names, FQDNs or globs). Default:
    /// the inventory.csv of the one folder ingested first, else DATA/inventory.csv.
    #[arg(long, value_name = "CSV")]
    pub(crate) inventory: Option<PathBuf>,
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
    #[command(flatten)]
    pub(crate) engine: engine::EngineArgs,
}

impl StoreArgs {
    pub(crate) fn window(&self) -> anyhow::Result<query::Window> {
        Ok(query::Window::parse(
            self.since.as_deref(),
            self.until.as_deref(),
        )?)
    }

    /// The session over the store, with the inventory that applies (`--inventory`, else
    /// that of the one folder in `inputs`, else the data folder's); says on stderr when
    /// there is none.
    pub(crate) fn session(&self, inputs: &[PathBuf]) -> anyhow::Result<query::Session> {
        let session = query::Session::open(&self.data, self.inventory.as_deref(), inputs)?
            .with_engine(self.engine.engine.clone(), self.engine.memory_mb);
        if session.inventory_path().is_none() {
            eprintln!(
                "no inventory given (--inventory CSV): every computer is in group `unassigned`"
            );
        }
        Ok(session)
    }
}

/// Reads a policy file, printing what was skipped.
pub(crate) fn read_policy(path: &Path) -> anyhow::Result<policy::Policy> {
    let parsed = policy::read::read_file(path)?;
    for warning in &parsed.warnings {
        eprintln!("{}: {warning}", path.display());
    }
    Ok(parsed.policy)
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
