//! The committed `sample-logs/` are what `lockstep generate` writes for the options recorded
//! in their manifest, and every parser reads them.

use std::sync::atomic::AtomicU64;

use crate::fixtures::{assert_parsers_agree, evtx_files, sample_logs};

fn sample_options() -> generate::Options {
    generate::Options::from_manifest(&sample_logs().join("manifest.json")).unwrap()
}

#[test]
fn sample_logs_are_reproducible_from_their_manifest() {
    let dir = tempfile::tempdir().unwrap();
    generate::generate(&sample_options(), dir.path(), &AtomicU64::new(0)).unwrap();
    let committed = evtx_files(&sample_logs());
    let fresh = evtx_files(dir.path());
    let rel =
        |base: &std::path::Path, p: &std::path::Path| p.strip_prefix(base).unwrap().to_owned();
    assert_eq!(
        committed
            .iter()
            .map(|p| rel(&sample_logs(), p))
            .collect::<Vec<_>>(),
        fresh.iter().map(|p| rel(dir.path(), p)).collect::<Vec<_>>(),
        "regenerate sample-logs/ (see sample-logs/README.md)"
    );
    for (a, b) in committed.iter().zip(&fresh) {
        assert!(
            std::fs::read(a).unwrap() == std::fs::read(b).unwrap(),
            "{} is stale",
            a.display()
        );
    }
    for name in ["inventory.csv", "manifest.json"] {
        assert_eq!(
            std::fs::read(sample_logs().join(name)).unwrap(),
            std::fs::read(dir.path().join(name)).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn every_parser_reads_the_sample_logs() {
    let files = evtx_files(&sample_logs());
    assert!(
        files.len() > 4,
        "sample-logs has per-host and forwarded files"
    );
    for file in files {
        assert_parsers_agree(&file);
    }
}
