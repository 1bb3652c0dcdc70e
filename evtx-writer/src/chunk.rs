//! One 64 KiB chunk: header, string and template tables, records (spec §2, §3, §6).

use std::collections::HashMap;

use crate::binxml::FRAGMENT_HEADER;
use crate::error::{Error, Result};
use crate::value::Instance;

/// Size of a chunk in bytes.
pub const CHUNK_SIZE: usize = 65536;
/// Records start at this chunk offset, after the header and both tables.
const RECORDS_START: usize = 512;
/// Records must end this many bytes before the end of the chunk. libevtx 20181227 accepts a
/// record only if `size <= remaining chunk bytes - 4`, and silently drops one that ends
/// exactly at 65,536 (seen on a generated collector file: evtxinfo counted one record
/// fewer and reported no damage). 8 keeps records 8-aligned.
const TAIL_RESERVE: usize = 8;
/// The last byte offset (exclusive) a record may reach.
const RECORDS_END: usize = CHUNK_SIZE - TAIL_RESERVE;
/// The largest record a chunk can hold (spec §2.4, less the tail reserve).
pub const MAX_RECORD_SIZE: usize = RECORDS_END - RECORDS_START;
const RECORD_HEADER_SIZE: usize = 24;

/// A finished chunk, ready to be written to a file.
#[derive(Debug, Clone)]
pub struct FinishedChunk {
    pub(crate) bytes: Vec<u8>,
    pub(crate) first_id: u64,
    pub(crate) last_id: u64,
}

/// Packs records into one chunk. Names and template definitions are per chunk, so the
/// builder defines each inline at its first use and references it afterwards.
#[derive(Debug)]
pub struct ChunkBuilder {
    /// The chunk so far: `buf.len()` is the write position (a chunk offset).
    pub(crate) buf: Vec<u8>,
    pub(crate) names: HashMap<String, u32>,
    pub(crate) templates: HashMap<u128, u32>,
    pub(crate) string_heads: [u32; 64],
    pub(crate) template_heads: [u32; 32],
    /// Names and templates defined by the record being written, to undo if it does not fit.
    pub(crate) added_names: Vec<String>,
    pub(crate) added_templates: Vec<u128>,
    first_id: Option<u64>,
    last_id: u64,
    last_record_offset: u32,
}

impl Default for ChunkBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkBuilder {
    /// An empty chunk.
    pub fn new() -> Self {
        let mut buf = Vec::with_capacity(CHUNK_SIZE + MAX_RECORD_SIZE);
        buf.resize(RECORDS_START, 0);
        ChunkBuilder {
            buf,
            names: HashMap::new(),
            templates: HashMap::new(),
            string_heads: [0; 64],
            template_heads: [0; 32],
            added_names: Vec::new(),
            added_templates: Vec::new(),
            first_id: None,
            last_id: 0,
            last_record_offset: 0,
        }
    }

    /// True when no record has been added yet.
    pub fn is_empty(&self) -> bool {
        self.first_id.is_none()
    }

    /// Number of records in the chunk.
    pub fn record_count(&self) -> u64 {
        self.first_id.map_or(0, |first| self.last_id - first + 1)
    }

    pub(crate) fn offset(&self) -> u32 {
        self.buf.len() as u32
    }

    /// Adds a record with identifier `id` (must be the previous id + 1) written at
    /// `written` (FILETIME). Returns `Ok(false)`, leaving the chunk as it was, when the
    /// record does not fit; the caller then finishes this chunk and starts a new one.
    pub fn try_append(&mut self, id: u64, written: u64, instance: &Instance) -> Result<bool> {
        debug_assert!(
            self.first_id.is_none() || id == self.last_id + 1,
            "record ids must be consecutive"
        );
        let start = self.buf.len();
        let heads = (self.string_heads, self.template_heads);
        self.added_names.clear();
        self.added_templates.clear();

        let written_ok = self.write_record(id, written, instance);
        let size = self.buf.len() - start;
        if written_ok.is_err() || self.buf.len() > RECORDS_END {
            self.buf.truncate(start);
            (self.string_heads, self.template_heads) = heads;
            for name in self.added_names.drain(..) {
                self.names.remove(&name);
            }
            for key in self.added_templates.drain(..) {
                self.templates.remove(&key);
            }
            written_ok?;
            if self.is_empty() {
                return Err(Error::RecordTooLarge {
                    size,
                    max: MAX_RECORD_SIZE,
                });
            }
            return Ok(false);
        }
        self.first_id.get_or_insert(id);
        self.last_id = id;
        self.last_record_offset = start as u32;
        Ok(true)
    }

