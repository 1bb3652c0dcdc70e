//! The workspace: what the admin decides, kept beside the event store in one SQLite database,
//! `DATA/workspace.sqlite`. Events stay in Parquet; nothing here can be derived from them.
//!
//! - Each group's **current policy** (and the fleet's, which groups without their own use):
//!   imported AppLocker policy XML or GPO backups, every import kept.
//! - The **decisions** on apps, per group or for the fleet: allow (with the rule that allows
//!   it), block on purpose, or defer. Never updated in place: each decision is a new entry
//!   (who, when, why), and the current decision on an app is its latest entry.
//!
//! Safe for several writers at once (the server and the CLI): WAL mode, every write in an
//! `IMMEDIATE` transaction, a busy timeout. A `kill -9` at any moment leaves every entry
//! whole or absent (SQLite's journal). A file that is not a workspace, is damaged, or was
//! written by a newer lockstep is refused, never overwritten.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

mod schema;

pub use schema::SCHEMA_VERSION;

/// The workspace file in a data folder.
pub const FILE: &str = "workspace.sqlite";

/// How long a writer waits for another's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// What can go wrong with the workspace.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // The message carries the cause, so it is not also a `#[source]` (a chain printed with
    // `{:#}` would say it two or three times).
    #[error("{}: {cause}", path.display())]
    Sqlite {
        path: PathBuf,
        cause: rusqlite::Error,
    },
    #[error(
        "{}: not a lockstep workspace, or damaged ({message}); it was left untouched: move it away (or restore a backup) and start again",
        path.display()
    )]
    Unreadable { path: PathBuf, message: String },
    #[error(
        "{}: written by a newer lockstep (workspace schema {found}, this one knows {supported}); it was left untouched",
        path.display()
    )]
    Newer {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    /// The decision changed since the version the caller saw.
    #[error(
        "the decision on {app_id} changed since version {expected} (it is at version {current}): read it again"
    )]
    Conflict {
        app_id: String,
        expected: i64,
        current: i64,
    },
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// A stable code for programs.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Sqlite { .. } => "workspace_failed",
            Error::Unreadable { .. } => "workspace_unreadable",
            Error::Newer { .. } => "workspace_newer",
            Error::Conflict { .. } => "conflict",
            Error::Invalid(_) => "invalid",
        }
    }
}

/// The result type of `workspace`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Who a decision or import is for: one business group, or the whole fleet (what every group
/// inherits unless it decides otherwise).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "scope", content = "group")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Scope {
    Fleet,
    Group(String),
}

impl Scope {
    /// The group, or `None` for the fleet (how the database stores it).
    fn column(&self) -> Option<&str> {
        match self {
            Scope::Fleet => None,
            Scope::Group(g) => Some(g),
        }
    }

    fn from_column(group: Option<String>) -> Scope {
        group.map_or(Scope::Fleet, Scope::Group)
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Fleet => f.write_str("the fleet"),
            Scope::Group(g) => write!(f, "group {g}"),
        }
    }
}

/// What was decided about an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Verdict {
    /// It may run: the candidate gets the rule of the decision.
    Allow,
    /// It is meant to stay blocked (the users who run it are to be told).
    Block,
    /// Still being looked at: the group is not ready while it would be blocked.
    Defer,
}

impl Verdict {
    pub const fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Block => "block",
            Verdict::Defer => "defer",
        }
    }

    fn parse(text: &str) -> Option<Verdict> {
        [Verdict::Allow, Verdict::Block, Verdict::Defer]
            .into_iter()
            .find(|v| v.as_str() == text)
    }
}

/// A decision to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDecision {
    pub scope: Scope,
    pub app_id: String,
    pub verdict: Verdict,
    /// The app's label and collection when decided (a decision outlives the events).
    pub label: String,
    pub collection: Option<String>,
    /// For `allow`: the rule's XML element (`policy::write::rule_xml`).
    pub rule_xml: Option<String>,
    /// The rule granularity asked for, if not the default.
    pub granularity: Option<String>,
    /// Review flags (codes) the suggestion had when it was allowed anyway (`--force`).
    pub flagged: Vec<String>,
    pub note: Option<String>,
    pub decided_by: String,
    /// The version (entry id) the decider saw as current: the decision is refused if another
    /// was recorded since (an HTTP `If-Match`). `None`: no check.
    pub expected_version: Option<i64>,
}

