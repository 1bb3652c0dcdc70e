//! `shared/spec/evtx-format.md` §9: one template, two records; every offset and size there
//! must come out of the writer exactly (only the GUID, and so the CRCs, may differ).

use evtx_writer::{Element, EvtxWriter, Instance, Template, Value, ValueType};
use std::io::Cursor;

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

fn example_template() -> Template {
    Template::new(
        Element::new("Event")
            .child(Element::new("EventID").subst(0, ValueType::UInt16))
            .child(Element::new("Computer").subst(1, ValueType::String)),
    )
}

fn write_example(records: &[(u16, &str)]) -> Vec<u8> {
    let template = example_template();
    let mut writer = EvtxWriter::new(Cursor::new(Vec::new()));
    for (i, (id, computer)) in records.iter().enumerate() {
        let record = Instance::new(
            &template,
            vec![Value::UInt16(*id), Value::string(*computer)],
        );
        // 2024-03-04T00:00:00Z, then one ms later, as in the spec's bytes.
        writer
            .append(0x01DA6DC6E6900000 + i as u64 * 0x9680, &record)
            .unwrap();
    }
    writer.finish().unwrap().into_inner()
}

#[test]
fn one_record_matches_the_spec_layout() {
    let file = write_example(&[(8003, "PC1")]);
    assert_eq!(file.len(), 4096 + 65536);
    assert_eq!(&file[0..8], b"ElfFile\0");
    assert_eq!(u64_at(&file, 24), 2, "next record id");
    assert_eq!(u32_at(&file, 124), crc32fast::hash(&file[0..120]));

    let chunk = &file[4096..];
    assert_eq!(&chunk[0..8], b"ElfChnk\0");
    assert_eq!((u64_at(chunk, 8), u64_at(chunk, 16)), (1, 1));
    assert_eq!(u32_at(chunk, 44), 0x200, "last record offset");
    assert_eq!(u32_at(chunk, 48), 0x2D8, "free space offset");
    assert_eq!(u32_at(chunk, 52), crc32fast::hash(&chunk[0x200..0x2D8]));
    // String table: EventID in bucket 53, Event in 58, Computer in 59 (spec §9).
    assert_eq!(u32_at(chunk, 128 + 4 * 53), 0x26D);
    assert_eq!(u32_at(chunk, 128 + 4 * 58), 0x24D);
    assert_eq!(u32_at(chunk, 128 + 4 * 59), 0x296);

    let record = &chunk[0x200..0x2D8];
    assert_eq!(u32_at(record, 4), 216, "record size");
    assert_eq!(u32_at(record, 216 - 4), 216, "size copy");
    assert_eq!(&record[0x18..0x1E], &[0x0F, 0x01, 0x01, 0x00, 0x0C, 0x01]);
    assert_eq!(u32_at(record, 0x22), 0x226, "inline definition offset");
    assert_eq!(u32_at(record, 0x3A), 122, "definition data size");
    // Element data sizes: Event 110, EventID 34, Computer 36.
    assert_eq!(u32_at(record, 0x45), 110);
    assert_eq!(u32_at(record, 0x62 + 3), 34);
    assert_eq!(u32_at(record, 0x8B + 3), 36);
    // Value array: 2 values, UInt16 8003 and "PC1".
    assert_eq!(
        &record[0xB8..0xCD],
        &[
            2, 0, 0, 0, 2, 0, 6, 0, 6, 0, 1, 0, 0x43, 0x1F, b'P', 0, b'C', 0, b'1', 0, 0
        ]
    );
}

#[test]
fn second_record_references_the_definition() {
    let file = write_example(&[(8003, "PC1"), (8006, "PC22")]);
    let chunk = &file[4096..];
    assert_eq!(u32_at(chunk, 44), 0x2D8, "last record offset");
    assert_eq!(u32_at(chunk, 48), 0x320, "free space offset");
    let second = &chunk[0x2D8..0x320];
    assert_eq!(u32_at(second, 4), 72);
    assert_eq!(
        u32_at(second, 0x22),
        0x226,
        "reference to the first definition"
    );
    assert_eq!(u64_at(&file, 24), 3, "next record id");
}

#[test]
fn chunk_header_crc_covers_both_tables() {
    let file = write_example(&[(8003, "PC1")]);
    let chunk = &file[4096..];
    let mut crc = crc32fast::Hasher::new();
    crc.update(&chunk[0..120]);
    crc.update(&chunk[128..512]);
    assert_eq!(u32_at(chunk, 124), crc.finalize());
    assert_eq!(u32_at(chunk, 120), 1, "chunk flags");
    assert!(
        chunk[0x320..].iter().all(|&b| b == 0),
        "tail after free space is zero"
    );
}
