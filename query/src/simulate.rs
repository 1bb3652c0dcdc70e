//! `simulate`: what a candidate policy would block, per group, judged on every recorded
//! execution (allowed, audit and blocked events).

use std::collections::BTreeMap;

use datafusion::prelude::SessionContext;
use policy::{Decision, Evaluator};
use schema::{Collection, Outcome};

use crate::columns::{collect, ints, lists, strings};
use crate::inventory::{HostGroups, Inventory, sql_string};
use crate::report::{AppRow, apps_sql, noise_filter, read_apps};
use crate::whatif::{Executions, Judging, Keep, judged_fine_sql, register_judged};
use crate::{Result, Window};

/// The class of an allowed execution that is a bypass risk, beside `still` and `newly`.
const BYPASS: &str = "bypass";

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimulateOptions {
    pub window: Window,
    /// Only these groups (all when empty).
    pub groups: Vec<String>,
    pub include_noise: bool,
    /// Re-evaluate executions the current policy allowed too (to find what the candidate
    /// newly blocks). Off when the candidate only adds rules to a policy that is not known,
    /// so what it allowed stays allowed.
    pub include_allowed: bool,
    /// List each blocked app's hosts and users (who would have to be told).
    pub with_who: bool,
    /// The policy that logged the events is not known, and the candidate is only rules
    /// added to it: an audited or blocked execution in a collection the candidate has no
    /// rules for stays blocked (the unknown policy has rules there: it logged the event).
    pub unknown_current: bool,
}

impl Default for SimulateOptions {
    fn default() -> Self {
        SimulateOptions {
            window: Window::default(),
            groups: Vec::new(),
            include_noise: false,
            include_allowed: true,
            with_who: false,
            unknown_current: false,
        }
    }
}

/// An app the candidate would block, with the rules (or implicit deny) that block it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BlockedApp {
    #[serde(flatten)]
    pub app: AppRow,
    /// Deny rules that match, or `implicit deny` (no allow rule matched).
    pub blocked_by: Vec<String>,
    /// The hosts (computer keys) and users it would be blocked for, when asked for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub host_names: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub user_sids: Vec<String>,
}

/// An app the candidate allows only through a path rule on a place standard users can
/// write: anyone could put another program there and it would run too.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BypassRisk {
    #[serde(flatten)]
    pub app: AppRow,
    /// The path rules that allow it.
    pub allowed_by: Vec<String>,
    /// Why its folders are writable (`policy::path::user_writable`).
    pub writable_places: Vec<String>,
}

/// One group under the candidate policy.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupSimulation {
    pub group: String,
    /// Would-be-blocked (audit) or blocked events the candidate still blocks.
    pub still_blocked_events: u64,
    /// Events the current policy allowed that the candidate would block.
    pub newly_blocked_events: u64,
    pub still_blocked: Vec<BlockedApp>,
    pub newly_blocked: Vec<BlockedApp>,
    /// Distinct hosts with a blocked execution, per collection.
    pub blocked_hosts: BTreeMap<Collection, u64>,
    /// Apps allowed by a path rule on a user-writable folder (a bypass risk to close with a
    /// publisher or hash rule).
    pub bypass_risks: Vec<BypassRisk>,
    /// When the candidate carries hardening rules (`policy::harden`): the blocked apps they
    /// deny, with their hosts and users (who would be hit).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hardening_hits: Vec<BlockedApp>,
}

/// The simulation.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Simulation {
    pub window: Window,
    /// Executions judged: one per computer, outcome and file identity, whatever its
    /// number of events.
    pub executions_judged: usize,
    pub groups: Vec<GroupSimulation>,
    /// `DOMAIN\name` of the SIDs the answer lists, where known (imported identities,
    /// well-known SIDs); see [`Simulation::name_users`].
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub names: BTreeMap<String, String>,
}

impl Simulation {
    /// Fills [`Simulation::names`] for every user SID the answer lists, and the names of
    /// its app rows' users.
    pub fn name_users(&mut self, directory: &policy::identities::Directory) {
        for g in &mut self.groups {
            let blocked = g
                .still_blocked
                .iter_mut()
                .chain(&mut g.newly_blocked)
                .chain(&mut g.hardening_hits);
            for app in blocked {
                for sid in &app.user_sids {
                    if let Some(name) = directory.name(sid) {
                        self.names.insert(sid.clone(), name.to_owned());
                    }
                }
                directory.name_users(&mut app.app.users_seen);
            }
            for risk in &mut g.bypass_risks {
                directory.name_users(&mut risk.app.users_seen);
            }
        }
    }
}

