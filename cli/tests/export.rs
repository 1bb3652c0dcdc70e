//! `lockstep export xlsx`: the workbook read back with openpyxl agrees with the JSON answers
//! (readiness, report, the candidate), has frozen headers, autofilters and Excel dates; an
//! unknown group writes nothing.

use std::path::Path;

use crate::support::{on_sample_store, sample_store};

/// `lockstep ARGS` on the sample store, which must succeed.
fn succeed(args: &[&str], data: &Path) -> std::process::Output {
    let out = on_sample_store(args, data).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json(args: &[&str], data: &Path) -> serde_json::Value {
    serde_json::from_slice(&succeed(args, data).stdout).unwrap()
}

fn read_workbook(path: &Path) -> serde_json::Value {
    crate::support::python_json("cli/tests/support/read_workbook.py", &["openpyxl"], path)
}

/// The rows of a sheet as objects keyed by the header.
fn table(book: &serde_json::Value, sheet: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let rows = book["sheets"][sheet]["rows"].as_array().unwrap();
    let header: Vec<String> = rows[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().to_owned())
        .collect();
    rows[1..]
        .iter()
        .map(|r| {
            header
                .iter()
                .cloned()
                .zip(r.as_array().unwrap().iter().cloned())
                .collect()
        })
        .collect()
}

#[test]
fn the_workbook_agrees_with_the_json_answers() {
    let data = sample_store();
    // One decision, so finance's candidate has a rule and the Rules sheet a row.
    succeed(
        &[
            "decide",
            "finance",
            "203547b4aeb4ce0a",
            "allow",
            "--note",
            "terminal",
        ],
        data.path(),
    );
    let book_path = data.path().join("board.xlsx");
    succeed(
        &["export", "xlsx", "--out", book_path.to_str().unwrap()],
        data.path(),
    );
    let book = read_workbook(&book_path);

    let readiness = json(&["readiness", "--format", "json"], data.path());
    let groups: Vec<&str> = readiness
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["group"].as_str().unwrap())
        .collect();
    let mut order = vec!["Summary"];
    order.extend(&groups);
    order.extend(["Rules", "Hosts"]);
    assert_eq!(book["order"], serde_json::json!(order));
    for sheet in &order {
        assert_eq!(book["sheets"][sheet]["freeze"], "A2", "{sheet}");
        assert!(
            book["sheets"][sheet]["filter"]
                .as_str()
                .unwrap()
                .starts_with("A1:"),
            "{sheet}"
        );
    }

    let summary = table(&book, "Summary");
    for (row, r) in summary.iter().zip(readiness.as_array().unwrap()) {
        assert_eq!(row["Group"], r["group"]);
        for (column, key) in [
            ("Undecided", "undecided"),
            ("Deferred", "deferred"),
            ("Blocked on purpose", "blocked_on_purpose"),
            ("Hosts silent", "hosts_silent"),
        ] {
            assert_eq!(
                row[column],
                r[key].as_array().unwrap().len(),
                "{column} of {}",
                r["group"]
            );
        }
        assert_eq!(row["Hosts reporting"], r["hosts_reporting"]);
        assert_eq!(row["Days of evidence"], r["days_of_evidence"]);
    }

    let report = json(
        &["report", "--format", "json", "--top", "100000"],
        data.path(),
    );
    let mut audit_total = 0;
    for g in report["groups"].as_array().unwrap() {
        let name = g["group"].as_str().unwrap();
        let rows = table(&book, name);
        let apps = g["apps"].as_array().unwrap();
        assert_eq!(rows.len(), apps.len(), "{name}");
        for (row, app) in rows.iter().zip(apps) {
            assert_eq!(row["App ID"], app["app_id"]);
            assert_eq!(row["Events"], app["events"]);
            assert_eq!(row["Hosts"], app["hosts"]);
            // Times are Excel dates, to the second.
            let last = row["Last seen"]["date"].as_str().expect("an Excel date");
            assert!(
                app["last_seen"].as_str().unwrap().starts_with(last),
                "{last} vs {}",
                app["last_seen"]
            );
        }
        let summary_row = summary.iter().find(|r| r["Group"] == name).unwrap();
        assert_eq!(summary_row["Would-block apps"], apps.len());
        audit_total += g["audit_events"].as_u64().unwrap();
    }
    let finance = table(&book, "finance");
    let decided = finance
        .iter()
        .find(|r| r["App ID"] == "203547b4aeb4ce0a")
        .unwrap();
    assert_eq!(decided["Decision"], "allow");
    assert_eq!(decided["Note"], "terminal");

    // The Rules sheet is finance's candidate, rule for rule.
    let rules = table(&book, "Rules");
    let candidate = on_sample_store(&["policy", "candidate", "--group", "finance"], data.path())
        .output()
        .unwrap();
    let xml = String::from_utf8_lossy(&candidate.stdout);
    let finance_rules: Vec<_> = rules.iter().filter(|r| r["Group"] == "finance").collect();
    assert!(!finance_rules.is_empty());
    for rule in &finance_rules {
        assert!(
            xml.contains(rule["Rule Id"].as_str().unwrap()),
            "{rule:?} not in {xml}"
        );
    }
    assert!(
        finance_rules
            .iter()
            .any(|r| r["Apps"].as_str().unwrap_or("").contains("WINTRV.EXE"))
    );

    // Every audit event is on some host in the last 30 days (the window is 14 days).
    let hosts = table(&book, "Hosts");
    let d30: u64 = hosts
        .iter()
        .map(|h| h["Audit events, 30 days"].as_u64().unwrap())
        .sum();
    assert_eq!(d30, audit_total);
    for h in &hosts {
        let (a, b, c) = (
            &h["Audit events, 7 days"],
            &h["Audit events, 15 days"],
            &h["Audit events, 30 days"],
        );
        assert!(
            a.as_u64() <= b.as_u64() && b.as_u64() <= c.as_u64(),
            "{h:?}"
        );
    }
}

#[test]
fn an_unknown_group_writes_nothing() {
    let data = sample_store();
    let book = data.path().join("board.xlsx");
    let out = on_sample_store(
        &[
            "export",
            "xlsx",
            "--group",
            "fianance",
            "--out",
            book.to_str().unwrap(),
        ],
        data.path(),
    )
    .output()
    .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown group(s): fianance") && stderr.contains("finance"),
        "{stderr}"
    );
    assert!(!book.exists());
}
