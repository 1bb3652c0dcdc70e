//! Where the queries run: in this process (the default) or on an Apache DataFusion Ballista
//! cluster. The query functions take whichever context [`Engine::context`] makes; the only
//! other difference is how a table computed here (the judged executions of a what-if)
//! reaches the engine: see [`TableBuilder`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::datasource::{MemTable, TableProvider, TableType};
use datafusion::error::DataFusionError;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryLimit, MemoryReservation};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::Expr;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{DataFrame, ParquetReadOptions, SessionConfig, SessionContext};
use futures_util::StreamExt;

use crate::{Error, Result, Store};

/// The port a Ballista scheduler listens on unless told otherwise.
pub const BALLISTA_DEFAULT_PORT: u16 = 50050;

/// Where the queries run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Engine {
    /// In this process (DataFusion), with a bounded memory pool.
    #[default]
    Local,
    /// On the Ballista scheduler at `host:port`; its executors read the store's files by
    /// the same paths, so the store must be on storage they all see (docs/scaling-out.md).
    Ballista { host: String, port: u16 },
}

impl Engine {
    /// A context for the queries over `store` (registered by [`crate::register_store`]).
    ///
    /// `memory_mb` bounds a local engine; a Ballista cluster's memory is its executors'.
    pub async fn context(&self, memory_mb: usize, store: &Store) -> Result<SessionContext> {
        match self {
            Engine::Local => local_context(memory_mb, Some(Scratch::new(store, false)?)),
            Engine::Ballista { host, port } => ballista_context(host, *port, store).await,
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Engine::Local => f.write_str("local"),
            Engine::Ballista { host, port } => write!(f, "ballista://{host}:{port}"),
        }
    }
}

impl FromStr for Engine {
    type Err = Error;

    /// `local` or `ballista://HOST[:PORT]` (port 50050 when left out).
    fn from_str(text: &str) -> Result<Engine> {
        let bad = |message: String| Error::BadParameter {
            name: "engine",
            message,
        };
        if text == "local" {
            return Ok(Engine::Local);
        }
        let Some(address) = text.strip_prefix("ballista://") else {
            return Err(bad(format!(
                "`{text}`: expected `local` or `ballista://HOST:PORT`"
            )));
        };
        let address = address.trim_end_matches('/');
        let (host, port) = match address.rsplit_once(':') {
            // A bracketed IPv6 address without a port, such as `[::1]`.
            Some((_, tail)) if tail.ends_with(']') => (address, BALLISTA_DEFAULT_PORT),
            Some((host, port)) => {
                let port = port.parse().map_err(|_| {
                    bad(format!(
                        "`{text}`: the port `{port}` is not a number from 1 to 65535"
                    ))
                })?;
                (host, port)
            }
            None => (address, BALLISTA_DEFAULT_PORT),
        };
        if host.is_empty() || host.contains(['/', '?', '#', '@']) || port == 0 {
            return Err(bad(format!(
                "`{text}`: expected `ballista://HOST:PORT`, such as ballista://scheduler:50050"
            )));
        }
        if !cfg!(feature = "ballista") {
            return Err(bad(format!(
                "`{text}`: this lockstep was built without Ballista support; build it with \
                 `cargo build --release --features ballista` (docs/scaling-out.md)"
            )));
        }
        Ok(Engine::Ballista {
            host: host.to_owned(),
            port,
        })
    }
}

#[cfg(feature = "ballista")]
async fn ballista_context(host: &str, port: u16, store: &Store) -> Result<SessionContext> {
    use ballista::prelude::{SessionConfigExt, SessionContextExt};
    use datafusion::execution::SessionStateBuilder;

    // Ballista connects lazily, at the first query; an address that does not answer is
    // better said now, and plainly.
    let address = format!("{host}:{port}");
    let connect = tokio::net::TcpStream::connect(address.as_str());
    let unreachable = |source| Error::Unreachable {
        address: address.clone(),
        source,
    };
    match tokio::time::timeout(std::time::Duration::from_secs(10), connect).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(unreachable(e)),
        Err(_) => return Err(unreachable(std::io::ErrorKind::TimedOut.into())),
    }
    let scratch = Scratch::new(store, true)?;
    let config = SessionConfig::new_with_ballista()
        .with_information_schema(false)
        .with_extension(Arc::new(scratch));
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .build();
    Ok(SessionContext::remote_with_state(&format!("df://{host}:{port}"), state).await?)
}

