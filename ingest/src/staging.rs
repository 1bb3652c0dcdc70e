//! New rows on their way into the store: de-duplicated within the ingest, sorted per row
//! group by (computer, time), and written as zstd Parquet into the ingest's staging folder.
//! Nothing here is visible to readers until `commit` lists it in the manifest.

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};

use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use crate::Error;
use crate::batch::{Row, dedup_key, to_record_batch};
use crate::event::computer_key;

/// Rows per row group: big enough for good compression and statistics, small enough that a
/// group being sorted and encoded stays a few tens of MB.
pub(crate) const ROW_GROUP_ROWS: usize = 65_536;
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
    pub(crate) rows: u64,
    pub(crate) min_time: i64,
    pub(crate) max_time: i64,
    /// Sorted de-duplication keys of its rows.
    pub(crate) keys: Vec<u128>,
}

/// A staging file being encoded on its own thread, so Parquet encoding and compression
/// overlap with decoding and batch building.
struct OpenFile {
    staged: StagedFile,
    batches: std::sync::mpsc::SyncSender<arrow_array::RecordBatch>,
    encoder: std::thread::JoinHandle<Result<(), Error>>,
}

impl OpenFile {
    fn create(path: PathBuf) -> Result<OpenFile, Error> {
        let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
        let mut writer = ArrowWriter::try_new(file, schema::event_schema(), Some(properties()))
            .map_err(|e| Error::parquet(&path, e))?;
        let (batches, rx) = std::sync::mpsc::sync_channel::<arrow_array::RecordBatch>(2);
        let encoder_path = path.clone();
        let encoder = std::thread::spawn(move || {
            let path = encoder_path;
            for batch in rx {
                writer.write(&batch).map_err(|e| Error::parquet(&path, e))?;
                writer.flush().map_err(|e| Error::parquet(&path, e))?;
            }
            let file = writer.into_inner().map_err(|e| Error::parquet(&path, e))?;
            file.sync_all().map_err(|e| Error::io(&path, e))
        });
        let staged = StagedFile {
            path,
            rows: 0,
            min_time: i64::MAX,
            max_time: i64::MIN,
            keys: Vec::new(),
        };
        Ok(OpenFile {
            staged,
            batches,
            encoder,
        })
    }

    /// Finishes the file; the encoder's error, if it failed, comes out here.
    fn close(self) -> Result<StagedFile, Error> {
        drop(self.batches);
        self.encoder.join().expect("parquet encoder panicked")?;
        let mut staged = self.staged;
        staged.keys.sort_unstable();
        Ok(staged)
    }
}

/// Writes staging files.
pub(crate) struct StagingWriter {
    dir: PathBuf,
    ingest_id: String,
    pub(crate) sources: Vec<String>,
    seen: HashSet<u128, KeyHasher>,
    pending: Vec<Row>,
    current: Option<OpenFile>,
    groups_in_current: usize,
    done: Vec<StagedFile>,
    pub(crate) duplicates_in_input: u64,
}

fn properties() -> WriterProperties {
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
            sources: Vec::new(),
            seen: HashSet::default(),
            pending: Vec::new(),
            current: None,
            groups_in_current: 0,
            done: Vec::new(),
            duplicates_in_input: 0,
        }
    }

    /// Adds rows, dropping those already seen in this ingest.
    pub(crate) fn push(&mut self, rows: impl IntoIterator<Item = Row>) -> Result<(), Error> {
        for row in rows {
            let e = &row.event;
            if !self
                .seen
                .insert(dedup_key(&e.computer, &e.channel, e.record_id, e.time_us))
            {
                self.duplicates_in_input += 1;
                continue;
            }
            self.pending.push(row);
            if self.pending.len() == ROW_GROUP_ROWS {
                self.flush_group()?;
            }
        }
        Ok(())
    }

    fn flush_group(&mut self) -> Result<(), Error> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut rows = std::mem::take(&mut self.pending);
        // Sorted by computer then time inside each row group: min/max statistics then prune
        // scans for a host or a window.
        rows.sort_by_cached_key(|r| (computer_key(&r.event.computer), r.event.time_us));
        if self.current.is_none() {
            let path = self.dir.join(format!(
                "part-{}-{:04}.parquet",
                self.ingest_id,
                self.done.len()
            ));
            self.current = Some(OpenFile::create(path)?);
        }
        let open = self.current.as_mut().expect("opened above");
        let staged = &mut open.staged;
        for r in &rows {
            let e = &r.event;
            staged
                .keys
                .push(dedup_key(&e.computer, &e.channel, e.record_id, e.time_us));
            staged.min_time = staged.min_time.min(e.time_us);
            staged.max_time = staged.max_time.max(e.time_us);
        }
        staged.rows += rows.len() as u64;
        let batch = to_record_batch(&rows, &self.sources, &self.ingest_id);
        if open.batches.send(batch).is_err() {
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
        self.groups_in_current += 1;
        if self.groups_in_current == FILE_ROW_GROUPS {
            self.close_file()?;
        }
        Ok(())
    }

    fn close_file(&mut self) -> Result<(), Error> {
        if let Some(open) = self.current.take() {
            self.done.push(open.close()?);
            self.groups_in_current = 0;
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

/// Streams a keys file and returns the keys of `wanted` (ascending) that it contains.
pub(crate) fn intersect_keys(
    path: &Path,
    wanted: impl Iterator<Item = u128>,
) -> Result<Vec<u128>, Error> {
    use std::io::Read;
    let mut found = Vec::new();
    let mut wanted = wanted.peekable();
    if wanted.peek().is_none() {
        return Ok(found);
    }
    let mut input = std::io::BufReader::with_capacity(
        1 << 20,
        File::open(path).map_err(|e| Error::io(path, e))?,
    );
    let mut buf = [0u8; 16];
    loop {
        match input.read_exact(&mut buf) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(Error::io(path, e)),
        }
        let key = u128::from_le_bytes(buf);
        while wanted.next_if(|w| *w < key).is_some() {}
        match wanted.peek() {
            None => break,
            Some(w) if *w == key => found.push(key),
            Some(_) => {}
        }
    }
    Ok(found)
}
