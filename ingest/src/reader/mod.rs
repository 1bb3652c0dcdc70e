//! Reading EVTX files: the only module that uses the `evtx` crate.
//!
//! Chunks are read and decoded by the worker threads, in windows so that events come out
//! in chunk order. For each chunk:
//! - its CRC32s are checked (a mismatch is reported, and the chunk goes the full way);
//! - the fast path walks its records with the `evtx` crate's record header reader and
//!   decodes each from its template values (`typed.rs`);
//! - anything the fast path does not take (a damaged or unusual chunk or record) sends the
//!   whole chunk through the `evtx` crate: its record iterator, which resynchronises after
//!   damage and names what it skipped, and its JSON rendering for records the fast path
//!   cannot read.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::{Arc, Mutex};

use evtx::err::EvtxError;
use evtx::{EvtxChunkData, EvtxParser, EvtxRecordHeader, ParserSettings};
use rayon::prelude::*;

mod template;
mod typed;

use crate::event::AuditEvent;
use crate::record::{Decoded, decode};
use crate::{Damage, Error};

pub(crate) const FILE_MAGIC: &[u8; 8] = b"ElfFile\0";
const CHUNK_MAGIC: &[u8; 8] = b"ElfChnk\0";
const HEADER_SIZE: u64 = 4096;
const CHUNK_SIZE: u64 = 65536;
const CHUNK_HEADER_SIZE: usize = 512;
const RECORD_HEADER_SIZE: usize = 24;
/// Decoded events handed to the caller at a time: a few hundred KB, under the allocator's
/// large-object size, so batch memory is reused rather than fresh pages each time.
const BATCH: usize = 1024;
/// Chunks decoded in parallel before their events are handed on, per thread: enough that
/// the threads rarely wait for each other at the end of a window, little enough that a
/// window's events stay a few MB.
const WINDOW_PER_THREAD: u64 = 16;

/// What reading one file (or one chunk of it) found.
#[derive(Debug, Default)]
pub(crate) struct FileStats {
    pub(crate) records: u64,
    pub(crate) other_records: u64,
    pub(crate) damage: Vec<Damage>,
    /// EVTX: the highest record id read (where a collector resumes).
    pub(crate) last_record_id: Option<u64>,
    /// Text forms: bytes consumed from the start of the file, up to the end of the last
    /// complete record (where a collector resumes).
    pub(crate) consumed: u64,
}

/// One chunk's events and findings.
#[derive(Default)]
struct ChunkOutcome {
    events: Vec<AuditEvent>,
    stats: FileStats,
    /// The last record id the chunk's header names (a chunk that could be parsed).
    last_record_id: Option<u64>,
    /// The chunk was all zeros though the file header counts it.
    zeroed: bool,
}

/// The file's header checks: damage found, whether it keeps checksums, how many whole
/// chunks follow the header, and what the header says was written (to judge truncation
/// by: a copy cut at a chunk boundary looks whole otherwise). `None` when there is nothing
/// to read.
struct FileLayout {
    checksums: bool,
    chunks: u64,
    /// The header's chunk count (offset 42).
    header_chunks: u64,
    /// The header's next record id (offset 24): one past the last record written.
    next_record_id: u64,
    /// A partial chunk at the end was reported.
    cut_inside_a_chunk: bool,
}

