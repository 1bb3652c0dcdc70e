//! The data folder.
//!
//! ```text
//! DATA/
//!   lockstep-store.json   the manifest: the committed Parquet files (replaced atomically)
//!   events/               Parquet files (+ a sorted `.keys` file each, for de-duplication)
//!   staging/<ingest>/     an ingest's work in progress; never read by queries
//!   .lock                 held by the one ingest that may change the store
//! ```
//!
//! Readers take the file list from the manifest, never from a directory listing: a file
//! that is being written, or that a crashed ingest left behind, is not listed, so a kill -9
//! at any moment leaves the store equal to its state before or after that ingest.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Errors reading or writing the store's manifest.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a lockstep store manifest", path.display())]
    BadManifest {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{}: store format {found} is newer than this lockstep understands ({supported})", path.display())]
    UnsupportedVersion {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
}

/// One committed Parquet file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ManifestFile {
    /// Relative to the data folder, `/`-separated.
    pub path: String,
    /// The sorted de-duplication keys of its rows, relative to the data folder.
    pub keys: String,
    pub rows: u64,
    /// Earliest and latest `time` in the file (µs since the epoch), for pruning.
    pub min_time: i64,
    pub max_time: i64,
    pub ingest_id: String,
    /// Its rows summed up ([`crate::summary`]), relative to the data folder; `None` in a
    /// store written before the summary, until the next ingest writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

/// A file compaction took out of the store, kept on disk for [`Manifest::RETIRE_GRACE_SECS`]
/// so that queries planned before the swap can still read it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RetiredFile {
    pub path: String,
    pub keys: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// When it left the store (seconds since the epoch).
    pub retired_at: u64,
}

/// Where a collector's reading of a watched file ended, committed with the rows it read
/// (so a restart neither loses nor re-reads them).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SourcePosition {
    /// The file's device and inode (or 0, 0 where unknown): another identity under the same
    /// name is a rotated or replaced file, read from its start.
    pub identity: (u64, u64),
    /// Size and modification time (ns since the epoch) when it was read.
    pub size: u64,
    pub modified_ns: i64,
    /// Text forms: the byte offset after the last complete record read (0: read it whole).
    pub offset: u64,
    /// EVTX: the highest record id read.
    pub last_record_id: Option<u64>,
    /// When it was read (seconds since the epoch).
    pub read_at: u64,
}

/// The committed state of the store.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub version: u32,
    pub files: Vec<ManifestFile>,
    /// A collector's positions in the files it watches, by path.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub sources: std::collections::BTreeMap<String, SourcePosition>,
    /// Files no longer in the store, not yet deleted (readers never list them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retired: Vec<RetiredFile>,
}

impl Manifest {
    /// The manifest format this build writes and reads. 2: de-duplication keys take the
    /// time to the millisecond (1: to the microsecond); ingest rebuilds a version-1 store's
    /// key files before it adds to it.
    pub const VERSION: u32 = 2;

    /// How long a file compaction replaced stays on disk: longer than any query runs.
    pub const RETIRE_GRACE_SECS: u64 = 15 * 60;

    /// Total committed rows.
    pub fn rows(&self) -> u64 {
        self.files.iter().map(|f| f.rows).sum()
    }

    /// The summary files of every committed file, or `None` when one has none yet (a store
    /// written before the summary): then only the events answer.
    pub fn summaries(&self) -> Option<Vec<&str>> {
        self.files.iter().map(|f| f.summary.as_deref()).collect()
    }
}

/// A data folder.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    pub const MANIFEST: &'static str = "lockstep-store.json";
    pub const EVENTS_DIR: &'static str = "events";
    pub const STAGING_DIR: &'static str = "staging";
    pub const LOCK: &'static str = ".lock";
    /// Tables a distributed query engine reads besides the events (what-if verdicts),
    /// one folder per query context, removed when it ends; ingest never touches it.
    pub const SCRATCH_DIR: &'static str = "scratch";

    /// The store at `root` (which may not exist yet).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Store { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn manifest_path(&self) -> PathBuf {
        self.root.join(Self::MANIFEST)
    }

    pub fn events_dir(&self) -> PathBuf {
        self.root.join(Self::EVENTS_DIR)
    }

    pub fn staging_dir(&self) -> PathBuf {
        self.root.join(Self::STAGING_DIR)
    }

    pub fn scratch_dir(&self) -> PathBuf {
        self.root.join(Self::SCRATCH_DIR)
    }

    pub fn lock_path(&self) -> PathBuf {
        self.root.join(Self::LOCK)
    }

    /// Absolute path of a manifest-relative path.
    pub fn resolve(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// The committed state; an empty manifest when the store does not exist yet.
    pub fn read_manifest(&self) -> Result<Manifest, StoreError> {
        let path = self.manifest_path();
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Manifest {
                    version: Manifest::VERSION,
                    ..Manifest::default()
                });
            }
            Err(source) => return Err(StoreError::Io { path, source }),
        };
        let manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|source| StoreError::BadManifest {
                path: path.clone(),
                source,
            })?;
        if manifest.version > Manifest::VERSION {
            return Err(StoreError::UnsupportedVersion {
                path,
                found: manifest.version,
                supported: Manifest::VERSION,
            });
        }
        Ok(manifest)
    }

    /// The Parquet files of the committed state, as absolute paths.
    pub fn committed_files(&self) -> Result<Vec<PathBuf>, StoreError> {
        Ok(self
            .read_manifest()?
            .files
            .iter()
            .map(|f| self.resolve(&f.path))
            .collect())
    }

    /// Replaces the manifest atomically: write a temp file, flush it to disk, rename it over
    /// the old one, flush the directory. Callers must hold the store lock.
    pub fn write_manifest(&self, manifest: &Manifest) -> Result<(), StoreError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| StoreError::Io { path, source }
        };
        let target = self.manifest_path();
        let temp = self.root.join(format!("{}.tmp", Self::MANIFEST));
        let json = serde_json::to_vec_pretty(manifest).expect("manifest serializes");
        let mut file = fs::File::create(&temp).map_err(io(&temp))?;
        if let Err(e) = file.write_all(&json).and_then(|_| file.sync_all()) {
            // A full disk: the half-written copy goes, the manifest stays as it was.
            let _ = fs::remove_file(&temp);
            return Err(io(&temp)(e));
        }
        fs::rename(&temp, &target).map_err(io(&target))?;
        sync_dir(&self.root).map_err(io(&self.root))
    }
}

/// Flushes a directory's entries (renames) to disk; a no-op where that is not supported.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_store_reads_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("nothing-here"));
        assert_eq!(store.read_manifest().unwrap().rows(), 0);
    }

    #[test]
    fn manifest_round_trips_and_replaces_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let file = ManifestFile {
            path: "events/a.parquet".into(),
            keys: "events/a.keys".into(),
            rows: 3,
            min_time: 1,
            max_time: 2,
            ingest_id: "x".into(),
            summary: Some("events/a.summary.parquet".into()),
        };
        let manifest = Manifest {
            version: Manifest::VERSION,
            files: vec![file],
            retired: Vec::new(),
            sources: Default::default(),
        };
        store.write_manifest(&manifest).unwrap();
        assert_eq!(store.read_manifest().unwrap(), manifest);
        assert!(!dir.path().join("lockstep-store.json.tmp").exists());
    }

    #[test]
    fn a_damaged_manifest_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(Store::MANIFEST), "{not json").unwrap();
        let err = Store::new(dir.path()).read_manifest().unwrap_err();
        assert!(err.to_string().contains("lockstep-store.json"), "{err}");
    }
}
