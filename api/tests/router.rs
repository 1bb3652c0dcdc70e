//! Every endpoint and every error status, through the router (no socket).

use axum::body::Body;
use axum::http::StatusCode;
use query::report::ReportOptions;

use crate::support::{ADMIN, READ, Served, direct_context, inventory, request, sample_logs};

#[tokio::test]
async fn health_needs_no_token() {
    let served = Served::empty();
    let reply = served.get("/api/v1/health", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["status"], "ok");
}

/// `GET /collector`: null until a collector has run on the data folder, then its status.
#[tokio::test]
async fn the_collector_status_is_null_until_one_runs() {
    let served = Served::empty();
    let reply = served.get("/api/v1/collector", Some(READ)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), serde_json::json!({ "status": null }));
    let watched = sample_logs().join("FIN-LT001");
    let mut collector =
        ingest::collect::Collector::new(&served.data(), std::slice::from_ref(&watched));
    collector.no_settling = true;
    assert!(collector.pass().rows_new > 0);
    let status = served.get("/api/v1/collector", Some(READ)).await.json();
    let status = &status["status"];
    assert_eq!(status["watch"][0], watched.display().to_string());
    assert!(status["files"].as_array().unwrap().len() >= 3, "{status}");
    assert!(
        status["files"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["behind"] == 0)
    );
}

