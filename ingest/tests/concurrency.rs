//! Concurrent ingests into one folder take turns and lose nothing.

use crate::fixtures::*;

#[test]
fn two_ingests_at_once_store_the_union() {
    let files = event_logs(&sample_logs());
    let (a, b) = files.split_at(files.len() / 2);
    let data = tempfile::tempdir().unwrap();
    std::thread::scope(|s| {
        let first = s.spawn(|| run(data.path(), a));
        let second = s.spawn(|| run(data.path(), b));
        first.join().unwrap();
        second.join().unwrap();
    });
    assert_eq!(
        counts_by_computer_and_id(data.path()),
        expected_by_computer_and_id(&sample_manifest())
    );
}
