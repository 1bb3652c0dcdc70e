//! Writing policy XML that validates against Microsoft's `AppLocker.xsd` and that
//! `Set-AppLockerPolicy -XmlPolicy … -Merge` reads: UTF-8, one element per line.

use std::fmt::Write;

use crate::model::{Condition, Element, Policy, Rule, RuleCollection};

/// The policy as XML text (UTF-8, with a declaration).
pub fn to_xml(policy: &Policy) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    let _ = writeln!(
        out,
        "<AppLockerPolicy Version=\"{}\">",
        attr(&policy.version)
    );
    for c in &policy.collections {
        write_collection(&mut out, c);
    }
    if let Some(ext) = &policy.extensions {
        write_element(&mut out, ext, 1);
    }
    out.push_str("</AppLockerPolicy>\n");
    out
}

/// One `<RuleCollection>` element alone, as the AppLocker CSP's `…/Policy` nodes take it
/// (`crate::csp`).
pub fn collection_xml(collection: &RuleCollection) -> String {
    let mut out = String::new();
    write_collection(&mut out, collection);
    out
}

fn write_collection(out: &mut String, c: &RuleCollection) {
    let mode = c
        .mode
        .map(|m| format!(" EnforcementMode=\"{}\"", m.xml_name()))
        .unwrap_or_default();
    if c.rules.is_empty() && c.extensions.is_none() {
        let _ = writeln!(
            out,
            "  <RuleCollection Type=\"{}\"{mode} />",
            c.kind.xml_name()
        );
        return;
    }
    let _ = writeln!(
        out,
        "  <RuleCollection Type=\"{}\"{mode}>",
        c.kind.xml_name()
    );
    for rule in &c.rules {
        write_rule(out, rule);
    }
    if let Some(ext) = &c.extensions {
        write_element(out, ext, 2);
    }
    out.push_str("  </RuleCollection>\n");
}

/// One rule element alone, as a GPO's `registry.pol` stores it under the rule's key.
pub fn rule_xml(rule: &Rule) -> String {
    let mut out = String::new();
    write_rule(&mut out, rule);
    out.lines().map(str::trim).collect()
}

fn write_rule(out: &mut String, rule: &Rule) {
    let _ = writeln!(
        out,
        "    <{} Id=\"{}\" Name=\"{}\" Description=\"{}\" UserOrGroupSid=\"{}\" Action=\"{:?}\">",
        rule.element_name(),
        attr(&rule.id),
        attr(&rule.name),
        attr(&rule.description),
        attr(&rule.user_or_group_sid),
        rule.action,
    );
    out.push_str("      <Conditions>\n");
    write_condition(out, &rule.condition, 8);
    out.push_str("      </Conditions>\n");
    if !rule.exceptions.is_empty() && !matches!(rule.condition, Condition::Hash(_)) {
        out.push_str("      <Exceptions>\n");
        for e in &rule.exceptions {
            write_condition(out, e, 8);
        }
        out.push_str("      </Exceptions>\n");
    }
    let _ = writeln!(out, "    </{}>", rule.element_name());
}

fn write_condition(out: &mut String, condition: &Condition, indent: usize) {
    let pad = " ".repeat(indent);
    match condition {
        Condition::Publisher(p) => {
            let bound = |v: &Option<crate::Version>| v.map_or("*".to_owned(), |v| v.to_string());
            let _ = writeln!(
                out,
                "{pad}<FilePublisherCondition PublisherName=\"{}\" ProductName=\"{}\" BinaryName=\"{}\">",
                attr(&p.publisher_name),
                attr(&p.product_name),
                attr(&p.binary_name),
            );
            let _ = writeln!(
                out,
                "{pad}  <BinaryVersionRange LowSection=\"{}\" HighSection=\"{}\" />",
                bound(&p.low),
                bound(&p.high),
            );
            let _ = writeln!(out, "{pad}</FilePublisherCondition>");
        }
        Condition::Path(p) => {
            let _ = writeln!(out, "{pad}<FilePathCondition Path=\"{}\" />", attr(&p.path));
        }
        Condition::Hash(h) => {
            let _ = writeln!(out, "{pad}<FileHashCondition>");
            for hash in &h.hashes {
                let mut line = format!(
                    "{pad}  <FileHash Type=\"{}\" Data=\"{}\"",
                    attr(&hash.kind),
                    attr(&hash.data)
                );
                if let Some(name) = &hash.source_file_name {
                    let _ = write!(line, " SourceFileName=\"{}\"", attr(name));
                }
                if let Some(len) = &hash.source_file_length {
                    let _ = write!(line, " SourceFileLength=\"{}\"", attr(len));
                }
                let _ = writeln!(out, "{line} />");
            }
            let _ = writeln!(out, "{pad}</FileHashCondition>");
        }
    }
}

fn write_element(out: &mut String, e: &Element, depth: usize) {
    let pad = "  ".repeat(depth);
    let mut open = format!("{pad}<{}", e.name);
    for (name, value) in &e.attributes {
        let _ = write!(open, " {name}=\"{}\"", attr(value));
    }
    if e.children.is_empty() && e.text.is_empty() {
        let _ = writeln!(out, "{open} />");
        return;
    }
    if e.children.is_empty() {
        let _ = writeln!(out, "{open}>{}</{}>", text(&e.text), e.name);
        return;
    }
    let _ = writeln!(out, "{open}>");
    if !e.text.is_empty() {
        let _ = writeln!(out, "{pad}  {}", text(&e.text));
    }
    for child in &e.children {
        write_element(out, child, depth + 1);
    }
    let _ = writeln!(out, "{pad}</{}>", e.name);
}

/// Attribute value escaping; whitespace control characters are kept as character
/// references so they survive attribute-value normalisation.
fn attr(value: &str) -> String {
    let mut s = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '"' => s.push_str("&quot;"),
            '\t' => s.push_str("&#9;"),
            '\n' => s.push_str("&#10;"),
            '\r' => s.push_str("&#13;"),
            c => s.push(c),
        }
    }
    s
}

fn text(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A group's name as the stem of a policy file name (`finance` → `finance.xml`): anything but
/// ASCII letters, digits, `-` and `_` becomes `_`, so no name can leave the folder or clash
/// with the file system's syntax.
pub fn file_stem(group: &str) -> String {
    group
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::file_stem;

    #[test]
    fn only_safe_characters_remain() {
        assert_eq!(file_stem("it-ops_2"), "it-ops_2");
        assert_eq!(file_stem("../etc/passwd"), "___etc_passwd");
        assert_eq!(file_stem("Finance & HR"), "Finance___HR");
        assert_eq!(file_stem("Zürich"), "Z_rich");
    }
}
