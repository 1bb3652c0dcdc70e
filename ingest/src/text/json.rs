//! JSON exports: NDJSON (one event a line), a top-level array (streamed, element by
//! element), or one object whose array member holds the events (an Elasticsearch search
//! response's `hits.hits[]._source`, an export tool's `{"events": [...]}`; read whole, at
//! most [`MAX_DOCUMENT`] bytes).
//!
//! An event is, in order of preference: a Winlogbeat / Elastic Agent document that kept the
//! event XML in `event.original` (read as event XML, the full-fidelity form); an `evtx_dump`
//! record (`{"Event": {...}}`, read as EVTX records are); or a Winlogbeat document's
//! fields: `winlog.channel`, `winlog.provider_name`, `winlog.event_id`, `winlog.record_id`,
//! `winlog.computer_name`, `winlog.user.identifier`, `winlog.user_data` (AppLocker's
//! `RuleAndFileData`) or `winlog.event_data` (8028/8029), and `@timestamp`. Field names
//! match case-insensitively, nested (`{"winlog": {"channel": …}}`) or dotted
//! (`{"winlog.channel": …}`); numbers may come as text, and backslashes doubled by a JSON
//! writer are halved (docs/architecture.md "Input forms").

use std::borrow::Cow;
use std::io::BufRead;

use super::json_tree::Json;
use super::{ReadError, Sink};
use crate::record::{DecodeError, Decoded, FieldNames, PayloadField, RawSystem, assemble};

/// The largest wrapper document (`{"hits": …}`) read whole.
pub(crate) const MAX_DOCUMENT: usize = 512 << 20;
/// The longest single event (a line, or an array element).
const MAX_EVENT: usize = 1 << 20;

const WINLOG_NAMES: FieldNames = FieldNames {
    event_id: "winlog.event_id",
    time: "@timestamp",
    record_id: "winlog.record_id",
    computer: "winlog.computer_name",
    channel: "winlog.channel",
};

/// Reads every event of `reader` into `sink`.
pub(crate) fn read(
    mut reader: Box<dyn BufRead + Send>,
    sink: &mut Sink<'_>,
) -> Result<(), ReadError> {
    let mut first = String::new();
    let mut line = 1;
    // Leading blank lines, and a UTF-8 BOM, are not content.
    loop {
        first.clear();
        let n = reader
            .read_line(&mut first)
            .map_err(|error| ReadError { line, error })?;
        if n == 0 {
            return Ok(());
        }
        let trimmed = first.trim_start_matches('\u{feff}').trim();
        if !trimmed.is_empty() {
            break;
        }
        sink.stats.consumed += n as u64;
        line += 1;
    }
    let trimmed = first.trim_start_matches('\u{feff}').trim_start();
    if let Some(rest) = trimmed.strip_prefix('[') {
        // Only NDJSON is read on from an offset: a document is read whole each time.
        sink.stats.consumed = 0;
        return read_array(rest.to_owned(), reader, line, sink);
    }
    match Json::parse(trimmed) {
        // A whole object on the first line: NDJSON, or a one-line wrapper document.
        Ok(object @ Json::Object(_)) if events_member(&object).is_none() => {
            if sink.live && !first.ends_with('\n') {
                return Ok(()); // still being written
            }
            sink.stats.consumed += first.len() as u64;
            sink.record(line, decode_event(&object));
            read_lines(reader, line + 1, sink)
        }
        Ok(document) => {
            sink.stats.consumed = 0;
            let more = read_rest(&mut reader, line, MAX_DOCUMENT)?;
            if more.trim().is_empty() {
                read_document(document, line, sink);
            } else {
                // A wrapper first, then more lines: NDJSON after all.
                sink.record(line, decode_event(&document));
                for (i, text) in more.lines().enumerate() {
                    line_event(text, line + 1 + i as u64, sink);
                }
            }
            Ok(())
        }
        // Not a whole object on one line: one pretty-printed document (or, in a file still
        // being written, an NDJSON line not finished yet).
        Err(_) if sink.live && !first.ends_with('\n') => Ok(()),
        Err(_) => {
            sink.stats.consumed = 0;
            let mut text = first.clone();
            text.push_str(&read_rest(&mut reader, line, MAX_DOCUMENT)?);
            match Json::parse(text.trim_start_matches('\u{feff}')) {
                Ok(document) => read_document(document, line, sink),
                Err(e) => sink.damage(
                    line + e.line().saturating_sub(1) as u64,
                    format!("not JSON (neither one event per line nor one document): {e}"),
                ),
            }
            Ok(())
        }
    }
}

