//! New rows on their way into the store: de-duplicated within the ingest, sorted per row
//! group by (computer, time), and written as zstd Parquet into the ingest's staging folder.
//! Nothing here is visible to readers until `commit` lists it in the manifest.

use std::collections::{HashMap, HashSet};

use arrow_array::RecordBatch;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use crate::Error;
use crate::batch::{Row, dedup_key, to_record_batch};
use crate::summary::{Summarizer, summary_path};
use schema::values::cmp_computer_keys;

/// Rows per row group: big enough for good compression and statistics, small enough that a
/// group being sorted and encoded stays a few tens of MB.
pub(crate) const ROW_GROUP_ROWS: usize = 65_536;
/// Rows per record batch handed to the Parquet writer: text columns of a few hundred KB,
/// under the allocator's large-object size, so their memory is reused.
const BATCH_ROWS: usize = 4096;
/// Row groups per file before starting the next one.
const FILE_ROW_GROUPS: usize = 16;

/// The keys are already 128-bit hashes: fold them instead of hashing them again (SipHash on
/// every row showed in the ingest profile).
#[derive(Default, Clone, Copy)]
pub(crate) struct KeyHasher;

impl std::hash::BuildHasher for KeyHasher {
    type Hasher = FoldHasher;
    fn build_hasher(&self) -> FoldHasher {
        FoldHasher(0)
    }
}

/// Hasher for [`KeyHasher`].
pub(crate) struct FoldHasher(u64);

impl std::hash::Hasher for FoldHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(word);
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = (v as u64) ^ ((v >> 64) as u64);
    }
}

/// A finished staging file.
#[derive(Debug)]
pub(crate) struct StagedFile {
    pub(crate) path: PathBuf,
    /// The sorted de-duplication keys of its rows, on disk beside it (memory stays bounded
    /// by one open file's keys, whatever the size of the ingest).
    pub(crate) keys_path: PathBuf,
    /// Its rows summed up (`crate::summary`), beside it.
    pub(crate) summary_path: PathBuf,
    pub(crate) rows: u64,
    pub(crate) min_time: i64,
    pub(crate) max_time: i64,
}

/// A staging file being encoded on its own thread: row groups are sorted, turned into
/// Arrow batches and written there, so that this work overlaps with decoding, and the
/// batches are freed by the thread that allocated them (memory it reuses at once; freed
/// elsewhere, it went back to the system and came back as freshly zeroed pages).
struct OpenFile {
    path: PathBuf,
    groups: SyncSender<Group>,
    /// Emptied row vectors coming back, to be filled again.
    recycled: Receiver<Vec<Row>>,
    encoder: JoinHandle<Result<Encoded, Error>>,
}

/// One row group on its way to the encoder.
struct Group {
    rows: Vec<Row>,
    keys: Vec<u128>,
}

/// What the encoder wrote.
struct Encoded {
    keys: Vec<u128>,
    rows: u64,
    min_time: i64,
    max_time: i64,
}

impl OpenFile {
    fn create(path: PathBuf, sources: Arc<[String]>, ingest_id: String) -> Result<OpenFile, Error> {
        let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
        let mut writer = ArrowWriter::try_new(file, schema::event_schema(), Some(properties()))
            .map_err(|e| Error::parquet(&path, e))?;
        // One group waiting while one is encoded: rows are the bulk of ingest's memory.
        let (groups, rx) = sync_channel::<Group>(1);
        let (recycle, recycled) = sync_channel::<Vec<Row>>(1);
        let encoder_path = path.clone();
        let encoder = std::thread::spawn(move || {
            let path = encoder_path;
            let mut summary = Summarizer::default();
            let mut encoded = Encoded {
                keys: Vec::new(),
                rows: 0,
                min_time: i64::MAX,
                max_time: i64::MIN,
            };
            for Group { mut rows, keys } in rx {
                encoded.keys.extend(keys);
                encoded.rows += rows.len() as u64;
                for r in &rows {
                    encoded.min_time = encoded.min_time.min(r.event.time_us);
                    encoded.max_time = encoded.max_time.max(r.event.time_us);
                }
                for batch in sorted_batches(&rows, &sources, &ingest_id) {
                    summary.add(&batch);
                    writer.write(&batch).map_err(|e| Error::parquet(&path, e))?;
                }
                writer.flush().map_err(|e| Error::parquet(&path, e))?;
                rows.clear();
                let _ = recycle.try_send(rows);
            }
            let file = writer.into_inner().map_err(|e| Error::parquet(&path, e))?;
            file.sync_all().map_err(|e| Error::io(&path, e))?;
            summary.write(&summary_path(&path))?;
            Ok(encoded)
        });
        Ok(OpenFile {
            path,
            groups,
            recycled,
            encoder,
        })
    }

