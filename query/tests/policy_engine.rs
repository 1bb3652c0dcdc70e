//! The policy engine over real stores: suggest → simulate leaves nothing blocked but the
//! apps flagged for review (sample-logs and generated fleets of several seeds), no suggested
//! path rule on a user-writable place, and simulate's answers for trivial policies.

use datafusion::prelude::SessionContext;
use policy::path::{canonical, user_writable};
use policy::suggest::{ReviewCode, to_policy};
use policy::{CollectionKind, Condition, EnforcementMode, Evaluator, Policy};
use query::report::{ReportOptions, blocked_apps_by_group};
use query::simulate::{BlockedApp, SimulateOptions, simulate};
use query::suggest::{SuggestOptions, suggest_rules};

use crate::fixtures::*;

/// The label of a blocked row's app (the one the suggestions list it by).
fn label(b: &BlockedApp) -> String {
    b.app.label.clone()
}

/// Applies each group's suggested rules (those not flagged) and checks that only flagged
/// apps are still blocked. Returns (rules applied, flagged items) for sanity checks.
async fn suggested_rules_unblock_everything_not_flagged(
    ctx: &SessionContext,
    inventory: &query::Inventory,
) -> (usize, usize) {
    let groups = suggest_rules(ctx, inventory, None, &SuggestOptions::default())
        .await
        .unwrap();
    let (mut applied, mut flagged_total) = (0, 0);
    for g in &groups {
        for s in &g.suggestions {
            if let Some(rule) = &s.rule
                && let Condition::Path(p) = &rule.condition
            {
                assert_eq!(
                    user_writable(&canonical(&p.path)),
                    None,
                    "{}: path rule on a user-writable place: {}",
                    g.group,
                    p.path
                );
            }
        }
        let policy = to_policy(&g.suggestions, false, EnforcementMode::AuditOnly, None);
        applied += policy.rules().count();
        let flagged: Vec<&String> = g
            .suggestions
            .iter()
            .filter(|s| !s.review.is_empty())
            .flat_map(|s| &s.apps)
            .collect();
        flagged_total += flagged.len();
        let sim = simulate(
            ctx,
            inventory,
            &Evaluator::new(&policy, None),
            &SimulateOptions {
                groups: vec![g.group.clone()],
                ..SimulateOptions::default()
            },
        )
        .await
        .unwrap();
        let residual: Vec<String> = sim
            .groups
            .iter()
            .flat_map(|r| &r.still_blocked)
            .map(label)
            .filter(|l| !flagged.contains(&l))
            .collect();
        assert!(
            residual.is_empty(),
            "{}: still blocked but not flagged: {residual:#?}",
            g.group
        );
    }
    (applied, flagged_total)
}

#[test]
fn suggest_then_simulate_on_sample_logs() {
    runtime().block_on(async {
        let (_data, ctx) = sample_context().await;
        let (applied, flagged) =
            suggested_rules_unblock_everything_not_flagged(&ctx, &sample_inventory()).await;
        assert!(
            applied >= 10 && flagged >= 5,
            "{applied} rules, {flagged} flagged"
        );
    });
}

#[test]
fn suggest_then_simulate_on_generated_fleets() {
    for seed in [11, 12, 13] {
        let logs = tempfile::tempdir().unwrap();
        let opts = generate::Options {
            seed,
            hosts: 24,
            groups: 4,
            days: 10,
            events: 3_000,
            forwarded: 1,
            wef_coverage: 50,
            ..generate::Options::default()
        };
        generate::generate(&opts, logs.path(), &Default::default()).unwrap();
        let data = tempfile::tempdir().unwrap();
        ingest::ingest(
            &ingest::Options {
                data_dir: data.path().to_owned(),
                paths: vec![logs.path().to_owned()],
                strict: false,
                threads: 2,
            },
            &ingest::Progress::default(),
        )
        .unwrap();
        let inventory = query::Inventory::from_path(&logs.path().join("inventory.csv")).unwrap();
        runtime().block_on(async {
            let ctx = SessionContext::new();
            query::register_store(&ctx, &schema::Store::new(data.path()))
                .await
                .unwrap();
            let (applied, _) =
                suggested_rules_unblock_everything_not_flagged(&ctx, &inventory).await;
            assert!(applied > 0, "seed {seed}: no rules suggested");
        });
    }
}

