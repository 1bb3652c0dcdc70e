//! Making staged rows part of the store, all or nothing (the protocol in `schema::store`):
//!
//! 1. Take the store lock (a second ingest waits here).
//! 2. Remove what a crashed ingest left: staging folders and files in `events/` that the
//!    manifest does not list. Readers never saw them.
//! 3. (The caller stages the new rows.)
//! 4. Drop staged rows whose key is already in the store or in an earlier staged file,
//!    streaming the sorted key files (memory holds only the duplicates found).
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
use crate::staging::{KeyStream, MergedKeys, StagedFile, write_keys};
use crate::summary::Summarizer;

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
    let mut manifest = store.read_manifest()?;
    let staging = store.staging_dir();
    if staging.exists() {
        fs::remove_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    }
    let events = store.events_dir();
    fs::create_dir_all(&events).map_err(|e| Error::io(&events, e))?;
    // Files compaction replaced go once no query can still be reading them.
    let now = unix_seconds();
    let retired = manifest.retired.len();
    manifest
        .retired
        .retain(|r| now < r.retired_at + Manifest::RETIRE_GRACE_SECS);
    if manifest.retired.len() < retired {
        store.write_manifest(&manifest)?;
    }
    let listed: HashSet<PathBuf> = manifest
        .files
        .iter()
        .map(|f| (&f.path, &f.keys, &f.summary))
        .chain(
            manifest
                .retired
                .iter()
                .map(|r| (&r.path, &r.keys, &r.summary)),
        )
        .flat_map(|(path, keys, summary)| [Some(path), Some(keys), summary.as_ref()])
        .flatten()
        .map(|p| store.resolve(p))
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
    if manifest.version < Manifest::VERSION && !manifest.files.is_empty() {
        manifest = upgrade_keys(store, manifest)?;
    }
    if manifest.summaries().is_none() {
        add_summaries(store, manifest)?;
    }
    let dir = staging.join(ingest_id);
    fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    Ok(dir)
}

/// Rebuilds the key files of a store written before the current key definition (manifest
/// version 1: times to the microsecond) from the rows themselves, then switches to them with
/// one manifest replacement. A crash before the switch leaves the old state (the new key
/// files are unlisted and removed by the next `prepare`); after it, the old key files are.
fn upgrade_keys(store: &Store, mut manifest: Manifest) -> Result<Manifest, Error> {
    tracing::info!(
        files = manifest.files.len(),
        "rebuilding the store's de-duplication keys (times to the millisecond)"
    );
    let mut old_keys = Vec::new();
    for file in &mut manifest.files {
        let keys = keys_of_parquet(&store.resolve(&file.path))?;
        let stem = file.keys.trim_end_matches(".keys");
        let new = format!("{stem}-v{}.keys", Manifest::VERSION);
        write_keys(&store.resolve(&new), &keys)?;
        old_keys.push(std::mem::replace(&mut file.keys, new));
    }
    manifest.version = Manifest::VERSION;
    store.write_manifest(&manifest)?;
    for old in old_keys {
        let _ = fs::remove_file(store.resolve(&old));
    }
    Ok(manifest)
}

/// Writes the summary of every committed file that has none (a store written before the
/// summary), from its rows, then lists them with one manifest replacement. A crash before
/// it leaves the summaries unlisted (removed by the next `prepare`, which starts over).
fn add_summaries(store: &Store, mut manifest: Manifest) -> Result<(), Error> {
    let missing = manifest
        .files
        .iter()
        .filter(|f| f.summary.is_none())
        .count();
    tracing::info!(files = missing, "summing up the store's events (once)");
    for file in manifest.files.iter_mut().filter(|f| f.summary.is_none()) {
        let events = store.resolve(&file.path);
        let rel = crate::summary::summary_name(&file.path);
        crate::summary::summarize_file(&events)?.write(&store.resolve(&rel))?;
        file.summary = Some(rel);
    }
    schema::store::sync_dir(&store.events_dir()).map_err(|e| Error::io(&store.events_dir(), e))?;
    store.write_manifest(&manifest)?;
    Ok(())
}

