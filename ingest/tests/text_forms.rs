//! Event XML and Winlogbeat JSON (issue: collectors): one generated fleet written as EVTX,
//! as XML and as NDJSON gives the same store (times to the millisecond for JSON, which
//! keeps no more); the same events in several forms are stored once; gzip and UTF-16 are
//! read by content; every JSON shape; and a record that cannot be read is named by file and
//! line while the rest is stored.

use std::io::Write;
use std::path::{Path, PathBuf};

use generate::OutputFormat;

use crate::fixtures::*;

fn fleet(format: OutputFormat) -> (tempfile::TempDir, generate::Summary) {
    generated(fleet_options(format))
}

fn fleet_options(format: OutputFormat) -> generate::Options {
    generate::Options {
        seed: 3,
        hosts: 12,
        groups: 3,
        days: 4,
        events: 2_500,
        forwarded: 1,
        wef_coverage: 50,
        format,
        ..Default::default()
    }
}

#[test]
fn three_forms_of_one_fleet_give_the_same_store() {
    let (evtx, _) = fleet(OutputFormat::Evtx);
    let (xml, _) = fleet(OutputFormat::Xml);
    let (json, _) = fleet(OutputFormat::Winlogbeat);
    let stores: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let summaries: Vec<ingest::Summary> = [&evtx, &xml, &json]
        .iter()
        .zip(&stores)
        .map(|(dir, data)| run(data.path(), &[dir.path().to_owned()]))
        .collect();
    assert_eq!(
        summaries[0].files_by_form.keys().collect::<Vec<_>>(),
        ["EVTX"]
    );
    assert_eq!(
        summaries[1].files_by_form.keys().collect::<Vec<_>>(),
        ["event XML"]
    );
    assert_eq!(
        summaries[2].files_by_form.keys().collect::<Vec<_>>(),
        ["JSON"]
    );
    for s in &summaries {
        assert!(s.damaged.is_empty(), "{:?}", s.damaged);
        assert_eq!(s.rows_new, 2_500);
        assert_eq!(
            s.applocker_events_by_id,
            summaries[0].applocker_events_by_id
        );
        assert_eq!(
            s.other_records, summaries[0].other_records,
            "the collector's noise"
        );
    }
    same_rows(
        &rows(stores[0].path(), false),
        &rows(stores[1].path(), false),
        "XML: every value",
    );
    same_rows(
        &rows(stores[0].path(), true),
        &rows(stores[2].path(), true),
        "JSON: every value, times to the millisecond",
    );
}

/// `generate --text-exports` (how `sample-logs/` has an XML and a JSON export): the
/// busiest hosts with logs of their own are written as text, every other file is the same
/// bytes, and the store is the all-EVTX fleet's.
#[test]
fn a_fleet_with_text_exports_gives_the_store_of_its_evtx_form() {
    let (evtx, _) = fleet(OutputFormat::Evtx);
    let (mixed, summary) = generated(generate::Options {
        text_exports: 2,
        ..fleet_options(OutputFormat::Evtx)
    });
    let mut text_files = files_with(mixed.path(), &["xml", "ndjson"]);
    text_files.retain(|f| f.parent() != Some(mixed.path())); // not current-policy.xml
    let hosts: std::collections::BTreeSet<_> = text_files
        .iter()
        .map(|f| f.parent().unwrap().file_name().unwrap().to_owned())
        .collect();
    assert_eq!(hosts.len(), 2, "{text_files:?}");
    for host in &hosts {
        let written = summary
            .hosts
            .iter()
            .find(|h| h.short_name.as_str() == host.to_str().unwrap())
            .unwrap();
        assert!(!written.written_to.starts_with("ForwardedEvents"));
    }
    for file in files_with(mixed.path(), &["evtx"]) {
        let twin = evtx.path().join(file.strip_prefix(mixed.path()).unwrap());
        assert!(
            std::fs::read(&file).unwrap() == std::fs::read(&twin).unwrap(),
            "{}",
            file.display()
        );
    }
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    run(a.path(), &[evtx.path().to_owned()]);
    let read = run(b.path(), &[mixed.path().to_owned()]);
    assert_eq!(
        read.files_by_form.keys().collect::<Vec<_>>(),
        ["EVTX", "JSON", "event XML"]
    );
    same_rows(&rows(a.path(), true), &rows(b.path(), true), "text exports");
}

