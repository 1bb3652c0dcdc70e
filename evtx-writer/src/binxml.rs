//! BinXML encoding of template definitions, names and value arrays into a chunk buffer
//! (spec §4). All offsets written here are chunk offsets: the buffer *is* the chunk.

use crate::chunk::ChunkBuilder;
use crate::error::{Error, Result};
use crate::template::{Attr, Content, Element, Template};
use crate::value::{Instance, Value};

const TOKEN_EOF: u8 = 0x00;
const TOKEN_OPEN_ELEMENT: u8 = 0x01;
const TOKEN_CLOSE_START: u8 = 0x02;
const TOKEN_CLOSE_EMPTY: u8 = 0x03;
const TOKEN_END_ELEMENT: u8 = 0x04;
const TOKEN_VALUE_TEXT: u8 = 0x05;
const TOKEN_ATTRIBUTE: u8 = 0x06;
const TOKEN_TEMPLATE_INSTANCE: u8 = 0x0C;
const TOKEN_NORMAL_SUBST: u8 = 0x0D;
const TOKEN_OPTIONAL_SUBST: u8 = 0x0E;
/// Bit 0x40: "more follows" (attribute list on an element, another attribute).
const FLAG_MORE: u8 = 0x40;
pub(crate) const FRAGMENT_HEADER: [u8; 4] = [0x0F, 0x01, 0x01, 0x00];

/// NameHash of MS-EVEN6 §2.2.12: `h = h * 65599 + unit` over UTF-16 units, low 16 bits.
pub(crate) fn name_hash(name: &str) -> u16 {
    let mut h: u32 = 0;
    for unit in name.encode_utf16() {
        h = h.wrapping_mul(65599).wrapping_add(u32::from(unit));
    }
    h as u16
}

fn put_u16(buf: &mut Vec<u8>, v: u16) {
    buf.extend_from_slice(&v.to_le_bytes());
}

fn put_u32(buf: &mut Vec<u8>, v: u32) {
    buf.extend_from_slice(&v.to_le_bytes());
}

