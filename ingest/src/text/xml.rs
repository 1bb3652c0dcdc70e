//! Event XML: one `<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event">`
//! after another, or wrapped in `<Events>`, one per line or pretty-printed, with or without
//! `<RenderingInfo>`. The stream is cut into `<Event>` elements (at most [`MAX_EVENT`]
//! bytes each, so memory stays bounded whatever the file's size) and each is parsed on its
//! own: a malformed one is reported with its line and skipped.

use std::borrow::Cow;
use std::io::BufRead;

use roxmltree::Node;

use super::xml_fast::Scanned;
use super::{ReadError, Sink};
use crate::record::{DecodeError, Decoded, PayloadField, RawSystem, XML_NAMES, assemble};

/// The longest `<Event>` element read; AppLocker's are about 2 KB.
pub(crate) const MAX_EVENT: usize = 1 << 20;

const START: &[u8] = b"<Event";
const END: &[u8] = b"</Event>";

/// Reads every `<Event>` of `reader` into `sink`.
pub(crate) fn read(
    mut reader: Box<dyn BufRead + Send>,
    sink: &mut Sink<'_>,
) -> Result<(), ReadError> {
    let mut unread = Unread::default();
    // The line the first unread byte is on, 1-based.
    let mut line: u64 = 1;
    let mut eof = false;
    loop {
        // Find the next event's start.
        let Some(start) = find_start(unread.bytes()) else {
            // Keep a tail that could be the beginning of `<Event`; at the end, only one that
            // is (a file being written), so a file read to its end is consumed to its end
            // (the trailing newline, `</Events>`) and a collector sees it caught up.
            let keep = if eof {
                open_start_len(unread.bytes())
            } else {
                START.len().min(unread.len())
            };
            let done = unread.len() - keep;
            line += newlines(&unread.bytes()[..done]);
            unread.consume(done, sink);
            if eof {
                return Ok(());
            }
            eof = unread.fill(&mut reader, line)?;
            continue;
        };
        line += newlines(&unread.bytes()[..start]);
        unread.consume(start, sink);
        // Find its end, reading more as needed, up to MAX_EVENT; the newlines on the way
        // are counted in the same pass.
        let (mut from, mut inside) = (START.len(), 0);
        let end = loop {
            match find_end(unread.bytes(), from, &mut inside) {
                Ok(end) => break Some(end),
                Err(resume) => from = resume,
            }
            if unread.len() > MAX_EVENT || eof {
                break None;
            }
            eof = unread.fill(&mut reader, line)?;
        };
        match end {
            Some(end) => {
                let decoded = match std::str::from_utf8(&unread.bytes()[..end]) {
                    Ok(text) => decode(text),
                    Err(e) => Err(DecodeError(format!("not UTF-8 text: {e}"))),
                };
                sink.record(line, decoded);
                line += inside;
                unread.consume(end, sink);
            }
            // A collector's file may still be written: the rest is read next time.
            None if eof && sink.live && unread.len() <= MAX_EVENT => return Ok(()),
            None if eof && unread.len() <= MAX_EVENT => {
                sink.damage(
                    line,
                    "the last <Event> is cut off: no </Event> before the end of the file".into(),
                );
                return Ok(());
            }
            None => {
                sink.damage(
                    line,
                    format!(
                        "an <Event> without </Event> within {} KiB: skipped to the next <Event>",
                        MAX_EVENT >> 10
                    ),
                );
                line += newlines(&unread.bytes()[..START.len()]);
                unread.consume(START.len(), sink);
            }
        }
    }
}

/// The bytes read from the stream and not consumed yet: `buf[at..end]`. Consuming moves a
/// cursor; the rest moves to the front only when more is read (once per read, not once per
/// event), and the stream is read straight into `buf` (no copy through the reader's own
/// buffer).
#[derive(Default)]
struct Unread {
    buf: Vec<u8>,
    at: usize,
    end: usize,
}

/// How much is asked of the stream at once.
const READ_SIZE: usize = 256 << 10;

impl Unread {
    fn bytes(&self) -> &[u8] {
        &self.buf[self.at..self.end]
    }

    fn len(&self) -> usize {
        self.end - self.at
    }

