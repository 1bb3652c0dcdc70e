use std::io;

/// Everything that can go wrong while writing an EVTX file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The record cannot fit in any chunk (spec §2.4: at most 65,024 bytes).
    #[error("record of {size} bytes is larger than the {max} bytes a chunk can hold")]
    RecordTooLarge { size: usize, max: usize },
    /// A single value is longer than the u16 size field of its descriptor (spec §4.9).
    #[error("value in slot {slot} is {size} bytes, more than the 65535 a descriptor can hold")]
    ValueTooLarge { slot: usize, size: usize },
    /// The template refers to a slot the instance does not fill, or fills it with NULL.
    /// (spec §0 rule 3: never point a substitution at a NULL value).
    #[error("template substitutes slot {slot}, but the instance has {reason}")]
    BadSubstitution { slot: u16, reason: &'static str },
    /// The file already holds the most chunks its u16 counter allows (spec §1).
    #[error("the file already holds {max} chunks, the most an EVTX header can count")]
    FileFull { max: usize },
    /// Writing to the underlying file failed.
    #[error("writing the EVTX file failed")]
    Io(#[from] io::Error),
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
