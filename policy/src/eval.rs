//! The evaluator: what AppLocker decides for one file and user under a policy, if the
//! policy's collections were enforced (spec §3).
//!
//! 1. The file's collection is the only one consulted; a collection without rules allows
//!    everything, except that packaged apps are blocked when Exe has rules and Appx has none.
//! 2. Only rules whose `UserOrGroupSid` applies to the user count: Everyone always, the
//!    user's own SID, and groups a [`SidGroups`] table says the user is in. Without such a
//!    table, membership of other groups is unknown: those rules are left out and named in
//!    the verdict, so the reader knows what was not evaluated.
//! 3. A matching Deny rule (condition true, no exception true) blocks, whatever allows.
//! 4. Else a matching Allow rule allows. 5. Else the file is blocked (implicit deny).

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::model::{Action, CollectionKind, Condition, Policy, PublisherCondition};
use crate::path::{PathPattern, canonical};
use crate::version::Version;

/// The SID every user's token holds.
pub const EVERYONE: &str = "S-1-1-0";
/// `BUILTIN\Administrators`: who can write anywhere, so a path rule for them alone is no
/// bypass risk.
pub const ADMINISTRATORS: &str = "S-1-5-32-544";

/// What is known about one execution: the fields of an AppLocker event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FileFacts {
    pub collection: Option<CollectionKind>,
    /// `FilePath` as logged (`%OSDRIVE%\…`); packaged apps have none.
    pub path: Option<String>,
    /// From the FQBN; `None` for unsigned files. For packaged apps the product is the
    /// package name.
    pub publisher: Option<String>,
    pub product: Option<String>,
    pub binary: Option<String>,
    pub version: Option<Version>,
    /// Upper-case hex.
    pub hash: Option<String>,
    pub user_sid: Option<String>,
}

/// Which groups each user is in (`--sid-groups`, CSV `user_sid,group_sid`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SidGroups {
    members: HashMap<String, HashSet<String>>,
}

impl SidGroups {
    /// Parses `user_sid,group_sid` lines (header optional); errors name the line.
    pub fn parse(text: &str) -> Result<SidGroups, String> {
        let mut members: HashMap<String, HashSet<String>> = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim().trim_start_matches('\u{feff}');
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split(',').map(str::trim);
            let (Some(user), Some(group), None) = (fields.next(), fields.next(), fields.next())
            else {
                return Err(format!("line {}: expected `user_sid,group_sid`", i + 1));
            };
            if i == 0 && user.eq_ignore_ascii_case("user_sid") {
                continue;
            }
            for sid in [user, group] {
                if !is_sid(sid) {
                    return Err(format!("line {}: {sid:?} is not a SID (S-1-…)", i + 1));
                }
            }
            members
                .entry(user.to_ascii_uppercase())
                .or_default()
                .insert(group.to_ascii_uppercase());
        }
        Ok(SidGroups { members })
    }

    /// A table from `(user_sid, group_sid)` pairs.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> SidGroups {
        let mut members: HashMap<String, HashSet<String>> = HashMap::new();
        for (user, group) in pairs {
            members
                .entry(user.to_ascii_uppercase())
                .or_default()
                .insert(group.to_ascii_uppercase());
        }
        SidGroups { members }
    }

    /// Both tables' memberships.
    pub fn union(mut self, other: SidGroups) -> SidGroups {
        for (user, groups) in other.members {
            self.members.entry(user).or_default().extend(groups);
        }
        self
    }

    /// Whether `user` is in `group` (SIDs, any case).
    pub fn is_member(&self, user: &str, group: &str) -> bool {
        self.members
            .get(&user.to_ascii_uppercase())
            .is_some_and(|groups| groups.contains(&group.to_ascii_uppercase()))
    }
}

pub(crate) fn is_sid(text: &str) -> bool {
    text.len() >= 7
        && text
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("S-1-"))
        && text[4..]
            .split('-')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// An Allow rule matched.
    Allowed,
    /// The collection has no rules, so everything in it runs.
    NotCovered,
    /// A Deny rule matched.
    Denied,
    /// No Allow rule matched (or packaged apps without Appx rules).
    ImplicitDeny,
}