fn file_layout(
    path: &Path,
    file: &File,
    stats: &mut FileStats,
) -> Result<Option<FileLayout>, Error> {
    let io = |e| Error::io(path, e);
    let len = file.metadata().map_err(io)?.len();
    let file_damage = |message: String| Damage {
        file: path.to_owned(),
        chunk: None,
        record: None,
        line: None,
        message,
    };
    if len < HEADER_SIZE {
        stats.damage.push(file_damage(format!(
            "file is {len} bytes, shorter than the 4096-byte EVTX header"
        )));
        return Ok(None);
    }
    if let Err(e) = EvtxParser::from_read_seek(file) {
        stats
            .damage
            .push(file_damage(format!("unreadable EVTX header: {e}")));
        return Ok(None);
    }
    let mut header = vec![0u8; HEADER_SIZE as usize];
    let mut reader = file;
    reader.seek(SeekFrom::Start(0)).map_err(io)?;
    reader.read_exact(&mut header).map_err(io)?;
    // File flag 0x4: the log keeps no checksums (real-evtx damaged_application_no-crc32).
    let no_crc = u32::from_le_bytes(header[120..124].try_into().expect("4 bytes")) & 0x4 != 0;
    let stored = u32::from_le_bytes(header[124..128].try_into().expect("4 bytes"));
    if !no_crc && stored != crc32fast::hash(&header[..120]) {
        stats.damage.push(file_damage(
            "file header CRC32 mismatch; the chunks were read anyway".into(),
        ));
    }
    let chunks = (len - HEADER_SIZE) / CHUNK_SIZE;
    let tail = (len - HEADER_SIZE) % CHUNK_SIZE;
    if tail != 0 {
        // evtx_dump reads such a file without a word (real-evtx/SOURCES.md): say it.
        stats.damage.push(Damage {
            file: path.to_owned(),
            chunk: Some(chunks),
            record: None,
            line: None,
            message: format!(
                "file is truncated: chunk {chunks} has {tail} of {CHUNK_SIZE} bytes and was skipped"
            ),
        });
    }
    Ok(Some(FileLayout {
        checksums: !no_crc,
        chunks,
        header_chunks: u64::from(u16::from_le_bytes([header[42], header[43]])),
        next_record_id: u64::from_le_bytes(header[24..32].try_into().expect("8 bytes")),
        cut_inside_a_chunk: tail != 0,
    }))
}

/// What the file header says was written and the chunks do not hold: chunks missing at the
/// end, chunks zeroed, records missing after the last one read. The header of a log copied
/// while open may lag behind its chunks (more chunks, higher ids than it says); only a
/// header that claims *more* than the file holds is a sign of a damaged copy.
fn truncation(
    path: &Path,
    layout: &FileLayout,
    zeroed: u64,
    last_read: Option<u64>,
) -> Option<Damage> {
    let damage = |message: String| Damage {
        file: path.to_owned(),
        chunk: None,
        record: None,
        line: None,
        message,
    };
    let (counted, present) = (layout.header_chunks, layout.chunks);
    if counted > present + u64::from(layout.cut_inside_a_chunk) {
        return Some(damage(format!(
            "file is truncated: its header counts {counted} chunks, the file holds {present}; the records of the missing chunks are lost"
        )));
    }
    if layout.cut_inside_a_chunk || zeroed > 0 {
        return None; // said already, chunk by chunk
    }
    let written = layout.next_record_id.saturating_sub(1);
    let read = last_read.unwrap_or(0);
    (written > read).then(|| {
        damage(format!(
            "file is truncated: its header says records up to {written} were written, the last one in the file is {read}"
        ))
    })
}

/// Checks a chunk's header and records CRC32s (evtx-format.md §2.1).
fn chunk_checksum_problem(chunk: &[u8]) -> Option<String> {
    let u32_at = |at: usize| u32::from_le_bytes(chunk[at..at + 4].try_into().expect("4 bytes"));
    let mut crc = crc32fast::Hasher::new();
    crc.update(&chunk[..120]);
    crc.update(&chunk[128..512]);
    if crc.finalize() != u32_at(124) {
        return Some("chunk header CRC32 mismatch".into());
    }
    let free = u32_at(48) as usize;
    if !(512..=chunk.len()).contains(&free) {
        return Some(format!(
            "chunk free space offset {free} is outside the chunk"
        ));
    }
    (crc32fast::hash(&chunk[512..free]) != u32_at(52))
        .then(|| "chunk records CRC32 mismatch".into())
}

