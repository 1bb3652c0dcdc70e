//! The workspace over HTTP: each group's policy in force, decisions with names and versions,
//! the candidate, and readiness following the decisions.

use axum::body::Body;
use axum::http::StatusCode;

use crate::support::{ADMIN, READ, Served, request, sample_logs};

const ALICE: &str = "alice-token-for-tests-0123456789";

fn served() -> Served {
    Served::with(true, |config| {
        config.tokens = api::Tokens::named(
            Some(READ),
            vec![
                ("admin".into(), ADMIN.into()),
                ("alice".into(), ALICE.into()),
            ],
        )
        .unwrap();
    })
}

fn current_policy() -> Vec<u8> {
    std::fs::read(sample_logs().join("current-policy.xml")).unwrap()
}

async fn decide(
    served: &Served,
    path: &str,
    token: &str,
    body: &str,
    if_match: Option<&str>,
) -> crate::support::Reply {
    let mut req = request(
        "PUT",
        path,
        Some(token),
        Some("application/json"),
        Body::from(body.to_owned()),
    );
    if let Some(v) = if_match {
        req.headers_mut().insert("if-match", v.parse().unwrap());
    }
    served.send(req).await
}

#[tokio::test]
async fn the_policy_in_force_is_imported_shown_and_refused_when_it_is_not_one() {
    let served = served();
    served
        .get("/api/v1/groups/finance/policy/current", Some(READ))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    let put = |token, body: Vec<u8>, content_type| {
        served.send(request(
            "PUT",
            "/api/v1/fleet/policy/current",
            Some(token),
            Some(content_type),
            Body::from(body),
        ))
    };
    put(READ, current_policy(), "application/xml")
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    let stored = put(ALICE, current_policy(), "application/xml").await;
    assert_eq!(stored.status, StatusCode::OK, "{}", stored.text());
    assert_eq!(stored.json()["imported_by"], "alice");
    assert_eq!(stored.json()["rules"]["Exe"], 2);
    // Every group without its own uses the fleet's.
    let shown = served
        .get("/api/v1/groups/finance/policy/current", Some(READ))
        .await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(
        shown.text().contains("<AppLockerPolicy"),
        "{}",
        shown.text()
    );
    let json = served
        .get(
            "/api/v1/groups/finance/policy/current?format=json",
            Some(READ),
        )
        .await
        .json();
    assert_eq!(json["scope"], "fleet");
    // A broken policy: 400 naming what is wrong, nothing stored.
    let bad = put(
        ALICE,
        b"<AppLockerPolicy><RuleCollection".to_vec(),
        "application/xml",
    )
    .await;
    let message = bad.expect_error(StatusCode::BAD_REQUEST, "bad_body");
    assert!(message.contains("line"), "{message}");
    assert_eq!(bad.json()["code"], "bad_policy");
    let json = served
        .get("/api/v1/fleet/policy/current?format=json", Some(READ))
        .await
        .json();
    assert_eq!(json["version"], 1, "the broken policy was not stored");
    // A GPO's registry.pol, as Group Policy stores the same rules.
    let policy = policy::read::parse(&current_policy()).unwrap().policy;
    let pol = policy::gpo::to_registry_pol(&policy);
    let group = served
        .send(request(
            "PUT",
            "/api/v1/groups/hr/policy/current",
            Some(ADMIN),
            Some("application/octet-stream"),
            Body::from(pol),
        ))
        .await;
    assert_eq!(group.status, StatusCode::OK, "{}", group.text());
    assert_eq!(group.json()["scope"], "group");
    assert_eq!(group.json()["group"], "hr");
    served
        .send(request(
            "PUT",
            "/api/v1/groups/no-such-group/policy/current",
            Some(ADMIN),
            Some("application/xml"),
            Body::from(current_policy()),
        ))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn decisions_are_kept_with_names_and_versions_and_readiness_follows() {
    let served = served();
    let imported = served
        .send(request(
            "PUT",
            "/api/v1/fleet/policy/current",
            Some(ADMIN),
            Some("application/xml"),
            Body::from(current_policy()),
        ))
        .await;
    assert_eq!(imported.status, StatusCode::OK);
    let bloomberg = "/api/v1/groups/finance/decisions/203547b4aeb4ce0a";
    decide(&served, bloomberg, READ, r#"{"verdict":"allow"}"#, None)
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    let first = decide(
        &served,
        bloomberg,
        ALICE,
        r#"{"verdict":"allow","note":"the trading desk"}"#,
        Some("\"0\""),
    )
    .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    let body = first.json();
    assert_eq!(body["decided_by"], "alice");
    assert_eq!(body["verdict"], "allow");
    let etag = first.header("etag").unwrap().to_owned();
    // Someone else decides meanwhile; a client that saw version 0 is told so.
    decide(
        &served,
        bloomberg,
        ADMIN,
        r#"{"verdict":"defer"}"#,
        Some(&etag),
    )
    .await;
    let stale = decide(
        &served,
        bloomberg,
        ALICE,
        r#"{"verdict":"block"}"#,
        Some(&etag),
    )
    .await;
    stale.expect_error(StatusCode::CONFLICT, "conflict");
    decide(
        &served,
        bloomberg,
        ALICE,
        r#"{"verdict":"block"}"#,
        Some("twelve"),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "bad_parameter");
    // Unknown app, unknown group, a flagged suggestion without force, a bad body.
    decide(
        &served,
        "/api/v1/groups/finance/decisions/0000000000000000",
        ADMIN,
        r#"{"verdict":"defer"}"#,
        None,
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "not_found");
    decide(
        &served,
        "/api/v1/groups/nobody/decisions/203547b4aeb4ce0a",
        ADMIN,
        r#"{"verdict":"defer"}"#,
        None,
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "not_found");
    let finrecon = "/api/v1/groups/finance/decisions/543da09605f65d43";
    let flagged = decide(&served, finrecon, ADMIN, r#"{"verdict":"allow"}"#, None).await;
    flagged.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "refused");
    assert_eq!(flagged.json()["code"], "review_flagged");
    let forced = decide(
        &served,
        finrecon,
        ADMIN,
        r#"{"verdict":"allow","force":true}"#,
        None,
    )
    .await;
    assert_eq!(forced.status, StatusCode::OK, "{}", forced.text());
    assert!(!forced.json()["flagged"].as_array().unwrap().is_empty());
    decide(&served, finrecon, ADMIN, r#"{"verdict":"maybe"}"#, None)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_body");
    let fleet = decide(
        &served,
        "/api/v1/fleet/decisions/7c567e2c350957e3",
        ADMIN,
        r#"{"verdict":"block","note":"OneDrive is not allowed here"}"#,
        None,
    )
    .await;
    assert_eq!(fleet.status, StatusCode::OK, "{}", fleet.text());

    // The group's decisions: its own (the latest each) and the fleet's.
    let list = served
        .get("/api/v1/groups/finance/decisions", Some(READ))
        .await
        .json();
    let decisions = list["decisions"].as_array().unwrap();
    let verdict_of = |id: &str| {
        decisions
            .iter()
            .find(|d| d["app_id"] == id)
            .map(|d| d["verdict"].as_str().unwrap().to_owned())
    };
    assert_eq!(verdict_of("203547b4aeb4ce0a").as_deref(), Some("defer"));
    assert_eq!(verdict_of("7c567e2c350957e3").as_deref(), Some("block"));
    assert!(decisions.iter().all(|d| d["stale"] == false));
    let history = served
        .get("/api/v1/groups/finance/decisions?history=true", Some(READ))
        .await
        .json();
    assert_eq!(history["decisions"].as_array().unwrap().len(), 4);

    // Readiness: deferred Bloomberg keeps finance from ready; OneDrive is blocked on purpose.
    let ready = served
        .get("/api/v1/readiness?groups=finance", Some(READ))
        .await
        .json();
    let g = &ready["groups"][0];
    let ids = |list: &str| -> Vec<String> {
        g[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["app_id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(
        ids("deferred").contains(&"203547b4aeb4ce0a".to_owned()),
        "{g}"
    );
    assert!(
        ids("blocked_on_purpose").contains(&"7c567e2c350957e3".to_owned()),
        "{g}"
    );
    assert!(
        !ids("undecided").contains(&"543da09605f65d43".to_owned()),
        "allowed: {g}"
    );

    // The candidate carries the forced allow rule, as XML and as what it was made of.
    let xml = served
        .get(
            "/api/v1/groups/finance/policy/candidate?enforce=EXE",
            Some(READ),
        )
        .await;
    assert_eq!(xml.status, StatusCode::OK, "{}", xml.text());
    assert!(xml.text().contains("FINRECON.EXE"), "{}", xml.text());
    assert!(
        xml.text()
            .contains("Type=\"Exe\" EnforcementMode=\"Enabled\"")
    );
    let made = served
        .get(
            "/api/v1/groups/finance/policy/candidate?format=json",
            Some(READ),
        )
        .await
        .json();
    assert_eq!(made["allowed"], serde_json::json!(["543da09605f65d43"]));
}

#[tokio::test]
async fn a_decision_taken_beside_the_server_is_seen_at_once() {
    let served = served();
    let before = served
        .get("/api/v1/readiness?groups=finance", Some(READ))
        .await;
    let undecided = before.json()["groups"][0]["undecided"]
        .as_array()
        .unwrap()
        .len();
    assert!(undecided > 0);
    // As `lockstep decide` would, from another process's connection.
    let ws = workspace::Workspace::open(&served.data()).unwrap();
    ws.decide(workspace::NewDecision {
        scope: workspace::Scope::Group("finance".into()),
        app_id: "203547b4aeb4ce0a".into(),
        verdict: workspace::Verdict::Block,
        label: "BLOOMBERG".into(),
        collection: Some("EXE".into()),
        rule_xml: None,
        granularity: None,
        flagged: Vec::new(),
        note: None,
        decided_by: "cli".into(),
        expected_version: None,
    })
    .unwrap();
    let after = served
        .get("/api/v1/readiness?groups=finance", Some(READ))
        .await;
    assert_eq!(after.header("x-cache"), Some("miss"));
    let now = after.json()["groups"][0]["undecided"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(now, undecided - 1);
}

#[tokio::test]
async fn whoami_names_the_token_and_what_it_may_do() {
    let served = served();
    for (token, name, role) in [
        (READ, "reader", "read"),
        (ADMIN, "admin", "admin"),
        (ALICE, "alice", "admin"),
    ] {
        let reply = served.get("/api/v1/whoami", Some(token)).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(
            reply.json(),
            serde_json::json!({"name": name, "role": role})
        );
    }
    served
        .get("/api/v1/whoami", Some("not-a-token-of-this-server-at-all"))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
}

async fn post_json(served: &Served, path: &str, token: &str, body: &str) -> crate::support::Reply {
    served
        .send(request(
            "POST",
            path,
            Some(token),
            Some("application/json"),
            Body::from(body.to_owned()),
        ))
        .await
}

/// Versions, diffs, the rollout record and the monitor over HTTP, recorded under the
/// admin token's name.
#[tokio::test]
async fn versions_diff_rollouts_and_monitor() {
    let served = served();
    let put = request(
        "PUT",
        "/api/v1/groups/finance/policy/current",
        Some(ADMIN),
        Some("application/xml"),
        Body::from(current_policy()),
    );
    assert_eq!(served.send(put).await.status, StatusCode::OK);
    // Publishing needs the admin token; the first is new (201), the same again is not (200).
    post_json(&served, "/api/v1/groups/finance/versions", READ, "{}")
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    let first = post_json(
        &served,
        "/api/v1/groups/finance/versions",
        ALICE,
        r#"{"note": "baseline"}"#,
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text());
    assert_eq!(first.json()["published_by"], "alice");
    assert_eq!(first.json()["version"], 1);
    let again = post_json(&served, "/api/v1/groups/finance/versions", ALICE, "{}").await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json()["new"], false);
    let listed = served
        .get("/api/v1/groups/finance/versions", Some(READ))
        .await
        .json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let xml = served
        .get("/api/v1/groups/finance/versions/1?enforce=EXE", Some(READ))
        .await;
    assert_eq!(xml.status, StatusCode::OK);
    let exported = policy::read::parse(xml.text().as_bytes()).unwrap().policy;
    assert_eq!(
        exported
            .collection(policy::CollectionKind::Exe)
            .unwrap()
            .mode,
        Some(policy::EnforcementMode::Enabled)
    );
    served
        .get("/api/v1/groups/finance/versions/5", Some(READ))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");

    // An allow decision, then the diff of version 1 and the candidate.
    let decided = decide(
        &served,
        "/api/v1/groups/finance/decisions/203547b4aeb4ce0a",
        ALICE,
        r#"{"verdict": "allow"}"#,
        None,
    )
    .await;
    assert_eq!(decided.status, StatusCode::OK, "{}", decided.text());
    let change = served
        .get(
            "/api/v1/groups/finance/diff?before=1&after=candidate",
            Some(READ),
        )
        .await;
    assert_eq!(change.status, StatusCode::OK, "{}", change.text());
    let change = change.json();
    assert_eq!(change["rules"]["added"].as_array().unwrap().len(), 1);
    assert_eq!(
        change["impact"]["newly_allowed"][0]["app_id"],
        "203547b4aeb4ce0a"
    );
    served
        .get(
            "/api/v1/groups/finance/diff?before=1&after=latest",
            Some(READ),
        )
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_parameter");

    // The rollout record: enforcing needs a published version.
    let refused = post_json(
        &served,
        "/api/v1/groups/finance/rollouts",
        ALICE,
        r#"{"mode": "enforce", "collections": ["EXE"], "version": 7}"#,
    )
    .await;
    assert_eq!(
        refused.status,
        StatusCode::BAD_REQUEST,
        "{}",
        refused.text()
    );
    let recorded = post_json(
        &served,
        "/api/v1/groups/finance/rollouts",
        ALICE,
        r#"{"mode": "enforce", "collections": ["EXE"], "version": 1, "at": "2026-10-12"}"#,
    )
    .await;
    assert_eq!(recorded.status, StatusCode::CREATED, "{}", recorded.text());
    assert_eq!(recorded.json()["recorded"][0]["recorded_by"], "alice");
    assert_eq!(recorded.json()["recorded"][0]["at"], "2026-10-12T00:00:00Z");
    assert_eq!(recorded.json()["warnings"], serde_json::json!([]));
    let record = served
        .get("/api/v1/groups/finance/rollouts", Some(READ))
        .await
        .json();
    assert_eq!(record.as_array().unwrap().len(), 1);
    let monitor = served
        .get("/api/v1/groups/finance/monitor", Some(READ))
        .await;
    assert_eq!(monitor.status, StatusCode::OK, "{}", monitor.text());
    let monitor = monitor.json();
    assert_eq!(monitor["collections"][0]["collection"], "EXE");
    assert_eq!(monitor["warnings"][0]["code"], "still_auditing");
    served
        .get("/api/v1/groups/nosuch/monitor", Some(READ))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");

    // Enforcing a collection the version has no rules for is recorded, with a warning:
    // sales' version 1 has Exe rules only.
    let exe_only = r#"<AppLockerPolicy Version="1"><RuleCollection Type="Exe" EnforcementMode="AuditOnly"><FilePathRule Id="921cc481-6e17-4653-8f75-050b80acca20" Name="Program Files" Description="" UserOrGroupSid="S-1-1-0" Action="Allow"><Conditions><FilePathCondition Path="%PROGRAMFILES%\*" /></Conditions></FilePathRule></RuleCollection></AppLockerPolicy>"#;
    let put = request(
        "PUT",
        "/api/v1/groups/sales/policy/current",
        Some(ADMIN),
        Some("application/xml"),
        Body::from(exe_only),
    );
    assert_eq!(served.send(put).await.status, StatusCode::OK);
    let published = post_json(&served, "/api/v1/groups/sales/versions", ALICE, "{}").await;
    assert_eq!(
        published.status,
        StatusCode::CREATED,
        "{}",
        published.text()
    );
    let no_rules = post_json(
        &served,
        "/api/v1/groups/sales/rollouts",
        ALICE,
        r#"{"mode": "enforce", "collections": ["EXE", "MSI"], "version": 1, "at": "2026-10-13"}"#,
    )
    .await;
    assert_eq!(no_rules.status, StatusCode::CREATED, "{}", no_rules.text());
    assert_eq!(no_rules.json()["recorded"].as_array().unwrap().len(), 2);
    let warnings = &no_rules.json()["warnings"];
    assert_eq!(warnings.as_array().unwrap().len(), 1, "{warnings}");
    assert_eq!(warnings[0]["code"], "no_rules", "{warnings}");
    assert_eq!(warnings[0]["collection"], "MSI");
    assert!(
        warnings[0]["message"]
            .as_str()
            .unwrap()
            .contains("blocks everything of the collection"),
        "{warnings}"
    );
}