impl Decision {
    /// Every decision.
    pub const ALL: [Decision; 4] = [
        Decision::Allowed,
        Decision::NotCovered,
        Decision::Denied,
        Decision::ImplicitDeny,
    ];
    /// The decisions that block a file.
    pub const BLOCKING: [Decision; 2] = [Decision::Denied, Decision::ImplicitDeny];

    /// The decision as JSON and the what-if tables spell it (`implicit_deny`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Decision::Allowed => "allowed",
            Decision::NotCovered => "not_covered",
            Decision::Denied => "denied",
            Decision::ImplicitDeny => "implicit_deny",
        }
    }

    /// Whether the file would be blocked under enforcement.
    pub fn is_blocked(self) -> bool {
        matches!(self, Decision::Denied | Decision::ImplicitDeny)
    }
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A decision and the rule behind it, by index into the [`Evaluator`]'s rules (a verdict
/// is made for every distinct file in the store; it copies no rule text, so a policy with
/// long rule names costs no more per file). [`Evaluator::rule`] and [`Evaluator::explain`]
/// give the names and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub decision: Decision,
    /// The deciding rule (`Allowed`, `Denied`).
    pub rule: Option<RuleIndex>,
    /// Rules whose condition matched but whose group membership is unknown (no
    /// `--sid-groups`): they were not applied.
    pub not_evaluated: Vec<RuleIndex>,
    /// The file's collection had no rules ([`Decision::NotCovered`]), or it is a packaged
    /// app blocked for want of Appx rules ([`Decision::ImplicitDeny`]).
    pub why_no_rule: Option<NoRule>,
}

/// A rule of an [`Evaluator`], by its position in the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleIndex(pub u32);

/// Why no rule decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoRule {
    /// The event names no rule collection.
    NoCollection,
    /// The collection has no rules: everything in it runs.
    EmptyCollection(CollectionKind),
    /// Exe rules are enforced and the Appx collection has none: packaged apps are blocked.
    PackagedAppsWithoutAppxRules,
    /// No allow rule of the collection matched.
    NoAllowRule(CollectionKind),
}

/// What a verdict says about a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSummary {
    pub id: String,
    pub name: String,
    pub user_or_group_sid: String,
}

#[derive(Clone)]
struct CompiledRule {
    summary: RuleSummary,
    /// The SID, upper case, for comparing.
    sid: String,
    action: Action,
    condition: Matcher,
    exceptions: Vec<Matcher>,
}

#[derive(Clone)]
enum Matcher {
    Publisher(PublisherCondition),
    Path(PathPattern),
    Hash(HashSet<String>),
}

impl Matcher {
    fn new(condition: &Condition) -> Matcher {
        match condition {
            Condition::Publisher(p) => Matcher::Publisher(PublisherCondition {
                publisher_name: p.publisher_name.trim().to_uppercase(),
                product_name: p.product_name.trim().to_uppercase(),
                binary_name: p.binary_name.trim().to_uppercase(),
                low: p.low,
                high: p.high,
            }),
            Condition::Path(p) => Matcher::Path(PathPattern::new(&p.path)),
            Condition::Hash(h) => Matcher::Hash(
                h.hashes
                    .iter()
                    // Events carry AppLocker's SHA256 (Authenticode) hash only.
                    .filter(|f| f.kind.eq_ignore_ascii_case("SHA256"))
                    .map(|f| f.normalized())
                    .collect(),
            ),
        }
    }

    fn matches(&self, file: &Prepared<'_>) -> bool {
        match self {
            Matcher::Publisher(p) => {
                let Some(publisher) = &file.publisher else {
                    return false; // unsigned files never match a publisher condition
                };
                let any = |pattern: &str| pattern == "*";
                let name_ok = |pattern: &str, value: &Option<String>| {
                    any(pattern) || value.as_deref().unwrap_or("") == pattern
                };
                let version = file.facts.version.unwrap_or_default();
                (any(&p.publisher_name) || *publisher == p.publisher_name)
                    && name_ok(&p.product_name, &file.product)
                    && (p.binary_name == "?" || name_ok(&p.binary_name, &file.binary))
                    && p.low.is_none_or(|low| version >= low)
                    && p.high.is_none_or(|high| version <= high)
            }
            Matcher::Path(pattern) => file.path.as_deref().is_some_and(|p| pattern.matches(p)),
            Matcher::Hash(hashes) => file
                .facts
                .hash
                .as_deref()
                .is_some_and(|h| hashes.contains(&h.to_ascii_uppercase())),
        }
    }
}