#[test]
fn the_same_events_in_every_form_are_stored_once() {
    let (evtx, _) = fleet(OutputFormat::Evtx);
    let (xml, _) = fleet(OutputFormat::Xml);
    let (json, _) = fleet(OutputFormat::Winlogbeat);
    let data = tempfile::tempdir().unwrap();
    // JSON first: its millisecond times are the ones kept; XML and EVTX meet them.
    let first = run(data.path(), &[json.path().to_owned()]);
    let again = run(
        data.path(),
        &[xml.path().to_owned(), evtx.path().to_owned()],
    );
    assert_eq!(first.rows_new, 2_500);
    assert_eq!((again.rows_new, again.rows_duplicate), (0, 5_000));
    // Half the XML and half the EVTX files into a fresh store: overlapping exports.
    let fresh = tempfile::tempdir().unwrap();
    let xml_files = files_with(xml.path(), &["xml"]);
    let evtx_files = files_with(evtx.path(), &["evtx"]);
    let mut mixed: Vec<PathBuf> = xml_files[..xml_files.len() / 2].to_vec();
    mixed.extend(evtx_files[evtx_files.len() / 3..].iter().cloned());
    run(fresh.path(), &mixed);
    let all = run(fresh.path(), &[evtx.path().to_owned()]);
    assert_eq!(all.rows_in_store, 2_500);
    let only = tempfile::tempdir().unwrap();
    run(only.path(), &[evtx.path().to_owned()]);
    same_rows(
        &rows(fresh.path(), false),
        &rows(only.path(), false),
        "mixed exports",
    );
}

fn gzip(from: &Path, to: &Path) {
    let mut out = flate2::write::GzEncoder::new(
        std::fs::File::create(to).unwrap(),
        flate2::Compression::fast(),
    );
    out.write_all(&std::fs::read(from).unwrap()).unwrap();
    out.finish().unwrap();
}

#[test]
fn gzip_is_read_by_content_whatever_the_name() {
    let (evtx, _) = fleet(OutputFormat::Evtx);
    let (xml, _) = fleet(OutputFormat::Xml);
    let (json, _) = fleet(OutputFormat::Winlogbeat);
    let plain = [
        files_with(evtx.path(), &["evtx"])[0].clone(),
        files_with(xml.path(), &["xml"])[1].clone(),
        files_with(json.path(), &["ndjson"])[2].clone(),
    ];
    let packed = tempfile::tempdir().unwrap();
    let names = ["a.evtx.gz", "b.log", "c"];
    for (from, name) in plain.iter().zip(names) {
        gzip(from, &packed.path().join(name));
    }
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let unpacked = run(a.path(), &plain);
    let zipped = run(b.path(), &[packed.path().to_owned()]);
    assert_eq!(
        zipped.files_by_form.keys().collect::<Vec<_>>(),
        ["EVTX (gzip)", "JSON (gzip)", "event XML (gzip)"]
    );
    assert!(zipped.damaged.is_empty(), "{:?}", zipped.damaged);
    assert_eq!(zipped.rows_new, unpacked.rows_new);
    same_rows(&rows(a.path(), false), &rows(b.path(), false), "gzip");
    assert!(
        !b.path().join("staging").exists()
            || std::fs::read_dir(b.path().join("staging")).unwrap().count() == 0,
        "the decompressed EVTX copy is gone"
    );

    // A gzip stream cut short: what it holds is stored, the cut is named.
    let cut = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(packed.path().join("b.log")).unwrap();
    std::fs::write(cut.path().join("cut.xml.gz"), &bytes[..bytes.len() * 2 / 3]).unwrap();
    let s = run(
        tempfile::tempdir().unwrap().path(),
        &[cut.path().to_owned()],
    );
    assert!(s.rows_new > 0);
    assert_eq!(s.damaged.len(), 1, "{:?}", s.damaged);
    assert!(s.damaged[0].line.is_some(), "{:?}", s.damaged);
}

/// The first `n` lines of a generated text-form log that hold AppLocker events.
fn lines_of(dir: &Path, extension: &str, n: usize) -> Vec<String> {
    // A host's own log: collector files also hold other providers' records.
    let file = files_with(dir, &[extension])
        .into_iter()
        .filter(|f| !f.to_string_lossy().contains("ForwardedEvents"))
        .find(|f| std::fs::read_to_string(f).unwrap().lines().count() >= n)
        .expect("a long enough log");
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .take(n)
        .map(str::to_owned)
        .collect()
}

