//! What-if: every recorded execution re-evaluated under a policy, without the binaries.
//!
//! The store is scanned once for the distinct file identities (collection, signature,
//! version, hash, path, user); each is judged once by the [`Evaluator`] (not each event),
//! and the verdicts are registered as the `verdicts` table, which the app queries join.
//! Where several candidates are judged on the same events (readiness: one per group), the
//! events are first aggregated once into the [`EXECUTIONS`] table, and every candidate's
//! identities and rows are read from it (`Executions`).

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch, StringBuilder, UInt32Builder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::prelude::SessionContext;
use policy::{CollectionKind, Decision, Evaluator, FileFacts, Verdict};
use rayon::prelude::*;
use schema::{Outcome, sql_list};

use crate::app::app_hash_of;
use crate::report::applocker_outcomes_sql;
use crate::rows::Rows;
use crate::{Result, Window};

/// The table of verdicts the what-if queries join.
pub const VERDICTS: &str = "verdicts";
/// The names of the rules the verdicts point at by `rule_index` (each name once, however
/// many files a rule decides).
pub const VERDICT_RULES: &str = "verdict_rules";

/// The columns that identify a file execution for the evaluator.
const IDENTITY: [&str; 8] = [
    "collection",
    "publisher",
    "product",
    "binary_name",
    "binary_version",
    "file_hash",
    "file_path",
    "user_sid",
];

/// Where the what-if queries read the recorded executions from.
#[derive(Debug, Clone)]
pub(crate) enum Executions {
    /// Aggregated from `events` by each query that reads them (one question: one scan).
    Events {
        /// The events themselves, or their summary where it answers the same.
        rows: Rows,
        outcomes: Vec<Outcome>,
        window: Window,
        /// More SQL conditions on `events` (`AND computer IN (…)`, see
        /// [`HostGroups::scope_sql`](crate::inventory::HostGroups::scope_sql)).
        scope: String,
    },
    /// The [`EXECUTIONS`] table [`Executions::register`] computed once, narrowed to some
    /// outcomes and computers: many questions (readiness: one per group) on one scan.
    Registered {
        outcomes: Vec<Outcome>,
        scope: String,
    },
}

/// The table of executions `Executions::register` computes: one row per computer,
/// outcome and file identity, with its events, first and last time and newest version key.
pub const EXECUTIONS: &str = "executions";

impl Executions {
    /// The executions in `events` with `outcomes` in `window`, within `scope` (read from
    /// the summary when `ctx` has one that answers over `window`).
    pub(crate) fn of_events(
        ctx: &SessionContext,
        outcomes: &[Outcome],
        window: &Window,
        scope: &str,
    ) -> Executions {
        Executions::Events {
            rows: Rows::for_window(ctx, window),
            outcomes: outcomes.to_vec(),
            window: *window,
            scope: scope.to_owned(),
        }
    }

    /// Aggregates the executions with `outcomes` in `window` within `scope` once into the
    /// [`EXECUTIONS`] table; narrow it with [`Executions::narrowed`].
    pub(crate) async fn register(
        ctx: &SessionContext,
        outcomes: &[Outcome],
        window: &Window,
        scope: &str,
    ) -> Result<()> {
        let sql = Executions::of_events(ctx, outcomes, window, scope).rows_sql();
        let frame = ctx.sql(&sql).await?;
        let schema = frame.schema().inner().clone();
        let batches = frame.collect().await?;
        crate::engine::register_batches(ctx, EXECUTIONS, schema, batches).await
    }

    /// The rows of the registered [`EXECUTIONS`] with `outcomes` within `scope` (a scope
    /// of [`HostGroups::scope_sql`](crate::inventory::HostGroups::scope_sql): it names
    /// only `computer`).
    pub(crate) fn narrowed(outcomes: &[Outcome], scope: &str) -> Executions {
        Executions::Registered {
            outcomes: outcomes.to_vec(),
            scope: scope.to_owned(),
        }
    }

