//! What-if: every recorded execution re-evaluated under a policy, without the binaries.
//!
//! The executions (one row per computer, outcome and file identity, aggregated from the
//! events or their summary) stream from the engine; each row is judged by the
//! [`Evaluator`] where it is (not each event), and the rows the question keeps, with their
//! verdicts, become the [`JUDGED`] table its app queries read. Where several candidates are
//! judged on the same events (readiness: one per group), the events are first aggregated
//! once into the [`EXECUTIONS`] table, and every candidate's rows are read from it
//! (`Executions`).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, RecordBatch, StringBuilder,
};
use datafusion::arrow::compute::{cast, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use futures_util::StreamExt;
use policy::{CollectionKind, Decision, Evaluator, FileFacts, Verdict};
use rayon::prelude::*;
use schema::{Outcome, sql_list};

use crate::app::app_hash_of;
use crate::engine::TableBuilder;
use crate::inventory::HostGroups;
use crate::report::applocker_outcomes_sql;
use crate::rows::Rows;
use crate::{Result, Window};

/// The judged executions a what-if keeps (`register_judged`), which its app queries read.
pub const JUDGED: &str = "judged";

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
        crate::engine::register_frame(ctx, EXECUTIONS, ctx.sql(&sql).await?).await
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
}

/// What a what-if keeps of the judged executions: the rows with one of `decisions`, and,
/// with `writable`, the rows a path rule on a user-writable place allows (a bypass risk,
/// see `Evaluator::writable_place_allowed`). Without `allowed_today`, executions allowed
/// today (outcome `allowed`) are dropped before they are judged.
#[derive(Debug, Clone)]
pub(crate) struct Keep {
    pub(crate) decisions: Vec<Decision>,
    pub(crate) writable: bool,
    pub(crate) allowed_today: bool,
}

impl Keep {
    fn keeps(&self, decision: Decision, writable_place: Option<&str>) -> bool {
        self.decisions.contains(&decision) || (self.writable && writable_place.is_some())
    }
}

/// Which candidate judges each execution.
#[derive(Clone, Copy)]
pub(crate) enum Judging<'a> {
    /// One candidate judges every row.
    One(&'a Evaluator, &'a Keep),
    /// Each group's candidate judges the rows of its computers (readiness: every group in
    /// one pass over the executions); rows of computers in no listed group are dropped.
    PerGroup {
        hosts: &'a HostGroups,
        candidates: &'a [(&'a str, &'a Evaluator, Keep)],
    },
}

impl Judging<'_> {
    /// The candidates' evaluators.
    pub(crate) fn evaluators(&self) -> Vec<&Evaluator> {
        match self {
            Judging::One(evaluator, _) => vec![*evaluator],
            Judging::PerGroup { candidates, .. } => candidates.iter().map(|c| c.1).collect(),
        }
    }
}

/// Judges every row of `executions` (one per computer, outcome and file identity) under
/// its candidate in `judging`, and registers the rows that candidate's [`Keep`] keeps as
/// the [`JUDGED`] table: the rows' columns with `decision`, `rule_name` (the deciding rule,
/// if any) and `writable_place` appended. Returns the number of rows read.
///
/// The rows stream from the engine and are judged batch by batch on every core; the kept
/// rows go to a [`TableBuilder`](crate::engine::TableBuilder), inside the memory pool or
/// to the scratch folder. Neither the rows nor their verdicts are ever held whole, and no
/// join puts verdicts back on the rows: each row is judged where it is.
pub(crate) async fn register_judged(
    ctx: &SessionContext,
    judging: Judging<'_>,
    executions: &Executions,
) -> Result<usize> {
    let started = std::time::Instant::now();
    let frame = ctx.sql(&executions.rows_sql()).await?;
    let judge = Arc::new(Judge::new(judging, frame.schema().inner())?);
    let mut table = TableBuilder::new(ctx, JUDGED, judge.schema.clone())?;
    let mut stream = frame.execute_stream().await?;
    let (mut judged, mut kept) = (0, 0);
    let mut evaluating = std::time::Duration::ZERO;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        judged += batch.num_rows();
        let began = std::time::Instant::now();
        // Judging is CPU work for every core: on the blocking pool, not on a thread that
        // serves the runtime (a server answering other requests).
        let judge = judge.clone();
        let out = tokio::task::spawn_blocking(move || judge.batch(&batch))
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))??;
        evaluating += began.elapsed();
        kept += out.num_rows();
        table.push(out)?;
    }
    table.register(ctx).await?;
    tracing::debug!(
        judged,
        kept,
        total_ms = started.elapsed().as_millis() as u64,
        evaluate_ms = evaluating.as_millis() as u64,
        "what-if judged"
    );
    Ok(judged)
}