/// The rest of the stream as text, refusing more than `limit` bytes.
fn read_rest(
    reader: &mut Box<dyn BufRead + Send>,
    line: u64,
    limit: usize,
) -> Result<String, ReadError> {
    let mut text = String::new();
    let n = std::io::Read::read_to_string(
        &mut std::io::Read::take(&mut **reader, limit as u64 + 1),
        &mut text,
    )
    .map_err(|error| ReadError { line, error })?;
    if n > limit {
        return Err(ReadError {
            line,
            error: std::io::Error::other(format!(
                "a JSON document over {} MiB: export it as NDJSON (one event per line) instead",
                limit >> 20
            )),
        });
    }
    Ok(text)
}

/// NDJSON from `line` on.
fn read_lines(
    mut reader: Box<dyn BufRead + Send>,
    mut line: u64,
    sink: &mut Sink<'_>,
) -> Result<(), ReadError> {
    let mut text = String::new();
    loop {
        text.clear();
        let n = std::io::Read::take(&mut *reader, MAX_EVENT as u64 + 1)
            .read_line(&mut text)
            .map_err(|error| ReadError { line, error })?;
        if n == 0 {
            return Ok(());
        }
        if n > MAX_EVENT && !text.ends_with('\n') {
            sink.damage(
                line,
                format!("a line over {} KiB: skipped", MAX_EVENT >> 10),
            );
            // The rest of that line.
            let mut rest = Vec::new();
            reader
                .read_until(b'\n', &mut rest)
                .map_err(|error| ReadError { line, error })?;
            sink.stats.consumed += (n + rest.len()) as u64;
        } else if sink.live && !text.ends_with('\n') {
            return Ok(()); // the line being written: read next time
        } else {
            sink.stats.consumed += n as u64;
            line_event(&text, line, sink);
        }
        line += 1;
    }
}

fn line_event(text: &str, line: u64, sink: &mut Sink<'_>) {
    let text = text.trim();
    if text.is_empty() {
        return;
    }
    match Json::parse(text) {
        Ok(value @ Json::Object(_)) => sink.record(line, decode_event(&value)),
        Ok(_) => sink.damage(line, "a JSON value that is not an object".into()),
        Err(e) => sink.damage(line, format!("not JSON: {e}")),
    }
}

/// A top-level array, element by element: a small scanner finds where each element ends
/// (strings and nesting tracked), so the file is never held whole.
fn read_array(
    rest_of_first_line: String,
    mut reader: Box<dyn BufRead + Send>,
    first_line: u64,
    sink: &mut Sink<'_>,
) -> Result<(), ReadError> {
    let mut scanner = ElementScanner::new(first_line);
    scanner.feed(rest_of_first_line.as_bytes(), sink);
    scanner.feed(b"\n", sink);
    loop {
        let chunk = reader.fill_buf().map_err(|error| ReadError {
            line: scanner.line,
            error,
        })?;
        if chunk.is_empty() {
            break;
        }
        let n = chunk.len();
        let owned = chunk.to_vec();
        reader.consume(n);
        scanner.feed(&owned, sink);
        if scanner.done {
            break;
        }
    }
    if !scanner.done {
        sink.damage(
            scanner.line,
            "the JSON array is cut off: no closing ]".into(),
        );
    }
    Ok(())
}

/// Splits `elem, elem, …]` into elements.
struct ElementScanner {
    element: Vec<u8>,
    depth: u32,
    in_string: bool,
    escaped: bool,
    line: u64,
    element_line: u64,
    done: bool,
    oversized: bool,
}