/// Re-evaluates every recorded execution in the window under `evaluator`.
pub async fn simulate(
    ctx: &SessionContext,
    inventory: &Inventory,
    evaluator: &Evaluator,
    opts: &SimulateOptions,
) -> Result<Simulation> {
    let hosts = HostGroups::resolve(ctx, inventory).await?;
    let executions = Executions::of_events(
        ctx,
        judged_outcomes(opts),
        &opts.window,
        &hosts.scope_sql(&opts.groups),
    );
    simulate_executions(ctx, inventory, &hosts, evaluator, opts, &executions).await
}

/// [`simulate`] under each of `candidates`, on one aggregate of the events (computed once,
/// not once per candidate): the answers in the candidates' order.
pub async fn simulate_each(
    ctx: &SessionContext,
    inventory: &Inventory,
    candidates: &[&Evaluator],
    opts: &SimulateOptions,
) -> Result<Vec<Simulation>> {
    let hosts = HostGroups::resolve(ctx, inventory).await?;
    let (outcomes, scope) = (judged_outcomes(opts), hosts.scope_sql(&opts.groups));
    Executions::register(ctx, outcomes, &opts.window, &scope).await?;
    let executions = Executions::narrowed(outcomes, &scope);
    let mut out = Vec::with_capacity(candidates.len());
    for evaluator in candidates {
        out.push(simulate_executions(ctx, inventory, &hosts, evaluator, opts, &executions).await?);
    }
    Ok(out)
}

/// The outcomes a simulation judges: audit and blocked, and allowed when asked for.
pub(crate) fn judged_outcomes(opts: &SimulateOptions) -> &'static [Outcome] {
    if opts.include_allowed {
        &[Outcome::Allowed, Outcome::Audit, Outcome::Blocked]
    } else {
        &[Outcome::Audit, Outcome::Blocked]
    }
}

/// [`simulate`] on `executions` (the events, or a table computed once for many
/// simulations), which must hold the window's executions with [`judged_outcomes`] within
/// `opts.groups`.
pub(crate) async fn simulate_executions(
    ctx: &SessionContext,
    inventory: &Inventory,
    hosts: &HostGroups,
    evaluator: &Evaluator,
    opts: &SimulateOptions,
    executions: &Executions,
) -> Result<Simulation> {
    let keep = keep_simulated(opts);
    let judging = Judging::One(evaluator, &keep);
    simulate_judging(ctx, inventory, hosts, judging, opts, executions).await
}

/// What a simulation keeps of the judged executions: the blocked ones (`still`, `newly`)
/// and the allowed ones a path rule on a user-writable place lets run (`bypass`).
pub(crate) fn keep_simulated(opts: &SimulateOptions) -> Keep {
    let blocking: &[Decision] = if opts.unknown_current {
        &[
            Decision::Denied,
            Decision::ImplicitDeny,
            Decision::NotCovered,
        ]
    } else {
        &Decision::BLOCKING
    };
    Keep {
        decisions: blocking.to_vec(),
        writable: true,
        allowed_today: opts.include_allowed,
    }
}

