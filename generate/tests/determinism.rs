//! The same options and seed give byte-identical output; another seed does not.

use std::collections::BTreeMap;
use std::path::Path;

use crate::fixtures::{evtx_files, small_mixed_fleet};

fn contents(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files: BTreeMap<String, Vec<u8>> = evtx_files(dir)
        .into_iter()
        .map(|p| {
            (
                p.strip_prefix(dir).unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    for name in ["inventory.csv", "manifest.json"] {
        files.insert(name.into(), std::fs::read(dir.join(name)).unwrap());
    }
    files
}

#[test]
fn same_seed_same_bytes() {
    let (a, _) = small_mixed_fleet(5);
    let (b, _) = small_mixed_fleet(5);
    let (ca, cb) = (contents(a.path()), contents(b.path()));
    assert_eq!(ca.keys().collect::<Vec<_>>(), cb.keys().collect::<Vec<_>>());
    for (name, bytes) in &ca {
        assert!(
            bytes == &cb[name],
            "{name} differs between two runs with the same seed"
        );
    }
}

#[test]
fn another_seed_another_fleet() {
    let (a, _) = small_mixed_fleet(5);
    let (b, _) = small_mixed_fleet(6);
    let (ca, cb) = (contents(a.path()), contents(b.path()));
    assert_ne!(
        ca.get("ForwardedEvents-1.evtx"),
        cb.get("ForwardedEvents-1.evtx")
    );
}
