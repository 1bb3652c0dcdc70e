//! Business groups: `inventory.csv` (`computer,group`, more columns allowed and ignored).
//!
//! Rules (docs/architecture.md "Business groups"): `computer` is a short name, an FQDN or a glob
//! (`FIN-*`); matching is case-insensitive; a short name matches the computer logged with
//! that short name, with or without a domain; first match wins; computers that match no line
//! are in `unassigned`. The rules are applied once per distinct computer of the store
//! ([`HostGroups`]); queries join that small table instead of evaluating an inventory of
//! thousands of lines on every event.

use std::path::Path;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::SessionContext;

use schema::{computer_key, wildcard_match};

use crate::Error;

/// The group of computers the inventory does not name.
pub const UNASSIGNED: &str = "unassigned";

/// One inventory line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Lower-cased `computer` text.
    pub pattern: String,
    pub group: String,
    /// 1-based line number in the file.
    pub line: usize,
}

impl Entry {
    /// True for `*`/`?` patterns.
    pub fn is_glob(&self) -> bool {
        self.pattern.contains(['*', '?'])
    }
}

/// A parsed inventory; empty means every computer is `unassigned`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    pub entries: Vec<Entry>,
}

impl Inventory {
    /// Reads an inventory file.
    pub fn from_path(path: &Path) -> Result<Inventory, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        Inventory::parse(&text).map_err(|e| match e {
            Error::Inventory { line, message, .. } => Error::Inventory {
                path: path.display().to_string(),
                line,
                message,
            },
            other => other,
        })
    }

    /// Parses inventory CSV text (header required).
    pub fn parse(text: &str) -> Result<Inventory, Error> {
        let bad = |line: usize, message: String| Error::Inventory {
            path: "inventory".into(),
            line,
            message,
        };
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim_start_matches('\u{feff}').trim()));
        let (_, header) = lines
            .find(|(_, l)| !l.is_empty())
            .ok_or_else(|| bad(1, "empty file: expected a `computer,group` header".into()))?;
        let columns: Vec<String> = policy::identities::split_csv(header)
            .into_iter()
            .map(|c| c.trim().to_ascii_lowercase())
            .collect();
        let computer_col = columns.iter().position(|c| c == "computer");
        let group_col = columns.iter().position(|c| c == "group");
        let (Some(computer_col), Some(group_col)) = (computer_col, group_col) else {
            return Err(bad(
                1,
                format!("the header must name `computer` and `group` columns, found {header:?}"),
            ));
        };
        let mut entries = Vec::new();
        for (line, text) in lines {
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            let fields = policy::identities::split_csv(text);
            let get = |i: usize| fields.get(i).map(|f| f.trim()).unwrap_or("");
            let (computer, group) = (get(computer_col), get(group_col));
            if computer.is_empty() {
                return Err(bad(line, "empty `computer`".into()));
            }
            if group.is_empty() {
                return Err(bad(line, format!("empty `group` for {computer:?}")));
            }
            if computer.contains(['\'', '\\', '%']) {
                return Err(bad(
                    line,
                    format!("{computer:?} is not a computer name or glob"),
                ));
            }
            entries.push(Entry {
                pattern: computer.to_ascii_lowercase(),
                group: group.to_owned(),
                line,
            });
        }
        Ok(Inventory { entries })
    }

    /// The group names, sorted, without duplicates.
    pub fn groups(&self) -> Vec<String> {
        let mut groups: Vec<String> = self.entries.iter().map(|e| e.group.clone()).collect();
        groups.sort();
        groups.dedup();
        groups
    }

    /// Which group a computer is in.
    pub fn group_of(&self, computer: &str) -> &str {
        self.matching_entry(computer)
            .map_or(UNASSIGNED, |e| e.group.as_str())
    }

    /// The first line that matches `computer`, if any.
    pub fn matching_entry(&self, computer: &str) -> Option<&Entry> {
        let computer = computer.trim().to_ascii_lowercase();
        let key = computer_key(&computer);
        let key = key.as_str();
        self.entries.iter().find(|e| {
            if e.is_glob() {
                wildcard_match(&e.pattern, &computer) || wildcard_match(&e.pattern, key)
            } else if e.pattern.contains('.') {
                e.pattern == computer
                    || (!computer.contains('.') && e.pattern.split('.').next() == Some(key))
            } else {
                e.pattern == key
            }
        })
    }

    /// Computers the inventory names one by one, per group (globs are counted from the store).
    pub fn named_computers(&self, group: &str) -> usize {
        let mut names: Vec<&str> = self
            .entries
            .iter()
            .filter(|e| e.group == group && !e.is_glob())
            .map(|e| e.pattern.split('.').next().unwrap_or(""))
            .collect();
        names.sort_unstable();
        names.dedup();
        names.len()
    }
}

/// Every computer of the store with its group: the inventory applied once per computer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostGroups {
    pub hosts: Vec<HostGroup>,
}

/// One computer (as logged) and its group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostGroup {
    pub computer: String,
    pub computer_key: String,
    pub group: String,
    /// The matching inventory line is a glob.
    pub by_glob: bool,
}

