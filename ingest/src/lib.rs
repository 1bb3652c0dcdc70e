//! `lockstep ingest`: EVTX files into the Parquet event store of `schema::Store`.
//!
//! - Reads files with the `evtx` crate (only `reader/` uses it), keeps AppLocker events
//!   (provider `Microsoft-Windows-AppLocker`, by name and event ID, never by file name) and
//!   counts the rest.
//! - Idempotent: rows are keyed by `(computer, channel, record_id, time)`; a key already in
//!   the store or earlier in the same ingest is counted as a duplicate and not stored again.
//! - Crash-safe: new rows go to a staging folder; files move into `events/` only when
//!   complete and synced, and become visible when the manifest is replaced atomically.
//!   One ingest at a time holds the store lock; a second one waits.
//! - Damaged chunks and records are reported (file, chunk, record) and skipped; the rest is
//!   stored. With `strict`, any damage stops the ingest before anything is stored.

mod batch;
pub mod collect;
mod commit;
mod compact;
mod event;
mod inputs;
mod reader;
mod record;
mod staging;
mod summary;
mod text;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use rayon::prelude::*;

pub use compact::{
    AUTO_COMPACT_SMALL_FILES, COMPACTED_FILE_ROWS, CompactSummary, SMALL_FILE_ROWS, compact,
    compact_if_needed,
};

use crate::batch::Row;
use crate::staging::StagingWriter;

/// Errors that stop an ingest. Input damage is not an error: it is reported in the summary.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: writing Parquet", path.display())]
    Parquet {
        path: PathBuf,
        source: parquet::errors::ParquetError,
    },
    #[error(transparent)]
    Store(#[from] schema::StoreError),
    /// `--strict` and some input was damaged or unreadable: nothing was stored.
    #[error(
        "{count} damaged or unreadable input(s) with --strict; nothing was stored (first: {first})"
    )]
    Strict { count: usize, first: String },
    #[error("no EVTX, event XML or JSON files found in the given paths")]
    NoInput,
}

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.to_owned(),
            source,
        }
    }

    pub(crate) fn parquet(path: &Path, source: parquet::errors::ParquetError) -> Error {
        Error::Parquet {
            path: path.to_owned(),
            source,
        }
    }
}

/// A damaged part of an input file that was skipped.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Damage {
    #[serde(serialize_with = "lossy_path")]
    pub file: PathBuf,
    /// Chunk number in the file (0-based), when known.
    pub chunk: Option<u64>,
    /// Record identifier, when known.
    pub record: Option<u64>,
    /// Line of a text-form file (event XML, JSON), 1-based.
    pub line: Option<u64>,
    pub message: String,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(chunk) = self.chunk {
            write!(f, ": chunk {chunk}")?;
        }
        if let Some(record) = self.record {
            write!(f, ": record {record}")?;
        }
        if let Some(line) = self.line {
            write!(f, ": line {line}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A path as JSON text, lossily where it is not UTF-8 (a file name that is not UTF-8 must
/// not make the summary of a committed ingest fail to serialise).
fn lossy_path<S: serde::Serializer>(path: &std::path::Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&path.to_string_lossy())
}

/// An input path that was not read at all.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SkippedInput {
    #[serde(serialize_with = "lossy_path")]
    pub path: PathBuf,
    pub reason: String,
}

/// What to ingest, and where.
#[derive(Debug, Clone)]
pub struct Options {
    pub data_dir: PathBuf,
    pub paths: Vec<PathBuf>,
    /// Any damage or unreadable input stops the ingest before anything is stored.
    pub strict: bool,
    /// Worker threads for parsing (0 = one per core).
    pub threads: usize,
}

/// Live counters for a progress bar.
#[derive(Debug, Default)]
pub struct Progress {
    pub files_total: AtomicU64,
    pub files_done: AtomicU64,
    pub bytes_total: AtomicU64,
    pub bytes_done: AtomicU64,
    /// AppLocker events decoded so far.
    pub records: AtomicU64,
}

/// What an ingest did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    #[serde(serialize_with = "lossy_path")]
    pub data_dir: PathBuf,
    pub ingest_id: String,
    pub files_read: u64,
    /// Files read per form (`EVTX`, `event XML`, `JSON`; `… (gzip)` when compressed).
    pub files_by_form: BTreeMap<String, u64>,
    pub bytes_read: u64,
    pub records_read: u64,
    /// AppLocker events read, per event ID (before de-duplication).
    pub applocker_events_by_id: BTreeMap<u16, u64>,
    /// Records of other providers (skipped).
    pub other_records: u64,
    pub rows_new: u64,
    /// Rows already in the store, or seen earlier in this ingest.
    pub rows_duplicate: u64,
    pub rows_in_store: u64,
    pub skipped_inputs: Vec<SkippedInput>,
    /// Files inside the given folders that are none of the input forms (READMEs, CSVs):
    /// ignored, not an error.
    pub ignored_non_evtx: u64,
    pub damaged: Vec<Damage>,
    pub elapsed_seconds: f64,
    pub records_per_second: f64,
    /// When the store had many small files after this ingest: the compaction that merged
    /// them ([`compact_if_needed`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compacted: Option<CompactSummary>,
}

