//! The text forms admins export AppLocker events in, besides EVTX: event XML as Windows
//! renders it (`wevtutil qe … /f:xml`, `Get-WinEvent … | % ToXml()`, Splunk's
//! `XmlWinEventLog`) and JSON (Winlogbeat / Elastic Agent documents as NDJSON, an array, or
//! inside an Elasticsearch search response; also `evtx_dump -o jsonl` records), each
//! possibly gzip-compressed. Recognised by content, never by file name
//! (docs/architecture.md "Input forms").
//!
//! Every record becomes the same row an EVTX record gives (`record::assemble`); a record
//! that cannot be read is reported with its file and line, and the rest is read.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::Damage;
use crate::event::AuditEvent;
use crate::reader::FileStats;

pub(crate) mod json;
mod json_tree;
pub(crate) mod xml;
mod xml_fast;

/// What a file holds, by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InputForm {
    Evtx,
    EventXml,
    Json,
}

impl InputForm {
    pub(crate) fn name(self) -> &'static str {
        match self {
            InputForm::Evtx => "EVTX",
            InputForm::EventXml => "event XML",
            InputForm::Json => "JSON",
        }
    }
}

/// A file to read: its form and whether it is gzip-compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sniffed {
    pub(crate) form: InputForm,
    pub(crate) gzip: bool,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
use crate::reader::FILE_MAGIC as EVTX_MAGIC;
/// Bytes looked at to tell the form.
const SNIFF: usize = 4096;

/// The form of `path` by content, or `None` when it is none lockstep reads.
pub(crate) fn sniff(path: &Path) -> std::io::Result<Option<Sniffed>> {
    let mut head = Vec::with_capacity(SNIFF);
    File::open(path)?
        .take(SNIFF as u64)
        .read_to_end(&mut head)?;
    let gzip = head.starts_with(&GZIP_MAGIC);
    if gzip {
        head.clear();
        // A damaged gzip stream is told by the reader, with the file's name.
        let _ = MultiGzDecoder::new(File::open(path)?)
            .take(SNIFF as u64)
            .read_to_end(&mut head);
    }
    Ok(form_of(&head).map(|form| Sniffed { form, gzip }))
}

fn form_of(head: &[u8]) -> Option<InputForm> {
    if head.starts_with(EVTX_MAGIC) {
        return Some(InputForm::Evtx);
    }
    let text = decode_head(head);
    let first = text
        .trim_start_matches('\u{feff}')
        .trim_start()
        .chars()
        .next()?;
    match first {
        '<' if text.contains("<Event") => Some(InputForm::EventXml),
        // JSON that names none of the event fields in its first bytes is some other
        // document (a manifest, a config): not an export.
        '{' | '[' if JSON_MARKERS.iter().any(|m| text.contains(m)) => Some(InputForm::Json),
        _ => None,
    }
}

/// What an event export's first bytes name: Winlogbeat's and ECS's fields, or an
/// `evtx_dump` record.
const JSON_MARKERS: &[&str] = &[
    "\"winlog\"",
    "\"winlog.",
    "\"Winlog\"",
    "\"Winlog.",
    "\"@timestamp\"",
    "\"Event\"",
    "\"event.original\"",
];

/// The first bytes as text: UTF-16 LE (PowerShell 5's `Out-File`) or UTF-8.
fn decode_head(head: &[u8]) -> String {
    if head.starts_with(&[0xff, 0xfe]) {
        let units: Vec<u16> = head[2..]
            .chunks_exact(2)
            .map(|p| u16::from_le_bytes([p[0], p[1]]))
            .collect();
        return String::from_utf16_lossy(&units);
    }
    String::from_utf8_lossy(head).into_owned()
}

/// The file's text as UTF-8, through gzip and UTF-16 when needed, from byte `from` on when
/// the text's offsets are the file's (plain UTF-8). Returns the reader and, for plain text,
/// the file offset it starts at (`None`: decoded text, read from the beginning).
pub(crate) fn open_text(
    path: &Path,
    gzip: bool,
    from: u64,
) -> std::io::Result<(Box<dyn BufRead + Send>, Option<u64>)> {
    let mut file = File::open(path)?;
    if gzip {
        let mut reader = BufReader::with_capacity(1 << 16, MultiGzDecoder::new(file));
        let utf16 = reader.fill_buf()?.starts_with(&[0xff, 0xfe]);
        if utf16 {
            reader.consume(2);
            return Ok((
                Box::new(BufReader::with_capacity(1 << 16, Utf16Le::new(reader))),
                None,
            ));
        }
        return Ok((Box::new(reader), None));
    }
    let mut first = [0u8; 2];
    let n = file.read(&mut first)?;
    if n == 2 && first == [0xff, 0xfe] {
        let reader = BufReader::with_capacity(1 << 16, file);
        return Ok((
            Box::new(BufReader::with_capacity(1 << 16, Utf16Le::new(reader))),
            None,
        ));
    }
    let start = if from > file.metadata()?.len() {
        0
    } else {
        from
    };
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(start))?;
    Ok((
        Box::new(BufReader::with_capacity(1 << 16, file)),
        Some(start),
    ))
}

