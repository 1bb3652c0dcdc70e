//! The fast path for event XML: one scan over an `<Event>` element's text that finds its
//! elements, attributes and leaf texts without building a tree, borrowing from the text.
//!
//! It reads the XML Windows writes (elements, attributes, text, the predefined entities and
//! character references) and gives up on anything else: comments, CDATA, processing
//! instructions, a DOCTYPE, prefixed element names, and anything malformed. Then
//! [`super::xml::decode`] reads the element with roxmltree, which also says what is wrong
//! with it; so the fast path only decides how fast an event is read, never what is read
//! from it or which errors are reported.

use std::borrow::Cow;

/// One element, in document order.
struct Element<'a> {
    /// 0 for `<Event>`, 1 for its children, …
    depth: usize,
    /// Its local name (no prefix: prefixed names are left to the full parser).
    name: &'a str,
    /// The raw attribute text after the name (checked well-formed).
    attrs: &'a str,
    /// The raw text before its first child or end tag (entity references not replaced).
    text: Option<&'a str>,
}

/// `text`'s elements, or `None` where the full parser is to read it.
fn elements(text: &str) -> Option<Vec<Element<'_>>> {
    let bytes = text.as_bytes();
    let mut out: Vec<Element<'_>> = Vec::with_capacity(48);
    // The open elements: index into `out` and name.
    let mut open: Vec<(usize, &str)> = Vec::with_capacity(8);
    let mut pos = 0;
    while let Some(at) = text[pos..].find('<') {
        let lt = pos + at;
        let between = &text[pos..lt];
        match open.last() {
            None if !between.trim_start().is_empty() => return None, // text outside the root
            Some(&(index, _)) if !between.is_empty() && index + 1 == out.len() => {
                // Text right after the innermost element's start tag: its text (only
                // leaves' texts are ever read).
                if !valid_text(between) {
                    return None;
                }
                out[index].text = Some(between);
            }
            Some(_) if !valid_text(between) => return None,
            _ => {}
        }
        match bytes.get(lt + 1)? {
            b'/' => {
                let end = lt + 2 + text[lt + 2..].find('>')?;
                let name = text[lt + 2..end].trim_end_matches([' ', '\t', '\r', '\n']);
                let (index, open_name) = open.pop()?;
                if open_name != name {
                    return None;
                }
                // XML turns a leaf's `\r\n` into `\n`: left to the full parser.
                if index + 1 == out.len() && out[index].text.is_some_and(|t| t.contains('\r')) {
                    return None;
                }
                pos = end + 1;
                if open.is_empty() {
                    break; // the root is closed: only whitespace may follow
                }
            }
            b'!' | b'?' => return None,
            _ => {
                if open.is_empty() && !out.is_empty() {
                    return None; // a second root
                }
                let end = tag_end(bytes, lt + 1)?;
                let inner = &text[lt + 1..end];
                let (inner, empty) = match inner.strip_suffix('/') {
                    Some(inner) => (inner, true),
                    None => (inner, false),
                };
                let name_len = inner.find([' ', '\t', '\r', '\n']).unwrap_or(inner.len());
                let (name, attrs) = inner.split_at(name_len);
                if !valid_name(name) || !valid_attrs(attrs) {
                    return None;
                }
                out.push(Element {
                    depth: open.len(),
                    name,
                    attrs,
                    text: None,
                });
                if empty {
                    if open.is_empty() {
                        pos = end + 1;
                        break;
                    }
                } else {
                    open.push((out.len() - 1, name));
                }
                pos = end + 1;
            }
        }
    }
    let closed = open.is_empty() && !out.is_empty();
    (closed && text[pos..].trim().is_empty()).then_some(out)
}

/// The `>` that ends the tag starting at `from`, skipping quoted attribute values (which
/// may hold `>`, never `<`).
fn tag_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut quote = None;
    for (i, &b) in bytes.iter().enumerate().skip(from) {
        match (quote, b) {
            (None, b'>') => return Some(i),
            (None, b'"' | b'\'') => quote = Some(b),
            (Some(q), _) if q == b => quote = None,
            (_, b'<') => return None,
            _ => {}
        }
    }
    None
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.contains(':')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && !name.as_bytes()[0].is_ascii_digit()
}