    /// One row per computer, outcome and identity: `computer, outcome,` the identity
    /// columns, `binary_version_key` (the newest), `events, first_seen, last_seen`.
    fn rows_sql(&self) -> String {
        let identity = IDENTITY.join(", ");
        match self {
            Executions::Events {
                rows,
                outcomes,
                window,
                scope,
            } => format!(
                r"SELECT computer, outcome, {identity},
                    MAX(binary_version_key) AS binary_version_key,
                    SUM({count}) AS events, MIN({first}) AS first_seen,
                    MAX({last}) AS last_seen
                  FROM {table}
                  WHERE {applocker} {window} {scope}
                  GROUP BY computer, outcome, {identity}",
                count = rows.count(),
                first = rows.first(),
                last = rows.last(),
                table = rows.table(),
                applocker = applocker_outcomes_sql(outcomes),
                window = rows.window_sql(window),
            ),
            Executions::Registered { outcomes, scope } => format!(
                "SELECT * FROM {EXECUTIONS} WHERE outcome IN {} {scope}",
                sql_list(outcomes)
            ),
        }
    }

    /// The distinct file identities (the identity columns).
    fn identities_sql(&self) -> String {
        let identity = IDENTITY.join(", ");
        match self {
            // Straight from the events: cheaper than distinct over the aggregate.
            Executions::Events {
                rows,
                outcomes,
                window,
                scope,
            } => format!(
                "SELECT DISTINCT {identity} FROM {} WHERE {} {} {scope}",
                rows.table(),
                applocker_outcomes_sql(outcomes),
                rows.window_sql(window)
            ),
            Executions::Registered { outcomes, scope } => format!(
                "SELECT DISTINCT {identity} FROM {EXECUTIONS} WHERE outcome IN {} {scope}",
                sql_list(outcomes)
            ),
        }
    }
}

/// Judges every distinct file identity of `executions` and registers the `verdicts` table
/// (identity columns, `decision`, `rule_index`, and `writable_place`: why an allowing path
/// rule is a bypass risk, see `Evaluator::writable_place_allowed`) and the `verdict_rules`
/// table (`rule_index`, `rule_name`). Returns the number judged.
///
/// The table is the distinct-identity batches themselves with the two verdict columns
/// appended (no copy of the identities), judged batch by batch on every core.
pub(crate) async fn register_verdicts(
    ctx: &SessionContext,
    evaluator: &Evaluator,
    executions: &Executions,
) -> Result<usize> {
    let sql = executions.identities_sql();
    let started = std::time::Instant::now();
    let frame = ctx.sql(&sql).await?;
    let identity_schema = frame.schema().inner().clone();
    let batches = frame.collect().await?;
    let scanned = started.elapsed();
    let mut fields: Vec<Field> = identity_schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("decision", DataType::Utf8, false));
    fields.push(Field::new("rule_index", DataType::UInt32, true));
    fields.push(Field::new("writable_place", DataType::Utf8, true));
    let schema = Arc::new(Schema::new(fields));
    let judged_schema = schema.clone();
    // Judging is CPU work for every core: on the blocking pool, not on a thread that
    // serves the runtime (a server answering other requests).
    let owned = evaluator.clone();
    let (judged_batches, judged) =
        tokio::task::spawn_blocking(move || judge(batches, &owned, &schema))
            .await
            .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))??;
    tracing::debug!(
        judged,
        scan_ms = scanned.as_millis() as u64,
        evaluate_ms = (started.elapsed() - scanned).as_millis() as u64,
        "verdicts"
    );
    crate::engine::register_batches(ctx, VERDICTS, judged_schema, judged_batches).await?;
    register_rule_names(ctx, evaluator).await?;
    Ok(judged)
}

