//! Two policies compared by what their rules do, not how they are written: rule Ids, names,
//! descriptions, letter case, `%PROGRAMFILES%`-style spellings and order do not count.
//!
//! A rule is known across versions by its *subject* (collection, action, user or group,
//! and what it matches: the publisher/product/binary, the path, or the set of hashes);
//! what else it says (the publisher version range, the exceptions) is its *body*. Same
//! subject, other body: the rule **changed** (a publisher rule whose version range widened
//! is changed, not removed and added). A subject only in the newer policy was **added**,
//! only in the older one **removed**. A hash rule that gains a hash has another subject:
//! removed and added. Collections whose enforcement mode differs are listed too.
//!
//! [`content_hash`] is a hash of the same canonical form: two policies with the same hash
//! do the same.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::{Action, CollectionKind, Condition, EnforcementMode, Policy, Rule};

/// What changes from one policy to another.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PolicyDiff {
    pub added: Vec<RuleChange>,
    pub removed: Vec<RuleChange>,
    pub changed: Vec<RuleChange>,
    /// Collections whose enforcement mode differs.
    pub modes: Vec<ModeChange>,
}

impl PolicyDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && self.modes.is_empty()
    }
}

/// One rule added, removed or changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleChange {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub collection: CollectionKind,
    /// The rule's name (in the newer policy, for a change).
    pub name: String,
    /// What the rule matches and for whom, in words.
    pub subject: String,
    /// What changed (for a changed rule): `version range 1.0.0.0–* → 1.0.0.0–2.0.0.0`,
    /// `exception added: …`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

/// A collection's enforcement mode in each policy (`NotConfigured` when absent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModeChange {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub collection: CollectionKind,
    pub before: String,
    pub after: String,
}

/// Compares `before` with `after`.
pub fn diff(before: &Policy, after: &Policy) -> PolicyDiff {
    let (old, new) = (canonical_rules(before), canonical_rules(after));
    let mut out = PolicyDiff::default();
    for (subject, olds) in &old {
        let news = new.get(subject).map(Vec::as_slice).unwrap_or_default();
        // Rules with one subject pair up in body order; the unpaired ones were added or
        // removed (two identical rules are one rule written twice).
        let mut unmatched_new: Vec<&Canonical> = news.iter().collect();
        let mut unmatched_old = Vec::new();
        for o in olds {
            match unmatched_new.iter().position(|n| n.body == o.body) {
                Some(i) => {
                    unmatched_new.remove(i);
                }
                None => unmatched_old.push(o),
            }
        }
        for o in unmatched_old {
            if unmatched_new.is_empty() {
                out.removed.push(o.change(Vec::new()));
            } else {
                let n = unmatched_new.remove(0);
                out.changed.push(n.change(o.body.differences(&n.body)));
            }
        }
        out.added
            .extend(unmatched_new.into_iter().map(|n| n.change(Vec::new())));
    }
    for (subject, news) in &new {
        if !old.contains_key(subject) {
            out.added.extend(news.iter().map(|n| n.change(Vec::new())));
        }
    }
    for kind in CollectionKind::ALL {
        let (a, b) = (mode_of(before, kind), mode_of(after, kind));
        if a != b {
            out.modes.push(ModeChange {
                collection: kind,
                before: a.xml_name().into(),
                after: b.xml_name().into(),
            });
        }
    }
    out
}

/// A hash of what the policy does (its canonical rules and modes; not Ids, names or order),
/// as 32 hex digits.
pub fn content_hash(policy: &Policy) -> String {
    let mut text = String::new();
    for kind in CollectionKind::ALL {
        text.push_str(&format!("{kind}={}\n", mode_of(policy, kind).xml_name()));
    }
    for (subject, rules) in canonical_rules(policy) {
        let mut bodies: Vec<String> = rules.iter().map(|r| r.body.text()).collect();
        bodies.sort();
        bodies.dedup();
        for body in bodies {
            text.push_str(&format!("{subject:?}|{body}\n"));
        }
    }
    format!("{:032x}", crate::ids::fnv1a_128(&text))
}

fn mode_of(policy: &Policy, kind: CollectionKind) -> EnforcementMode {
    policy
        .collection(kind)
        .and_then(|c| c.mode)
        .unwrap_or(EnforcementMode::NotConfigured)
}

