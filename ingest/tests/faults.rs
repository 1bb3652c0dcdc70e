//! A commit that fails at its last step (the manifest cannot be written: a full disk) leaves
//! the store as it was, files and all: the probe found the moved part files left behind, so
//! the disk stayed full and the next ingest failed the same way.

use crate::fixtures::*;

#[test]
fn a_failed_manifest_write_takes_the_moved_files_out_again() {
    let data = tempfile::tempdir().unwrap();
    let first = sample_logs().join("FIN-LT001");
    run(data.path(), std::slice::from_ref(&first));
    let manifest = std::fs::read(data.path().join("lockstep-store.json")).unwrap();
    let events = |dir: &std::path::Path| {
        let mut names: Vec<_> = std::fs::read_dir(dir.join("events"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        names
    };
    let before = events(data.path());

    // The manifest's temporary copy cannot be created (a folder holds its name), as when
    // the disk is full at that moment.
    let blocker = data.path().join("lockstep-store.json.tmp");
    std::fs::create_dir(&blocker).unwrap();
    let err = ingest::ingest(
        &options(data.path(), &[sample_logs().join("HR-LT004")]),
        &ingest::Progress::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("lockstep-store.json.tmp"), "{err}");
    assert_eq!(
        std::fs::read(data.path().join("lockstep-store.json")).unwrap(),
        manifest
    );
    assert_eq!(
        events(data.path()),
        before,
        "the moved files are gone again"
    );
    let staging = data.path().join("staging");
    assert!(!staging.exists() || std::fs::read_dir(&staging).unwrap().next().is_none());

    // With room again, the same ingest commits.
    std::fs::remove_dir(&blocker).unwrap();
    let summary = run(data.path(), &[sample_logs().join("HR-LT004")]);
    assert!(summary.rows_new > 0);
}
