//! The XML shape of a record: elements, attributes, literal text and substitutions.
//!
//! A [`Template`] is built once and shared by every record of that shape. Its GUID is a hash
//! of its structure, so the same shape always gets the same GUID (spec §4.8: "make it
//! deterministic, never random") and output files are reproducible byte for byte.

use std::sync::Arc;

use crate::value::ValueType;

/// One item of element content (or of an attribute value).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Content {
    /// A child element.
    Element(Element),
    /// Literal text, stored in the template itself (token 0x05).
    Text(String),
    /// A value taken from slot `slot` of the instance (token 0x0D, or 0x0E when `optional`).
    Subst {
        slot: u16,
        ty: ValueType,
        optional: bool,
    },
}

/// An attribute: a name and exactly one content item, literal text or a substitution
/// (spec §4.6). Never put `"`, `<` or `&` in a literal value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attr {
    pub name: String,
    pub value: Content,
}

/// An element of a template.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Element {
    pub name: String,
    /// Dependency id: `0xFFFF` for none, or a slot index (spec §4.4).
    pub dependency: u16,
    pub attrs: Vec<Attr>,
    pub children: Vec<Content>,
}

impl Element {
    /// An element with no attributes, no content and no dependency.
    pub fn new(name: impl Into<String>) -> Self {
        Element {
            name: name.into(),
            dependency: 0xFFFF,
            attrs: Vec::new(),
            children: Vec::new(),
        }
    }

    /// Adds an attribute with literal text.
    pub fn attr(mut self, name: impl Into<String>, text: impl Into<String>) -> Self {
        self.attrs.push(Attr {
            name: name.into(),
            value: Content::Text(text.into()),
        });
        self
    }

    /// Adds an attribute whose value is an optional substitution of `slot`, as Windows'
    /// System template does (spec §5.1).
    pub fn attr_subst(mut self, name: impl Into<String>, slot: u16, ty: ValueType) -> Self {
        let value = Content::Subst {
            slot,
            ty,
            optional: true,
        };
        self.attrs.push(Attr {
            name: name.into(),
            value,
        });
        self
    }

    /// Adds a child element.
    pub fn child(mut self, child: Element) -> Self {
        self.children.push(Content::Element(child));
        self
    }

    /// Adds literal text content.
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.children.push(Content::Text(text.into()));
        self
    }

    /// Adds a normal substitution (token 0x0D) as content.
    pub fn subst(mut self, slot: u16, ty: ValueType) -> Self {
        self.children.push(Content::Subst {
            slot,
            ty,
            optional: false,
        });
        self
    }

    /// Adds an optional substitution (token 0x0E) as content.
    pub fn opt_subst(mut self, slot: u16, ty: ValueType) -> Self {
        self.children.push(Content::Subst {
            slot,
            ty,
            optional: true,
        });
        self
    }

    /// Sets the dependency id of this element.
    pub fn depends_on(mut self, slot: u16) -> Self {
        self.dependency = slot;
        self
    }

    fn collect_slots(&self, out: &mut Vec<(u16, ValueType)>) {
        for attr in &self.attrs {
            if let Content::Subst { slot, ty, .. } = attr.value {
                out.push((slot, ty));
            }
        }
        for child in &self.children {
            match child {
                Content::Element(e) => e.collect_slots(out),
                Content::Subst { slot, ty, .. } => out.push((*slot, *ty)),
                Content::Text(_) => {}
            }
        }
    }

    fn fingerprint(&self, h: &mut Fnv128) {
        h.write(b"<");
        h.write(self.name.as_bytes());
        h.write(&self.dependency.to_le_bytes());
        for attr in &self.attrs {
            h.write(b"@");
            h.write(attr.name.as_bytes());
            content_fingerprint(&attr.value, h);
        }
        for child in &self.children {
            content_fingerprint(child, h);
        }
        h.write(b">");
    }
}

fn content_fingerprint(content: &Content, h: &mut Fnv128) {
    match content {
        Content::Element(e) => e.fingerprint(h),
        Content::Text(t) => {
            h.write(b"T");
            h.write(t.as_bytes());
            h.write(b"\0");
        }
        Content::Subst { slot, ty, optional } => {
            h.write(&[b'S', *ty as u8, u8::from(*optional)]);
            h.write(&slot.to_le_bytes());
        }
    }
}

/// A template definition: one root element (spec §4.8). Cheap to clone.
#[derive(Debug, Clone)]
pub struct Template(Arc<TemplateInner>);

#[derive(Debug)]
struct TemplateInner {
    root: Element,
    guid: [u8; 16],
    /// Every substituted slot with the type the template expects there.
    slots: Vec<(u16, ValueType)>,
}

impl Template {
    /// Builds a template around `root`. Its GUID is derived from the structure.
    pub fn new(root: Element) -> Self {
        let mut h = Fnv128::new();
        root.fingerprint(&mut h);
        let guid = h.finish();
        let mut slots = Vec::new();
        root.collect_slots(&mut slots);
        slots.sort_unstable();
        slots.dedup();
        Template(Arc::new(TemplateInner { root, guid, slots }))
    }

    /// The root element.
    pub fn root(&self) -> &Element {
        &self.0.root
    }

    /// The template GUID as written in the definition header.
    pub fn guid(&self) -> [u8; 16] {
        self.0.guid
    }

    /// The template id: the first four bytes of the GUID (spec §4.8).
    pub fn id(&self) -> u32 {
        u32::from_le_bytes([
            self.0.guid[0],
            self.0.guid[1],
            self.0.guid[2],
            self.0.guid[3],
        ])
    }

    /// A key that identifies the template inside one chunk.
    pub(crate) fn key(&self) -> u128 {
        u128::from_le_bytes(self.0.guid)
    }

    pub(crate) fn slots(&self) -> &[(u16, ValueType)] {
        &self.0.slots
    }
}

/// FNV-1a with a 128-bit state: stable across Rust versions and platforms, unlike
/// `std::hash`, so template GUIDs never change under a toolchain upgrade.
struct Fnv128(u128);

impl Fnv128 {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;

    fn new() -> Self {
        Fnv128(Self::OFFSET)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u128::from(b);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }

    fn finish(&self) -> [u8; 16] {
        self.0.to_le_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_depends_on_structure_only() {
        let a = Template::new(
            Element::new("Event").child(Element::new("A").subst(0, ValueType::UInt16)),
        );
        let b = Template::new(
            Element::new("Event").child(Element::new("A").subst(0, ValueType::UInt16)),
        );
        let c = Template::new(
            Element::new("Event").child(Element::new("A").subst(1, ValueType::UInt16)),
        );
        assert_eq!(a.guid(), b.guid());
        assert_ne!(a.guid(), c.guid());
        assert_eq!(a.id().to_le_bytes(), a.guid()[..4]);
    }

    #[test]
    fn slots_are_collected_from_attributes_and_content() {
        let t = Template::new(
            Element::new("E")
                .attr_subst("X", 3, ValueType::FileTime)
                .child(Element::new("A").subst(1, ValueType::String)),
        );
        assert_eq!(
            t.slots(),
            &[(1, ValueType::String), (3, ValueType::FileTime)]
        );
    }
}
