//! The file: a 4 KiB header block followed by chunks (spec §1).

use std::io::{Seek, SeekFrom, Write};

use crate::chunk::{ChunkBuilder, FinishedChunk};
use crate::error::{Error, Result};
use crate::value::Instance;

/// Size of the file header block; chunk 0 starts here.
pub const FILE_HEADER_SIZE: usize = 4096;
/// The header counts chunks in a u16 (spec §1).
pub const MAX_CHUNKS: usize = 65535;

/// Appends records to an EVTX file, one chunk at a time, and writes the file header when
/// finished. Memory use is one chunk, whatever the file size.
///
/// A file with no records has no valid form (libevtx calls a zero-chunk file corrupted,
/// spec §1), so callers should not create one: check [`EvtxWriter::record_count`].
#[derive(Debug)]
pub struct EvtxWriter<W: Write + Seek> {
    out: W,
    chunk: ChunkBuilder,
    chunks_written: usize,
    next_id: u64,
    header_reserved: bool,
}

impl<W: Write + Seek> EvtxWriter<W> {
    /// Starts a file at the current position of `out` (normally an empty file).
    pub fn new(out: W) -> Self {
        EvtxWriter {
            out,
            chunk: ChunkBuilder::new(),
            chunks_written: 0,
            next_id: 1,
            header_reserved: false,
        }
    }

    /// Number of records appended so far.
    pub fn record_count(&self) -> u64 {
        self.next_id - 1
    }

    /// Number of chunks, counting the one being filled.
    pub fn chunk_count(&self) -> usize {
        self.chunks_written + usize::from(!self.chunk.is_empty())
    }

    /// The identifier the next record will get.
    pub fn next_record_id(&self) -> u64 {
        self.next_id
    }

    /// Appends one record written at `written` (FILETIME) and returns its identifier.
    /// Fails with [`Error::FileFull`], writing nothing, when the record would need a
    /// 65,536th chunk; the caller can then finish this file and continue in another.
    pub fn append(&mut self, written: u64, instance: &Instance) -> Result<u64> {
        let id = self.next_id;
        if !self.chunk.try_append(id, written, instance)? {
            if self.chunks_written + 1 >= MAX_CHUNKS {
                return Err(Error::FileFull { max: MAX_CHUNKS });
            }
            self.flush_chunk()?;
            if !self.chunk.try_append(id, written, instance)? {
                unreachable!("an empty chunk either takes a record or reports it too large");
            }
        }
        self.next_id += 1;
        Ok(id)
    }

    /// Appends a chunk encoded elsewhere (for example on another thread). Its first record
    /// id must be the next id of this file.
    pub fn append_chunk(&mut self, chunk: &FinishedChunk) -> Result<()> {
        assert_eq!(
            chunk.first_id(),
            self.next_id,
            "chunk does not continue the file's record ids"
        );
        self.flush_chunk()?;
        if self.chunks_written >= MAX_CHUNKS {
            return Err(Error::FileFull { max: MAX_CHUNKS });
        }
        self.write_chunk(chunk)?;
        self.next_id = chunk.last_id() + 1;
        Ok(())
    }

    fn flush_chunk(&mut self) -> Result<()> {
        if let Some(done) = self.chunk.finish() {
            self.write_chunk(&done)?;
        }
        Ok(())
    }

    fn write_chunk(&mut self, chunk: &FinishedChunk) -> Result<()> {
        if !self.header_reserved {
            // The header is written last, once the chunk count is known (spec §1).
            self.out.write_all(&[0u8; FILE_HEADER_SIZE])?;
            self.header_reserved = true;
        }
        self.out.write_all(chunk.bytes())?;
        self.chunks_written += 1;
        Ok(())
    }

    /// Writes the last chunk and the file header, flushes, and returns the output.
    pub fn finish(mut self) -> Result<W> {
        self.flush_chunk()?;
        if !self.header_reserved {
            self.out.write_all(&[0u8; FILE_HEADER_SIZE])?;
        }
        let header = file_header(self.chunks_written, self.next_id);
        let end = self.out.stream_position()?;
        self.out.seek(SeekFrom::Start(
            end - (FILE_HEADER_SIZE + self.chunks_written * crate::CHUNK_SIZE) as u64,
        ))?;
        self.out.write_all(&header)?;
        self.out.seek(SeekFrom::Start(end))?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// The 4096-byte file header block (spec §1).
fn file_header(chunks: usize, next_record_id: u64) -> Vec<u8> {
    let mut h = vec![0u8; FILE_HEADER_SIZE];
    h[0..8].copy_from_slice(b"ElfFile\0");
    h[8..16].copy_from_slice(&0u64.to_le_bytes());
    h[16..24].copy_from_slice(&(chunks.saturating_sub(1) as u64).to_le_bytes());
    h[24..32].copy_from_slice(&next_record_id.to_le_bytes());
    h[32..36].copy_from_slice(&128u32.to_le_bytes());
    h[36..38].copy_from_slice(&1u16.to_le_bytes()); // minor 1: python-evtx's verify() wants it
    h[38..40].copy_from_slice(&3u16.to_le_bytes());
    h[40..42].copy_from_slice(&(FILE_HEADER_SIZE as u16).to_le_bytes());
    h[42..44].copy_from_slice(&(chunks as u16).to_le_bytes());
    // Flags at 120 stay 0: a cleanly closed log.
    let crc = crc32fast::hash(&h[0..120]);
    h[124..128].copy_from_slice(&crc.to_le_bytes());
    h
}