#[tokio::test]
async fn every_other_endpoint_needs_a_valid_token() {
    let served = Served::empty();
    for (method, path) in api::route_list() {
        if path == "/api/v1/health" {
            continue;
        }
        let uri = path.replace("{group}", "finance");
        let method = method.to_ascii_uppercase();
        for token in [None, Some("not-the-token-0123456789")] {
            let reply = served
                .send(request(&method, &uri, token, None, Body::empty()))
                .await;
            reply.expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
            assert!(
                reply
                    .header("www-authenticate")
                    .is_some_and(|v| v.starts_with("Bearer")),
                "{method} {uri}"
            );
        }
        // A malformed header is no token either.
        let reply = served
            .send(
                axum::http::Request::builder()
                    .method(method.as_str())
                    .uri(&uri)
                    .header("authorization", format!("Basic {READ}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        reply.expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
}

#[tokio::test]
async fn the_read_token_cannot_change_anything() {
    let served = Served::sample();
    let before = served.manifest();
    let reply = served
        .send(request(
            "POST",
            "/api/v1/ingest",
            Some(READ),
            Some("application/octet-stream"),
            Body::from(std::fs::read(sample_logs().join("ForwardedEvents-1.evtx")).unwrap()),
        ))
        .await;
    reply.expect_error(StatusCode::FORBIDDEN, "forbidden");
    let reply = served
        .send(request(
            "PUT",
            "/api/v1/inventory",
            Some(READ),
            Some("text/csv"),
            Body::from("computer,group\nx,y\n"),
        ))
        .await;
    reply.expect_error(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(served.manifest(), before);
    // The admin token may read too.
    let reply = served.get("/api/v1/inventory", Some(ADMIN)).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_error_shape() {
    let served = Served::empty();
    served
        .get("/api/v1/nope", Some(READ))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    served
        .get("/assets/nope.js", Some(READ))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    served
        .send(request(
            "DELETE",
            "/api/v1/groups",
            Some(READ),
            None,
            Body::empty(),
        ))
        .await
        .expect_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}

#[tokio::test]
async fn groups_lists_every_group_with_the_report_and_readiness_numbers() {
    let served = Served::sample();
    let reply = served.get("/api/v1/groups", Some(READ)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let body = reply.json();
    let groups = body["groups"].as_array().unwrap();

    let data = served.data();
    let ctx = direct_context(&data).await;
    let inv = inventory(&data);
    let report = query::report::blocked_apps_by_group(&ctx, &inv, &ReportOptions::default())
        .await
        .unwrap();
    let mut expected: Vec<String> = inv.groups();
    for g in &report.groups {
        if !expected.contains(&g.group) {
            expected.push(g.group.clone());
        }
    }
    expected.sort();
    let names: Vec<&str> = groups
        .iter()
        .map(|g| g["group"].as_str().unwrap())
        .collect();
    assert_eq!(names, expected);
    for g in &report.groups {
        let card = groups
            .iter()
            .find(|c| c["group"] == g.group.as_str())
            .unwrap();
        assert_eq!(card["would_block_apps"], g.apps.len() as u64, "{}", g.group);
        assert_eq!(card["audit_events"], g.audit_events, "{}", g.group);
        assert_eq!(card["hosts_reporting"], g.hosts_reporting, "{}", g.group);
        assert!(
            ["ready", "not_ready", "insufficient_data"].contains(&card["status"].as_str().unwrap())
        );
        assert_eq!(card["collections"].as_array().unwrap().len(), 5);
    }
}

#[tokio::test]
async fn blocked_pages_through_the_report_rows_and_is_cached() {
    let served = Served::sample();
    let data = served.data();
    let ctx = direct_context(&data).await;
    let report = query::report::blocked_apps_by_group(
        &ctx,
        &inventory(&data),
        &ReportOptions {
            groups: vec!["finance".into()],
            ..ReportOptions::default()
        },
    )
    .await
    .unwrap();
    let finance = &report.groups[0];
    assert!(finance.apps.len() > 3, "the sample fleet has finance apps");
    let expected_rows = serde_json::to_value(&finance.apps).unwrap();

    let first = served
        .get("/api/v1/groups/finance/blocked?limit=10000", Some(READ))
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    assert_eq!(first.header("x-cache"), Some("miss"));
    let body = first.json();
    assert_eq!(body["apps"], expected_rows);
    assert_eq!(body["total_apps"], finance.apps.len());
    assert_eq!(body["audit_events"], finance.audit_events);

    let page = served
        .get(
            "/api/v1/groups/finance/blocked?limit=2&offset=1",
            Some(READ),
        )
        .await;
    assert_eq!(
        page.header("x-cache"),
        Some("hit"),
        "same report, other page"
    );
    let page = page.json();
    assert_eq!(
        page["apps"],
        serde_json::json!(expected_rows.as_array().unwrap()[1..3])
    );
    assert_eq!(
        (page["limit"].as_u64(), page["offset"].as_u64()),
        (Some(2), Some(1))
    );

    let exe = served
        .get(
            "/api/v1/groups/finance/blocked?collection=exe&outcome=all",
            Some(READ),
        )
        .await
        .json();
    assert!(
        exe["apps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["collection"] == "EXE" && a["outcome"].is_string())
    );
}

#[tokio::test]
async fn blocked_refuses_bad_parameters_and_unknown_groups() {
    let served = Served::sample();
    for (uri, needle) in [
        ("/api/v1/groups/finance/blocked?limit=0", "limit"),
        ("/api/v1/groups/finance/blocked?limit=x", "limit"),
        ("/api/v1/groups/finance/blocked?outcome=maybe", "outcome"),
        (
            "/api/v1/groups/finance/blocked?collection=COM",
            "collection",
        ),
        ("/api/v1/groups/finance/blocked?since=yesterday", "since"),
        (
            "/api/v1/groups/finance/blocked?since=2026-10-10&until=2026-10-01",
            "since",
        ),
        ("/api/v1/readiness?min_days=-1", "min_days"),
    ] {
        let message = served
            .get(uri, Some(READ))
            .await
            .expect_error(StatusCode::BAD_REQUEST, "bad_parameter");
        assert!(message.contains(needle), "{uri}: {message}");
    }
    let message = served
        .get("/api/v1/groups/no-such-group/blocked", Some(READ))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    assert!(message.contains("no-such-group"), "{message}");
    let reply = served
        .get("/api/v1/groups/no-such-group/suggestions", Some(READ))
        .await;
    reply.expect_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(reply.json()["code"], "unknown_group");
    let reply = served.get("/api/v1/nope", Some(READ)).await;
    assert_eq!(reply.json()["code"], "unknown_endpoint");
}

#[tokio::test]
async fn suggestions_as_json_and_as_policy_xml() {
    let served = Served::sample();
    let data = served.data();
    let ctx = direct_context(&data).await;
    let expected = query::suggest::suggest_rules(
        &ctx,
        &inventory(&data),
        None,
        &query::suggest::SuggestOptions {
            groups: vec!["finance".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let reply = served
        .get("/api/v1/groups/finance/suggestions", Some(READ))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json(), serde_json::to_value(&expected[0]).unwrap());

    let xml = served
        .get("/api/v1/groups/finance/suggestions?format=xml", Some(READ))
        .await;
    assert_eq!(xml.status, StatusCode::OK);
    assert!(
        xml.header("content-type")
            .unwrap()
            .starts_with("application/xml")
    );
    assert!(
        xml.header("content-disposition")
            .unwrap()
            .contains("finance-suggested.xml")
    );
    let policy = policy::read::parse(&xml.body).unwrap().policy;
    let safe = expected[0]
        .suggestions
        .iter()
        .filter(|s| s.review.is_empty() && s.rule.is_some())
        .count();
    assert_eq!(policy.rules().count(), safe);

    // `Accept` chooses XML too; `format` wins over it.
    let mut by_accept = request(
        "GET",
        "/api/v1/groups/finance/suggestions",
        Some(READ),
        None,
        Body::empty(),
    );
    by_accept
        .headers_mut()
        .insert("accept", "application/xml".parse().unwrap());
    assert_eq!(served.send(by_accept).await.body, xml.body);
    let all = served
        .get(
            "/api/v1/groups/finance/suggestions?format=xml&include_review=true&enforce=true",
            Some(READ),
        )
        .await;
    let all = policy::read::parse(&all.body).unwrap().policy;
    assert!(all.rules().count() >= safe);
    assert!(all.collections.iter().all(|c| c.is_enforced()));
    served
        .get("/api/v1/groups/finance/suggestions?format=yaml", Some(READ))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_parameter");
}

#[tokio::test]
async fn readiness_judges_each_group() {
    let served = Served::sample();
    let reply = served.get("/api/v1/readiness?min_days=1", Some(READ)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["min_days"], 1);
    let groups = body["groups"].as_array().unwrap();
    assert!(!groups.is_empty());
    let data = served.data();
    // The same answer as the session the CLI uses, over the same store and workspace.
    let expected = query::Session::new(query::Store::new(&data), inventory(&data))
        .with_existing_workspace()
        .unwrap()
        .readiness(
            &query::Candidate::Decisions,
            None,
            &query::readiness::ReadinessOptions {
                min_days: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    for (got, want) in groups.iter().zip(&expected) {
        assert_eq!(got["group"], want.group.as_str());
        assert_eq!(got["status"], serde_json::to_value(want.status()).unwrap());
        assert_eq!(
            got["collections"],
            serde_json::to_value(&want.collections).unwrap()
        );
    }
    let one = served
        .get("/api/v1/readiness?groups=finance", Some(READ))
        .await
        .json();
    assert_eq!(one["groups"].as_array().unwrap().len(), 1);
}

/// Exe rules that allow nothing (a collection without rules would allow everything).
const ALLOW_NOTHING: &str = r#"<AppLockerPolicy Version="1">
  <RuleCollection Type="Exe" EnforcementMode="Enabled">
    <FilePathRule Id="00000000-0000-4000-8000-000000000003" Name="nothing" Description="" UserOrGroupSid="S-1-1-0" Action="Allow">
      <Conditions><FilePathCondition Path="Z:\nothing" /></Conditions>
    </FilePathRule>
  </RuleCollection>
</AppLockerPolicy>"#;

#[tokio::test]
async fn simulate_answers_as_the_query_layer_does() {
    let served = Served::sample();
    let reply = served
        .send(request(
            "POST",
            "/api/v1/simulate?groups=finance,hr&top=10000",
            Some(READ),
            Some("application/xml"),
            Body::from(ALLOW_NOTHING),
        ))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let data = served.data();
    let ctx = direct_context(&data).await;
    let candidate = policy::read::parse(ALLOW_NOTHING.as_bytes())
        .unwrap()
        .policy;
    let expected = query::simulate::simulate(
        &ctx,
        &inventory(&data),
        &policy::Evaluator::new(&candidate, None),
        &query::simulate::SimulateOptions {
            groups: vec!["finance".into(), "hr".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut answer = reply.json();
    assert_eq!(answer["policy_warnings"], serde_json::json!([]));
    assert_eq!(reply.header("x-policy-warnings"), Some("0"));
    answer.as_object_mut().unwrap().remove("policy_warnings");
    assert_eq!(answer, serde_json::to_value(&expected).unwrap());
    assert!(expected.groups.iter().any(|g| g.still_blocked_events > 0));

    // Warnings are in the body, bounded; the header only counts them (a 20 KB policy of
    // unknown elements made a 185 KB header).
    let noisy = ALLOW_NOTHING.replace(
        "</RuleCollection>",
        &format!("{}</RuleCollection>", "<Unknown/>\n".repeat(2000)),
    );
    let reply = served
        .send(request(
            "POST",
            "/api/v1/simulate?groups=finance",
            Some(READ),
            Some("application/xml"),
            Body::from(noisy),
        ))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.header("x-policy-warnings"), Some("101"));
    let warnings = reply.json()["policy_warnings"].as_array().unwrap().clone();
    assert_eq!(warnings.len(), 101);
    assert!(
        warnings[0]
            .as_str()
            .unwrap()
            .contains("unknown element <Unknown> skipped")
    );
    assert_eq!(warnings[100], "… and 1900 more warnings");

    // `top` bounds the lists, not the counts.
    let top = served
        .send(request(
            "POST",
            "/api/v1/simulate?groups=finance&top=1",
            Some(READ),
            Some("text/xml; charset=utf-8"),
            Body::from(ALLOW_NOTHING),
        ))
        .await
        .json();
    assert!(top["groups"][0]["still_blocked"].as_array().unwrap().len() <= 1);
    assert_eq!(
        top["groups"][0]["still_blocked_events"],
        serde_json::to_value(expected.groups[0].still_blocked_events).unwrap()
    );
}

#[tokio::test]
async fn simulate_refuses_bad_bodies() {
    let served = Served::with(true, |c| c.document_limit = 1024);
    let post = |content_type: Option<&'static str>, body: Vec<u8>| {
        request(
            "POST",
            "/api/v1/simulate",
            Some(READ),
            content_type,
            Body::from(body),
        )
    };
    served
        .send(post(None, ALLOW_NOTHING.into()))
        .await
        .expect_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    served
        .send(post(Some("application/json"), ALLOW_NOTHING.into()))
        .await
        .expect_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    let message = served
        .send(post(
            Some("application/xml"),
            b"<AppLockerPolicy Version=\"1\">\n<RuleCollection Type=\"Exe\" EnforcementMode=\"Sometimes\"/>\n</AppLockerPolicy>".to_vec(),
        ))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_body");
    assert!(message.contains("line 2"), "{message}");
    served
        .send(post(Some("application/xml"), b"not xml at all".to_vec()))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_body");
    let big = format!("{ALLOW_NOTHING}<!--{}-->", "x".repeat(2000));
    served
        .send(post(Some("application/xml"), big.into_bytes()))
        .await
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "too_large");
}

#[tokio::test]
async fn ingest_uploads_are_idempotent_and_change_the_answers() {
    let served = Served::empty();
    let file = std::fs::read(sample_logs().join("ForwardedEvents-1.evtx")).unwrap();
    let before = served
        .get("/api/v1/groups/unassigned/blocked", Some(READ))
        .await;
    before.expect_error(StatusCode::NOT_FOUND, "not_found");
    let upload = |body: Vec<u8>| {
        request(
            "POST",
            "/api/v1/ingest",
            Some(ADMIN),
            Some("application/octet-stream"),
            Body::from(body),
        )
    };
    let first = served.send(upload(file.clone())).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    let first = first.json();
    assert!(first["rows_new"].as_u64().unwrap() > 0);
    assert_eq!(first["partial"], false);
    assert_eq!(first["bytes_received"], file.len());
    let second = served.send(upload(file.clone())).await.json();
    assert_eq!(second["rows_new"], 0);
    assert_eq!(second["rows_duplicate"], first["rows_new"]);
    assert_eq!(second["rows_in_store"], first["rows_in_store"]);
    // The new events are visible at once (the cache was invalidated).
    let after = served
        .get("/api/v1/groups/unassigned/blocked", Some(READ))
        .await;
    assert_eq!(after.status, StatusCode::OK, "{}", after.text());
    assert!(after.json()["total_apps"].as_u64().unwrap() > 0);
    // Nothing is left in the upload folder.
    assert_eq!(std::fs::read_dir(served.uploads()).unwrap().count(), 0);
}

#[tokio::test]
async fn bad_uploads_leave_the_store_as_it_was() {
    let served = Served::with(true, |c| c.upload_limit = 4 << 20);
    let before = served.manifest();
    let upload = |content_type: Option<&'static str>, body: Vec<u8>, strict: bool| {
        request(
            "POST",
            if strict {
                "/api/v1/ingest?strict=true"
            } else {
                "/api/v1/ingest"
            },
            Some(ADMIN),
            content_type,
            Body::from(body),
        )
    };
    let evtx = Some("application/octet-stream");
    served
        .send(upload(Some("text/plain"), b"hello".to_vec(), false))
        .await
        .expect_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    let message = served
        .send(upload(
            evtx,
            b"this is not an event log at all".repeat(100),
            false,
        ))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_body");
    assert_eq!(
        message,
        "the upload cannot be read: not an EVTX, event XML or JSON file (by its content; gzip-compressed ones too); nothing was stored",
        "said once, not twice"
    );
    assert!(
        !message.contains("lockstep-upload-"),
        "no server paths: {message}"
    );
    served
        .send(upload(evtx, Vec::new(), false))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_body");
    served
        .send(upload(evtx, vec![0u8; 5 << 20], false))
        .await
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "too_large");
    // A damaged file: refused whole with strict=true.
    let mut damaged = std::fs::read(sample_logs().join("ForwardedEvents-1.evtx")).unwrap();
    let second_chunk = 4096 + 65536;
    for b in &mut damaged[second_chunk + 600..second_chunk + 700] {
        *b ^= 0x5a;
    }
    served
        .send(upload(evtx, damaged.clone(), true))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "damaged_input");
    assert_eq!(served.manifest(), before, "refused uploads stored nothing");
    assert_eq!(std::fs::read_dir(served.uploads()).unwrap().count(), 0);
    // Without strict, the damage is listed and the rest stored.
    let partial = served.send(upload(evtx, damaged, false)).await;
    assert_eq!(partial.status, StatusCode::OK, "{}", partial.text());
    let partial = partial.json();
    assert_eq!(partial["partial"], true, "{partial}");
    assert!(!partial["damaged"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn inventory_is_replaced_whole_or_not_at_all() {
    let served = Served::sample();
    let original = served.get("/api/v1/inventory", Some(READ)).await;
    assert_eq!(original.status, StatusCode::OK);
    assert!(
        original
            .header("content-type")
            .unwrap()
            .starts_with("text/csv")
    );
    assert_eq!(
        original.body,
        std::fs::read(sample_logs().join("inventory.csv")).unwrap()
    );
    let groups_before = served.get("/api/v1/groups", Some(READ)).await.json();
    assert!(groups_before["groups"].as_array().unwrap().len() > 1);

    let put = |body: &'static str, content_type: &'static str| {
        request(
            "PUT",
            "/api/v1/inventory",
            Some(ADMIN),
            Some(content_type),
            Body::from(body),
        )
    };
    let message = served
        .send(put("computer,group\nFIN-LT001\n", "text/csv"))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_body");
    assert!(message.contains("line 2"), "{message}");
    served
        .send(put("computer,group\nx,y\n", "application/json"))
        .await
        .expect_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    assert_eq!(
        served.get("/api/v1/inventory", Some(READ)).await.body,
        original.body,
        "a refused inventory changes nothing"
    );

    let saved = served
        .send(put("computer,group\n*,everyone\n", "text/csv"))
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.text());
    assert_eq!(saved.json()["groups"], serde_json::json!(["everyone"]));
    let groups_after = served.get("/api/v1/groups", Some(READ)).await;
    assert_eq!(groups_after.header("x-cache"), Some("miss"));
    let names: Vec<String> = groups_after.json()["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["group"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["everyone"]);
}

#[tokio::test]
async fn server_failures_leak_no_internals() {
    let served = Served::sample();
    // Break the served inventory behind the server's back.
    std::fs::write(served.data().join("inventory.csv"), "no header here\n").unwrap();
    let reply = served.get("/api/v1/groups", Some(READ)).await;
    let message = reply.expect_error(StatusCode::INTERNAL_SERVER_ERROR, "internal");
    let dir = served.dir.path().display().to_string();
    assert!(!message.contains(&dir), "{message}");
    assert!(message.contains("line 1"), "{message}");
}

#[tokio::test]
async fn the_openapi_document_lists_exactly_the_routes() {
    let served = Served::empty();
    let reply = served.get("/api/v1/openapi.json", Some(READ)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let doc = reply.json();
    assert_eq!(doc, serde_json::to_value(api::document()).unwrap());
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    // The router and the document come from one route table; what proves the table is
    // served is that every documented route answers something other than "no such route".
    assert!(api::route_list().len() >= 11, "{:?}", api::route_list());
    // And every route answers something other than "no such route".
    for (method, path) in api::route_list() {
        let uri = path.replace("{group}", "finance");
        let reply = served
            .send(request(
                &method.to_ascii_uppercase(),
                &uri,
                Some(ADMIN),
                None,
                Body::empty(),
            ))
            .await;
        assert_ne!(
            reply.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        if reply.status == StatusCode::NOT_FOUND {
            assert!(
                !reply.text().contains("no such endpoint"),
                "{method} {path}"
            );
        }
    }
    // Every error response is documented with the error schema.
    for (_, item) in doc["paths"].as_object().unwrap() {
        for (_, op) in item.as_object().unwrap() {
            for (status, response) in op["responses"].as_object().unwrap() {
                if status.starts_with('4') || status.starts_with('5') {
                    assert_eq!(
                        response["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorBody"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn a_query_over_its_time_is_a_503() {
    let served = Served::with(true, |c| c.query_timeout = std::time::Duration::ZERO);
    let message = served
        .get("/api/v1/readiness", Some(READ))
        .await
        .expect_error(StatusCode::SERVICE_UNAVAILABLE, "timeout");
    assert!(message.contains("--query-timeout"), "{message}");
}

#[tokio::test]
async fn an_ingest_beside_the_server_is_seen_at_once() {
    let served = Served::empty();
    let empty = served.get("/api/v1/groups", Some(READ)).await;
    assert_eq!(empty.status, StatusCode::OK);
    assert_eq!(empty.json()["groups"], serde_json::json!([]));
    assert_eq!(
        served
            .get("/api/v1/groups", Some(READ))
            .await
            .header("x-cache"),
        Some("hit")
    );
    // `lockstep ingest` run by someone else into the same folder.
    ingest::ingest(
        &ingest::Options {
            data_dir: served.data(),
            paths: vec![sample_logs().join("ForwardedEvents-1.evtx")],
            strict: false,
            threads: 1,
        },
        &ingest::Progress::default(),
    )
    .unwrap();
    let after = served.get("/api/v1/groups", Some(READ)).await;
    assert_eq!(after.header("x-cache"), Some("miss"));
    assert_eq!(after.json()["groups"][0]["group"], "unassigned");
}

#[tokio::test]
async fn timeline_counts_per_group_and_day() {
    let served = Served::sample();
    let reply = served.get("/api/v1/timeline", Some(READ)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let data = served.data();
    let ctx = direct_context(&data).await;
    let expected = query::timeline::daily_events(&ctx, &inventory(&data), &Default::default())
        .await
        .unwrap();
    assert!(!expected.is_empty());
    assert_eq!(
        reply.json()["days"],
        serde_json::to_value(&expected).unwrap()
    );
    let finance = served
        .get(
            "/api/v1/timeline?groups=finance&since=2026-10-10",
            Some(READ),
        )
        .await
        .json();
    let days = finance["days"].as_array().unwrap();
    assert!(!days.is_empty());
    assert!(
        days.iter()
            .all(|d| d["group"] == "finance" && d["day"].as_str().unwrap() >= "2026-10-10")
    );
}

#[tokio::test]
async fn the_dashboard_is_served_without_a_token_and_locked_down() {
    let served = Served::empty();
    for (path, content_type) in [
        ("/", "text/html"),
        ("/assets/app.js", "text/javascript"),
        ("/assets/app.css", "text/css"),
    ] {
        let reply = served.get(path, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert!(
            reply
                .header("content-type")
                .unwrap()
                .starts_with(content_type),
            "{path}"
        );
        let csp = reply.header("content-security-policy").unwrap();
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
        assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
    }
    let page = served.get("/", None).await.text();
    assert!(page.contains("/assets/app.js") && page.contains("/assets/app.css"));
    // The page only talks to the API: no address of another site anywhere (the SVG
    // namespace is a name, never fetched).
    for path in api::DASHBOARD_PATHS {
        let text = served
            .get(path, None)
            .await
            .text()
            .replace("http://www.w3.org/2000/svg", "");
        assert!(
            !text.contains("https://") && !text.contains("http://"),
            "{path}"
        );
    }
}

#[test]
fn every_error_code_is_documented_with_its_status() {
    let doc = serde_json::to_value(api::document()).unwrap();
    let codes = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .expect("ErrorCode is in the document's schemas")
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    assert!(codes.len() >= 15, "{codes:?}");
    let page = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/api.md"),
    )
    .unwrap();
    for code in codes {
        let parsed: api::ErrorCode = serde_json::from_value(serde_json::json!(code)).unwrap();
        let row = format!("| `{code}` | {} |", parsed.status().as_u16());
        assert!(
            page.contains(&row),
            "docs/api.md has no row {row:?} for error code {code}"
        );
    }
}

#[tokio::test]
async fn the_workbook_downloads_and_refuses_unknown_groups() {
    let served = Served::sample();
    let reply = served
        .get("/api/v1/export.xlsx?groups=finance,hr", Some(READ))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(
        reply.headers["content-type"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert!(
        reply.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains(".xlsx")
    );
    assert!(reply.body.starts_with(b"PK\x03\x04"), "a zip container");
    // The same bytes' sheets as the workbook crate lays them out for these groups.
    let text = String::from_utf8_lossy(&reply.body);
    for part in ["xl/worksheets/sheet1.xml", "xl/worksheets/sheet5.xml"] {
        assert!(text.contains(part), "{part}");
    }
    assert!(
        !text.contains("xl/worksheets/sheet6.xml"),
        "Summary, finance, hr, Rules, Hosts"
    );

    let unknown = served
        .get("/api/v1/export.xlsx?groups=nope", Some(READ))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(
        unknown.json()["code"],
        "unknown_group",
        "{}",
        unknown.text()
    );
    assert!(unknown.text().contains("nope"), "{}", unknown.text());
}
