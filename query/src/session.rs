//! [`Session`]: the one way in for the CLI and the API. It owns what every question needs
//! (the store, the inventory that applies, the engine and its memory budget) and hands out
//! the questions, each on a fresh context over the store as it is committed now.
//!
//! ```no_run
//! # async fn demo() -> query::Result<()> {
//! use query::{Session, report::ReportOptions};
//! let session = Session::open("lockstep-data".as_ref(), None, &[])?;
//! let report = session.report(&ReportOptions::default()).await?;
//! println!("{} groups", report.groups.len());
//! # Ok(()) }
//! ```

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use datafusion::prelude::SessionContext;
use policy::{Evaluator, Policy, SidGroups};

use crate::inventory::HostGroups;
use crate::readiness::{Candidate, GroupReadiness, ReadinessOptions};
use crate::report::{Report, ReportOptions};
use crate::simulate::{SimulateOptions, Simulation};
use crate::suggest::{GroupSuggestions, SuggestOptions};
use crate::timeline::{DayCount, TimelineOptions};
use crate::{Engine, Inventory, Result, Store};

/// Memory the local engine may use unless told otherwise, in MiB (all running queries
/// together).
pub const DEFAULT_MEMORY_MB: usize = 2048;

/// The file name of the inventory a data folder keeps (`lockstep serve` serves it and
/// `PUT /api/v1/inventory` replaces it).
pub const DATA_INVENTORY: &str = "inventory.csv";

/// A store with its inventory, ready to answer.
#[derive(Debug, Clone)]
pub struct Session {
    store: Store,
    inventory: Inventory,
    inventory_path: Option<PathBuf>,
    engine: Engine,
    memory_mb: usize,
}

impl Session {
    /// A session over `store` with an inventory already read, on the local engine.
    pub fn new(store: Store, inventory: Inventory) -> Session {
        Session {
            store,
            inventory,
            inventory_path: None,
            engine: Engine::Local,
            memory_mb: DEFAULT_MEMORY_MB,
        }
    }

    /// A session over the data folder `data`, with the inventory that applies
    /// ([`find_inventory`]): `given`, else the `inventory.csv` of the one folder among
    /// `inputs`, else `DATA/inventory.csv`, else none (every computer `unassigned`). A bad
    /// inventory is an error naming its line.
    pub fn open(data: &Path, given: Option<&Path>, inputs: &[PathBuf]) -> Result<Session> {
        let path = find_inventory(given, inputs, data);
        let inventory = match &path {
            Some(p) => Inventory::from_path(p)?,
            None => Inventory::default(),
        };
        Ok(Session {
            inventory_path: path,
            ..Session::new(Store::new(data), inventory)
        })
    }

