//! Files written here must be read back by the `evtx` crate, record for record, with
//! checksums validated.

use evtx::{EvtxParser, ParserSettings};
use evtx_writer::{Element, EvtxWriter, Instance, Template, Value, ValueType};
use serde_json::Value as Json;
use std::io::Cursor;

fn outer() -> Template {
    Template::new(
        Element::new("Event")
            .attr(
                "xmlns",
                "http://schemas.microsoft.com/win/2004/08/events/event",
            )
            .child(
                Element::new("System")
                    .child(Element::new("EventID").opt_subst(0, ValueType::UInt16))
                    .child(Element::new("TimeCreated").attr_subst(
                        "SystemTime",
                        1,
                        ValueType::FileTime,
                    ))
                    .child(Element::new("Computer").text("HOST-1"))
                    .child(Element::new("Security").attr_subst("UserID", 2, ValueType::Sid)),
            )
            .child(
                Element::new("UserData")
                    .depends_on(3)
                    .opt_subst(3, ValueType::BinXml),
            ),
    )
}

fn inner() -> Template {
    Template::new(
        Element::new("RuleAndFileData")
            .attr(
                "xmlns",
                "http://schemas.microsoft.com/schemas/event/Microsoft.Windows/1.0.0.0",
            )
            .child(Element::new("RuleId").subst(0, ValueType::Guid))
            .child(Element::new("FilePath").subst(1, ValueType::String))
            .child(Element::new("FileHash").subst(2, ValueType::Binary))
            .child(Element::new("TargetLogonId").subst(3, ValueType::HexInt64))
            .child(Element::new("Pid").subst(4, ValueType::UInt32)),
    )
}

fn record(i: u64, outer: &Template, inner: &Template) -> Instance {
    let path = format!(
        "%OSDRIVE%\\USERS\\USER{i}\\APPDATA\\LOCAL\\TOOL-{}.EXE",
        i % 97
    );
    let payload = Instance::new(
        inner,
        vec![
            Value::guid("{00000000-0000-0000-0000-000000000000}").unwrap(),
            Value::string(path),
            Value::Binary((0..32).map(|b| (b as u64 * 7 + i) as u8).collect()),
            Value::HexInt64(0x14fcb7 + i),
            Value::UInt32(i as u32),
        ],
    );
    Instance::new(
        outer,
        vec![
            Value::UInt16(8003),
            Value::FileTime(133_540_416_000_000_000 + i * 10_000_000),
            Value::sid("S-1-5-21-1133191089-1850170202-1535859923-1001").unwrap(),
            Value::BinXml(Box::new(payload)),
        ],
    )
}

#[test]
fn thousands_of_records_across_chunks_read_back_identically() {
    let (outer, inner) = (outer(), inner());
    let mut writer = EvtxWriter::new(Cursor::new(Vec::new()));
    let count = 3000;
    for i in 0..count {
        writer
            .append(
                133_540_416_000_000_000 + i * 10_000_000,
                &record(i, &outer, &inner),
            )
            .unwrap();
    }
    assert!(
        writer.chunk_count() > 5,
        "the test must span several chunks"
    );
    let bytes = writer.finish().unwrap().into_inner();

    let settings = ParserSettings::default()
        .validate_checksums(true)
        .num_threads(1);
    let mut parser = EvtxParser::from_buffer(bytes)
        .unwrap()
        .with_configuration(settings);
    let records: Vec<_> = parser
        .records_json_value()
        .map(|r| r.expect("record parses"))
        .collect();
    assert_eq!(records.len() as u64, count);
    for (i, rec) in records.iter().enumerate() {
        let i = i as u64;
        assert_eq!(rec.event_record_id, i + 1);
        let event = &rec.data["Event"];
        assert_eq!(event["System"]["EventID"], Json::from(8003));
        assert_eq!(event["System"]["Computer"], Json::from("HOST-1"));
        let data = &event["UserData"]["RuleAndFileData"];
        assert_eq!(
            data["RuleId"],
            Json::from("{00000000-0000-0000-0000-000000000000}")
        );
        let expected_path = format!(
            "%OSDRIVE%\\USERS\\USER{i}\\APPDATA\\LOCAL\\TOOL-{}.EXE",
            i % 97
        );
        assert_eq!(data["FilePath"], Json::from(expected_path));
        assert_eq!(data["Pid"], Json::from(i));
        assert_eq!(
            data["TargetLogonId"],
            Json::from(format!("0x{:x}", 0x14fcb7 + i))
        );
        let hash: String = (0..32)
            .map(|b| format!("{:02X}", (b as u64 * 7 + i) as u8))
            .collect();
        assert_eq!(data["FileHash"], Json::from(hash));
    }
}

#[test]
fn a_null_substitution_is_refused_and_the_chunk_is_unchanged() {
    let (outer, inner) = (outer(), inner());
    let mut writer = EvtxWriter::new(Cursor::new(Vec::new()));
    writer.append(1, &record(0, &outer, &inner)).unwrap();
    let mut bad = record(1, &outer, &inner);
    bad.values[2] = Value::Null;
    let err = writer.append(2, &bad).unwrap_err();
    assert!(err.to_string().contains("slot 2"), "{err}");
    writer.append(3, &record(1, &outer, &inner)).unwrap();
    let bytes = writer.finish().unwrap().into_inner();
    let mut parser = EvtxParser::from_buffer(bytes).unwrap();
    assert_eq!(parser.records_json_value().filter(|r| r.is_ok()).count(), 2);
}

#[test]
fn an_oversized_record_is_an_error_not_a_broken_file() {
    let t =
        Template::new(Element::new("Event").child(Element::new("Big").subst(0, ValueType::String)));
    let mut writer = EvtxWriter::new(Cursor::new(Vec::new()));
    let huge = Instance::new(&t, vec![Value::string("x".repeat(32_500))]);
    assert!(writer.append(1, &huge).is_err());
    let too_long = Instance::new(&t, vec![Value::string("y".repeat(40_000))]);
    assert!(
        writer
            .append(1, &too_long)
            .unwrap_err()
            .to_string()
            .contains("65535")
    );
}