/// [`read_events`] for a gzip-compressed EVTX file: EVTX is read by offset, so the file is
/// first decompressed into `scratch` (the ingest's staging folder, removed with it), then
/// read and deleted. Damage names the compressed file.
pub(crate) fn read_gzipped(
    path: &Path,
    scratch: &Path,
    index: usize,
    threads: usize,
    on_events: impl FnMut(Vec<AuditEvent>),
) -> Result<FileStats, Error> {
    let plain = scratch.join(format!("gunzip-{index}.evtx"));
    let copied = File::open(path).and_then(|file| {
        let mut out = File::create(&plain)?;
        std::io::copy(&mut flate2::read::MultiGzDecoder::new(file), &mut out)
    });
    let mut stats = match copied {
        Ok(_) => read_events(&plain, threads, None, on_events),
        Err(e) => {
            // A cut or damaged stream: what was decompressed is still read.
            let mut stats = read_events(&plain, threads, None, on_events).unwrap_or_default();
            stats.damage.push(Damage {
                file: path.to_owned(),
                chunk: None,
                record: None,
                line: None,
                message: format!("the gzip stream could not be read to its end: {e}"),
            });
            Ok(stats)
        }
    };
    let _ = std::fs::remove_file(&plain);
    if let Ok(stats) = &mut stats {
        for d in &mut stats.damage {
            d.file = path.to_owned();
        }
    }
    stats
}

/// Reads every record of `path`, handing AppLocker events to `on_events` in batches, in
/// chunk order. Chunks are decoded on the current rayon pool when `threads` > 1.
/// Damaged chunks and records are skipped and listed in the returned stats.
pub(crate) fn read_events(
    path: &Path,
    threads: usize,
    skip_through: Option<u64>,
    mut on_events: impl FnMut(Vec<AuditEvent>),
) -> Result<FileStats, Error> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut stats = FileStats::default();
    let Some(layout) = file_layout(path, &file, &mut stats)? else {
        return Ok(stats);
    };
    let reader = ChunkReader {
        path,
        file: Mutex::new(file),
        checksums: layout.checksums,
        header_chunks: layout.header_chunks,
        settings: Arc::new(ParserSettings::default().validate_checksums(false)),
        skip_through,
    };
    let (mut zeroed, mut last_read) = (0, None);
    let window = WINDOW_PER_THREAD * threads.max(1) as u64;
    let mut batch = Vec::with_capacity(BATCH);
    let mut start = 0;
    while start < layout.chunks {
        let numbers = start..(start + window).min(layout.chunks);
        start = numbers.end;
        let outcomes: Vec<Result<ChunkOutcome, Error>> = if threads > 1 {
            numbers.into_par_iter().map(|n| reader.read(n)).collect()
        } else {
            numbers.map(|n| reader.read(n)).collect()
        };
        for outcome in outcomes {
            let outcome = outcome?;
            stats.records += outcome.stats.records;
            stats.other_records += outcome.stats.other_records;
            stats.damage.extend(outcome.stats.damage);
            zeroed += u64::from(outcome.zeroed);
            last_read = last_read.max(outcome.last_record_id);
            for event in outcome.events {
                batch.push(event);
                if batch.len() == BATCH {
                    on_events(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)));
                }
            }
        }
    }
    if !batch.is_empty() {
        on_events(batch);
    }
    stats
        .damage
        .extend(truncation(path, &layout, zeroed, last_read));
    stats.last_record_id = last_read;
    Ok(stats)
}

/// Reads and decodes the chunks of one file; shared by the worker threads.
struct ChunkReader<'a> {
    path: &'a Path,
    file: Mutex<File>,
    /// The file keeps CRC32s (its header does not say otherwise).
    checksums: bool,
    /// The chunks the file header counts: a zeroed one among them is damage.
    header_chunks: u64,
    settings: Arc<ParserSettings>,
    /// Chunks whose records all have ids up to this were read before (a collector
    /// resuming a growing log): not decoded again.
    skip_through: Option<u64>,
}