#[test]
fn simulate_with_trivial_policies() {
    runtime().block_on(async {
        let (_data, ctx) = sample_context().await;
        let inventory = sample_inventory();
        // No rules at all: every collection allows everything.
        let none = simulate(&ctx, &inventory, &Evaluator::new(&Policy::default(), None), &SimulateOptions::default())
            .await
            .unwrap();
        assert!(none.executions_judged > 100, "{}", none.executions_judged);
        assert!(none.groups.iter().all(|g| g.still_blocked.is_empty() && g.newly_blocked.is_empty()));

        // A rule that allows nothing in each collection: every recorded execution is blocked,
        // and what was audited is "still" blocked, app for app as the report lists it.
        let xml = r#"<AppLockerPolicy Version="1">
          <RuleCollection Type="Appx" EnforcementMode="Enabled"><FilePathRule Id="00000000-0000-4000-8000-000000000001" Name="nothing" Description="" UserOrGroupSid="S-1-1-0" Action="Allow"><Conditions><FilePathCondition Path="Z:\nothing" /></Conditions></FilePathRule></RuleCollection>
          <RuleCollection Type="Dll" EnforcementMode="Enabled"><FilePathRule Id="00000000-0000-4000-8000-000000000002" Name="nothing" Description="" UserOrGroupSid="S-1-1-0" Action="Allow"><Conditions><FilePathCondition Path="Z:\nothing" /></Conditions></FilePathRule></RuleCollection>
          <RuleCollection Type="Exe" EnforcementMode="Enabled"><FilePathRule Id="00000000-0000-4000-8000-000000000003" Name="nothing" Description="" UserOrGroupSid="S-1-1-0" Action="Allow"><Conditions><FilePathCondition Path="Z:\nothing" /></Conditions></FilePathRule></RuleCollection>
          <RuleCollection Type="Msi" EnforcementMode="Enabled"><FilePathRule Id="00000000-0000-4000-8000-000000000004" Name="nothing" Description="" UserOrGroupSid="S-1-1-0" Action="Allow"><Conditions><FilePathCondition Path="Z:\nothing" /></Conditions></FilePathRule></RuleCollection>
          <RuleCollection Type="Script" EnforcementMode="Enabled"><FilePathRule Id="00000000-0000-4000-8000-000000000005" Name="nothing" Description="" UserOrGroupSid="S-1-1-0" Action="Allow"><Conditions><FilePathCondition Path="Z:\nothing" /></Conditions></FilePathRule></RuleCollection>
        </AppLockerPolicy>"#;
        let nothing = policy::read::parse(xml.as_bytes()).unwrap().policy;
        let sim = simulate(&ctx, &inventory, &Evaluator::new(&nothing, None), &SimulateOptions::default())
            .await
            .unwrap();
        let report = blocked_apps_by_group(&ctx, &inventory, &ReportOptions::default())
            .await
            .unwrap();
        for g in &report.groups {
            let s = sim.groups.iter().find(|s| s.group == g.group).unwrap();
            let audit: u64 = g.apps.iter().map(|a| a.events).sum();
            let still_audit: u64 = s.still_blocked.iter().map(|a| a.app.events).sum::<u64>();
            assert!(still_audit >= audit, "{}: {still_audit} < {audit}", g.group);
            assert!(s.still_blocked.iter().all(|a| a.blocked_by == ["implicit deny"]));
            if g.hosts_reporting > g.hosts_policy_only {
                assert!(s.newly_blocked_events > 0, "{}: allowed executions are newly blocked", g.group);
            }
        }
        // Judging only what is blocked today (the candidate adds to an unknown policy).
        let only_today = simulate(
            &ctx,
            &inventory,
            &Evaluator::new(&nothing, None),
            &SimulateOptions {
                include_allowed: false,
                ..SimulateOptions::default()
            },
        )
        .await
        .unwrap();
        for (all, today) in sim.groups.iter().zip(&only_today.groups) {
            assert_eq!(all.still_blocked, today.still_blocked, "{}", all.group);
            assert!(today.newly_blocked.is_empty(), "{}", today.group);
        }
    });
}

