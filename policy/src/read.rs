//! Reading policy XML as Windows and the tools in the wild write it (spec §1 "Encoding and
//! shape variations"): UTF-8 or UTF-16 with a BOM, with or without a declaration, bare
//! `RuleCollection` fragments, comments, unknown elements (reported as warnings, skipped).
//!
//! Hostile input is refused before it costs memory or time: files over
//! [`MAX_POLICY_BYTES`], any DTD (so no entity expansion), more than [`MAX_NODES`] nodes,
//! and the shapes that [`crate::limits`] bounds (attributes per element, attribute length,
//! children per element, depth), checked in one linear pass before the tree is built.
//! Nesting is only followed where the schema has it (extensions to [`MAX_EXTENSION_DEPTH`]
//! levels), and at most [`MAX_WARNINGS`] warnings are kept. Every step is linear in the
//! input.

use std::io::Read;
use std::path::Path;

use roxmltree::{Document, Node, ParsingOptions};

use crate::error::Error;
use crate::limits::{Lines, MAX_RULE_TEXT_CHARS, MAX_WARNINGS, check_shape};
use crate::model::{
    Action, CollectionKind, Condition, Element, EnforcementMode, FileHash, HashCondition,
    PathCondition, Policy, PublisherCondition, Rule, RuleCollection,
};
use crate::version::Version;

/// The largest policy file read (Windows-generated policies with thousands of hash rules stay
/// far below this).
pub const MAX_POLICY_BYTES: u64 = 32 * 1024 * 1024;
/// The most XML nodes parsed (about 100 bytes of memory each).
pub const MAX_NODES: u32 = 2_000_000;
/// The deepest extension element kept.
pub const MAX_EXTENSION_DEPTH: usize = 16;

/// A policy and what was skipped while reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub policy: Policy,
    /// Unknown elements and shapes that were accepted but are not valid policy, with lines.
    pub warnings: Vec<String>,
}

