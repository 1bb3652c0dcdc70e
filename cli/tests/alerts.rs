//! `lockstep alerts set|show|clear`: settings checked before anything is kept, the secret
//! part of the URL never printed, and `serve` without `--alert-webhook` sends the alerts to
//! the webhook the workspace keeps (a receiver on 127.0.0.1).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::support::{lockstep, sample_logs, sample_store};

fn stdout_of(args: &[&str], data: &std::path::Path) -> String {
    let out = lockstep()
        .args(args)
        .arg("--data")
        .arg(data)
        .assert()
        .success();
    String::from_utf8_lossy(&out.get_output().stdout).into_owned()
}

#[test]
fn bad_settings_are_refused_and_nothing_is_kept() {
    let data = tempfile::tempdir().unwrap();
    for (args, says) in [
        (
            vec!["alerts", "set", "--webhook", "ftp://hooks.example/x"],
            "--webhook: \"ftp://hooks.example/x\" is not an http:// or https:// URL",
        ),
        (
            vec![
                "alerts",
                "set",
                "--webhook",
                "http://127.0.0.1:9/x",
                "--burst-hours",
                "0",
            ],
            "--burst-hours must be between 1 and 168",
        ),
        (
            vec![
                "alerts",
                "set",
                "--webhook",
                "http://127.0.0.1:9/x",
                "--interval",
                "0",
            ],
            "--interval must be at least 1 second",
        ),
    ] {
        let out = lockstep()
            .args(&args)
            .arg("--data")
            .arg(data.path())
            .assert()
            .code(1);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    let shown = stdout_of(&["alerts", "show"], data.path());
    assert!(shown.starts_with("no webhook kept"), "{shown}");
}

/// A webhook receiver on 127.0.0.1 that answers 200 and passes each JSON body on.
fn receiver() -> (String, mpsc::Receiver<serde_json::Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(n) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = n.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            if let Ok(json) = serde_json::from_slice(&body)
                && send.send(json).is_err()
            {
                return;
            }
        }
    });
    (address, receive)
}

#[cfg(unix)]
#[test]
fn serve_sends_alerts_to_the_webhook_the_workspace_keeps() {
    let data = sample_store();
    let (address, bodies) = receiver();
    let url = format!("http://{address}/services/T000/SECRET");
    let said = stdout_of(
        &["alerts", "set", "--webhook", &url, "--interval", "1"],
        data.path(),
    );
    assert_eq!(
        said,
        format!(
            "alerts go to http://{address}/… (every 1 s: each new unexpected app, more than 20 unexpected blocks in 1 h); `lockstep serve` sends them\n"
        )
    );
    let shown: serde_json::Value = serde_json::from_str(&stdout_of(
        &["alerts", "show", "--format", "json"],
        data.path(),
    ))
    .unwrap();
    assert_eq!(shown["settings"]["webhook"], format!("http://{address}/…"));
    assert_eq!(shown["settings"]["burst_period_secs"], 3600);
    assert!(!shown.to_string().contains("SECRET"), "{shown}");

    // it-ops enforces EXE in the sample fleet: recorded so, its blocks are unexpected.
    let inventory = sample_logs().join("inventory.csv");
    let current = sample_logs().join("current-policy.xml");
    for args in [
        vec![
            "policy",
            "import",
            current.to_str().unwrap(),
            "--group",
            "it-ops",
        ],
        vec!["policy", "publish", "--group", "it-ops"],
        vec![
            "rollout",
            "enforce",
            "--group",
            "it-ops",
            "--collection",
            "EXE",
            "--version",
            "1",
            "--at",
            "2026-10-05",
        ],
    ] {
        lockstep()
            .args(&args)
            .arg("--data")
            .arg(data.path())
            .arg("--inventory")
            .arg(&inventory)
            .assert()
            .success();
    }
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("lockstep"))
        .args(["-q", "serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .arg("--inventory")
        .arg(&inventory)
        .env_remove("LOCKSTEP_TOKEN")
        .env_remove("LOCKSTEP_ADMIN_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let first = bodies.recv_timeout(Duration::from_secs(120));
    let _ = child.kill();
    let _ = child.wait();
    let first = first.expect("an alert reached the webhook the workspace keeps");
    assert_eq!(first["group"], "it-ops");
    assert!(
        first["text"]
            .as_str()
            .unwrap()
            .starts_with("lockstep: it-ops: "),
        "{first}"
    );

    let shown = stdout_of(&["alerts", "show"], data.path());
    assert!(shown.contains(" alert(s) kept"), "{shown}");
    assert!(shown.contains("it-ops"), "{shown}");
    assert!(!shown.contains("SECRET"), "{shown}");
    let cleared = stdout_of(&["alerts", "clear"], data.path());
    assert!(
        cleared.starts_with("alerts: no webhook kept any more"),
        "{cleared}"
    );
    let shown = stdout_of(&["alerts", "show"], data.path());
    assert!(shown.starts_with("no webhook kept"), "{shown}");
    assert!(
        !shown.lines().any(|l| l == "0 alert(s) kept"),
        "the alerts kept stay: {shown}"
    );
}