/// Text holds no markup start and only known entity references.
fn valid_text(text: &str) -> bool {
    !text.contains("]]>") && (!text.contains('&') || unescape(text).is_some())
}

/// `name="value"` pairs (either quote), whitespace between them; namespace declarations
/// are the only prefixed names.
fn valid_attrs(attrs: &str) -> bool {
    let mut seen: Vec<&str> = Vec::new();
    let mut rest = attrs;
    loop {
        let trimmed = rest.trim_start_matches([' ', '\t', '\r', '\n']);
        if trimmed.is_empty() {
            return true;
        }
        if trimmed.len() == rest.len() {
            return false; // no whitespace before the attribute
        }
        let Some((name, value, after)) = next_attr(trimmed) else {
            return false;
        };
        let prefixed_ok = match name.split_once(':') {
            Some(("xmlns", local)) => valid_name(local),
            Some(_) => false,
            None => valid_name(name),
        };
        // XML turns tabs and line breaks in values into spaces: left to the full parser.
        let normalised = value.contains(['\t', '\r', '\n']);
        if !prefixed_ok || seen.contains(&name) || normalised || !valid_text(value) {
            return false;
        }
        seen.push(name);
        rest = after;
    }
}

/// The first attribute of `text` (which starts at its name): name, raw value, the rest.
fn next_attr(text: &str) -> Option<(&str, &str, &str)> {
    let eq = text.find('=')?;
    let name = text[..eq].trim_end_matches([' ', '\t', '\r', '\n']);
    let value = text[eq + 1..].trim_start_matches([' ', '\t', '\r', '\n']);
    let quote = value.chars().next().filter(|q| *q == '"' || *q == '\'')?;
    let close = value[1..].find(quote)?;
    Some((name, &value[1..=close], &value[close + 2..]))
}

/// The raw value of attribute `name` (checked well-formed by [`valid_attrs`]).
fn attribute<'a>(element: &Element<'a>, name: &str) -> Option<&'a str> {
    let mut rest = element.attrs;
    loop {
        let trimmed = rest.trim_start_matches([' ', '\t', '\r', '\n']);
        let (attr, value, after) = next_attr(trimmed)?;
        if attr == name {
            return Some(value);
        }
        rest = after;
    }
}

/// Text with its entity and character references replaced; `None` for an unknown one.
fn unescape(raw: &str) -> Option<Cow<'_, str>> {
    if !raw.contains('&') {
        return Some(Cow::Borrowed(raw));
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let semi = rest[amp..].find(';')? + amp;
        let reference = &rest[amp + 1..semi];
        let c = match reference {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let number = reference.strip_prefix('#')?;
                let code = match number.strip_prefix('x') {
                    Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                    None => number.parse().ok()?,
                };
                char::from_u32(code).filter(|c| *c != '\0')?
            }
        };
        out.push(c);
        rest = &rest[semi + 1..];
    }
    out.push_str(rest);
    Some(Cow::Owned(out))
}

/// What the scan found: the elements, and where the event's parts are.
pub(crate) struct Scanned<'a> {
    elements: Vec<Element<'a>>,
}

impl<'a> Scanned<'a> {
    /// Scans `text`; `None` where the full parser is to read it.
    pub(crate) fn new(text: &'a str) -> Option<Scanned<'a>> {
        let elements = elements(text)?;
        (elements[0].name == "Event").then_some(Scanned { elements })
    }

    /// The element children of element `parent` (by index).
    fn children(&self, parent: usize) -> impl Iterator<Item = usize> + '_ {
        let depth = self.elements[parent].depth;
        self.elements[parent + 1..]
            .iter()
            .take_while(move |e| e.depth > depth)
            .enumerate()
            .filter(move |(_, e)| e.depth == depth + 1)
            .map(move |(i, _)| parent + 1 + i)
    }

