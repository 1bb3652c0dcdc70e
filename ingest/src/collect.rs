//! Collector mode: watched folders kept ingested (a WEF collector's export share, a SIEM
//! drop folder). Each pass looks at every file under the watched paths:
//! - a file whose identity, size and modification time match its committed position is
//!   done;
//! - a text export (event XML, NDJSON) is read on from its position, complete records only,
//!   even while it grows;
//! - an EVTX file is read once it stopped changing between two passes (or has kept changing
//!   for [`MAX_SETTLE`]), past the last record id read (chunks read before are not decoded
//!   again);
//! - a file with another identity under the same name, or shorter than before, was rotated
//!   or replaced and is read from its start.
//!
//! Positions are committed in the manifest with the rows they led to (`ingest_resuming`),
//! so after a `kill -9` nothing is lost and, the de-duplication keys doing the rest,
//! nothing is stored twice. Local file events (the `notify` crate) start a pass early;
//! the interval's pass is the fallback where none come (network shares, whose remote writes
//! inotify does not see). Each pass writes `DATA/collector.json`, the status
//! `lockstep collect --status` and `GET /api/v1/collector` show.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use schema::Store;

use crate::{Options, Progress, Resume, Summary, file_identity, ingest_resuming};

/// The status file in the data folder.
pub const STATUS_FILE: &str = "collector.json";

/// An EVTX log that keeps changing (a WEF collector's `ForwardedEvents.evtx`, written every
/// few seconds) is read anyway after this long: the chunks being written are read as far as
/// they go, and read again past the last record id once they change.
pub const MAX_SETTLE: std::time::Duration = std::time::Duration::from_secs(60);

/// Local file events (inotify and its kin) on the watched paths: they wake the collector
/// before its interval is up. Writes made on another machine to a network share raise no
/// local event, so the interval's pass stays the fallback that always comes.
struct ChangeSignal {
    _watcher: notify::RecommendedWatcher,
    events: std::sync::mpsc::Receiver<()>,
    /// The paths it watches (the watched paths that existed when it was made).
    paths: Vec<PathBuf>,
}

impl std::fmt::Debug for ChangeSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeSignal")
            .field("paths", &self.paths)
            .finish()
    }
}

impl ChangeSignal {
    fn new(paths: Vec<PathBuf>) -> Option<ChangeSignal> {
        use notify::Watcher;
        let (tx, events) = std::sync::mpsc::channel();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if event.is_ok() {
                    let _ = tx.send(());
                }
            })
            .ok()?;
        for path in &paths {
            // A path that cannot be watched this way is still polled.
            let _ = watcher.watch(path, notify::RecursiveMode::Recursive);
        }
        Some(ChangeSignal {
            _watcher: watcher,
            events,
            paths,
        })
    }
}

/// A collector over `watch`, into `data_dir`.
#[derive(Debug)]
pub struct Collector {
    data_dir: PathBuf,
    watch: Vec<PathBuf>,
    /// EVTX files as seen at the previous pass (size, modified), and since when they have
    /// been changing: read when unchanged, or once they have changed for [`MAX_SETTLE`].
    observed: HashMap<PathBuf, ((u64, i64), std::time::Instant)>,
    /// Read EVTX files at once instead of waiting for them to settle (`collect --once`).
    pub no_settling: bool,
    /// How long an EVTX log may keep changing before it is read anyway ([`MAX_SETTLE`]).
    pub max_settle: std::time::Duration,
    started_at: u64,
    signal: Option<ChangeSignal>,
}

/// What one pass did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Pass {
    pub files_watched: usize,
    /// Files read in this pass.
    pub files_read: Vec<String>,
    /// EVTX files still changing, read once they settle.
    pub settling: Vec<String>,
    /// Watched paths that are not there now (a share that went away): watched still.
    pub missing: Vec<String>,
    pub rows_new: u64,
    pub rows_duplicate: u64,
    pub damaged: usize,
    /// What went wrong, if the pass could not ingest (the next pass tries again).
    pub error: Option<String>,
}

/// `DATA/collector.json`.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct CollectorStatus {
    pub pid: u32,
    pub started_at: u64,
    /// The end of the latest pass (seconds since the epoch).
    pub updated_at: u64,
    pub watch: Vec<String>,
    pub missing: Vec<String>,
    pub settling: Vec<String>,
    pub last_pass_rows_new: u64,
    pub last_error: Option<String>,
    pub files: Vec<WatchedFile>,
}

/// One watched file: where reading stands.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct WatchedFile {
    pub path: String,
    pub read_at: u64,
    /// Text: bytes read; EVTX: the last record id read.
    pub offset: u64,
    pub last_record_id: Option<u64>,
    /// Bytes written after the last read (text), or whether it changed since (EVTX: 1).
    pub behind: u64,
    /// Seconds since the last read while the file has unread data; 0 when caught up.
    pub lag_seconds: u64,
}

impl Collector {
    pub fn new(data_dir: &Path, watch: &[PathBuf]) -> Collector {
        // Positions are kept by path: absolute, so a restart from the same folder with
        // `./share` for `share` resumes instead of reading everything again.
        let watch = watch
            .iter()
            .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
            .collect();
        Collector {
            data_dir: data_dir.to_owned(),
            watch,
            observed: HashMap::new(),
            no_settling: false,
            max_settle: MAX_SETTLE,
            started_at: crate::commit::unix_seconds(),
            signal: None,
        }
    }