/// The sorted de-duplication keys of a committed Parquet file's rows.
fn keys_of_parquet(path: &Path) -> Result<Vec<u128>, Error> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| Error::parquet(path, e))?;
    let keep_all = HashSet::new();
    let mut keys = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| Error::parquet(path, e.into()))?;
        keys.extend(keep_mask(&batch, &keep_all).1);
    }
    keys.sort_unstable();
    Ok(keys)
}

pub(crate) fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Removes a staging folder after a failed or refused ingest; the store is unchanged.
pub(crate) fn abandon(staging_dir: &Path) {
    let _ = fs::remove_dir_all(staging_dir);
}

/// What the commit changed.
pub(crate) struct Committed {
    pub(crate) rows_new: u64,
    /// Rows that more than one staged file held (overlapping inputs).
    pub(crate) rows_in_input_twice: u64,
    pub(crate) rows_already_stored: u64,
    pub(crate) rows_in_store: u64,
}

pub(crate) fn commit(
    store: &Store,
    _lock: &StoreLock,
    ingest_id: &str,
    staging_dir: &Path,
    staged: Vec<StagedFile>,
    sources: std::collections::BTreeMap<String, schema::SourcePosition>,
) -> Result<Committed, Error> {
    let mut manifest = store.read_manifest()?;
    manifest.version = Manifest::VERSION;
    // A collector's new positions go in the same manifest as the rows read up to them.
    let positions_changed = !sources.is_empty();
    manifest.sources.extend(sources);
    let staged_keys: Vec<&Path> = staged.iter().map(|f| f.keys_path.as_path()).collect();
    // Per staged file, the keys of its rows to drop.
    let mut drops: Vec<HashSet<u128>> = vec![HashSet::new(); staged.len()];
    // Rows in more than one staged file (overlapping inputs): the first file keeps the row.
    let mut rows_in_input_twice = 0;
    let mut merged = MergedKeys::open(staged_keys.iter().copied())?;
    let mut previous = None;
    while let Some((key, file)) = merged.next_key()? {
        if previous == Some(key) {
            drops[file].insert(key);
            rows_in_input_twice += 1;
        }
        previous = Some(key);
    }
    // Rows already stored: dropped from the file that kept them (the others are above).
    let mut rows_already_stored = 0;
    for file in &manifest.files {
        let found = keys_in_both(&store.resolve(&file.keys), &staged_keys)?;
        rows_already_stored += found.len() as u64;
        for (key, staged_file) in found {
            drops[staged_file].insert(key);
        }
    }
    let listed = manifest.files.len();
    let mut rows_new = 0;
    let published = (|| {
        for (mut file, drop) in staged.into_iter().zip(&drops) {
            if !drop.is_empty() {
                file = drop_rows(file, drop)?;
            }
            if file.rows == 0 {
                continue;
            }
            rows_new += file.rows;
            manifest.files.push(publish(store, ingest_id, file)?);
        }
        if rows_new > 0 || positions_changed {
            store.write_manifest(&manifest)?;
        }
        Ok(())
    })();
    if let Err(e) = published {
        // A full disk, mostly. The manifest was not replaced, so nothing moved into
        // `events/` is part of the store: take it out again, or the space stays used and
        // the next ingest meets the same full disk.
        // (Unless the manifest's rename went through and only the folder sync failed: then
        // the files are the store's.)
        let on_disk = store.read_manifest().map(|m| m.files).unwrap_or_default();
        for file in &manifest.files[listed..] {
            if on_disk.iter().any(|f| f.path == file.path) {
                continue;
            }
            let _ = fs::remove_file(store.resolve(&file.path));
            let _ = fs::remove_file(store.resolve(&file.keys));
            if let Some(summary) = &file.summary {
                let _ = fs::remove_file(store.resolve(summary));
            }
        }
        abandon(staging_dir);
        return Err(e);
    }
    abandon(staging_dir);
    Ok(Committed {
        rows_new,
        rows_in_input_twice,
        rows_already_stored,
        rows_in_store: manifest.rows(),
    })
}

