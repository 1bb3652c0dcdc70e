//! Compaction: many small event files (continuous collection, API uploads) into a few
//! large ones, sorted by computer then time in row groups as ingest writes them, with their
//! de-duplication keys merged. The same commit protocol as ingest (`commit.rs`): under the
//! store lock, outputs staged, moved into `events/`, then one atomic manifest replacement.
//! The files replaced stay on disk, listed as retired, for `Manifest::RETIRE_GRACE_SECS`,
//! so a query planned before the swap still reads them; a later ingest or compaction
//! deletes them. A `kill -9` at any step leaves the store as before or as after.

use std::fs::File;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::{Array, RecordBatch, TimestampMicrosecondArray};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use schema::{ManifestFile, RetiredFile, Store, columns};

use crate::Error;
use crate::commit::{self, StoreLock};
use crate::staging::{KeyStream, ROW_GROUP_ROWS, StagedFile, write_keys};

/// A file with fewer rows than this is small.
pub const SMALL_FILE_ROWS: u64 = ROW_GROUP_ROWS as u64;
/// Rows of one compacted file at most: bounds the memory of a compaction (the rows of one
/// output are sorted in memory), about 150 MB.
pub const COMPACTED_FILE_ROWS: u64 = 4 * ROW_GROUP_ROWS as u64;
/// Ingests compact on their own once the store holds this many small files.
pub const AUTO_COMPACT_SMALL_FILES: usize = 32;

/// What a compaction did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CompactSummary {
    pub files_before: usize,
    pub files_after: usize,
    /// Small files merged, and the rows they held.
    pub files_merged: usize,
    pub rows_merged: u64,
    pub elapsed_seconds: f64,
}

