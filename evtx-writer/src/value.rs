//! Typed substitution values (spec §4.10) and the instance that carries them.

use crate::template::Template;

/// Value types this writer emits. Only the types all three parsers render identically (or
/// predictably) are offered: spec §4.10, column "Use?".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum ValueType {
    Null = 0x00,
    String = 0x01,
    UInt8 = 0x04,
    UInt16 = 0x06,
    UInt32 = 0x08,
    UInt64 = 0x0A,
    Binary = 0x0E,
    Guid = 0x0F,
    FileTime = 0x11,
    Sid = 0x13,
    HexInt64 = 0x15,
    BinXml = 0x21,
}

impl std::fmt::Display for Sid {
    /// The `S-1-…` text form.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "S-1-{}", self.authority)?;
        for sub in &self.sub_authorities {
            write!(f, "-{sub}")?;
        }
        Ok(())
    }
}

/// A Windows security identifier, e.g. `S-1-5-21-1-2-3-1001`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sid {
    /// Identifier authority (48 bits; 5 = NT AUTHORITY, 1 = World).
    pub authority: u64,
    pub sub_authorities: Vec<u32>,
}

impl Sid {
    /// Parses the `S-1-<authority>-<sub>...` text form. Returns `None` if it is not one.
    pub fn parse(text: &str) -> Option<Sid> {
        let mut parts = text.strip_prefix("S-1-")?.split('-');
        let authority: u64 = parts.next()?.parse().ok()?;
        if authority >= 1 << 48 {
            return None;
        }
        let sub_authorities = parts
            .map(|p| p.parse().ok())
            .collect::<Option<Vec<u32>>>()?;
        (sub_authorities.len() <= 15).then_some(Sid {
            authority,
            sub_authorities,
        })
    }

    fn encoded_len(&self) -> usize {
        8 + 4 * self.sub_authorities.len()
    }
}

/// One substitution value.
#[derive(Debug, Clone)]
pub enum Value {
    /// An empty slot. Never substitute one (spec §0 rule 3); unreferenced NULL slots are fine.
    Null,
    String(String),
    UInt8(u8),
    UInt16(u16),
    UInt32(u32),
    UInt64(u64),
    HexInt64(u64),
    Binary(Vec<u8>),
    /// A GUID in Windows byte layout (Data1..Data3 little-endian), see [`Value::guid`].
    Guid([u8; 16]),
    /// 100-ns ticks since 1601-01-01 UTC.
    FileTime(u64),
    Sid(Sid),
    /// A nested template instance (spec §4.11).
    BinXml(Box<Instance>),
}

impl Value {
    /// A String value.
    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    /// A Guid value from its text form, with or without braces, in any case.
    pub fn guid(text: &str) -> Option<Value> {
        let hex: String = text
            .trim_matches(|c| c == '{' || c == '}')
            .split('-')
            .collect();
        if hex.len() != 32 {
            return None;
        }
        let mut raw = [0u8; 16];
        for (i, byte) in raw.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        // Data1 (4 bytes), Data2 and Data3 (2 bytes each) are little-endian on disk.
        raw[0..4].reverse();
        raw[4..6].reverse();
        raw[6..8].reverse();
        Some(Value::Guid(raw))
    }

    /// A Sid value from its text form.
    pub fn sid(text: &str) -> Option<Value> {
        Sid::parse(text).map(Value::Sid)
    }

    /// The type written in this value's descriptor.
    pub fn ty(&self) -> ValueType {
        match self {
            Value::Null => ValueType::Null,
            Value::String(_) => ValueType::String,
            Value::UInt8(_) => ValueType::UInt8,
            Value::UInt16(_) => ValueType::UInt16,
            Value::UInt32(_) => ValueType::UInt32,
            Value::UInt64(_) => ValueType::UInt64,
            Value::HexInt64(_) => ValueType::HexInt64,
            Value::Binary(_) => ValueType::Binary,
            Value::Guid(_) => ValueType::Guid,
            Value::FileTime(_) => ValueType::FileTime,
            Value::Sid(_) => ValueType::Sid,
            Value::BinXml(_) => ValueType::BinXml,
        }
    }

    /// Appends the value bytes of every type except BinXml, which needs chunk context.
    pub(crate) fn write_plain(&self, out: &mut Vec<u8>) {
        match self {
            Value::Null | Value::BinXml(_) => {}
            Value::String(s) => {
                for unit in s.encode_utf16() {
                    out.extend_from_slice(&unit.to_le_bytes());
                }
            }
            Value::UInt8(v) => out.push(*v),
            Value::UInt16(v) => out.extend_from_slice(&v.to_le_bytes()),
            Value::UInt32(v) => out.extend_from_slice(&v.to_le_bytes()),
            Value::UInt64(v) | Value::HexInt64(v) | Value::FileTime(v) => {
                out.extend_from_slice(&v.to_le_bytes())
            }
            Value::Binary(b) => out.extend_from_slice(b),
            Value::Guid(g) => out.extend_from_slice(g),
            Value::Sid(sid) => {
                out.reserve(sid.encoded_len());
                out.push(1); // revision
                out.push(sid.sub_authorities.len() as u8);
                // The authority is 6 bytes big-endian (spec §4.10, type 0x13).
                out.extend_from_slice(&sid.authority.to_be_bytes()[2..]);
                for sub in &sid.sub_authorities {
                    out.extend_from_slice(&sub.to_le_bytes());
                }
            }
        }
    }
}

/// A template filled with values: the content of one record, or of one BinXml value.
#[derive(Debug, Clone)]
pub struct Instance {
    pub template: Template,
    pub values: Vec<Value>,
}

impl Instance {
    /// Pairs a template with its values (slot `i` is `values[i]`).
    pub fn new(template: &Template, values: Vec<Value>) -> Self {
        Instance {
            template: template.clone(),
            values,
        }
    }
}

/// Converts nanoseconds since the Unix epoch to a FILETIME (100-ns ticks since 1601).
pub fn filetime_from_unix_nanos(nanos: i64) -> u64 {
    const UNIX_EPOCH_AS_FILETIME: i64 = 116_444_736_000_000_000;
    (nanos.div_euclid(100) + UNIX_EPOCH_AS_FILETIME) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_text_is_stored_in_windows_layout() {
        let Some(Value::Guid(raw)) = Value::guid("{cbda4dbf-8d5d-4f69-9578-be14aa540d22}") else {
            panic!("guid did not parse");
        };
        assert_eq!(raw[..8], [0xbf, 0x4d, 0xda, 0xcb, 0x5d, 0x8d, 0x69, 0x4f]);
        assert_eq!(raw[8..], [0x95, 0x78, 0xbe, 0x14, 0xaa, 0x54, 0x0d, 0x22]);
        assert!(Value::guid("not-a-guid").is_none());
    }

    #[test]
    fn sid_encoding_matches_the_binary_layout() {
        let mut out = Vec::new();
        Value::sid("S-1-5-21-7-1001").unwrap().write_plain(&mut out);
        assert_eq!(
            out,
            [
                1, 3, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0, 7, 0, 0, 0, 0xE9, 3, 0, 0
            ]
        );
        assert!(Sid::parse("S-1-x").is_none());
        assert!(Sid::parse("X-1-5").is_none());
    }

    #[test]
    fn filetime_of_the_spec_example() {
        // 2024-03-04T00:00:00Z is FILETIME 0x01DA6DC6E6900000 (spec §9).
        assert_eq!(
            filetime_from_unix_nanos(1_709_510_400_000_000_000),
            0x01DA6DC6E6900000
        );
    }
}