/// A file's facts in the form the matchers compare (upper case, canonical path).
struct Prepared<'a> {
    facts: &'a FileFacts,
    path: Option<String>,
    publisher: Option<String>,
    product: Option<String>,
    binary: Option<String>,
}

/// A policy compiled for evaluating many files.
#[derive(Clone)]
pub struct Evaluator {
    /// Every rule, in policy order; [`RuleIndex`] is a position here.
    rules: Vec<CompiledRule>,
    /// Each collection's rules, as positions in `rules`.
    collections: HashMap<CollectionKind, Vec<u32>>,
    sid_groups: Option<SidGroups>,
}

impl Evaluator {
    pub fn new(policy: &Policy, sid_groups: Option<SidGroups>) -> Evaluator {
        let mut rules = Vec::new();
        let mut collections: HashMap<CollectionKind, Vec<u32>> = HashMap::new();
        for (kind, rule) in policy.rules() {
            collections
                .entry(kind)
                .or_default()
                .push(rules.len() as u32);
            rules.push(CompiledRule {
                summary: RuleSummary {
                    id: rule.id.clone(),
                    name: rule.name.clone(),
                    user_or_group_sid: rule.user_or_group_sid.clone(),
                },
                sid: rule.user_or_group_sid.trim().to_ascii_uppercase(),
                action: rule.action,
                condition: Matcher::new(&rule.condition),
                exceptions: rule.exceptions.iter().map(Matcher::new).collect(),
            });
        }
        Evaluator {
            rules,
            collections,
            sid_groups,
        }
    }

    /// Every rule, in policy order (a [`RuleIndex`] is a position in this list).
    pub fn rules(&self) -> impl ExactSizeIterator<Item = &RuleSummary> {
        self.rules.iter().map(|r| &r.summary)
    }

    /// The rule a verdict names.
    pub fn rule(&self, index: RuleIndex) -> &RuleSummary {
        &self.rules[index.0 as usize].summary
    }

