//! Making staged rows part of the store, all or nothing (the protocol in `schema::store`):
//!
//! 1. Take the store lock (a second ingest waits here).
//! 2. Remove what a crashed ingest left: staging folders and files in `events/` that the
//!    manifest does not list. Readers never saw them.
//! 3. (The caller stages the new rows.)
//! 4. Drop staged rows whose key is already in the store, streaming the sorted key files.
//! 5. Sync and move the staged files into `events/`, then replace the manifest atomically.
//!    Only this last rename makes the new rows visible.

use std::collections::HashSet;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{
    Array, BooleanArray, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use schema::{Manifest, ManifestFile, Store, columns};

use crate::Error;
use crate::batch::dedup_key;
use crate::staging::{StagedFile, intersect_keys, write_keys};

/// Held while an ingest may change the store; released on drop (also by the OS on a crash).
pub(crate) struct StoreLock {
    _file: File,
}

impl StoreLock {
    pub(crate) fn acquire(store: &Store) -> Result<StoreLock, Error> {
        fs::create_dir_all(store.root()).map_err(|e| Error::io(store.root(), e))?;
        let path = store.lock_path();
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                tracing::info!(
                    "waiting for another ingest into {} to finish",
                    store.root().display()
                );
                file.lock().map_err(|e| Error::io(&path, e))?;
            }
            Err(fs::TryLockError::Error(e)) => return Err(Error::io(&path, e)),
        }
        Ok(StoreLock { _file: file })
    }
}

/// A unique, sortable id for this ingest run.
pub(crate) fn new_ingest_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{:x}-{:x}", now.as_micros(), std::process::id())
}

/// Cleans up after crashed ingests and creates this ingest's staging folder.
pub(crate) fn prepare(store: &Store, _lock: &StoreLock, ingest_id: &str) -> Result<PathBuf, Error> {
    let manifest = store.read_manifest()?;
    let staging = store.staging_dir();
    if staging.exists() {
        fs::remove_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    }
    let events = store.events_dir();
    fs::create_dir_all(&events).map_err(|e| Error::io(&events, e))?;
    let listed: HashSet<PathBuf> = manifest
        .files
        .iter()
        .flat_map(|f| [store.resolve(&f.path), store.resolve(&f.keys)])
        .collect();
    for entry in fs::read_dir(&events).map_err(|e| Error::io(&events, e))? {
        let path = entry.map_err(|e| Error::io(&events, e))?.path();
        if !listed.contains(&path) {
            tracing::info!(
                "removing {}, left by an ingest that did not finish",
                path.display()
            );
            fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        }
    }
    let dir = staging.join(ingest_id);
    fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    Ok(dir)
}

/// Removes a staging folder after a failed or refused ingest; the store is unchanged.
pub(crate) fn abandon(staging_dir: &Path) {
    let _ = fs::remove_dir_all(staging_dir);
}

/// What the commit changed.
pub(crate) struct Committed {
    pub(crate) rows_new: u64,
    pub(crate) rows_already_stored: u64,
    pub(crate) rows_in_store: u64,
}

pub(crate) fn commit(
    store: &Store,
    _lock: &StoreLock,
    ingest_id: &str,
    staging_dir: &Path,
    staged: Vec<StagedFile>,
) -> Result<Committed, Error> {
    let mut manifest = store.read_manifest()?;
    manifest.version = Manifest::VERSION;
    // Each staged file's keys are sorted; merging them lazily avoids a second copy of every
    // key of the ingest in memory.
    let staged_keys: Vec<&[u128]> = staged.iter().map(|f| f.keys.as_slice()).collect();
    let mut stored: HashSet<u128> = HashSet::new();
    for file in &manifest.files {
        stored.extend(intersect_keys(
            &store.resolve(&file.keys),
            merge_sorted(&staged_keys),
        )?);
    }
    let mut rows_new = 0;
    for mut file in staged {
        if !stored.is_empty() {
            file = drop_stored_rows(file, &stored)?;
        }
        if file.rows == 0 {
            continue;
        }
        rows_new += file.rows;
        manifest.files.push(publish(store, ingest_id, file)?);
    }
    if rows_new > 0 {
        store.write_manifest(&manifest)?;
    }
    abandon(staging_dir);
    Ok(Committed {
        rows_new,
        rows_already_stored: stored.len() as u64,
        rows_in_store: manifest.rows(),
    })
}

