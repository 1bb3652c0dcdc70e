//! [`Session`]: the one way in for the CLI and the API. It owns what every question needs
//! (the store, the inventory that applies, the engine and its memory budget) and hands out
//! the questions, each on a fresh context over the store as it is committed now.
//!
//! ```no_run
//! # async fn demo() -> query::Result<()> {
//! use query::{Session, report::ReportOptions};
//! let session = Session::open("lockstep-data".as_ref(), None, &[])?;
//! let report = session.report(&ReportOptions::default()).await?;
//! println!("{} groups", report.groups.len());
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::prelude::SessionContext;
use policy::suggest::Granularity;
use policy::{EnforcementMode, Evaluator, Policy, SidGroups};
use workspace::{Decision, NewDecision, Scope, Verdict, Workspace};

use crate::Window;
use crate::inventory::HostGroups;
use crate::readiness::{GroupPlan, GroupReadiness, ReadinessOptions};
use crate::report::{Report, ReportOptions};
use crate::simulate::{SimulateOptions, Simulation};
use crate::suggest::{GroupSuggestions, SuggestOptions};
use crate::timeline::{DayCount, TimelineOptions};
use crate::transition::{GroupCandidate, build_candidate, configured, recorded_apps, rule_for};
use crate::versions::{PolicyChange, PolicyRef};
use crate::{Engine, Error, Inventory, Result, Store};

/// Memory the local engine may use unless told otherwise, in MiB (all running queries
/// together).
pub const DEFAULT_MEMORY_MB: usize = 2048;

/// The file name of the inventory a data folder keeps (`lockstep serve` serves it and
/// `PUT /api/v1/inventory` replaces it).
pub const DATA_INVENTORY: &str = "inventory.csv";

/// The policy each group is judged under by [`Session::readiness`].
#[derive(Debug, Clone, Default)]
pub enum Candidate {
    /// Each group's own: its policy in force plus the rules of its decisions (the default).
    #[default]
    Decisions,
    /// One whole policy for every group.
    Whole(Policy),
    /// The policy in force plus every suggested rule not flagged for review: the group as
    /// it would be after accepting the suggestions.
    Suggested { granularity: Option<Granularity> },
}

/// A decision to take, as people ask for it.
#[derive(Debug, Clone)]
pub struct DecideRequest {
    pub scope: Scope,
    pub app_id: String,
    pub verdict: Verdict,
    pub note: Option<String>,
    /// How specific the allowing rule is (default: as suggested).
    pub granularity: Option<Granularity>,
    /// Allow an app whose suggestion is flagged for review.
    pub force: bool,
    pub decided_by: String,
    /// Refuse when the current decision is no longer this version (HTTP `If-Match`).
    pub expected_version: Option<i64>,
}

/// A current decision, and whether its app still appears in the recorded events.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DecisionView {
    #[serde(flatten)]
    pub decision: Decision,
    /// The app no longer appears in the group's recorded events (kept, never dropped).
    pub stale: bool,
}

/// A store with its inventory, ready to answer.
#[derive(Debug, Clone)]
pub struct Session {
    store: Store,
    inventory: Inventory,
    inventory_path: Option<PathBuf>,
    engine: Engine,
    memory_mb: usize,
    workspace: Option<Arc<Workspace>>,
    /// The policy in force, given for every group (over what the workspace says).
    current: Option<Policy>,
    /// Answer from the summary table where it can (false: always from the events).
    summary: bool,
}

impl Session {
    /// A session over `store` with an inventory already read, on the local engine.
    pub fn new(store: Store, inventory: Inventory) -> Session {
        Session {
            store,
            inventory,
            inventory_path: None,
            engine: Engine::Local,
            memory_mb: DEFAULT_MEMORY_MB,
            workspace: None,
            current: None,
            summary: true,
        }
    }

    /// Reads only the events, never the summary table (`crate::rows`): the answers are
    /// the same, only slower. The tests compare the two.
    pub fn without_summary(mut self) -> Session {
        self.summary = false;
        self
    }

