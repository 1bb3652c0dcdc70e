//! Compaction: many small ingests merged into a few sorted files hold exactly the same rows
//! and keys, readers that listed the old files still read them, the retired files go after
//! their grace period, and a crash at any step leaves the store as before or after.

use std::path::{Path, PathBuf};

use crate::fixtures::*;

/// A store made of one ingest per host folder of the sample fleet (each a small file).
fn store_of_small_ingests(data: &Path) -> usize {
    let mut hosts: Vec<PathBuf> = std::fs::read_dir(sample_logs())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    hosts.sort();
    hosts.extend(
        evtx_files(&sample_logs())
            .into_iter()
            .filter(|p| p.parent() == Some(sample_logs().as_path())),
    );
    for path in &hosts {
        run(data, std::slice::from_ref(path));
    }
    hosts.len()
}

fn manifest(data: &Path) -> schema::Manifest {
    schema::Store::new(data).read_manifest().unwrap()
}

#[test]
fn compaction_keeps_every_row_and_key() {
    let small = tempfile::tempdir().unwrap();
    let ingests = store_of_small_ingests(small.path());
    let before = manifest(small.path());
    assert_eq!(before.files.len(), ingests, "one file per ingest");
    let one = tempfile::tempdir().unwrap();
    run(one.path(), &[sample_logs()]);

    let summary = ingest::compact(small.path()).unwrap();
    assert_eq!(summary.files_merged, ingests);
    assert_eq!(summary.files_after, 1);
    let after = manifest(small.path());
    assert_eq!(after.files.len(), 1);
    assert_eq!(after.rows(), before.rows());
    same_rows(
        &rows(small.path(), false),
        &rows(one.path(), false),
        "compacted",
    );
    // The keys were merged: the whole fleet again stores nothing.
    let again = run(small.path(), &[sample_logs()]);
    assert_eq!((again.rows_new, again.rows_duplicate), (0, before.rows()));
    // Nothing left to do.
    assert_eq!(ingest::compact(small.path()).unwrap().files_merged, 0);
}

#[test]
fn readers_of_the_old_files_keep_reading_until_the_grace_period_ends() {
    let data = tempfile::tempdir().unwrap();
    store_of_small_ingests(data.path());
    let store = schema::Store::new(data.path());
    let listed_before = store.committed_files().unwrap();
    ingest::compact(data.path()).unwrap();
    // A query planned before the swap opens the files it listed.
    for path in &listed_before {
        assert!(
            path.exists(),
            "{} was deleted under a reader",
            path.display()
        );
    }
    let retired = manifest(data.path()).retired;
    assert_eq!(retired.len(), listed_before.len());
    // An ingest within the grace period keeps them; after it, they go.
    run(data.path(), &[sample_logs().join("FIN-LT001")]);
    assert!(listed_before.iter().all(|p| p.exists()));
    let mut m = manifest(data.path());
    for r in &mut m.retired {
        r.retired_at -= schema::Manifest::RETIRE_GRACE_SECS + 1;
    }
    store.write_manifest(&m).unwrap();
    run(data.path(), &[sample_logs().join("FIN-LT001")]);
    assert!(manifest(data.path()).retired.is_empty());
    for path in &listed_before {
        assert!(
            !path.exists(),
            "{} outlived its grace period",
            path.display()
        );
        assert!(!path.with_extension("keys").exists());
    }
}

/// The steps of a compaction that a `kill -9` can interrupt, rebuilt on disk: outputs half
/// written in staging, outputs moved into `events/` before the manifest swap. Readers see
/// the store as it was; the next ingest removes the leftovers and stores nothing twice.
#[test]
fn a_crash_at_any_step_leaves_the_store_before_or_after() {
    let data = tempfile::tempdir().unwrap();
    store_of_small_ingests(data.path());
    let store = schema::Store::new(data.path());
    let rows_before = rows(data.path(), false);

    // The same compaction, run on a copy, gives the files a crash would leave behind.
    let copy = tempfile::tempdir().unwrap();
    copy_dir(data.path(), copy.path());
    ingest::compact(copy.path()).unwrap();
    let output = manifest(copy.path()).files[0].clone();

    // 1. Killed while merging: a half-written output in staging.
    let staging = data.path().join("staging/compact-crashed");
    std::fs::create_dir_all(&staging).unwrap();
    std::fs::write(staging.join("part-x.parquet"), b"PAR1 half written").unwrap();
    // 2. Killed after moving the outputs into events/, before the manifest swap.
    for rel in [&output.path, &output.keys] {
        std::fs::copy(copy.path().join(rel), store.resolve(rel)).unwrap();
    }
    same_rows(
        &rows(data.path(), false),
        &rows_before,
        "readers see the store as it was",
    );

    let next = run(data.path(), &[sample_logs()]);
    assert_eq!(next.rows_new, 0, "nothing stored twice");
    assert!(
        !store.resolve(&output.path).exists(),
        "the unlisted output is removed"
    );
    assert!(!staging.exists(), "the staging leftovers are removed");
    same_rows(
        &rows(data.path(), false),
        &rows_before,
        "the store as it was",
    );
    // 3. Killed after the swap: the state after (the copy), which reads the same rows.
    same_rows(
        &rows(copy.path(), false),
        &rows_before,
        "the store as after",
    );
}

#[test]
fn ingests_compact_on_their_own_past_the_threshold() {
    let (fleet, _) = generated(generate::Options {
        hosts: ingest::AUTO_COMPACT_SMALL_FILES + 4,
        groups: 3,
        days: 2,
        events: 3_000,
        ..Default::default()
    });
    let mut hosts: Vec<PathBuf> = std::fs::read_dir(fleet.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    hosts.sort();
    let data = tempfile::tempdir().unwrap();
    let mut compactions = 0;
    for host in &hosts {
        let s = run(data.path(), std::slice::from_ref(host));
        if let Some(c) = s.compacted {
            compactions += 1;
            assert_eq!(c.files_merged, ingest::AUTO_COMPACT_SMALL_FILES);
        }
    }
    assert_eq!(compactions, 1);
    assert!(manifest(data.path()).files.len() < ingest::AUTO_COMPACT_SMALL_FILES);
    assert_eq!(manifest(data.path()).rows(), 3_000);
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