#[cfg(not(feature = "ballista"))]
async fn ballista_context(_host: &str, _port: u16, _store: &Store) -> Result<SessionContext> {
    // `Engine::from_str` refuses Ballista addresses in this build; this is for a caller
    // that built the variant by hand.
    Err(Error::BadParameter {
        name: "engine",
        message: "this lockstep was built without Ballista support".into(),
    })
}

/// An in-process context using every core within `memory_mb` MiB; with `scratch`, a table
/// computed here that does not fit in what is left of that budget goes to disk.
pub(crate) fn local_context(memory_mb: usize, scratch: Option<Scratch>) -> Result<SessionContext> {
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_limit(memory_mb.max(64) * 1024 * 1024, 1.0)
        .build_arc()?;
    let mut config = SessionConfig::new().with_information_schema(false);
    if let Some(scratch) = scratch {
        config = config.with_extension(Arc::new(scratch));
    }
    Ok(SessionContext::new_with_config_rt(config, runtime))
}

/// A folder in the store for tables computed here that do not stay in this process's
/// memory: all of them on a distributed engine (its executors read them like the events),
/// and on a local one those past half of its memory pool. `DATA/scratch/<this context>/`,
/// made at the first table (a context that needs none, such as one API request for a
/// report, touches no file) and removed with the context.
#[derive(Debug)]
pub(crate) struct Scratch {
    root: PathBuf,
    dir: PathBuf,
    files: AtomicU64,
    /// Whether the plans run elsewhere: every computed table is written here.
    distributed: bool,
}

impl Scratch {
    pub(crate) fn new(store: &Store, distributed: bool) -> Result<Scratch> {
        let root = std::path::absolute(store.scratch_dir()).map_err(|e| Error::Io {
            path: store.scratch_dir(),
            source: e,
        })?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let dir = root.join(format!("{}-{nanos}", std::process::id()));
        Ok(Scratch {
            root,
            dir,
            files: AtomicU64::new(0),
            distributed,
        })
    }

    /// A new Parquet file for the table `name`, written as its batches come.
    fn create(&self, name: &str, schema: &SchemaRef) -> Result<ScratchFile> {
        let n = self.files.fetch_add(1, Ordering::Relaxed);
        if n == 0 {
            remove_stale(&self.root);
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::Io {
            path: self.dir.clone(),
            source: e,
        })?;
        let path = self.dir.join(format!("{name}-{n}.parquet"));
        let io = |e: std::io::Error| Error::Io {
            path: path.clone(),
            source: e,
        };
        let file = std::fs::File::create(&path).map_err(io)?;
        let writer = ArrowWriter::try_new(file, schema.clone(), None).map_err(parquet_error)?;
        Ok(ScratchFile { path, writer })
    }
}

/// A table's Parquet file in the scratch folder, being written.
struct ScratchFile {
    path: PathBuf,
    writer: ArrowWriter<std::fs::File>,
}

impl ScratchFile {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.writer.write(batch).map_err(parquet_error)
    }

    fn close(self) -> Result<PathBuf> {
        self.writer.close().map_err(parquet_error)?;
        Ok(self.path)
    }
}

fn parquet_error(e: datafusion::parquet::errors::ParquetError) -> Error {
    Error::Engine(datafusion::error::DataFusionError::from(e))
}

/// A scratch folder older than this was left by a run that was killed (a context lives for
/// one command or one API request).
const STALE_SCRATCH: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Removes the scratch folders of killed runs.
fn remove_stale(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let age = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok());
        if age.is_some_and(|age| age > STALE_SCRATCH) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.files.load(Ordering::Relaxed) == 0 {
            return;
        }
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            tracing::warn!(dir = %self.dir.display(), "could not remove the scratch folder: {e}");
        }
    }
}

/// Whether `ctx` runs its plans elsewhere (made by [`Engine::context`] for Ballista).
pub(crate) fn is_distributed(ctx: &SessionContext) -> bool {
    scratch_of(ctx).is_some_and(|s| s.distributed)
}

fn scratch_of(ctx: &SessionContext) -> Option<Arc<Scratch>> {
    ctx.state().config().get_extension::<Scratch>()
}