/// The keys of a stored keys file that staged files hold too, each with the first staged
/// file holding it.
fn keys_in_both(stored: &Path, staged: &[&Path]) -> Result<Vec<(u128, usize)>, Error> {
    let mut found = Vec::new();
    let mut staged = MergedKeys::open(staged.iter().copied())?;
    let Some(mut s) = staged.next_key()? else {
        return Ok(found);
    };
    let mut stored = KeyStream::open(stored)?;
    let Some(mut k) = stored.next_key()? else {
        return Ok(found);
    };
    loop {
        let (next_stored, next_staged) = match k.cmp(&s.0) {
            std::cmp::Ordering::Less => (true, false),
            std::cmp::Ordering::Greater => (false, true),
            std::cmp::Ordering::Equal => {
                found.push(s);
                (true, true)
            }
        };
        if next_stored {
            match stored.next_key()? {
                Some(next) => k = next,
                None => break,
            }
        }
        if next_staged {
            match staged.next_key()? {
                Some(next) => s = next,
                None => break,
            }
        }
    }
    Ok(found)
}

/// Moves a finished staging file (and its keys) into `events/`.
pub(crate) fn publish(
    store: &Store,
    ingest_id: &str,
    file: StagedFile,
) -> Result<ManifestFile, Error> {
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
    let summary_rel = crate::summary::summary_name(&parquet_rel);
    let keys_path = &file.keys_path;
    let (parquet_dst, keys_dst) = (store.resolve(&parquet_rel), store.resolve(&keys_rel));
    let summary_dst = store.resolve(&summary_rel);
    fs::rename(keys_path, &keys_dst).map_err(|e| Error::io(&keys_dst, e))?;
    fs::rename(&file.summary_path, &summary_dst).map_err(|e| Error::io(&summary_dst, e))?;
    fs::rename(&file.path, &parquet_dst).map_err(|e| Error::io(&parquet_dst, e))?;
    schema::store::sync_dir(&store.events_dir()).map_err(|e| Error::io(&store.events_dir(), e))?;
    Ok(ManifestFile {
        path: parquet_rel,
        keys: keys_rel,
        rows: file.rows,
        min_time: file.min_time,
        max_time: file.max_time,
        ingest_id: ingest_id.to_owned(),
        summary: Some(summary_rel),
    })
}

