//! Files damaged on purpose: flipped bytes, truncation at every chunk boundary, empty files,
//! random bytes, a 2 GB sparse file. Ingest never panics, reports what it skipped, and
//! stores everything that was readable.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::fixtures::*;

/// One collector file of several chunks, and its record count.
fn collector_file() -> (tempfile::TempDir, PathBuf, u64) {
    let (dir, summary) = generated(generate::Options {
        hosts: 6,
        groups: 2,
        days: 2,
        events: 1_500,
        forwarded: 1,
        ..Default::default()
    });
    let path = dir.path().join("ForwardedEvents-1.evtx");
    let records = summary
        .files
        .iter()
        .find(|f| f.path == "ForwardedEvents-1.evtx")
        .unwrap()
        .records;
    (dir, path, records)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Records per chunk of an EVTX file, from the chunk headers.
fn records_per_chunk(bytes: &[u8]) -> Vec<u64> {
    bytes[4096..]
        .chunks(65536)
        .filter(|c| c.len() == 65536)
        .map(|c| {
            u64::from_le_bytes(c[16..24].try_into().unwrap())
                - u64::from_le_bytes(c[8..16].try_into().unwrap())
                + 1
        })
        .collect()
}

#[test]
fn truncation_at_every_chunk_boundary_keeps_the_complete_chunks() {
    let (_dir, path, _) = collector_file();
    let bytes = std::fs::read(&path).unwrap();
    let per_chunk = records_per_chunk(&bytes);
    assert!(per_chunk.len() >= 3, "the test needs several chunks");
    let work = tempfile::tempdir().unwrap();
    for k in 0..=per_chunk.len() {
        let cut = 4096 + k * 65536;
        for (label, len) in [("at", cut), ("inside", cut + 30_000)] {
            if len > bytes.len() {
                continue;
            }
            let file = write(work.path(), &format!("cut-{label}-{k}.evtx"), &bytes[..len]);
            let s = run(tempfile::tempdir().unwrap().path(), &[file]);
            let complete: u64 = per_chunk[..k].iter().sum();
            assert_eq!(s.records_read, complete, "cut {label} chunk {k}");
            let flagged = s.damaged.iter().any(|d| d.message.contains("truncated"));
            assert_eq!(
                flagged,
                label == "inside" && len < bytes.len(),
                "cut {label} chunk {k}: {:?}",
                s.damaged
            );
        }
    }
}

#[test]
fn flipped_bytes_are_reported_and_never_panic() {
    let (_dir, path, records) = collector_file();
    let clean = std::fs::read(&path).unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for round in 0..40 {
        let mut bytes = clean.clone();
        for _ in 0..1 + round % 4 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let at = 4096 + (state as usize % (bytes.len() - 4096));
            bytes[at] ^= 1 << ((state >> 60) as u8 % 8);
        }
        let file = write(work.path(), &format!("flipped-{round}.evtx"), &bytes);
        let s = run(
            tempfile::tempdir().unwrap().path(),
            &[file, sample_logs().join("ForwardedEvents-2.evtx")],
        );
        // A flip in a checksummed range is reported; one in the unused tail of a chunk
        // changes nothing that is read.
        let file_records = s.records_read - 1_000.min(s.records_read);
        assert!(
            s.is_partial() || s.rows_new >= records,
            "round {round}: a flip went unnoticed ({file_records})"
        );
        assert!(
            s.damaged
                .iter()
                .all(|d| d.file.to_string_lossy().contains("flipped"))
        );
        assert!(s.records_read <= records + 2_000, "round {round}");
        assert!(
            s.rows_new > 0,
            "round {round}: the other file is still stored"
        );
    }
}

#[test]
fn empty_random_and_sparse_files() {
    let work = tempfile::tempdir().unwrap();
    let empty = write(work.path(), "empty.evtx", b"");
    let mut state = 7u64;
    let random: Vec<u8> = (0..300_000)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 56) as u8
        })
        .collect();
    let random_file = write(work.path(), "random.evtx", &random);
    // Valid magic followed by garbage: an EVTX file whose every chunk is damaged.
    let mut fake = b"ElfFile\0".to_vec();
    fake.extend_from_slice(&random[..200_000]);
    let fake_file = write(work.path(), "fake-header.evtx", &fake);

    let data = tempfile::tempdir().unwrap();
    let s = run(
        data.path(),
        &[
            empty.clone(),
            random_file.clone(),
            fake_file.clone(),
            sample_logs().join("FIN-LT001"),
        ],
    );
    let skipped: Vec<&Path> = s.skipped_inputs.iter().map(|x| x.path.as_path()).collect();
    assert!(
        skipped.contains(&empty.as_path()) && skipped.contains(&random_file.as_path()),
        "{skipped:?}"
    );
    assert!(
        s.damaged.iter().any(|d| d.file == fake_file),
        "{:?}",
        s.damaged
    );
    assert!(s.rows_new > 0, "the good file is stored");

    // 2 GB sparse: a real header, then zeros (as a preallocated log that was never filled),
    // and 2 GB of nothing at all.
    let header = std::fs::read(evtx_files(&sample_logs())[0].clone()).unwrap();
    let sparse = work.path().join("sparse.evtx");
    let mut f = std::fs::File::create(&sparse).unwrap();
    f.write_all(&header[..4096 + 65536]).unwrap();
    f.set_len(2 << 30).unwrap();
    let zeros = work.path().join("zeros.evtx");
    std::fs::File::create(&zeros)
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
    let s = run(
        tempfile::tempdir().unwrap().path(),
        &[sparse, zeros.clone()],
    );
    assert!(s.records_read > 0, "the one real chunk is read");
    assert_eq!(s.skipped_inputs.len(), 1);
    assert_eq!(s.skipped_inputs[0].path, zeros);
}

#[test]
fn strict_mode_stores_nothing_when_anything_is_damaged() {
    let data = tempfile::tempdir().unwrap();
    let before = run(data.path(), &[sample_logs().join("FIN-LT001")]);
    let manifest_before = std::fs::read(data.path().join("lockstep-store.json")).unwrap();
    // A collector file cut inside its second chunk, as a copy taken while it grew.
    let (_dir, path, _) = collector_file();
    let work = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let truncated = write(work.path(), "cut.evtx", &bytes[..4096 + 65536 + 30_000]);
    let mut opts = options(data.path(), &[sample_logs(), truncated]);
    opts.strict = true;
    let err = ingest::ingest(&opts, &ingest::Progress::default()).unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
    assert_eq!(
        std::fs::read(data.path().join("lockstep-store.json")).unwrap(),
        manifest_before
    );
    let listed = std::fs::read_dir(data.path().join("events"))
        .unwrap()
        .count();
    assert_eq!(
        listed, 2,
        "one parquet file and its keys, nothing staged left behind"
    );
    assert_eq!(
        before.rows_in_store,
        read_store(data.path())
            .iter()
            .map(|b| b.num_rows() as u64)
            .sum::<u64>()
    );
}
