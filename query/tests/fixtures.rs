//! Helpers: a store with the sample fleet, a context over it, hand-made event tables.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

pub(crate) fn sample_logs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-logs")
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The sample fleet ingested into a temp store, registered in a fresh context.
pub(crate) async fn sample_context() -> (tempfile::TempDir, SessionContext) {
    let data = tempfile::tempdir().unwrap();
    let opts = ingest::Options {
        data_dir: data.path().to_owned(),
        paths: vec![sample_logs()],
        strict: false,
        threads: 2,
    };
    ingest::ingest(&opts, &ingest::Progress::default()).unwrap();
    let ctx = SessionContext::new();
    query::register_store(&ctx, &schema::Store::new(data.path()))
        .await
        .unwrap();
    (data, ctx)
}

pub(crate) fn sample_inventory() -> query::Inventory {
    query::Inventory::from_path(&sample_logs().join("inventory.csv")).unwrap()
}

/// The options the sample fleet was generated with (from its manifest).
pub(crate) fn sample_options() -> generate::Options {
    generate::Options::from_manifest(&sample_logs().join("manifest.json")).unwrap()
}

/// A hand-made event row; unset columns are null (or empty for required text).
#[derive(Default, Clone)]
pub(crate) struct Row {
    pub(crate) time_us: i64,
    pub(crate) computer: &'static str,
    pub(crate) event_id: i32,
    pub(crate) outcome: &'static str,
    pub(crate) collection: Option<&'static str>,
    pub(crate) user: Option<&'static str>,
    pub(crate) file_path: Option<&'static str>,
    pub(crate) file_hash: Option<&'static str>,
    pub(crate) publisher: Option<&'static str>,
    pub(crate) product: Option<&'static str>,
    pub(crate) binary: Option<&'static str>,
    pub(crate) version: Option<&'static str>,
}

/// A context whose `events` table holds exactly `rows`.
pub(crate) fn context_with(rows: &[Row]) -> SessionContext {
    let schema = schema::event_schema();
    let text = |f: &dyn Fn(&Row) -> Option<String>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<StringArray>())
    };
    let mut columns: Vec<ArrayRef> = Vec::new();
    for field in schema.fields() {
        let column: ArrayRef = match field.name().as_str() {
            "time" => Arc::new(
                TimestampMicrosecondArray::from(rows.iter().map(|r| r.time_us).collect::<Vec<_>>())
                    .with_timezone("UTC"),
            ),
            "event_id" => Arc::new(Int32Array::from(
                rows.iter().map(|r| r.event_id).collect::<Vec<_>>(),
            )),
            "record_id" => Arc::new(Int64Array::from((0..rows.len() as i64).collect::<Vec<_>>())),
            "process_id" | "logon_id" => Arc::new(Int64Array::from(vec![None::<i64>; rows.len()])),
            "computer" => text(&|r| Some(r.computer.to_owned())),
            "computer_key" => text(&|r| Some(r.computer.split('.').next().unwrap().to_lowercase())),
            "outcome" => text(&|r| Some(r.outcome.to_owned())),
            "collection" => text(&|r| r.collection.map(str::to_owned)),
            "policy_kind" => text(&|_| Some("applocker".to_owned())),
            "user_sid" => text(&|r| r.user.map(str::to_owned)),
            "file_path" => text(&|r| r.file_path.map(str::to_owned)),
            "file_hash" => text(&|r| r.file_hash.map(str::to_owned)),
            "publisher" => text(&|r| r.publisher.map(str::to_owned)),
            "product" => text(&|r| r.product.map(str::to_owned)),
            "binary_name" => text(&|r| r.binary.map(str::to_owned)),
            "binary_version" => text(&|r| r.version.map(str::to_owned)),
            "binary_version_key" => text(&|r| {
                r.version.map(|v| {
                    v.split('.')
                        .map(|p| format!("{:010}", p.parse::<u64>().unwrap()))
                        .collect::<Vec<_>>()
                        .join(".")
                })
            }),
            "fqbn" => text(&|r| {
                Some(
                    r.publisher
                        .map_or("-".to_owned(), |p| format!("{p}\\x\\y\\z")),
                )
            }),
            _ if field.is_nullable() => text(&|_| None::<String>),
            name => text(&|_| Some(name.to_owned())),
        };
        columns.push(column);
    }
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let ctx = SessionContext::new();
    ctx.register_table(
        query::EVENTS,
        Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap()),
    )
    .unwrap();
    ctx
}

/// A decision as the workspace would hold it.
pub(crate) fn decided(app_id: &str, verdict: workspace::Verdict) -> workspace::Decision {
    workspace::Decision {
        version: 1,
        scope: workspace::Scope::Group("finance".into()),
        app_id: app_id.to_owned(),
        verdict,
        label: app_id.to_owned(),
        collection: Some("EXE".into()),
        rule_xml: None,
        granularity: None,
        flagged: Vec::new(),
        note: None,
        decided_by: "tester".into(),
        decided_at: "2026-12-01T00:00:00Z".into(),
    }
}