impl Summary {
    /// True when some input was skipped or damaged (the CLI's partial exit status).
    pub fn is_partial(&self) -> bool {
        !self.skipped_inputs.is_empty() || !self.damaged.is_empty()
    }
}

/// Files above this size are parsed with every core (chunks in parallel); smaller files are
/// parsed one per core.
const BIG_FILE: u64 = 16 << 20;

/// Ingests `opts.paths` into `opts.data_dir`.
pub fn ingest(opts: &Options, progress: &Progress) -> Result<Summary, Error> {
    ingest_resuming(opts, progress, None)
}

/// Where a collector resumes each watched file: its committed position (`None` for a new or
/// replaced file, read from its start).
pub type Resume = BTreeMap<PathBuf, Option<schema::SourcePosition>>;

/// [`ingest`] for a collector: each file of `resume` is read on from its position (text
/// from the byte after the last complete record, EVTX past the last record id), a record
/// still being written is left for next time, and the new positions are committed in the
/// same manifest as the rows ([`schema::Manifest::sources`]).
pub fn ingest_resuming(
    opts: &Options,
    progress: &Progress,
    resume: Option<&Resume>,
) -> Result<Summary, Error> {
    let started = Instant::now();
    let store = schema::Store::new(&opts.data_dir);
    let inputs::Resolved {
        files,
        skipped: skipped_inputs,
        ignored,
    } = inputs::resolve(&opts.paths, store.root());
    if files.is_empty() && skipped_inputs.is_empty() {
        return Err(Error::NoInput);
    }
    if opts.strict && !skipped_inputs.is_empty() {
        let first = format!(
            "{}: {}",
            skipped_inputs[0].path.display(),
            skipped_inputs[0].reason
        );
        return Err(Error::Strict {
            count: skipped_inputs.len(),
            first,
        });
    }
    // Taken before reading: a file that grows meanwhile is seen as changed next time.
    let metas: Vec<Option<std::fs::Metadata>> = files
        .iter()
        .map(|f| std::fs::metadata(&f.path).ok())
        .collect();
    let sizes: Vec<u64> = metas
        .iter()
        .map(|m| m.as_ref().map_or(0, |m| m.len()))
        .collect();
    progress
        .files_total
        .store(files.len() as u64, Ordering::Relaxed);
    progress
        .bytes_total
        .store(sizes.iter().sum(), Ordering::Relaxed);

    let lock = commit::StoreLock::acquire(&store)?;
    let ingest_id = commit::new_ingest_id();
    let staging_dir = commit::prepare(&store, &lock, &ingest_id)?;
    let mut writer = StagingWriter::new(staging_dir.clone(), ingest_id.clone());
    writer.sources = files.iter().map(|f| f.path.display().to_string()).collect();

    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    } else {
        opts.threads
    };
    let starts: Vec<Option<Option<schema::SourcePosition>>> = files
        .iter()
        .map(|f| resume.and_then(|r| r.get(&f.path).cloned()))
        .collect();
    let read = read_all(
        &files,
        &starts,
        &sizes,
        threads,
        progress,
        &mut writer,
        &staging_dir,
    );
    let (stats, by_id) = match read {
        Ok(done) => done,
        Err(e) => {
            commit::abandon(&staging_dir);
            return Err(e);
        }
    };
    let damaged: Vec<Damage> = stats
        .iter()
        .flat_map(|s| s.damage.iter().cloned())
        .collect();
    if opts.strict && !damaged.is_empty() {
        commit::abandon(&staging_dir);
        return Err(Error::Strict {
            count: damaged.len(),
            first: damaged[0].to_string(),
        });
    }
    let in_input = writer.duplicates_in_input;
    let staged = match writer.finish() {
        Ok(staged) => staged,
        Err(e) => {
            commit::abandon(&staging_dir);
            return Err(e);
        }
    };
    let positions: BTreeMap<String, schema::SourcePosition> = (0..files.len())
        .filter(|&i| starts[i].is_some())
        .map(|i| {
            (
                files[i].path.display().to_string(),
                position(metas[i].as_ref(), &stats[i]),
            )
        })
        .collect();
    let outcome = commit::commit(&store, &lock, &ingest_id, &staging_dir, staged, positions)?;
    drop(lock);
    // The rows are committed; a compaction that fails leaves them as they are.
    let compacted = match compact_if_needed(&opts.data_dir) {
        Ok(done) => done,
        Err(e) => {
            tracing::warn!("compacting the store after the ingest: {e}");
            None
        }
    };

    let records_read: u64 = stats.iter().map(|s| s.records).sum();
    let elapsed = started.elapsed().as_secs_f64();
    Ok(Summary {
        data_dir: opts.data_dir.clone(),
        ingest_id,
        files_read: files.len() as u64,
        files_by_form: files.iter().fold(BTreeMap::new(), |mut by, f| {
            let gzip = if f.form.gzip { " (gzip)" } else { "" };
            *by.entry(format!("{}{gzip}", f.form.form.name()))
                .or_default() += 1;
            by
        }),
        bytes_read: sizes.iter().sum(),
        records_read,
        applocker_events_by_id: by_id,
        other_records: stats.iter().map(|s| s.other_records).sum(),
        rows_new: outcome.rows_new,
        rows_duplicate: in_input + outcome.rows_in_input_twice + outcome.rows_already_stored,
        rows_in_store: outcome.rows_in_store,
        skipped_inputs,
        ignored_non_evtx: ignored,
        damaged,
        elapsed_seconds: elapsed,
        records_per_second: records_read as f64 / elapsed.max(1e-9),
        compacted,
    })
}