/// Registers `batches` (computed in this process) as the table `name`, replacing one of
/// that name (see [`TableBuilder`]).
pub(crate) async fn register_batches(
    ctx: &SessionContext,
    name: &str,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<()> {
    let mut table = TableBuilder::new(ctx, name, schema)?;
    for batch in batches {
        table.push(batch)?;
    }
    table.register(ctx).await
}

/// Registers the rows of `frame` (a query of `ctx`) as the table `name`, as they come (the
/// answer is never held whole beside the table); see [`TableBuilder`].
pub(crate) async fn register_frame(
    ctx: &SessionContext,
    name: &str,
    frame: DataFrame,
) -> Result<()> {
    let schema = frame.schema().inner().clone();
    let mut stream = frame.execute_stream().await?;
    let mut table = TableBuilder::new(ctx, name, schema)?;
    while let Some(batch) = stream.next().await {
        table.push(batch?)?;
    }
    table.register(ctx).await
}

/// A table computed in this process (the executions a what-if judges, its judged rows),
/// built batch by batch and registered in the context's engine, replacing one of that name.
///
/// On a local context it stays in memory as long as the context's memory pool has room for
/// it (it is reserved there for as long as it is registered, so `--memory-mb` counts it
/// beside the queries' own memory); past that it is written to the scratch folder and read
/// from there. On a distributed context it is always written there: an in-memory table
/// cannot be sent to the executors. A local context without a scratch folder
/// ([`crate::local_context`]) says plainly that the table does not fit.
pub(crate) struct TableBuilder {
    name: String,
    schema: SchemaRef,
    scratch: Option<Arc<Scratch>>,
    held: Vec<RecordBatch>,
    reservation: MemoryReservation,
    /// The most this table holds in memory: half the pool, so that the queries over it
    /// keep room for their own work.
    held_limit: usize,
    file: Option<ScratchFile>,
}

impl TableBuilder {
    /// A builder for the table `name`; a table of that name is deregistered now, so that
    /// its share of the pool is free for the new one.
    pub(crate) fn new(ctx: &SessionContext, name: &str, schema: SchemaRef) -> Result<TableBuilder> {
        if ctx.table_exist(name)? {
            ctx.deregister_table(name)?;
        }
        let pool = &ctx.runtime_env().memory_pool;
        let held_limit = match pool.memory_limit() {
            MemoryLimit::Finite(bytes) => bytes / 2,
            MemoryLimit::Infinite | MemoryLimit::Unknown => usize::MAX,
        };
        Ok(TableBuilder {
            name: name.to_owned(),
            schema,
            scratch: scratch_of(ctx),
            held: Vec::new(),
            reservation: MemoryConsumer::new(format!("lockstep table {name}")).register(pool),
            held_limit,
            file: None,
        })
    }

    /// Adds `batch` (of the builder's schema) to the table.
    pub(crate) fn push(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if let Some(file) = &mut self.file {
            return file.write(&batch);
        }
        let distributed = self.scratch.as_ref().is_some_and(|s| s.distributed);
        let size = batch.get_array_memory_size();
        let refused = if distributed {
            String::new()
        } else if self.reservation.size() + size > self.held_limit {
            format!(
                "it would take more than half of the pool ({} MB)",
                self.held_limit / 500_000
            )
        } else {
            match self.reservation.try_grow(size) {
                Ok(()) => {
                    self.held.push(batch);
                    return Ok(());
                }
                Err(e) => e.to_string(),
            }
        };
        let Some(scratch) = &self.scratch else {
            return Err(Error::Engine(DataFusionError::ResourcesExhausted(format!(
                "the computed table `{}` ({} MB so far) does not fit in the memory pool, and \
                 this context has no scratch folder to write it to: {refused}",
                self.name,
                (self.reservation.size() + size) / 1_000_000
            ))));
        };
        let mut file = scratch.create(&self.name, &self.schema)?;
        for held in self.held.drain(..) {
            file.write(&held)?;
        }
        file.write(&batch)?;
        if !distributed {
            tracing::debug!(
                table = self.name,
                held_mb = (self.reservation.size() + size) / 1_000_000,
                "a computed table is past the memory pool: written to the scratch folder"
            );
        }
        self.reservation.free();
        self.file = Some(file);
        Ok(())
    }

    /// Registers the table in `ctx` (the context the builder was made for).
    pub(crate) async fn register(self, ctx: &SessionContext) -> Result<()> {
        if ctx.table_exist(&self.name)? {
            ctx.deregister_table(&self.name)?;
        }
        let distributed = self.scratch.as_ref().is_some_and(|s| s.distributed);
        let file = match (self.file, distributed, &self.scratch) {
            (Some(file), _, _) => Some(file),
            // Written even when empty: the executors must find the table.
            (None, true, Some(scratch)) => Some(scratch.create(&self.name, &self.schema)?),
            (None, _, _) => None,
        };
        match file {
            Some(file) => {
                let path = file.close()?;
                let options = ParquetReadOptions::default().schema(&self.schema);
                let frame = ctx
                    .read_parquet(path.display().to_string(), options)
                    .await?;
                ctx.register_table(&self.name, frame.into_view())?;
            }
            None => {
                let table = MemTable::try_new(self.schema, vec![self.held])?;
                ctx.register_table(
                    &self.name,
                    Arc::new(HeldTable {
                        table,
                        _reservation: self.reservation,
                    }),
                )?;
            }
        }
        Ok(())
    }
}

/// An in-memory table that keeps its share of the memory pool reserved while registered.
#[derive(Debug)]
struct HeldTable {
    table: MemTable,
    _reservation: MemoryReservation,
}

#[async_trait::async_trait]
impl TableProvider for HeldTable {
    fn schema(&self) -> SchemaRef {
        self.table.schema()
    }

    fn table_type(&self) -> TableType {
        self.table.table_type()
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        self.table.scan(state, projection, filters, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_parse_and_print_back() {
        assert_eq!("local".parse::<Engine>().unwrap(), Engine::Local);
        assert_eq!(Engine::Local.to_string(), "local");
        for (text, host, port) in [
            ("ballista://scheduler:50051", "scheduler", 50051),
            ("ballista://10.0.0.5", "10.0.0.5", 50050),
            ("ballista://[::1]:7000/", "[::1]", 7000),
            ("ballista://[::1]", "[::1]", 50050),
        ] {
            let parsed = text.parse::<Engine>();
            if cfg!(feature = "ballista") {
                let engine = parsed.unwrap_or_else(|e| panic!("{text}: {e}"));
                let expected = Engine::Ballista {
                    host: host.into(),
                    port,
                };
                assert_eq!(engine, expected);
                assert_eq!(engine.to_string(), format!("ballista://{host}:{port}"));
            } else {
                let e = parsed
                    .expect_err("a build without the feature refuses")
                    .to_string();
                assert!(e.contains("--features ballista"), "{e}");
            }
        }
    }

    #[test]
    fn scratch_folders_of_killed_runs_are_removed_after_a_day() {
        let root = tempfile::tempdir().unwrap();
        let (old, recent) = (root.path().join("1-1"), root.path().join("2-2"));
        for dir in [&old, &recent] {
            std::fs::create_dir(dir).unwrap();
            std::fs::write(dir.join("verdicts-0.parquet"), b"x").unwrap();
        }
        let two_days_ago = std::time::SystemTime::now() - 2 * STALE_SCRATCH;
        std::fs::File::open(&old)
            .unwrap()
            .set_modified(two_days_ago)
            .unwrap();
        remove_stale(root.path());
        assert!(!old.exists(), "a folder untouched for two days is removed");
        assert!(
            recent.join("verdicts-0.parquet").exists(),
            "a live run's folder stays"
        );
    }

    /// A local context whose pool has `bytes`, with a scratch folder in `store` if given.
    fn context_with_pool(bytes: usize, store: Option<&Store>) -> SessionContext {
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(bytes, 1.0)
            .build_arc()
            .unwrap();
        let mut config = SessionConfig::new();
        if let Some(store) = store {
            config = config.with_extension(Arc::new(Scratch::new(store, false).unwrap()));
        }
        SessionContext::new_with_config_rt(config, runtime)
    }

    /// `n` batches of 1,000 rows: a number and a 100-character text each.
    fn batches(n: u32) -> (SchemaRef, Vec<RecordBatch>) {
        use datafusion::arrow::array::{StringArray, UInt32Array};
        use datafusion::arrow::datatypes::{DataType, Field, Schema};
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::UInt32, false),
            Field::new("text", DataType::Utf8, false),
        ]));
        let batches = (0..n)
            .map(|b| {
                let numbers: Vec<u32> = (b * 1000..(b + 1) * 1000).collect();
                let texts: Vec<String> = numbers.iter().map(|i| format!("{i:0100}")).collect();
                RecordBatch::try_new(
                    schema.clone(),
                    vec![
                        Arc::new(UInt32Array::from(numbers)),
                        Arc::new(StringArray::from(texts)),
                    ],
                )
                .unwrap()
            })
            .collect();
        (schema, batches)
    }

    async fn read_back(ctx: &SessionContext) -> Vec<RecordBatch> {
        let frame = ctx.sql("SELECT * FROM t ORDER BY n").await.unwrap();
        frame.collect().await.unwrap()
    }

    fn scratch_files(store: &Store) -> usize {
        walk(&store.scratch_dir())
    }

    fn walk(dir: &Path) -> usize {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return 0;
        };
        entries
            .flatten()
            .map(|e| match e.path().is_dir() {
                true => walk(&e.path()),
                false => 1,
            })
            .sum()
    }

    #[tokio::test]
    async fn a_table_within_half_the_pool_is_held_in_it_while_registered() {
        let data = tempfile::tempdir().unwrap();
        let store = Store::new(data.path());
        let ctx = context_with_pool(64 << 20, Some(&store));
        let (schema, input) = batches(10);
        register_batches(&ctx, "t", schema, input.clone())
            .await
            .unwrap();
        let pool = ctx.runtime_env().memory_pool.clone();
        let held: usize = input.iter().map(|b| b.get_array_memory_size()).sum();
        assert_eq!(pool.reserved(), held, "the table is charged to the pool");
        assert_eq!(scratch_files(&store), 0, "nothing is written");
        let expected = datafusion::arrow::compute::concat_batches(&input[0].schema(), &input);
        let got = read_back(&ctx).await;
        let got = datafusion::arrow::compute::concat_batches(&got[0].schema(), &got);
        assert_eq!(got.unwrap(), expected.unwrap());
        let (schema, again) = batches(10);
        register_batches(&ctx, "t", schema, again).await.unwrap();
        assert_eq!(
            pool.reserved(),
            held,
            "a table replaced gives its share back first"
        );
        ctx.deregister_table("t").unwrap();
        assert_eq!(pool.reserved(), 0, "deregistering frees the table's share");
    }

    #[tokio::test]
    async fn a_table_past_half_the_pool_goes_to_the_scratch_folder_and_reads_back_equal() {
        let data = tempfile::tempdir().unwrap();
        let store = Store::new(data.path());
        // About 26 MB of rows against a 32 MB pool (the sort that reads them back needs
        // some of it): past half of the pool after a few batches.
        let ctx = context_with_pool(32 << 20, Some(&store));
        let (schema, input) = batches(200);
        let mut table = TableBuilder::new(&ctx, "t", schema).unwrap();
        for batch in input.clone() {
            table.push(batch).unwrap();
        }
        table.register(&ctx).await.unwrap();
        assert_eq!(scratch_files(&store), 1, "one file in the scratch folder");
        assert_eq!(ctx.runtime_env().memory_pool.reserved(), 0, "none held");
        let rows = |batches: &[RecordBatch]| {
            let all = datafusion::arrow::compute::concat_batches(&batches[0].schema(), batches);
            let all = all.unwrap();
            // The file's text comes back as a view; compare the values.
            let text = datafusion::arrow::compute::cast(all.column(1), &DataType::Utf8).unwrap();
            (all.column(0).clone(), text)
        };
        use datafusion::arrow::datatypes::DataType;
        assert_eq!(rows(&read_back(&ctx).await), rows(&input));
        drop(ctx);
        assert_eq!(scratch_files(&store), 0, "the folder goes with the context");
    }

    #[tokio::test]
    async fn a_table_past_the_pool_without_a_scratch_folder_is_refused_plainly() {
        let ctx = context_with_pool(2 << 20, None);
        let (schema, input) = batches(20);
        let Err(Error::Engine(e)) = register_batches(&ctx, "t", schema, input).await else {
            panic!("a table past the pool is refused")
        };
        let e = e.to_string();
        assert!(e.contains("the computed table `t`"), "{e}");
        assert!(e.contains("does not fit in the memory pool"), "{e}");
        assert!(e.contains("no scratch folder"), "{e}");
        assert!(!ctx.table_exist("t").unwrap(), "nothing half-registered");
    }

    #[test]
    fn bad_engines_are_refused_with_the_expected_form() {
        for text in [
            "",
            "Local",
            "ballista:/x:1",
            "http://scheduler:50050",
            "ballista://",
            "ballista://:50050",
            "ballista://host:port",
            "ballista://host:0",
            "ballista://host:70000",
            "ballista://user@host:1",
        ] {
            let e = text.parse::<Engine>().unwrap_err().to_string();
            assert!(e.starts_with("invalid engine: `"), "{text}: {e}");
            assert!(e.contains("ballista://"), "{text}: {e}");
        }
    }
}