#[test]
fn unreadable_records_are_named_by_line_and_the_rest_is_stored() {
    let (xml, _) = fleet(OutputFormat::Xml);
    let (json, _) = fleet(OutputFormat::Winlogbeat);
    let dir = tempfile::tempdir().unwrap();
    let mut events = lines_of(xml.path(), "xml", 4);
    events[1] = events[1].replace("</Computer>", "");
    events[2] = events[2].replace("<EventRecordID>", "<EventRecordID>x");
    let text = format!("<Events>\n{}\n</Events>\n", events.join("\n"));
    std::fs::write(dir.path().join("export.xml"), text).unwrap();
    let mut docs = lines_of(json.path(), "ndjson", 5);
    docs[1] = "[1, 2]".into();
    docs[2] = docs[2][..docs[2].len() / 2].to_owned();
    docs[3] = docs[3].replacen("\"record_id\"", "\"record_number\"", 1);
    std::fs::write(dir.path().join("export.ndjson"), docs.join("\n") + "\n").unwrap();

    let data = tempfile::tempdir().unwrap();
    let s = run(data.path(), &[dir.path().to_owned()]);
    // Both exports come from the same fleet: an event in both is stored once.
    assert_eq!(s.rows_new + s.rows_duplicate, 2 + 2, "{:#?}", s.damaged);
    let found: Vec<(String, Option<u64>, String)> = s
        .damaged
        .iter()
        .map(|d| {
            (
                d.file.file_name().unwrap().to_string_lossy().into_owned(),
                d.line,
                d.message.clone(),
            )
        })
        .collect();
    let said = |file: &str, line: u64, text: &str| {
        found
            .iter()
            .any(|(f, l, m)| f == file && *l == Some(line) && m.contains(text))
    };
    assert_eq!(found.len(), 5, "{found:#?}");
    assert!(
        said("export.xml", 3, "not well-formed event XML"),
        "{found:#?}"
    );
    assert!(
        said("export.xml", 4, "System/EventRecordID: not a number"),
        "{found:#?}"
    );
    assert!(said("export.ndjson", 2, "not an object"), "{found:#?}");
    assert!(said("export.ndjson", 3, "not JSON"), "{found:#?}");
    assert!(
        said("export.ndjson", 4, "missing field winlog.record_id"),
        "{found:#?}"
    );
    assert!(s.is_partial());

    // With --strict nothing is stored.
    let strict = tempfile::tempdir().unwrap();
    let mut opts = options(strict.path(), &[dir.path().to_owned()]);
    opts.strict = true;
    let err = ingest::ingest(&opts, &ingest::Progress::default()).unwrap_err();
    assert!(err.to_string().contains("line"), "{err}");
    assert_eq!(
        schema::Store::new(strict.path())
            .read_manifest()
            .unwrap()
            .rows(),
        0
    );
}

#[test]
fn every_json_shape_gives_the_same_rows() {
    let (json, _) = fleet(OutputFormat::Winlogbeat);
    let docs: Vec<serde_json::Value> = lines_of(json.path(), "ndjson", 30)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let ndjson: Vec<String> = docs.iter().map(|d| d.to_string()).collect();
    let shapes = [
        ("lines.ndjson", ndjson.join("\n")),
        ("array.json", serde_json::to_string_pretty(&docs).unwrap()),
        (
            "search.json",
            serde_json::json!({"took": 3, "hits": {"total": {"value": docs.len()}, "hits":
                docs.iter().map(|d| serde_json::json!({"_index": "winlogbeat", "_source": d})).collect::<Vec<_>>()}})
            .to_string(),
        ),
        (
            "events.json",
            serde_json::to_string_pretty(&serde_json::json!({ "exported": "now", "events": docs }))
                .unwrap(),
        ),
    ];
    let mut all_rows = Vec::new();
    for (name, text) in shapes {
        let file = dir.path().join(name);
        std::fs::write(&file, text).unwrap();
        let data = tempfile::tempdir().unwrap();
        let s = run(data.path(), &[file]);
        assert!(s.damaged.is_empty(), "{name}: {:?}", s.damaged);
        assert_eq!(s.records_read, 30, "{name}");
        all_rows.push(rows(data.path(), false));
    }
    assert!(!all_rows[0].is_empty());
    for r in &all_rows {
        same_rows(&all_rows[0], r, "JSON shapes");
    }
}

