//! Standard output for every subcommand. `lockstep report | head -3` closes the pipe early;
//! writing then fails with `BrokenPipe`, which [`is_broken_pipe`] recognises so `main` ends
//! quietly with success, as other Unix tools do (`print!` would panic instead).

use std::io::Write;

/// Writes `text` to standard output and flushes it.
pub(crate) fn print(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// Whether `err` (or anything it wraps) is a write to a closed pipe.
pub(crate) fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// A path for a human-readable line: lossy where it is not UTF-8, with control characters
/// (a newline in a file name would split the line) escaped.
pub(crate) fn path(p: &std::path::Path) -> String {
    escape_controls(&p.to_string_lossy())
}

/// `text` with control characters written as escapes (`\n`, `\u{1b}`).
pub(crate) fn escape_controls(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(
            super::escape_controls("C:\\logs\nnew\u{1b}[31m.evtx"),
            "C:\\logs\\nnew\\u{1b}[31m.evtx"
        );
    }
}
