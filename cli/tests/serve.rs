//! `lockstep serve` as a process: the printed address and generated token work, request logs
//! are JSON lines with `--log-format json`, SIGTERM stops it cleanly, and it refuses to listen
//! beyond loopback without a token.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use crate::support::{http_get, lockstep, sample_logs};

fn get(address: &str, path: &str, token: Option<&str>) -> (u16, String) {
    http_get(address, path, token).unwrap()
}

#[cfg(unix)]
#[test]
fn serve_ingests_prints_the_dashboard_link_and_stops_on_sigterm() {
    // The quick start: `lockstep serve sample-logs/` into a fresh data folder.
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("lockstep"))
        .args([
            "serve",
            "--log-format",
            "json",
            "--listen",
            "127.0.0.1:0",
            "--data",
        ])
        .arg(data.path())
        .arg(sample_logs())
        .env_remove("LOCKSTEP_TOKEN")
        .env_remove("LOCKSTEP_ADMIN_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut address = None;
    let mut token = None;
    let mut dashboard = None;
    for line in lines.by_ref().take(4) {
        let line = line.unwrap();
        if let Some(rest) = line.split("http://").nth(1)
            && address.is_none()
        {
            address = Some(
                rest.trim_end_matches('/')
                    .split('/')
                    .next()
                    .unwrap()
                    .to_owned(),
            );
        }
        if let Some(rest) = line.strip_prefix("No token was given: this run's admin token is ") {
            token = Some(rest.trim().to_owned());
        }
        if let Some(rest) = line.strip_prefix("Dashboard: ") {
            dashboard = Some(rest.trim().to_owned());
        }
    }
    let (address, token) = (address.unwrap(), token.unwrap());
    assert_eq!(
        dashboard.unwrap(),
        format!("http://{address}/#token={token}"),
        "the printed link opens the dashboard signed in"
    );
    let (status, page) = get(&address, "/", None);
    assert_eq!(status, 200);
    assert!(page.contains("/assets/app.js"), "{page}");
    assert_eq!(get(&address, "/api/v1/health", None).0, 200);
    assert_eq!(get(&address, "/api/v1/groups", None).0, 401);
    let (status, body) = get(&address, "/api/v1/groups", Some(&token));
    assert_eq!(status, 200, "{body}");
    // The folder's inventory was copied into the data folder and is the one served.
    assert!(body.contains("\"finance\""), "{body}");
    assert!(data.path().join("inventory.csv").is_file());

    let killed = Command::new(testkit::tool("kill"))
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "a clean stop on SIGTERM: {status:?}");
    let mut logs = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    // One JSON object per line; the request lines name method, path, status and latency.
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let request = lines
        .iter()
        .find(|l| l["fields"]["path"] == "/api/v1/groups" && l["fields"]["status"] == 200)
        .unwrap_or_else(|| panic!("no request line: {logs}"));
    assert_eq!(request["fields"]["method"], "GET");
    assert!(
        request["fields"]["latency_ms"].as_f64().is_some(),
        "{request}"
    );
    // Who did it and from where: the token's name and the client's address.
    assert_eq!(request["fields"]["principal"], "admin", "{request}");
    let client = request["fields"]["client"].as_str().unwrap();
    assert!(client.starts_with("127.0.0.1:"), "{request}");
    let anonymous = lines
        .iter()
        .find(|l| l["fields"]["path"] == "/api/v1/groups" && l["fields"]["status"] == 401)
        .unwrap();
    assert_eq!(anonymous["fields"]["principal"], "-");
}

#[test]
fn serve_refuses_other_addresses_without_a_token_and_weak_tokens() {
    let data = tempfile::tempdir().unwrap();
    let out = lockstep()
        .args(["serve", "--listen", "0.0.0.0:0", "--data"])
        .arg(data.path())
        .env_remove("LOCKSTEP_TOKEN")
        .env_remove("LOCKSTEP_ADMIN_TOKEN")
        .assert()
        .failure();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("refusing to listen on 0.0.0.0"), "{stderr}");

    let out = lockstep()
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .env("LOCKSTEP_TOKEN", "short")
        .assert()
        .failure();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("shorter than 16"), "{stderr}");
}

#[test]
fn every_subcommand_has_a_help_line() {
    let out = lockstep().arg("--help").assert().success();
    let help = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    for command in [
        "generate",
        "ingest",
        "report",
        "suggest",
        "simulate",
        "readiness",
        "serve",
    ] {
        let line = help
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{command} ")))
            .unwrap_or_else(|| panic!("{command} missing:\n{help}"));
        assert!(
            !line.contains("Raw arguments") && line.len() > command.len() + 10,
            "{line}"
        );
    }
}

#[test]
fn serve_refuses_tls_files_that_do_not_work() {
    let fixtures = testkit::repo().join("api/tests/fixtures/tls");
    let out = lockstep()
        .args(["serve", "--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(fixtures.join("server.pem"))
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("--tls-key"), "{stderr}");
    let data = tempfile::tempdir().unwrap();
    let out = lockstep()
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .arg("--tls-cert")
        .arg(fixtures.join("ca.pem"))
        .arg("--tls-key")
        .arg(fixtures.join("server.key"))
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.contains("the certificate and the key do not fit together"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_dir(data.path()).unwrap().count(),
        0,
        "refused before anything is written"
    );
}

#[test]
fn serve_refuses_a_webhook_that_is_not_an_http_url() {
    let data = tempfile::tempdir().unwrap();
    let out = lockstep()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--alert-webhook",
            "ftp://hooks.example/x",
            "--data",
        ])
        .arg(data.path())
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.contains(
            "--alert-webhook: \"ftp://hooks.example/x\" is not an http:// or https:// URL"
        ),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_dir(data.path()).unwrap().count(),
        0,
        "refused before anything is written"
    );
}
