//! Bounds on the work a policy document can ask for, checked in one linear pass over the
//! text before the XML parser builds its tree.
//!
//! Size and node limits alone do not bound time: the DOM parser checks each attribute
//! against the element's earlier ones (quadratic in attributes per element), and a document
//! of 1.9 M unknown siblings is under every size limit. AppLocker's own elements have at
//! most six attributes, a few hundred children in generated policies and a few thousand in
//! hash-rule exports, and nest seven levels deep; the limits below are far above that and
//! far below what makes the parser slow.

use crate::error::Error;

/// The most attributes one element may have (AppLocker's elements have at most six).
pub const MAX_ATTRIBUTES: usize = 64;
/// The longest attribute value, in bytes (a path may be 32,767 UTF-16 units; in UTF-8 that
/// is at most about 96 KiB).
pub const MAX_ATTRIBUTE_BYTES: usize = 128 * 1024;
/// The most child elements of one element (rules in one collection, hashes in one rule).
pub const MAX_CHILDREN: usize = 100_000;
/// The deepest element nesting (a policy nests seven levels; extensions a few more).
pub const MAX_DEPTH: usize = 64;
/// The longest rule `Name` or `Description`, in characters (the schema's `RuleNameType`
/// and `RuleDescriptionType`; Windows refuses longer ones).
pub const MAX_RULE_TEXT_CHARS: usize = 1024;
/// The most warnings kept for one document; the rest are counted in one last warning.
pub const MAX_WARNINGS: usize = 100;

