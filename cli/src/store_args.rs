//! Arguments every question about the store shares (`suggest`, `simulate`, `readiness`).

use std::path::PathBuf;

use clap::Args;

use crate::engine;

/// The store, the inventory, the window and the groups to look at.
#[derive(Debug, Args)]
pub(crate) struct StoreArgs {
    /// The data folder (the event store).
    #[arg(long, env = "LOCKSTEP_DATA", default_value = "lockstep-data")]
    pub(crate) data: PathBuf,
    /// Business groups: CSV with `computer,group` (short names, FQDNs or globs); default
    /// DATA/inventory.csv when it exists.
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
        window(self.since.as_deref(), self.until.as_deref())
    }

    /// The inventory (`--inventory`, else the data folder's own), or none (every computer
    /// `unassigned`, said on stderr).
    pub(crate) fn inventory(&self) -> anyhow::Result<query::Inventory> {
        match self
            .inventory
            .clone()
            .or_else(|| data_inventory(&self.data))
        {
            Some(path) => Ok(query::Inventory::from_path(&path)?),
            None => {
                eprintln!(
                    "no inventory given (--inventory CSV): every computer is in group `unassigned`"
                );
                Ok(query::Inventory::default())
            }
        }
    }

    pub(crate) fn store(&self) -> query::Store {
        query::Store::new(&self.data)
    }
}

/// `DATA/inventory.csv`, when it exists: the inventory `lockstep serve` keeps (and
/// `PUT /api/v1/inventory` replaces) by default.
pub(crate) fn data_inventory(data: &std::path::Path) -> Option<PathBuf> {
    Some(data.join("inventory.csv")).filter(|p| p.is_file())
}

/// The window of `--since` / `--until`.
pub(crate) fn window(since: Option<&str>, until: Option<&str>) -> anyhow::Result<query::Window> {
    Ok(query::Window {
        since: since
            .map(|t| query::parse_time_bound(t, false))
            .transpose()?,
        until: until
            .map(|t| query::parse_time_bound(t, true))
            .transpose()?,
    })
}

/// Reads a policy file, printing what was skipped.
pub(crate) fn read_policy(path: &std::path::Path) -> anyhow::Result<policy::Policy> {
    let parsed = policy::read::read_file(path)?;
    for warning in &parsed.warnings {
        eprintln!("{}: {warning}", path.display());
    }
    Ok(parsed.policy)
}

/// Reads `--sid-groups`.
pub(crate) fn read_sid_groups(
    path: Option<&std::path::Path>,
) -> anyhow::Result<Option<policy::SidGroups>> {
    let Some(path) = path else { return Ok(None) };
    let text =
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    policy::SidGroups::parse(&text)
        .map(Some)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}
