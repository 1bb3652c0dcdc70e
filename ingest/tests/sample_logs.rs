//! The bundled fleet, stored exactly as the generator says it wrote it.

use std::collections::BTreeMap;

use arrow_array::Array;

use crate::fixtures::*;

#[test]
fn counts_per_event_id_and_computer_match_the_generator() {
    let data = tempfile::tempdir().unwrap();
    let summary = run(data.path(), &[sample_logs()]);
    let manifest = sample_manifest();
    let expected_ids: BTreeMap<u16, u64> = manifest["events_by_id"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.parse().unwrap(), v.as_u64().unwrap()))
        .collect();
    assert_eq!(summary.applocker_events_by_id, expected_ids);
    assert_eq!(
        summary.rows_new,
        manifest["applocker_events"].as_u64().unwrap()
    );
    assert_eq!(
        summary.other_records,
        manifest["noise_records"].as_u64().unwrap()
    );
    assert_eq!(summary.rows_duplicate, 0);
    assert!(
        !summary.is_partial(),
        "{:?} {:?}",
        summary.skipped_inputs,
        summary.damaged
    );
    assert_eq!(
        summary.ignored_non_evtx, 5,
        "README, inventory, manifest, the current policy and the AD export are ignored"
    );
    assert_eq!(
        counts_by_computer_and_id(data.path()),
        expected_by_computer_and_id(&manifest)
    );
}

#[test]
fn columns_are_normalised_as_designed() {
    let data = tempfile::tempdir().unwrap();
    run(data.path(), &[sample_logs()]);
    let (mut hashes, mut upper_case_rule_ids_seen) = (0, false);
    for batch in read_store(data.path()) {
        let id = ints(&batch, "event_id");
        let outcome = strings(&batch, "outcome");
        let kind = strings(&batch, "policy_kind");
        let hash = strings(&batch, "file_hash");
        let key = strings(&batch, "computer_key");
        let computer = strings(&batch, "computer");
        let rule = strings(&batch, "rule_id");
        let fqbn = strings(&batch, "fqbn");
        let publisher = strings(&batch, "publisher");
        let version_key = strings(&batch, "binary_version_key");
        let collection = strings(&batch, "collection");
        for i in 0..batch.num_rows() {
            let expected_outcome = match id.value(i) {
                8002 | 8005 | 8020 | 8023 => "allowed",
                8003 | 8006 | 8021 | 8024 | 8028 => "audit",
                8004 | 8007 | 8022 | 8025 | 8029 => "blocked",
                _ => "other",
            };
            assert_eq!(outcome.value(i), expected_outcome);
            assert_eq!(
                kind.value(i),
                if matches!(id.value(i), 8028 | 8029) {
                    "wdac"
                } else {
                    "applocker"
                }
            );
            assert_eq!(
                key.value(i),
                computer.value(i).split('.').next().unwrap().to_lowercase()
            );
            if hash.is_valid(i) {
                let h = hash.value(i);
                assert!(
                    h.len() == 64
                        && h.bytes()
                            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)),
                    "{h}"
                );
                hashes += 1;
            }
            if rule.is_valid(i) {
                let r = rule.value(i);
                assert!(!r.contains('{') && r == r.to_lowercase(), "{r}");
                upper_case_rule_ids_seen |= r != "00000000-0000-0000-0000-000000000000";
            }
            if fqbn.is_valid(i) && fqbn.value(i) != "-" {
                assert!(fqbn.value(i).starts_with(publisher.value(i)));
                if version_key.is_valid(i) {
                    assert_eq!(version_key.value(i).len(), 43);
                }
            } else {
                assert!(publisher.is_null(i));
            }
            if (8002..=8007).contains(&id.value(i)) {
                assert!(["EXE", "DLL", "MSI", "SCRIPT"].contains(&collection.value(i)));
            }
            if (8020..=8025).contains(&id.value(i)) {
                assert_eq!(collection.value(i), "APPX");
            }
        }
    }
    assert!(hashes > 1000);
    assert!(upper_case_rule_ids_seen);
}
