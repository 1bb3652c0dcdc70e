//! `suggest`: per group, the rules that would let its would-be-blocked apps run, with the
//! evidence (the rule logic itself is `policy::suggest`).

use std::collections::BTreeMap;

use datafusion::prelude::SessionContext;
use policy::suggest::{AppEvidence, Granularity, SuggestOptions as RuleOptions, Suggestion};
use policy::{EnforcementMode, Evaluator, Policy};

use policy::Decision;
use schema::Outcome;

use crate::columns::{collect, lists};
use crate::inventory::{HostGroups, Inventory};
use crate::report::{AppRow, apps_sql, in_list, noise_filter, read_apps};
use crate::whatif::{Executions, Judging, Keep, judged_fine_sql, register_judged};
use crate::{Result, Window};

/// What to suggest.
#[derive(Debug, Clone)]
pub struct SuggestOptions {
    pub window: Window,
    /// Only these groups (all when empty).
    pub groups: Vec<String>,
    /// `None`: product, or binary for Microsoft.
    pub granularity: Option<Granularity>,
    /// The SID the rules apply to.
    pub sid: String,
    pub include_noise: bool,
    /// Scope each rule to the narrowest AD group holding all its users (imported
    /// identities), where there is one.
    pub scope_to: Option<policy::identities::Directory>,
}

impl Default for SuggestOptions {
    fn default() -> Self {
        SuggestOptions {
            window: Window::default(),
            groups: Vec::new(),
            granularity: None,
            sid: policy::eval::EVERYONE.into(),
            include_noise: false,
            scope_to: None,
        }
    }
}

/// One group's suggestions.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupSuggestions {
    pub group: String,
    pub suggestions: Vec<Suggestion>,
}

/// How a group's suggestions become a policy document.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PolicyOutput {
    /// Also write the rules flagged for review.
    pub include_review: bool,
    /// Collections as `Enabled` instead of `AuditOnly`.
    pub enforce: bool,
    /// Add the hardening deny rules (`policy::harden`) where the result or the policy in
    /// force has rules.
    pub harden: bool,
}

impl GroupSuggestions {
    /// The suggested rules as a policy (see [`policy::suggest::to_policy`]), for the policy
    /// `current` in force, if known.
    pub fn to_policy(&self, output: PolicyOutput, current: Option<&Policy>) -> Policy {
        let mode = if output.enforce {
            EnforcementMode::Enabled
        } else {
            EnforcementMode::AuditOnly
        };
        let mut policy =
            policy::suggest::to_policy(&self.suggestions, output.include_review, mode, current);
        if output.harden {
            policy = policy::harden::harden(&policy, current).policy;
            for c in &mut policy.collections {
                c.mode.get_or_insert(mode);
            }
        }
        policy
    }

    /// [`Self::to_policy`] as AppLocker policy XML (`Set-AppLockerPolicy -Merge` takes it).
    pub fn to_xml(&self, output: PolicyOutput, current: Option<&Policy>) -> String {
        policy::write::to_xml(&self.to_policy(output, current))
    }
}

/// Suggestions for every group with would-be-blocked apps. With `current`, apps the current
/// policy already allows are left out, and apps it explicitly denies are flagged.
pub async fn suggest_rules(
    ctx: &SessionContext,
    inventory: &Inventory,
    current: Option<&Policy>,
    opts: &SuggestOptions,
) -> Result<Vec<GroupSuggestions>> {
    let outcomes = &[Outcome::Audit];
    let empty = Policy::default();
    let evaluator = Evaluator::new(current.unwrap_or(&empty), None);
    let hosts = HostGroups::resolve(ctx, inventory).await?;
    let scope = hosts.scope_sql(&opts.groups);
    let executions = Executions::of_events(ctx, outcomes, &opts.window, &scope);
    // With no current policy every audited app is a candidate; with one, only those it
    // blocks (what it allows already runs).
    let decisions: &[Decision] = if current.is_some() {
        &Decision::BLOCKING
    } else {
        &Decision::ALL
    };
    let keep = Keep {
        decisions: decisions.to_vec(),
        writable: false,
        allowed_today: false,
    };
    register_judged(ctx, Judging::One(&evaluator, &keep), &executions).await?;
    let fine = judged_fine_sql(&Outcome::Audit.sql());
    let filter = format!(
        "{}{}",
        noise_filter(opts.include_noise),
        in_list("grp", &opts.groups)
    );
    let sql = apps_sql(
        &fine,
        None,
        &hosts,
        &filter,
        ", array_agg(DISTINCT CASE WHEN publisher IS NULL THEN generic_path END) AS unsigned_paths,
           array_agg(DISTINCT CASE WHEN decision = 'denied' THEN rule_name END) AS denied_by,
           array_agg(DISTINCT computer_key) AS host_names",
    );
    let batches = collect(ctx, &sql).await?;
    let extra = |name: &str| -> Result<Vec<Vec<Vec<String>>>> {
        batches.iter().map(|b| lists(b, name)).collect()
    };
    let (unsigned_paths, denied_by) = (extra("unsigned_paths")?, extra("denied_by")?);
    let (host_names, user_sids) = (extra("host_names")?, extra("user_sids")?);
    let mut evidence: BTreeMap<String, Vec<AppEvidence>> = BTreeMap::new();
    for app in read_apps(&batches, None)? {
        let row = &app.row;
        let mut paths = unsigned_paths[app.batch][app.index].clone();
        if paths.is_empty() {
            paths = row.paths.clone();
        }
        paths.sort();
        evidence
            .entry(app.group.clone())
            .or_default()
            .push(AppEvidence {
                paths,
                host_names: host_names[app.batch][app.index].clone(),
                user_sids: user_sids[app.batch][app.index].clone(),
                denied_by: denied_by[app.batch][app.index].first().cloned(),
                ..evidence_of(row)
            });
    }
    Ok(evidence
        .into_iter()
        .map(|(group, apps)| {
            let rule_opts = RuleOptions {
                granularity: opts.granularity,
                sid: opts.sid.clone(),
                group: group.clone(),
            };
            let mut suggestions = policy::suggest::suggest(&apps, &rule_opts);
            if let Some(directory) = &opts.scope_to {
                policy::suggest::scope_to_groups(&mut suggestions, &apps, directory);
            }
            GroupSuggestions { suggestions, group }
        })
        .collect())
}

/// The app row as the rule engine's evidence.
pub(crate) fn evidence_of(row: &AppRow) -> AppEvidence {
    AppEvidence {
        app_id: row.app_id.clone(),
        label: row.label.clone(),
        collection: row.collection.map(crate::app::rule_collection),
        publisher: row.publisher.clone(),
        product: row.product.clone(),
        binary: row.binary.clone(),
        min_version: row.version_min.as_deref().and_then(|v| v.parse().ok()),
        hash: row.file_hash.clone(),
        paths: row.paths.clone(),
        events: row.events,
        hosts: row.hosts,
        users: row.users,
        ..AppEvidence::default()
    }
}
