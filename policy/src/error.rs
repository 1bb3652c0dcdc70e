use std::path::Path;

/// What can go wrong reading a policy.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // The message carries the cause, so it is not also a `#[source]` (a chain printed with
    // `{:#}` would say it twice).
    #[error("{path}: {cause}")]
    Io { path: String, cause: std::io::Error },
    #[error("the policy is {size} bytes, more than the {limit} bytes lockstep reads")]
    TooLarge { size: u64, limit: u64 },
    #[error("{0}")]
    Encoding(String),
    #[error("not well-formed XML at line {line}, column {column}: {message}")]
    Xml {
        line: u32,
        column: u32,
        message: String,
    },
    #[error("line {line}: {message}")]
    Invalid { line: u32, message: String },
    /// Something lockstep recognises, but not a policy it can read (what it is, and what to
    /// give instead).
    #[error("{0}")]
    NotAPolicy(String),
    #[error("registry.pol, offset {offset}: {message}")]
    RegistryPol { offset: usize, message: String },
    #[error("registry key {key}: {message}")]
    RegistryPolicy { key: String, message: String },
    #[error("{file}: {inner}")]
    InFile { file: String, inner: Box<Error> },
}

impl Error {
    /// The same error, naming the file it came from.
    pub fn in_file(self, path: &Path) -> Error {
        Error::InFile {
            file: path.display().to_string(),
            inner: Box::new(self),
        }
    }
}