/// UTF-16 LE bytes in, UTF-8 bytes out (unpaired surrogates become U+FFFD).
struct Utf16Le<R> {
    inner: R,
    /// A byte of a code unit split across reads.
    odd: Option<u8>,
    /// A high surrogate waiting for its pair.
    high: Option<u16>,
    out: Vec<u8>,
    at: usize,
}

impl<R: Read> Utf16Le<R> {
    fn new(inner: R) -> Self {
        Utf16Le {
            inner,
            odd: None,
            high: None,
            out: Vec::new(),
            at: 0,
        }
    }

    fn push(&mut self, c: char) {
        let mut buf = [0u8; 4];
        self.out
            .extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }

    fn unit(&mut self, unit: u16) {
        match (self.high.take(), unit) {
            (Some(high), 0xdc00..=0xdfff) => {
                let c = 0x10000 + ((u32::from(high) - 0xd800) << 10) + (u32::from(unit) - 0xdc00);
                self.push(char::from_u32(c).unwrap_or('\u{fffd}'));
            }
            (high, 0xd800..=0xdbff) => {
                if high.is_some() {
                    self.push('\u{fffd}');
                }
                self.high = Some(unit);
            }
            (high, _) => {
                if high.is_some() {
                    self.push('\u{fffd}');
                }
                self.push(char::from_u32(u32::from(unit)).unwrap_or('\u{fffd}'));
            }
        }
    }
}