    /// Finishes the file; the encoder's error, if it failed, comes out here.
    fn close(self) -> Result<StagedFile, Error> {
        drop(self.groups);
        let mut encoded = self.encoder.join().expect("parquet encoder panicked")?;
        encoded.keys.sort_unstable();
        let keys_path = self.path.with_extension("keys");
        write_keys(&keys_path, &encoded.keys)?;
        Ok(StagedFile {
            summary_path: summary_path(&self.path),
            path: self.path,
            keys_path,
            rows: encoded.rows,
            min_time: encoded.min_time,
            max_time: encoded.max_time,
        })
    }
}

/// A row group as record batches, sorted by computer then time: min/max statistics then
/// prune scans for a host or a window. Built a slice at a time: small builders reuse the
/// allocator's memory.
fn sorted_batches(rows: &[Row], sources: &[String], ingest_id: &str) -> Vec<RecordBatch> {
    let ranks = computer_ranks(rows);
    let mut order: Vec<u32> = (0..rows.len() as u32).collect();
    order.sort_unstable_by_key(|&i| (ranks[i as usize], rows[i as usize].event.time_us, i));
    let sorted: Vec<&Row> = order.iter().map(|&i| &rows[i as usize]).collect();
    sorted
        .chunks(BATCH_ROWS)
        .map(|part| to_record_batch(part, sources, ingest_id))
        .collect()
}

/// Writes staging files.
pub(crate) struct StagingWriter {
    dir: PathBuf,
    ingest_id: String,
    /// Source file names, by index (`Row::source`).
    pub(crate) sources: Arc<[String]>,
    /// Keys of the rows of the open file (and those pending for it): duplicates inside one
    /// file are dropped here, duplicates across files at commit (a merge of the key files).
    seen: HashSet<u128, KeyHasher>,
    pending: Vec<Row>,
    /// The de-duplication keys of `pending`, in the same order.
    pending_keys: Vec<u128>,
    current: Option<OpenFile>,
    groups_in_current: usize,
    /// Rows per row group and row groups per file ([`ROW_GROUP_ROWS`], `FILE_ROW_GROUPS`;
    /// smaller in unit tests so a few rows span several files).
    group_rows: usize,
    file_groups: usize,
    done: Vec<StagedFile>,
    pub(crate) duplicates_in_input: u64,
}

/// How every event file is written (ingest, the drop of duplicate rows, compaction).
pub(crate) fn properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(3).expect("valid zstd level"),
        ))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_created_by(format!("lockstep {}", env!("CARGO_PKG_VERSION")))
        .build()
}

impl StagingWriter {
    pub(crate) fn new(dir: PathBuf, ingest_id: String) -> Self {
        StagingWriter {
            dir,
            ingest_id,
            sources: Arc::from(Vec::new()),
            seen: HashSet::default(),
            pending: Vec::new(),
            pending_keys: Vec::new(),
            current: None,
            groups_in_current: 0,
            group_rows: ROW_GROUP_ROWS,
            file_groups: FILE_ROW_GROUPS,
            done: Vec::new(),
            duplicates_in_input: 0,
        }
    }

    /// A writer with small files, for tests of what spans files.
    #[cfg(test)]
    pub(crate) fn with_sizes(
        dir: PathBuf,
        ingest_id: String,
        group_rows: usize,
        file_groups: usize,
    ) -> Self {
        StagingWriter {
            group_rows,
            file_groups,
            ..StagingWriter::new(dir, ingest_id)
        }
    }

    /// Adds rows, dropping those already in the open staging file.
    pub(crate) fn push(&mut self, rows: impl IntoIterator<Item = Row>) -> Result<(), Error> {
        for row in rows {
            let e = &row.event;
            let key = dedup_key(&e.computer, &e.channel, e.record_id, e.time_us);
            if !self.seen.insert(key) {
                self.duplicates_in_input += 1;
                continue;
            }
            if self.pending.capacity() == 0 {
                // Sized once per group: growing a vector of rows copies it.
                self.pending.reserve_exact(self.group_rows);
                self.pending_keys.reserve_exact(self.group_rows);
            }
            self.pending.push(row);
            self.pending_keys.push(key);
            if self.pending.len() == self.group_rows {
                self.flush_group()?;
            }
        }
        Ok(())
    }

