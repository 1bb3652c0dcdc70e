//! Just enough BinXML to read a template definition's *shape* (which substitution slot, or
//! which literal text, fills each field lockstep keeps) and a template instance's value
//! array. Layouts: shared/spec/evtx-format.md §4; this is the reading side of what
//! `evtx-writer` writes.
//!
//! Built for the hot path: names are compared as UTF-16 bytes where they sit in the chunk,
//! only the fields lockstep keeps are looked at, and values stay byte ranges until a field
//! asks for its text. Anything unusual (CDATA, entity or character references, processing
//! instructions, a value type we do not decode) returns `None`, and the caller falls back to
//! the `evtx` crate's full rendering for that record. Nothing here panics on bad input.

use crate::record::PayloadField;

/// The `System` fields lockstep reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SystemField {
    /// `Provider/@Name`
    Provider,
    EventId,
    /// `TimeCreated/@SystemTime`
    TimeCreated,
    RecordId,
    Computer,
    Channel,
    /// `Security/@UserID`
    User,
}

impl SystemField {
    const COUNT: usize = 7;

    /// The field an element's content (`attribute` = `None`) or attribute fills, for a
    /// child of `System`.
    fn of(element: &[u8], attribute: Option<&[u8]>) -> Option<SystemField> {
        let field = match attribute {
            None if utf16_is(element, "EventID") => SystemField::EventId,
            None if utf16_is(element, "EventRecordID") => SystemField::RecordId,
            None if utf16_is(element, "Computer") => SystemField::Computer,
            None if utf16_is(element, "Channel") => SystemField::Channel,
            Some(a) if utf16_is(element, "Provider") && utf16_is(a, "Name") => {
                SystemField::Provider
            }
            Some(a) if utf16_is(element, "TimeCreated") && utf16_is(a, "SystemTime") => {
                SystemField::TimeCreated
            }
            Some(a) if utf16_is(element, "Security") && utf16_is(a, "UserID") => SystemField::User,
            _ => return None,
        };
        Some(field)
    }
}

/// The payload field named by UTF-16 `name`, if lockstep reads it.
fn payload_field(name: &[u8]) -> Option<PayloadField> {
    PayloadField::ALL
        .into_iter()
        .find(|f| utf16_is(name, f.name()))
}

/// Where a field's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    Literal(String),
    Slot(u16),
}

/// The shape of a template definition: where each field lockstep keeps comes from.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Shape {
    system: [Option<Source>; SystemField::COUNT],
    payload: [Option<Source>; PayloadField::ALL.len()],
    /// The slot holding the nested payload (a BinXml value), if any.
    pub(crate) payload_slot: Option<u16>,
}

impl Shape {
    pub(crate) fn system(&self, field: SystemField) -> Option<&Source> {
        self.system[field as usize].as_ref()
    }

    pub(crate) fn payload(&self, field: PayloadField) -> Option<&Source> {
        self.payload[field as usize].as_ref()
    }
}

/// Which definitions [`shape_at`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Definition {
    /// A record's template: `System` fields, and payload fields inside `EventData` or
    /// `UserData`.
    Record,
    /// The template of a nested payload value: every element is payload.
    Payload,
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
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let b = self.data.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(b)
    }
    /// A name reference, as its UTF-16 bytes; an inline name (offset == here) is skipped
    /// over (§4.5).
    fn name(&mut self) -> Option<&'a [u8]> {
        let offset = self.u32()? as usize;
        let name = name_at(self.data, offset)?;
        if offset == self.pos {
            self.pos += 10 + name.len();
        }
        Some(name)
    }
}

/// A name structure's characters: next link, hash, length in UTF-16 units, characters, NUL.
fn name_at(chunk: &[u8], offset: usize) -> Option<&[u8]> {
    let len = u16::from_le_bytes(chunk.get(offset + 6..offset + 8)?.try_into().ok()?) as usize;
    chunk.get(offset + 8..offset + 8 + 2 * len)
}

