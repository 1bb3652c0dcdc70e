//! The fast path: a record's fields read straight from its template values, without
//! rendering JSON. The `evtx` crate parses the chunk and the record's outer value array;
//! `template.rs` reads which slot is which field from the template definition (by name,
//! never by position) and decodes the nested payload.
//!
//! Returns `None` whenever the record has a shape this path does not handle; the caller then
//! renders it with the `evtx` crate and decodes the JSON (`record::decode`), so every
//! record is read, fast or not.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use evtx::EvtxRecord;
use evtx::binxml::value_variant::BinXmlValue;

use super::template::{NestedInstance, Shape, Source, definition_end, nested_instance, shape_at};
use crate::record::{Decoded, SystemFields, assemble, is_applocker};

/// A cached shape with the definition bytes it was read from.
type CachedShape = (Vec<u8>, Option<Arc<Shape>>);

thread_local! {
    /// Template shapes by GUID, with the definition bytes they were read from: a hit needs
    /// the same bytes, so a reused GUID with another body (a damaged file) is read afresh.
    /// Shared across chunks and files, where the same templates repeat.
    static SHAPES: RefCell<HashMap<[u8; 16], CachedShape>> = RefCell::new(HashMap::new());
}

fn shape(chunk: &[u8], def_offset: usize) -> Option<Arc<Shape>> {
    let definition = chunk.get(def_offset + 4..definition_end(chunk, def_offset)?)?;
    let guid: [u8; 16] = definition[..16].try_into().ok()?;
    SHAPES.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some((bytes, shape)) = cache.get(&guid)
            && bytes.as_slice() == definition
        {
            return shape.clone();
        }
        if cache.len() > 16_384 {
            cache.clear(); // a collector with thousands of hosts: keep memory bounded
        }
        let shape = shape_at(chunk, def_offset).map(Arc::new);
        cache.insert(guid, (definition.to_vec(), shape.clone()));
        shape
    })
}

/// Text of an outer value (the same text the JSON renderer would produce for the fields we
/// read); `None` for NULL and for types we do not read.
fn outer_text<'a>(value: &BinXmlValue<'a>) -> Option<Cow<'a, str>> {
    Some(match value {
        BinXmlValue::StringType(s) => Cow::Owned(s.to_string().ok()?),
        BinXmlValue::AnsiStringType(s) => Cow::Borrowed(*s),
        BinXmlValue::SidType(sid) => Cow::Owned(sid.to_string()),
        BinXmlValue::UInt8Type(v) => Cow::Owned(v.to_string()),
        BinXmlValue::UInt16Type(v) => Cow::Owned(v.to_string()),
        BinXmlValue::UInt32Type(v) => Cow::Owned(v.to_string()),
        BinXmlValue::UInt64Type(v) => Cow::Owned(v.to_string()),
        _ => return None,
    })
}

fn outer_u64(value: &BinXmlValue<'_>) -> Option<u64> {
    match value {
        BinXmlValue::UInt8Type(v) => Some(u64::from(*v)),
        BinXmlValue::UInt16Type(v) => Some(u64::from(*v)),
        BinXmlValue::UInt32Type(v) => Some(u64::from(*v)),
        BinXmlValue::UInt64Type(v) => Some(*v),
        BinXmlValue::StringType(s) => s.to_string().ok()?.trim().parse().ok(),
        _ => None,
    }
}

/// FILETIME (100-ns ticks since 1601) to µs since the Unix epoch.
fn filetime_us(ticks: u64) -> i64 {
    (ticks / 10) as i64 - 11_644_473_600_000_000
}

/// Decodes `record` without rendering it, or `None` to ask for the full renderer.
pub(super) fn decode(record: &EvtxRecord<'_>) -> Option<Decoded> {
    let instances = record.template_instances().ok()?;
    let [outer] = instances.as_slice() else {
        return None;
    };
    let chunk = record.chunk.data;
    let shape = shape(chunk, outer.template_def_offset as usize)?;
    let values = &outer.values;
    let field = |key: &str| -> Option<Cow<'_, str>> {
        match shape.fields.get(key)? {
            Source::Literal(text) => Some(Cow::Borrowed(text.as_str())),
            Source::Slot(slot) => outer_text(values.get(*slot as usize)?),
        }
    };
    let slot_value = |key: &str| match shape.fields.get(key)? {
        Source::Slot(slot) => values.get(*slot as usize),
        Source::Literal(_) => None,
    };
    let provider = field("Provider@Name").unwrap_or(Cow::Borrowed(""));
    let event_id = match shape.fields.get("EventID")? {
        Source::Literal(text) => text.trim().parse().ok()?,
        Source::Slot(slot) => u16::try_from(outer_u64(values.get(*slot as usize)?)?).ok()?,
    };
    if !is_applocker(&provider, event_id) {
        return Some(Decoded::Other);
    }
    let time_us = match slot_value("TimeCreated@SystemTime")? {
        BinXmlValue::FileTimeType(ft) => filetime_us(ft.0),
        _ => return None,
    };
    let record_id = outer_u64(slot_value("EventRecordID")?)?;
    let computer = field("Computer")?;
    let channel = field("Channel")?;
    let security_user = field("Security@UserID");
    if computer.is_empty() {
        return None; // let the full path report the missing field
    }
    let payload = match shape.payload_slot.map(|slot| values.get(slot as usize)) {
        None => None,
        Some(Some(BinXmlValue::BinXmlType(bytes))) => Some(payload(chunk, bytes)?),
        Some(Some(BinXmlValue::NullType)) => None,
        Some(_) => return None,
    };
    let sys = SystemFields {
        provider: &provider,
        event_id,
        time_us,
        record_id,
        computer: &computer,
        channel: &channel,
        security_user: security_user.as_deref(),
    };
    let payload = payload.map(|(shape, instance)| (shape, RefCell::new(instance)));
    let event = assemble(sys, |name| {
        let (shape, instance) = payload.as_ref()?;
        match shape.fields.get(name)? {
            Source::Literal(text) => Some(Cow::Owned(text.clone())),
            // Each field is asked for once: move the value out rather than copy it.
            Source::Slot(slot) => instance
                .borrow_mut()
                .values
                .get_mut(*slot as usize)?
                .take()
                .map(Cow::Owned),
        }
    });
    Some(Decoded::AppLocker(Box::new(event)))
}

/// The nested payload: its shape and values. The value bytes borrow from the chunk, so
/// their chunk offset is where they sit in `chunk`.
fn payload(chunk: &[u8], bytes: &[u8]) -> Option<(Arc<Shape>, NestedInstance)> {
    let start = (bytes.as_ptr() as usize).checked_sub(chunk.as_ptr() as usize)?;
    if start.checked_add(bytes.len())? > chunk.len() {
        return None;
    }
    let instance = nested_instance(chunk, start, bytes.len())?;
    let shape = shape(chunk, instance.def_offset)?;
    Some((shape, instance))
}
