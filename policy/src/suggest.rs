//! Rules that would let observed apps run (docs/architecture.md "Rule suggestions").
//!
//! - Signed files get publisher rules at the chosen [`Granularity`] (default: product, or
//!   binary for Microsoft, whose one product name covers all of Windows); a product seen
//!   with many binaries gets one product rule instead of one rule per binary.
//! - Unsigned files get path rules only where every observed path is admin-only
//!   ([`user_writable`] is `None`), hash rules elsewhere. Never a path rule on a
//!   user-writable place.
//! - Items that should be reviewed rather than allowed carry the reasons: unsigned, unsigned
//!   in a user-writable place, seen on one host only, denied by an explicit rule of the
//!   current policy, or impossible to allow safely (no signature, no hash, writable path).
//!
//! Rule Ids come from the rule's content, so the same evidence gives the same XML.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::identities::{NamedUser, users_listed};
use crate::ids::content_id;
use crate::model::{
    Action, CollectionKind, Condition, EnforcementMode, FileHash, HashCondition, PathCondition,
    Policy, PublisherCondition, Rule,
};
use crate::path::{canonical, user_writable};
use crate::version::Version;

/// A product seen with at least this many binaries gets one product rule.
pub const CONSOLIDATE_BINARIES: usize = 5;

/// The id of Windows' default "All signed packaged apps" rule (spec §4).
pub const DEFAULT_APPX_RULE_ID: &str = "a9e18c21-ff8f-43cf-b9fc-db40eed693ba";

/// How specific publisher rules are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Granularity {
    Publisher,
    Product,
    Binary,
    /// Binary, from the lowest version observed upwards.
    Version,
}

/// One app that would be blocked, with what was observed of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppEvidence {
    /// The app's stable id and its label, as the query layer names apps.
    pub app_id: String,
    pub label: String,
    pub collection: Option<CollectionKind>,
    pub publisher: Option<String>,
    pub product: Option<String>,
    pub binary: Option<String>,
    pub min_version: Option<Version>,
    pub hash: Option<String>,
    /// Distinct paths as logged.
    pub paths: Vec<String>,
    pub events: u64,
    pub hosts: u64,
    pub users: u64,
    /// The hosts and users it was seen with, when known: a rule covering several apps then
    /// reports the exact union instead of the largest single count.
    pub host_names: Vec<String>,
    pub user_sids: Vec<String>,
    /// The rule of the current policy that explicitly denies it, if any.
    pub denied_by: Option<String>,
}

impl AppEvidence {
    fn file_name(&self) -> &str {
        self.paths
            .first()
            .and_then(|p| p.rsplit('\\').next())
            .unwrap_or("")
    }
}

/// A suggested rule, or an app no rule should allow, with the evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Suggestion {
    pub collection: CollectionKind,
    /// `None` when no safe rule exists.
    pub rule: Option<Rule>,
    /// The apps it covers (labels), sorted.
    pub apps: Vec<String>,
    /// Their ids, in the same order.
    pub app_ids: Vec<String>,
    pub events: u64,
    /// Distinct hosts and users the covered apps were seen with (the union when the apps'
    /// host and user lists are known, else the largest single count).
    pub hosts: u64,
    pub users: u64,
    /// The first of those users (by SID; [`crate::identities::USERS_LISTED`]), named where
    /// known.
    pub users_seen: Vec<NamedUser>,
    pub why: String,
    /// Why it should be reviewed before it is allowed; empty when it is safe to apply.
    pub review: Vec<ReviewReason>,
}

/// Why a suggestion should be looked at before it is allowed: a stable `code` for programs
/// (the dashboard, scripts) and a `message` for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReviewReason {
    pub code: ReviewCode,
    pub message: String,
}