    /// Why an allowed execution is a bypass risk: the deciding rule is a path rule for
    /// others than administrators, and the file lies where standard users can write
    /// ([`user_writable`](crate::path::user_writable)), so anyone could drop a program there
    /// and run it. `None` for every other verdict.
    pub fn writable_place_allowed(
        &self,
        facts: &FileFacts,
        verdict: &Verdict,
    ) -> Option<&'static str> {
        if verdict.decision != Decision::Allowed {
            return None;
        }
        let rule = &self.rules[verdict.rule?.0 as usize];
        if !matches!(rule.condition, Matcher::Path(_)) || rule.sid == ADMINISTRATORS {
            return None;
        }
        let path = canonical(facts.path.as_deref()?);
        if is_domain_scripts_share(&path) {
            return None;
        }
        crate::path::user_writable(&path)
    }

    /// Why the verdict is what it is, in words.
    pub fn explain(&self, verdict: &Verdict) -> String {
        let named = |index: Option<RuleIndex>| index.map(|i| self.rule(i).name.as_str());
        let mut reason = match (verdict.decision, named(verdict.rule), verdict.why_no_rule) {
            (Decision::Denied, Some(name), _) => format!("denied by rule {name:?}"),
            (Decision::Allowed, Some(name), _) => format!("allowed by rule {name:?}"),
            (_, _, Some(NoRule::NoCollection)) => "the event names no rule collection".into(),
            (_, _, Some(NoRule::EmptyCollection(kind))) => {
                format!("the {kind} collection has no rules: everything in it runs")
            }
            (_, _, Some(NoRule::PackagedAppsWithoutAppxRules)) => {
                "packaged apps are blocked when Exe rules are enforced and the Appx collection has no rules".into()
            }
            (_, _, Some(NoRule::NoAllowRule(kind))) => {
                format!("no allow rule in the {kind} collection matched (implicit deny)")
            }
            (decision, _, None) => decision.as_str().to_owned(),
        };
        if !verdict.not_evaluated.is_empty() && verdict.decision != Decision::Denied {
            reason.push_str(&format!(
                "; {} matching rule(s) for other groups were not evaluated (no --sid-groups)",
                verdict.not_evaluated.len()
            ));
        }
        reason
    }

    /// A rule not applied for want of group membership, as the reason lists it.
    pub fn not_evaluated_label(&self, index: RuleIndex) -> String {
        let rule = self.rule(index);
        format!("{} ({}, {})", rule.name, rule.id, rule.user_or_group_sid)
    }

    fn has_rules(&self, kind: CollectionKind) -> bool {
        self.collections.get(&kind).is_some_and(|r| !r.is_empty())
    }

    /// Whether the rule's SID applies to the user: `Some(true/false)`, or `None` when
    /// membership is unknown.
    fn applies(&self, rule_sid: &str, user: Option<&str>) -> Option<bool> {
        if rule_sid == EVERYONE {
            return Some(true);
        }
        if user.is_some_and(|u| u.eq_ignore_ascii_case(rule_sid)) {
            return Some(true);
        }
        match (&self.sid_groups, user) {
            (Some(groups), Some(user)) => Some(groups.is_member(user, rule_sid)),
            (Some(_), None) => Some(false),
            (None, _) => None,
        }
    }

    /// The verdict for one file.
    pub fn evaluate(&self, facts: &FileFacts) -> Verdict {
        let upper = |v: &Option<String>| v.as_ref().map(|s| s.trim().to_uppercase());
        let file = Prepared {
            facts,
            path: facts.path.as_deref().map(canonical),
            publisher: upper(&facts.publisher).filter(|p| !p.is_empty() && p != "-"),
            product: upper(&facts.product),
            binary: upper(&facts.binary),
        };
        let Some(kind) = facts.collection else {
            return no_rule(Decision::NotCovered, NoRule::NoCollection);
        };
        if !self.has_rules(kind) {
            if kind == CollectionKind::Appx && self.has_rules(CollectionKind::Exe) {
                return no_rule(Decision::ImplicitDeny, NoRule::PackagedAppsWithoutAppxRules);
            }
            return no_rule(Decision::NotCovered, NoRule::EmptyCollection(kind));
        }
        let mut not_evaluated = Vec::new();
        let mut allowed_by = None;
        for &index in &self.collections[&kind] {
            let rule = &self.rules[index as usize];
            let applies = self.applies(&rule.sid, facts.user_sid.as_deref());
            if applies == Some(false) {
                continue;
            }
            if !rule.condition.matches(&file) || rule.exceptions.iter().any(|e| e.matches(&file)) {
                continue;
            }
            if applies.is_none() {
                not_evaluated.push(RuleIndex(index));
                continue;
            }
            match rule.action {
                Action::Deny => {
                    return Verdict {
                        decision: Decision::Denied,
                        rule: Some(RuleIndex(index)),
                        not_evaluated,
                        why_no_rule: None,
                    };
                }
                Action::Allow => {
                    allowed_by = allowed_by.or(Some(RuleIndex(index)));
                }
            }
        }
        match allowed_by {
            Some(rule) => Verdict {
                decision: Decision::Allowed,
                rule: Some(rule),
                not_evaluated,
                why_no_rule: None,
            },
            None => Verdict {
                not_evaluated,
                ..no_rule(Decision::ImplicitDeny, NoRule::NoAllowRule(kind))
            },
        }
    }
}

/// `\\DOMAIN\SYSVOL\…` and `\\DOMAIN\NETLOGON\…`: the domain's logon-script shares,
/// which only domain administrators can write by default. A path rule there is the usual way
/// to let logon scripts run, not a bypass.
fn is_domain_scripts_share(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("\\\\") else {
        return false;
    };
    let share = rest.split('\\').nth(1).unwrap_or_default();
    share.eq_ignore_ascii_case("SYSVOL") || share.eq_ignore_ascii_case("NETLOGON")
}

fn no_rule(decision: Decision, why: NoRule) -> Verdict {
    Verdict {
        decision,
        rule: None,
        not_evaluated: Vec::new(),
        why_no_rule: Some(why),
    }
}
