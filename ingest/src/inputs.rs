//! PATH arguments into the list of files to read: files, folders (recursively) and globs
//! (`*`, `?`), recognised as EVTX, event XML or JSON (maybe gzip-compressed) by their
//! content, not their names (`text::sniff`).

use std::path::{Path, PathBuf};

use schema::wildcard_match;

use crate::SkippedInput;
use crate::text::{Sniffed, sniff};

/// A file to read, and its form.
#[derive(Debug, Clone)]
pub(crate) struct Input {
    pub(crate) path: PathBuf,
    pub(crate) form: Sniffed,
}

/// What the PATH arguments name.
#[derive(Debug, Default)]
pub(crate) struct Resolved {
    /// Files to read, sorted by path, without duplicates.
    pub(crate) files: Vec<Input>,
    /// Paths that could not be used, with the reason: missing, unreadable, or named
    /// explicitly but not EVTX.
    pub(crate) skipped: Vec<SkippedInput>,
    /// Files found inside folders that are none of the forms (READMEs, CSVs): ignored.
    pub(crate) ignored: u64,
}

/// The input files named by `paths`. Anything under `exclude` (the data folder) is left out.
pub(crate) fn resolve(paths: &[PathBuf], exclude: &Path) -> Resolved {
    // (path, named explicitly rather than found in a folder)
    let mut candidates: Vec<(PathBuf, bool)> = Vec::new();
    let mut skipped = Vec::new();
    for path in paths {
        let text = path.to_string_lossy();
        if !path.exists() && (text.contains('*') || text.contains('?')) {
            let matched = glob(path);
            if matched.is_empty() {
                skipped.push(SkippedInput {
                    path: path.clone(),
                    reason: "no file matches this pattern".into(),
                });
            }
            for m in matched {
                walk(&m, true, &mut candidates, &mut skipped);
            }
        } else {
            walk(path, true, &mut candidates, &mut skipped);
        }
    }
    let exclude = exclude
        .canonicalize()
        .unwrap_or_else(|_| exclude.to_owned());
    candidates.retain(|(p, _)| !p.canonicalize().is_ok_and(|c| c.starts_with(&exclude)));
    candidates.sort();
    candidates.dedup_by(|a, b| a.0 == b.0);
    let mut resolved = Resolved {
        skipped,
        ..Resolved::default()
    };
    for (file, explicit) in candidates {
        match sniff(&file) {
            Ok(Some(form)) => resolved.files.push(Input { path: file, form }),
            Ok(None) if !explicit => resolved.ignored += 1,
            Ok(None) => resolved.skipped.push(SkippedInput {
                path: file,
                reason:
                    "not an EVTX, event XML or JSON file (by its content; gzip-compressed ones too)"
                        .into(),
            }),
            Err(e) => resolved.skipped.push(SkippedInput {
                path: file,
                reason: format!("cannot be read: {e}"),
            }),
        }
    }
    resolved
}

/// A folder's identity, to stop at a folder already walked (a symlink to itself or to a
/// parent would otherwise make the walk endless).
#[cfg(unix)]
fn folder_identity(_path: &Path, meta: &std::fs::Metadata) -> FolderId {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn folder_identity(path: &Path, _meta: &std::fs::Metadata) -> FolderId {
    path.canonicalize().unwrap_or_else(|_| path.to_owned())
}

/// What a path that is neither a folder nor a regular file is (it is never opened: reading
/// a FIFO would wait for a writer forever).
fn special_kind(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let kind = meta.file_type();
        if kind.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if kind.is_socket() {
            return "a socket";
        }
        if kind.is_block_device() || kind.is_char_device() {
            return "a device";
        }
    }
    let _ = meta;
    "not a regular file"
}

/// A folder's identity: device and inode (or, elsewhere, its canonical path).
#[cfg(unix)]
type FolderId = (u64, u64);
#[cfg(not(unix))]
type FolderId = PathBuf;

/// The folders walked so far, by identity.
type Seen = std::collections::HashSet<FolderId>;

fn walk(
    path: &Path,
    explicit: bool,
    out: &mut Vec<(PathBuf, bool)>,
    skipped: &mut Vec<SkippedInput>,
) {
    walk_within(path, explicit, out, skipped, &mut Seen::default());
}

