//! The fast path: a record's fields read straight from its template values, without
//! rendering JSON. Given where the record's BinXML sits in its chunk, `template.rs` reads
//! the record's value array and which slot is which field from the template
//! definition (by name, never by position), and decodes only the values lockstep keeps.
//!
//! Returns `None` whenever the record has a shape this path does not handle; the caller then
//! renders it with the `evtx` crate and decodes the JSON (`record::decode`), so every
//! record is read, fast or not.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use super::template::{
    Definition, Shape, Source, SystemField, Value, definition_end, instance_at, push_value_text,
    shape_at,
};
use crate::record::{Decoded, SystemFields, assemble, is_applocker};
use crate::staging::KeyHasher;

/// Shapes kept per thread before the cache starts over (a collector with thousands of
/// hosts has a record template per host: keep memory bounded).
const MAX_SHAPES: usize = 16_384;

/// A cached shape: the kind and definition bytes it was read from, and what was read.
struct CachedShape {
    kind: Definition,
    definition: Vec<u8>,
    shape: Option<Arc<Shape>>,
}

/// Per-thread state, reused from record to record so the hot path allocates only the
/// strings of the event it returns.
#[derive(Default)]
struct Decoder {
    /// Template shapes by GUID. A hit needs the same definition bytes, so a reused GUID with
    /// another body (a damaged file) is read afresh. Shared across chunks and files.
    shapes: HashMap<[u8; 16], CachedShape, KeyHasher>,
    record_values: Vec<Value>,
    payload_values: Vec<Value>,
    /// System texts: provider, computer, channel, user.
    texts: [String; 4],
}

thread_local! {
    static DECODER: RefCell<Decoder> = RefCell::new(Decoder::default());
}

/// Decodes the record whose BinXML is the `binxml_size` bytes at `binxml_offset` of
/// `chunk`, without rendering it; `None` to ask for the full renderer.
pub(super) fn decode(chunk: &[u8], binxml_offset: usize, binxml_size: usize) -> Option<Decoded> {
    DECODER.with(|d| d.borrow_mut().decode(chunk, binxml_offset, binxml_size))
}

/// FILETIME (100-ns ticks since 1601) to µs since the Unix epoch.
fn filetime_us(ticks: u64) -> i64 {
    (ticks / 10) as i64 - 11_644_473_600_000_000
}

/// An integer value (any unsigned width, or decimal text).
fn value_u64(chunk: &[u8], value: &Value) -> Option<u64> {
    let b = value.bytes(chunk);
    let int = |n: usize| {
        let mut v = [0u8; 8];
        v[..n].copy_from_slice(b.get(..n).filter(|s| s.len() == b.len())?);
        Some(u64::from_le_bytes(v))
    };
    match value.ty {
        0x04 => int(1),
        0x06 => int(2),
        0x08 => int(4),
        0x0A => int(8),
        0x01 => {
            let mut text = String::new();
            super::template::push_utf16(b, &mut text)?;
            text.trim().parse().ok()
        }
        _ => None,
    }
}

/// A field's text: `Ok(None)` when absent or NULL, `Err(())` for a value type this path
/// does not decode. Slot values are written to `buf`.
fn field_text<'a>(
    source: Option<&'a Source>,
    chunk: &[u8],
    values: &[Value],
    buf: &'a mut String,
) -> Result<Option<&'a str>, ()> {
    match source {
        None => Ok(None),
        Some(Source::Literal(text)) => Ok(Some(text)),
        Some(Source::Slot(slot)) => {
            let Some(value) = values.get(usize::from(*slot)) else {
                return Ok(None);
            };
            buf.clear();
            match push_value_text(value.ty, value.bytes(chunk), buf) {
                None => Err(()),
                Some(false) => Ok(None),
                Some(true) => Ok(Some(buf.as_str())),
            }
        }
    }
}

impl Decoder {
    fn shape(&mut self, chunk: &[u8], def_offset: usize, kind: Definition) -> Option<Arc<Shape>> {
        let definition = chunk.get(def_offset + 4..definition_end(chunk, def_offset)?)?;
        let guid: [u8; 16] = definition.get(..16)?.try_into().ok()?;
        if self.shapes.len() >= MAX_SHAPES && !self.shapes.contains_key(&guid) {
            self.shapes.clear();
        }
        match self.shapes.entry(guid) {
            Entry::Occupied(mut hit) => {
                let cached = hit.get_mut();
                if cached.kind != kind || cached.definition != definition {
                    cached.kind = kind;
                    cached.definition.clear();
                    cached.definition.extend_from_slice(definition);
                    cached.shape = shape_at(chunk, def_offset, kind).map(Arc::new);
                }
                cached.shape.clone()
            }
            Entry::Vacant(slot) => {
                let shape = shape_at(chunk, def_offset, kind).map(Arc::new);
                slot.insert(CachedShape {
                    kind,
                    definition: definition.to_vec(),
                    shape: shape.clone(),
                });
                shape
            }
        }
    }

