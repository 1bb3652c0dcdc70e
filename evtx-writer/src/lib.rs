//! Writes `.evtx` files that Windows' own readers and the independent parsers (the `evtx`
//! crate, python-evtx, libevtx) decode identically.
//!
//! The layout rules come from `shared/spec/evtx-format.md` (cited below as "spec §N"):
//! every record is one template instance (§0 rule 1), names and template definitions are
//! defined inline at their first use in a chunk and referenced backwards after that (§0 rule 5),
//! and every size, offset and CRC is tracked while writing, never searched for (§6).
//!
//! Main types:
//! - [`Template`] / [`Element`]: the XML shape of a record, built once and shared.
//! - [`Value`] / [`Instance`]: a template filled with typed values (one record).
//! - [`ChunkBuilder`]: packs records into one 64 KiB chunk.
//! - [`EvtxWriter`]: appends records to a file, chunk after chunk, and writes the header.
//!
//! ```
//! use evtx_writer::{Element, EvtxWriter, Instance, Template, Value, ValueType};
//! let template = Template::new(
//!     Element::new("Event")
//!         .child(Element::new("EventID").subst(0, ValueType::UInt16))
//!         .child(Element::new("Computer").subst(1, ValueType::String)),
//! );
//! let mut writer = EvtxWriter::new(std::io::Cursor::new(Vec::new()));
//! let record = Instance::new(&template, vec![Value::UInt16(8003), Value::string("PC1")]);
//! writer.append(133_540_416_000_000_000, &record).unwrap();
//! let bytes = writer.finish().unwrap().into_inner();
//! assert_eq!(bytes.len(), 4096 + 65536);
//! ```

mod binxml;
mod chunk;
mod error;
mod file;
mod render;
mod template;
mod value;

pub use chunk::{CHUNK_SIZE, ChunkBuilder, FinishedChunk, MAX_RECORD_SIZE};
pub use error::{Error, Result};
pub use file::{EvtxWriter, FILE_HEADER_SIZE, MAX_CHUNKS};
pub use render::{Node, value_text};
pub use template::{Attr, Content, Element, Template};
pub use value::{Instance, Sid, Value, ValueType, filetime_from_unix_nanos};