impl ChunkReader<'_> {
    /// Reads and decodes chunk `number` (its place in the file).
    fn read(&self, number: u64) -> Result<ChunkOutcome, Error> {
        let mut data = Vec::with_capacity(CHUNK_SIZE as usize);
        {
            let io = |e| Error::io(self.path, e);
            let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
            file.seek(SeekFrom::Start(HEADER_SIZE + number * CHUNK_SIZE))
                .map_err(io)?;
            (&mut *file)
                .take(CHUNK_SIZE)
                .read_to_end(&mut data)
                .map_err(io)?;
        }
        let mut outcome = ChunkOutcome::default();
        if data.len() as u64 != CHUNK_SIZE {
            return Ok(outcome); // the partial chunk at the end, reported with the header
        }
        if data.iter().all(|&b| b == 0) {
            if number < self.header_chunks {
                outcome.zeroed = true;
                outcome.stats.damage.push(Damage {
                    file: self.path.to_owned(),
                    chunk: Some(number),
                    record: None,
                    line: None,
                    message: format!(
                        "chunk {number} is all zeros, but the file header counts {} chunks: its records are lost",
                        self.header_chunks
                    ),
                });
            }
            return Ok(outcome); // past the counted chunks: unused, as Windows leaves them
        }
        if let Some(done) = self.skip_through
            && &data[..8] == CHUNK_MAGIC
        {
            // Chunk header offset 32: the chunk's last event record id.
            let last = u64::from_le_bytes(data[32..40].try_into().expect("8 bytes"));
            if last <= done {
                outcome.last_record_id = Some(last);
                return Ok(outcome);
            }
        }
        let mut verified = self.checksums && &data[..8] == CHUNK_MAGIC;
        if verified && let Some(problem) = chunk_checksum_problem(&data) {
            // Windows does not always refresh the CRC of the chunk it was writing when a log
            // is copied while open. Its records are still read (dropping them could hide an
            // app that enforcement would block), but the admin is told.
            outcome.stats.damage.push(Damage {
                file: self.path.to_owned(),
                chunk: Some(number),
                record: None,
                line: None,
                message: format!("{problem}; its records were read anyway and may be corrupt"),
            });
            verified = false;
        }
        let mut chunk = match EvtxChunkData::new(data, false) {
            Ok(chunk) => chunk,
            Err(e) => {
                let err = EvtxError::FailedToParseChunk {
                    chunk_id: number,
                    source: Box::new(e),
                };
                outcome.stats.damage.push(evtx_damage(self.path, &err));
                return Ok(outcome);
            }
        };
        chunk.number = Some(number);
        let (first_id, last_id) = (
            chunk.header.first_event_record_id,
            chunk.header.last_event_record_id,
        );
        outcome.last_record_id = Some(last_id);
        // Only chunks whose checksums hold take the fast path: the full parser is the one
        // that finds and names damage inside records.
        if !(verified && fast_chunk(&chunk, &mut outcome)) {
            outcome.events.clear();
            outcome.stats.records = 0;
            outcome.stats.other_records = 0;
            self.full_chunk(&mut chunk, number, &mut outcome);
        }
        self.check_record_count(number, first_id, last_id, &mut outcome);
        Ok(outcome)
    }

    /// Damage when a chunk yields fewer records than its header lists and nothing else was
    /// said about them: records hidden behind a free-space offset that checksums cover, or
    /// lost in a way no record error shows.
    fn check_record_count(&self, number: u64, first: u64, last: u64, outcome: &mut ChunkOutcome) {
        let listed = if last >= first { last - first + 1 } else { 0 };
        let read = outcome.stats.records;
        let explained = outcome.stats.damage.iter().any(|d| d.record.is_some());
        if read < listed && !explained {
            outcome.stats.damage.push(Damage {
                file: self.path.to_owned(),
                chunk: Some(number),
                record: None,
                line: None,
                message: format!(
                    "chunk {number} lists records {first} to {last} ({listed}) but holds {read} before its free space: the others are hidden or lost"
                ),
            });
        }
    }

    /// The `evtx` crate's way through a chunk: its record iterator, and JSON rendering for
    /// records the fast path cannot read.
    fn full_chunk(&self, data: &mut EvtxChunkData, number: u64, outcome: &mut ChunkOutcome) {
        let mut chunk = match data.parse(Arc::clone(&self.settings)) {
            Ok(chunk) => chunk,
            Err(e) => {
                let err = EvtxError::FailedToParseChunk {
                    chunk_id: number,
                    source: Box::new(e),
                };
                outcome.stats.damage.push(evtx_damage(self.path, &err));
                return;
            }
        };
        let stats = &mut outcome.stats;
        for record in chunk.iter() {
            let record = match record {
                Ok(record) => record,
                Err(err) => {
                    let mut damage = evtx_damage(self.path, &err);
                    damage.chunk.get_or_insert(number);
                    stats.damage.push(damage);
                    continue;
                }
            };
            let id = record.event_record_id;
            let fast = usize::try_from(record.binxml_offset)
                .ok()
                .and_then(|at| typed::decode(record.chunk.data, at, record.binxml_size as usize));
            let decoded = match fast {
                Some(decoded) => decoded,
                None => {
                    let json = match record.into_json_bytes() {
                        Ok(json) => json,
                        Err(err) => {
                            let mut damage = evtx_damage(self.path, &err);
                            damage.chunk.get_or_insert(number);
                            damage.record.get_or_insert(id);
                            stats.damage.push(damage);
                            continue;
                        }
                    };
                    match decode(&json.data) {
                        Ok(decoded) => decoded,
                        Err(e) => {
                            stats.damage.push(Damage {
                                file: self.path.to_owned(),
                                chunk: Some(number),
                                record: Some(id),
                                line: None,
                                message: e.0,
                            });
                            continue;
                        }
                    }
                }
            };
            count(decoded, &mut outcome.events, stats);
        }
    }
}