#[test]
fn powershell_5_xml_in_utf16_is_read() {
    let (xml, _) = fleet(OutputFormat::Xml);
    let events = lines_of(xml.path(), "xml", 20);
    let text = format!("<Events>\r\n{}\r\n</Events>\r\n", events.join("\r\n"));
    let dir = tempfile::tempdir().unwrap();
    let utf16: Vec<u8> = [0xff, 0xfe]
        .into_iter()
        .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    std::fs::write(dir.path().join("Get-WinEvent.xml"), utf16).unwrap();
    std::fs::write(dir.path().join("utf8.xml"), &text).unwrap();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let wide = run(a.path(), &[dir.path().join("Get-WinEvent.xml")]);
    run(b.path(), &[dir.path().join("utf8.xml")]);
    assert!(wide.damaged.is_empty(), "{:?}", wide.damaged);
    assert_eq!(wide.records_read, 20);
    same_rows(&rows(a.path(), false), &rows(b.path(), false), "UTF-16");
}

#[test]
fn a_store_with_microsecond_keys_is_upgraded_in_place() {
    let data = tempfile::tempdir().unwrap();
    let first = run(data.path(), &[sample_logs()]);
    // A store written by the previous format: version 1, its key files of no use now.
    let store = schema::Store::new(data.path());
    let mut manifest = store.read_manifest().unwrap();
    manifest.version = 1;
    for file in &manifest.files {
        std::fs::write(store.resolve(&file.keys), b"").unwrap();
    }
    store.write_manifest(&manifest).unwrap();
    let old_keys: Vec<PathBuf> = manifest
        .files
        .iter()
        .map(|f| store.resolve(&f.keys))
        .collect();

    let again = run(data.path(), &[sample_logs()]);
    assert_eq!(again.rows_new, 0, "the rebuilt keys know every stored row");
    assert_eq!(again.rows_duplicate, first.rows_new);
    let upgraded = store.read_manifest().unwrap();
    assert_eq!(upgraded.version, schema::Manifest::VERSION);
    assert!(
        old_keys.iter().all(|k| !k.exists()),
        "the old key files are gone"
    );
    assert!(
        upgraded
            .files
            .iter()
            .all(|f| store.resolve(&f.keys).exists())
    );
}

/// Seeded byte mutations of an event XML and a Winlogbeat NDJSON export: ingest never
/// panics or fails, what it skips names the file (and, in the file, the line), and most
/// mutations are noticed.
fn mutated_text_never_panics(cases: usize) {
    let (xml, _) = fleet(OutputFormat::Xml);
    let (json, _) = fleet(OutputFormat::Winlogbeat);
    let sources = [
        (lines_of(xml.path(), "xml", 40).join("\n"), "xml"),
        (lines_of(json.path(), "ndjson", 40).join("\n"), "ndjson"),
        (
            format!("[{}]", lines_of(json.path(), "ndjson", 40).join(",\n")),
            "json",
        ),
    ];
    let work = tempfile::tempdir().unwrap();
    let mut noticed = 0;
    for (n, (text, extension)) in sources.iter().enumerate() {
        let seed = 0x7E47_0000 + n as u64;
        let mut mutator = testkit::mutate::Mutator::new(seed);
        for case in 0..cases {
            let file = work.path().join(format!("mutated-{n}-{case}.{extension}"));
            std::fs::write(&file, mutator.mutate(text.as_bytes())).unwrap();
            let summary = ingest_mutated(&file, &format!("seed {seed:#x} case {case}"));
            noticed += usize::from(
                !summary.damaged.is_empty()
                    || !summary.skipped_inputs.is_empty()
                    || summary.rows_new < 40,
            );
            std::fs::remove_file(&file).unwrap();
        }
    }
    assert!(noticed > cases, "most mutations must be noticed: {noticed}");
}

#[test]
fn mutated_text_exports_are_read_without_panics() {
    mutated_text_never_panics(testkit::mutate::cases(150));
}

#[test]
#[ignore = "deep run: cargo test -p ingest --test integration mutated_text_deep -- --ignored"]
fn mutated_text_deep() {
    mutated_text_never_panics(testkit::mutate::DEEP_CASES / 10);
}