#[test]
fn suggest_skips_what_the_current_policy_allows_and_flags_what_it_denies() {
    runtime().block_on(async {
        let (_data, ctx) = sample_context().await;
        let inventory = sample_inventory();
        let current = r#"<AppLockerPolicy Version="1"><RuleCollection Type="Exe" EnforcementMode="AuditOnly">
          <FilePathRule Id="00000000-0000-4000-8000-000000000001" Name="everything" Description="" UserOrGroupSid="S-1-1-0" Action="Allow"><Conditions><FilePathCondition Path="*" /></Conditions></FilePathRule>
          <FilePublisherRule Id="00000000-0000-4000-8000-000000000002" Name="no Bloomberg" Description="" UserOrGroupSid="S-1-1-0" Action="Deny"><Conditions><FilePublisherCondition PublisherName="CN=BLOOMBERG FINANCE L.P., O=BLOOMBERG FINANCE L.P., L=NEW YORK, S=NEW YORK, C=US" ProductName="*" BinaryName="*"><BinaryVersionRange LowSection="*" HighSection="*" /></FilePublisherCondition></Conditions></FilePublisherRule>
        </RuleCollection></AppLockerPolicy>"#;
        let current = policy::read::parse(current.as_bytes()).unwrap().policy;
        let without = suggest_rules(&ctx, &inventory, None, &SuggestOptions::default())
            .await
            .unwrap();
        let with = suggest_rules(&ctx, &inventory, Some(&current), &SuggestOptions::default())
            .await
            .unwrap();
        let exe = |groups: &[query::suggest::GroupSuggestions]| -> Vec<policy::suggest::Suggestion> {
            groups
                .iter()
                .flat_map(|g| g.suggestions.iter().cloned())
                .filter(|s| s.collection == CollectionKind::Exe)
                .collect()
        };
        assert!(exe(&without).len() > 5, "the fleet has EXE suggestions without a policy");
        let remaining = exe(&with);
        assert!(!remaining.is_empty(), "Bloomberg is still blocked: denied");
        for s in &remaining {
            assert!(s.apps.iter().all(|a| a.contains("BLOOMBERG")), "{s:?}");
            assert!(
                s.review.iter().any(|r| r.code == ReviewCode::DeniedByCurrentPolicy
                    && (r.message.contains("no bloomberg") || r.message.contains("\"no Bloomberg\""))),
                "{:?}",
                s.review
            );
        }
        // That policy has no DLL, MSI or Script rules, so it allows everything there: nothing
        // to suggest. It has Exe rules and no Appx rules, so packaged apps are blocked: their
        // suggestions stay.
        let count = |groups: &[query::suggest::GroupSuggestions], kind: CollectionKind| {
            groups
                .iter()
                .flat_map(|g| &g.suggestions)
                .filter(|s| s.collection == kind)
                .count()
        };
        for kind in [CollectionKind::Dll, CollectionKind::Msi, CollectionKind::Script] {
            assert_eq!(count(&with, kind), 0, "{kind}");
        }
        assert!(count(&without, CollectionKind::Appx) > 0);
        assert_eq!(
            count(&with, CollectionKind::Appx),
            count(&without, CollectionKind::Appx)
        );
    });
}

/// The generator writes its fleet's current policy beside the logs; the evaluator, judging
/// every recorded execution under it, must reach the generator's own verdicts: what it
/// logged as audited or blocked is blocked, what it logged as allowed is allowed.
#[test]
fn the_generators_current_policy_judges_as_the_generator_did() {
    let rt = runtime();
    let (_data, ctx) = rt.block_on(sample_context());
    let xml = std::fs::read(sample_logs().join(generate::CURRENT_POLICY_FILE)).unwrap();
    let current = policy::read::parse(&xml).unwrap().policy;
    let sim = rt
        .block_on(simulate(
            &ctx,
            &sample_inventory(),
            &Evaluator::new(&current, None),
            &SimulateOptions::default(),
        ))
        .unwrap();
    let report = rt
        .block_on(blocked_apps_by_group(
            &ctx,
            &sample_inventory(),
            &ReportOptions {
                outcome: query::report::OutcomeFilter::All,
                ..ReportOptions::default()
            },
        ))
        .unwrap();
    for g in &sim.groups {
        assert!(
            g.newly_blocked.is_empty(),
            "{}: {:#?}",
            g.group,
            g.newly_blocked
        );
        let logged: u64 = report
            .groups
            .iter()
            .find(|r| r.group == g.group)
            .map_or(0, |r| r.apps.iter().map(|a| a.events).sum());
        assert_eq!(g.still_blocked_events, logged, "{}", g.group);
    }
}