/// Reads a policy file (size checked before reading).
pub fn read_file(path: &Path) -> Result<Parsed, Error> {
    let io = |source| Error::Io {
        path: path.display().to_string(),
        cause: source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    if size > MAX_POLICY_BYTES {
        return Err(Error::TooLarge {
            size,
            limit: MAX_POLICY_BYTES,
        });
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(MAX_POLICY_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    parse(&bytes).map_err(|e| e.in_file(path))
}

/// Parses policy XML bytes.
pub fn parse(bytes: &[u8]) -> Result<Parsed, Error> {
    if bytes.len() as u64 > MAX_POLICY_BYTES {
        return Err(Error::TooLarge {
            size: bytes.len() as u64,
            limit: MAX_POLICY_BYTES,
        });
    }
    if crate::gpo::is_registry_pol(bytes) {
        return Err(Error::NotAPolicy(
            "a binary registry.pol (PReg) file, not policy XML: `lockstep policy import` reads it, or give the GPO backup folder".into(),
        ));
    }
    let text = decode(bytes)?;
    check_shape(&text)?;
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(&text, options).map_err(|e| Error::Xml {
        line: e.pos().row,
        column: e.pos().col,
        message: e.to_string(),
    })?;
    let mut reader = Reader {
        lines: Lines::new(&text),
        warnings: Vec::new(),
        unlisted_warnings: 0,
    };
    let policy = reader.policy(doc.root_element())?;
    let mut ids: Vec<String> = policy
        .rules()
        .map(|(_, r)| r.id.to_ascii_lowercase())
        .collect();
    ids.sort();
    for pair in ids.windows(2) {
        if pair[0] == pair[1] {
            reader.push_warning(format!("rule Id {} is used more than once", pair[0]));
        }
    }
    Ok(Parsed {
        policy,
        warnings: reader.finish_warnings(),
    })
}

/// UTF-8 (BOM optional) or UTF-16 LE/BE (BOM, or a leading `<` followed by a zero byte).
fn decode(bytes: &[u8]) -> Result<String, Error> {
    let utf16 = |body: &[u8], little: bool| -> Result<String, Error> {
        if !body.len().is_multiple_of(2) {
            return Err(Error::Encoding(
                "UTF-16 text with an odd number of bytes".into(),
            ));
        }
        let units: Vec<u16> = body
            .chunks_exact(2)
            .map(|p| {
                if little {
                    u16::from_le_bytes([p[0], p[1]])
                } else {
                    u16::from_be_bytes([p[0], p[1]])
                }
            })
            .collect();
        String::from_utf16(&units).map_err(|e| Error::Encoding(format!("bad UTF-16: {e}")))
    };
    let mismatch = |mark: &str, text: &str| {
        Err(Error::Encoding(format!(
            "a {mark} byte order mark before {text} text: save the policy as UTF-8 or UTF-16 with its own mark (Get-AppLockerPolicy -Xml | Out-File -Encoding utf8 does)"
        )))
    };
    match bytes {
        [0xEF, 0xBB, 0xBF, b'<', 0, ..] | [0xEF, 0xBB, 0xBF, 0, b'<', ..] => {
            mismatch("UTF-8", "UTF-16")
        }
        [0xFF, 0xFE, b'<', next, ..] | [0xFE, 0xFF, b'<', next, ..] if *next != 0 => {
            mismatch("UTF-16", "UTF-8")
        }
        [0xFF, 0xFE, rest @ ..] => utf16(rest, true),
        [0xFE, 0xFF, rest @ ..] => utf16(rest, false),
        [b'<', 0, ..] => utf16(bytes, true),
        [0, b'<', ..] => utf16(bytes, false),
        _ => {
            let body = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
            String::from_utf8(body.to_vec()).map_err(|e| {
                Error::Encoding(format!(
                    "neither UTF-8 nor UTF-16 with a byte order mark (bad byte at offset {})",
                    e.utf8_error().valid_up_to()
                ))
            })
        }
    }
}

/// What a document that is not a policy is, when it is one of the Group Policy files
/// admins confuse with one, and what to give instead.
fn known_not_a_policy(root: Node<'_, '_>) -> Option<String> {
    let settings = "http://www.microsoft.com/GroupPolicy/Settings";
    let (name, ns) = (root.tag_name().name(), root.tag_name().namespace());
    let backup = "give the GPO backup folder (Backup-GPO or the GPMC writes one), or its DomainSysvol/GPO/Machine/registry.pol";
    Some(match (name, ns) {
        ("GPO", Some(n)) if n == settings => {
            format!(
                "a GPMC report (gpreport.xml, Get-GPOReport), not a policy: it shows the rules but not as AppLocker reads them; {backup}"
            )
        }
        ("report", _) if root.children().any(|c| c.tag_name().name() == "GPO") => {
            format!("a GPMC report of several GPOs (Get-GPOReport -All), not a policy; {backup}")
        }
        ("Rsop", _) => format!(
            "a gpresult /x (RSoP) report, not a policy: on the computer, `Get-AppLockerPolicy -Effective -Xml` writes the policy in force; or {backup}"
        ),
        ("GroupPolicyBackupScheme" | "BackupInst" | "Backups", _) => {
            format!(
                "a GPO backup's bookkeeping ({name}), not a policy: give the backup folder itself"
            )
        }
        _ => return None,
    })
}

struct Reader {
    lines: Lines,
    warnings: Vec<String>,
    /// Warnings past [`MAX_WARNINGS`], counted, not kept.
    unlisted_warnings: usize,
}

impl Reader {
    fn line(&self, node: Node<'_, '_>) -> u32 {
        self.lines.line_of(node.range().start)
    }

    fn push_warning(&mut self, warning: String) {
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(warning);
        } else {
            self.unlisted_warnings += 1;
        }
    }

    fn finish_warnings(mut self) -> Vec<String> {
        if self.unlisted_warnings > 0 {
            self.warnings
                .push(format!("… and {} more warnings", self.unlisted_warnings));
        }
        self.warnings
    }

    fn invalid(&self, node: Node<'_, '_>, message: String) -> Error {
        Error::Invalid {
            line: self.line(node),
            message,
        }
    }

    fn warn(&mut self, node: Node<'_, '_>, message: String) {
        let line = self.line(node);
        self.push_warning(format!("line {line}: {message}"));
    }

    /// A rule's `Name` or `Description`, refused over the schema's length (Windows refuses it
    /// too, and the text is carried into every answer that names the rule).
    fn rule_text(&self, node: Node<'_, '_>, name: &str, value: &str) -> Result<String, Error> {
        let chars = value.chars().count();
        if chars > MAX_RULE_TEXT_CHARS {
            return Err(self.invalid(
                node,
                format!("the rule's {name} is {chars} characters, more than the {MAX_RULE_TEXT_CHARS} AppLocker allows"),
            ));
        }
        Ok(value.to_owned())
    }

    fn required(&self, node: Node<'_, '_>, name: &str) -> Result<String, Error> {
        node.attribute(name).map(str::to_owned).ok_or_else(|| {
            self.invalid(
                node,
                format!("<{}> has no {name} attribute", node.tag_name().name()),
            )
        })
    }

    fn policy(&mut self, root: Node<'_, '_>) -> Result<Policy, Error> {
        let mut policy = Policy::default();
        match root.tag_name().name() {
            "AppLockerPolicy" => {
                policy.version = root.attribute("Version").unwrap_or("1").to_owned();
                for child in element_children(root) {
                    match child.tag_name().name() {
                        "RuleCollection" => self.add_collection(&mut policy, child)?,
                        "PolicyExtensions" => policy.extensions = Some(self.element(child, 0)?),
                        other => self.warn(child, format!("unknown element <{other}> skipped")),
                    }
                }
            }
            "RuleCollection" => {
                self.warn(
                    root,
                    "no <AppLockerPolicy> root: read as a bare RuleCollection fragment".into(),
                );
                self.add_collection(&mut policy, root)?;
            }
            other => {
                if let Some(what) = known_not_a_policy(root) {
                    return Err(Error::NotAPolicy(what));
                }
                return Err(self.invalid(
                    root,
                    format!(
                        "the root element is <{other}>, not <AppLockerPolicy> or <RuleCollection>"
                    ),
                ));
            }
        }
        Ok(policy)
    }

    fn add_collection(&mut self, policy: &mut Policy, node: Node<'_, '_>) -> Result<(), Error> {
        let type_name = self.required(node, "Type")?;
        let Some(kind) = CollectionKind::parse(&type_name) else {
            self.warn(
                node,
                format!("unknown rule collection type {type_name:?} skipped"),
            );
            return Ok(());
        };
        if policy.collection(kind).is_some() {
            return Err(self.invalid(
                node,
                format!("a second {kind} rule collection (each type may appear once)"),
            ));
        }
        let mode = match node.attribute("EnforcementMode") {
            None => None,
            Some("NotConfigured") => Some(EnforcementMode::NotConfigured),
            Some("AuditOnly") => Some(EnforcementMode::AuditOnly),
            Some("Enabled") => Some(EnforcementMode::Enabled),
            Some(other) => {
                return Err(self.invalid(
                    node,
                    format!("EnforcementMode {other:?} is not NotConfigured, AuditOnly or Enabled"),
                ));
            }
        };
        let mut collection = RuleCollection::new(kind);
        collection.mode = mode;
        for child in element_children(node) {
            match child.tag_name().name() {
                "FilePublisherRule" | "FilePathRule" | "FileHashRule" => {
                    collection.rules.push(self.rule(child)?);
                }
                "RuleCollectionExtensions" => {
                    collection.extensions = Some(self.element(child, 0)?);
                }
                other => self.warn(child, format!("unknown element <{other}> skipped")),
            }
        }
        policy.collections.push(collection);
        Ok(())
    }

    fn rule(&mut self, node: Node<'_, '_>) -> Result<Rule, Error> {
        let element = node.tag_name().name();
        let action = match self.required(node, "Action")?.as_str() {
            "Allow" => Action::Allow,
            "Deny" => Action::Deny,
            other => {
                return Err(self.invalid(node, format!("Action {other:?} is not Allow or Deny")));
            }
        };
        let id = self.required(node, "Id")?;
        let mut condition = None;
        let mut exceptions = Vec::new();
        for child in element_children(node) {
            match child.tag_name().name() {
                "Conditions" => {
                    for c in element_children(child) {
                        match self.condition(c)? {
                            Some(parsed) if condition.is_none() => condition = Some(parsed),
                            Some(_) => {
                                return Err(self
                                    .invalid(c, format!("rule {id} has more than one condition")));
                            }
                            None => {}
                        }
                    }
                }
                "Exceptions" if element == "FileHashRule" => self.warn(
                    child,
                    format!("rule {id}: a FileHashRule cannot have exceptions; skipped"),
                ),
                "Exceptions" => {
                    for c in element_children(child) {
                        exceptions.extend(self.condition(c)?);
                    }
                }
                other => self.warn(child, format!("unknown element <{other}> skipped")),
            }
        }
        let condition =
            condition.ok_or_else(|| self.invalid(node, format!("rule {id} has no condition")))?;
        let expected = match condition {
            Condition::Publisher(_) => "FilePublisherRule",
            Condition::Path(_) => "FilePathRule",
            Condition::Hash(_) => "FileHashRule",
        };
        if expected != element {
            return Err(self.invalid(
                node,
                format!("rule {id} is a <{element}> with the condition of a <{expected}>"),
            ));
        }
        Ok(Rule {
            name: self.rule_text(node, "Name", &self.required(node, "Name")?)?,
            description: self.rule_text(
                node,
                "Description",
                node.attribute("Description").unwrap_or(""),
            )?,
            user_or_group_sid: self.required(node, "UserOrGroupSid")?,
            id,
            action,
            condition,
            exceptions,
        })
    }

    /// A condition, or `None` (with a warning) for an element that is not one.
    fn condition(&mut self, node: Node<'_, '_>) -> Result<Option<Condition>, Error> {
        Ok(Some(match node.tag_name().name() {
            "FilePublisherCondition" => {
                let range = element_children(node).find(|c| c.has_tag_name("BinaryVersionRange"));
                let bound = |name: &str| -> Result<Option<Version>, Error> {
                    match range.and_then(|r| r.attribute(name)) {
                        None | Some("*") => Ok(None),
                        Some(text) => text.parse().map(Some).map_err(|e: String| {
                            self.invalid(range.unwrap_or(node), format!("{name}: {e}"))
                        }),
                    }
                };
                Condition::Publisher(PublisherCondition {
                    publisher_name: self.required(node, "PublisherName")?,
                    product_name: self.required(node, "ProductName")?,
                    binary_name: self.required(node, "BinaryName")?,
                    low: bound("LowSection")?,
                    high: bound("HighSection")?,
                })
            }
            "FilePathCondition" => Condition::Path(PathCondition {
                path: self.required(node, "Path")?,
            }),
            "FileHashCondition" => {
                let mut hashes = Vec::new();
                for h in element_children(node) {
                    if !h.has_tag_name("FileHash") {
                        let name = h.tag_name().name().to_owned();
                        self.warn(h, format!("unknown element <{name}> skipped"));
                        continue;
                    }
                    hashes.push(self.file_hash(h)?);
                }
                if hashes.is_empty() {
                    return Err(self.invalid(node, "a FileHashCondition without FileHash".into()));
                }
                Condition::Hash(HashCondition { hashes })
            }
            other => {
                self.warn(node, format!("unknown element <{other}> skipped"));
                return Ok(None);
            }
        }))
    }

    /// A `FileHash`: its type and data as the schema has them (Windows refuses others),
    /// and a warning for a source length that is not a byte count.
    fn file_hash(&mut self, node: Node<'_, '_>) -> Result<FileHash, Error> {
        let kind = self.required(node, "Type")?;
        let digits = match kind.as_str() {
            "SHA256" | "SHA256Flat" => 64,
            "SHA1" => 40,
            other => {
                return Err(self.invalid(
                    node,
                    format!("FileHash Type {other:?} is not SHA256, SHA256Flat or SHA1"),
                ));
            }
        };
        let data = self.required(node, "Data")?;
        let hex = data.strip_prefix("0x").or_else(|| data.strip_prefix("0X"));
        if !hex.is_some_and(|h| h.len() == digits && h.bytes().all(|b| b.is_ascii_hexdigit())) {
            let shown: String = data.chars().take(80).collect();
            return Err(self.invalid(
                node,
                format!(
                    "FileHash Data {shown:?} is not 0x and {digits} hex digits (a {kind} hash)"
                ),
            ));
        }
        let source_file_length = node.attribute("SourceFileLength").map(str::to_owned);
        if let Some(length) = &source_file_length
            && length.parse::<u64>().is_err()
        {
            let shown: String = length.chars().take(40).collect();
            self.warn(
                node,
                format!("FileHash SourceFileLength {shown:?} is not a byte count; kept as written"),
            );
        }
        Ok(FileHash {
            kind,
            data,
            source_file_name: node.attribute("SourceFileName").map(str::to_owned),
            source_file_length,
        })
    }

    /// An element kept verbatim (bounded depth).
    fn element(&self, node: Node<'_, '_>, depth: usize) -> Result<Element, Error> {
        if depth > MAX_EXTENSION_DEPTH {
            return Err(self.invalid(
                node,
                format!("extension elements nested deeper than {MAX_EXTENSION_DEPTH} levels"),
            ));
        }
        Ok(Element {
            name: node.tag_name().name().to_owned(),
            attributes: node
                .attributes()
                .map(|a| (a.name().to_owned(), a.value().to_owned()))
                .collect(),
            children: element_children(node)
                .map(|c| self.element(c, depth + 1))
                .collect::<Result<_, _>>()?,
            text: node
                .children()
                .filter(Node::is_text)
                .filter_map(|t| t.text())
                .collect::<String>()
                .trim()
                .to_owned(),
        })
    }
}

fn element_children<'a, 'i>(node: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children().filter(Node::is_element)
}