/// True when the UTF-16LE `bytes` spell the ASCII `text`.
fn utf16_is(bytes: &[u8], text: &str) -> bool {
    bytes.len() == 2 * text.len()
        && bytes
            .chunks_exact(2)
            .zip(text.bytes())
            .all(|(unit, b)| unit[0] == b && unit[1] == 0)
}

/// Appends UTF-16LE `bytes` to `out`, without trailing NULs (as the `evtx` crate renders
/// them); `None` for unpaired surrogates (the full renderer decides what to show).
pub(crate) fn push_utf16(bytes: &[u8], out: &mut String) -> Option<()> {
    let mut units = bytes.len() / 2;
    while units > 0 && bytes[2 * units - 2] == 0 && bytes[2 * units - 1] == 0 {
        units -= 1;
    }
    let bytes = &bytes[..2 * units];
    if bytes.chunks_exact(2).all(|u| u[1] == 0 && u[0] < 0x80) {
        out.reserve(units);
        out.extend(bytes.chunks_exact(2).map(|u| char::from(u[0])));
        return Some(());
    }
    let code_units = bytes
        .chunks_exact(2)
        .map(|u| u16::from_le_bytes([u[0], u[1]]));
    for c in char::decode_utf16(code_units) {
        out.push(c.ok()?);
    }
    Some(())
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

/// An open element while reading a definition.
struct Open<'a> {
    name: &'a [u8],
    /// For `<Data Name="…">`: the payload field its literal `Name` attribute names
    /// (`Some(None)`: a name lockstep does not read).
    data_name: Option<Option<PayloadField>>,
    /// Inside `EventData`/`UserData` of a record template, or anywhere in a payload one.
    in_payload: bool,
}

/// Reads the definition at chunk offset `def_offset` (header: next, GUID, size; then body).
pub(crate) fn shape_at(chunk: &[u8], def_offset: usize, kind: Definition) -> Option<Shape> {
    let end = definition_end(chunk, def_offset)?;
    let mut c = Cursor {
        data: &chunk[..end],
        pos: def_offset + 24,
    };
    let mut shape = Shape::default();
    let mut stack: Vec<Open<'_>> = Vec::with_capacity(8);
    let mut attribute: Option<&[u8]> = None;
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
                let in_payload = kind == Definition::Payload
                    || stack.last().is_some_and(|o| o.in_payload)
                    || (stack.len() == 1
                        && (utf16_is(name, "EventData") || utf16_is(name, "UserData")));
                stack.push(Open {
                    name,
                    data_name: None,
                    in_payload,
                });
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
                let text = c.bytes(2 * units)?;
                if let Some(attr) = attribute
                    && utf16_is(attr, "Name")
                    && let Some(open) = stack.last_mut()
                    && utf16_is(open.name, "Data")
                {
                    open.data_name = Some(payload_field(text));
                    continue;
                }
                if let Some(place) = place(&stack, attribute)
                    && place.is_empty(&shape)
                {
                    let mut literal = String::new();
                    push_utf16(text, &mut literal)?;
                    place.set(&mut shape, Source::Literal(literal));
                }
            }
            0x0D | 0x0E => {
                let slot = c.u16()?;
                let ty = c.u8()?;
                if ty == 0x21 {
                    shape.payload_slot.get_or_insert(slot);
                    continue;
                }
                if let Some(place) = place(&stack, attribute)
                    && place.is_empty(&shape)
                {
                    place.set(&mut shape, Source::Slot(slot));
                }
            }
            _ => return None, // CDATA, references, PIs: leave it to the full renderer
        }
    }
    Some(shape)
}

/// A field of a shape.
#[derive(Clone, Copy)]
enum Place {
    System(SystemField),
    Payload(PayloadField),
}

impl Place {
    fn is_empty(self, shape: &Shape) -> bool {
        match self {
            Place::System(f) => shape.system[f as usize].is_none(),
            Place::Payload(f) => shape.payload[f as usize].is_none(),
        }
    }
    fn set(self, shape: &mut Shape, source: Source) {
        match self {
            Place::System(f) => shape.system[f as usize] = Some(source),
            Place::Payload(f) => shape.payload[f as usize] = Some(source),
        }
    }
}