    fn flush_group(&mut self) -> Result<(), Error> {
        if self.pending.is_empty() {
            return Ok(());
        }
        if self.current.is_none() {
            let path = self.dir.join(format!(
                "part-{}-{:04}.parquet",
                self.ingest_id,
                self.done.len()
            ));
            let sources = Arc::clone(&self.sources);
            self.current = Some(OpenFile::create(path, sources, self.ingest_id.clone())?);
        }
        let open = self.current.as_mut().expect("opened above");
        let group = Group {
            rows: std::mem::take(&mut self.pending),
            keys: std::mem::replace(&mut self.pending_keys, Vec::with_capacity(self.group_rows)),
        };
        if open.groups.send(group).is_err() {
            // The encoder stopped early: closing the file returns its error.
            let failed = self.current.take().expect("open");
            let stopped = || {
                Error::io(
                    &self.dir,
                    std::io::Error::other("the Parquet encoder stopped"),
                )
            };
            return Err(failed.close().err().unwrap_or_else(stopped));
        }
        if let Ok(rows) = open.recycled.try_recv() {
            self.pending = rows; // keeps its capacity: growing a vector of rows copies it
        }
        self.groups_in_current += 1;
        if self.groups_in_current == self.file_groups {
            self.close_file()?;
        }
        Ok(())
    }

    fn close_file(&mut self) -> Result<(), Error> {
        if let Some(open) = self.current.take() {
            self.done.push(open.close()?);
            self.groups_in_current = 0;
            self.seen.clear();
            self.seen.shrink_to(self.group_rows * self.file_groups);
        }
        Ok(())
    }

    /// Writes what is pending and returns every staging file.
    pub(crate) fn finish(mut self) -> Result<Vec<StagedFile>, Error> {
        self.flush_group()?;
        self.close_file()?;
        Ok(self.done)
    }
}

/// Per row, the rank of its computer's key among the distinct keys of `rows`: sorting by
/// rank sorts by key, and each distinct name is looked at once instead of at every
/// comparison.
fn computer_ranks(rows: &[Row]) -> Vec<u32> {
    let mut ids: HashMap<&str, u32> = HashMap::new();
    let row_ids: Vec<u32> = rows
        .iter()
        .map(|r| {
            let next = ids.len() as u32;
            *ids.entry(r.event.computer.as_str()).or_insert(next)
        })
        .collect();
    let mut names: Vec<(&str, u32)> = ids.into_iter().collect();
    names.sort_by(|a, b| cmp_computer_keys(a.0, b.0));
    let mut rank_of_id = vec![0u32; names.len()];
    let mut rank = 0;
    for (i, &(name, id)) in names.iter().enumerate() {
        if i > 0 && cmp_computer_keys(names[i - 1].0, name).is_ne() {
            rank += 1;
        }
        rank_of_id[id as usize] = rank;
    }
    row_ids.iter().map(|&id| rank_of_id[id as usize]).collect()
}

/// Writes sorted keys as little-endian u128s.
pub(crate) fn write_keys(path: &Path, keys: &[u128]) -> Result<(), Error> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(File::create(path).map_err(|e| Error::io(path, e))?);
    for k in keys {
        out.write_all(&k.to_le_bytes())
            .map_err(|e| Error::io(path, e))?;
    }
    let file = out
        .into_inner()
        .map_err(|e| Error::io(path, e.into_error()))?;
    file.sync_all().map_err(|e| Error::io(path, e))
}

/// Reads a sorted keys file one key at a time.
pub(crate) struct KeyStream {
    input: std::io::BufReader<File>,
    path: PathBuf,
}

impl KeyStream {
    pub(crate) fn open(path: &Path) -> Result<KeyStream, Error> {
        Ok(KeyStream {
            input: std::io::BufReader::with_capacity(
                1 << 16,
                File::open(path).map_err(|e| Error::io(path, e))?,
            ),
            path: path.to_owned(),
        })
    }

    pub(crate) fn next_key(&mut self) -> Result<Option<u128>, Error> {
        use std::io::Read;
        let mut buf = [0u8; 16];
        match self.input.read_exact(&mut buf) {
            Ok(()) => Ok(Some(u128::from_le_bytes(buf))),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
            Err(e) => Err(Error::io(&self.path, e)),
        }
    }
}

/// Several sorted key files merged into one ascending stream of (key, file index); equal
/// keys come out in file order.
pub(crate) struct MergedKeys {
    streams: Vec<KeyStream>,
    heap: std::collections::BinaryHeap<std::cmp::Reverse<(u128, usize)>>,
}

impl MergedKeys {
    pub(crate) fn open<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Result<Self, Error> {
        let mut merged = MergedKeys {
            streams: Vec::new(),
            heap: Default::default(),
        };
        for path in paths {
            let mut stream = KeyStream::open(path)?;
            if let Some(key) = stream.next_key()? {
                merged
                    .heap
                    .push(std::cmp::Reverse((key, merged.streams.len())));
            }
            merged.streams.push(stream);
        }
        Ok(merged)
    }

    pub(crate) fn next_key(&mut self) -> Result<Option<(u128, usize)>, Error> {
        let Some(std::cmp::Reverse((key, i))) = self.heap.pop() else {
            return Ok(None);
        };
        if let Some(next) = self.streams[i].next_key()? {
            self.heap.push(std::cmp::Reverse((next, i)));
        }
        Ok(Some((key, i)))
    }
}
