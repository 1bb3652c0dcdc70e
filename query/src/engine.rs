//! Where the queries run: in this process (the default) or on an Apache DataFusion Ballista
//! cluster. The query functions take whichever context [`Engine::context`] makes; the only
//! other difference is how a table computed here (the what-if verdicts) reaches the engine:
//! see [`register_batches`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::datasource::MemTable;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::prelude::{ParquetReadOptions, SessionContext};

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
            Engine::Local => crate::local_context(memory_mb),
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
    use datafusion::prelude::SessionConfig;

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
    let scratch = Scratch::new(store)?;
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

/// A folder in the store for tables computed here that a distributed engine must read:
/// `DATA/scratch/<this context>/`, made at the first table (a context that needs none, such
/// as one API request for a report, touches no file) and removed with the context.
#[derive(Debug)]
struct Scratch {
    root: PathBuf,
    dir: PathBuf,
    files: AtomicU64,
}

impl Scratch {
    #[cfg_attr(not(feature = "ballista"), allow(dead_code))]
    fn new(store: &Store) -> Result<Scratch> {
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
        })
    }

    /// Writes `batches` as a new Parquet file and returns its path.
    fn write(&self, name: &str, schema: &SchemaRef, batches: &[RecordBatch]) -> Result<PathBuf> {
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
        let parquet = |e: datafusion::parquet::errors::ParquetError| {
            Error::Engine(datafusion::error::DataFusionError::from(e))
        };
        let mut writer = ArrowWriter::try_new(file, schema.clone(), None).map_err(parquet)?;
        for batch in batches {
            writer.write(batch).map_err(parquet)?;
        }
        writer.close().map_err(parquet)?;
        Ok(path)
    }
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
    ctx.state().config().get_extension::<Scratch>().is_some()
}

/// Registers `batches` (computed in this process) as the table `name`, replacing one of
/// that name: in memory on a local context; on a distributed one, as a Parquet file in the
/// store's scratch folder, which the executors read like the events (an in-memory table
/// cannot be sent to them).
pub(crate) async fn register_batches(
    ctx: &SessionContext,
    name: &str,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<()> {
    if ctx.table_exist(name)? {
        ctx.deregister_table(name)?;
    }
    match ctx.state().config().get_extension::<Scratch>() {
        None => {
            ctx.register_table(name, Arc::new(MemTable::try_new(schema, vec![batches])?))?;
        }
        Some(scratch) => {
            let path = scratch.write(name, &schema, &batches)?;
            let options = ParquetReadOptions::default().schema(&schema);
            let frame = ctx
                .read_parquet(path.display().to_string(), options)
                .await?;
            ctx.register_table(name, frame.into_view())?;
        }
    }
    Ok(())
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