/// Counts a decoded record, keeping it if it is an AppLocker event.
fn count(decoded: Decoded, events: &mut Vec<AuditEvent>, stats: &mut FileStats) {
    stats.records += 1;
    match decoded {
        Decoded::AppLocker(event) => events.push(*event),
        Decoded::Other => stats.other_records += 1,
    }
}

/// The fast path through a chunk: its live records, walked as the `evtx` crate walks them
/// (from the chunk header to the free space, ending at the header's last record), each
/// decoded from its template values. `false` as soon as something does not fit; the caller
/// then takes the full path for the whole chunk.
fn fast_chunk(chunk: &EvtxChunkData, outcome: &mut ChunkOutcome) -> bool {
    let data = chunk.data.as_slice();
    let header = &chunk.header;
    let live_end = (header.free_space_offset as usize).min(data.len());
    let mut offset = CHUNK_HEADER_SIZE;
    while offset < live_end {
        let Ok(record) = EvtxRecordHeader::from_bytes_at(data, offset) else {
            return false;
        };
        let Ok(size) = record.record_data_size() else {
            return false;
        };
        let start = offset + RECORD_HEADER_SIZE;
        if start + size as usize > data.len() {
            return false;
        }
        let Some(decoded) = typed::decode(data, start, size as usize) else {
            return false;
        };
        count(decoded, &mut outcome.events, &mut outcome.stats);
        if record.event_record_id == header.last_event_record_id {
            break;
        }
        offset += record.data_size as usize;
    }
    true
}

