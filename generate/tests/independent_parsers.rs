//! Generated files are genuine EVTX: the `evtx` crate, python-evtx and libevtx read every
//! record, agree on the AppLocker fields, and find what the generator says it wrote.

use std::collections::BTreeMap;

use crate::fixtures::{assert_parsers_agree, evtx_files, small_mixed_fleet};

#[test]
fn three_parsers_agree_and_match_the_bookkeeping() {
    let (dir, summary) = small_mixed_fleet(3);
    let files = evtx_files(dir.path());
    assert!(files.iter().any(|f| f.ends_with("ForwardedEvents-1.evtx")));
    assert!(
        files
            .iter()
            .any(|f| f.to_string_lossy().contains("%4EXE and DLL.evtx"))
    );
    assert_eq!(files.len(), summary.files.len());

    let mut per_computer: BTreeMap<(String, u64), u64> = BTreeMap::new();
    let mut noise = 0;
    for file in &files {
        let records = assert_parsers_agree(file);
        let rel = file
            .strip_prefix(dir.path())
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let listed = summary
            .files
            .iter()
            .find(|f| f.path == rel)
            .expect("file is in the manifest");
        assert_eq!(listed.records, records.len() as u64, "{rel}");
        for r in records {
            if r["Provider"] == "Microsoft-Windows-AppLocker" {
                let key = (
                    r["Computer"].as_str().unwrap().to_owned(),
                    r["EventID"].as_u64().unwrap(),
                );
                *per_computer.entry(key).or_default() += 1;
            } else {
                noise += 1;
            }
        }
    }
    let mut expected = BTreeMap::new();
    for host in &summary.hosts {
        for (id, n) in &host.events_by_id {
            expected.insert((host.computer.clone(), u64::from(*id)), *n);
        }
    }
    assert_eq!(per_computer, expected, "events per computer and event ID");
    assert_eq!(noise, summary.noise_records);
    assert!(noise > 0, "forwarded files carry non-AppLocker records");
}

#[test]
fn every_event_kind_of_the_spec_is_present() {
    let (_dir, summary) = small_mixed_fleet(11);
    for id in [
        8001, 8002, 8003, 8004, 8005, 8006, 8007, 8020, 8021, 8023, 8028, 8029,
    ] {
        assert!(
            summary.events_by_id.get(&id).copied().unwrap_or(0) > 0,
            "no event {id}: {:?}",
            summary.events_by_id
        );
    }
}