/// The union of sorted slices, in order (duplicates kept).
fn merge_sorted<'a>(lists: &'a [&'a [u128]]) -> impl Iterator<Item = u128> + 'a {
    use std::cmp::Reverse;
    let mut heap: std::collections::BinaryHeap<Reverse<(u128, usize, usize)>> = lists
        .iter()
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
        .map(|(i, l)| Reverse((l[0], i, 0)))
        .collect();
    std::iter::from_fn(move || {
        let Reverse((key, list, at)) = heap.pop()?;
        if let Some(&next) = lists[list].get(at + 1) {
            heap.push(Reverse((next, list, at + 1)));
        }
        Some(key)
    })
}

/// Moves a finished staging file (and its keys) into `events/`.
fn publish(store: &Store, ingest_id: &str, file: StagedFile) -> Result<ManifestFile, Error> {
    let name = file
        .path
        .file_name()
        .expect("staged files have names")
        .to_string_lossy()
        .into_owned();
    let parquet_rel = format!("{}/{name}", Store::EVENTS_DIR);
    let keys_rel = format!(
        "{}/{}.keys",
        Store::EVENTS_DIR,
        name.trim_end_matches(".parquet")
    );
    let keys_path = file.path.with_extension("keys");
    write_keys(&keys_path, &file.keys)?;
    let (parquet_dst, keys_dst) = (store.resolve(&parquet_rel), store.resolve(&keys_rel));
    fs::rename(&keys_path, &keys_dst).map_err(|e| Error::io(&keys_dst, e))?;
    fs::rename(&file.path, &parquet_dst).map_err(|e| Error::io(&parquet_dst, e))?;
    schema::store::sync_dir(&store.events_dir()).map_err(|e| Error::io(&store.events_dir(), e))?;
    Ok(ManifestFile {
        path: parquet_rel,
        keys: keys_rel,
        rows: file.rows,
        min_time: file.min_time,
        max_time: file.max_time,
        ingest_id: ingest_id.to_owned(),
    })
}

/// Rewrites a staged file without the rows whose key is already stored.
fn drop_stored_rows(file: StagedFile, stored: &HashSet<u128>) -> Result<StagedFile, Error> {
    if !file.keys.iter().any(|k| stored.contains(k)) {
        return Ok(file);
    }
    let src = &file.path;
    let input = File::open(src).map_err(|e| Error::io(src, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(input)
        .and_then(|b| b.build())
        .map_err(|e| Error::parquet(src, e))?;
    let dst = src.with_extension("filtered.parquet");
    let out = File::create(&dst).map_err(|e| Error::io(&dst, e))?;
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
        .set_max_row_group_row_count(Some(crate::staging::ROW_GROUP_ROWS))
        .build();
    let mut writer = ArrowWriter::try_new(out, schema::event_schema(), Some(props))
        .map_err(|e| Error::parquet(&dst, e))?;
    let mut kept = StagedFile {
        path: src.clone(),
        rows: 0,
        min_time: i64::MAX,
        max_time: i64::MIN,
        keys: Vec::new(),
    };
    for batch in reader {
        let batch = batch.map_err(|e| Error::parquet(src, e.into()))?;
        let (mask, keys, times) = keep_mask(&batch, stored);
        let filtered = arrow_select::filter::filter_record_batch(&batch, &mask)
            .map_err(|e| Error::parquet(src, e.into()))?;
        for (k, t) in keys.into_iter().zip(times) {
            kept.keys.push(k);
            kept.min_time = kept.min_time.min(t);
            kept.max_time = kept.max_time.max(t);
        }
        kept.rows += filtered.num_rows() as u64;
        writer
            .write(&filtered)
            .map_err(|e| Error::parquet(&dst, e))?;
    }
    writer
        .into_inner()
        .and_then(|f| f.sync_all().map_err(Into::into))
        .map_err(|e| Error::parquet(&dst, e))?;
    fs::rename(&dst, src).map_err(|e| Error::io(src, e))?;
    kept.keys.sort_unstable();
    Ok(kept)
}

/// Which rows to keep, with the kept rows' keys and times.
fn keep_mask(batch: &RecordBatch, stored: &HashSet<u128>) -> (BooleanArray, Vec<u128>, Vec<i64>) {
    let col = |name: &str| Arc::clone(batch.column_by_name(name).expect("event table column"));
    let computer = col(columns::COMPUTER);
    let channel = col(columns::CHANNEL);
    let record_id = col(columns::RECORD_ID);
    let time = col(columns::TIME);
    let computer = computer
        .as_any()
        .downcast_ref::<StringArray>()
        .expect("utf8");
    let channel = channel
        .as_any()
        .downcast_ref::<StringArray>()
        .expect("utf8");
    let record_id = record_id
        .as_any()
        .downcast_ref::<Int64Array>()
        .expect("int64");
    let time = time
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .expect("timestamp");
    let (mut keys, mut times) = (Vec::new(), Vec::new());
    let mask = (0..batch.num_rows())
        .map(|i| {
            let key = dedup_key(
                computer.value(i),
                channel.value(i),
                record_id.value(i) as u64,
                time.value(i),
            );
            let keep = !stored.contains(&key);
            if keep {
                keys.push(key);
                times.push(time.value(i));
            }
            Some(keep)
        })
        .collect();
    debug_assert_eq!(computer.len(), batch.num_rows());
    (mask, keys, times)
}