fn walk_within(
    path: &Path,
    explicit: bool,
    out: &mut Vec<(PathBuf, bool)>,
    skipped: &mut Vec<SkippedInput>,
    seen: &mut Seen,
) {
    let skip = |skipped: &mut Vec<SkippedInput>, reason: String| {
        skipped.push(SkippedInput {
            path: path.to_owned(),
            reason,
        });
    };
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => {
            if !seen.insert(folder_identity(path, &m)) {
                // A link back to a folder being walked: its files are listed already.
                tracing::debug!(path = %path.display(), "folder already walked (a link cycle)");
                return;
            }
            match std::fs::read_dir(path) {
                Ok(entries) => {
                    let mut children: Vec<PathBuf> =
                        entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
                    children.sort();
                    for child in children {
                        walk_within(&child, false, out, skipped, seen);
                    }
                }
                Err(e) => skip(skipped, format!("cannot list folder: {e}")),
            }
        }
        Ok(m) if m.is_file() => out.push((path.to_owned(), explicit)),
        Ok(m) => skip(
            skipped,
            format!("{}, not a file: skipped", special_kind(&m)),
        ),
        Err(e) => skip(skipped, e.to_string()),
    }
}

/// Expands a pattern whose wildcards may appear in any component.
fn glob(pattern: &Path) -> Vec<PathBuf> {
    let mut current = vec![PathBuf::new()];
    for component in pattern.components() {
        let part = component.as_os_str().to_string_lossy();
        let mut next = Vec::new();
        for base in &current {
            if part.contains('*') || part.contains('?') {
                let dir = if base.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    base.as_path()
                };
                let Ok(entries) = std::fs::read_dir(dir) else {
                    continue;
                };
                let mut names: Vec<String> = entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                names.sort();
                next.extend(
                    names
                        .into_iter()
                        .filter(|n| wildcard_match(&part, n))
                        .map(|n| base.join(n)),
                );
            } else {
                next.push(base.join(component.as_os_str()));
            }
        }
        current = next;
    }
    current.retain(|p| p.exists());
    current
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_globs_and_non_evtx_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("HOST")).unwrap();
        std::fs::write(dir.path().join("HOST/log.bin"), b"ElfFile\0rest").unwrap();
        std::fs::write(dir.path().join("notes.evtx"), b"hello").unwrap();
        std::fs::write(dir.path().join("empty.evtx"), b"").unwrap();
        let data = dir.path().join("data");
        let r = resolve(&[dir.path().to_owned()], &data);
        let paths: Vec<_> = r.files.iter().map(|f| f.path.clone()).collect();
        assert_eq!(paths, vec![dir.path().join("HOST/log.bin")]);
        assert!(
            r.skipped.is_empty(),
            "non-EVTX files inside a folder are ignored: {:?}",
            r.skipped
        );
        assert_eq!(r.ignored, 2);
        let r = resolve(&[dir.path().join("notes.evtx")], &data);
        assert_eq!(
            r.skipped.len(),
            1,
            "a non-EVTX file named explicitly is an error"
        );
        let r = resolve(&[dir.path().join("H*").join("*.bin")], &data);
        assert_eq!(r.files.len(), 1);
        let r = resolve(&[dir.path().join("nope-*.evtx")], &data);
        assert!(r.files.is_empty());
        assert_eq!(r.skipped[0].reason, "no file matches this pattern");
    }

    /// The probe's hangs: a FIFO (named, or found in a folder) was opened and waited on for
    /// ever, and two links to their own folder made the walk endless.
    #[cfg(unix)]
    #[test]
    fn fifos_sockets_and_link_cycles_end() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("log.evtx"), b"ElfFile\0rest").unwrap();
        let fifo = d.join("p.evtx");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let _socket = std::os::unix::net::UnixListener::bind(d.join("s.evtx")).unwrap();
        std::os::unix::fs::symlink(".", d.join("x")).unwrap();
        std::os::unix::fs::symlink(".", d.join("y")).unwrap();
        std::fs::create_dir(d.join("sub")).unwrap();
        std::os::unix::fs::symlink("..", d.join("sub/up")).unwrap();

        let r = resolve(&[d.to_owned()], &d.join("data"));
        let paths: Vec<_> = r.files.iter().map(|f| f.path.clone()).collect();
        assert_eq!(paths, vec![d.join("log.evtx")]);
        let mut reasons: Vec<_> = r
            .skipped
            .iter()
            .map(|s| (s.path.file_name().unwrap().to_owned(), s.reason.as_str()))
            .collect();
        reasons.sort();
        assert_eq!(
            reasons,
            [
                ("p.evtx".into(), "a named pipe (FIFO), not a file: skipped"),
                ("s.evtx".into(), "a socket, not a file: skipped"),
            ]
        );
        let named = resolve(std::slice::from_ref(&fifo), &d.join("data"));
        assert!(named.files.is_empty());
        assert_eq!(named.skipped.len(), 1);
        assert_eq!(named.skipped[0].path, fifo);
        // A device named explicitly.
        let device = resolve(&[PathBuf::from("/dev/null")], &d.join("data"));
        assert_eq!(device.skipped[0].reason, "a device, not a file: skipped");
    }
}
