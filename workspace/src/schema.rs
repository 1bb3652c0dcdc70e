//! The workspace's tables and how a database gets them: numbered migrations, each applied
//! once, in one transaction with its row in `migrations`.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior, params};

use crate::{Error, Result};

/// The schema this build writes and reads.
pub const SCHEMA_VERSION: u32 = 6;

/// Migration N turns schema N-1 into schema N.
const MIGRATIONS: [&str; SCHEMA_VERSION as usize] = [
    // 1: decisions and policies, both append-only. `grp` NULL means the whole fleet.
    "CREATE TABLE decisions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        grp TEXT,
        app_id TEXT NOT NULL,
        verdict TEXT NOT NULL CHECK (verdict IN ('allow', 'block', 'defer')),
        label TEXT NOT NULL,
        collection TEXT,
        rule_xml TEXT,
        granularity TEXT,
        flagged TEXT NOT NULL DEFAULT '',
        note TEXT,
        decided_by TEXT NOT NULL,
        decided_at TEXT NOT NULL,
        CHECK (verdict <> 'allow' OR rule_xml IS NOT NULL)
     );
     CREATE INDEX decisions_by_app ON decisions (grp, app_id, id);
     CREATE TABLE policies (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        grp TEXT,
        xml TEXT NOT NULL,
        source TEXT NOT NULL,
        imported_by TEXT NOT NULL,
        imported_at TEXT NOT NULL
     );
     CREATE INDEX policies_by_group ON policies (grp, id);",
    // 2: published versions of each group's candidate, numbered per group, immutable.
    "CREATE TABLE policy_versions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        grp TEXT NOT NULL,
        version INTEGER NOT NULL CHECK (version >= 1),
        xml TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        decisions_through INTEGER NOT NULL,
        note TEXT,
        published_by TEXT NOT NULL,
        published_at TEXT NOT NULL,
        UNIQUE (grp, version)
     );
     CREATE TRIGGER policy_versions_are_immutable BEFORE UPDATE ON policy_versions
        BEGIN SELECT RAISE(ABORT, 'a published policy version cannot be changed'); END;
     CREATE TRIGGER policy_versions_are_kept BEFORE DELETE ON policy_versions
        BEGIN SELECT RAISE(ABORT, 'a published policy version cannot be deleted'); END;",
    // 3: the rollout record: when a group's collection went to enforce (with the version
    // that went live) or back to audit. Append-only; the latest entry per collection is its
    // state.
    "CREATE TABLE rollouts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        grp TEXT NOT NULL,
        collection TEXT NOT NULL,
        mode TEXT NOT NULL CHECK (mode IN ('enforce', 'audit')),
        version INTEGER,
        at TEXT NOT NULL,
        note TEXT,
        recorded_by TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        CHECK (mode <> 'enforce' OR version IS NOT NULL)
     );
     CREATE INDEX rollouts_by_group ON rollouts (grp, at, id);
     CREATE TRIGGER rollouts_are_immutable BEFORE UPDATE ON rollouts
        BEGIN SELECT RAISE(ABORT, 'a rollout entry cannot be changed'); END;
     CREATE TRIGGER rollouts_are_kept BEFORE DELETE ON rollouts
        BEGIN SELECT RAISE(ABORT, 'a rollout entry cannot be deleted'); END;",
    // 4: alerts on unexpected blocks, each once per (group, key), with their delivery.
    "CREATE TABLE alerts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        grp TEXT NOT NULL,
        key TEXT NOT NULL,
        kind TEXT NOT NULL,
        message TEXT NOT NULL,
        created_at TEXT NOT NULL,
        sent_at TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        last_error TEXT,
        UNIQUE (grp, key)
     );",
    // 5: where alerts go (`lockstep alerts set`), one row; `serve --alert-webhook` overrides.
    "CREATE TABLE alert_settings (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        webhook TEXT NOT NULL,
        interval_secs INTEGER NOT NULL CHECK (interval_secs >= 1),
        burst_events INTEGER NOT NULL CHECK (burst_events >= 1),
        burst_period_secs INTEGER NOT NULL CHECK (burst_period_secs >= 3600),
        set_by TEXT NOT NULL,
        set_at TEXT NOT NULL
     );",
    // 6: names for SIDs and group memberships (`lockstep identities import`); an import
    // replaces the identities it names, the later one wins.
    "CREATE TABLE identities (
        sid TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        display_name TEXT,
        is_group INTEGER NOT NULL CHECK (is_group IN (0, 1)),
        groups TEXT NOT NULL,
        imported_from TEXT NOT NULL,
        imported_by TEXT NOT NULL,
        imported_at TEXT NOT NULL
     );",
];

/// Brings `conn` to [`SCHEMA_VERSION`]; refuses a database of a newer schema or one that is
/// not a workspace.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let sqlite = |source| Error::Sqlite {
        path: path.to_owned(),
        cause: source,
    };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sqlite)?;
    let tables: Vec<String> = {
        let mut statement = tx
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .map_err(sqlite)?;
        let rows = statement.query_map([], |r| r.get(0)).map_err(sqlite)?;
        rows.collect::<rusqlite::Result<_>>().map_err(sqlite)?
    };
    if !tables.is_empty() && !tables.iter().any(|t| t == "migrations") {
        return Err(Error::Unreadable {
            path: path.to_owned(),
            message: format!(
                "an SQLite database with other tables ({})",
                tables.join(", ")
            ),
        });
    }
    tx.execute(
        "CREATE TABLE IF NOT EXISTS migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
        [],
    )
    .map_err(sqlite)?;
    let current: u32 = tx
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM migrations",
            [],
            |r| r.get(0),
        )
        .map_err(sqlite)?;
    if current > SCHEMA_VERSION {
        return Err(Error::Newer {
            path: path.to_owned(),
            found: current,
            supported: SCHEMA_VERSION,
        });
    }
    for version in current + 1..=SCHEMA_VERSION {
        tx.execute_batch(MIGRATIONS[version as usize - 1])
            .map_err(sqlite)?;
        tx.execute(
            "INSERT INTO migrations (version, applied_at) VALUES (?1, ?2)",
            params![version, crate::now()],
        )
        .map_err(sqlite)?;
    }
    tx.commit().map_err(sqlite)
}