/// Rewrites a staged file (and its keys) without the rows whose key is in `drop`.
fn drop_rows(file: StagedFile, drop: &HashSet<u128>) -> Result<StagedFile, Error> {
    let src = &file.path;
    let input = File::open(src).map_err(|e| Error::io(src, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(input)
        .and_then(|b| b.build())
        .map_err(|e| Error::parquet(src, e))?;
    let dst = src.with_extension("filtered.parquet");
    let out = File::create(&dst).map_err(|e| Error::io(&dst, e))?;
    let props = crate::staging::properties();
    let mut writer = ArrowWriter::try_new(out, schema::event_schema(), Some(props))
        .map_err(|e| Error::parquet(&dst, e))?;
    let mut kept = StagedFile {
        path: src.clone(),
        keys_path: file.keys_path.clone(),
        summary_path: file.summary_path.clone(),
        rows: 0,
        min_time: i64::MAX,
        max_time: i64::MIN,
    };
    let mut kept_keys = Vec::new();
    let mut summary = Summarizer::default();
    for batch in reader {
        let batch = batch.map_err(|e| Error::parquet(src, e.into()))?;
        let (mask, keys, times) = keep_mask(&batch, drop);
        let filtered = arrow_select::filter::filter_record_batch(&batch, &mask)
            .map_err(|e| Error::parquet(src, e.into()))?;
        for (k, t) in keys.into_iter().zip(times) {
            kept_keys.push(k);
            kept.min_time = kept.min_time.min(t);
            kept.max_time = kept.max_time.max(t);
        }
        kept.rows += filtered.num_rows() as u64;
        summary.add(&filtered);
        writer
            .write(&filtered)
            .map_err(|e| Error::parquet(&dst, e))?;
    }
    writer
        .into_inner()
        .and_then(|f| f.sync_all().map_err(Into::into))
        .map_err(|e| Error::parquet(&dst, e))?;
    fs::rename(&dst, src).map_err(|e| Error::io(src, e))?;
    kept_keys.sort_unstable();
    write_keys(&kept.keys_path, &kept_keys)?;
    summary.write(&kept.summary_path)?;
    Ok(kept)
}

/// Which rows to keep, with the kept rows' keys and times.
fn keep_mask(batch: &RecordBatch, drop: &HashSet<u128>) -> (BooleanArray, Vec<u128>, Vec<i64>) {
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
            let keep = !drop.contains(&key);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::Row;
    use crate::event::AuditEvent;
    use crate::staging::StagingWriter;

    fn row(record_id: u64) -> Row {
        Row {
            event: AuditEvent {
                time_us: 1_790_000_000_000_000 + record_id as i64,
                computer: "FIN-WS01".into(),
                channel: "Microsoft-Windows-AppLocker/EXE and DLL".into(),
                provider: "Microsoft-Windows-AppLocker".into(),
                event_id: 8003,
                record_id,
                user_sid: None,
                process_id: None,
                logon_id: None,
                policy_name: Some("EXE".into()),
                rule_id: None,
                rule_name: None,
                file_path: Some(format!("%OSDRIVE%\\X{record_id}.EXE")),
                full_file_path: None,
                file_hash: None,
                fqbn: None,
                package: None,
            },
            source: 0,
        }
    }

    /// Stages `records` in files of 4 rows and commits them; (duplicates found while
    /// staging, what commit says).
    fn ingest(store: &Store, records: impl IntoIterator<Item = u64>) -> (u64, Committed) {
        let lock = StoreLock::acquire(store).unwrap();
        let id = new_ingest_id();
        let staging = prepare(store, &lock, &id).unwrap();
        let mut writer = StagingWriter::with_sizes(staging.clone(), id.clone(), 2, 2);
        writer.sources = Arc::from(vec!["test.evtx".to_owned()]);
        writer.push(records.into_iter().map(row)).unwrap();
        let in_file = writer.duplicates_in_input;
        let staged = writer.finish().unwrap();
        assert!(staged.len() >= 2, "the test needs several staged files");
        (
            in_file,
            commit(store, &lock, &id, &staging, staged, Default::default()).unwrap(),
        )
    }

    fn stored_keys(store: &Store) -> Vec<u128> {
        let mut keys = Vec::new();
        for file in store.read_manifest().unwrap().files {
            let mut stream = KeyStream::open(&store.resolve(&file.keys)).unwrap();
            while let Some(k) = stream.next_key().unwrap() {
                keys.push(k);
            }
        }
        keys.sort_unstable();
        keys
    }

    #[test]
    fn duplicates_across_staged_files_and_the_store_are_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let (_, first) = ingest(&store, 0..6);
        assert_eq!((first.rows_new, first.rows_already_stored), (6, 0));

        // 3..12 twice, in files of 4 rows: copies meet in one file and across files.
        let (in_file, second) = ingest(&store, (3..12).chain(3..12));
        assert_eq!(second.rows_new, 6, "only 6..12 are new");
        assert_eq!(second.rows_already_stored, 3, "3, 4, 5 were stored");
        assert_eq!(in_file + second.rows_in_input_twice, 9, "the second copy");
        assert_eq!(second.rows_in_store, 12);

        let keys = stored_keys(&store);
        let mut distinct = keys.clone();
        distinct.dedup();
        assert_eq!((keys.len(), distinct.len()), (12, 12));
        let rows: u64 = store
            .read_manifest()
            .unwrap()
            .files
            .iter()
            .map(|f| f.rows)
            .sum();
        assert_eq!(rows, 12);
    }
}