/// Refuses a document whose shape exceeds the limits above. Linear in the text; what is
/// not well-formed is left for the XML parser to report.
pub(crate) fn check_shape(text: &str) -> Result<(), Error> {
    let bytes = text.as_bytes();
    let mut scan = Scan {
        bytes,
        at: 0,
        line: 1,
    };
    // Child counts of the open elements; the first entry is the document level.
    let mut open: Vec<usize> = vec![0];
    while let Some(start) = scan.next_tag() {
        let rest = &bytes[start..];
        if rest.starts_with(b"<!--") {
            scan.skip_past(b"-->");
        } else if rest.starts_with(b"<![CDATA[") {
            scan.skip_past(b"]]>");
        } else if rest.starts_with(b"<?") {
            scan.skip_past(b"?>");
        } else if rest.starts_with(b"<!") {
            // A DTD: the parser refuses it, so there is nothing to bound here.
            return Ok(());
        } else if rest.starts_with(b"</") {
            scan.skip_past(b">");
            if open.len() > 1 {
                open.pop();
            }
        } else {
            let line = scan.line;
            let tag = scan.start_tag();
            let too = |message: String| Error::Invalid { line, message };
            if tag.attributes > MAX_ATTRIBUTES {
                return Err(too(format!(
                    "an element with {} attributes, more than the {MAX_ATTRIBUTES} lockstep reads",
                    tag.attributes
                )));
            }
            if tag.longest_value > MAX_ATTRIBUTE_BYTES {
                return Err(too(format!(
                    "an attribute value of {} bytes, more than the {MAX_ATTRIBUTE_BYTES} lockstep reads",
                    tag.longest_value
                )));
            }
            if !tag.complete {
                return Ok(()); // not well-formed: the parser says where
            }
            let siblings = open.last_mut().expect("the document level is never popped");
            *siblings += 1;
            if *siblings > MAX_CHILDREN {
                return Err(too(format!(
                    "an element with more than {MAX_CHILDREN} child elements"
                )));
            }
            if !tag.self_closing {
                open.push(0);
                if open.len() - 1 > MAX_DEPTH {
                    return Err(too(format!(
                        "elements nested deeper than {MAX_DEPTH} levels"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// What [`Scan::start_tag`] saw in one start tag.
struct StartTag {
    attributes: usize,
    longest_value: usize,
    self_closing: bool,
    /// Whether it ended with `>` (not at a stray `<` or the end of the text).
    complete: bool,
}

/// A cursor over the text that counts lines as it moves (each byte is looked at once).
struct Scan<'t> {
    bytes: &'t [u8],
    at: usize,
    line: u32,
}

impl Scan<'_> {
    /// Moves to the next `<` and returns its offset.
    fn next_tag(&mut self) -> Option<usize> {
        while self.at < self.bytes.len() {
            match self.bytes[self.at] {
                b'<' => return Some(self.at),
                b'\n' => self.line += 1,
                _ => {}
            }
            self.at += 1;
        }
        None
    }

    /// Moves past the next `end` (to the end of the text when there is none).
    fn skip_past(&mut self, end: &[u8]) {
        let from = self.at;
        let found = self.bytes[from..]
            .windows(end.len())
            .position(|w| w == end)
            .map_or(self.bytes.len(), |p| from + p + end.len());
        self.line += count_lines(&self.bytes[from..found]);
        self.at = found;
    }

    /// Reads a start tag from its `<` to its `>` (or as far as it goes when it does not end).
    fn start_tag(&mut self) -> StartTag {
        let mut tag = StartTag {
            attributes: 0,
            longest_value: 0,
            self_closing: false,
            complete: false,
        };
        let mut quote: Option<(u8, usize)> = None;
        let mut previous = b'<';
        self.at += 1;
        while self.at < self.bytes.len() {
            let byte = self.bytes[self.at];
            if byte == b'\n' {
                self.line += 1;
            }
            match quote {
                Some((q, opened)) if byte == q => {
                    tag.longest_value = tag.longest_value.max(self.at - opened - 1);
                    quote = None;
                }
                Some(_) if byte == b'<' => return tag,
                Some(_) => {}
                None => match byte {
                    b'"' | b'\'' => quote = Some((byte, self.at)),
                    b'=' => tag.attributes += 1,
                    b'<' => return tag,
                    b'>' => {
                        tag.self_closing = previous == b'/';
                        tag.complete = true;
                        self.at += 1;
                        return tag;
                    }
                    _ => {}
                },
            }
            previous = byte;
            self.at += 1;
        }
        tag
    }
}

fn count_lines(bytes: &[u8]) -> u32 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u32
}

/// Line numbers of byte offsets, from an index of line starts built once (the parser's own
/// lookup scans from the start of the text every time: quadratic over many warnings).
pub(crate) struct Lines {
    starts: Vec<usize>,
}

impl Lines {
    pub(crate) fn new(text: &str) -> Lines {
        let starts = std::iter::once(0)
            .chain(
                text.bytes()
                    .enumerate()
                    .filter(|(_, b)| *b == b'\n')
                    .map(|(i, _)| i + 1),
            )
            .collect();
        Lines { starts }
    }

    /// The 1-based line of a byte offset.
    pub(crate) fn line_of(&self, offset: usize) -> u32 {
        self.starts.partition_point(|&start| start <= offset) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> String {
        check_shape(text).unwrap_err().to_string()
    }

    #[test]
    fn ordinary_documents_pass() {
        let policy = "<?xml version=\"1.0\"?>\n<!-- a > comment -->\n<AppLockerPolicy Version=\"1\">\n\
            <RuleCollection Type=\"Exe\" EnforcementMode=\"AuditOnly\"><X a='>' /></RuleCollection>\n\
            <![CDATA[ <not a tag ]]></AppLockerPolicy>";
        check_shape(policy).unwrap();
    }

    #[test]
    fn too_many_attributes_name_their_line() {
        let attributes: String = (0..=MAX_ATTRIBUTES)
            .map(|i| format!(" a{i}=\"\""))
            .collect();
        let text = format!("<R>\n\n<X{attributes}/></R>");
        let message = refused(&text);
        assert!(
            message.starts_with("line 3: an element with 65 attributes"),
            "{message}"
        );
    }

    #[test]
    fn long_values_many_children_and_deep_nesting_are_refused() {
        let long = format!("<R a=\"{}\"/>", "x".repeat(MAX_ATTRIBUTE_BYTES + 1));
        assert!(refused(&long).contains("attribute value of 131073 bytes"));

        let siblings = format!("<R>{}</R>", "<X/>".repeat(MAX_CHILDREN + 1));
        assert!(refused(&siblings).contains("more than 100000 child elements"));
        // Closed elements do not count towards their parent's siblings' depth.
        check_shape(&format!("<R>{}</R>", "<X></X>".repeat(1000))).unwrap();

        let deep = format!(
            "{}{}",
            "<X>".repeat(MAX_DEPTH + 1),
            "</X>".repeat(MAX_DEPTH + 1)
        );
        assert!(refused(&deep).contains("deeper than 64 levels"));
        check_shape(&format!(
            "{}{}",
            "<X>".repeat(MAX_DEPTH),
            "</X>".repeat(MAX_DEPTH)
        ))
        .unwrap();
    }

    #[test]
    fn line_index() {
        let lines = Lines::new("a\nbc\n\nd");
        let of = |offset| lines.line_of(offset);
        assert_eq!(
            (of(0), of(1), of(2), of(4), of(5), of(6)),
            (1, 1, 2, 2, 3, 4)
        );
    }
}