/// A recorded decision.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Decision {
    /// The entry's id, increasing: the version an `If-Match` names.
    pub version: i64,
    #[serde(flatten)]
    pub scope: Scope,
    pub app_id: String,
    pub verdict: Verdict,
    pub label: String,
    pub collection: Option<String>,
    pub rule_xml: Option<String>,
    pub granularity: Option<String>,
    pub flagged: Vec<String>,
    pub note: Option<String>,
    pub decided_by: String,
    /// RFC 3339, UTC.
    pub decided_at: String,
}

/// A stored policy: the policy in force for a group or the fleet.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredPolicy {
    pub version: i64,
    #[serde(flatten)]
    pub scope: Scope,
    /// The policy as lockstep writes it (normalised XML).
    pub xml: String,
    /// What it was imported from (`AppLocker policy XML finance.xml`, a GPO backup, …).
    pub source: String,
    pub imported_by: String,
    pub imported_at: String,
}

/// A published version of a group's candidate: frozen, numbered per group.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PolicyVersion {
    pub group: String,
    /// 1, 2, … within the group.
    pub version: i64,
    /// The policy as published (every collection as the candidate had it; `export
    /// --enforce` sets the modes).
    pub xml: String,
    /// What the policy does, hashed (`policy::diff::content_hash`): equal for equal rules.
    pub content_hash: String,
    /// The last decision (by its number in the history) the candidate was made from.
    pub decisions_through: i64,
    pub note: Option<String>,
    pub published_by: String,
    pub published_at: String,
}

/// What [`Workspace::publish`] did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Published {
    #[serde(flatten)]
    pub version: PolicyVersion,
    /// `false` when the group's latest version already had this content: nothing was
    /// stored and `version` is that one.
    pub new: bool,
}

/// What a new version is made of.
#[derive(Debug, Clone)]
pub struct NewVersion<'a> {
    pub group: &'a str,
    pub xml: &'a str,
    pub content_hash: &'a str,
    pub note: Option<&'a str>,
    pub published_by: &'a str,
}

/// Enforce or audit: what a rollout entry puts a collection in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RolloutMode {
    Enforce,
    Audit,
}

impl RolloutMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutMode::Enforce => "enforce",
            RolloutMode::Audit => "audit",
        }
    }

    fn parse(text: &str) -> RolloutMode {
        if text == "enforce" {
            RolloutMode::Enforce
        } else {
            RolloutMode::Audit
        }
    }
}

/// One entry of the rollout record: a collection of a group went to `mode` at `at`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rollout {
    pub group: String,
    /// `EXE`, `DLL`, `MSI`, `SCRIPT` or `APPX`.
    pub collection: String,
    pub mode: RolloutMode,
    /// The published version that went live (enforce only).
    pub version: Option<i64>,
    /// When it went live, RFC 3339 UTC.
    pub at: String,
    pub note: Option<String>,
    pub recorded_by: String,
    pub recorded_at: String,
}

/// What [`Workspace::record_rollout`] records: one entry per collection.
#[derive(Debug, Clone)]
pub struct NewRollout<'a> {
    pub group: &'a str,
    pub collections: &'a [String],
    pub mode: RolloutMode,
    pub version: Option<i64>,
    pub at: &'a str,
    pub note: Option<&'a str>,
    pub recorded_by: &'a str,
}

/// An alert about a group, kept once per (group, key) with its delivery state.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Alert {
    pub id: i64,
    pub group: String,
    /// What it is about, unique in the group (`app:203547b4aeb4ce0a`, `burst:2026-10-05T13`).
    pub key: String,
    /// `new_unexpected_app` or `burst`.
    pub kind: String,
    pub message: String,
    pub created_at: String,
    /// When the webhook took it; `None` while it is being retried.
    pub sent_at: Option<String>,
    pub attempts: i64,
    pub next_attempt_at: String,
    pub last_error: Option<String>,
}

