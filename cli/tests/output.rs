//! What every subcommand prints, as pipes and terminals meet it: `lockstep report | head`
//! must end quietly when the reader goes away.

use std::process::{Command, Stdio};

use crate::support::{sample_logs, sample_store};

/// Runs `lockstep ARGS` with its standard output a pipe nobody reads (closed at once), and
/// returns its exit status and standard error.
fn with_closed_stdout(args: &[&str]) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("lockstep"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_subcommand_that_prints_ends_quietly_when_the_pipe_closes() {
    let data = sample_store();
    let data = data.path().to_str().unwrap().to_owned();
    let inventory = sample_logs().join("inventory.csv");
    let inventory = inventory.to_str().unwrap();
    let out = tempfile::tempdir().unwrap();
    let policy = out.path().join("finance.xml");
    std::fs::write(
        &policy,
        r#"<AppLockerPolicy Version="1"><RuleCollection Type="Exe" EnforcementMode="Enabled" /></AppLockerPolicy>"#,
    )
    .unwrap();
    let fleet = out.path().join("fleet");
    let samples = sample_logs();
    let cases: Vec<Vec<&str>> = vec![
        vec!["report", "--data", &data, "--inventory", inventory],
        vec!["report", "--data", &data, "--format", "json"],
        vec!["report", "--data", &data, "--format", "csv"],
        vec!["suggest", "--data", &data, "--format", "json"],
        vec!["suggest", "--data", &data, "--group", "finance"],
        vec![
            "simulate",
            "--data",
            &data,
            "--policy",
            policy.to_str().unwrap(),
        ],
        vec!["readiness", "--data", &data, "--inventory", inventory],
        vec!["ingest", "--data", &data, samples.to_str().unwrap()],
        vec![
            "-q",
            "generate",
            "--out",
            fleet.to_str().unwrap(),
            "--hosts",
            "2",
            "--groups",
            "1",
            "--events",
            "50",
        ],
    ];
    for args in cases {
        let (status, stderr) = with_closed_stdout(&args);
        assert!(status.success(), "{args:?}: {status}, stderr:\n{stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(!stderr.contains("Broken pipe"), "{args:?}: {stderr}");
    }
}
