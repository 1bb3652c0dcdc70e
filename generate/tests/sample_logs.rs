//! The committed sample fleets (`sample-logs/`, `sample-logs-enforced/`) are what `lockstep
//! generate` writes for the options recorded in their manifests, and every parser reads them.

use std::sync::atomic::AtomicU64;

use crate::fixtures::{assert_parsers_agree, evtx_files, sample_logs};

/// The committed sample fleets: `sample-logs/` and the one with a flip to Enforce.
fn sample_folders() -> [std::path::PathBuf; 2] {
    [
        sample_logs(),
        sample_logs().with_file_name("sample-logs-enforced"),
    ]
}

#[test]
fn sample_logs_are_reproducible_from_their_manifest() {
    for folder in sample_folders() {
        let options = generate::Options::from_manifest(&folder.join("manifest.json")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        generate::generate(&options, dir.path(), &AtomicU64::new(0)).unwrap();
        let committed = evtx_files(&folder);
        let fresh = evtx_files(dir.path());
        let rel =
            |base: &std::path::Path, p: &std::path::Path| p.strip_prefix(base).unwrap().to_owned();
        assert_eq!(
            committed
                .iter()
                .map(|p| rel(&folder, p))
                .collect::<Vec<_>>(),
            fresh.iter().map(|p| rel(dir.path(), p)).collect::<Vec<_>>(),
            "regenerate {} (see its README.md)",
            folder.display()
        );
        for (a, b) in committed.iter().zip(&fresh) {
            assert!(
                std::fs::read(a).unwrap() == std::fs::read(b).unwrap(),
                "{} is stale",
                a.display()
            );
        }
        for name in [
            "inventory.csv",
            "manifest.json",
            "current-policy.xml",
            generate::IDENTITIES_FILE,
        ] {
            assert_eq!(
                std::fs::read(folder.join(name)).unwrap(),
                std::fs::read(dir.path().join(name)).unwrap(),
                "{}/{name}",
                folder.display()
            );
        }
    }
}

#[test]
fn every_parser_reads_the_sample_logs() {
    let files = evtx_files(&sample_logs());
    assert!(
        files.len() > 4,
        "sample-logs has per-host and forwarded files"
    );
    let [_, enforced] = sample_folders();
    for file in files.into_iter().chain(evtx_files(&enforced)) {
        assert_parsers_agree(&file);
    }
}