/// The identity batches with each row's verdict appended, and the number judged.
fn judge(
    batches: Vec<RecordBatch>,
    evaluator: &Evaluator,
    schema: &Arc<Schema>,
) -> Result<(Vec<RecordBatch>, usize)> {
    let mut judged_batches = Vec::with_capacity(batches.len());
    let mut judged = 0;
    for batch in batches {
        let verdicts: Vec<(Verdict, Option<&str>)> = facts_of(&batch)?
            .par_iter()
            .map(|f| {
                let verdict = evaluator.evaluate(f);
                let place = evaluator.writable_place_allowed(f, &verdict);
                (verdict, place)
            })
            .collect();
        judged += verdicts.len();
        let mut decision = StringBuilder::new();
        let mut rule = UInt32Builder::new();
        let mut writable = StringBuilder::new();
        for (v, place) in &verdicts {
            decision.append_value(v.decision.as_str());
            rule.append_option(v.rule.map(|r| r.0));
            writable.append_option(*place);
        }
        let mut arrays = batch.columns().to_vec();
        arrays.push(Arc::new(decision.finish()));
        arrays.push(Arc::new(rule.finish()));
        arrays.push(Arc::new(writable.finish()));
        judged_batches.push(
            RecordBatch::try_new(schema.clone(), arrays)
                .map_err(datafusion::error::DataFusionError::from)?,
        );
    }
    Ok((judged_batches, judged))
}

/// Registers the `verdict_rules` table: each rule's index and name.
async fn register_rule_names(ctx: &SessionContext, evaluator: &Evaluator) -> Result<()> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("rule_index", DataType::UInt32, false),
        Field::new("rule_name", DataType::Utf8, false),
    ]));
    let mut index = UInt32Builder::new();
    let mut name = StringBuilder::new();
    for (i, rule) in evaluator.rules().enumerate() {
        index.append_value(i as u32);
        name.append_value(&rule.name);
    }
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(index.finish()), Arc::new(name.finish())],
    )
    .map_err(datafusion::error::DataFusionError::from)?;
    crate::engine::register_batches(ctx, VERDICT_RULES, schema, vec![batch]).await
}

/// The evaluator's view of each row of a batch of identity columns.
fn facts_of(batch: &RecordBatch) -> Result<Vec<FileFacts>> {
    let texts = (0..IDENTITY.len())
        .map(|i| cast(batch.column(i), &DataType::Utf8))
        .collect::<Result<Vec<_>, _>>()
        .map_err(datafusion::error::DataFusionError::from)?;
    let texts: Vec<_> = texts.iter().map(|a| a.as_string::<i32>()).collect();
    Ok((0..batch.num_rows())
        .map(|row| {
            let value = |i: usize| texts[i].is_valid(row).then(|| texts[i].value(row));
            FileFacts {
                collection: value(0).and_then(CollectionKind::parse),
                publisher: value(1).map(str::to_owned),
                product: value(2).map(str::to_owned),
                binary: value(3).map(str::to_owned),
                version: value(4).and_then(|v| v.parse().ok()),
                hash: value(5).map(str::to_owned),
                path: value(6).map(str::to_owned),
                user_sid: value(7).map(str::to_owned),
            }
        })
        .collect())
}

/// The fine rows (see `report::apps_sql`) of `executions`, joined with their verdicts;
/// `status` classifies each row, `decisions` keeps only those verdicts.
pub(crate) fn judged_fine_sql(
    executions: &Executions,
    status: &str,
    decisions: &[Decision],
) -> String {
    let keys: Vec<String> = IDENTITY
        .iter()
        .map(|c| format!("(f.{c} IS NOT DISTINCT FROM v.{c})"))
        .collect();
    format!(
        r"SELECT f.computer, {status} AS status, f.collection, f.publisher,
            f.product, f.binary_name,
            {app_hash} AS app_hash,
            f.file_path, f.user_sid, f.binary_version, f.binary_version_key,
            f.events, f.first_seen, f.last_seen, v.decision, r.rule_name, v.writable_place
          FROM ({rows}) f
          JOIN {VERDICTS} v ON {keys}
          LEFT JOIN {VERDICT_RULES} r ON v.rule_index = r.rule_index
          WHERE v.decision IN {decisions}",
        rows = executions.rows_sql(),
        decisions = sql_list(decisions),
        app_hash = app_hash_of("f"),
        keys = keys.join(" AND "),
    )
}