/// Merges the store's small files. Nothing to merge is not an error.
pub fn compact(data_dir: &std::path::Path) -> Result<CompactSummary, Error> {
    let started = Instant::now();
    let store = Store::new(data_dir);
    let lock = StoreLock::acquire(&store)?;
    let id = format!("compact-{}", commit::new_ingest_id());
    let staging = commit::prepare(&store, &lock, &id)?;
    let result = merge_small_files(&store, &id, &staging);
    commit::abandon(&staging);
    let mut summary = result?;
    summary.elapsed_seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// [`compact`] when the store has [`AUTO_COMPACT_SMALL_FILES`] small files or more; what
/// ingest callers run after each ingest.
/// `LOCKSTEP_AUTO_COMPACT=off` turns this off, for benchmarks that need a store of many
/// small files (`bench/compaction.sh`).
pub fn compact_if_needed(data_dir: &std::path::Path) -> Result<Option<CompactSummary>, Error> {
    if std::env::var("LOCKSTEP_AUTO_COMPACT").is_ok_and(|v| v.eq_ignore_ascii_case("off")) {
        return Ok(None);
    }
    let manifest = Store::new(data_dir).read_manifest()?;
    let small = manifest
        .files
        .iter()
        .filter(|f| f.rows < SMALL_FILE_ROWS)
        .count();
    if small < AUTO_COMPACT_SMALL_FILES {
        return Ok(None);
    }
    compact(data_dir).map(Some)
}

fn merge_small_files(
    store: &Store,
    id: &str,
    staging: &std::path::Path,
) -> Result<CompactSummary, Error> {
    let mut manifest = store.read_manifest()?;
    let files_before = manifest.files.len();
    let groups = plan(&manifest.files);
    let mut summary = CompactSummary {
        files_before,
        ..CompactSummary::default()
    };
    if groups.is_empty() {
        summary.files_after = files_before;
        return Ok(summary);
    }
    let mut outputs = Vec::new();
    for (n, group) in groups.iter().enumerate() {
        let inputs: Vec<&ManifestFile> = group.iter().map(|&i| &manifest.files[i]).collect();
        let staged = merge(
            store,
            &inputs,
            &staging.join(format!("part-{id}-{n}.parquet")),
        )?;
        summary.files_merged += inputs.len();
        summary.rows_merged += staged.rows;
        outputs.push(commit::publish(store, id, staged)?);
    }
    let merged: std::collections::HashSet<usize> = groups.into_iter().flatten().collect();
    let now = commit::unix_seconds();
    let mut kept = Vec::new();
    for (i, file) in std::mem::take(&mut manifest.files).into_iter().enumerate() {
        if merged.contains(&i) {
            manifest.retired.push(RetiredFile {
                path: file.path,
                keys: file.keys,
                summary: file.summary,
                retired_at: now,
            });
        } else {
            kept.push(file);
        }
    }
    kept.extend(outputs);
    manifest.files = kept;
    summary.files_after = manifest.files.len();
    store.write_manifest(&manifest)?;
    Ok(summary)
}

/// Groups of small files (indexes into `files`) to merge, in time order, each at most
/// [`COMPACTED_FILE_ROWS`] rows and at least two files.
fn plan(files: &[ManifestFile]) -> Vec<Vec<usize>> {
    let mut small: Vec<usize> = (0..files.len())
        .filter(|&i| files[i].rows < SMALL_FILE_ROWS)
        .collect();
    small.sort_by_key(|&i| (files[i].min_time, i));
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut rows = 0;
    for i in small {
        let fits = groups.last().is_some() && rows + files[i].rows <= COMPACTED_FILE_ROWS;
        if !fits {
            groups.push(Vec::new());
            rows = 0;
        }
        rows += files[i].rows;
        groups.last_mut().expect("pushed above").push(i);
    }
    groups.retain(|g| g.len() > 1);
    groups
}

/// One sorted file (and its keys) from `inputs`, written at `out`.
fn merge(
    store: &Store,
    inputs: &[&ManifestFile],
    out: &std::path::Path,
) -> Result<StagedFile, Error> {
    let mut batches = Vec::new();
    let mut keys = Vec::new();
    for file in inputs {
        let path = store.resolve(&file.path);
        let reader = File::open(&path)
            .map_err(|e| Error::io(&path, e))
            .and_then(|f| {
                ParquetRecordBatchReaderBuilder::try_new(f)
                    .and_then(|b| b.build())
                    .map_err(|e| Error::parquet(&path, e))
            })?;
        for batch in reader {
            batches.push(batch.map_err(|e| Error::parquet(&path, e.into()))?);
        }
        let keys_path = store.resolve(&file.keys);
        let mut stream = KeyStream::open(&keys_path)?;
        while let Some(key) = stream.next_key()? {
            keys.push(key);
        }
    }
    let all = arrow_select::concat::concat_batches(&schema::event_schema(), &batches)
        .map_err(|e| Error::parquet(out, e.into()))?;
    drop(batches);
    let sorted = sort_by_computer_then_time(&all).map_err(|e| Error::parquet(out, e.into()))?;
    drop(all);
    let file = File::create(out).map_err(|e| Error::io(out, e))?;
    let mut writer = ArrowWriter::try_new(
        file,
        schema::event_schema(),
        Some(crate::staging::properties()),
    )
    .map_err(|e| Error::parquet(out, e))?;
    let rows = sorted.num_rows();
    let mut at = 0;
    while at < rows {
        let len = ROW_GROUP_ROWS.min(rows - at);
        writer
            .write(&sorted.slice(at, len))
            .map_err(|e| Error::parquet(out, e))?;
        writer.flush().map_err(|e| Error::parquet(out, e))?;
        at += len;
    }
    writer
        .into_inner()
        .and_then(|f| f.sync_all().map_err(Into::into))
        .map_err(|e| Error::parquet(out, e))?;
    let times = sorted
        .column_by_name(columns::TIME)
        .and_then(|c| c.as_any().downcast_ref::<TimestampMicrosecondArray>())
        .expect("the event table's time column");
    let (min_time, max_time) = (0..times.len()).fold((i64::MAX, i64::MIN), |(lo, hi), i| {
        (lo.min(times.value(i)), hi.max(times.value(i)))
    });
    keys.sort_unstable();
    let keys_path = out.with_extension("keys");
    write_keys(&keys_path, &keys)?;
    let summary_path = crate::summary::summary_path(out);
    let mut summary = crate::summary::Summarizer::default();
    summary.add(&sorted);
    summary.write(&summary_path)?;
    Ok(StagedFile {
        path: out.to_owned(),
        keys_path,
        summary_path,
        rows: rows as u64,
        min_time,
        max_time,
    })
}

/// The rows of `batch` ordered by `computer_key` then `time`, as ingest orders a row group.
fn sort_by_computer_then_time(
    batch: &RecordBatch,
) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let column = |name: &str| Arc::clone(batch.column_by_name(name).expect("event table column"));
    let order = arrow_ord::sort::lexsort_to_indices(
        &[
            arrow_ord::sort::SortColumn {
                values: column(columns::COMPUTER_KEY),
                options: None,
            },
            arrow_ord::sort::SortColumn {
                values: column(columns::TIME),
                options: None,
            },
        ],
        None,
    )?;
    let columns = batch
        .columns()
        .iter()
        .map(|c| arrow_select::take::take(c.as_ref(), &order, None))
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(batch.schema(), columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(rows: u64, min_time: i64) -> ManifestFile {
        ManifestFile {
            path: format!("events/{min_time}.parquet"),
            keys: format!("events/{min_time}.keys"),
            rows,
            min_time,
            max_time: min_time,
            ingest_id: "x".into(),
            summary: None,
        }
    }

    #[test]
    fn small_files_are_grouped_in_time_order_up_to_the_size() {
        let files = vec![
            file(65_000, 1),
            file(65_000, 2),
            file(SMALL_FILE_ROWS, 0),
            file(65_000, 3),
            file(65_000, 4),
            file(65_000, 5),
            file(30, 6),
        ];
        // Four of 65,000 fit in one output (260,000 rows), the fifth starts the next; the
        // file that is not small stays as it is.
        assert_eq!(plan(&files), vec![vec![0, 1, 3, 4], vec![5, 6]]);
        assert!(
            plan(&[file(10, 1)]).is_empty(),
            "one small file is left alone"
        );
    }
}