/// Where and how often alerts go, as kept by `lockstep alerts set`. The workspace keeps the
/// text; the URL is checked by whoever sets it (`api::Webhook`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AlertConfig {
    pub webhook: String,
    pub interval_secs: u64,
    /// More unexpected blocks than this within `burst_period_secs` is a burst.
    pub burst_events: u64,
    pub burst_period_secs: u64,
    pub set_by: String,
    pub set_at: String,
}

/// The workspace of a data folder.
#[derive(Debug)]
pub struct Workspace {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl Workspace {
    /// Opens (or creates) `DATA/workspace.sqlite`, bringing its schema up to date.
    pub fn open(data_dir: &Path) -> Result<Workspace> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            Error::Invalid(format!(
                "{}: cannot create the data folder: {e}",
                data_dir.display()
            ))
        })?;
        Workspace::open_file(&data_dir.join(FILE))
    }

    /// Opens (or creates) the workspace file `path`.
    pub fn open_file(path: &Path) -> Result<Workspace> {
        let sqlite = |source| Error::Sqlite {
            path: path.to_owned(),
            cause: source,
        };
        let unreadable = |e: rusqlite::Error| Error::Unreadable {
            path: path.to_owned(),
            message: e.to_string(),
        };
        let conn = Connection::open(path).map_err(sqlite)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
        // Anything but a healthy SQLite database fails here, before a byte is written.
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(unreadable)?;
        if check != "ok" {
            return Err(Error::Unreadable {
                path: path.to_owned(),
                message: check,
            });
        }
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(unreadable)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sqlite)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(sqlite)?;
        let mut conn = conn;
        schema::migrate(&mut conn, path)?;
        Ok(Workspace {
            path: path.to_owned(),
            conn: Mutex::new(conn),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sqlite(&self, source: rusqlite::Error) -> Error {
        Error::Sqlite {
            path: self.path.clone(),
            cause: source,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records `decision` (one transaction: the version check and the new entry together).
    pub fn decide(&self, decision: NewDecision) -> Result<Decision> {
        if decision.app_id.trim().is_empty() {
            return Err(Error::Invalid("an app id is needed".into()));
        }
        if decision.verdict == Verdict::Allow && decision.rule_xml.is_none() {
            return Err(Error::Invalid(format!(
                "allowing {} needs the rule that allows it",
                decision.app_id
            )));
        }
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.sqlite(e))?;
        let current: Option<i64> = tx
            .query_row(
                "SELECT MAX(id) FROM decisions WHERE grp IS ?1 AND app_id = ?2",
                params![decision.scope.column(), decision.app_id],
                |r| r.get(0),
            )
            .map_err(|e| self.sqlite(e))?;
        if let Some(expected) = decision.expected_version
            && current.unwrap_or(0) != expected
        {
            return Err(Error::Conflict {
                app_id: decision.app_id.clone(),
                expected,
                current: current.unwrap_or(0),
            });
        }
        let now = now();
        let flagged = decision.flagged.join(",");
        tx.execute(
            "INSERT INTO decisions (grp, app_id, verdict, label, collection, rule_xml, granularity,
               flagged, note, decided_by, decided_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                decision.scope.column(),
                decision.app_id,
                decision.verdict.as_str(),
                decision.label,
                decision.collection,
                decision.rule_xml,
                decision.granularity,
                flagged,
                decision.note,
                decision.decided_by,
                now
            ],
        )
        .map_err(|e| self.sqlite(e))?;
        let version = tx.last_insert_rowid();
        tx.commit().map_err(|e| self.sqlite(e))?;
        Ok(Decision {
            version,
            scope: decision.scope,
            app_id: decision.app_id,
            verdict: decision.verdict,
            label: decision.label,
            collection: decision.collection,
            rule_xml: decision.rule_xml,
            granularity: decision.granularity,
            flagged: decision.flagged,
            note: decision.note,
            decided_by: decision.decided_by,
            decided_at: now,
        })
    }

    /// Every entry (of `scope`, or all), oldest first.
    pub fn history(&self, scope: Option<&Scope>) -> Result<Vec<Decision>> {
        self.decisions_where(scope, false)
    }

    /// The current decision on each app (of `scope`, or all): its latest entry.
    pub fn current_decisions(&self, scope: Option<&Scope>) -> Result<Vec<Decision>> {
        self.decisions_where(scope, true)
    }

    /// The decisions group `group` works with: its own, and the fleet's on apps it has not
    /// decided itself, by app id.
    pub fn decisions_for_group(&self, group: &str) -> Result<BTreeMap<String, Decision>> {
        let mut out: BTreeMap<String, Decision> = self
            .current_decisions(Some(&Scope::Fleet))?
            .into_iter()
            .map(|d| (d.app_id.clone(), d))
            .collect();
        for d in self.current_decisions(Some(&Scope::Group(group.to_owned())))? {
            out.insert(d.app_id.clone(), d);
        }
        Ok(out)
    }

    /// The current decision on `app_id` in `scope`.
    pub fn decision(&self, scope: &Scope, app_id: &str) -> Result<Option<Decision>> {
        Ok(self
            .current_decisions(Some(scope))?
            .into_iter()
            .find(|d| d.app_id == app_id))
    }

    fn decisions_where(&self, scope: Option<&Scope>, current_only: bool) -> Result<Vec<Decision>> {
        let latest = if current_only {
            "AND id IN (SELECT MAX(id) FROM decisions GROUP BY grp, app_id)"
        } else {
            ""
        };
        let (filter, group) = match scope {
            None => ("", None),
            Some(s) => ("AND grp IS ?1", s.column()),
        };
        let sql = format!(
            "SELECT id, grp, app_id, verdict, label, collection, rule_xml, granularity, flagged,
               note, decided_by, decided_at
             FROM decisions WHERE 1 = 1 {filter} {latest} ORDER BY id"
        );
        let conn = self.lock();
        let mut statement = conn.prepare(&sql).map_err(|e| self.sqlite(e))?;
        let read = |r: &rusqlite::Row<'_>| -> rusqlite::Result<Decision> {
            let verdict: String = r.get(3)?;
            let flagged: String = r.get(8)?;
            Ok(Decision {
                version: r.get(0)?,
                scope: Scope::from_column(r.get(1)?),
                app_id: r.get(2)?,
                verdict: Verdict::parse(&verdict).unwrap_or(Verdict::Defer),
                label: r.get(4)?,
                collection: r.get(5)?,
                rule_xml: r.get(6)?,
                granularity: r.get(7)?,
                flagged: flagged
                    .split(',')
                    .filter(|f| !f.is_empty())
                    .map(str::to_owned)
                    .collect(),
                note: r.get(9)?,
                decided_by: r.get(10)?,
                decided_at: r.get(11)?,
            })
        };
        let rows = if filter.is_empty() {
            statement.query_map([], read)
        } else {
            statement.query_map(params![group], read)
        }
        .map_err(|e| self.sqlite(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.sqlite(e))
    }

    /// Stores `xml` as the policy in force for `scope` (kept with its source, who and when;
    /// earlier imports stay in the history).
    pub fn import_policy(
        &self,
        scope: &Scope,
        xml: &str,
        source: &str,
        imported_by: &str,
    ) -> Result<StoredPolicy> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.sqlite(e))?;
        let now = now();
        tx.execute(
            "INSERT INTO policies (grp, xml, source, imported_by, imported_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![scope.column(), xml, source, imported_by, now],
        )
        .map_err(|e| self.sqlite(e))?;
        let version = tx.last_insert_rowid();
        tx.commit().map_err(|e| self.sqlite(e))?;
        Ok(StoredPolicy {
            version,
            scope: scope.clone(),
            xml: xml.to_owned(),
            source: source.to_owned(),
            imported_by: imported_by.to_owned(),
            imported_at: now,
        })
    }

    /// The policy last imported for `scope`.
    pub fn policy(&self, scope: &Scope) -> Result<Option<StoredPolicy>> {
        let conn = self.lock();
        conn.query_row(
            "SELECT id, xml, source, imported_by, imported_at FROM policies
             WHERE grp IS ?1 ORDER BY id DESC LIMIT 1",
            params![scope.column()],
            |r| {
                Ok(StoredPolicy {
                    version: r.get(0)?,
                    scope: scope.clone(),
                    xml: r.get(1)?,
                    source: r.get(2)?,
                    imported_by: r.get(3)?,
                    imported_at: r.get(4)?,
                })
            },
        )
        .optional()
        .map_err(|e| self.sqlite(e))
    }

    /// The policy in force for `group`: its own, else the fleet's.
    pub fn policy_for_group(&self, group: &str) -> Result<Option<StoredPolicy>> {
        match self.policy(&Scope::Group(group.to_owned()))? {
            Some(p) => Ok(Some(p)),
            None => self.policy(&Scope::Fleet),
        }
    }

    /// The groups with a policy of their own.
    pub fn groups_with_policies(&self) -> Result<Vec<String>> {
        let conn = self.lock();
        let mut statement = conn
            .prepare("SELECT DISTINCT grp FROM policies WHERE grp IS NOT NULL ORDER BY grp")
            .map_err(|e| self.sqlite(e))?;
        let rows = statement
            .query_map([], |r| r.get(0))
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.sqlite(e))
    }

    /// Freezes a group's candidate as its next version. When the latest version has the
    /// same content hash, nothing is stored and that version is returned (`new: false`):
    /// publishing twice is a no-op, not a second version.
    pub fn publish(&self, new: &NewVersion<'_>) -> Result<Published> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.sqlite(e))?;
        let latest = latest_version(&tx, new.group).map_err(|e| self.sqlite(e))?;
        if let Some(latest) = latest.filter(|v| v.content_hash == new.content_hash) {
            return Ok(Published {
                version: latest,
                new: false,
            });
        }
        let decisions_through: i64 = tx
            .query_row(
                "SELECT COALESCE(MAX(id), 0) FROM decisions WHERE grp IS ?1 OR grp IS NULL",
                params![new.group],
                |r| r.get(0),
            )
            .map_err(|e| self.sqlite(e))?;
        let version = PolicyVersion {
            group: new.group.to_owned(),
            version: latest_number(&tx, new.group).map_err(|e| self.sqlite(e))? + 1,
            xml: new.xml.to_owned(),
            content_hash: new.content_hash.to_owned(),
            decisions_through,
            note: new.note.map(str::to_owned),
            published_by: new.published_by.to_owned(),
            published_at: now(),
        };
        tx.execute(
            "INSERT INTO policy_versions (grp, version, xml, content_hash, decisions_through,
                note, published_by, published_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                version.group,
                version.version,
                version.xml,
                version.content_hash,
                version.decisions_through,
                version.note,
                version.published_by,
                version.published_at
            ],
        )
        .map_err(|e| self.sqlite(e))?;
        tx.commit().map_err(|e| self.sqlite(e))?;
        Ok(Published { version, new: true })
    }

    /// Records that `collections` of a group went to `mode` (all or none). Enforcing needs
    /// a published version of the group.
    pub fn record_rollout(&self, new: &NewRollout<'_>) -> Result<Vec<Rollout>> {
        if new.collections.is_empty() {
            return Err(Error::Invalid(
                "a rollout names at least one collection".into(),
            ));
        }
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.sqlite(e))?;
        match (new.mode, new.version) {
            (RolloutMode::Enforce, None) => {
                return Err(Error::Invalid(
                    "enforcing needs the published version that goes live (--version N)".into(),
                ));
            }
            (_, Some(version)) => {
                let published: bool = tx
                    .query_row(
                        "SELECT EXISTS (SELECT 1 FROM policy_versions WHERE grp = ?1 AND version = ?2)",
                        params![new.group, version],
                        |r| r.get(0),
                    )
                    .map_err(|e| self.sqlite(e))?;
                if !published {
                    return Err(Error::Invalid(format!(
                        "{} has no published version {version} (`lockstep policy versions --group {}` lists them)",
                        new.group, new.group
                    )));
                }
            }
            (RolloutMode::Audit, None) => {}
        }
        let recorded_at = now();
        let mut out = Vec::new();
        for collection in new.collections {
            tx.execute(
                "INSERT INTO rollouts (grp, collection, mode, version, at, note, recorded_by, recorded_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    new.group,
                    collection,
                    new.mode.as_str(),
                    new.version,
                    new.at,
                    new.note,
                    new.recorded_by,
                    recorded_at
                ],
            )
            .map_err(|e| self.sqlite(e))?;
            out.push(Rollout {
                group: new.group.to_owned(),
                collection: collection.clone(),
                mode: new.mode,
                version: new.version,
                at: new.at.to_owned(),
                note: new.note.map(str::to_owned),
                recorded_by: new.recorded_by.to_owned(),
                recorded_at: recorded_at.clone(),
            });
        }
        tx.commit().map_err(|e| self.sqlite(e))?;
        Ok(out)
    }

    /// Keeps an alert unless the group has one with this key: `true` when it is new.
    pub fn add_alert(&self, group: &str, key: &str, kind: &str, message: &str) -> Result<bool> {
        let conn = self.lock();
        let now = now();
        let added = conn
            .execute(
                "INSERT OR IGNORE INTO alerts (grp, key, kind, message, created_at, next_attempt_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                params![group, key, kind, message, now],
            )
            .map_err(|e| self.sqlite(e))?;
        Ok(added == 1)
    }

    /// Alerts not yet delivered whose next attempt is due, oldest first.
    pub fn due_alerts(&self) -> Result<Vec<Alert>> {
        self.alerts_where("sent_at IS NULL AND next_attempt_at <= ?1", &[&now()])
    }

    /// Every alert of `group`, oldest first.
    pub fn alerts(&self, group: &str) -> Result<Vec<Alert>> {
        self.alerts_where("grp = ?1", &[&group])
    }

    fn alerts_where(&self, condition: &str, values: &[&dyn rusqlite::ToSql]) -> Result<Vec<Alert>> {
        let conn = self.lock();
        let mut statement = conn
            .prepare(&format!(
                "SELECT id, grp, key, kind, message, created_at, sent_at, attempts, next_attempt_at,
                    last_error FROM alerts WHERE {condition} ORDER BY id"
            ))
            .map_err(|e| self.sqlite(e))?;
        let rows = statement
            .query_map(values, |r| {
                Ok(Alert {
                    id: r.get(0)?,
                    group: r.get(1)?,
                    key: r.get(2)?,
                    kind: r.get(3)?,
                    message: r.get(4)?,
                    created_at: r.get(5)?,
                    sent_at: r.get(6)?,
                    attempts: r.get(7)?,
                    next_attempt_at: r.get(8)?,
                    last_error: r.get(9)?,
                })
            })
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.sqlite(e))
    }

    /// Records the delivery of alert `id`.
    pub fn alert_delivered(&self, id: i64) -> Result<()> {
        let conn = self.lock();
        conn.execute(
            "UPDATE alerts SET sent_at = ?2, attempts = attempts + 1, last_error = NULL WHERE id = ?1",
            params![id, now()],
        )
        .map_err(|e| self.sqlite(e))?;
        Ok(())
    }

    /// Records a failed delivery of alert `id`, to be tried again after `retry_after`.
    pub fn alert_failed(
        &self,
        id: i64,
        error: &str,
        retry_after: std::time::Duration,
    ) -> Result<()> {
        let next = chrono::Utc::now()
            + chrono::Duration::from_std(retry_after).unwrap_or(chrono::Duration::hours(1));
        let next_attempt_at = next.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let conn = self.lock();
        conn.execute(
            "UPDATE alerts SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3 WHERE id = ?1",
            params![id, error, next_attempt_at],
        )
        .map_err(|e| self.sqlite(e))?;
        Ok(())
    }

    /// Keeps where alerts go, replacing what was kept; `set_at` is now. Returns what is kept.
    pub fn set_alert_config(
        &self,
        webhook: &str,
        interval_secs: u64,
        burst_events: u64,
        burst_period_secs: u64,
        set_by: &str,
    ) -> Result<AlertConfig> {
        let config = AlertConfig {
            webhook: webhook.to_owned(),
            interval_secs,
            burst_events,
            burst_period_secs,
            set_by: set_by.to_owned(),
            set_at: now(),
        };
        let as_sql = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        self.lock()
            .execute(
                "INSERT OR REPLACE INTO alert_settings
                    (id, webhook, interval_secs, burst_events, burst_period_secs, set_by, set_at)
                 VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    config.webhook,
                    as_sql(interval_secs),
                    as_sql(burst_events),
                    as_sql(burst_period_secs),
                    config.set_by,
                    config.set_at
                ],
            )
            .map_err(|e| self.sqlite(e))?;
        Ok(config)
    }

    /// Where alerts go, if `lockstep alerts set` said so.
    pub fn alert_config(&self) -> Result<Option<AlertConfig>> {
        let conn = self.lock();
        let mut statement = conn
            .prepare(
                "SELECT webhook, interval_secs, burst_events, burst_period_secs, set_by, set_at
                 FROM alert_settings WHERE id = 1",
            )
            .map_err(|e| self.sqlite(e))?;
        let mut rows = statement
            .query_map([], |r| {
                let count = |i: usize| r.get::<_, i64>(i).map(|n| n.max(0) as u64);
                Ok(AlertConfig {
                    webhook: r.get(0)?,
                    interval_secs: count(1)?,
                    burst_events: count(2)?,
                    burst_period_secs: count(3)?,
                    set_by: r.get(4)?,
                    set_at: r.get(5)?,
                })
            })
            .map_err(|e| self.sqlite(e))?;
        rows.next().transpose().map_err(|e| self.sqlite(e))
    }

    /// Keeps `identities` (an Active Directory import), replacing those with the same SID,
    /// all in one transaction. Returns how many identities the workspace then holds.
    pub fn import_identities(
        &self,
        identities: &[policy::identities::Identity],
        imported_from: &str,
        imported_by: &str,
    ) -> Result<usize> {
        let mut conn = self.lock();
        let at = now();
        let tx = conn.transaction().map_err(|e| self.sqlite(e))?;
        for i in identities {
            tx.execute(
                "INSERT OR REPLACE INTO identities
                    (sid, name, display_name, is_group, groups, imported_from, imported_by, imported_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    i.sid.to_ascii_uppercase(),
                    i.name,
                    i.display_name,
                    i.is_group,
                    i.groups.join(" "),
                    imported_from,
                    imported_by,
                    at
                ],
            )
            .map_err(|e| self.sqlite(e))?;
        }
        let count: i64 = tx
            .query_row("SELECT COUNT(*) FROM identities", [], |r| r.get(0))
            .map_err(|e| self.sqlite(e))?;
        tx.commit().map_err(|e| self.sqlite(e))?;
        Ok(count.max(0) as usize)
    }

    /// The imported identities, as a directory (empty before any import).
    pub fn directory(&self) -> Result<policy::identities::Directory> {
        let conn = self.lock();
        let mut statement = conn
            .prepare("SELECT sid, name, display_name, is_group, groups FROM identities")
            .map_err(|e| self.sqlite(e))?;
        let identities = statement
            .query_map([], |r| {
                let groups: String = r.get(4)?;
                Ok(policy::identities::Identity {
                    sid: r.get(0)?,
                    name: r.get(1)?,
                    display_name: r.get(2)?,
                    is_group: r.get(3)?,
                    groups: groups.split_whitespace().map(str::to_owned).collect(),
                })
            })
            .map_err(|e| self.sqlite(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.sqlite(e))?;
        Ok(policy::identities::Directory::from_identities(identities))
    }

    /// Forgets where alerts go (alerts already kept stay): `true` when something was kept.
    pub fn clear_alert_config(&self) -> Result<bool> {
        let removed = self
            .lock()
            .execute("DELETE FROM alert_settings", [])
            .map_err(|e| self.sqlite(e))?;
        Ok(removed > 0)
    }

    /// Every alert, oldest first.
    pub fn all_alerts(&self) -> Result<Vec<Alert>> {
        self.alerts_where("1", &[])
    }

    /// The groups with a rollout record.
    pub fn groups_with_rollouts(&self) -> Result<Vec<String>> {
        let conn = self.lock();
        let mut statement = conn
            .prepare("SELECT DISTINCT grp FROM rollouts ORDER BY grp")
            .map_err(|e| self.sqlite(e))?;
        let rows = statement
            .query_map([], |r| r.get(0))
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.sqlite(e))
    }

    /// The group's rollout record, in the order the changes went live.
    pub fn rollouts(&self, group: &str) -> Result<Vec<Rollout>> {
        let conn = self.lock();
        let mut statement = conn
            .prepare(
                "SELECT grp, collection, mode, version, at, note, recorded_by, recorded_at
                 FROM rollouts WHERE grp = ?1 ORDER BY at, id",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = statement
            .query_map(params![group], |r| {
                Ok(Rollout {
                    group: r.get(0)?,
                    collection: r.get(1)?,
                    mode: RolloutMode::parse(&r.get::<_, String>(2)?),
                    version: r.get(3)?,
                    at: r.get(4)?,
                    note: r.get(5)?,
                    recorded_by: r.get(6)?,
                    recorded_at: r.get(7)?,
                })
            })
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.sqlite(e))
    }

    /// The group's published versions, oldest first.
    pub fn versions(&self, group: &str) -> Result<Vec<PolicyVersion>> {
        let conn = self.lock();
        let mut statement = conn
            .prepare(&format!(
                "{VERSION_COLUMNS} WHERE grp = ?1 ORDER BY version"
            ))
            .map_err(|e| self.sqlite(e))?;
        let rows = statement
            .query_map(params![group], read_version)
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.sqlite(e))
    }

    /// Version `number` of the group, if published.
    pub fn version(&self, group: &str, number: i64) -> Result<Option<PolicyVersion>> {
        let conn = self.lock();
        conn.query_row(
            &format!("{VERSION_COLUMNS} WHERE grp = ?1 AND version = ?2"),
            params![group, number],
            read_version,
        )
        .optional()
        .map_err(|e| self.sqlite(e))
    }

    /// A copy of the whole workspace at `to`, taken while others may be writing (SQLite's
    /// online backup). `to` must not exist yet.
    pub fn backup(&self, to: &Path) -> Result<()> {
        if to.exists() {
            return Err(Error::Invalid(format!(
                "{} exists already: back up to a new file",
                to.display()
            )));
        }
        let conn = self.lock();
        conn.backup(
            rusqlite::MAIN_DB,
            to,
            None::<fn(rusqlite::backup::Progress)>,
        )
        .map_err(|source| Error::Sqlite {
            path: to.to_owned(),
            cause: source,
        })
    }
}