    /// Consumes `n` bytes, counted as read from the file.
    fn consume(&mut self, n: usize, sink: &mut Sink<'_>) {
        self.at += n;
        sink.stats.consumed += n as u64;
    }

    /// Reads more of the stream; `true` at the end.
    fn fill(&mut self, reader: &mut Box<dyn BufRead + Send>, line: u64) -> Result<bool, ReadError> {
        use std::io::Read as _;
        self.buf.copy_within(self.at..self.end, 0);
        self.end -= self.at;
        self.at = 0;
        if self.buf.len() - self.end < READ_SIZE {
            self.buf.resize(self.end + READ_SIZE, 0);
        }
        let n = loop {
            match reader.read(&mut self.buf[self.end..]) {
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                other => break other.map_err(|error| ReadError { line, error })?,
            }
        };
        self.end += n;
        Ok(n == 0)
    }
}

/// The offset of the next `<Event` start tag (not `<Events`, `<EventData`, `<EventID`…).
fn find_start(buf: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = find(&buf[from..], START) {
        let at = from + at;
        match buf.get(at + START.len()) {
            Some(b) if b.is_ascii_whitespace() || *b == b'>' || *b == b'/' => return Some(at),
            // Not known yet whether it is `<Event` or `<Events`: wait for more.
            None => return None,
            Some(_) => from = at + START.len(),
        }
    }
    None
}

/// The end of the `</Event>` in `bytes` from `from` on (just after it), counting into
/// `newlines` the line breaks before it; else where to search on from once more is read
/// (a tail that could begin `</Event>` is searched again, its line breaks not yet counted).
fn find_end(bytes: &[u8], from: usize, newlines: &mut u64) -> Result<usize, usize> {
    for (i, &b) in bytes.iter().enumerate().skip(from) {
        match b {
            b'\n' => *newlines += 1,
            b'<' => {
                let rest = &bytes[i..];
                if rest.starts_with(END) {
                    return Ok(i + END.len());
                }
                if rest.len() < END.len() && END.starts_with(rest) {
                    return Err(i);
                }
            }
            _ => {}
        }
    }
    Err(bytes.len().max(from))
}

/// The length of the longest tail of `buf` that `<Event` could still grow from: `<`,
/// `<Ev`, …, or `<Event` itself (its next byte not written yet).
fn open_start_len(buf: &[u8]) -> usize {
    (1..=START.len().min(buf.len()))
        .rev()
        .find(|&n| START.starts_with(&buf[buf.len() - n..]))
        .unwrap_or(0)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    // By the first byte, then the rest: `<` is every few bytes in XML, the rest rarely.
    let (first, rest) = needle.split_first()?;
    let mut from = 0;
    while let Some(at) = haystack[from..].iter().position(|b| b == first) {
        let at = from + at;
        if haystack[at + 1..].starts_with(rest) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

fn newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|b| **b == b'\n').count() as u64
}

/// One `<Event>` element into a row (or `Other` for another provider): by the fast scan
/// where it reads the element ([`super::xml_fast`]), else by roxmltree.
pub(crate) fn decode(text: &str) -> Result<Decoded, DecodeError> {
    match decode_fast(text) {
        Some(decoded) => decoded,
        None => decode_full(text),
    }
}

/// [`decode`] by the fast scan; `None` where it leaves the element to roxmltree.
fn decode_fast(text: &str) -> Option<Result<Decoded, DecodeError>> {
    let s = Scanned::new(text)?;
    let system = s.child(0, "System");
    let of = |name: &str| system.and_then(|sys| s.child(sys, name));
    // System values are borrowed as written; one with a reference goes the full way.
    let text_of = |name: &str| of(name).map_or(Some(None), |at| s.plain_text(at));
    let attribute_of = |name: &str, attribute: &str| {
        of(name).map_or(Some(None), |at| s.plain_attribute(at, attribute))
    };
    let raw = RawSystem {
        provider: attribute_of("Provider", "Name")?,
        event_id: text_of("EventID")?,
        time: attribute_of("TimeCreated", "SystemTime")?,
        time_us: None,
        record_id: text_of("EventRecordID")?,
        computer: text_of("Computer")?,
        channel: text_of("Channel")?,
        security_user: attribute_of("Security", "UserID")?,
    };
    let sys = match raw.check(&XML_NAMES) {
        Ok(Some(sys)) => sys,
        Ok(None) => return Some(Ok(Decoded::Other)),
        Err(e) => return Some(Err(e)),
    };
    let user_data = s.child(0, "UserData").and_then(|u| s.first_child(u));
    let event_data = s.child(0, "EventData");
    let value = |field: PayloadField| {
        let name = field.name();
        match (user_data, event_data) {
            (Some(data), _) => s.child(data, name).and_then(|at| s.text(at)),
            (None, Some(data)) => s.data_named(data, name).and_then(|at| s.text(at)),
            (None, None) => None,
        }
    };
    Some(Ok(Decoded::AppLocker(Box::new(assemble(sys, value)))))
}