/// One candidate as a [`Judge`] holds it.
struct Candidate {
    evaluator: Evaluator,
    keep: Keep,
    /// The rules' names, by the index a verdict gives.
    rule_names: Vec<String>,
}

impl Candidate {
    fn new(evaluator: &Evaluator, keep: &Keep) -> Candidate {
        Candidate {
            evaluator: evaluator.clone(),
            keep: keep.clone(),
            rule_names: evaluator.rules().map(|r| r.name.clone()).collect(),
        }
    }
}

/// What a row gets: its verdict and writable place, or nothing (dropped unjudged).
type Judged = Option<(Verdict, Option<&'static str>)>;

/// Judges batches of execution rows ([`Executions::rows_sql`]'s columns).
struct Judge {
    candidates: Vec<Candidate>,
    /// Each computer's candidate (as an index into `candidates`); `None`: the first judges
    /// every row.
    candidate_of: Option<HashMap<String, usize>>,
    /// Where each [`IDENTITY`] column, `computer` and `outcome` are in the rows.
    identity: [usize; IDENTITY.len()],
    computer: usize,
    outcome: usize,
    /// The rows' schema with the verdict columns appended.
    schema: SchemaRef,
}

impl Judge {
    fn new(judging: Judging<'_>, rows: &SchemaRef) -> Result<Judge> {
        let column = |name: &str| rows.index_of(name).map_err(DataFusionError::from);
        let mut identity = [0; IDENTITY.len()];
        for (slot, name) in identity.iter_mut().zip(IDENTITY) {
            *slot = column(name)?;
        }
        let mut fields: Vec<Field> = rows.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.push(Field::new("decision", DataType::Utf8, true));
        fields.push(Field::new("rule_name", DataType::Utf8, true));
        fields.push(Field::new("writable_place", DataType::Utf8, true));
        let (candidates, candidate_of) = match judging {
            Judging::One(evaluator, keep) => (vec![Candidate::new(evaluator, keep)], None),
            Judging::PerGroup { hosts, candidates } => {
                let index: HashMap<&str, usize> = candidates
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.0, i))
                    .collect();
                let of = hosts
                    .hosts
                    .iter()
                    .filter_map(|h| Some((h.computer.clone(), *index.get(h.group.as_str())?)))
                    .collect();
                let candidates = candidates.iter().map(|c| Candidate::new(c.1, &c.2));
                (candidates.collect(), Some(of))
            }
        };
        Ok(Judge {
            candidates,
            candidate_of,
            identity,
            computer: column("computer")?,
            outcome: column("outcome")?,
            schema: Arc::new(Schema::new(fields)),
        })
    }

    /// The candidate of each row of `batch`, if any judges it.
    fn candidates_of(&self, batch: &RecordBatch) -> Result<Vec<Option<&Candidate>>> {
        let text = |i: usize| cast(batch.column(i), &DataType::Utf8);
        let outcomes = text(self.outcome).map_err(DataFusionError::from)?;
        let outcomes = outcomes.as_string::<i32>();
        let computers = match self.candidate_of {
            Some(_) => Some(text(self.computer).map_err(DataFusionError::from)?),
            None => None,
        };
        let computers = computers.as_ref().map(|c| c.as_string::<i32>());
        Ok((0..batch.num_rows())
            .map(|row| {
                let i = match (&self.candidate_of, computers) {
                    (Some(of), Some(computers)) => *of.get(computers.value(row))?,
                    _ => 0,
                };
                let candidate = &self.candidates[i];
                let allowed = outcomes.value(row) == Outcome::Allowed.as_str();
                (candidate.keep.allowed_today || !allowed).then_some(candidate)
            })
            .collect())
    }

    /// The kept rows of `batch`, with their verdicts.
    fn batch(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let candidates = self.candidates_of(batch)?;
        let identities = self.identities(batch)?;
        let verdicts: Vec<Judged> = (0..batch.num_rows())
            .into_par_iter()
            .map(|row| {
                let evaluator = &candidates[row]?.evaluator;
                let facts = identities.facts(row);
                let verdict = evaluator.evaluate(&facts);
                let place = evaluator.writable_place_allowed(&facts, &verdict);
                Some((verdict, place))
            })
            .collect();
        let mut keep = BooleanBuilder::with_capacity(verdicts.len());
        let mut decision = StringBuilder::new();
        let mut rule = StringBuilder::new();
        let mut writable = StringBuilder::new();
        for (judged, candidate) in verdicts.iter().zip(&candidates) {
            let (Some((v, place)), Some(candidate)) = (judged, candidate) else {
                keep.append_value(false);
                decision.append_null();
                rule.append_null();
                writable.append_null();
                continue;
            };
            keep.append_value(candidate.keep.keeps(v.decision, *place));
            decision.append_value(v.decision.as_str());
            rule.append_option(v.rule.map(|r| candidate.rule_names[r.0 as usize].as_str()));
            writable.append_option(*place);
        }
        let mut arrays = batch.columns().to_vec();
        arrays.push(Arc::new(decision.finish()));
        arrays.push(Arc::new(rule.finish()));
        arrays.push(Arc::new(writable.finish()));
        let judged =
            RecordBatch::try_new(self.schema.clone(), arrays).map_err(DataFusionError::from)?;
        let kept = filter_record_batch(&judged, &keep.finish()).map_err(DataFusionError::from)?;
        Ok(compact(kept))
    }

    /// The identity columns of `batch` as text.
    fn identities(&self, batch: &RecordBatch) -> Result<Identities> {
        let texts = self
            .identity
            .iter()
            .map(|&i| cast(batch.column(i), &DataType::Utf8))
            .collect::<Result<Vec<_>, _>>()
            .map_err(DataFusionError::from)?;
        Ok(Identities(texts))
    }
}

