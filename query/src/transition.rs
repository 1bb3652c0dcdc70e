//! The admin's work in the questions (docs/architecture.md "The transition"): a group's candidate is
//! the policy in force plus the rules of its `allow` decisions plus the deny rules its
//! `block` decisions need; decisions are checked against the recorded apps before they are
//! kept.

use std::collections::BTreeMap;

use datafusion::prelude::SessionContext;
use policy::suggest::{Granularity, SuggestOptions as RuleOptions};
use policy::{CollectionKind, EnforcementMode, Evaluator, Policy, Rule};
use schema::{Collection, Outcome};
use workspace::{Decision, Verdict};

use crate::inventory::{HostGroups, Inventory};
use crate::report::{AppRow, apps_sql, in_list, read_apps};
use crate::suggest::evidence_of;
use crate::{Error, Result, Window};

/// A group's candidate policy and how it was made.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupCandidate {
    pub group: String,
    /// The policy in force it starts from: where it came from, or `None` when not known
    /// (the candidate is then only the decided rules).
    pub current: Option<String>,
    /// Apps whose allow decision added a rule.
    pub allowed: Vec<String>,
    /// Apps decided `block` that the policy in force would have let run: a deny rule each.
    pub denied: Vec<String>,
    /// What could not be done, for people.
    pub notes: Vec<String>,
    #[serde(skip)]
    pub policy: Policy,
}

impl GroupCandidate {
    /// The candidate as AppLocker policy XML, `enforce`'s collections `Enabled` and the
    /// others `AuditOnly`.
    pub fn to_xml(&self, enforce: &[Collection]) -> String {
        let kinds: Vec<CollectionKind> = enforce
            .iter()
            .map(|&c| crate::app::rule_collection(c))
            .collect();
        policy::write::to_xml(&policy::suggest::with_enforcement(&self.policy, &kinds))
    }
}

/// The collection and rule of an allow decision's stored rule XML.
pub fn decided_rule(decision: &Decision) -> Result<Option<(CollectionKind, Rule)>> {
    let (Some(xml), Some(collection)) = (&decision.rule_xml, &decision.collection) else {
        return Ok(None);
    };
    let kind = CollectionKind::parse(collection).ok_or_else(|| Error::BadParameter {
        name: "collection",
        message: format!("{collection:?} is not a rule collection"),
    })?;
    let text = format!(
        "<AppLockerPolicy Version=\"1\"><RuleCollection Type=\"{}\">{xml}</RuleCollection></AppLockerPolicy>",
        kind.xml_name()
    );
    let parsed = policy::read::parse(text.as_bytes()).map_err(|e| Error::BadParameter {
        name: "rule",
        message: format!("the rule of the decision on {}: {e}", decision.app_id),
    })?;
    Ok(parsed
        .policy
        .rules()
        .next()
        .map(|(kind, rule)| (kind, rule.clone())))
}

/// Adds `rule` to `policy`'s `kind` collection unless a rule with its Id is there; a new
/// collection is audit only (`--enforce` decides when it is written out).
fn add_rule(policy: &mut Policy, kind: CollectionKind, rule: Rule) {
    let collection = policy.collection_mut(kind);
    if collection.mode.is_none() {
        collection.mode = Some(EnforcementMode::AuditOnly);
    }
    if !collection
        .rules
        .iter()
        .any(|r| r.id.eq_ignore_ascii_case(&rule.id))
    {
        collection.rules.push(rule);
    }
}