impl<R: Read> Read for Utf16Le<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.out.len() {
            self.out.clear();
            self.at = 0;
            let mut raw = [0u8; 8192];
            let n = self.inner.read(&mut raw)?;
            if n == 0 {
                if self.high.take().is_some() || self.odd.take().is_some() {
                    self.push('\u{fffd}');
                    continue;
                }
                return Ok(0);
            }
            let mut bytes = &raw[..n];
            if let Some(first) = self.odd.take() {
                self.unit(u16::from_le_bytes([first, bytes[0]]));
                bytes = &bytes[1..];
            }
            let mut pairs = bytes.chunks_exact(2);
            for pair in pairs.by_ref() {
                self.unit(u16::from_le_bytes([pair[0], pair[1]]));
            }
            self.odd = pairs.remainder().first().copied();
        }
        let n = buf.len().min(self.out.len() - self.at);
        buf[..n].copy_from_slice(&self.out[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Collects a text reader's events in batches and its findings.
pub(crate) struct Sink<'a> {
    path: &'a Path,
    batch: Vec<AuditEvent>,
    on_events: &'a mut dyn FnMut(Vec<AuditEvent>),
    pub(crate) stats: FileStats,
    /// The file may still be written to (a collector): a last record without its end
    /// (no newline, no `</Event>`) is not read yet, and not reported.
    pub(crate) live: bool,
}

/// Events handed on at a time.
const BATCH: usize = 1024;
/// Damage entries kept per file; the rest are counted in one last entry.
const MAX_DAMAGE: usize = 100;

impl<'a> Sink<'a> {
    pub(crate) fn new(path: &'a Path, on_events: &'a mut dyn FnMut(Vec<AuditEvent>)) -> Self {
        Sink {
            path,
            batch: Vec::with_capacity(BATCH),
            on_events,
            stats: FileStats::default(),
            live: false,
        }
    }

    /// One record read: an AppLocker event, another provider's, or one that failed.
    pub(crate) fn record(
        &mut self,
        line: u64,
        decoded: Result<crate::record::Decoded, crate::record::DecodeError>,
    ) {
        self.stats.records += 1;
        match decoded {
            Ok(crate::record::Decoded::AppLocker(event)) => {
                self.batch.push(*event);
                if self.batch.len() == BATCH {
                    (self.on_events)(std::mem::replace(
                        &mut self.batch,
                        Vec::with_capacity(BATCH),
                    ));
                }
            }
            Ok(crate::record::Decoded::Other) => self.stats.other_records += 1,
            Err(e) => self.damage(line, e.0),
        }
    }

    /// A part of the file that is not a record lockstep can read.
    pub(crate) fn damage(&mut self, line: u64, message: String) {
        let damage = &mut self.stats.damage;
        if damage.len() < MAX_DAMAGE {
            damage.push(Damage {
                file: self.path.to_owned(),
                chunk: None,
                record: None,
                line: Some(line),
                message,
            });
        } else if damage.len() == MAX_DAMAGE {
            damage.push(Damage {
                file: self.path.to_owned(),
                chunk: None,
                record: None,
                line: None,
                message: format!(
                    "more unreadable records after line {line} were skipped and not listed"
                ),
            });
        }
    }

    pub(crate) fn finish(mut self) -> FileStats {
        if !self.batch.is_empty() {
            (self.on_events)(std::mem::take(&mut self.batch));
        }
        self.stats
    }
}

/// Reads a text-form file: every AppLocker event to `on_events`, in file order. `resume`
/// (a collector's): the byte offset reading ended at last time; the file may still grow.
pub(crate) fn read_events(
    path: &Path,
    sniffed: Sniffed,
    resume: Option<u64>,
    mut on_events: impl FnMut(Vec<AuditEvent>),
) -> Result<FileStats, crate::Error> {
    let (reader, start) = open_text(path, sniffed.gzip, resume.unwrap_or(0))
        .map_err(|e| crate::Error::io(path, e))?;
    let mut sink = Sink::new(path, &mut on_events);
    sink.live = resume.is_some();
    sink.stats.consumed = start.unwrap_or(0);
    let result = match sniffed.form {
        InputForm::EventXml => xml::read(reader, &mut sink),
        InputForm::Json => json::read(reader, &mut sink),
        InputForm::Evtx => unreachable!("EVTX is read by crate::reader"),
    };
    if let Err(e) = result {
        // A read error mid-file (a cut gzip stream, a vanished share): what was read stays.
        sink.damage(e.line, format!("reading stopped here: {}", e.error));
    }
    let mut stats = sink.finish();
    if start.is_none() {
        // Decoded text (gzip, UTF-16) has no file offsets: a collector reads it whole again.
        stats.consumed = 0;
    }
    Ok(stats)
}

/// An I/O error at a line of a text file.
#[derive(Debug)]
pub(crate) struct ReadError {
    pub(crate) line: u64,
    pub(crate) error: std::io::Error,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_told_by_content() {
        assert_eq!(form_of(b"ElfFile\0rest"), Some(InputForm::Evtx));
        assert_eq!(
            form_of(b"\xef\xbb\xbf<?xml version=\"1.0\"?>\n<Events><Event xmlns=\"x\">"),
            Some(InputForm::EventXml)
        );
        assert_eq!(form_of(b"  {\"winlog\": {}}\n"), Some(InputForm::Json));
        assert_eq!(form_of(b"[{\"Event\": {}}]"), Some(InputForm::Json));
        assert_eq!(
            form_of(b"{\"options\": {\"seed\": 1, \"format\": \"winlogbeat\"}}"),
            None,
            "a manifest"
        );
        assert_eq!(form_of(b"computer,group\nFIN-*,finance\n"), None);
        assert_eq!(form_of(b"<html><body>"), None);
        let utf16: Vec<u8> = [0xff, 0xfe]
            .into_iter()
            .chain(
                "<Event xmlns='x'>"
                    .encode_utf16()
                    .flat_map(u16::to_le_bytes),
            )
            .collect();
        assert_eq!(form_of(&utf16), Some(InputForm::EventXml));
    }

    /// A file read to its end is consumed to its last byte, whatever follows the last
    /// event (a newline, `</Events>`): a collector shows it caught up, not one byte behind.
    #[test]
    fn a_whole_export_is_consumed_to_its_end() {
        let event = crate::text::xml::tests::EVENT_8003;
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("lines.xml", format!("{event}\r\n{event}\n")),
            ("wrapped.xml", format!("<Events>\n{event}\n</Events>\n")),
        ];
        for (name, text) in cases {
            let path = dir.path().join(name);
            std::fs::write(&path, &text).unwrap();
            let sniffed = sniff(&path).unwrap().unwrap();
            let mut events = 0;
            let stats = read_events(&path, sniffed, None, |batch| events += batch.len()).unwrap();
            assert_eq!(stats.consumed, text.len() as u64, "{name}");
            assert!(events > 0, "{name}");
        }
        // A file being written: a tail that could begin the next event waits.
        let path = dir.path().join("growing.xml");
        let text = format!("{event}\n<Eve");
        std::fs::write(&path, &text).unwrap();
        let sniffed = sniff(&path).unwrap().unwrap();
        let stats = read_events(&path, sniffed, Some(0), |_| {}).unwrap();
        assert_eq!(stats.consumed, (text.len() - 4) as u64);
    }

    #[test]
    fn utf16_becomes_utf8_across_reads() {
        let text = "Zoë 😀 \\\\FINSRV01\\Apps";
        let bytes: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        // One byte at a time: code units and surrogate pairs split across reads.
        struct Trickle(Vec<u8>, usize);
        impl Read for Trickle {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if self.1 == self.0.len() || buf.is_empty() {
                    return Ok(0);
                }
                buf[0] = self.0[self.1];
                self.1 += 1;
                Ok(1)
            }
        }
        let mut out = String::new();
        Utf16Le::new(Trickle(bytes, 0))
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, text);
    }
}