/// A parser error as damage, keeping the chunk and record numbers it names.
fn evtx_damage(path: &Path, err: &EvtxError) -> Damage {
    let (chunk, record) = match err {
        EvtxError::FailedToParseChunk { chunk_id, .. } => (Some(*chunk_id), None),
        EvtxError::FailedToParseRecord { record_id, .. } => (None, Some(*record_id)),
        EvtxError::FailedToReadRecordAt { chunk, .. } => (*chunk, None),
        _ => (None, None),
    };
    Damage {
        file: path.to_owned(),
        chunk,
        record,
        line: None,
        message: error_chain(err),
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// Each record of `path` read by the fast path (`None`: left to the full renderer)
    /// and by the full renderer.
    fn both_paths(path: &Path) -> Vec<(Option<String>, String)> {
        let mut parser = EvtxParser::from_path(path).unwrap();
        parser
            .serialized_records(|record| {
                let record = record?;
                let fast = typed::decode(
                    record.chunk.data,
                    record.binxml_offset as usize,
                    record.binxml_size as usize,
                )
                .map(|d| format!("{d:?}"));
                let json = record.into_json_bytes()?;
                let full = match decode(&json.data) {
                    Ok(d) => format!("{d:?}"),
                    Err(e) => format!("{e:?}"),
                };
                Ok((fast, full))
            })
            .filter_map(Result::ok)
            .collect()
    }

    fn evtx_files(dir: &Path) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                files.extend(evtx_files(&path));
            } else if std::fs::read(&path).unwrap().starts_with(FILE_MAGIC) {
                files.push(path);
            }
        }
        files.sort();
        files
    }

    /// The fast path reads every record of the sample fleet (per-host logs of every event
    /// form, and collector files), and reads it exactly as the full renderer does.
    #[test]
    fn the_typed_path_agrees_with_the_full_renderer() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-logs");
        let files = evtx_files(&root);
        assert!(files.len() > 8, "{files:?}");
        let mut applocker = 0;
        for path in files {
            let results = both_paths(&path);
            assert!(!results.is_empty(), "{}", path.display());
            for (i, (fast, full)) in results.iter().enumerate() {
                assert_eq!(fast.as_ref(), Some(full), "{} record {i}", path.display());
                applocker += usize::from(full.starts_with("AppLocker"));
            }
        }
        assert!(applocker > 2000, "{applocker}");
    }

    /// Every chunk of the sample fleet takes the fast path (a chunk that silently fell back
    /// would only cost speed, so nothing else would notice), and it finds exactly what the
    /// `evtx` crate's way through the chunk finds.
    #[test]
    fn sample_chunks_take_the_fast_path_and_agree_with_the_full_one() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-logs");
        let mut chunks = 0;
        for path in evtx_files(&root) {
            let file = File::open(&path).unwrap();
            let mut stats = FileStats::default();
            let layout = file_layout(&path, &file, &mut stats).unwrap().unwrap();
            assert!(stats.damage.is_empty(), "{:?}", stats.damage);
            let reader = ChunkReader {
                path: &path,
                file: Mutex::new(file),
                checksums: layout.checksums,
                header_chunks: layout.header_chunks,
                settings: Arc::new(ParserSettings::default()),
                skip_through: None,
            };
            for number in 0..layout.chunks {
                let mut data = vec![0u8; CHUNK_SIZE as usize];
                let mut file = reader.file.lock().unwrap();
                file.seek(SeekFrom::Start(HEADER_SIZE + number * CHUNK_SIZE))
                    .unwrap();
                file.read_exact(&mut data).unwrap();
                drop(file);
                let mut chunk = EvtxChunkData::new(data, true).unwrap();
                let (mut fast, mut full) = (ChunkOutcome::default(), ChunkOutcome::default());
                let where_ = format!("{} chunk {number}", path.display());
                assert!(fast_chunk(&chunk, &mut fast), "{where_} fell back");
                reader.full_chunk(&mut chunk, number, &mut full);
                assert!(full.stats.damage.is_empty(), "{where_}");
                assert_eq!(fast.events, full.events, "{where_}");
                assert_eq!(
                    (fast.stats.records, fast.stats.other_records),
                    (full.stats.records, full.stats.other_records),
                    "{where_}"
                );
                assert!(fast.stats.records > 0, "{where_}");
                chunks += 1;
            }
        }
        assert!(chunks > 20, "{chunks}");
    }

    /// Real Windows logs (none AppLocker): whatever the fast path reads, it reads as the
    /// full renderer does.
    #[test]
    fn the_typed_path_agrees_on_real_windows_logs() {
        let root = testkit::fixture("real-evtx");
        let mut fast_records = 0;
        for path in evtx_files(&root) {
            for (i, (fast, full)) in both_paths(&path).iter().enumerate() {
                if let Some(fast) = fast {
                    assert_eq!(fast, full, "{} record {i}", path.display());
                    fast_records += 1;
                }
            }
        }
        assert!(fast_records > 1000, "{fast_records}");
    }

    /// A collector's record: `RenderingInfo` has a `Channel` of its own (a display name),
    /// and the payload is `EventData` in the record's own template, not a nested value.
    #[test]
    fn system_fields_come_from_system_and_inline_event_data_is_read() {
        use evtx_writer::{Element, EvtxWriter, Instance, Template, Value, ValueType as T};
        let template = Template::new(
            Element::new("Event")
                .child(
                    Element::new("System")
                        .child(Element::new("Provider").attr("Name", APPLOCKER))
                        .child(Element::new("EventID").subst(0, T::UInt16))
                        .child(Element::new("TimeCreated").attr_subst("SystemTime", 1, T::FileTime))
                        .child(Element::new("EventRecordID").subst(2, T::UInt64))
                        .child(
                            Element::new("Channel")
                                .text("Microsoft-Windows-AppLocker/MSI and Script"),
                        )
                        .child(Element::new("Computer").text("FIN-WS01.corp.example"))
                        .child(Element::new("Security").attr_subst("UserID", 3, T::Sid)),
                )
                .child(
                    Element::new("EventData")
                        .child(
                            Element::new("Data")
                                .attr("Name", "FilePath")
                                .subst(4, T::String),
                        )
                        .child(
                            Element::new("Data")
                                .attr("Name", "Unknown")
                                .subst(5, T::String),
                        )
                        .child(
                            Element::new("Data")
                                .attr("Name", "PolicyName")
                                .text("SCRIPT"),
                        ),
                )
                .child(
                    Element::new("RenderingInfo")
                        .child(Element::new("Channel").subst(6, T::String))
                        .child(Element::new("Computer").text("elsewhere")),
                ),
        );
        let values = vec![
            Value::UInt16(8006),
            Value::FileTime(evtx_writer::filetime_from_unix_nanos(
                1_700_000_000_000_000_000,
            )),
            Value::UInt64(42),
            Value::sid("S-1-5-21-1-2-3-1001").unwrap(),
            Value::string(r"%OSDRIVE%\USERS\A\RUN.PS1"),
            Value::string("not read"),
            Value::string("AppLocker MSI und Skript"),
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("collector.evtx");
        let mut writer = EvtxWriter::new(std::fs::File::create(&path).unwrap());
        writer
            .append(133_540_416_000_000_000, &Instance::new(&template, values))
            .unwrap();
        writer.finish().unwrap();
        let [(fast, full)] = both_paths(&path).try_into().unwrap();
        assert_eq!(fast.as_ref(), Some(&full));
        for expected in [
            r#"channel: "Microsoft-Windows-AppLocker/MSI and Script""#,
            r#"computer: "FIN-WS01.corp.example""#,
            r#"file_path: Some("%OSDRIVE%\\USERS\\A\\RUN.PS1")"#,
            r#"policy_name: Some("SCRIPT")"#,
            r#"user_sid: Some("S-1-5-21-1-2-3-1001")"#,
            "record_id: 42",
        ] {
            assert!(full.contains(expected), "{expected} not in {full}");
        }
    }

    const APPLOCKER: &str = crate::record::APPLOCKER_PROVIDER;
}
