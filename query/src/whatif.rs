//! What-if: every recorded execution re-evaluated under a policy, without the binaries.
//!
//! The store is scanned once for the distinct file identities (collection, signature,
//! version, hash, path, user); each is judged once by the [`Evaluator`] (not each event),
//! and the verdicts are registered as the `verdicts` table, which the app queries join.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use policy::{CollectionKind, Evaluator, FileFacts};

use crate::{Result, Window};

/// The table of verdicts the what-if queries join.
pub const VERDICTS: &str = "verdicts";

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

/// Judges every distinct file identity with `outcomes` in the window and registers the
/// `verdicts` table (identity columns, `decision`, `rule_name`). Returns the number judged.
pub async fn register_verdicts(
    ctx: &SessionContext,
    evaluator: &Evaluator,
    window: &Window,
    outcomes: &str,
) -> Result<usize> {
    let columns = IDENTITY.join(", ");
    let sql = format!(
        "SELECT DISTINCT {columns} FROM events
         WHERE policy_kind = 'applocker' AND outcome IN {outcomes} {}",
        window.sql()
    );
    let batches = ctx.sql(&sql).await?.collect().await?;
    let mut builders: Vec<StringBuilder> = (0..IDENTITY.len() + 2)
        .map(|_| StringBuilder::new())
        .collect();
    let mut judged = 0;
    for batch in &batches {
        let texts = (0..IDENTITY.len())
            .map(|i| cast(batch.column(i), &DataType::Utf8))
            .collect::<Result<Vec<_>, _>>()
            .map_err(datafusion::error::DataFusionError::from)?;
        let texts: Vec<_> = texts.iter().map(|a| a.as_string::<i32>()).collect();
        for row in 0..batch.num_rows() {
            let value = |i: usize| texts[i].is_valid(row).then(|| texts[i].value(row));
            let facts = FileFacts {
                collection: value(0).and_then(CollectionKind::parse),
                publisher: value(1).map(str::to_owned),
                product: value(2).map(str::to_owned),
                binary: value(3).map(str::to_owned),
                version: value(4).and_then(|v| v.parse().ok()),
                hash: value(5).map(str::to_owned),
                path: value(6).map(str::to_owned),
                user_sid: value(7).map(str::to_owned),
            };
            let verdict = evaluator.evaluate(&facts);
            for (i, builder) in builders.iter_mut().take(IDENTITY.len()).enumerate() {
                builder.append_option(value(i));
            }
            builders[IDENTITY.len()].append_value(serde_decision(verdict.decision));
            builders[IDENTITY.len() + 1].append_option(verdict.rule_name);
            judged += 1;
        }
    }
    let fields: Vec<Field> = IDENTITY
        .iter()
        .map(|c| Field::new(*c, DataType::Utf8, true))
        .chain([
            Field::new("decision", DataType::Utf8, false),
            Field::new("rule_name", DataType::Utf8, true),
        ])
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let arrays = builders
        .into_iter()
        .map(|mut b| Arc::new(b.finish()) as _)
        .collect();
    let batch = RecordBatch::try_new(schema.clone(), arrays)
        .map_err(datafusion::error::DataFusionError::from)?;
    if ctx.table_exist(VERDICTS)? {
        ctx.deregister_table(VERDICTS)?;
    }
    ctx.register_table(
        VERDICTS,
        Arc::new(MemTable::try_new(schema, vec![vec![batch]])?),
    )?;
    Ok(judged)
}

/// The decision as the `verdicts` table spells it.
fn serde_decision(d: policy::Decision) -> &'static str {
    match d {
        policy::Decision::Allowed => "allowed",
        policy::Decision::NotCovered => "not_covered",
        policy::Decision::Denied => "denied",
        policy::Decision::ImplicitDeny => "implicit_deny",
    }
}

/// The fine rows (see `report::apps_sql`) of executions with `outcomes`, joined with their
/// verdicts; `status` classifies each row, `decisions` keeps only those verdicts.
pub(crate) fn judged_fine_sql(
    outcomes: &str,
    window: &Window,
    status: &str,
    decisions: &str,
) -> String {
    let keys: Vec<String> = IDENTITY
        .iter()
        .map(|c| format!("(f.{c} IS NOT DISTINCT FROM v.{c})"))
        .collect();
    format!(
        r"SELECT f.computer, {status} AS status, f.collection, f.publisher,
            f.product, f.binary_name,
            CASE WHEN f.publisher IS NULL THEN f.file_hash END AS app_hash,
            f.file_path, f.user_sid, f.binary_version, f.binary_version_key,
            f.events, f.first_seen, f.last_seen, v.decision, v.rule_name
          FROM (
            SELECT computer, outcome, {identity}, MAX(binary_version_key) AS binary_version_key,
              SUM(1) AS events, MIN(time) AS first_seen, MAX(time) AS last_seen
            FROM events
            WHERE policy_kind = 'applocker' AND outcome IN {outcomes} {window}
            GROUP BY computer, outcome, {identity}) f
          JOIN {VERDICTS} v ON {keys}
          WHERE v.decision IN {decisions}",
        identity = IDENTITY.join(", "),
        window = window.sql(),
        keys = keys.join(" AND "),
    )
}