fn patch_u32(buf: &mut [u8], at: usize, v: u32) {
    buf[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_utf16(buf: &mut Vec<u8>, s: &str) -> usize {
    let mut units = 0;
    for unit in s.encode_utf16() {
        buf.extend_from_slice(&unit.to_le_bytes());
        units += 1;
    }
    units
}

impl ChunkBuilder {
    /// Writes a template instance: header, inline definition at first use, value array.
    pub(crate) fn write_instance(&mut self, instance: &Instance) -> Result<()> {
        check_slots(instance)?;
        let template = &instance.template;
        self.buf.push(TOKEN_TEMPLATE_INSTANCE);
        self.buf.push(0x01);
        put_u32(&mut self.buf, template.id());
        match self.templates.get(&template.key()) {
            Some(&offset) => put_u32(&mut self.buf, offset),
            None => {
                let offset = self.offset() + 4;
                put_u32(&mut self.buf, offset);
                self.write_definition(template, offset);
            }
        }
        self.write_values(&instance.values)
    }

    /// Writes a definition at `offset` (= the current position) and links it into the
    /// template table (spec §2.3, §4.8).
    fn write_definition(&mut self, template: &Template, offset: u32) {
        let bucket = (template.id() % 32) as usize;
        put_u32(&mut self.buf, self.template_heads[bucket]);
        self.buf.extend_from_slice(&template.guid());
        let size_at = self.buf.len();
        put_u32(&mut self.buf, 0);
        let body_start = self.buf.len();
        self.buf.extend_from_slice(&FRAGMENT_HEADER);
        self.write_element(template.root());
        self.buf.push(TOKEN_EOF);
        let size = (self.buf.len() - body_start) as u32;
        patch_u32(&mut self.buf, size_at, size);
        self.template_heads[bucket] = offset;
        self.templates.insert(template.key(), offset);
        self.added_templates.push(template.key());
    }

    fn write_element(&mut self, element: &Element) {
        let token = if element.attrs.is_empty() {
            TOKEN_OPEN_ELEMENT
        } else {
            TOKEN_OPEN_ELEMENT | FLAG_MORE
        };
        self.buf.push(token);
        put_u16(&mut self.buf, element.dependency);
        let size_at = self.buf.len();
        put_u32(&mut self.buf, 0);
        self.write_name(&element.name);
        if !element.attrs.is_empty() {
            self.write_attributes(&element.attrs);
        }
        if element.children.is_empty() {
            self.buf.push(TOKEN_CLOSE_EMPTY);
        } else {
            self.buf.push(TOKEN_CLOSE_START);
            for child in &element.children {
                self.write_content(child);
            }
            self.buf.push(TOKEN_END_ELEMENT);
        }
        // Data size counts every byte after the size field through the final token
        // (spec §4.4); libevtx aborts the export when it is off by one.
        let size = (self.buf.len() - size_at - 4) as u32;
        patch_u32(&mut self.buf, size_at, size);
    }

    fn write_attributes(&mut self, attrs: &[Attr]) {
        let size_at = self.buf.len();
        put_u32(&mut self.buf, 0);
        let start = self.buf.len();
        for (i, attr) in attrs.iter().enumerate() {
            let last = i + 1 == attrs.len();
            self.buf.push(if last {
                TOKEN_ATTRIBUTE
            } else {
                TOKEN_ATTRIBUTE | FLAG_MORE
            });
            self.write_name(&attr.name);
            self.write_content(&attr.value);
        }
        let size = (self.buf.len() - start) as u32;
        patch_u32(&mut self.buf, size_at, size);
    }

    fn write_content(&mut self, content: &Content) {
        match content {
            Content::Element(e) => self.write_element(e),
            Content::Text(text) => {
                self.buf.push(TOKEN_VALUE_TEXT);
                self.buf.push(0x01);
                let count_at = self.buf.len();
                put_u16(&mut self.buf, 0);
                let units = put_utf16(&mut self.buf, text) as u16;
                self.buf[count_at..count_at + 2].copy_from_slice(&units.to_le_bytes());
            }
            Content::Subst { slot, ty, optional } => {
                self.buf.push(if *optional {
                    TOKEN_OPTIONAL_SUBST
                } else {
                    TOKEN_NORMAL_SUBST
                });
                put_u16(&mut self.buf, *slot);
                self.buf.push(*ty as u8);
            }
        }
    }

    /// Writes a name offset, defining the name inline at its first use in the chunk
    /// (spec §4.5) and linking it into its string-table bucket (spec §2.2).
    fn write_name(&mut self, name: &str) {
        if let Some(&offset) = self.names.get(name) {
            put_u32(&mut self.buf, offset);
            return;
        }
        let offset = self.offset() + 4;
        put_u32(&mut self.buf, offset);
        let hash = name_hash(name);
        let bucket = usize::from(hash % 64);
        put_u32(&mut self.buf, self.string_heads[bucket]);
        put_u16(&mut self.buf, hash);
        let len_at = self.buf.len();
        put_u16(&mut self.buf, 0);
        let units = put_utf16(&mut self.buf, name) as u16;
        self.buf[len_at..len_at + 2].copy_from_slice(&units.to_le_bytes());
        put_u16(&mut self.buf, 0);
        self.string_heads[bucket] = offset;
        self.names.insert(name.to_owned(), offset);
        self.added_names.push(name.to_owned());
    }

    /// Writes the value count, the descriptors and the values (spec §4.9).
    fn write_values(&mut self, values: &[Value]) -> Result<()> {
        put_u32(&mut self.buf, values.len() as u32);
        let descriptors_at = self.buf.len();
        for value in values {
            put_u16(&mut self.buf, 0);
            self.buf.push(value.ty() as u8);
            self.buf.push(0);
        }
        for (slot, value) in values.iter().enumerate() {
            let start = self.buf.len();
            match value {
                Value::BinXml(inner) => {
                    self.buf.extend_from_slice(&FRAGMENT_HEADER);
                    self.write_instance(inner)?;
                    self.buf.push(TOKEN_EOF);
                }
                plain => plain.write_plain(&mut self.buf),
            }
            let size = self.buf.len() - start;
            let size = u16::try_from(size).map_err(|_| Error::ValueTooLarge { slot, size })?;
            let at = descriptors_at + 4 * slot;
            self.buf[at..at + 2].copy_from_slice(&size.to_le_bytes());
        }
        Ok(())
    }
}

/// Every substituted slot must exist, be non-NULL and have the template's type.
fn check_slots(instance: &Instance) -> Result<()> {
    for &(slot, ty) in instance.template.slots() {
        let reason = match instance.values.get(usize::from(slot)) {
            None => "no such slot",
            Some(Value::Null) => "a NULL value there",
            Some(v) if v.ty() != ty => "a value of another type there",
            Some(_) => continue,
        };
        return Err(Error::BadSubstitution { slot, reason });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_hashes_match_the_spec() {
        assert_eq!(name_hash("Event"), 0x0CBA);
        assert_eq!(name_hash("System"), 0x546F);
        assert_eq!(name_hash("EventData"), 0x8244);
        assert_eq!(name_hash("xmlns"), 0x0FBC);
        assert_eq!(name_hash("EventID"), 0x61F5);
        assert_eq!(name_hash("Computer"), 0x6E3B);
    }
}