/// What a rule matches and for whom, canonical.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Subject {
    collection: CollectionKind,
    deny: bool,
    sid: String,
    matches: String,
}

/// What else a rule says, canonical.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Body {
    /// `low–high` of a publisher rule (`*` for an open end).
    range: Option<String>,
    exceptions: Vec<String>,
}

impl Body {
    fn text(&self) -> String {
        format!(
            "{}|{}",
            self.range.as_deref().unwrap_or(""),
            self.exceptions.join(";")
        )
    }

    fn differences(&self, newer: &Body) -> Vec<String> {
        let mut out = Vec::new();
        if self.range != newer.range {
            out.push(format!(
                "version range {} → {}",
                self.range.as_deref().unwrap_or("-"),
                newer.range.as_deref().unwrap_or("-")
            ));
        }
        for e in &newer.exceptions {
            if !self.exceptions.contains(e) {
                out.push(format!("exception added: {e}"));
            }
        }
        for e in &self.exceptions {
            if !newer.exceptions.contains(e) {
                out.push(format!("exception removed: {e}"));
            }
        }
        out
    }
}

struct Canonical {
    subject: Subject,
    body: Body,
    name: String,
    /// What it matches as written (paths as the policy spells them).
    shown: String,
}

impl Canonical {
    fn change(&self, details: Vec<String>) -> RuleChange {
        let s = &self.subject;
        RuleChange {
            collection: s.collection,
            name: self.name.clone(),
            subject: format!(
                "{} {} for {}",
                if s.deny { "deny" } else { "allow" },
                self.shown,
                s.sid
            ),
            details,
        }
    }
}

fn canonical_rules(policy: &Policy) -> BTreeMap<Subject, Vec<Canonical>> {
    let mut out: BTreeMap<Subject, Vec<Canonical>> = BTreeMap::new();
    for (kind, rule) in policy.rules() {
        let c = canonical(kind, rule);
        out.entry(c.subject.clone()).or_default().push(c);
    }
    out
}

fn canonical(kind: CollectionKind, rule: &Rule) -> Canonical {
    let mut exceptions: Vec<String> = rule.exceptions.iter().map(condition_text).collect();
    exceptions.sort();
    exceptions.dedup();
    let range = match &rule.condition {
        Condition::Publisher(p) => {
            let end = |v: Option<crate::Version>| v.map_or("*".to_owned(), |v| v.to_string());
            Some(format!("{}–{}", end(p.low), end(p.high)))
        }
        _ => None,
    };
    Canonical {
        subject: Subject {
            collection: kind,
            deny: rule.action == Action::Deny,
            sid: rule.user_or_group_sid.trim().to_ascii_uppercase(),
            matches: condition_text(&rule.condition),
        },
        body: Body { range, exceptions },
        name: rule.name.clone(),
        shown: match &rule.condition {
            Condition::Path(p) => format!("path {}", p.path.trim().to_uppercase()),
            other => condition_text(other),
        },
    }
}