    /// Waits for the next pass: `interval`, or less when a watched path changes (a burst of
    /// changes is let finish for a second first). Returns whether a change woke it.
    pub fn wait(&mut self, interval: std::time::Duration) -> bool {
        let present: Vec<PathBuf> = self.watch.iter().filter(|p| p.exists()).cloned().collect();
        if self.signal.as_ref().is_none_or(|s| s.paths != present) {
            // New paths came (a share back): watch them too.
            self.signal = ChangeSignal::new(present);
        }
        let Some(signal) = &self.signal else {
            std::thread::sleep(interval);
            return false;
        };
        let woken = signal.events.recv_timeout(interval).is_ok();
        if woken {
            std::thread::sleep(std::time::Duration::from_secs(1).min(interval));
            while signal.events.try_recv().is_ok() {}
        }
        woken
    }

    /// Looks at every watched file once and ingests what is new.
    pub fn pass(&mut self) -> Pass {
        let mut pass = Pass::default();
        let present: Vec<PathBuf> = self
            .watch
            .iter()
            .filter(|p| {
                let there = p.exists();
                if !there {
                    pass.missing.push(p.display().to_string());
                }
                there
            })
            .cloned()
            .collect();
        let store = Store::new(&self.data_dir);
        let resolved = crate::inputs::resolve(&present, store.root());
        pass.files_watched = resolved.files.len();
        let sources = match store.read_manifest() {
            Ok(m) => m.sources,
            Err(e) => {
                pass.error = Some(e.to_string());
                self.write_status(&pass);
                return pass;
            }
        };
        let mut resume = Resume::new();
        for input in &resolved.files {
            let Ok(meta) = std::fs::metadata(&input.path) else {
                continue;
            };
            let now = (meta.len(), modified_ns(&meta));
            let known = sources.get(&input.path.display().to_string());
            let same_file =
                known.is_some_and(|p| p.identity == file_identity(&meta) && meta.len() >= p.size);
            if known.is_some_and(|p| same_file && (p.size, p.modified_ns) == now) {
                continue; // read to its end already
            }
            if input.form.form == crate::text::InputForm::Evtx && !self.no_settling {
                let seen = std::time::Instant::now();
                let since = match self.observed.get(&input.path) {
                    Some(&(before, _)) if before == now => None, // settled
                    Some(&(_, since)) => Some(since),
                    None => Some(seen),
                };
                if let Some(since) = since
                    && seen.duration_since(since) < self.max_settle
                {
                    self.observed.insert(input.path.clone(), (now, since));
                    pass.settling.push(input.path.display().to_string());
                    continue;
                }
                // Read now; changing again from here starts a new wait.
                self.observed.insert(input.path.clone(), (now, seen));
            }
            resume.insert(input.path.clone(), known.filter(|_| same_file).cloned());
        }
        if !resume.is_empty() {
            let opts = Options {
                data_dir: self.data_dir.clone(),
                paths: resume.keys().cloned().collect(),
                strict: false,
                threads: 0,
            };
            match ingest_resuming(&opts, &Progress::default(), Some(&resume)) {
                Ok(summary) => record(&mut pass, &resume, &summary),
                Err(e) => pass.error = Some(e.to_string()),
            }
        }
        self.write_status(&pass);
        pass
    }

    /// Writes `DATA/collector.json` (a temporary file renamed over it).
    fn write_status(&self, pass: &Pass) {
        let store = Store::new(&self.data_dir);
        let sources = store.read_manifest().map(|m| m.sources).unwrap_or_default();
        let now = crate::commit::unix_seconds();
        let files = sources
            .iter()
            .map(|(path, p)| watched_file(path, p, now))
            .collect();
        let status = CollectorStatus {
            pid: std::process::id(),
            started_at: self.started_at,
            updated_at: now,
            watch: self.watch.iter().map(|p| p.display().to_string()).collect(),
            missing: pass.missing.clone(),
            settling: pass.settling.clone(),
            last_pass_rows_new: pass.rows_new,
            last_error: pass.error.clone(),
            files,
        };
        let path = self.data_dir.join(STATUS_FILE);
        let temp = self.data_dir.join(format!("{STATUS_FILE}.tmp"));
        let json = serde_json::to_vec_pretty(&status).expect("status serializes");
        if std::fs::write(&temp, json)
            .and_then(|_| std::fs::rename(&temp, &path))
            .is_err()
        {
            tracing::warn!("could not write {}", path.display());
        }
    }
}

fn record(pass: &mut Pass, resume: &Resume, summary: &Summary) {
    pass.files_read = resume.keys().map(|p| p.display().to_string()).collect();
    pass.rows_new = summary.rows_new;
    pass.rows_duplicate = summary.rows_duplicate;
    pass.damaged = summary.damaged.len();
}

fn modified_ns(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i64)
}

fn watched_file(path: &str, p: &schema::SourcePosition, now: u64) -> WatchedFile {
    let meta = std::fs::metadata(path).ok();
    let (size, modified) = meta
        .as_ref()
        .map_or((p.size, p.modified_ns), |m| (m.len(), modified_ns(m)));
    let changed = (size, modified) != (p.size, p.modified_ns);
    let behind = match p.last_record_id {
        Some(_) => u64::from(changed),
        None if p.offset > 0 => size.saturating_sub(p.offset),
        None => u64::from(changed),
    };
    WatchedFile {
        path: path.to_owned(),
        read_at: p.read_at,
        offset: p.offset,
        last_record_id: p.last_record_id,
        behind,
        lag_seconds: if behind > 0 {
            now.saturating_sub(p.read_at)
        } else {
            0
        },
    }
}

/// The latest status a collector wrote into `data_dir`, if any.
pub fn read_status(data_dir: &Path) -> Option<CollectorStatus> {
    let bytes = std::fs::read(data_dir.join(STATUS_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}
