//! A record as Windows renders it in text: [`Node`], the template filled with its values
//! (nested BinXml inline, empty optional values dropped), and [`Node::to_xml`], the event
//! XML `wevtutil qe /f:xml` and `Get-WinEvent … ToXml()` print. Writers of other export
//! forms (Winlogbeat JSON) read the same tree, so every form carries the same values.

use crate::template::{Content, Element};
use crate::value::{Instance, Value};

/// An element with its values substituted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Node>,
    /// The element's text (empty for elements with children).
    pub text: String,
}

impl Node {
    /// The tree of `instance`.
    pub fn of(instance: &Instance) -> Node {
        fill(instance.template.root(), &instance.values)
            .into_iter()
            .next()
            .unwrap_or_else(|| Node {
                name: String::new(),
                attrs: Vec::new(),
                children: Vec::new(),
                text: String::new(),
            })
    }

    /// The first child element named `name`.
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The value of attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Event XML on one line, as `wevtutil qe … /f:xml` prints each event.
    pub fn to_xml(&self) -> String {
        let mut out = String::new();
        self.write_xml(&mut out);
        out
    }

    fn write_xml(&self, out: &mut String) {
        out.push('<');
        out.push_str(&self.name);
        for (name, value) in &self.attrs {
            out.push(' ');
            out.push_str(name);
            out.push_str("=\"");
            escape(value, true, out);
            out.push('"');
        }
        if self.children.is_empty() && self.text.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        escape(&self.text, false, out);
        for child in &self.children {
            child.write_xml(out);
        }
        out.push_str("</");
        out.push_str(&self.name);
        out.push('>');
    }
}

fn escape(text: &str, attribute: bool, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
}

/// `element` with `values`: nothing when its dependency slot is empty (spec §4.4).
fn fill(element: &Element, values: &[Value]) -> Option<Node> {
    if element.dependency != 0xFFFF
        && matches!(
            values.get(element.dependency as usize),
            None | Some(Value::Null)
        )
    {
        return None;
    }
    let mut node = Node {
        name: element.name.clone(),
        attrs: Vec::new(),
        children: Vec::new(),
        text: String::new(),
    };
    for attr in &element.attrs {
        let value = match &attr.value {
            Content::Text(text) => Some(text.clone()),
            Content::Subst { slot, .. } => values.get(*slot as usize).and_then(value_text),
            Content::Element(_) => None,
        };
        if let Some(value) = value {
            node.attrs.push((attr.name.clone(), value));
        }
    }
    for content in &element.children {
        match content {
            Content::Element(child) => node.children.extend(fill(child, values)),
            Content::Text(text) => node.text.push_str(text),
            Content::Subst { slot, .. } => match values.get(*slot as usize) {
                Some(Value::BinXml(inner)) => node.children.push(Node::of(inner)),
                Some(value) => node.text.push_str(&value_text(value).unwrap_or_default()),
                None => {}
            },
        }
    }
    Some(node)
}

/// A value as Windows renders it in XML; `None` for an empty one.
pub fn value_text(value: &Value) -> Option<String> {
    Some(match value {
        Value::Null => return None,
        Value::String(s) => s.clone(),
        Value::UInt8(v) => v.to_string(),
        Value::UInt16(v) => v.to_string(),
        Value::UInt32(v) => v.to_string(),
        Value::UInt64(v) => v.to_string(),
        Value::HexInt64(v) => format!("{v:#x}"),
        Value::Binary(bytes) => bytes.iter().map(|b| format!("{b:02X}")).collect(),
        Value::Guid(raw) => {
            let mut raw = *raw;
            raw[0..4].reverse();
            raw[4..6].reverse();
            raw[6..8].reverse();
            let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
            format!(
                "{{{}-{}-{}-{}-{}}}",
                &hex[0..8],
                &hex[8..12],
                &hex[12..16],
                &hex[16..20],
                &hex[20..32]
            )
        }
        Value::FileTime(ticks) => filetime_text(*ticks),
        Value::Sid(sid) => sid.to_string(),
        Value::BinXml(inner) => Node::of(inner).to_xml(),
    })
}

/// `2026-10-05T09:12:33.1234567Z`: FILETIME as `SystemTime` prints it (100-ns digits).
fn filetime_text(ticks: u64) -> String {
    const UNIX_EPOCH_AS_FILETIME: i64 = 116_444_736_000_000_000;
    let since_epoch = ticks as i64 - UNIX_EPOCH_AS_FILETIME;
    let secs = since_epoch.div_euclid(10_000_000);
    let frac = since_epoch.rem_euclid(10_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // The civil date of a day count (Howard Hinnant's days_from_civil, inverted).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{frac:07}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Template, ValueType};

    #[test]
    fn a_record_renders_as_event_xml() {
        let inner = Template::new(
            Element::new("RuleAndFileData")
                .attr("xmlns", "urn:rule")
                .child(Element::new("FilePath").subst(0, ValueType::String))
                .child(Element::new("FileHash").subst(1, ValueType::Binary)),
        );
        let outer = Template::new(
            Element::new("Event")
                .child(
                    Element::new("System")
                        .child(Element::new("EventID").subst(0, ValueType::UInt16))
                        .child(Element::new("TimeCreated").attr_subst(
                            "SystemTime",
                            1,
                            ValueType::FileTime,
                        ))
                        .child(Element::new("Security").attr_subst("UserID", 2, ValueType::Sid))
                        .child(Element::new("Keywords").subst(4, ValueType::HexInt64)),
                )
                .child(Element::new("UserData").subst(3, ValueType::BinXml)),
        );
        let record = Instance::new(
            &outer,
            vec![
                Value::UInt16(8003),
                Value::FileTime(crate::filetime_from_unix_nanos(1_689_865_503_882_651_800)),
                Value::Null,
                Value::BinXml(Box::new(Instance::new(
                    &inner,
                    vec![
                        Value::string(r"%OSDRIVE%\A&B.EXE"),
                        Value::Binary(vec![0xab, 0x01]),
                    ],
                ))),
                Value::HexInt64(0x8000_0000_0000_0000),
            ],
        );
        assert_eq!(
            Node::of(&record).to_xml(),
            r#"<Event><System><EventID>8003</EventID><TimeCreated SystemTime="2023-07-20T15:05:03.8826518Z"/><Security/><Keywords>0x8000000000000000</Keywords></System><UserData><RuleAndFileData xmlns="urn:rule"><FilePath>%OSDRIVE%\A&amp;B.EXE</FilePath><FileHash>AB01</FileHash></RuleAndFileData></UserData></Event>"#
        );
    }

    #[test]
    fn guids_render_in_their_text_layout() {
        let text = "{cbda4dbf-8d5d-4f69-9578-be14aa540d22}";
        assert_eq!(value_text(&Value::guid(text).unwrap()).unwrap(), text);
    }
}