impl HostGroups {
    /// Reads the distinct computers of the `events` table and applies the inventory.
    pub async fn resolve(ctx: &SessionContext, inventory: &Inventory) -> crate::Result<HostGroups> {
        let rows = crate::rows::Rows::for_window(ctx, &crate::Window::default());
        let batches = ctx
            .sql(&format!(
                "SELECT DISTINCT computer, computer_key FROM {} ORDER BY computer",
                rows.table()
            ))
            .await?
            .collect()
            .await?;
        let mut hosts = Vec::new();
        for batch in &batches {
            let text = |i: usize| cast(batch.column(i), &DataType::Utf8);
            let (computers, keys) = (text(0), text(1));
            let (computers, keys) = (
                computers.map_err(datafusion::error::DataFusionError::from)?,
                keys.map_err(datafusion::error::DataFusionError::from)?,
            );
            let (computers, keys) = (computers.as_string::<i32>(), keys.as_string::<i32>());
            for row in 0..batch.num_rows() {
                let computer = computers.value(row);
                let entry = inventory.matching_entry(computer);
                hosts.push(HostGroup {
                    computer: computer.to_owned(),
                    computer_key: keys.value(row).to_owned(),
                    group: entry.map_or(UNASSIGNED, |e| e.group.as_str()).to_owned(),
                    by_glob: entry.is_some_and(Entry::is_glob),
                });
            }
        }
        Ok(HostGroups { hosts })
    }

    /// A SQL table `(computer, computer_key, grp, by_glob)` with one row per computer, to
    /// join with `events` on `computer`.
    pub fn table_sql(&self) -> String {
        if self.hosts.is_empty() {
            return "SELECT CAST(NULL AS VARCHAR) AS computer, CAST(NULL AS VARCHAR) AS computer_key, \
                    CAST(NULL AS VARCHAR) AS grp, false AS by_glob WHERE false"
                .into();
        }
        let rows: Vec<String> = self
            .hosts
            .iter()
            .map(|h| {
                format!(
                    "({}, {}, {}, {})",
                    sql_string(&h.computer),
                    sql_string(&h.computer_key),
                    sql_string(&h.group),
                    h.by_glob
                )
            })
            .collect();
        format!(
            "SELECT column1 AS computer, column2 AS computer_key, column3 AS grp, column4 AS by_glob \
             FROM (VALUES {})",
            rows.join(", ")
        )
    }

    /// `AND computer IN (…)` for the computers of `groups` (nothing when `groups` is empty):
    /// the store is sorted by computer, so Parquet statistics let a scan skip other groups.
    pub fn scope_sql(&self, groups: &[String]) -> String {
        if groups.is_empty() {
            return String::new();
        }
        let computers: Vec<String> = self
            .hosts
            .iter()
            .filter(|h| groups.contains(&h.group))
            .map(|h| sql_string(&h.computer))
            .collect();
        if computers.is_empty() {
            return " AND false".into();
        }
        format!(" AND computer IN ({})", computers.join(", "))
    }

    /// Distinct computers (by `computer_key`) that a glob line put in `group`.
    pub fn globbed_in(&self, group: &str) -> usize {
        let mut keys: Vec<&str> = self
            .hosts
            .iter()
            .filter(|h| h.by_glob && h.group == group)
            .map(|h| h.computer_key.as_str())
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys.len()
    }

    /// The group names with at least one computer.
    pub fn groups(&self) -> impl Iterator<Item = &str> {
        self.hosts.iter().map(|h| h.group.as_str())
    }

    /// Every group `inventory` names or a computer of the store is in.
    pub fn known_groups(&self, inventory: &Inventory) -> std::collections::BTreeSet<String> {
        let mut groups: std::collections::BTreeSet<String> =
            inventory.groups().into_iter().collect();
        groups.extend(self.groups().map(str::to_owned));
        groups
    }
}

/// A SQL string literal.
pub(crate) fn sql_string(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "computer,group,owner\nFIN-*,finance,x\nENG-WS01,engineering\nsal-ws02.corp.example.com,sales\nfin-ws09,audit-team\n";

    #[test]
    fn rules_of_the_design() {
        let inv = Inventory::parse(CSV).unwrap();
        assert_eq!(inv.group_of("fin-ws01.corp.example.com"), "finance");
        assert_eq!(inv.group_of("FIN-WS09"), "finance", "first match wins");
        assert_eq!(
            inv.group_of("eng-ws01.corp.example.com"),
            "engineering",
            "a short name matches its FQDN"
        );
        assert_eq!(inv.group_of("ENG-WS011"), UNASSIGNED);
        assert_eq!(inv.group_of("SAL-WS02.corp.example.com"), "sales");
        assert_eq!(
            inv.group_of("SAL-WS02"),
            "sales",
            "an FQDN line matches the short name logged"
        );
        assert_eq!(inv.group_of("sal-ws02.other.example.com"), UNASSIGNED);
        assert_eq!(
            inv.groups(),
            ["audit-team", "engineering", "finance", "sales"]
        );
        assert_eq!(inv.named_computers("finance"), 0);
    }

    #[test]
    fn bad_rows_name_their_line() {
        let err = Inventory::parse("computer,group\nA,x\n,y\n").unwrap_err();
        assert!(err.to_string().contains("line 3"), "{err}");
        let err = Inventory::parse("host,team\nA,x\n").unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
        let err = Inventory::parse("computer,group\nA,\n").unwrap_err();
        assert!(
            err.to_string().contains("line 2") && err.to_string().contains("group"),
            "{err}"
        );
        assert!(Inventory::parse("computer,group\nA'B,x\n").is_err());
        assert_eq!(
            Inventory::parse("\u{feff}computer,group\n\"A\",\"x, y\"\n")
                .unwrap()
                .entries[0]
                .group,
            "x, y"
        );
    }
}
