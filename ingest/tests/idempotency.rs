//! Each event is stored once, however often and however overlapping the exports are.

use crate::fixtures::*;

#[test]
fn ingesting_the_same_files_twice_stores_nothing_new() {
    let data = tempfile::tempdir().unwrap();
    let first = run(data.path(), &[sample_logs()]);
    let second = run(data.path(), &[sample_logs()]);
    assert_eq!(second.rows_new, 0);
    assert_eq!(second.rows_duplicate, first.rows_new);
    assert_eq!(second.rows_in_store, first.rows_in_store);
    assert_eq!(
        read_store(data.path())
            .iter()
            .map(|b| b.num_rows())
            .sum::<usize>() as u64,
        first.rows_new
    );
}

#[test]
fn overlapping_exports_and_renamed_copies_are_stored_once() {
    let files = event_logs(&sample_logs());
    let (half, rest) = files.split_at(files.len() / 2);
    let copies = tempfile::tempdir().unwrap();
    // The same log exported again under another name, as admins do.
    let copy = copies.path().join("exported-again.log");
    std::fs::copy(&half[0], &copy).unwrap();

    let data = tempfile::tempdir().unwrap();
    let a = run(data.path(), half);
    let mut overlapping = vec![copy];
    overlapping.extend(half.iter().take(1).cloned());
    overlapping.extend(rest.iter().cloned());
    let b = run(data.path(), &overlapping);
    let all = run(tempfile::tempdir().unwrap().path(), &[sample_logs()]);
    assert_eq!(a.rows_new + b.rows_new, all.rows_new);
    assert!(b.rows_duplicate > 0);
    assert_eq!(
        counts_by_computer_and_id(data.path()),
        expected_by_computer_and_id(&sample_manifest())
    );
}