/// Group `group`'s candidate: `current` + the allow decisions' rules + the deny rules the
/// block decisions need (an app decided `block` that the policy so far lets run).
pub(crate) async fn build_candidate(
    ctx: &SessionContext,
    inventory: &Inventory,
    group: &str,
    current: Option<(Policy, String)>,
    decisions: &BTreeMap<String, Decision>,
) -> Result<GroupCandidate> {
    let (mut policy, source) = match current {
        Some((p, source)) => (p, Some(source)),
        None => (Policy::default(), None),
    };
    let mut allowed = Vec::new();
    for d in decisions.values().filter(|d| d.verdict == Verdict::Allow) {
        if let Some((kind, rule)) = decided_rule(d)? {
            add_rule(&mut policy, kind, rule);
            allowed.push(d.app_id.clone());
        }
    }
    let mut denied = Vec::new();
    let mut notes = Vec::new();
    let blocks: Vec<&Decision> = decisions
        .values()
        .filter(|d| d.verdict == Verdict::Block)
        .collect();
    if !blocks.is_empty() {
        let evaluator = Evaluator::new(&policy, None);
        let running =
            crate::simulate::apps_it_allows(ctx, inventory, &evaluator, group, &Window::default())
                .await?;
        for row in running {
            if !blocks.iter().any(|d| d.app_id == row.app_id) {
                continue;
            }
            let Some(kind) = row.collection.map(crate::app::rule_collection) else {
                continue;
            };
            let has_rules = policy.collection(kind).is_some_and(|c| !c.rules.is_empty());
            if !has_rules {
                notes.push(format!(
                    "{} stays runnable: the {} collection has no rules, so it allows everything when enforced; a deny rule alone would block every other {} file too (add allow rules, such as the default rules, first)",
                    row.label,
                    kind.xml_name(),
                    kind.xml_name()
                ));
                continue;
            }
            if let Some(rule) =
                policy::suggest::deny_rule(&evidence_of(&row), policy::eval::EVERYONE)
            {
                notes.push(format!(
                    "{}: decided block, but the policy lets it run; a deny rule ({}) keeps it blocked",
                    row.label, rule.name
                ));
                add_rule(&mut policy, kind, rule);
                denied.push(row.app_id.clone());
            }
        }
    }
    Ok(GroupCandidate {
        group: group.to_owned(),
        current: source,
        allowed,
        denied,
        notes,
        policy,
    })
}

/// Every app of `groups` in the store (any outcome), by group, over the whole window: what
/// a decision may be about.
pub(crate) async fn recorded_apps(
    ctx: &SessionContext,
    inventory: &Inventory,
    groups: &[String],
) -> Result<Vec<(String, AppRow)>> {
    let outcomes = [Outcome::Allowed, Outcome::Audit, Outcome::Blocked];
    let hosts = HostGroups::resolve(ctx, inventory).await?;
    let rows = crate::rows::Rows::for_window(ctx, &crate::Window::default());
    let fine = format!(
        r"SELECT computer, collection, publisher, product, binary_name,
            {hash} AS app_hash, file_path, user_sid, binary_version,
            MAX(binary_version_key) AS binary_version_key,
            SUM({count}) AS events, MIN({first}) AS first_seen, MAX({last}) AS last_seen
          FROM {table}
          WHERE {applocker} {scope}
          GROUP BY computer, collection, publisher, product, binary_name, app_hash, file_path,
            user_sid, binary_version",
        hash = crate::app::APP_HASH_SQL,
        count = rows.count(),
        first = rows.first(),
        last = rows.last(),
        table = rows.table(),
        applocker = crate::report::applocker_outcomes_sql(&outcomes),
        scope = hosts.scope_sql(groups),
    );
    let sql = apps_sql(&fine, None, &hosts, &in_list("grp", groups), "");
    let batches = crate::columns::collect(ctx, &sql).await?;
    Ok(read_apps(&batches, None)?
        .into_iter()
        .map(|a| (a.group, a.row))
        .collect())
}

/// The rule an allow decision on `row` gets: the group's suggestion that covers it (so a
/// product rule over several binaries stays one rule), else one made for the app alone, at
/// `granularity`; with its review flags.
pub(crate) fn rule_for(
    row: &AppRow,
    suggestions: &[policy::suggest::Suggestion],
    granularity: Option<Granularity>,
    group: &str,
) -> Option<(Rule, Vec<policy::suggest::ReviewReason>)> {
    if let Some(s) = suggestions.iter().find(|s| s.app_ids.contains(&row.app_id)) {
        return s.rule.clone().map(|r| (r, s.review.clone()));
    }
    let opts = RuleOptions {
        granularity,
        sid: policy::eval::EVERYONE.into(),
        group: group.to_owned(),
    };
    let s = policy::suggest::suggest(&[evidence_of(row)], &opts)
        .into_iter()
        .next()?;
    s.rule.map(|r| (r, s.review))
}

/// The collections `policy` has rules for.
pub(crate) fn configured(policy: &Policy) -> std::collections::BTreeSet<Collection> {
    policy
        .collections
        .iter()
        .filter(|c| !c.rules.is_empty())
        .filter_map(|c| c.kind.event_name().parse().ok())
        .collect()
}
