//! Reading EVTX files: the only module that uses the `evtx` crate.
//!
//! A scan of the file first (truncation, checksums, where each chunk sits), then the `evtx` crate parses chunks (in parallel for big files) and each
//! record is rendered and decoded on the worker that parsed its chunk.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::Arc;

use evtx::err::EvtxError;
use evtx::{EvtxParser, ParserSettings};

mod template;
mod typed;

use crate::event::AuditEvent;
use crate::record::{Decoded, decode};
use crate::{Damage, Error};

const FILE_MAGIC: &[u8; 8] = b"ElfFile\0";
const CHUNK_MAGIC: &[u8; 8] = b"ElfChnk\0";
const HEADER_SIZE: u64 = 4096;
const CHUNK_SIZE: u64 = 65536;
/// Decoded events handed to the caller at a time: a few hundred KB, under the allocator's
/// large-object size, so batch memory is reused rather than fresh pages each time.
const BATCH: usize = 1024;

/// True when the file starts with the EVTX magic bytes (the extension does not matter).
pub(crate) fn has_evtx_magic(path: &Path) -> std::io::Result<bool> {
    let mut magic = [0u8; 8];
    let mut file = File::open(path)?;
    let mut read = 0;
    while read < magic.len() {
        match file.read(&mut magic[read..])? {
            0 => return Ok(false),
            n => read += n,
        }
    }
    Ok(&magic == FILE_MAGIC)
}

/// What reading one file found.
#[derive(Debug, Default)]
pub(crate) struct FileStats {
    pub(crate) records: u64,
    pub(crate) other_records: u64,
    pub(crate) damage: Vec<Damage>,
}

/// Where each chunk of a file starts, by the first record id in its header, so a decode
/// error can name its chunk; and what the headers say is wrong with the file.
struct Scan {
    chunk_by_first_id: HashMap<u64, u64>,
    damage: Vec<Damage>,
}

fn scan(path: &Path) -> Result<Scan, Error> {
    let io = |e| Error::io(path, e);
    let file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let mut damage = Vec::new();
    let file_damage = |message: String| Damage {
        file: path.to_owned(),
        chunk: None,
        record: None,
        message,
    };
    if len < HEADER_SIZE {
        damage.push(file_damage(format!(
            "file is {len} bytes, shorter than the 4096-byte EVTX header"
        )));
        return Ok(Scan {
            chunk_by_first_id: HashMap::new(),
            damage,
        });
    }
    let mut reader = BufReader::with_capacity(CHUNK_SIZE as usize, file);
    let mut header = vec![0u8; HEADER_SIZE as usize];
    reader.read_exact(&mut header).map_err(io)?;
    // File flag 0x4: the log keeps no checksums (real-evtx damaged_application_no-crc32).
    let no_crc = u32::from_le_bytes(header[120..124].try_into().expect("4 bytes")) & 0x4 != 0;
    let stored = u32::from_le_bytes(header[124..128].try_into().expect("4 bytes"));
    if !no_crc && stored != crc32fast::hash(&header[..120]) {
        damage.push(file_damage(
            "file header CRC32 mismatch; the chunks were read anyway".into(),
        ));
    }
    let full_chunks = (len - HEADER_SIZE) / CHUNK_SIZE;
    let tail = (len - HEADER_SIZE) % CHUNK_SIZE;
    let mut chunk_by_first_id = HashMap::new();
    let mut chunk = vec![0u8; CHUNK_SIZE as usize];
    for number in 0..full_chunks {
        reader.read_exact(&mut chunk).map_err(io)?;
        if &chunk[..8] != CHUNK_MAGIC {
            continue; // the parser reports it (or skips an all-zero chunk, as Windows leaves)
        }
        let first_id = u64::from_le_bytes(chunk[24..32].try_into().expect("8 bytes"));
        chunk_by_first_id.insert(first_id, number);
        if !no_crc && let Some(problem) = chunk_checksum_problem(&chunk) {
            // Windows does not always refresh the CRC of the chunk it was writing when a log
            // is copied while open. Its records are still read (dropping them could hide an
            // app that enforcement would block), but the admin is told.
            damage.push(Damage {
                file: path.to_owned(),
                chunk: Some(number),
                record: None,
                message: format!("{problem}; its records were read anyway and may be corrupt"),
            });
        }
    }
    if tail != 0 {
        // evtx_dump reads such a file without a word (real-evtx/SOURCES.md): say it.
        damage.push(Damage {
            file: path.to_owned(),
            chunk: Some(full_chunks),
            record: None,
            message: format!("file is truncated: chunk {full_chunks} has {tail} of {CHUNK_SIZE} bytes and was skipped"),
        });
    }
    Ok(Scan {
        chunk_by_first_id,
        damage,
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

/// One decoded record, or why it could not be decoded (record id, chunk first id, reason).
type Item = Result<Decoded, (u64, u64, String)>;

/// Reads every record of `path`, handing AppLocker events to `on_events` in batches.
/// Damaged chunks and records are skipped and listed in the returned stats.
pub(crate) fn read_events(
    path: &Path,
    threads: usize,
    mut on_events: impl FnMut(Vec<AuditEvent>),
) -> Result<FileStats, Error> {
    let Scan {
        chunk_by_first_id,
        damage,
    } = scan(path)?;
    let mut stats = FileStats {
        damage,
        ..FileStats::default()
    };
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let settings = ParserSettings::default()
        .num_threads(threads.max(1))
        .validate_checksums(false);
    // Unbuffered: the parser seeks to every chunk and reads it whole, so a BufReader would
    // only re-read (and discard) its buffer at each seek.
    let mut parser = match EvtxParser::from_read_seek(file) {
        Ok(p) => p.with_configuration(settings),
        Err(e) => {
            stats.damage.push(Damage {
                file: path.to_owned(),
                chunk: None,
                record: None,
                message: format!("unreadable EVTX header: {e}"),
            });
            return Ok(stats);
        }
    };
    let chunk_by_first_id = Arc::new(chunk_by_first_id);
    let mut batch = Vec::with_capacity(BATCH);
    let items = parser.serialized_records(|record| {
        let record = record?;
        if let Some(decoded) = typed::decode(&record) {
            return Ok::<Item, EvtxError>(Ok(decoded));
        }
        let id = record.event_record_id;
        let chunk_first = record.chunk.header.first_event_record_id;
        let json = record.into_json_bytes()?;
        Ok::<Item, EvtxError>(decode(&json.data).map_err(|e| (id, chunk_first, e.0)))
    });
    for item in items {
        match item {
            Ok(Ok(Decoded::AppLocker(event))) => {
                stats.records += 1;
                batch.push(*event);
                if batch.len() == BATCH {
                    on_events(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)));
                }
            }
            Ok(Ok(Decoded::Other)) => {
                stats.records += 1;
                stats.other_records += 1;
            }
            Ok(Err((record, chunk_first, message))) => stats.damage.push(Damage {
                file: path.to_owned(),
                chunk: chunk_by_first_id.get(&chunk_first).copied(),
                record: Some(record),
                message,
            }),
            Err(err) => stats.damage.push(evtx_damage(path, &err)),
        }
    }
    if !batch.is_empty() {
        on_events(batch);
    }
    Ok(stats)
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
                let fast = typed::decode(&record).map(|d| format!("{d:?}"));
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
            } else if has_evtx_magic(&path).unwrap() {
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
        assert!(files.len() > 10, "{files:?}");
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

    /// Real Windows logs (none AppLocker): whatever the fast path reads, it reads as the
    /// full renderer does.
    #[test]
    fn the_typed_path_agrees_on_real_windows_logs() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/real-evtx");
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