    fn write_record(&mut self, id: u64, written: u64, instance: &Instance) -> Result<()> {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0x2A, 0x2A, 0, 0]);
        self.buf.extend_from_slice(&0u32.to_le_bytes()); // size, patched below
        self.buf.extend_from_slice(&id.to_le_bytes());
        self.buf.extend_from_slice(&written.to_le_bytes());
        debug_assert_eq!(self.buf.len() - start, RECORD_HEADER_SIZE);
        self.buf.extend_from_slice(&FRAGMENT_HEADER);
        self.write_instance(instance)?;
        self.buf.push(0x00); // EOF: libevtx reads tokens until it (spec §8)
        // Windows keeps records 8-aligned, counting the trailing size copy (spec §3).
        while !(self.buf.len() - start + 4).is_multiple_of(8) {
            self.buf.push(0);
        }
        let size = (self.buf.len() - start + 4) as u32;
        self.buf.extend_from_slice(&size.to_le_bytes());
        self.buf[start + 4..start + 8].copy_from_slice(&size.to_le_bytes());
        Ok(())
    }

    /// Closes the chunk: header fields, both tables and both CRCs (spec §2.1), and resets
    /// the builder for the next chunk. Returns `None` for an empty chunk.
    pub fn finish(&mut self) -> Option<FinishedChunk> {
        let first_id = self.first_id?;
        let free_space = self.buf.len();
        let mut bytes = std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(CHUNK_SIZE + MAX_RECORD_SIZE),
        );
        bytes.resize(CHUNK_SIZE, 0);
        bytes[0..8].copy_from_slice(b"ElfChnk\0");
        for (at, v) in [
            (8, first_id),
            (16, self.last_id),
            (24, first_id),
            (32, self.last_id),
        ] {
            bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
        }
        bytes[40..44].copy_from_slice(&128u32.to_le_bytes());
        bytes[44..48].copy_from_slice(&self.last_record_offset.to_le_bytes());
        bytes[48..52].copy_from_slice(&(free_space as u32).to_le_bytes());
        let records_crc = crc32fast::hash(&bytes[RECORDS_START..free_space]);
        bytes[52..56].copy_from_slice(&records_crc.to_le_bytes());
        bytes[120..124].copy_from_slice(&1u32.to_le_bytes()); // flags, as every Windows chunk
        for (i, head) in self.string_heads.iter().enumerate() {
            bytes[128 + 4 * i..132 + 4 * i].copy_from_slice(&head.to_le_bytes());
        }
        for (i, head) in self.template_heads.iter().enumerate() {
            bytes[384 + 4 * i..388 + 4 * i].copy_from_slice(&head.to_le_bytes());
        }
        let mut crc = crc32fast::Hasher::new();
        crc.update(&bytes[0..120]);
        crc.update(&bytes[128..RECORDS_START]);
        bytes[124..128].copy_from_slice(&crc.finalize().to_le_bytes());

        let last_id = self.last_id;
        self.reset();
        Some(FinishedChunk {
            bytes,
            first_id,
            last_id,
        })
    }

    fn reset(&mut self) {
        self.buf.clear();
        self.buf.resize(RECORDS_START, 0);
        self.names.clear();
        self.templates.clear();
        self.string_heads = [0; 64];
        self.template_heads = [0; 32];
        self.first_id = None;
        self.last_id = 0;
        self.last_record_offset = 0;
    }
}

impl FinishedChunk {
    /// Chunk offset where the records end (the header's free space offset).
    pub fn free_space_offset(&self) -> usize {
        u32::from_le_bytes(self.bytes[48..52].try_into().expect("4 bytes")) as usize
    }

    /// The 65,536 bytes of the chunk.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Identifier of the first record.
    pub fn first_id(&self) -> u64 {
        self.first_id
    }

    /// Identifier of the last record.
    pub fn last_id(&self) -> u64 {
        self.last_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Element, Template, Value, ValueType};

    #[test]
    fn a_full_chunk_leaves_the_tail_reserve_free() {
        let t =
            Template::new(Element::new("E").child(Element::new("S").subst(0, ValueType::String)));
        let mut chunk = ChunkBuilder::new();
        let mut id = 1;
        // Records of varied sizes until one no longer fits.
        while chunk
            .try_append(
                id,
                0,
                &Instance::new(
                    &t,
                    vec![Value::string("x".repeat(100 + (id as usize * 37) % 900))],
                ),
            )
            .unwrap()
        {
            id += 1;
        }
        let done = chunk.finish().unwrap();
        assert!(
            done.free_space_offset() <= CHUNK_SIZE - 8,
            "free space at {}",
            done.free_space_offset()
        );
        assert!(
            done.free_space_offset() > CHUNK_SIZE - 2000,
            "the chunk was filled"
        );
        assert_eq!(done.last_id(), id - 1);
    }
}
