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

/// Every cut of a copy is reported, also one exactly at a chunk boundary (the file header
/// counts the chunks and the next record id; the probe's boundary cut was accepted
/// silently), and the complete chunks are kept.
#[test]
fn truncation_at_every_chunk_boundary_is_reported_and_keeps_the_complete_chunks() {
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
                len < bytes.len(),
                "cut {label} chunk {k}: {:?}",
                s.damaged
            );
        }
    }
}

/// The EVTX files of `sample-logs/`.
fn sample_evtx_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![sample_logs()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "evtx") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Every sample file cut at each of its chunk boundaries: reported every time.
#[test]
fn every_sample_file_cut_at_any_chunk_boundary_is_reported() {
    let work = tempfile::tempdir().unwrap();
    let mut cuts = 0;
    for (n, path) in sample_evtx_files().iter().enumerate() {
        let bytes = std::fs::read(path).unwrap();
        let whole = run(
            tempfile::tempdir().unwrap().path(),
            std::slice::from_ref(path),
        );
        assert!(
            whole.damaged.is_empty(),
            "{}: {:?}",
            path.display(),
            whole.damaged
        );
        let chunks = (bytes.len() - 4096) / 65536;
        for k in 0..chunks {
            let cut = write(
                work.path(),
                &format!("{n}-cut-{k}.evtx"),
                &bytes[..4096 + k * 65536],
            );
            let s = run(
                tempfile::tempdir().unwrap().path(),
                std::slice::from_ref(&cut),
            );
            assert!(
                s.damaged
                    .iter()
                    .any(|d| d.file == cut && d.message.starts_with("file is truncated")),
                "{} cut after {k} of {chunks} chunks: {:?}",
                path.display(),
                s.damaged
            );
            assert!(s.records_read < whole.records_read);
            cuts += 1;
        }
    }
    assert!(cuts >= 14, "{cuts} cuts");
}

/// A header followed by zeroed chunks (a copy whose data never arrived) is reported chunk
/// by chunk; zeroed space past the chunks the header counts is unused space, not damage.
#[test]
fn zeroed_chunks_the_header_counts_are_reported() {
    let (_dir, path, _) = collector_file();
    let mut bytes = std::fs::read(&path).unwrap();
    let chunks = (bytes.len() - 4096) / 65536;
    let work = tempfile::tempdir().unwrap();
    for b in &mut bytes[4096 + 65536..] {
        *b = 0;
    }
    let zeroed = write(work.path(), "zeroed.evtx", &bytes);
    let s = run(
        tempfile::tempdir().unwrap().path(),
        std::slice::from_ref(&zeroed),
    );
    let lost: Vec<_> = s.damaged.iter().filter_map(|d| d.chunk).collect();
    assert_eq!(
        lost,
        (1..chunks as u64).collect::<Vec<_>>(),
        "{:?}",
        s.damaged
    );
    assert!(
        s.damaged[0]
            .message
            .contains("is all zeros, but the file header counts")
    );

    // Unused zeroed space after the counted chunks is not damage.
    let clean = std::fs::read(&path).unwrap();
    let padded = write(
        work.path(),
        "padded.evtx",
        &[clean.as_slice(), &vec![0u8; 2 * 65536]].concat(),
    );
    let s = run(tempfile::tempdir().unwrap().path(), &[padded]);
    assert!(s.damaged.is_empty(), "{:?}", s.damaged);
}

/// A chunk whose free-space offset was moved back over its last records, with both CRC32s
/// recomputed so the chunk looks intact: the records its header lists but the walk does
/// not reach are reported.
#[test]
fn records_hidden_behind_the_free_space_offset_are_reported() {
    let (_dir, path, _) = collector_file();
    let mut bytes = std::fs::read(&path).unwrap();
    let chunk = &mut bytes[4096..4096 + 65536];
    let u32_at = |c: &[u8], at: usize| u32::from_le_bytes(c[at..at + 4].try_into().unwrap());
    // The offset of the chunk's last record (header field at 44) becomes the free space.
    let last_record = u32_at(chunk, 44);
    chunk[48..52].copy_from_slice(&last_record.to_le_bytes());
    let records_crc = crc32fast::hash(&chunk[512..last_record as usize]);
    chunk[52..56].copy_from_slice(&records_crc.to_le_bytes());
    let mut header_crc = crc32fast::Hasher::new();
    header_crc.update(&chunk[..120]);
    header_crc.update(&chunk[128..512]);
    let header_crc = header_crc.finalize();
    chunk[124..128].copy_from_slice(&header_crc.to_le_bytes());
    let work = tempfile::tempdir().unwrap();
    let hidden = write(work.path(), "hidden.evtx", &bytes);
    let s = run(
        tempfile::tempdir().unwrap().path(),
        std::slice::from_ref(&hidden),
    );
    assert_eq!(s.damaged.len(), 1, "{:?}", s.damaged);
    assert_eq!(s.damaged[0].chunk, Some(0));
    assert!(
        s.damaged[0]
            .message
            .contains("before its free space: the others are hidden or lost"),
        "{}",
        s.damaged[0].message
    );
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
        listed, 3,
        "one parquet file, its keys and its summary, nothing staged left behind"
    );
    assert_eq!(
        before.rows_in_store,
        read_store(data.path())
            .iter()
            .map(|b| b.num_rows() as u64)
            .sum::<u64>()
    );
}

/// Seeded byte mutations of sample files (anywhere, and in the file and first chunk
/// headers, where counts and offsets live): ingest never panics and never fails, what it
/// skips names the file, and the store holds what was read.
fn mutated_logs_never_panic(cases: usize) {
    let sources = [
        sample_logs().join("ITO-WS002/Microsoft-Windows-AppLocker%4EXE and DLL.evtx"),
        sample_logs().join("ForwardedEvents-2.evtx"),
    ];
    let work = tempfile::tempdir().unwrap();
    let mut damaged = 0;
    for (n, source) in sources.iter().enumerate() {
        let bytes = std::fs::read(source).unwrap();
        let seed = 0xE77C_0000 + n as u64;
        let mut mutator = testkit::mutate::Mutator::new(seed);
        for case in 0..cases {
            let mutated = if case % 3 == 0 {
                let headers = 4096 + 512;
                [
                    mutator.mutate(&bytes[..headers]).as_slice(),
                    &bytes[headers..],
                ]
                .concat()
            } else {
                mutator.mutate(&bytes)
            };
            let file = write(work.path(), &format!("mutated-{n}-{case}.evtx"), &mutated);
            let summary = ingest_mutated(&file, &format!("seed {seed:#x} case {case}"));
            damaged +=
                usize::from(!summary.damaged.is_empty() || !summary.skipped_inputs.is_empty());
            std::fs::remove_file(&file).unwrap();
        }
    }
    assert!(
        damaged > cases / 2,
        "most mutations must be noticed: {damaged}"
    );
}

#[test]
fn mutated_logs_are_read_without_panics() {
    mutated_logs_never_panic(testkit::mutate::cases(200));
}

#[test]
#[ignore = "deep run: cargo test -p ingest --test integration mutated_logs_deep -- --ignored"]
fn mutated_logs_deep() {
    mutated_logs_never_panic(testkit::mutate::DEEP_CASES / 10);
}
