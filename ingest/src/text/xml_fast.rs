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
    /// The raw text before its first child or end tag (references not replaced).
    text: Option<&'a str>,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// `text`'s elements, or `None` where the full parser is to read it. One pass over the
/// bytes: texts up to the next `<`, then the tag, its attributes checked as they go by.
fn elements(text: &str) -> Option<Vec<Element<'_>>> {
    let b = text.as_bytes();
    let mut out: Vec<Element<'_>> = Vec::with_capacity(48);
    // The open elements: index into `out` and name.
    let mut open: Vec<(usize, &str)> = Vec::with_capacity(8);
    let mut i = 0;
    loop {
        // Text up to the next tag; `&`, `]` and `\r` need a closer look.
        let start = i;
        let mut special = false;
        while let Some(&c) = b.get(i) {
            if c == b'<' {
                break;
            }
            special |= matches!(c, b'&' | b']' | b'\r');
            i += 1;
        }
        let between = &text[start..i];
        match open.last() {
            None if !between.bytes().all(is_space) => return None, // text outside the root
            Some(_) if special && !valid_text(between) => return None,
            Some(&(index, _)) if !between.is_empty() && index + 1 == out.len() => {
                // Right after the innermost element's start tag: its text (only leaves'
                // texts are ever read).
                out[index].text = Some(between);
            }
            _ => {}
        }
        if i == b.len() {
            return None; // the root is not closed
        }
        i += 1; // the `<`
        match *b.get(i)? {
            b'/' => {
                i += 1;
                let from = i;
                while b.get(i).is_some_and(|&c| is_name_byte(c)) {
                    i += 1;
                }
                let name = &text[from..i];
                while b.get(i).is_some_and(|&c| is_space(c)) {
                    i += 1;
                }
                if b.get(i) != Some(&b'>') {
                    return None;
                }
                i += 1;
                let (index, open_name) = open.pop()?;
                if open_name != name {
                    return None;
                }
                // XML turns a leaf's `\r\n` into `\n`: left to the full parser.
                if index + 1 == out.len() && out[index].text.is_some_and(|t| t.contains('\r')) {
                    return None;
                }
                if open.is_empty() {
                    break; // the root is closed: only whitespace may follow
                }
            }
            b'!' | b'?' => return None,
            _ => {
                if open.is_empty() && !out.is_empty() {
                    return None; // a second root
                }
                let from = i;
                while b.get(i).is_some_and(|&c| is_name_byte(c)) {
                    i += 1;
                }
                let name = &text[from..i];
                if !valid_name(name) {
                    return None;
                }
                let attrs_from = i;
                let empty = attributes(b, &mut i)?;
                out.push(Element {
                    depth: open.len(),
                    name,
                    attrs: &text[attrs_from..i],
                    text: None,
                });
                i += if empty { 2 } else { 1 };
                if !empty {
                    open.push((out.len() - 1, name));
                } else if open.is_empty() {
                    break;
                }
            }
        }
    }
    (open.is_empty() && b[i..].iter().all(|&c| is_space(c))).then_some(out)
}

/// Checks the attributes from `*i` (just after the element name) up to the tag's end,
/// leaving `*i` at its `>` or `/>`: whether the element is empty (`/>`), or `None` for what
/// the full parser is to judge: `name="value"` pairs (either quote) after whitespace, each
/// name once, namespace declarations the only prefixed names, values without markup, tabs
/// or line breaks, and with known references only.
fn attributes(b: &[u8], i: &mut usize) -> Option<bool> {
    let mut names: Vec<&[u8]> = Vec::new();
    loop {
        let spaced = *i;
        while b.get(*i).is_some_and(|&c| is_space(c)) {
            *i += 1;
        }
        match *b.get(*i)? {
            b'>' => return Some(false),
            b'/' => return (b.get(*i + 1) == Some(&b'>')).then_some(true),
            _ if *i == spaced => return None, // no space before the attribute
            _ => {}
        }
        let from = *i;
        while b.get(*i).is_some_and(|&c| is_name_byte(c) || c == b':') {
            *i += 1;
        }
        let name = &b[from..*i];
        let ok = match name.iter().position(|&c| c == b':') {
            Some(colon) => &name[..colon] == b"xmlns" && valid_name_bytes(&name[colon + 1..]),
            None => valid_name_bytes(name),
        };
        if !ok || names.contains(&name) {
            return None;
        }
        names.push(name);
        while b.get(*i).is_some_and(|&c| is_space(c)) {
            *i += 1;
        }
        if b.get(*i) != Some(&b'=') {
            return None;
        }
        *i += 1;
        while b.get(*i).is_some_and(|&c| is_space(c)) {
            *i += 1;
        }
        let quote = *b.get(*i)?;
        if quote != b'"' && quote != b'\'' {
            return None;
        }
        *i += 1;
        let value_from = *i;
        let mut reference = false;
        loop {
            match *b.get(*i)? {
                c if c == quote => break,
                // No markup in values; XML turns tabs and line breaks into spaces.
                b'<' | b'\t' | b'\r' | b'\n' => return None,
                b'&' => reference = true,
                _ => {}
            }
            *i += 1;
        }
        if reference {
            let value = std::str::from_utf8(&b[value_from..*i]).ok()?;
            unescape(value)?;
        }
        *i += 1;
    }
}

fn valid_name(name: &str) -> bool {
    valid_name_bytes(name.as_bytes())
}

/// A name of ASCII letters, digits, `_`, `-` and `.`, not starting with a digit (what
/// Windows writes; anything else goes to the full parser).
fn valid_name_bytes(name: &[u8]) -> bool {
    match name.first() {
        Some(first) => !first.is_ascii_digit() && name.iter().all(|&c| is_name_byte(c)),
        None => false,
    }
}

/// Text holds no CDATA end and only known references.
fn valid_text(text: &str) -> bool {
    !text.contains("]]>") && (!text.contains('&') || unescape(text).is_some())
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

/// The raw value of attribute `name` (checked well-formed by [`attributes`]).
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

    /// The first child of `parent` named `Data` whose `Name` attribute is `name`.
    pub(crate) fn data_named(&self, parent: usize, name: &str) -> Option<usize> {
        self.children(parent).find(|&i| {
            self.elements[i].name == "Data"
                && self.attribute_raw(i, "Name").and_then(unescape).as_deref() == Some(name)
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
                    <Data Name='Empty'></Data><Data Name='N&#x61;med'>v</Data></EventData></Event>\r\n";
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
        let named = s.data_named(data, "Named").unwrap();
        assert_eq!(
            s.text(named).as_deref(),
            Some("v"),
            "a Name matched by its value"
        );
        assert_eq!(s.text(path).as_deref(), Some("a<b"));
        let empty = s.data_named(data, "Empty").unwrap();
        assert_eq!(s.text(empty), None);
        assert!(s.data_named(data, "Missing").is_none());
        assert_eq!(s.first_child(0), Some(system));
    }
}
