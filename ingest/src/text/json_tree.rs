//! A JSON value that borrows from the text it was read from: what an exported event
//! document is read into.
//!
//! `serde_json::Value` would do, but an object there is an index map (the `evtx` crate
//! turns on serde_json's `preserve_order` for the whole build) and every string is a fresh
//! allocation: reading a Winlogbeat document spent a third of its time building maps it
//! looks a dozen names up in once. Here an object is a list of members in document order
//! and a string is borrowed unless it holds escapes. Members keep `Value`'s meaning: a
//! repeated name keeps its first place and its last value.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// One JSON value; see the module documentation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json<'a> {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl<'a> Json<'a> {
    /// Reads `text`, borrowing its strings.
    pub(crate) fn parse(text: &'a str) -> serde_json::Result<Json<'a>> {
        serde_json::from_str(text)
    }

    /// The member `key` (exactly so named) of an object.
    pub(crate) fn get(&self, key: &str) -> Option<&Json<'a>> {
        self.members()?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// An object's members, in document order.
    pub(crate) fn members(&self) -> Option<&[(Cow<'a, str>, Json<'a>)]> {
        match self {
            Json::Object(members) => Some(members),
            _ => None,
        }
    }

    pub(crate) fn is_object(&self) -> bool {
        matches!(self, Json::Object(_))
    }

    /// A scalar as text (numbers as written); `None` for null, objects and empty arrays
    /// (some shippers keep a list of one: its first element).
    pub(crate) fn scalar(&self) -> Option<Cow<'_, str>> {
        match self {
            Json::String(s) => Some(Cow::Borrowed(s)),
            Json::Number(n) => Some(Cow::Owned(n.to_string())),
            Json::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            Json::Array(items) => items.first().and_then(Json::scalar),
            Json::Null | Json::Object(_) => None,
        }
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Json<'de>, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Json<'de>, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Json<'de>, E> {
        // As `Value` reads it: a number that is not finite is null.
        Ok(serde_json::Number::from_f64(n).map_or(Json::Null, Json::Number))
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E>(self, s: String) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(s)))
    }

    fn visit_unit<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Json<'de>, D::Error> {
        Json::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        let mut members: Vec<(Cow<'de, str>, Json<'de>)> = Vec::new();
        while let Some(Key(key)) = map.next_key()? {
            let value = map.next_value()?;
            match members.iter_mut().find(|(k, _)| *k == key) {
                Some((_, seen)) => *seen = value,
                None => members.push((key, value)),
            }
        }
        Ok(Json::Object(members))
    }
}

/// A member name, borrowed when it holds no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }

            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }

            fn visit_string<E>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => serializer.serialize_unit(),
            Json::Bool(b) => serializer.serialize_bool(*b),
            Json::Number(n) => n.serialize(serializer),
            Json::String(s) => serializer.serialize_str(s),
            Json::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Json::Object(members) => {
                let mut map = serializer.serialize_map(Some(members.len()))?;
                for (k, v) in members {
                    map.serialize_entry(k.as_ref(), v)?;
                }
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same text read as a `serde_json::Value` and as a [`Json`], written back.
    fn both(text: &str) -> (String, String) {
        let value: serde_json::Value = serde_json::from_str(text).unwrap();
        let json = Json::parse(text).unwrap();
        (value.to_string(), serde_json::to_string(&json).unwrap())
    }

    #[test]
    fn reads_as_serde_json_value_does() {
        for text in [
            r#"{"a": 1, "b": [true, null, -2, 3.5e0, "x\"y"], "c": {"d": "C:\\A"}}"#,
            r#"{"k": 1, "j": 2, "k": 3}"#,
            r#"[18446744073709551615, -9223372036854775808, 0.1, 1e300]"#,
            r#""\u00e9\ud83d\ude00""#,
            r#"{"\u0061b": {}}"#,
        ] {
            let (value, json) = both(text);
            assert_eq!(value, json, "{text}");
        }
    }

    #[test]
    fn strings_without_escapes_are_borrowed() {
        let text = r#"{"plain": "C:/A", "escaped": "C:\\A"}"#;
        let json = Json::parse(text).unwrap();
        let members = json.members().unwrap();
        assert!(matches!(members[0].0, Cow::Borrowed("plain")));
        assert!(matches!(members[0].1, Json::String(Cow::Borrowed("C:/A"))));
        assert!(matches!(&members[1].1, Json::String(Cow::Owned(s)) if s == r"C:\A"));
    }

    #[test]
    fn a_repeated_member_keeps_its_place_and_its_last_value() {
        let json = Json::parse(r#"{"k": 1, "j": 2, "k": 3}"#).unwrap();
        let members = json.members().unwrap();
        assert_eq!(members.len(), 2);
        assert_eq!(json.get("k").and_then(Json::scalar).as_deref(), Some("3"));
        assert_eq!(members[0].0, "k");
    }

    #[test]
    fn scalars_are_text() {
        let json =
            Json::parse(r#"{"n": 8003, "s": "8003", "l": ["x"], "o": {}, "z": null}"#).unwrap();
        let text = |k: &str| json.get(k).and_then(Json::scalar).map(Cow::into_owned);
        assert_eq!(text("n").as_deref(), Some("8003"));
        assert_eq!(text("s").as_deref(), Some("8003"));
        assert_eq!(text("l").as_deref(), Some("x"));
        assert_eq!(text("o"), None);
        assert_eq!(text("z"), None);
    }
}