/// Now, as RFC 3339 UTC with microseconds.
fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Who is running this process, for the record: the OS user (`$USER`, `$USERNAME`,
/// `$LOGNAME`, else what `id -un` says).
pub fn os_user() -> String {
    ["USER", "USERNAME", "LOGNAME"]
        .into_iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.trim().is_empty()))
        .or_else(|| {
            std::process::Command::new("id")
                .arg("-un")
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                .filter(|u| !u.is_empty())
        })
        .unwrap_or_else(|| "unknown".into())
}

const VERSION_COLUMNS: &str = "SELECT grp, version, xml, content_hash, decisions_through, note,
    published_by, published_at FROM policy_versions";

fn read_version(r: &rusqlite::Row<'_>) -> rusqlite::Result<PolicyVersion> {
    Ok(PolicyVersion {
        group: r.get(0)?,
        version: r.get(1)?,
        xml: r.get(2)?,
        content_hash: r.get(3)?,
        decisions_through: r.get(4)?,
        note: r.get(5)?,
        published_by: r.get(6)?,
        published_at: r.get(7)?,
    })
}

fn latest_number(conn: &Connection, group: &str) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM policy_versions WHERE grp = ?1",
        params![group],
        |r| r.get(0),
    )
}

fn latest_version(conn: &Connection, group: &str) -> rusqlite::Result<Option<PolicyVersion>> {
    conn.query_row(
        &format!("{VERSION_COLUMNS} WHERE grp = ?1 ORDER BY version DESC LIMIT 1"),
        params![group],
        read_version,
    )
    .optional()
}