/// The kinds of [`ReviewReason`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ReviewCode {
    /// The file is not signed: a hash or path rule, not a publisher rule.
    Unsigned,
    /// Unsigned and run from a place standard users can write to.
    UserWritableLocation,
    /// An explicit deny rule of the current policy matches: no allow rule can help.
    DeniedByCurrentPolicy,
    /// Neither a signature, nor a hash, nor an admin-only path: nothing can allow it safely.
    NoSafeRule,
    /// The signature has no product name: the rule allows everything the publisher signed.
    WholePublisher,
    /// Seen on one host only: perhaps one user's tool rather than the group's.
    SingleHost,
}

impl ReviewReason {
    fn new(code: ReviewCode, message: impl Into<String>) -> ReviewReason {
        ReviewReason {
            code,
            message: message.into(),
        }
    }
}

/// Suggestion options.
#[derive(Debug, Clone)]
pub struct SuggestOptions {
    /// `None`: product, or binary for Microsoft.
    pub granularity: Option<Granularity>,
    /// The SID the rules apply to (default Everyone: the policy is linked to the group's
    /// computers, so it should apply to whoever works on them).
    pub sid: String,
    /// A label for descriptions (the business group).
    pub group: String,
}

impl Default for SuggestOptions {
    fn default() -> Self {
        SuggestOptions {
            granularity: None,
            sid: crate::eval::EVERYONE.into(),
            group: String::new(),
        }
    }
}

/// The suggestions for one group's apps, sorted (collection, rule kind, name).
pub fn suggest(apps: &[AppEvidence], opts: &SuggestOptions) -> Vec<Suggestion> {
    // Products seen with many binaries: one rule for the product.
    let mut binaries: BTreeMap<(CollectionKind, String, String), Vec<&str>> = BTreeMap::new();
    for app in apps {
        if let (Some(c), Some(p), Some(prod), Some(bin)) =
            (app.collection, &app.publisher, &app.product, &app.binary)
        {
            let list = binaries
                .entry((c, p.to_uppercase(), prod.to_uppercase()))
                .or_default();
            if !list.contains(&bin.as_str()) {
                list.push(bin);
            }
        }
    }
    let mut merged: BTreeMap<String, Suggestion> = BTreeMap::new();
    let mut seen_with: BTreeMap<String, (BTreeSet<&str>, BTreeSet<&str>)> = BTreeMap::new();
    for app in apps {
        let Some(collection) = app.collection else {
            continue;
        };
        let many = match (&app.publisher, &app.product) {
            (Some(p), Some(prod)) => binaries
                .get(&(collection, p.to_uppercase(), prod.to_uppercase()))
                .map_or(0, Vec::len),
            _ => 0,
        };
        for draft in drafts(app, collection, many, opts) {
            let key = draft
                .rule
                .as_ref()
                .map_or_else(|| format!("none|{}", app.app_id), |r| r.id.clone());
            let (hosts, users) = seen_with.entry(key.clone()).or_default();
            hosts.extend(app.host_names.iter().map(String::as_str));
            users.extend(app.user_sids.iter().map(String::as_str));
            match merged.get_mut(&key) {
                Some(s) => {
                    s.apps.push(app.label.clone());
                    s.app_ids.push(app.app_id.clone());
                    s.events += app.events;
                    s.hosts = s.hosts.max(app.hosts);
                    s.users = s.users.max(app.users);
                    for r in draft.review {
                        if !s.review.contains(&r) {
                            s.review.push(r);
                        }
                    }
                }
                None => {
                    merged.insert(key, draft);
                }
            }
        }
    }
    for (key, s) in &mut merged {
        if let Some((hosts, users)) = seen_with.get(key) {
            s.hosts = s.hosts.max(hosts.len() as u64);
            s.users = s.users.max(users.len() as u64);
            s.users_seen = users_listed(users.iter().copied());
        }
    }
    let mut out: Vec<Suggestion> = merged.into_values().collect();
    for s in &mut out {
        sort_apps(s);
        if s.hosts <= 1 {
            push_unique(
                &mut s.review,
                ReviewReason::new(ReviewCode::SingleHost, "seen on one host only"),
            );
        }
        if let Some(rule) = &mut s.rule {
            rule.description = format!(
                "Suggested by lockstep{}: {} audit events, {} app(s), {} hosts, {} users. {}",
                if opts.group.is_empty() {
                    String::new()
                } else {
                    format!(" for {}", opts.group)
                },
                s.events,
                s.apps.len(),
                s.hosts,
                s.users,
                s.why
            );
        }
    }
    out.sort_by(|a, b| {
        let kind = |s: &Suggestion| s.rule.as_ref().map_or(3, |r| kind_order(&r.condition));
        let name = |s: &Suggestion| {
            s.rule
                .as_ref()
                .map_or_else(|| s.apps.join(","), |r| r.name.clone())
        };
        (a.collection, kind(a), name(a)).cmp(&(b.collection, kind(b), name(b)))
    });
    out
}