/// The [`IDENTITY`] columns of a batch, as `Utf8` arrays in that order.
struct Identities(Vec<ArrayRef>);

impl Identities {
    /// The evaluator's view of `row`.
    fn facts(&self, row: usize) -> FileFacts {
        let value = |i: usize| {
            let text = self.0[i].as_string::<i32>();
            text.is_valid(row).then(|| text.value(row))
        };
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
    }
}

/// `batch` without the text it no longer points at: a filtered string view still holds
/// every value of the batch it came from, and a kept table would hold (and be charged for)
/// all of them.
fn compact(batch: RecordBatch) -> RecordBatch {
    let columns = batch
        .columns()
        .iter()
        .map(|c| match c.data_type() {
            DataType::Utf8View => Arc::new(c.as_string_view().gc()) as ArrayRef,
            DataType::BinaryView => Arc::new(c.as_binary_view().gc()) as ArrayRef,
            _ => c.clone(),
        })
        .collect();
    RecordBatch::try_new(batch.schema(), columns).unwrap_or(batch)
}

/// The fine rows (see `report::apps_sql`) of the [`JUDGED`] table; `status` (SQL over its
/// columns, such as `outcome` and `decision`) classifies each row.
pub(crate) fn judged_fine_sql(status: &str) -> String {
    format!(
        r"SELECT computer, {status} AS status, collection, publisher, product, binary_name,
            {app_hash} AS app_hash, file_path, user_sid, binary_version, binary_version_key,
            events, first_seen, last_seen, decision, rule_name, writable_place
          FROM {JUDGED}",
        app_hash = app_hash_of(JUDGED),
    )
}