    /// Runs the questions on `engine`, within `memory_mb` MiB when it is local.
    pub fn with_engine(mut self, engine: Engine, memory_mb: usize) -> Session {
        self.engine = engine;
        self.memory_mb = memory_mb;
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn inventory(&self) -> &Inventory {
        &self.inventory
    }

    /// The inventory file in use (`None`: every computer is `unassigned`).
    pub fn inventory_path(&self) -> Option<&Path> {
        self.inventory_path.as_deref()
    }

    /// Rows committed in the store now.
    pub fn committed_rows(&self) -> Result<u64> {
        Ok(self.store.read_manifest()?.rows())
    }

    /// A fresh context with the store's committed files registered as `events`. The
    /// question methods use one each; this is for callers with SQL of their own.
    pub async fn context(&self) -> Result<SessionContext> {
        let ctx = self.engine.context(self.memory_mb, &self.store).await?;
        crate::register_store(&ctx, &self.store).await?;
        Ok(ctx)
    }

    /// Which apps would be blocked, per group.
    pub async fn report(&self, opts: &ReportOptions) -> Result<Report> {
        let ctx = self.context().await?;
        crate::report::blocked_apps_by_group(&ctx, &self.inventory, opts).await
    }

    /// The rules that would let each group's would-be-blocked apps run; with `current`,
    /// apps it allows are left out and apps it denies are flagged.
    pub async fn suggest(
        &self,
        current: Option<&Policy>,
        opts: &SuggestOptions,
    ) -> Result<Vec<GroupSuggestions>> {
        let ctx = self.context().await?;
        crate::suggest::suggest_rules(&ctx, &self.inventory, current, opts).await
    }

    /// What a candidate policy would still and newly block.
    pub async fn simulate(
        &self,
        candidate: &Evaluator,
        opts: &SimulateOptions,
    ) -> Result<Simulation> {
        let ctx = self.context().await?;
        crate::simulate::simulate(&ctx, &self.inventory, candidate, opts).await
    }

    /// Per group and collection: ready to enforce, or why not.
    pub async fn readiness(
        &self,
        candidate: &Candidate,
        sid_groups: Option<SidGroups>,
        opts: &ReadinessOptions,
    ) -> Result<Vec<GroupReadiness>> {
        let ctx = self.context().await?;
        crate::readiness::readiness_of(&ctx, &self.inventory, candidate, sid_groups, opts).await
    }

    /// Audit and blocked events per group and day.
    pub async fn timeline(&self, opts: &TimelineOptions) -> Result<Vec<DayCount>> {
        let ctx = self.context().await?;
        crate::timeline::daily_events(&ctx, &self.inventory, opts).await
    }

    /// Every group the inventory names or the store has computers of.
    pub async fn known_groups(&self) -> Result<BTreeSet<String>> {
        let ctx = self.context().await?;
        let hosts = HostGroups::resolve(&ctx, &self.inventory).await?;
        Ok(hosts.known_groups(&self.inventory))
    }
}

/// The inventory that applies: `given`, else the `inventory.csv` of the one folder among
/// `inputs` (as `lockstep generate` writes it beside the logs), else `DATA/inventory.csv`,
/// else none.
pub fn find_inventory(given: Option<&Path>, inputs: &[PathBuf], data: &Path) -> Option<PathBuf> {
    if let Some(given) = given {
        return Some(given.to_owned());
    }
    inputs_inventory(inputs).or_else(|| Some(data.join(DATA_INVENTORY)).filter(|p| p.is_file()))
}

/// The `inventory.csv` of the one folder among `inputs`, if exactly one has it.
pub fn inputs_inventory(inputs: &[PathBuf]) -> Option<PathBuf> {
    let found: Vec<PathBuf> = inputs
        .iter()
        .map(|p| p.join(DATA_INVENTORY))
        .filter(|p| p.is_file())
        .collect();
    match found.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inventory_that_applies() {
        let dir = tempfile::tempdir().unwrap();
        let (data, logs, other) = (
            dir.path().join("data"),
            dir.path().join("logs"),
            dir.path().join("other"),
        );
        for d in [&data, &logs, &other] {
            std::fs::create_dir(d).unwrap();
        }
        assert_eq!(
            find_inventory(None, std::slice::from_ref(&logs), &data),
            None
        );
        std::fs::write(data.join(DATA_INVENTORY), "computer,group\n").unwrap();
        assert_eq!(
            find_inventory(None, std::slice::from_ref(&logs), &data),
            Some(data.join(DATA_INVENTORY))
        );
        std::fs::write(logs.join(DATA_INVENTORY), "computer,group\n").unwrap();
        assert_eq!(
            find_inventory(None, std::slice::from_ref(&logs), &data),
            Some(logs.join(DATA_INVENTORY)),
            "the input folder's inventory comes before the data folder's"
        );
        std::fs::write(other.join(DATA_INVENTORY), "computer,group\n").unwrap();
        assert_eq!(
            find_inventory(None, &[logs.clone(), other.clone()], &data),
            Some(data.join(DATA_INVENTORY)),
            "two input folders with inventories: neither is guessed"
        );
        let given = dir.path().join("mine.csv");
        assert_eq!(
            find_inventory(Some(&given), &[logs], &data),
            Some(given),
            "the inventory given wins"
        );
    }
}
