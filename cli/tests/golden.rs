//! The answers on the bundled fleet, pinned: `tests/golden/` holds what `report`,
//! `suggest`, `simulate` and `readiness` printed before the foundations refactor (issue 15),
//! and every run must print the same, apart from the fields added since (`app_id`,
//! `label`, `app_ids`, and `code` beside each reason's message), which are taken out before
//! comparing. A change of behaviour shows here; when it is meant, rewrite the files with
//! `LOCKSTEP_BLESS=1 cargo test -p lockstep --test integration golden::` and say why in the
//! commit.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{on_sample_store, sample_store};

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// `value` without the fields added since the golden files were written.
fn without_added_fields(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let keys: Vec<&str> = map.keys().map(String::as_str).collect();
            if keys.len() == 2 && keys.contains(&"code") && keys.contains(&"message") {
                // A reason: it was its message alone.
                return map["message"].clone();
            }
            Value::Object(
                map.into_iter()
                    .filter(|(k, _)| !matches!(k.as_str(), "app_id" | "label" | "app_ids"))
                    .map(|(k, v)| (k, without_added_fields(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(without_added_fields).collect()),
        other => other,
    }
}

fn stdout_of(args: &[&str], data: &Path) -> String {
    let out = on_sample_store(args, data).assert().success();
    String::from_utf8(out.get_output().stdout.clone()).unwrap()
}

/// Compares (or, blessing, rewrites) one golden JSON answer.
fn check_json(name: &str, printed: &str) {
    let now = without_added_fields(serde_json::from_str(printed).unwrap());
    let path = golden(name);
    if std::env::var_os("LOCKSTEP_BLESS").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(&now).unwrap() + "\n").unwrap();
        return;
    }
    let pinned: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    if now != pinned {
        let (a, b) = (
            serde_json::to_string_pretty(&pinned).unwrap(),
            serde_json::to_string_pretty(&now).unwrap(),
        );
        let first = a
            .lines()
            .zip(b.lines())
            .position(|(x, y)| x != y)
            .unwrap_or(0);
        panic!(
            "{name} differs from tests/golden/{name} from line {first}:\n  pinned: {}\n  now:    {}",
            a.lines().nth(first).unwrap_or(""),
            b.lines().nth(first).unwrap_or("")
        );
    }
}

#[test]
fn answers_on_the_sample_fleet_are_as_pinned() {
    let data = sample_store();
    let data = data.path();
    let policy = golden("suggest-finance.xml");
    let policy = policy.to_str().unwrap();
    let table_policy =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../policy/tests/fixtures/table-policy.xml");
    let table_policy = table_policy.to_str().unwrap();
    for (name, args) in [
        ("report.json", vec!["report", "--format", "json"]),
        ("suggest.json", vec!["suggest", "--format", "json"]),
        (
            "sim-fin.json",
            vec!["simulate", "--format", "json", "--policy", policy],
        ),
        (
            "sim-table.json",
            vec!["simulate", "--format", "json", "--policy", table_policy],
        ),
        ("ready.json", vec!["readiness", "--format", "json"]),
        (
            "ready-cur.json",
            vec!["readiness", "--format", "json", "--current", table_policy],
        ),
    ] {
        check_json(name, &stdout_of(&args, data));
    }
    // The policy XML is compared byte for byte: rule Ids come from rule content.
    let xml = stdout_of(&["suggest", "--group", "finance"], data);
    if std::env::var_os("LOCKSTEP_BLESS").is_some() {
        std::fs::write(golden("suggest-finance.xml"), &xml).unwrap();
    } else {
        assert_eq!(
            xml,
            std::fs::read_to_string(golden("suggest-finance.xml")).unwrap(),
            "suggest --group finance differs from tests/golden/suggest-finance.xml"
        );
    }
}