/// [`decode`] by roxmltree: every element it reads, and the error for one it cannot.
fn decode_full(text: &str) -> Result<Decoded, DecodeError> {
    let doc = roxmltree::Document::parse(text)
        .map_err(|e| DecodeError(format!("not well-formed event XML: {e}")))?;
    let event = doc.root_element();
    if event.tag_name().name() != "Event" {
        return Err(DecodeError(format!(
            "<{}> where an <Event> was expected",
            event.tag_name().name()
        )));
    }
    let system = child(event, "System");
    let of = |name: &str| system.and_then(|s| child(s, name));
    let raw = RawSystem {
        provider: of("Provider").and_then(|p| p.attribute("Name")),
        event_id: of("EventID").and_then(|n| n.text()),
        time: of("TimeCreated").and_then(|t| t.attribute("SystemTime")),
        time_us: None,
        record_id: of("EventRecordID").and_then(|n| n.text()),
        computer: of("Computer").and_then(|n| n.text()),
        channel: of("Channel").and_then(|n| n.text()),
        security_user: of("Security").and_then(|s| s.attribute("UserID")),
    };
    let Some(sys) = raw.check(&XML_NAMES)? else {
        return Ok(Decoded::Other);
    };
    // `UserData/RuleAndFileData/*` (and the packaged-app form), or `EventData/Data[@Name]`.
    let user_data = child(event, "UserData").and_then(|u| u.children().find(Node::is_element));
    let event_data = child(event, "EventData");
    let value = |field: PayloadField| -> Option<&str> {
        let name = field.name();
        match (user_data, event_data) {
            (Some(data), _) => child(data, name).and_then(|n| n.text()),
            (None, Some(data)) => data
                .children()
                .find(|n| n.is_element() && n.attribute("Name") == Some(name))
                .and_then(|n| n.text()),
            (None, None) => None,
        }
    };
    let event = assemble(sys, |field| value(field).map(Cow::Borrowed));
    Ok(Decoded::AppLocker(Box::new(event)))
}