/// A condition's match in words, canonical (upper case, paths in their canonical form,
/// hashes sorted), without a publisher's version range.
fn condition_text(condition: &Condition) -> String {
    let upper = |s: &str| s.trim().to_uppercase();
    match condition {
        Condition::Publisher(p) => format!(
            "publisher {} / {} / {}",
            upper(&p.publisher_name),
            upper(&p.product_name),
            upper(&p.binary_name)
        ),
        Condition::Path(p) => format!("path {}", crate::path::canonical(&p.path)),
        Condition::Hash(h) => {
            let mut hashes: Vec<String> = h
                .hashes
                .iter()
                .map(|f| format!("{}:{}", f.kind.to_ascii_uppercase(), f.normalized()))
                .collect();
            hashes.sort();
            hashes.dedup();
            format!("hash {}", hashes.join(","))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::parse;

    const HASH: &str = "ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB";

    fn policy(exe_mode: &str, rules: &str) -> Policy {
        let xml = format!(
            r#"<AppLockerPolicy Version="1"><RuleCollection Type="Exe" EnforcementMode="{exe_mode}">{rules}</RuleCollection></AppLockerPolicy>"#
        );
        parse(xml.as_bytes()).unwrap().policy
    }

    fn publisher(id: u32, name: &str, low: &str, high: &str, exceptions: &str) -> String {
        format!(
            r#"<FilePublisherRule Id="00000000-0000-4000-8000-{id:012}" Name="{name}" Description="" UserOrGroupSid="S-1-1-0" Action="Allow"><Conditions><FilePublisherCondition PublisherName="O=CONTOSO" ProductName="SUITE" BinaryName="*"><BinaryVersionRange LowSection="{low}" HighSection="{high}" /></FilePublisherCondition></Conditions>{exceptions}</FilePublisherRule>"#
        )
    }

    fn path(id: u32, path: &str) -> String {
        format!(
            r#"<FilePathRule Id="00000000-0000-4000-8000-{id:012}" Name="p{id}" Description="" UserOrGroupSid="S-1-1-0" Action="Allow"><Conditions><FilePathCondition Path="{path}" /></Conditions></FilePathRule>"#
        )
    }

    fn hash(id: u32, sid: &str) -> String {
        format!(
            r#"<FileHashRule Id="00000000-0000-4000-8000-{id:012}" Name="h{id}" Description="" UserOrGroupSid="{sid}" Action="Deny"><Conditions><FileHashCondition><FileHash Type="SHA256" Data="0x{HASH}" /></FileHashCondition></Conditions></FileHashRule>"#
        )
    }

    #[test]
    fn ids_names_case_and_order_are_not_changes() {
        let a = policy(
            "AuditOnly",
            &format!(
                "{}{}",
                publisher(1, "a", "1.0.0.0", "*", ""),
                path(2, "%PROGRAMFILES%\\*")
            ),
        );
        let b = policy(
            "AuditOnly",
            &format!(
                "{}{}",
                path(9, "%programfiles%\\*"),
                publisher(8, "renamed", "1.0.0.0", "*", "")
            ),
        );
        let d = diff(&a, &b);
        assert!(d.is_empty(), "{d:#?}");
        assert_eq!(content_hash(&a), content_hash(&b));
    }

    #[test]
    fn every_kind_of_change_is_found() {
        let exception =
            r#"<Exceptions><FilePathCondition Path="%OSDRIVE%\USERS\*" /></Exceptions>"#;
        let a = policy(
            "AuditOnly",
            &format!(
                "{}{}{}",
                publisher(1, "suite", "1.0.0.0", "*", ""),
                path(2, "%WINDIR%\\*"),
                hash(3, "S-1-1-0")
            ),
        );
        let b = policy(
            "Enabled",
            &format!(
                "{}{}{}",
                publisher(1, "suite", "1.0.0.0", "2.0.0.0", exception),
                path(4, "%PROGRAMFILES%\\*"),
                hash(3, "S-1-5-32-545")
            ),
        );
        let d = diff(&a, &b);
        assert_eq!(d.changed.len(), 1, "{d:#?}");
        assert_eq!(
            d.changed[0].details,
            [
                "version range 1.0.0.0–* → 1.0.0.0–2.0.0.0",
                "exception added: path %OSDRIVE%\\USERS\\*"
            ]
        );
        let subjects = |v: &[RuleChange]| v.iter().map(|c| c.subject.clone()).collect::<Vec<_>>();
        let mut added = subjects(&d.added);
        added.sort();
        assert_eq!(
            added,
            [
                "allow path %PROGRAMFILES%\\* for S-1-1-0".to_owned(),
                format!("deny hash SHA256:{HASH} for S-1-5-32-545"),
            ]
        );
        let mut removed = subjects(&d.removed);
        removed.sort();
        assert_eq!(
            removed,
            [
                "allow path %WINDIR%\\* for S-1-1-0".to_owned(),
                format!("deny hash SHA256:{HASH} for S-1-1-0"),
            ]
        );
        assert_eq!(
            d.modes,
            [ModeChange {
                collection: CollectionKind::Exe,
                before: "AuditOnly".into(),
                after: "Enabled".into()
            }]
        );
        assert_ne!(content_hash(&a), content_hash(&b));
        // And back: the same changes the other way.
        let back = diff(&b, &a);
        assert_eq!(
            (back.added.len(), back.removed.len(), back.changed.len()),
            (2, 2, 1)
        );
        assert_eq!(
            back.changed[0].details[1],
            "exception removed: path %OSDRIVE%\\USERS\\*"
        );
    }
}
