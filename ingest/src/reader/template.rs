//! Just enough BinXML to read a template definition's *shape* (which element or attribute
//! each substitution slot fills, and which text is literal) and a nested template
//! instance's value array. Layouts: shared/spec/evtx-format.md §4; this is the reading side
//! of what `evtx-writer` writes.
//!
//! Anything unusual (CDATA, entity or character references, processing instructions, a value
//! type we do not decode) returns `None`, and the caller falls back to the `evtx` crate's
//! full rendering for that record. Nothing here panics on bad input.

use std::collections::HashMap;

/// Where a field's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    Literal(String),
    Slot(u16),
}

/// The shape of a template definition.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Shape {
    /// Keys: an element's name for its content (`EventID`, `Computer`, `FilePath`),
    /// `Element@Attribute` for attributes (`Provider@Name`, `TimeCreated@SystemTime`), and
    /// the `Name` of `<Data Name="…">` items.
    pub(crate) fields: HashMap<String, Source>,
    /// The slot holding the nested payload (a BinXml value), if any.
    pub(crate) payload_slot: Option<u16>,
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn u8(&mut self) -> Option<u8> {
        let b = *self.data.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }
    fn u16(&mut self) -> Option<u16> {
        let b = self.data.get(self.pos..self.pos + 2)?;
        self.pos += 2;
        Some(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        let b = self.data.get(self.pos..self.pos + 4)?;
        self.pos += 4;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn utf16(&mut self, units: usize) -> Option<String> {
        let b = self.data.get(self.pos..self.pos + 2 * units)?;
        self.pos += 2 * units;
        utf16_to_string(b)
    }
    /// A name reference; an inline name (offset == here) is skipped over (§4.5).
    fn name(&mut self) -> Option<String> {
        let offset = self.u32()? as usize;
        let (name, units) = read_name(self.data, offset)?;
        if offset == self.pos {
            self.pos += 10 + 2 * units;
        }
        Some(name)
    }
}

/// A name structure: next link, hash, length in UTF-16 units, characters, NUL.
fn read_name(chunk: &[u8], offset: usize) -> Option<(String, usize)> {
    let len = u16::from_le_bytes(chunk.get(offset + 6..offset + 8)?.try_into().ok()?) as usize;
    Some((
        utf16_to_string(chunk.get(offset + 8..offset + 8 + 2 * len)?)?,
        len,
    ))
}

pub(crate) fn utf16_to_string(bytes: &[u8]) -> Option<String> {
    let units = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]));
    let text: String = char::decode_utf16(units).collect::<Result<_, _>>().ok()?;
    Some(text.trim_end_matches('\0').to_owned())
}

/// Where the definition at chunk offset `def_offset` ends: its 24-byte header (next link,
/// GUID, body size) plus the body (evtx-format.md §4.8). `None` if it overruns the chunk.
pub(crate) fn definition_end(chunk: &[u8], def_offset: usize) -> Option<usize> {
    let size = u32::from_le_bytes(
        chunk
            .get(def_offset + 20..def_offset + 24)?
            .try_into()
            .ok()?,
    );
    let end = def_offset.checked_add(24)?.checked_add(size as usize)?;
    (end <= chunk.len()).then_some(end)
}

/// Reads the definition at chunk offset `def_offset` (header: next, GUID, size; then body).
pub(crate) fn shape_at(chunk: &[u8], def_offset: usize) -> Option<Shape> {
    let end = definition_end(chunk, def_offset)?;
    let mut c = Cursor {
        data: &chunk[..end],
        pos: def_offset + 24,
    };
    let mut shape = Shape::default();
    // Open elements: (name, literal Name attribute of a <Data> item).
    let mut stack: Vec<(String, Option<String>)> = Vec::new();
    let mut attribute: Option<String> = None;
    while c.pos < end {
        match c.u8()? {
            0x00 => break,
            0x0F => c.pos += 3,
            token @ (0x01 | 0x41) => {
                c.u16()?; // dependency id
                c.u32()?; // data size
                let name = c.name()?;
                if token == 0x41 {
                    c.u32()?; // attribute list size
                }
                stack.push((name, None));
                attribute = None;
            }
            0x02 => attribute = None,
            0x03 | 0x04 => {
                stack.pop()?;
                attribute = None;
            }
            0x06 | 0x46 => attribute = Some(c.name()?),
            0x05 | 0x45 => {
                c.u8()?; // value type: always string
                let units = c.u16()? as usize;
                let text = c.utf16(units)?;
                let (element, data_name) = stack.last_mut()?;
                match attribute.as_deref() {
                    Some("Name") if element == "Data" => *data_name = Some(text),
                    Some(attr) => {
                        shape
                            .fields
                            .insert(format!("{element}@{attr}"), Source::Literal(text));
                    }
                    None => {
                        let key = data_name.clone().unwrap_or_else(|| element.clone());
                        shape.fields.insert(key, Source::Literal(text));
                    }
                }
            }
            0x0D | 0x0E => {
                let slot = c.u16()?;
                let ty = c.u8()?;
                if ty == 0x21 {
                    shape.payload_slot.get_or_insert(slot);
                    continue;
                }
                let (element, data_name) = stack.last()?;
                let key = match attribute.as_deref() {
                    Some(attr) => format!("{element}@{attr}"),
                    None => data_name.clone().unwrap_or_else(|| element.clone()),
                };
                shape.fields.insert(key, Source::Slot(slot));
            }
            _ => return None, // CDATA, references, PIs: leave it to the full renderer
        }
    }
    Some(shape)
}