impl ElementScanner {
    fn new(line: u64) -> Self {
        ElementScanner {
            element: Vec::new(),
            depth: 0,
            in_string: false,
            escaped: false,
            line,
            element_line: line,
            done: false,
            oversized: false,
        }
    }

    fn feed(&mut self, bytes: &[u8], sink: &mut Sink<'_>) {
        for &b in bytes {
            if self.done {
                return;
            }
            if b == b'\n' {
                self.line += 1;
            }
            if self.in_string {
                self.escaped = !self.escaped && b == b'\\';
                if b == b'"' && !self.escaped {
                    self.in_string = false;
                }
                self.keep(b);
                continue;
            }
            match b {
                b'"' => {
                    self.in_string = true;
                    self.escaped = false;
                    self.keep(b);
                }
                b'{' | b'[' => {
                    self.depth += 1;
                    self.keep(b);
                }
                b'}' | b']' if self.depth > 0 => {
                    self.depth -= 1;
                    self.keep(b);
                }
                b']' => {
                    self.end_element(sink);
                    self.done = true;
                }
                b',' if self.depth == 0 => self.end_element(sink),
                _ => self.keep(b),
            }
        }
    }

    fn keep(&mut self, b: u8) {
        if self.element.iter().all(u8::is_ascii_whitespace) && !b.is_ascii_whitespace() {
            self.element.clear();
            self.element_line = self.line;
        }
        if self.element.len() < MAX_EVENT {
            self.element.push(b);
        } else {
            self.oversized = true;
        }
    }

    fn end_element(&mut self, sink: &mut Sink<'_>) {
        let text = std::mem::take(&mut self.element);
        if std::mem::take(&mut self.oversized) {
            sink.damage(
                self.element_line,
                format!("an array element over {} KiB: skipped", MAX_EVENT >> 10),
            );
            return;
        }
        let text = String::from_utf8_lossy(&text);
        if text.trim().is_empty() {
            return;
        }
        match Json::parse(&text) {
            Ok(value @ Json::Object(_)) => sink.record(self.element_line, decode_event(&value)),
            Ok(_) => sink.damage(
                self.element_line,
                "an array element that is not an object".into(),
            ),
            Err(e) => sink.damage(self.element_line, format!("not JSON: {e}")),
        }
    }
}

/// A whole document: a wrapper with an array of events, an array, or one event.
fn read_document(document: Json<'_>, line: u64, sink: &mut Sink<'_>) {
    let events = match &document {
        Json::Array(items) => Some(items),
        Json::Object(_) => events_member(&document),
        _ => None,
    };
    match (events, &document) {
        (Some(items), _) => {
            for item in items {
                // Elasticsearch hits keep the document in `_source`.
                let event = item.get("_source").unwrap_or(item);
                match event {
                    Json::Object(_) => sink.record(line, decode_event(event)),
                    _ => sink.damage(
                        line,
                        "an element of the events array that is not an object".into(),
                    ),
                }
            }
        }
        (None, Json::Object(_)) => sink.record(line, decode_event(&document)),
        (None, _) => sink.damage(
            line,
            "a JSON document that is neither an event nor holds events".into(),
        ),
    }
}

/// The array of events a wrapper object holds: `hits.hits`, or the first member that is an
/// array of objects. `None` for an object that is an event itself.
fn events_member<'j, 'a>(object: &'j Json<'a>) -> Option<&'j Vec<Json<'a>>> {
    if let Some(Json::Array(hits)) = object.get("hits").and_then(|h| h.get("hits")) {
        return Some(hits);
    }
    if is_event(object) {
        return None;
    }
    object.members()?.iter().find_map(|(_, v)| match v {
        Json::Array(items) if items.first().is_some_and(Json::is_object) => Some(items),
        _ => None,
    })
}

fn is_event(object: &Json<'_>) -> bool {
    let members = object.members().unwrap_or_default();
    ["winlog", "event", "Event", "@timestamp"].iter().any(|k| {
        members.iter().any(|(key, _)| {
            key.eq_ignore_ascii_case(k)
                || key
                    .to_ascii_lowercase()
                    .starts_with(&format!("{}.", k.to_ascii_lowercase()))
        })
    })
}