/// The field that text or a substitution fills: the content (or `attribute`) of the
/// innermost open element. `System` fields are children of `System` only (`RenderingInfo`
/// has a `Channel` too).
fn place(stack: &[Open<'_>], attribute: Option<&[u8]>) -> Option<Place> {
    let (open, parents) = stack.split_last()?;
    if let Some(parent) = parents.last()
        && !parent.in_payload
        && utf16_is(parent.name, "System")
    {
        return SystemField::of(open.name, attribute).map(Place::System);
    }
    if !open.in_payload || attribute.is_some() {
        return None;
    }
    match open.data_name {
        Some(named) => named.map(Place::Payload),
        None => payload_field(open.name).map(Place::Payload),
    }
}

/// One value of a template instance: its type and where its bytes sit in the chunk.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Value {
    pub(crate) ty: u8,
    start: u32,
    len: u32,
}

impl Value {
    pub(crate) fn bytes<'c>(&self, chunk: &'c [u8]) -> &'c [u8] {
        &chunk[self.start as usize..(self.start + self.len) as usize]
    }

    /// Chunk offset and length.
    pub(crate) fn span(&self) -> (usize, usize) {
        (self.start as usize, self.len as usize)
    }
}

/// Reads the template instance at chunk offset `start` (`len` bytes: a record's BinXML or
/// a BinXml value; evtx-format.md §4.1, §4.8) into `values`, and returns its definition
/// offset. `None` unless those bytes are exactly one instance (an optional fragment
/// header, the instance, and at most an EOF token after it).
pub(crate) fn instance_at(
    chunk: &[u8],
    start: usize,
    len: usize,
    values: &mut Vec<Value>,
) -> Option<usize> {
    values.clear();
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
    let descriptors = c.bytes(count.checked_mul(4)?)?;
    let mut at = c.pos;
    for d in descriptors.chunks_exact(4) {
        let size = u16::from_le_bytes([d[0], d[1]]) as usize;
        let value_end = at.checked_add(size).filter(|&e| e <= end)?;
        values.push(Value {
            ty: d[2],
            start: u32::try_from(at).ok()?,
            len: size as u32,
        });
        at = value_end;
    }
    // Anything but the EOF token after the values: not a single instance.
    (at == end || chunk[at] == 0x00).then_some(def_offset)
}

/// Appends a value's text as the `evtx` crate renders it (evtx-format.md §4.10).
/// `Some(false)` for NULL; `None` for a type this reader does not decode.
pub(crate) fn push_value_text(ty: u8, b: &[u8], out: &mut String) -> Option<bool> {
    use std::fmt::Write;
    let int = |n: usize| -> Option<u64> {
        if b.len() != n {
            return None;
        }
        let mut v = [0u8; 8];
        v[..n].copy_from_slice(b);
        Some(u64::from_le_bytes(v))
    };
    match ty {
        0x00 => return Some(false),
        0x01 => push_utf16(b, out)?,
        0x04 => write!(out, "{}", int(1)?).ok()?,
        0x06 => write!(out, "{}", int(2)?).ok()?,
        0x08 => write!(out, "{}", int(4)?).ok()?,
        0x0A => write!(out, "{}", int(8)?).ok()?,
        0x14 => write!(out, "0x{:x}", int(4)?).ok()?,
        0x15 => write!(out, "0x{:x}", int(8)?).ok()?,
        0x0E => {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.reserve(2 * b.len());
            for x in b {
                out.push(char::from(HEX[usize::from(x >> 4)]));
                out.push(char::from(HEX[usize::from(x & 0xF)]));
            }
        }
        0x0F if b.len() == 16 => {
            write!(
                out,
                "{{{:08x}-{:04x}-{:04x}-",
                u32::from_le_bytes(b[0..4].try_into().ok()?),
                u16::from_le_bytes(b[4..6].try_into().ok()?),
                u16::from_le_bytes(b[6..8].try_into().ok()?),
            )
            .ok()?;
            for (i, x) in b[8..].iter().enumerate() {
                if i == 2 {
                    out.push('-');
                }
                write!(out, "{x:02x}").ok()?;
            }
            out.push('}');
        }
        0x13 => push_sid(b, out)?,
        _ => return None,
    }
    Some(true)
}