    fn decode(
        &mut self,
        chunk: &[u8],
        binxml_offset: usize,
        binxml_size: usize,
    ) -> Option<Decoded> {
        let mut values = std::mem::take(&mut self.record_values);
        let def_offset = instance_at(chunk, binxml_offset, binxml_size, &mut values);
        let decoded = match def_offset {
            Some(def_offset) => self.decode_instance(chunk, def_offset, &values),
            None => None,
        };
        self.record_values = values;
        decoded
    }

    fn decode_instance(
        &mut self,
        chunk: &[u8],
        def_offset: usize,
        values: &[Value],
    ) -> Option<Decoded> {
        let shape = self.shape(chunk, def_offset, Definition::Record)?;
        let event_id: u16 = match shape.system(SystemField::EventId)? {
            Source::Literal(text) => text.trim().parse().ok()?,
            Source::Slot(slot) => {
                u16::try_from(value_u64(chunk, values.get(usize::from(*slot))?)?).ok()?
            }
        };
        let provider = shape.system(SystemField::Provider);
        let applocker = field_text(provider, chunk, values, &mut self.texts[0])
            .ok()?
            .is_some_and(|p| is_applocker(p, event_id));
        if !applocker {
            return Some(Decoded::Other);
        }
        let payload = match shape.payload_slot.and_then(|s| values.get(usize::from(s))) {
            None => None,
            Some(value) if value.ty == 0x21 => Some(self.payload(chunk, value)?),
            Some(value) if value.ty == 0x00 => None,
            Some(_) => return None,
        };
        let slot_value = |field| match shape.system(field)? {
            Source::Slot(slot) => values.get(usize::from(*slot)),
            Source::Literal(_) => None,
        };
        let time = slot_value(SystemField::TimeCreated).filter(|v| v.ty == 0x11)?;
        let time_us = filetime_us(u64::from_le_bytes(time.bytes(chunk).try_into().ok()?));
        let record_id = value_u64(chunk, slot_value(SystemField::RecordId)?)?;
        let [provider_buf, computer_buf, channel_buf, user_buf] = &mut self.texts;
        let text = |field, buf| field_text(shape.system(field), chunk, values, buf);
        // A missing Computer or Channel: the full path reports the missing field.
        let computer = text(SystemField::Computer, computer_buf)
            .ok()?
            .filter(|c| !c.is_empty())?;
        let channel = text(SystemField::Channel, channel_buf).ok()??;
        let security_user = text(SystemField::User, user_buf).ok()?;
        let sys = SystemFields {
            provider: field_text(provider, chunk, values, provider_buf).ok()??,
            event_id,
            time_us,
            record_id,
            computer,
            channel,
            security_user,
        };
        let payload_values = &self.payload_values;
        let unsupported = Cell::new(false);
        let event = assemble(sys, |field| {
            // The nested payload first, then EventData/UserData written in the record's own
            // template.
            let (source, values) = match payload.as_ref().and_then(|p| p.payload(field)) {
                Some(source) => (source, payload_values.as_slice()),
                None => (shape.payload(field)?, values),
            };
            match source {
                Source::Literal(text) => Some(Cow::Borrowed(text.as_str())),
                Source::Slot(slot) => {
                    let value = values.get(usize::from(*slot))?;
                    let mut text = String::new();
                    match push_value_text(value.ty, value.bytes(chunk), &mut text) {
                        None => {
                            unsupported.set(true);
                            None
                        }
                        Some(false) => None,
                        Some(true) => Some(Cow::Owned(text)),
                    }
                }
            }
        });
        (!unsupported.get()).then(|| Decoded::AppLocker(Box::new(event)))
    }

    /// The nested payload's shape; its values go to `self.payload_values`.
    fn payload(&mut self, chunk: &[u8], value: &Value) -> Option<Arc<Shape>> {
        let mut values = std::mem::take(&mut self.payload_values);
        let (start, len) = value.span();
        let def_offset = instance_at(chunk, start, len, &mut values);
        self.payload_values = values;
        self.shape(chunk, def_offset?, Definition::Payload)
    }
}