    /// Uses `workspace` for each group's policy in force and the decisions.
    pub fn with_workspace(mut self, workspace: Arc<Workspace>) -> Session {
        self.workspace = Some(workspace);
        self
    }

    /// Opens the data folder's workspace when it exists (reading needs none).
    pub fn with_existing_workspace(self) -> Result<Session> {
        let file = self.store.root().join(workspace::FILE);
        if !file.exists() {
            return Ok(self);
        }
        let ws = Workspace::open_file(&file)?;
        Ok(self.with_workspace(Arc::new(ws)))
    }

    /// Takes `policy` as the policy in force for every group, whatever the workspace says.
    pub fn with_current(mut self, policy: Option<Policy>) -> Session {
        self.current = policy;
        self
    }

    /// The workspace, if the session has one.
    pub fn workspace(&self) -> Option<&Arc<Workspace>> {
        self.workspace.as_ref()
    }

    /// A session over the data folder `data`, with the inventory that applies
    /// ([`find_inventory`]): `given`, else the `inventory.csv` of the one folder among
    /// `inputs`, else `DATA/inventory.csv`, else none (every computer `unassigned`). A bad
    /// inventory is an error naming its line.
    pub fn open(data: &Path, given: Option<&Path>, inputs: &[PathBuf]) -> Result<Session> {
        let path = find_inventory(given, inputs, data);
        let inventory = match &path {
            Some(p) => Inventory::from_path(p)?,
            None => Inventory::default(),
        };
        Ok(Session {
            inventory_path: path,
            ..Session::new(Store::new(data), inventory)
        })
    }