/// `S-<revision>-<authority>-<sub>…` from the binary SID layout (§4.10, type 0x13).
fn push_sid(b: &[u8], out: &mut String) -> Option<()> {
    use std::fmt::Write;
    let count = *b.get(1)? as usize;
    if b.len() != 8 + 4 * count {
        return None;
    }
    let mut authority = [0u8; 8];
    authority[2..].copy_from_slice(&b[2..8]);
    write!(out, "S-{}-{}", b[0], u64::from_be_bytes(authority)).ok()?;
    for sub in b[8..].chunks_exact(4) {
        write!(out, "-{}", u32::from_le_bytes(sub.try_into().ok()?)).ok()?;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(ty: u8, b: &[u8]) -> Option<Option<String>> {
        let mut out = String::new();
        push_value_text(ty, b, &mut out).map(|some| some.then_some(out))
    }

    #[test]
    fn values_render_like_the_evtx_crate() {
        let guid = [
            0xbf, 0x4d, 0xda, 0xcb, 0x5d, 0x8d, 0x69, 0x4f, 0x95, 0x78, 0xbe, 0x14, 0xaa, 0x54,
            0x0d, 0x22,
        ];
        assert_eq!(
            text(0x0F, &guid).unwrap().unwrap(),
            "{cbda4dbf-8d5d-4f69-9578-be14aa540d22}"
        );
        let sid = [
            1, 3, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0, 7, 0, 0, 0, 0xE9, 3, 0, 0,
        ];
        assert_eq!(text(0x13, &sid).unwrap().unwrap(), "S-1-5-21-7-1001");
        assert_eq!(
            text(0x15, &0x14fcb7u64.to_le_bytes()).unwrap().unwrap(),
            "0x14fcb7"
        );
        assert_eq!(text(0x0E, &[1, 0xAB]).unwrap().unwrap(), "01AB");
        assert_eq!(text(0x0A, &7u64.to_le_bytes()).unwrap().unwrap(), "7");
        assert_eq!(
            text(0x01, &[b'E', 0, b'X', 0, b'E', 0, 0, 0])
                .unwrap()
                .unwrap(),
            "EXE",
            "trailing NULs are dropped"
        );
        assert_eq!(text(0x00, &[]).unwrap(), None);
        assert!(
            text(0x12, &[0; 16]).is_none(),
            "SysTime: left to the full renderer"
        );
        assert!(text(0x06, &[1]).is_none(), "wrong size");
    }

    #[test]
    fn utf16_text_beyond_ascii_and_bad_surrogates() {
        let encode = |s: &str| -> Vec<u8> { s.encode_utf16().flat_map(u16::to_le_bytes).collect() };
        let mut out = String::from(">");
        push_utf16(&encode(r"C:\Users\Jürgen\😀.exe"), &mut out).unwrap();
        assert_eq!(out, r">C:\Users\Jürgen\😀.exe");
        assert!(push_utf16(&[0x00, 0xD8, b'a', 0], &mut String::new()).is_none());
        assert!(utf16_is(&encode("Data"), "Data"));
        assert!(!utf16_is(&encode("DataX"), "Data"));
        assert!(!utf16_is(&encode("Dat\u{100}"), "Data"));
    }

    #[test]
    fn damaged_bytes_never_panic() {
        let mut state = 1u64;
        let mut values = Vec::new();
        for _ in 0..2000 {
            let bytes: Vec<u8> = (0..300)
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                    (state >> 57) as u8
                })
                .collect();
            for kind in [Definition::Record, Definition::Payload] {
                let _ = shape_at(&bytes, (state % 200) as usize, kind);
            }
            if instance_at(&bytes, (state % 250) as usize, 50, &mut values).is_some() {
                for v in &values {
                    let _ = push_value_text(v.ty, v.bytes(&bytes), &mut String::new());
                }
            }
        }
    }
}