/// A nested template instance inside a BinXml value: its definition offset and the text of
/// each value. `start` is the value's chunk offset.
pub(crate) struct NestedInstance {
    pub(crate) def_offset: usize,
    pub(crate) values: Vec<Option<String>>,
}

/// Reads the instance at chunk offset `start` (evtx-format.md §4.11).
pub(crate) fn nested_instance(chunk: &[u8], start: usize, len: usize) -> Option<NestedInstance> {
    let end = start.checked_add(len)?;
    let mut c = Cursor {
        data: chunk.get(..end)?,
        pos: start,
    };
    if c.data.get(c.pos) == Some(&0x0F) {
        c.pos += 4;
    }
    if c.u8()? != 0x0C {
        return None;
    }
    c.u8()?;
    c.u32()?; // template id
    let def_offset = c.u32()? as usize;
    if def_offset == c.pos {
        c.pos = definition_end(chunk, def_offset)?;
    }
    let count = c.u32()? as usize;
    let mut descriptors = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        let size = c.u16()? as usize;
        let ty = c.u8()?;
        c.u8()?;
        descriptors.push((size, ty));
    }
    let mut values = Vec::with_capacity(descriptors.len());
    for (size, ty) in descriptors {
        let bytes = c.data.get(c.pos..c.pos + size)?;
        c.pos += size;
        values.push(value_text(ty, bytes)?);
    }
    Some(NestedInstance { def_offset, values })
}

/// A value as the text the `evtx` crate renders for it (evtx-format.md §4.10); the outer
/// `Option` is `None` for a type this reader does not decode.
fn value_text(ty: u8, b: &[u8]) -> Option<Option<String>> {
    let int = |n: usize| -> Option<u64> {
        if b.len() != n {
            return None;
        }
        let mut v = [0u8; 8];
        v[..n].copy_from_slice(b);
        Some(u64::from_le_bytes(v))
    };
    Some(Some(match ty {
        0x00 => return Some(None),
        0x01 => utf16_to_string(b)?,
        0x04 => int(1)?.to_string(),
        0x06 => int(2)?.to_string(),
        0x08 => int(4)?.to_string(),
        0x0A => int(8)?.to_string(),
        0x14 => format!("0x{:x}", int(4)?),
        0x15 => format!("0x{:x}", int(8)?),
        0x0E => b.iter().map(|x| format!("{x:02X}")).collect(),
        0x0F if b.len() == 16 => format!(
            "{{{:08x}-{:04x}-{:04x}-{}}}",
            u32::from_le_bytes(b[0..4].try_into().ok()?),
            u16::from_le_bytes(b[4..6].try_into().ok()?),
            u16::from_le_bytes(b[6..8].try_into().ok()?),
            b[8..]
                .iter()
                .enumerate()
                .map(|(i, x)| if i == 2 {
                    format!("-{x:02x}")
                } else {
                    format!("{x:02x}")
                })
                .collect::<String>()
        ),
        0x13 => sid_text(b)?,
        _ => return None,
    }))
}

/// `S-1-<authority>-<sub>…` from the binary SID layout (§4.10, type 0x13).
fn sid_text(b: &[u8]) -> Option<String> {
    let count = *b.get(1)? as usize;
    if b.len() != 8 + 4 * count {
        return None;
    }
    let mut authority = [0u8; 8];
    authority[2..].copy_from_slice(&b[2..8]);
    let mut text = format!("S-{}-{}", b[0], u64::from_be_bytes(authority));
    for sub in b[8..].chunks_exact(4) {
        text.push_str(&format!("-{}", u32::from_le_bytes(sub.try_into().ok()?)));
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_render_like_the_evtx_crate() {
        let guid = [
            0xbf, 0x4d, 0xda, 0xcb, 0x5d, 0x8d, 0x69, 0x4f, 0x95, 0x78, 0xbe, 0x14, 0xaa, 0x54,
            0x0d, 0x22,
        ];
        assert_eq!(
            value_text(0x0F, &guid).unwrap().unwrap(),
            "{cbda4dbf-8d5d-4f69-9578-be14aa540d22}"
        );
        let sid = [
            1, 3, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0, 7, 0, 0, 0, 0xE9, 3, 0, 0,
        ];
        assert_eq!(value_text(0x13, &sid).unwrap().unwrap(), "S-1-5-21-7-1001");
        assert_eq!(
            value_text(0x15, &0x14fcb7u64.to_le_bytes())
                .unwrap()
                .unwrap(),
            "0x14fcb7"
        );
        assert_eq!(value_text(0x0E, &[1, 0xAB]).unwrap().unwrap(), "01AB");
        assert_eq!(
            value_text(0x01, &[b'E', 0, b'X', 0, b'E', 0])
                .unwrap()
                .unwrap(),
            "EXE"
        );
        assert_eq!(value_text(0x00, &[]).unwrap(), None);
        assert!(
            value_text(0x12, &[0; 16]).is_none(),
            "SysTime: left to the full renderer"
        );
        assert!(value_text(0x06, &[1]).is_none(), "wrong size");
    }

    #[test]
    fn damaged_bytes_never_panic() {
        let mut state = 1u64;
        for _ in 0..2000 {
            let bytes: Vec<u8> = (0..300)
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                    (state >> 57) as u8
                })
                .collect();
            let _ = shape_at(&bytes, (state % 200) as usize);
            let _ = nested_instance(&bytes, (state % 250) as usize, 50);
        }
    }
}