/// Sorts a suggestion's apps by label, keeping each id beside its label, without repeats.
fn sort_apps(s: &mut Suggestion) {
    let mut apps: Vec<(String, String)> = std::mem::take(&mut s.apps)
        .into_iter()
        .zip(std::mem::take(&mut s.app_ids))
        .collect();
    apps.sort();
    apps.dedup();
    (s.apps, s.app_ids) = apps.into_iter().unzip();
}

fn push_unique(list: &mut Vec<ReviewReason>, item: ReviewReason) {
    if !list.contains(&item) {
        list.push(item);
    }
}

fn kind_order(c: &Condition) -> u8 {
    match c {
        Condition::Publisher(_) => 0,
        Condition::Path(_) => 1,
        Condition::Hash(_) => 2,
    }
}

/// The rules (usually one) for one app.
fn drafts(
    app: &AppEvidence,
    collection: CollectionKind,
    binaries_of_product: usize,
    opts: &SuggestOptions,
) -> Vec<Suggestion> {
    let mut review = Vec::new();
    if let Some(rule) = &app.denied_by {
        review.push(ReviewReason::new(
            ReviewCode::DeniedByCurrentPolicy,
            format!(
                "denied by rule {rule:?} of the current policy: deny beats allow, so no allow rule can help"
            ),
        ));
    }
    let base = |rule: Option<Rule>, why: String, review: Vec<ReviewReason>| Suggestion {
        collection,
        rule,
        apps: vec![app.label.clone()],
        app_ids: vec![app.app_id.clone()],
        events: app.events,
        hosts: app.hosts,
        users: app.users,
        users_seen: Vec::new(),
        why,
        review,
    };
    if let Some(publisher) = app
        .publisher
        .as_deref()
        .filter(|p| !p.is_empty() && *p != "-")
    {
        let (condition, why) = publisher_condition(
            app,
            publisher,
            collection,
            binaries_of_product,
            opts,
            &mut review,
        );
        let rule = make_rule(
            collection,
            &opts.sid,
            Condition::Publisher(condition),
            &app_name(app, collection),
        );
        return vec![base(Some(rule), why, review)];
    }
    review.push(ReviewReason::new(ReviewCode::Unsigned, "unsigned"));
    let writable: Vec<(&String, &'static str)> = app
        .paths
        .iter()
        .filter_map(|p| user_writable(&canonical(p)).map(|why| (p, why)))
        .collect();
    if writable.is_empty() && !app.paths.is_empty() && collection != CollectionKind::Appx {
        return app
            .paths
            .iter()
            .map(|path| {
                let rule = make_rule(
                    collection,
                    &opts.sid,
                    Condition::Path(PathCondition { path: path.clone() }),
                    &format!("{} (path)", path.rsplit('\\').next().unwrap_or(path)),
                );
                base(
                    Some(rule),
                    format!("unsigned, in an admin-only location: a path rule on {path}"),
                    review.clone(),
                )
            })
            .collect();
    }
    if let Some((path, place)) = writable.first() {
        review.push(ReviewReason::new(
            ReviewCode::UserWritableLocation,
            format!("unsigned in a user-writable place: {path} is {place}"),
        ));
    }
    match app.hash.as_ref().filter(|h| FileHash::is_sha256_hex(h)) {
        Some(hash) => {
            let rule = make_rule(
                collection,
                &opts.sid,
                Condition::Hash(HashCondition {
                    hashes: vec![FileHash {
                        kind: "SHA256".into(),
                        data: format!("0x{}", hash.to_ascii_uppercase()),
                        source_file_name: Some(app.file_name().to_owned())
                            .filter(|n| !n.is_empty()),
                        source_file_length: None,
                    }],
                }),
                &format!("{} (hash)", app.file_name()),
            );
            vec![base(
                Some(rule),
                "unsigned and not in an admin-only location: a hash rule (allows this exact file, any update needs a new rule)".into(),
                review,
            )]
        }
        None => {
            review.push(ReviewReason::new(
                ReviewCode::NoSafeRule,
                "no signature, no hash and not in an admin-only location: no rule can allow it safely (sign it or install it under Program Files)",
            ));
            vec![base(None, "no safe rule".into(), review)]
        }
    }
}

fn publisher_condition(
    app: &AppEvidence,
    publisher: &str,
    collection: CollectionKind,
    binaries_of_product: usize,
    opts: &SuggestOptions,
    review: &mut Vec<ReviewReason>,
) -> (PublisherCondition, String) {
    let microsoft = publisher.to_uppercase().contains("O=MICROSOFT CORPORATION");
    let mut level = opts.granularity.unwrap_or(if microsoft {
        Granularity::Binary
    } else {
        Granularity::Product
    });
    let product = app.product.clone().unwrap_or_default();
    let binary = app.binary.clone().unwrap_or_default();
    let mut why = format!(
        "signed by {}: a publisher rule ({level:?} level)",
        short_publisher(publisher)
    );
    let appx = collection == CollectionKind::Appx;
    if appx && level == Granularity::Binary {
        level = Granularity::Product; // packaged apps: ProductName is the package, BinaryName `*`
    }
    if matches!(level, Granularity::Binary | Granularity::Version) && !appx {
        if binary.is_empty() {
            level = Granularity::Product;
            why.push_str("; no original file name in the signature, so product level");
        } else if binaries_of_product >= CONSOLIDATE_BINARIES
            && opts.granularity != Some(Granularity::Version)
        {
            level = Granularity::Product;
            why = format!(
                "signed by {}: one product rule for the {binaries_of_product} binaries of {product} seen",
                short_publisher(publisher)
            );
        }
    }
    if level != Granularity::Publisher && product.is_empty() {
        level = Granularity::Publisher;
        why.push_str("; no product name in the signature, so publisher level");
        review.push(ReviewReason::new(
            ReviewCode::WholePublisher,
            "allows everything this publisher signed (no product name to narrow it)",
        ));
    }
    let star = || "*".to_owned();
    let condition = PublisherCondition {
        publisher_name: publisher.to_owned(),
        product_name: if level == Granularity::Publisher {
            star()
        } else {
            product
        },
        binary_name: if matches!(level, Granularity::Binary | Granularity::Version) && !appx {
            binary
        } else {
            star()
        },
        low: if level == Granularity::Version {
            app.min_version
        } else {
            None
        },
        high: None,
    };
    (condition, why)
}

fn app_name(app: &AppEvidence, collection: CollectionKind) -> String {
    let product = app.product.as_deref().unwrap_or("");
    let publisher = short_publisher(app.publisher.as_deref().unwrap_or(""));
    if collection == CollectionKind::Appx || app.binary.as_deref().unwrap_or("").is_empty() {
        format!("{publisher}: {product}")
    } else {
        format!(
            "{publisher}: {product} ({})",
            app.binary.as_deref().unwrap_or("")
        )
    }
}

/// `O=` (else `CN=`) of a distinguished name, for names and labels. Values may be quoted
/// and contain commas (`CN="ZOOM VIDEO COMMUNICATIONS, INC."`).
pub fn short_publisher(dn: &str) -> String {
    let mut parts = Vec::new();
    let (mut current, mut quoted) = (String::new(), false);
    for c in dn.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => parts.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    parts.push(current);
    let part = |key: &str| {
        parts
            .iter()
            .find_map(|p| p.trim().strip_prefix(key).map(str::to_owned))
    };
    part("O=")
        .or_else(|| part("CN="))
        .unwrap_or_else(|| dn.to_owned())
}

/// A rule with an Id derived from its content.
fn make_rule(collection: CollectionKind, sid: &str, condition: Condition, name: &str) -> Rule {
    rule_of(collection, Action::Allow, sid, condition, name)
}

/// Scopes each suggested rule for Everyone to the narrowest imported AD group that holds
/// every user its apps were seen with (`suggest --scope-to-groups`): the rule then lets only
/// those people run it. Rules whose apps have no known users, or no common group, stay as
/// they are. The rule Id follows the new SID (Ids come from the content).
pub fn scope_to_groups(
    suggestions: &mut [Suggestion],
    apps: &[AppEvidence],
    directory: &crate::identities::Directory,
) {
    for s in suggestions {
        let Some(rule) = &s.rule else { continue };
        if !rule
            .user_or_group_sid
            .eq_ignore_ascii_case(crate::eval::EVERYONE)
        {
            continue;
        }
        let mut users: Vec<String> = apps
            .iter()
            .filter(|a| s.app_ids.contains(&a.app_id))
            .flat_map(|a| a.user_sids.iter().cloned())
            .collect();
        users.sort();
        users.dedup();
        if users.is_empty() {
            continue;
        }
        let Some(group) = directory.narrowest_common_group(&users) else {
            continue;
        };
        let mut scoped = rule_of(
            s.collection,
            rule.action,
            &group.sid,
            rule.condition.clone(),
            &rule.name,
        );
        scoped.name = rule.name.clone();
        scoped.description = rule.description.clone();
        s.why.push_str(&format!(
            "; scoped to {} ({}): all {} user(s) seen running it are members",
            group.name,
            group.sid,
            users.len()
        ));
        s.rule = Some(scoped);
    }
}

/// The narrowest rule that blocks one app and nothing else, for a decision to keep it blocked
/// that the policy in force would not hold (an allow rule covers it): its publisher, product
/// and binary, every version, when signed; its hash when unsigned; its (generalised) path
/// when it has neither. `None` without a collection or an identity.
pub fn deny_rule(app: &AppEvidence, sid: &str) -> Option<Rule> {
    let collection = app.collection?;
    let hash = app.hash.as_ref().filter(|h| FileHash::is_sha256_hex(h));
    let condition = match (&app.publisher, hash) {
        (Some(publisher), _) => Condition::Publisher(PublisherCondition {
            publisher_name: publisher.clone(),
            product_name: app.product.clone().unwrap_or_else(|| "*".into()),
            binary_name: app
                .binary
                .clone()
                .filter(|b| !b.is_empty())
                .unwrap_or_else(|| "*".into()),
            low: None,
            high: None,
        }),
        (None, Some(hash)) => Condition::Hash(HashCondition {
            hashes: vec![FileHash {
                kind: "SHA256".into(),
                data: format!("0x{}", hash.to_ascii_uppercase()),
                source_file_name: Some(app.file_name().to_owned()).filter(|n| !n.is_empty()),
                source_file_length: None,
            }],
        }),
        (None, None) => Condition::Path(PathCondition {
            path: app.paths.first()?.clone(),
        }),
    };
    let mut rule = rule_of(
        collection,
        Action::Deny,
        sid,
        condition,
        &format!("Blocked on purpose: {}", app.label),
    );
    rule.name = format!("Blocked on purpose: {}", app.label);
    Some(rule)
}

pub(crate) fn rule_of(
    collection: CollectionKind,
    action: Action,
    sid: &str,
    condition: Condition,
    name: &str,
) -> Rule {
    let content = match &condition {
        Condition::Publisher(p) => format!(
            "publisher|{}|{}|{}|{:?}|{:?}",
            p.publisher_name.to_uppercase(),
            p.product_name.to_uppercase(),
            p.binary_name.to_uppercase(),
            p.low,
            p.high
        ),
        Condition::Path(p) => format!("path|{}", canonical(&p.path)),
        Condition::Hash(h) => format!(
            "hash|{}",
            h.hashes
                .iter()
                .map(FileHash::normalized)
                .collect::<Vec<_>>()
                .join(",")
        ),
    };
    let name = match &condition {
        Condition::Publisher(p) if p.product_name == "*" => {
            format!("{}: all signed files", short_publisher(&p.publisher_name))
        }
        Condition::Publisher(p) if p.binary_name == "*" => {
            format!("{}: {}", short_publisher(&p.publisher_name), p.product_name)
        }
        Condition::Publisher(p) => format!(
            "{}: {} ({}{})",
            short_publisher(&p.publisher_name),
            p.product_name,
            p.binary_name,
            p.low.map(|v| format!(" {v} and above")).unwrap_or_default()
        ),
        _ => name.to_owned(),
    };
    Rule {
        id: content_id(&format!(
            "{collection}|{action:?}|{}|{content}",
            sid.to_uppercase()
        )),
        name,
        description: String::new(),
        user_or_group_sid: sid.to_owned(),
        action,
        condition,
        exceptions: Vec::new(),
    }
}

/// Windows' default "All signed packaged apps" rule.
pub fn default_appx_rule() -> Rule {
    Rule {
        id: DEFAULT_APPX_RULE_ID.into(),
        name: "(Default Rule) All signed packaged apps".into(),
        description: "Allows members of the Everyone group to run packaged apps that are signed."
            .into(),
        user_or_group_sid: crate::eval::EVERYONE.into(),
        action: Action::Allow,
        condition: Condition::Publisher(PublisherCondition {
            publisher_name: "*".into(),
            product_name: "*".into(),
            binary_name: "*".into(),
            low: Some(Version::default()),
            high: None,
        }),
        exceptions: Vec::new(),
    }
}

/// When `policy` enforces Exe without Appx rules (and `current` has none either), adds
/// Windows' default Appx rule: Exe rules without Appx rules block every packaged app (spec
/// §3 "Cross-collection effect").
pub fn keep_packaged_apps_running(policy: &mut Policy, current: Option<&Policy>) {
    let has_appx = |p: &Policy| {
        p.collection(CollectionKind::Appx)
            .is_some_and(|c| !c.rules.is_empty())
    };
    let exe_enforced = policy
        .collection(CollectionKind::Exe)
        .is_some_and(|c| c.mode == Some(EnforcementMode::Enabled));
    if exe_enforced && !has_appx(policy) && !current.is_some_and(has_appx) {
        let appx = policy.collection_mut(CollectionKind::Appx);
        appx.mode = Some(EnforcementMode::Enabled);
        appx.rules.push(default_appx_rule());
    }
}

/// `policy` with the collections of `enforce` in `Enabled` mode and every other collection
/// `AuditOnly`, Windows' default Appx rule added when Exe is enforced without Appx rules.
pub fn with_enforcement(policy: &Policy, enforce: &[CollectionKind]) -> Policy {
    let mut out = policy.clone();
    for c in &mut out.collections {
        c.mode = Some(if enforce.contains(&c.kind) {
            EnforcementMode::Enabled
        } else {
            EnforcementMode::AuditOnly
        });
    }
    for kind in enforce {
        let c = out.collection_mut(*kind);
        c.mode = Some(EnforcementMode::Enabled);
    }
    keep_packaged_apps_running(&mut out, None);
    out
}

/// The suggestions as a policy: their rules (those without review reasons, unless
/// `include_review`), each collection in `mode`. When the result enforces Exe and the
/// current policy has no Appx rules, Windows' default Appx rule is added so packaged apps
/// keep running (spec §3 "Cross-collection effect").
pub fn to_policy(
    suggestions: &[Suggestion],
    include_review: bool,
    mode: EnforcementMode,
    current: Option<&Policy>,
) -> Policy {
    let mut policy = Policy::default();
    for s in suggestions {
        let Some(rule) = &s.rule else { continue };
        if !s.review.is_empty() && !include_review {
            continue;
        }
        let c = policy.collection_mut(s.collection);
        c.mode = Some(mode);
        c.rules.push(rule.clone());
    }
    if mode == EnforcementMode::Enabled {
        keep_packaged_apps_running(&mut policy, current);
    }
    policy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publisher_names_from_quoted_dns() {
        assert_eq!(
            short_publisher(
                r#"CN="ZOOM VIDEO COMMUNICATIONS, INC.", O="ZOOM VIDEO COMMUNICATIONS, INC.", L=SAN JOSE"#
            ),
            "ZOOM VIDEO COMMUNICATIONS, INC."
        );
        assert_eq!(short_publisher("CN=453637B3-4E12"), "453637B3-4E12");
        assert_eq!(short_publisher("plain"), "plain");
        assert_eq!(
            short_publisher("O=MICROSOFT CORPORATION, L=REDMOND, S=WASHINGTON, C=US"),
            "MICROSOFT CORPORATION"
        );
    }

    fn unsigned(path: &str, hash: Option<&str>, hosts: u64) -> AppEvidence {
        AppEvidence {
            app_id: format!("id {path}"),
            label: format!("unsigned {path}"),
            collection: Some(CollectionKind::Exe),
            hash: hash.map(str::to_owned),
            paths: vec![path.to_owned()],
            events: 10,
            hosts,
            users: hosts,
            ..AppEvidence::default()
        }
    }

    fn signed(product: &str, binary: &str, version: &str) -> AppEvidence {
        AppEvidence {
            app_id: format!("id {product} {binary}"),
            label: format!("CONTOSO LTD / {product} / {binary}"),
            collection: Some(CollectionKind::Exe),
            publisher: Some("O=CONTOSO LTD, C=US".into()),
            product: Some(product.into()),
            binary: Some(binary.into()),
            min_version: version.parse().ok(),
            paths: vec![format!("%OSDRIVE%\\USERS\\*\\APPDATA\\{binary}")],
            events: 5,
            hosts: 3,
            users: 3,
            ..AppEvidence::default()
        }
    }

    #[test]
    fn rule_kinds_follow_the_evidence() {
        let opts = SuggestOptions::default();
        let apps = [
            unsigned(
                "%PROGRAMFILES%\\VENDOR\\TOOL.EXE",
                Some(&"AB".repeat(32)),
                4,
            ),
            unsigned(
                "%OSDRIVE%\\USERS\\*\\DOWNLOADS\\X.EXE",
                Some(&"CD".repeat(32)),
                4,
            ),
            unsigned("D:\\APPS\\Y.EXE", None, 4),
            signed("SUITE", "SUITE.EXE", "1.2.0.0"),
        ];
        let s = suggest(&apps, &opts);
        let kind = |label: &str| {
            s.iter()
                .find(|s| s.apps.iter().any(|a| a.contains(label)))
                .unwrap_or_else(|| panic!("{label}: {s:#?}"))
        };
        let path = kind("TOOL.EXE");
        assert!(matches!(
            path.rule.as_ref().unwrap().condition,
            Condition::Path(_)
        ));
        let codes = |s: &Suggestion| s.review.iter().map(|r| r.code).collect::<Vec<_>>();
        assert_eq!(codes(path), [ReviewCode::Unsigned]);
        assert_eq!(path.review[0].message, "unsigned");
        let hash = kind("X.EXE");
        assert!(matches!(
            hash.rule.as_ref().unwrap().condition,
            Condition::Hash(_)
        ));
        assert!(codes(hash).contains(&ReviewCode::UserWritableLocation));
        assert!(
            hash.review
                .iter()
                .any(|r| r.message.contains("user-writable"))
        );
        let none = kind("Y.EXE");
        assert!(none.rule.is_none() && codes(none).contains(&ReviewCode::NoSafeRule));
        let publisher = kind("SUITE");
        assert!(publisher.review.is_empty(), "{publisher:?}");
        let Condition::Publisher(p) = &publisher.rule.as_ref().unwrap().condition else {
            panic!()
        };
        assert_eq!(
            (p.product_name.as_str(), p.binary_name.as_str()),
            ("SUITE", "*")
        );
    }

    #[test]
    fn many_binaries_of_a_product_become_one_rule() {
        let apps: Vec<AppEvidence> = (0..6)
            .map(|i| signed("SUITE", &format!("PART{i}.EXE"), "1.0.0.0"))
            .collect();
        let opts = SuggestOptions {
            granularity: Some(Granularity::Binary),
            ..SuggestOptions::default()
        };
        let s = suggest(&apps, &opts);
        assert_eq!(s.len(), 1, "{s:#?}");
        assert_eq!(s[0].apps.len(), 6);
        assert_eq!(s[0].app_ids.len(), 6);
        assert!(
            s[0].app_ids.iter().zip(&s[0].apps).all(|(id, label)| {
                let binary = label.rsplit(" / ").next().unwrap();
                id.ends_with(binary)
            }),
            "each id stays beside its label: {:?}",
            s[0]
        );
        assert_eq!(s[0].events, 30);
        // Below the threshold each binary keeps its rule.
        assert_eq!(suggest(&apps[..3], &opts).len(), 3);
    }

    #[test]
    fn a_rule_over_several_apps_counts_the_union_of_hosts() {
        let mut apps: Vec<AppEvidence> = (0..6)
            .map(|i| signed("SUITE", &format!("PART{i}.EXE"), "1.0.0.0"))
            .collect();
        for (i, app) in apps.iter_mut().enumerate() {
            app.host_names = vec!["shared".into(), format!("own-{i}")];
            app.user_sids = vec!["S-1-5-21-1".into()];
        }
        let s = suggest(&apps, &SuggestOptions::default());
        assert_eq!(s.len(), 1);
        assert_eq!(
            (s[0].hosts, s[0].users),
            (7, 3),
            "union of hosts; users: largest count"
        );
    }

    #[test]
    fn version_granularity_starts_at_the_lowest_version_seen() {
        let opts = SuggestOptions {
            granularity: Some(Granularity::Version),
            ..SuggestOptions::default()
        };
        let s = suggest(&[signed("SUITE", "SUITE.EXE", "2.35.5.1")], &opts);
        let Condition::Publisher(p) = &s[0].rule.as_ref().unwrap().condition else {
            panic!()
        };
        assert_eq!(p.low.map(|v| v.to_string()).as_deref(), Some("2.35.5.1"));
        assert_eq!(p.high, None);
    }

    #[test]
    fn ids_are_reproducible_and_flags_are_kept_out_of_the_policy() {
        let apps = [
            signed("SUITE", "SUITE.EXE", "1.0.0.0"),
            unsigned("%OSDRIVE%\\USERS\\*\\X.EXE", Some(&"CD".repeat(32)), 1),
        ];
        let a = suggest(&apps, &SuggestOptions::default());
        let b = suggest(&apps, &SuggestOptions::default());
        assert_eq!(a, b);
        let policy = to_policy(&a, false, EnforcementMode::AuditOnly, None);
        assert_eq!(policy.rules().count(), 1);
        let all = to_policy(&a, true, EnforcementMode::Enabled, None);
        assert_eq!(
            all.rules().count(),
            3,
            "both rules and the default Appx rule"
        );
        assert!(all.rules().any(|(_, r)| r.id == DEFAULT_APPX_RULE_ID));
    }
}