    /// Runs the questions on `engine`, within `memory_mb` MiB when it is local.
    pub fn with_engine(mut self, engine: Engine, memory_mb: usize) -> Session {
        self.engine = engine;
        self.memory_mb = memory_mb;
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn inventory(&self) -> &Inventory {
        &self.inventory
    }

    /// The inventory file in use (`None`: every computer is `unassigned`).
    pub fn inventory_path(&self) -> Option<&Path> {
        self.inventory_path.as_deref()
    }

    /// Rows committed in the store now.
    pub fn committed_rows(&self) -> Result<u64> {
        Ok(self.store.read_manifest()?.rows())
    }

    /// A fresh context with the store's committed files registered as `events`. The
    /// question methods use one each; this is for callers with SQL of their own.
    pub async fn context(&self) -> Result<SessionContext> {
        let ctx = self.engine.context(self.memory_mb, &self.store).await?;
        crate::register_store(&ctx, &self.store).await?;
        if !self.summary && ctx.table_exist(crate::SUMMARY)? {
            ctx.deregister_table(crate::SUMMARY)?;
        }
        Ok(ctx)
    }

    /// Which apps would be blocked, per group.
    pub async fn report(&self, opts: &ReportOptions) -> Result<Report> {
        let ctx = self.context().await?;
        let mut report = crate::report::blocked_apps_by_group(&ctx, &self.inventory, opts).await?;
        let apps = report.groups.iter_mut().flat_map(|g| &mut g.apps);
        self.directory()?
            .name_users(apps.flat_map(|a| &mut a.users_seen));
        Ok(report)
    }

    /// The rules that would let each group's would-be-blocked apps run; apps the group's
    /// policy in force already allows are left out, and apps it denies are flagged.
    pub async fn suggest(&self, opts: &SuggestOptions) -> Result<Vec<GroupSuggestions>> {
        let ctx = self.context().await?;
        let mut groups = self.suggest_on(&ctx, opts).await?;
        let suggestions = groups.iter_mut().flat_map(|g| &mut g.suggestions);
        self.directory()?
            .name_users(suggestions.flat_map(|s| &mut s.users_seen));
        Ok(groups)
    }

    /// [`Self::suggest`] on `ctx`: one pass per distinct policy in force, so groups with a
    /// policy of their own are judged under theirs.
    async fn suggest_on(
        &self,
        ctx: &SessionContext,
        opts: &SuggestOptions,
    ) -> Result<Vec<GroupSuggestions>> {
        let hosts = HostGroups::resolve(ctx, &self.inventory).await?;
        let names: Vec<String> = if opts.groups.is_empty() {
            hosts.known_groups(&self.inventory).into_iter().collect()
        } else {
            opts.groups.clone()
        };
        let mut by_policy: BTreeMap<Option<String>, (Option<Policy>, Vec<String>)> =
            BTreeMap::new();
        for group in names {
            let current = self.current_for(&group)?.map(|(p, _)| p);
            let key = current.as_ref().map(policy::write::to_xml);
            by_policy
                .entry(key)
                .or_insert((current, Vec::new()))
                .1
                .push(group);
        }
        if by_policy.len() <= 1 {
            let current = by_policy.into_values().next().and_then(|(p, _)| p);
            return crate::suggest::suggest_rules(ctx, &self.inventory, current.as_ref(), opts)
                .await;
        }
        let mut out = Vec::new();
        for (current, groups) in by_policy.into_values() {
            let scoped = SuggestOptions {
                groups,
                ..opts.clone()
            };
            out.extend(
                crate::suggest::suggest_rules(ctx, &self.inventory, current.as_ref(), &scoped)
                    .await?,
            );
        }
        out.sort_by(|a, b| a.group.cmp(&b.group));
        Ok(out)
    }

    /// What a candidate policy would still and newly block.
    pub async fn simulate(
        &self,
        candidate: &Evaluator,
        opts: &SimulateOptions,
    ) -> Result<Simulation> {
        let ctx = self.context().await?;
        let mut simulation =
            crate::simulate::simulate(&ctx, &self.inventory, candidate, opts).await?;
        simulation.name_users(&self.directory()?);
        Ok(simulation)
    }

    /// Every host that reported in the window with its audit events over the last 7, 15
    /// and 30 days (see [`crate::hosts`]), and the time those periods end at.
    pub async fn host_activity(
        &self,
        window: &Window,
        groups: &[String],
        include_noise: bool,
    ) -> Result<(
        Vec<crate::hosts::HostActivity>,
        Option<chrono::DateTime<chrono::Utc>>,
    )> {
        let ctx = self.context().await?;
        crate::hosts::host_activity(&ctx, &self.inventory, window, groups, include_noise).await
    }

    /// The identities imported into the workspace (`lockstep identities import`); empty
    /// without a workspace. Well-known SIDs are named either way.
    pub fn directory(&self) -> Result<policy::identities::Directory> {
        match &self.workspace {
            Some(ws) => Ok(ws.directory()?),
            None => Ok(policy::identities::Directory::default()),
        }
    }

    /// Group memberships for the evaluator: `given` (a `user_sid,group_sid` table) and the
    /// imported identities' memberships together; `None` when neither knows any.
    pub fn sid_groups(&self, given: Option<SidGroups>) -> Result<Option<SidGroups>> {
        let directory = self.directory()?;
        let imported = (!directory.is_empty()).then(|| directory.sid_groups());
        Ok(match (given, imported) {
            (Some(g), Some(i)) => Some(g.union(i)),
            (g, i) => g.or(i),
        })
    }

    /// The policy in force for `group` and where it came from: the one given for every
    /// group, else the group's own in the workspace, else the fleet's; `None` if not known.
    pub fn current_for(&self, group: &str) -> Result<Option<(Policy, String)>> {
        if let Some(p) = &self.current {
            return Ok(Some((p.clone(), "the policy given".into())));
        }
        let Some(ws) = &self.workspace else {
            return Ok(None);
        };
        let Some(stored) = ws.policy_for_group(group)? else {
            return Ok(None);
        };
        let parsed = policy::read::parse(stored.xml.as_bytes())?;
        let whose = match stored.scope {
            Scope::Fleet => "the fleet's",
            Scope::Group(_) => "the group's",
        };
        Ok(Some((
            parsed.policy,
            format!(
                "{whose} policy imported {} by {} from {}",
                stored.imported_at, stored.imported_by, stored.source
            ),
        )))
    }

    /// The decisions group `group` works with (its own over the fleet's), by app id.
    pub fn decisions_for(&self, group: &str) -> Result<BTreeMap<String, Decision>> {
        match &self.workspace {
            Some(ws) => Ok(ws.decisions_for_group(group)?),
            None => Ok(BTreeMap::new()),
        }
    }

    /// Group `group`'s candidate: its policy in force plus the rules of its decisions.
    pub async fn candidate(&self, group: &str) -> Result<GroupCandidate> {
        let ctx = self.context().await?;
        self.ensure_group(&ctx, group).await?;
        build_candidate(
            &ctx,
            &self.inventory,
            group,
            self.current_for(group)?,
            &self.decisions_for(group)?,
        )
        .await
    }

    /// Freezes `group`'s candidate as its next published version (a no-op, `new: false`,
    /// when the latest version already does the same).
    pub async fn publish(
        &self,
        group: &str,
        note: Option<&str>,
        by: &str,
    ) -> Result<workspace::Published> {
        let ws = self.workspace.as_ref().ok_or(Error::NoWorkspace)?;
        let candidate = self.candidate(group).await?;
        if candidate.policy.rules().next().is_none() {
            return Err(Error::NothingToPublish(group.to_owned()));
        }
        let xml = policy::write::to_xml(&candidate.policy);
        let hash = policy::diff::content_hash(&candidate.policy);
        Ok(ws.publish(&workspace::NewVersion {
            group,
            xml: &xml,
            content_hash: &hash,
            note,
            published_by: by,
        })?)
    }

    /// The group after the flip: the rollout record, blocks since enforcement (expected and
    /// unexpected), the exception queue and the disagreements.
    pub async fn monitor(&self, group: &str) -> Result<crate::monitor::GroupMonitor> {
        let ws = self.workspace.as_ref().ok_or(Error::NoWorkspace)?;
        let ctx = self.context().await?;
        self.ensure_group(&ctx, group).await?;
        let rollouts = ws.rollouts(group)?;
        let decisions = self.decisions_for(group)?;
        let mut monitor =
            crate::monitor::monitor(&ctx, &self.inventory, group, &rollouts, &decisions).await?;
        let apps = monitor.exceptions.iter_mut();
        self.directory()?
            .name_users(apps.flat_map(|e| &mut e.app.users_seen));
        Ok(monitor)
    }

    /// The group's published versions, oldest first.
    pub fn versions(&self, group: &str) -> Result<Vec<workspace::PolicyVersion>> {
        let ws = self.workspace.as_ref().ok_or(Error::NoWorkspace)?;
        Ok(ws.versions(group)?)
    }

    /// The policy `which` names for `group`, and how to call it.
    pub async fn resolve_policy(&self, group: &str, which: &PolicyRef) -> Result<(Policy, String)> {
        match which {
            PolicyRef::Version(number) => {
                let ws = self.workspace.as_ref().ok_or(Error::NoWorkspace)?;
                let version = ws
                    .version(group, *number)?
                    .ok_or_else(|| Error::NoVersion {
                        group: group.to_owned(),
                        version: *number,
                    })?;
                let parsed = policy::read::parse(version.xml.as_bytes())?;
                Ok((
                    parsed.policy,
                    format!(
                        "version {number} (published {} by {})",
                        version.published_at, version.published_by
                    ),
                ))
            }
            PolicyRef::Current => {
                let (policy, source) = self
                    .current_for(group)?
                    .ok_or_else(|| Error::NoPolicy(group.to_owned()))?;
                Ok((policy, format!("current: {source}")))
            }
            PolicyRef::Candidate => {
                let candidate = self.candidate(group).await?;
                Ok((candidate.policy, "the candidate".to_owned()))
            }
            PolicyRef::Given(policy, name) => Ok((policy.clone(), name.clone())),
        }
    }

    /// What changes for `group` from `before` to `after`: the rules, and the apps, events,
    /// hosts and users whose verdict changes over `window` (simulate(after) −
    /// simulate(before)). Both are judged as enforced, whatever modes they are written with.
    pub async fn policy_change(
        &self,
        group: &str,
        before: &PolicyRef,
        after: &PolicyRef,
        window: Window,
    ) -> Result<PolicyChange> {
        let ctx = self.context().await?;
        self.ensure_group(&ctx, group).await?;
        let (old, before_name) = self.resolve_policy(group, before).await?;
        let (new, after_name) = self.resolve_policy(group, after).await?;
        let opts = SimulateOptions {
            window,
            groups: vec![group.to_owned()],
            with_who: true,
            ..SimulateOptions::default()
        };
        let (old_judge, new_judge) = (Evaluator::new(&old, None), Evaluator::new(&new, None));
        let directory = self.directory()?;
        let mut simulations =
            crate::simulate::simulate_each(&ctx, &self.inventory, &[&old_judge, &new_judge], &opts)
                .await?;
        for simulation in &mut simulations {
            simulation.name_users(&directory);
        }
        let (new_simulation, old_simulation) = (simulations.remove(1), simulations.remove(0));
        Ok(PolicyChange {
            group: group.to_owned(),
            before: before_name,
            after: after_name,
            rules: policy::diff::diff(&old, &new),
            impact: crate::versions::impact(&old_simulation, &new_simulation),
        })
    }

    /// Per group and collection: ready to enforce, or why not, judged under `candidate`.
    pub async fn readiness(
        &self,
        candidate: &Candidate,
        sid_groups: Option<SidGroups>,
        opts: &ReadinessOptions,
    ) -> Result<Vec<GroupReadiness>> {
        // The imported identities' memberships count too.
        let sid_groups = self.sid_groups(sid_groups)?;
        let ctx = self.context().await?;
        let hosts = HostGroups::resolve(&ctx, &self.inventory).await?;
        let mut names: Vec<String> = hosts.known_groups(&self.inventory).into_iter().collect();
        if !opts.groups.is_empty() {
            names.retain(|g| opts.groups.contains(g));
        }
        let suggested = match candidate {
            Candidate::Suggested { granularity } => {
                let suggest_opts = SuggestOptions {
                    window: opts.window,
                    groups: names.clone(),
                    granularity: *granularity,
                    include_noise: opts.include_noise,
                    ..SuggestOptions::default()
                };
                self.suggest_on(&ctx, &suggest_opts).await?
            }
            _ => Vec::new(),
        };
        let mut plans = BTreeMap::new();
        for group in names {
            let current = self.current_for(&group)?;
            let decisions = self.decisions_for(&group)?;
            let current_known = current.is_some();
            let configured = current
                .as_ref()
                .map(|(p, _)| configured(p))
                .unwrap_or_default();
            let (policy, include_allowed, description) = match candidate {
                Candidate::Whole(p) => (p.clone(), true, "the policy given".to_owned()),
                Candidate::Suggested { .. } => {
                    let mut p = current.as_ref().map(|(p, _)| p.clone()).unwrap_or_default();
                    if let Some(g) = suggested.iter().find(|g| g.group == group) {
                        p.merge(&policy::suggest::to_policy(
                            &g.suggestions,
                            false,
                            EnforcementMode::AuditOnly,
                            current.as_ref().map(|(p, _)| p),
                        ));
                    }
                    let what = if current.is_some() {
                        "the policy in force plus the suggested rules not flagged for review"
                    } else {
                        "the suggested rules not flagged for review; executions allowed today stay allowed"
                    };
                    (p, current.is_some(), what.to_owned())
                }
                Candidate::Decisions => {
                    let known = current.is_some();
                    let c =
                        build_candidate(&ctx, &self.inventory, &group, current, &decisions).await?;
                    let what = match &c.current {
                        Some(source) => format!("{source}, plus the group's decisions"),
                        None => "the group's decisions (no policy in force imported: executions allowed today stay allowed)".to_owned(),
                    };
                    (c.policy, known, what)
                }
            };
            plans.insert(
                group,
                GroupPlan {
                    evaluator: Evaluator::new(&policy, sid_groups.clone()),
                    include_allowed,
                    configured,
                    decisions,
                    current_known,
                    candidate: description,
                },
            );
        }
        let mut groups = crate::readiness::readiness(&ctx, &self.inventory, &plans, opts).await?;
        let apps = groups.iter_mut().flat_map(|g| {
            g.undecided
                .iter_mut()
                .chain(&mut g.deferred)
                .chain(&mut g.blocked_on_purpose)
        });
        self.directory()?
            .name_users(apps.flat_map(|a| &mut a.users_seen));
        Ok(groups)
    }

    /// Records a decision after checking it against the store: the group is known, the app
    /// appears in its (or, for the fleet, any group's) recorded events, and allowing it has
    /// a safe rule, which is not flagged for review unless `force`.
    pub async fn decide(&self, request: DecideRequest) -> Result<Decision> {
        let ws = self.workspace.as_ref().ok_or(Error::NoWorkspace)?;
        let ctx = self.context().await?;
        let groups = match &request.scope {
            Scope::Group(g) => {
                self.ensure_group(&ctx, g).await?;
                vec![g.clone()]
            }
            Scope::Fleet => Vec::new(),
        };
        let apps = recorded_apps(&ctx, &self.inventory, &groups).await?;
        let Some((group, row)) = apps.into_iter().find(|(_, a)| a.app_id == request.app_id) else {
            return Err(Error::UnknownApp {
                scope: request.scope.to_string(),
                app_id: request.app_id,
            });
        };
        let (mut rule_xml, mut flagged) = (None, Vec::new());
        if request.verdict == Verdict::Allow {
            let suggestions = self
                .suggest_on(
                    &ctx,
                    &SuggestOptions {
                        groups: vec![group.clone()],
                        granularity: request.granularity,
                        ..SuggestOptions::default()
                    },
                )
                .await?;
            let of_group: &[policy::suggest::Suggestion] = suggestions
                .iter()
                .find(|g| g.group == group)
                .map_or(&[], |g| g.suggestions.as_slice());
            let Some((mut rule, review)) = rule_for(&row, of_group, request.granularity, &group)
            else {
                return Err(Error::NoRule {
                    app_id: row.app_id.clone(),
                    label: row.label.clone(),
                    why: "no signature, no hash and not in an admin-only place".into(),
                });
            };
            if !review.is_empty() && !request.force {
                return Err(Error::Flagged {
                    app_id: row.app_id.clone(),
                    label: row.label.clone(),
                    reasons: review
                        .iter()
                        .map(|r| r.message.clone())
                        .collect::<Vec<_>>()
                        .join("; "),
                });
            }
            if request.scope == Scope::Fleet {
                rule.description = format!(
                    "Allowed for every group by a fleet decision. {}",
                    rule.description
                );
            }
            flagged = review.iter().map(|r| format!("{:?}", r.code)).collect();
            rule_xml = Some(policy::write::rule_xml(&rule));
        }
        Ok(ws.decide(NewDecision {
            scope: request.scope,
            app_id: row.app_id.clone(),
            verdict: request.verdict,
            label: row.label.clone(),
            collection: row.collection.map(|c| c.to_string()),
            rule_xml,
            granularity: request.granularity.map(|g| format!("{g:?}").to_lowercase()),
            flagged,
            note: request.note,
            decided_by: request.decided_by,
            expected_version: request.expected_version,
        })?)
    }

    /// The current decisions of `scopes` (none: of every scope), oldest first, each marked
    /// stale when its app no longer appears in the recorded events; or, with `history`,
    /// every entry. The events are read once, however many scopes.
    pub async fn decisions(&self, scopes: &[Scope], history: bool) -> Result<Vec<DecisionView>> {
        let Some(ws) = &self.workspace else {
            return Ok(Vec::new());
        };
        let read = |scope: Option<&Scope>| {
            if history {
                ws.history(scope)
            } else {
                ws.current_decisions(scope)
            }
        };
        let mut decisions = Vec::new();
        if scopes.is_empty() {
            decisions = read(None)?;
        } else {
            for scope in scopes {
                decisions.extend(read(Some(scope))?);
            }
        }
        if decisions.is_empty() {
            return Ok(Vec::new());
        }
        decisions.sort_by_key(|d| d.version);
        let ctx = self.context().await?;
        let apps = recorded_apps(&ctx, &self.inventory, &[]).await?;
        let seen: BTreeSet<(&str, &str)> = apps
            .iter()
            .map(|(g, a)| (g.as_str(), a.app_id.as_str()))
            .collect();
        let seen_anywhere: BTreeSet<&str> = seen.iter().map(|&(_, id)| id).collect();
        Ok(decisions
            .into_iter()
            .map(|d| {
                let stale = match &d.scope {
                    Scope::Group(g) => !seen.contains(&(g.as_str(), d.app_id.as_str())),
                    Scope::Fleet => !seen_anywhere.contains(d.app_id.as_str()),
                };
                DecisionView { decision: d, stale }
            })
            .collect())
    }

    /// An error unless `group` is in the inventory or a computer of the store is in it.
    async fn ensure_group(&self, ctx: &SessionContext, group: &str) -> Result<()> {
        let hosts = HostGroups::resolve(ctx, &self.inventory).await?;
        if hosts.known_groups(&self.inventory).contains(group) {
            Ok(())
        } else {
            Err(Error::UnknownGroup(group.to_owned()))
        }
    }

    /// Audit and blocked events per group and day.
    pub async fn timeline(&self, opts: &TimelineOptions) -> Result<Vec<DayCount>> {
        let ctx = self.context().await?;
        crate::timeline::daily_events(&ctx, &self.inventory, opts).await
    }

    /// Every group the inventory names or the store has computers of.
    pub async fn known_groups(&self) -> Result<BTreeSet<String>> {
        let ctx = self.context().await?;
        let hosts = HostGroups::resolve(&ctx, &self.inventory).await?;
        Ok(hosts.known_groups(&self.inventory))
    }
}

/// The inventory that applies: `given`, else the `inventory.csv` of the one folder among
/// `inputs` (as `lockstep generate` writes it beside the logs), else `DATA/inventory.csv`,
/// else none.
pub fn find_inventory(given: Option<&Path>, inputs: &[PathBuf], data: &Path) -> Option<PathBuf> {
    if let Some(given) = given {
        return Some(given.to_owned());
    }
    inputs_inventory(inputs).or_else(|| Some(data.join(DATA_INVENTORY)).filter(|p| p.is_file()))
}

/// The `inventory.csv` of the one folder among `inputs`, if exactly one has it.
pub fn inputs_inventory(inputs: &[PathBuf]) -> Option<PathBuf> {
    let found: Vec<PathBuf> = inputs
        .iter()
        .map(|p| p.join(DATA_INVENTORY))
        .filter(|p| p.is_file())
        .collect();
    match found.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inventory_that_applies() {
        let dir = tempfile::tempdir().unwrap();
        let (data, logs, other) = (
            dir.path().join("data"),
            dir.path().join("logs"),
            dir.path().join("other"),
        );
        for d in [&data, &logs, &other] {
            std::fs::create_dir(d).unwrap();
        }
        assert_eq!(
            find_inventory(None, std::slice::from_ref(&logs), &data),
            None
        );
        std::fs::write(data.join(DATA_INVENTORY), "computer,group\n").unwrap();
        assert_eq!(
            find_inventory(None, std::slice::from_ref(&logs), &data),
            Some(data.join(DATA_INVENTORY))
        );
        std::fs::write(logs.join(DATA_INVENTORY), "computer,group\n").unwrap();
        assert_eq!(
            find_inventory(None, std::slice::from_ref(&logs), &data),
            Some(logs.join(DATA_INVENTORY)),
            "the input folder's inventory comes before the data folder's"
        );
        std::fs::write(other.join(DATA_INVENTORY), "computer,group\n").unwrap();
        assert_eq!(
            find_inventory(None, &[logs.clone(), other.clone()], &data),
            Some(data.join(DATA_INVENTORY)),
            "two input folders with inventories: neither is guessed"
        );
        let given = dir.path().join("mine.csv");
        assert_eq!(
            find_inventory(Some(&given), &[logs], &data),
            Some(given),
            "the inventory given wins"
        );
    }
}