/// One event document into a row.
pub(crate) fn decode_event(value: &Json<'_>) -> Result<Decoded, DecodeError> {
    if let Some(Json::String(xml)) = lookup(value, "event.original")
        && xml.trim_start().starts_with("<Event")
    {
        return super::xml::decode(xml);
    }
    if value.get("Event").is_some() {
        let bytes = serde_json::to_vec(value).expect("a JSON value serializes");
        return crate::record::decode(&bytes);
    }
    let text = |path: &str| lookup(value, path).and_then(Json::scalar);
    let provider = text("winlog.provider_name").or_else(|| text("event.provider"));
    let event_id = text("winlog.event_id").or_else(|| text("event.code"));
    let time = text("winlog.time_created").or_else(|| text("@timestamp"));
    let record_id = text("winlog.record_id");
    let computer = text("winlog.computer_name").or_else(|| text("host.name"));
    let channel = text("winlog.channel");
    let user = text("winlog.user.identifier");
    let raw = RawSystem {
        provider: provider.as_deref(),
        event_id: event_id.as_deref(),
        time: time.as_deref(),
        time_us: time.as_deref().and_then(time_with_offset),
        record_id: record_id.as_deref(),
        computer: computer.as_deref(),
        channel: channel.as_deref(),
        security_user: user.as_deref(),
    };
    let Some(sys) = raw.check(&WINLOG_NAMES)? else {
        return Ok(Decoded::Other);
    };
    let payload = lookup(value, "winlog.user_data").or_else(|| lookup(value, "winlog.event_data"));
    let event = assemble(sys, |field| {
        let v = payload
            .and_then(|p| lookup(p, field.name()))
            .and_then(Json::scalar)?;
        Some(match field {
            PayloadField::FilePath
            | PayloadField::FullFilePath
            | PayloadField::Fqbn
            | PayloadField::RuleName => match undouble_backslashes(&v) {
                Cow::Owned(halved) => Cow::Owned(halved),
                Cow::Borrowed(_) => v,
            },
            _ => v,
        })
    });
    Ok(Decoded::AppLocker(Box::new(event)))
}

/// `a.b.c` in `value`: nested members, dotted keys, or a mix; names case-insensitive.
fn lookup<'v, 'a>(value: &'v Json<'a>, path: &str) -> Option<&'v Json<'a>> {
    let Json::Object(object) = value else {
        return None;
    };
    // The longest dotted prefix that is a key, then the rest below it.
    let mut split = Some(path.len());
    while let Some(at) = split {
        let (head, rest) = path.split_at(at);
        if let Some((_, v)) = object.iter().find(|(k, _)| k.eq_ignore_ascii_case(head)) {
            match rest.strip_prefix('.') {
                None => return Some(v),
                Some(rest) => {
                    if let Some(found) = lookup(v, rest) {
                        return Some(found);
                    }
                }
            }
        }
        split = head.rfind('.');
    }
    None
}

/// `@timestamp` with a UTC offset other than `Z` (`…T17:05:03.882+02:00`), in µs since the
/// epoch; `None` for one `parse_system_time` reads itself (UTC) or for no time at all.
fn time_with_offset(text: &str) -> Option<i64> {
    let t = text.trim();
    if t.ends_with('Z') || t.ends_with("+00:00") {
        return None;
    }
    let sign_at = t.rfind(['+', '-']).filter(|&i| i > 10)?;
    let (local, offset) = t.split_at(sign_at);
    let us = crate::event::parse_system_time(local)?;
    let hm: Vec<i64> = offset[1..]
        .split(':')
        .filter_map(|p| p.parse().ok())
        .collect();
    let minutes = match hm.as_slice() {
        [h, m] => h * 60 + m,
        [hhmm] => hhmm / 100 * 60 + hhmm % 100,
        _ => return None,
    };
    let sign = if offset.starts_with('-') { 1 } else { -1 };
    Some(us + sign * minutes * 60_000_000)
}