fn child<'a, 'input>(node: Node<'a, 'input>, name: &str) -> Option<Node<'a, 'input>> {
    node.children()
        .find(|n| n.is_element() && n.tag_name().name() == name)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The spec example as `wevtutil qe /f:xml` renders it.
    pub(crate) const EVENT_8003: &str = r#"<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System><Provider Name="Microsoft-Windows-AppLocker" Guid="{cbda4dbf-8d5d-4f69-9578-be14aa540d22}"/><EventID>8003</EventID><Version>0</Version><Level>3</Level><Task>0</Task><Opcode>0</Opcode><Keywords>0x8000000000000000</Keywords><TimeCreated SystemTime="2023-07-20T15:05:03.8826518Z"/><EventRecordID>154247</EventRecordID><Correlation/><Execution ProcessID="33848" ThreadID="12040"/><Channel>Microsoft-Windows-AppLocker/EXE and DLL</Channel><Computer>TOPSYLL.local</Computer><Security UserID="S-1-5-21-1-2-3-200319"/></System><UserData><RuleAndFileData xmlns="http://schemas.microsoft.com/schemas/event/Microsoft.Windows/1.0.0.0"><PolicyNameLength>3</PolicyNameLength><PolicyName>EXE</PolicyName><RuleId>{00000000-0000-0000-0000-000000000000}</RuleId><RuleNameLength>1</RuleNameLength><RuleName>-</RuleName><RuleSddlLength>1</RuleSddlLength><RuleSddl>-</RuleSddl><TargetUser>S-1-5-21-1-2-3-200319</TargetUser><TargetProcessId>27116</TargetProcessId><FilePathLength>30</FilePathLength><FilePath>%OSDRIVE%\USERS\TOPSY\GIT.EXE</FilePath><FileHashLength>32</FileHashLength><FileHash>11D3940DE41D28E044CE45AB76A6D824E617D99B62C5FB44E37BE5CD7B0545F5</FileHash><FqbnLength>66</FqbnLength><Fqbn>O=JOHANNES SCHINDELIN, S=NORDRHEIN-WESTFALEN, C=DE\GIT\GIT.EXE\2.35.5.01</Fqbn><TargetLogonId>0x14fcb7</TargetLogonId><FullFilePathLength>22</FullFilePathLength><FullFilePath>C:\Users\TOPSY\git.exe</FullFilePath></RuleAndFileData></UserData><RenderingInfo Culture="en-US"><Message>%OSDRIVE%\USERS\TOPSY\GIT.EXE was allowed to run but would have been prevented from running if the AppLocker policy were enforced.</Message><Level>Warning</Level></RenderingInfo></Event>"#;

    fn event(text: &str) -> crate::event::AuditEvent {
        match decode(text).unwrap() {
            Decoded::AppLocker(e) => *e,
            Decoded::Other => panic!("not AppLocker"),
        }
    }

    /// The spec example as XML and as the EVTX renderer's JSON: the same row.
    #[test]
    fn the_xml_form_gives_the_row_the_json_form_gives() {
        let from_json = match crate::record::decode(crate::record::tests::SAMPLE_8003.as_bytes()) {
            Ok(Decoded::AppLocker(e)) => *e,
            other => panic!("{other:?}"),
        };
        assert_eq!(event(EVENT_8003), from_json);
    }

    #[test]
    fn app_control_events_read_event_data_by_name() {
        let xml = r#"<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System><Provider Name="Microsoft-Windows-AppLocker"/><EventID>8028</EventID><TimeCreated SystemTime="2026-10-05T09:00:00.0000000Z"/><EventRecordID>7</EventRecordID><Channel>Microsoft-Windows-AppLocker/MSI and Script</Channel><Computer>ENG-WS01</Computer></System><EventData><Data Name="FilePath">\Device\HarddiskVolume3\Users\a\x.ps1</Data><Data Name="Sha256Hash">AB01</Data></EventData></Event>"#;
        let e = event(xml);
        assert_eq!(e.event_id, 8028);
        assert_eq!(
            e.file_path.as_deref(),
            Some(r"\Device\HarddiskVolume3\Users\a\x.ps1")
        );
        assert_eq!(e.file_hash.as_deref(), Some("AB01"));
    }

    #[test]
    fn other_providers_and_broken_elements() {
        let other = EVENT_8003.replace("Microsoft-Windows-AppLocker", "Service Control Manager");
        assert!(matches!(decode(&other).unwrap(), Decoded::Other));
        let err = decode(&EVENT_8003.replace("</Computer>", "")).unwrap_err();
        assert!(err.0.starts_with("not well-formed event XML"), "{}", err.0);
        let err =
            decode(&EVENT_8003.replace("<Computer>TOPSYLL.local</Computer>", "")).unwrap_err();
        assert_eq!(err.0, "missing field System/Computer");
        let doctype = format!("<!DOCTYPE Event [<!ENTITY x \"y\">]>{EVENT_8003}");
        assert!(decode(&doctype).is_err(), "no DTDs, so no entity expansion");
    }

    #[test]
    fn only_a_tail_that_could_start_an_event_is_left_unread() {
        assert_eq!(open_start_len(b"</Event>\n"), 0);
        assert_eq!(open_start_len(b"</Event></Events>\r\n"), 0);
        assert_eq!(open_start_len(b"</Event>\n<Ev"), 3);
        assert_eq!(open_start_len(b"</Event>\n<Event"), 6);
        assert_eq!(open_start_len(b"</Event><"), 1);
        assert_eq!(open_start_len(b""), 0);
    }

    /// The fast scan reads what roxmltree reads: every event of the sample fleet's XML
    /// export, pretty-printed, with references, and App Control's form.
    #[test]
    fn the_fast_scan_reads_what_roxmltree_reads() {
        let root =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-logs/FIN-LT001");
        let mut texts: Vec<String> = Vec::new();
        for entry in std::fs::read_dir(root).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            texts.extend(text.lines().map(str::to_owned));
        }
        assert!(texts.len() > 200, "{}", texts.len());
        let pretty = EVENT_8003.replace("><", ">\r\n  <");
        let escaped = EVENT_8003.replace("GIT.EXE</FilePath>", "G&amp;IT &#x41;.EXE</FilePath>");
        texts.extend([EVENT_8003.to_owned(), pretty, escaped]);
        for text in &texts {
            let fast = decode_fast(text).expect("the fast scan reads Windows' event XML");
            assert_eq!(fast, decode_full(text), "{text}");
        }
        let escaped = decode(&EVENT_8003.replace("GIT.EXE</FilePath>", "G&amp;IT.EXE</FilePath>"));
        let Ok(Decoded::AppLocker(e)) = escaped else {
            panic!("{escaped:?}")
        };
        assert_eq!(
            e.file_path.as_deref(),
            Some("%OSDRIVE%\\USERS\\TOPSY\\G&IT.EXE")
        );
    }

    /// Damaged events (seeded byte changes): where the fast scan gives an answer, it is
    /// roxmltree's; what it cannot judge it leaves to roxmltree.
    #[test]
    fn damaged_events_read_the_same_either_way() {
        let mut state: u64 = 0x005E_ED0F_E7E7;
        let mut next = |n: usize| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as usize % n
        };
        const MARKUP: &[u8] = b"<>/&\"'= x;#";
        let bytes = EVENT_8003.as_bytes();
        let (mut answered, mut left) = (0, 0);
        for _ in 0..4000 {
            let mut damaged = bytes.to_vec();
            for _ in 0..1 + next(3) {
                let at = next(damaged.len());
                match next(3) {
                    0 => {
                        damaged.remove(at);
                    }
                    1 => damaged[at] = MARKUP[next(MARKUP.len())],
                    _ => damaged.insert(at, MARKUP[next(MARKUP.len())]),
                }
            }
            let Ok(text) = std::str::from_utf8(&damaged) else {
                continue;
            };
            match decode_fast(text) {
                Some(fast) => {
                    answered += 1;
                    assert_eq!(fast, decode_full(text), "{text}");
                }
                None => left += 1,
            }
        }
        assert!(answered > 100 && left > 100, "{answered} {left}");
    }

    #[test]
    fn the_end_is_found_across_reads_with_its_lines_counted_once() {
        let mut lines = 0;
        assert_eq!(find_end(b"<Event>\n<A/>\n</Ev", 6, &mut lines), Err(13));
        assert_eq!(lines, 2);
        assert_eq!(
            find_end(b"<Event>\n<A/>\n</Event>\n", 13, &mut lines),
            Ok(21)
        );
        assert_eq!(lines, 2, "the tail searched again holds no line break");
        let mut lines = 0;
        assert_eq!(find_end(b"<Event>x", 6, &mut lines), Err(8));
        assert_eq!(find_end(b"<E", 6, &mut lines), Err(6));
    }

    #[test]
    fn find_finds_the_first_whole_needle() {
        assert_eq!(find(b"<Ev<Event", b"<Event"), Some(3));
        assert_eq!(find(b"</Event", b"</Event>"), None);
        assert_eq!(find(b"x</Event>", b"</Event>"), Some(1));
        assert_eq!(find(b"", b"<"), None);
    }

    #[test]
    fn starts_are_event_elements_only() {
        assert_eq!(find_start(b"<Events><Event xmlns='x'>"), Some(8));
        assert_eq!(find_start(b"<EventData><EventID>"), None);
        assert_eq!(find_start(b"<Event"), None, "not known yet");
        assert_eq!(find_start(b"x\n<Event>"), Some(2));
    }
}