    /// The first element child of `parent` named `name`.
    pub(crate) fn child(&self, parent: usize, name: &str) -> Option<usize> {
        self.children(parent)
            .find(|&i| self.elements[i].name == name)
    }

    /// The first element child of `parent`, whatever its name.
    pub(crate) fn first_child(&self, parent: usize) -> Option<usize> {
        self.children(parent).next()
    }

    /// The children of `parent` named `Data` whose `Name` attribute is `name`.
    pub(crate) fn data_named(&self, parent: usize, name: &str) -> Option<usize> {
        self.children(parent).find(|&i| {
            self.elements[i].name == "Data" && self.attribute_raw(i, "Name") == Some(name)
        })
    }

    /// Element `at`'s text, references replaced.
    pub(crate) fn text(&self, at: usize) -> Option<Cow<'a, str>> {
        self.elements[at].text.and_then(unescape)
    }

    /// Element `at`'s text as it is written, when it holds no reference to replace.
    pub(crate) fn plain_text(&self, at: usize) -> Option<Option<&'a str>> {
        match self.elements[at].text {
            Some(t) if t.contains('&') => None,
            other => Some(other),
        }
    }

    /// Attribute `name` of element `at` as written, when it holds no reference.
    pub(crate) fn plain_attribute(&self, at: usize, name: &str) -> Option<Option<&'a str>> {
        match self.attribute_raw(at, name) {
            Some(v) if v.contains('&') => None,
            other => Some(other),
        }
    }

    fn attribute_raw(&self, at: usize, name: &str) -> Option<&'a str> {
        attribute(&self.elements[at], name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_replaced_and_unknown_ones_refused() {
        assert_eq!(
            unescape("a &amp; b &lt;c&gt; &#65;&#x42; &quot;&apos;").as_deref(),
            Some("a & b <c> AB \"'")
        );
        assert!(unescape("&nbsp;").is_none());
        assert!(unescape("a & b").is_none());
        assert!(unescape("&#0;").is_none());
        assert!(matches!(unescape("plain"), Some(Cow::Borrowed("plain"))));
    }

    #[test]
    fn what_the_fast_path_leaves_to_the_full_parser() {
        for text in [
            "<Event><!-- note --></Event>",
            "<Event><![CDATA[x]]></Event>",
            "<e:Event xmlns:e='x'></e:Event>",
            "<Event><A></B></Event>",
            "<Event><A></Event>",
            "<Event a='1' a='2'/>",
            "<Event a=1/>",
            "<Event/><Event/>",
            "x<Event/>",
            "<Event/>x",
            "<Event>&bogus;</Event>",
            "<Event x:y='1'/>",
            "<Event a='1\n2'/>",
            "<Event><A>1\r\n2</A></Event>",
        ] {
            assert!(elements(text).is_none(), "{text}");
        }
    }

    #[test]
    fn elements_depths_texts_and_attributes() {
        let text = "<Event xmlns='e'>\n <System><Provider Name='P &amp; Q'/><EventID>8003</EventID>\
                    <Computer>H</Computer></System><EventData><Data Name=\"FilePath\">a&lt;b</Data>\
                    <Data Name='Empty'></Data></EventData></Event>\r\n";
        let s = Scanned::new(text).unwrap();
        let system = s.child(0, "System").unwrap();
        let provider = s.child(system, "Provider").unwrap();
        assert_eq!(s.plain_attribute(provider, "Name"), None, "a reference");
        assert_eq!(s.attribute_raw(provider, "Name"), Some("P &amp; Q"));
        let id = s.child(system, "EventID").unwrap();
        assert_eq!(s.plain_text(id), Some(Some("8003")));
        assert_eq!(
            s.plain_text(system),
            Some(None),
            "System's first child is an element"
        );
        let data = s.child(0, "EventData").unwrap();
        let path = s.data_named(data, "FilePath").unwrap();
        assert_eq!(s.text(path).as_deref(), Some("a<b"));
        let empty = s.data_named(data, "Empty").unwrap();
        assert_eq!(s.text(empty), None);
        assert!(s.data_named(data, "Missing").is_none());
        assert_eq!(s.first_child(0), Some(system));
    }
}