/// `C:\\Users\\a` (every backslash doubled by a writer that escaped twice) into
/// `C:\Users\a`. Doubled means every run of backslashes has an even length: a UNC path's
/// leading `\\` followed by single separators is not doubling, nor is the `\\` of an MSI's
/// empty binary name in an FQBN (`PUBLISHER\PRODUCT\\VERSION`).
fn undouble_backslashes(text: &str) -> Cow<'_, str> {
    let mut runs = Vec::new();
    let mut run = 0;
    for c in text.chars().chain(std::iter::once('\0')) {
        if c == '\\' {
            run += 1;
        } else if run > 0 {
            runs.push(run);
            run = 0;
        }
    }
    let lone_unc_prefix = runs.len() == 1 && text.starts_with('\\');
    if runs.is_empty() || lone_unc_prefix || runs.iter().any(|r| r % 2 == 1) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.replace("\\\\", "\\"))
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::Value;

    fn winlogbeat() -> Value {
        serde_json::json!({
            "@timestamp": "2023-07-20T15:05:03.882Z",
            "event": {"code": "8003", "provider": "Microsoft-Windows-AppLocker", "kind": "event"},
            "host": {"name": "topsyll"},
            "winlog": {
                "channel": "Microsoft-Windows-AppLocker/EXE and DLL",
                "provider_name": "Microsoft-Windows-AppLocker",
                "event_id": "8003",
                "record_id": "154247",
                "computer_name": "TOPSYLL.local",
                "user": {"identifier": "S-1-5-21-1-2-3-200319", "type": "User"},
                "user_data": {
                    "xml_name": "RuleAndFileData",
                    "PolicyName": "EXE",
                    "RuleId": "{00000000-0000-0000-0000-000000000000}",
                    "RuleName": "-",
                    "TargetUser": "S-1-5-21-1-2-3-200319",
                    "TargetProcessId": "27116",
                    "FilePath": "%OSDRIVE%\\USERS\\TOPSY\\GIT.EXE",
                    "FileHash": "11D3940DE41D28E044CE45AB76A6D824E617D99B62C5FB44E37BE5CD7B0545F5",
                    "Fqbn": "O=JOHANNES SCHINDELIN, S=NORDRHEIN-WESTFALEN, C=DE\\GIT\\GIT.EXE\\2.35.5.01",
                    "TargetLogonId": "0x14fcb7",
                    "FullFilePath": "C:\\Users\\TOPSY\\git.exe"
                }
            }
        })
    }

    /// [`decode_event`] on `value` as text.
    fn decode_value(value: &Value) -> Result<Decoded, DecodeError> {
        let text = value.to_string();
        decode_event(&Json::parse(&text).unwrap())
    }

    fn event(value: &Value) -> crate::event::AuditEvent {
        match decode_value(value).unwrap() {
            Decoded::AppLocker(e) => *e,
            Decoded::Other => panic!("not AppLocker"),
        }
    }

    #[test]
    fn a_winlogbeat_document_gives_the_evtx_row() {
        let e = event(&winlogbeat());
        assert_eq!((e.event_id, e.record_id), (8003, 154247));
        assert_eq!(
            e.computer, "TOPSYLL.local",
            "winlog.computer_name, not host.name"
        );
        assert_eq!(
            e.time_us, 1_689_865_503_882_000,
            "milliseconds, as the document has them"
        );
        assert_eq!(e.logon_id, Some(0x14fcb7));
        assert_eq!(e.process_id, Some(27116));
        assert_eq!(
            e.file_path.as_deref(),
            Some(r"%OSDRIVE%\USERS\TOPSY\GIT.EXE")
        );
        assert_eq!(
            e.rule_id.as_deref(),
            Some("00000000-0000-0000-0000-000000000000")
        );
        assert_eq!(e.user_sid.as_deref(), Some("S-1-5-21-1-2-3-200319"));
    }

    #[test]
    fn messy_values_are_normalised() {
        let mut doc = winlogbeat();
        let data = &mut doc["winlog"]["user_data"];
        data["FilePath"] = "%OSDRIVE%\\\\USERS\\\\TOPSY\\\\GIT.EXE\u{0}".into();
        data["TargetLogonId"] = 1_375_415.into();
        data["RuleId"] = "A9E18C21-FF8F-43CF-B9FC-DB40EED693BA".into();
        doc["winlog"]["event_id"] = 8003.into();
        doc["winlog"]["record_id"] = 154_247.into();
        let e = event(&doc);
        assert_eq!(
            e.file_path.as_deref(),
            Some(r"%OSDRIVE%\USERS\TOPSY\GIT.EXE")
        );
        assert_eq!(e.logon_id, Some(0x14fcb7));
        assert_eq!(
            e.rule_id.as_deref(),
            Some("a9e18c21-ff8f-43cf-b9fc-db40eed693ba")
        );
        assert_eq!(e.record_id, 154247);
        // A UNC path keeps its leading pair.
        assert_eq!(
            undouble_backslashes(r"\\FINSRV01\Apps\A.EXE"),
            r"\\FINSRV01\Apps\A.EXE"
        );
        assert_eq!(
            undouble_backslashes(r"\\\\FINSRV01\\Apps\\A.EXE"),
            r"\\FINSRV01\Apps\A.EXE"
        );
        let msi = r"O=MICROSOFT CORPORATION\MICROSOFT 365 APPS\\16.0.17928.20114";
        assert_eq!(undouble_backslashes(msi), msi, "an MSI's empty binary name");
        assert_eq!(
            undouble_backslashes(r"O=MICROSOFT CORPORATION\\MICROSOFT 365 APPS\\\\16.0"),
            r"O=MICROSOFT CORPORATION\MICROSOFT 365 APPS\\16.0"
        );
    }

    #[test]
    fn dotted_and_differently_cased_names_are_found() {
        let doc = serde_json::json!({
            "@timestamp": "2023-07-20T17:05:03.882+02:00",
            "winlog.channel": "Microsoft-Windows-AppLocker/EXE and DLL",
            "Winlog.Provider_Name": "Microsoft-Windows-AppLocker",
            "winlog.event_id": 8003,
            "winlog": {"record_id": 5, "computer_name": "pc1", "user_data": {"filepath": "%OSDRIVE%\\A.EXE"}}
        });
        let e = event(&doc);
        assert_eq!(e.computer, "pc1");
        assert_eq!(e.time_us, 1_689_865_503_882_000, "+02:00 moved to UTC");
        assert_eq!(e.file_path.as_deref(), Some(r"%OSDRIVE%\A.EXE"));
    }

    #[test]
    fn the_kept_xml_is_preferred() {
        let mut doc = winlogbeat();
        doc["event"]["original"] = crate::text::xml::tests::EVENT_8003.into();
        let e = event(&doc);
        assert_eq!(e.time_us, 1_689_865_503_882_651, "100-ns time from the XML");
    }

    #[test]
    fn missing_fields_are_named() {
        let mut doc = winlogbeat();
        doc["winlog"].as_object_mut().unwrap().remove("record_id");
        assert_eq!(
            decode_value(&doc).unwrap_err().0,
            "missing field winlog.record_id"
        );
        let mut doc = winlogbeat();
        doc["winlog"]["provider_name"] = "Microsoft-Windows-Security-Auditing".into();
        doc["event"]["provider"] = "Microsoft-Windows-Security-Auditing".into();
        assert!(matches!(decode_value(&doc).unwrap(), Decoded::Other));
    }

    #[test]
    fn offsets_are_moved_to_utc() {
        assert_eq!(
            time_with_offset("2023-07-20T17:05:03.882+02:00"),
            Some(1_689_865_503_882_000)
        );
        assert_eq!(
            time_with_offset("2023-07-20T10:05:03.882-0500"),
            Some(1_689_865_503_882_000)
        );
        assert_eq!(
            time_with_offset("2023-07-20T15:05:03.882Z"),
            None,
            "UTC is read as it is"
        );
    }
}