/// Parses every file and feeds the staging writer on this thread. Big files are parsed one
/// after another with chunks in parallel; small files are parsed in parallel, one per core.
/// Where reading a file ended, for the manifest (`meta`: the file as it was before).
fn position(meta: Option<&std::fs::Metadata>, stats: &reader::FileStats) -> schema::SourcePosition {
    schema::SourcePosition {
        identity: meta.map_or((0, 0), file_identity),
        size: meta.map_or(0, |m| m.len()),
        modified_ns: meta
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as i64),
        offset: stats.consumed,
        last_record_id: stats.last_record_id,
        read_at: commit::unix_seconds(),
    }
}

/// A file's device and inode, to tell a replaced file under the same name.
pub fn file_identity(meta: &std::fs::Metadata) -> (u64, u64) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        (meta.dev(), meta.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        (0, 0)
    }
}

#[allow(clippy::too_many_arguments)]
fn read_all(
    files: &[inputs::Input],
    starts: &[Option<Option<schema::SourcePosition>>],
    sizes: &[u64],
    threads: usize,
    progress: &Progress,
    writer: &mut StagingWriter,
    scratch: &Path,
) -> Result<(Vec<reader::FileStats>, BTreeMap<u16, u64>), Error> {
    let (tx, rx) = mpsc::sync_channel::<(u32, Vec<event::AuditEvent>)>(threads * 8);
    let mut by_id: BTreeMap<u16, u64> = BTreeMap::new();
    let stats = std::thread::scope(|scope| {
        let parser = scope.spawn(move || {
            let read_one = |i: usize, threads: usize| {
                let tx = tx.clone();
                let send = |events: Vec<event::AuditEvent>| {
                    progress
                        .records
                        .fetch_add(events.len() as u64, Ordering::Relaxed);
                    let _ = tx.send((i as u32, events));
                };
                let input = &files[i];
                // A collector's file: from where the last read ended.
                let live = starts[i].is_some();
                let from = starts[i].clone().flatten();
                let result = match input.form.form {
                    text::InputForm::Evtx if input.form.gzip => {
                        reader::read_gzipped(&input.path, scratch, i, threads, send)
                    }
                    text::InputForm::Evtx => reader::read_events(
                        &input.path,
                        threads,
                        from.and_then(|p| p.last_record_id),
                        send,
                    ),
                    _ => text::read_events(
                        &input.path,
                        input.form,
                        live.then(|| from.map_or(0, |p| p.offset)),
                        send,
                    ),
                };
                progress.files_done.fetch_add(1, Ordering::Relaxed);
                progress.bytes_done.fetch_add(sizes[i], Ordering::Relaxed);
                result
            };
            let (big, small): (Vec<usize>, Vec<usize>) =
                (0..files.len()).partition(|&i| sizes[i] >= BIG_FILE);
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("thread pool");
            let mut stats: Vec<(usize, Result<reader::FileStats, Error>)> = big
                .into_iter()
                .map(|i| (i, pool.install(|| read_one(i, threads))))
                .collect();
            stats.extend(pool.install(|| {
                small
                    .into_par_iter()
                    .map(|i| (i, read_one(i, 1)))
                    .collect::<Vec<_>>()
            }));
            stats.sort_by_key(|(i, _)| *i);
            stats
                .into_iter()
                .map(|(_, s)| s)
                .collect::<Result<Vec<_>, Error>>()
        });
        for (source, events) in rx {
            for e in &events {
                *by_id.entry(e.event_id).or_default() += 1;
            }
            writer.push(events.into_iter().map(|event| Row { event, source }))?;
        }
        parser.join().expect("parser thread panicked")
    })?;
    Ok((stats, by_id))
}