/// [`simulate_executions`] with `judging`'s candidates (readiness: each group's own, in
/// one pass); `opts.groups` are the groups answered for, and `opts.include_allowed` and
/// `unknown_current` are taken from each candidate's [`Keep`] instead.
pub(crate) async fn simulate_judging(
    ctx: &SessionContext,
    inventory: &Inventory,
    hosts: &HostGroups,
    judging: Judging<'_>,
    opts: &SimulateOptions,
    executions: &Executions,
) -> Result<Simulation> {
    // One pass over the executions; the app queries below read what it kept.
    let judged = register_judged(ctx, judging, executions).await?;
    let fine = judged_fine_sql(&format!(
        "CASE WHEN decision = {} THEN '{BYPASS}' WHEN outcome = {} THEN 'newly' ELSE 'still' END",
        sql_string(Decision::Allowed.as_str()),
        Outcome::Allowed.sql()
    ));
    let filter = format!(
        "{}{}",
        noise_filter(opts.include_noise),
        crate::report::in_list("grp", &opts.groups)
    );
    // Hardening rules are a what-if about people: who they would hit is the answer.
    let with_who = opts.with_who
        || judging.evaluators().iter().any(|e| {
            e.rules()
                .any(|r| policy::harden::is_hardening_rule(&r.name))
        });
    let who = if with_who {
        ", array_agg(DISTINCT computer_key) AS host_names"
    } else {
        ""
    };
    let sql = apps_sql(
        &fine,
        Some("status"),
        hosts,
        &filter,
        &format!(
            ", array_agg(DISTINCT CASE WHEN decision IN ({}, {}) THEN rule_name ELSE 'implicit deny' END) AS blocked_by,
               array_agg(DISTINCT writable_place) AS writable_places{who}",
            sql_string(Decision::Denied.as_str()),
            sql_string(Decision::Allowed.as_str())
        ),
    );
    let hosts_sql = format!(
        r"SELECT h.grp, f.collection, COUNT(DISTINCT h.computer_key) AS hosts
          FROM ({fine}) f JOIN ({host_groups}) h ON f.computer = h.computer
          WHERE f.status <> '{BYPASS}' {filter}
          GROUP BY h.grp, f.collection",
        host_groups = hosts.table_sql(),
    );
    let (batches, host_batches) = tokio::try_join!(collect(ctx, &sql), collect(ctx, &hosts_sql))?;
    let mut groups: BTreeMap<String, GroupSimulation> = BTreeMap::new();
    for name in inventory.groups() {
        groups
            .entry(name.clone())
            .or_insert_with(|| GroupSimulation {
                group: name,
                ..GroupSimulation::default()
            });
    }
    let list_of = |name: &str| -> Result<Vec<Vec<Vec<String>>>> {
        batches.iter().map(|b| lists(b, name)).collect()
    };
    let blocked_by = list_of("blocked_by")?;
    let writable_places = list_of("writable_places")?;
    let (host_names, user_sids) = if with_who {
        (list_of("host_names")?, list_of("user_sids")?)
    } else {
        (Vec::new(), Vec::new())
    };
    for app in read_apps(&batches, Some("status"))? {
        let g = groups
            .entry(app.group.clone())
            .or_insert_with(|| GroupSimulation {
                group: app.group.clone(),
                ..GroupSimulation::default()
            });
        let mut rules = blocked_by[app.batch][app.index].clone();
        rules.sort();
        let sorted = |lists: &[Vec<Vec<String>>]| {
            let mut names = lists
                .get(app.batch)
                .map(|b| b[app.index].clone())
                .unwrap_or_default();
            names.sort();
            names
        };
        if app.class.as_deref() == Some(BYPASS) {
            g.bypass_risks.push(BypassRisk {
                app: app.row,
                allowed_by: rules,
                writable_places: sorted(&writable_places),
            });
            continue;
        }
        let blocked = BlockedApp {
            app: app.row,
            blocked_by: rules,
            host_names: sorted(&host_names),
            user_sids: sorted(&user_sids),
        };
        if app.class.as_deref() == Some("newly") {
            g.newly_blocked_events += blocked.app.events;
            g.newly_blocked.push(blocked);
        } else {
            g.still_blocked_events += blocked.app.events;
            g.still_blocked.push(blocked);
        }
    }
    for batch in &host_batches {
        let (grp, collection, count) = (
            strings(batch, "grp")?,
            strings(batch, "collection")?,
            ints(batch, "hosts")?,
        );
        for i in 0..batch.num_rows() {
            let collection = collection[i].as_deref().and_then(|c| c.parse().ok());
            if let (Some(g), Some(c)) = (
                groups.get_mut(grp[i].as_deref().unwrap_or_default()),
                collection,
            ) {
                g.blocked_hosts.insert(c, count[i] as u64);
            }
        }
    }
    for g in groups.values_mut() {
        g.hardening_hits = g
            .still_blocked
            .iter()
            .chain(&g.newly_blocked)
            .filter(|a| {
                a.blocked_by
                    .iter()
                    .any(|r| policy::harden::is_hardening_rule(r))
            })
            .cloned()
            .collect();
    }
    let mut groups: Vec<GroupSimulation> = groups.into_values().collect();
    if !opts.groups.is_empty() {
        groups.retain(|g| opts.groups.contains(&g.group));
    }
    Ok(Simulation {
        window: opts.window,
        executions_judged: judged,
        groups,
        names: BTreeMap::new(),
    })
}

/// The apps of `group` that `evaluator` lets run at least once: some recorded execution
/// (allowed, audit or blocked) it allows, or leaves to a collection without rules. A block
/// decision on such an app needs a deny rule to hold.
pub async fn apps_it_allows(
    ctx: &SessionContext,
    inventory: &Inventory,
    evaluator: &Evaluator,
    group: &str,
    window: &Window,
) -> Result<Vec<AppRow>> {
    let outcomes = [Outcome::Allowed, Outcome::Audit, Outcome::Blocked];
    let hosts = HostGroups::resolve(ctx, inventory).await?;
    let groups = [group.to_owned()];
    let executions = Executions::of_events(ctx, &outcomes, window, &hosts.scope_sql(&groups));
    let keep = Keep {
        decisions: vec![Decision::Allowed, Decision::NotCovered],
        writable: false,
        allowed_today: true,
    };
    register_judged(ctx, Judging::One(evaluator, &keep), &executions).await?;
    let fine = judged_fine_sql("'any'");
    let sql = apps_sql(
        &fine,
        None,
        &hosts,
        &crate::report::in_list("grp", &groups),
        "",
    );
    Ok(read_apps(&collect(ctx, &sql).await?, None)?
        .into_iter()
        .map(|a| a.row)
        .collect())
}
