//! `--engine ballista://…`: a real Ballista cluster (the stock `ballista-scheduler` and two
//! `ballista-executor` processes on loopback ports) gives the same answers as the local
//! engine on the bundled fleet. Built with `--features ballista-cluster` (see .ci/run);
//! the binaries come from `cargo build -p ballista-scheduler -p ballista-executor
//! --features lockstep/ballista-cluster` (next to lockstep's), `LOCKSTEP_BALLISTA_BIN_DIR`
//! or the PATH.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{http_get, lockstep, on_sample_store, sample_logs, sample_store};

/// The processes of a cluster; killed when dropped, so a failing test leaves none behind.
struct Cluster {
    children: Vec<(String, Child)>,
    scheduler_port: u16,
    logs: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Cluster {
    /// A scheduler and `executors` executors, each with 1 core, ready to run tasks.
    fn start(executors: usize) -> Cluster {
        let bin = binaries();
        let logs = tempfile::tempdir().unwrap();
        let scheduler_port = free_port();
        let mut cluster = Cluster {
            children: Vec::new(),
            scheduler_port,
            logs,
        };
        let scheduler = cluster.spawn(
            "scheduler",
            Command::new(bin.join("ballista-scheduler")).args([
                "--bind-host",
                "127.0.0.1",
                "--external-host",
                "127.0.0.1",
                "--bind-port",
                &scheduler_port.to_string(),
                "--min-ready-executors",
                &executors.to_string(),
            ]),
        );
        cluster.children.push(scheduler);
        for i in 0..executors {
            let work = cluster.logs.path().join(format!("executor-{i}"));
            std::fs::create_dir_all(&work).unwrap();
            let executor = cluster.spawn(
                &format!("executor-{i}"),
                Command::new(bin.join("ballista-executor"))
                    .args(["--bind-host", "127.0.0.1", "--external-host", "127.0.0.1"])
                    .args(["--scheduler-host", "127.0.0.1"])
                    .args(["--scheduler-port", &scheduler_port.to_string()])
                    .args(["--bind-port", &free_port().to_string()])
                    .args(["--bind-grpc-port", &free_port().to_string()])
                    .args(["--bind-health-port", &free_port().to_string()])
                    .args(["--scheduler-connect-timeout-seconds", "60"])
                    .args(["--vcores", "1"])
                    .arg("--work-dir")
                    .arg(&work),
            );
            cluster.children.push(executor);
        }
        cluster.wait_until_ready();
        cluster
    }

    fn spawn(&self, name: &str, command: &mut Command) -> (String, Child) {
        let log = std::fs::File::create(self.logs.path().join(format!("{name}.log"))).unwrap();
        let child = command
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        (name.to_owned(), child)
    }

    /// Waits for the scheduler's `/readyz` (200 once `--min-ready-executors` registered).
    fn wait_until_ready(&mut self) {
        let started = Instant::now();
        loop {
            if http_status(self.scheduler_port, "/readyz") == Some(200) {
                return;
            }
            let exited = self
                .children
                .iter_mut()
                .find_map(|(name, child)| Some((name.clone(), child.try_wait().unwrap()?)));
            if let Some((name, status)) = exited {
                panic!("{name} exited ({status}):\n{}", self.log(&name));
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "the cluster was not ready within 120 s:\n{}",
                self.log("scheduler")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.logs.path().join(format!("{name}.log"))).unwrap_or_default()
    }

    fn engine(&self) -> String {
        format!("ballista://127.0.0.1:{}", self.scheduler_port)
    }

    /// Jobs the scheduler ran (its REST API), to show the answers came from the cluster.
    fn jobs(&self) -> Vec<serde_json::Value> {
        let body = http_body(self.scheduler_port, "/api/jobs").expect("the scheduler answers");
        let jobs: serde_json::Value = serde_json::from_str(&body).unwrap();
        jobs.as_array().cloned().unwrap_or_default()
    }
}

/// Where the stock Ballista binaries are.
fn binaries() -> PathBuf {
    let next_to_lockstep = assert_cmd::cargo::cargo_bin("lockstep")
        .parent()
        .unwrap()
        .to_path_buf();
    let mut candidates: Vec<PathBuf> = std::env::var_os("LOCKSTEP_BALLISTA_BIN_DIR")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    candidates.push(next_to_lockstep);
    candidates.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    candidates
        .into_iter()
        .find(|dir| {
            dir.join("ballista-scheduler").is_file() && dir.join("ballista-executor").is_file()
        })
        .expect(
            "ballista-scheduler and ballista-executor were not found next to lockstep, in \
             LOCKSTEP_BALLISTA_BIN_DIR or on the PATH; build them with `cargo build -p \
             ballista-scheduler -p ballista-executor --features lockstep/ballista-cluster`",
        )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http(port: u16, path: &str) -> Option<String> {
    http_get(&format!("127.0.0.1:{port}"), path, None)
        .ok()
        .map(|(_, raw)| raw)
}

fn http_status(port: u16, path: &str) -> Option<u16> {
    http(port, path)?.get(9..12)?.parse().ok()
}

fn http_body(port: u16, path: &str) -> Option<String> {
    let raw = http(port, path)?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return Some(dechunk(body));
    }
    Some(body.to_owned())
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

/// `lockstep ARGS --data DATA --inventory sample-logs/inventory.csv --engine ENGINE`, stdout.
fn answer(args: &[&str], data: &Path, engine: &str) -> String {
    let out = on_sample_store(args, data)
        .args(["--engine", engine])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "lockstep {args:?} --engine {engine}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Bodies of a few API answers from `lockstep serve --engine ENGINE` (killed afterwards).
fn served_answers(data: &Path, engine: &str) -> Vec<String> {
    let token = "ballista-test-token-0123456789";
    let mut server = Command::new(assert_cmd::cargo::cargo_bin("lockstep"))
        .args(["-q", "serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .arg("--inventory")
        .arg(sample_logs().join("inventory.csv"))
        .args(["--engine", engine])
        .env("LOCKSTEP_TOKEN", token)
        .env_remove("LOCKSTEP_ADMIN_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let port: u16 = first
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no address in {first:?}"));
    let answers = ["/api/v1/groups", "/api/v1/groups/finance/blocked?limit=500"]
        .iter()
        .map(|path| {
            let (status, raw) = http_get(&format!("127.0.0.1:{port}"), path, Some(token)).unwrap();
            assert_eq!(status, 200, "{path} on {engine}: {raw}");
            raw.split_once("\r\n\r\n").unwrap().1.to_owned()
        })
        .collect();
    let _ = server.kill();
    let _ = server.wait();
    answers
}

fn policy_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../policy/tests/fixtures/table-policy.xml")
}

#[test]
fn report_simulate_and_readiness_on_ballista_equal_the_local_engine() {
    let data = sample_store();
    let suggested = tempfile::tempdir().unwrap();
    let out = suggested.path().to_str().unwrap();
    answer(&["suggest", "--out", out], data.path(), "local");
    let finance = suggested.path().join("finance.xml");
    let fixture = policy_fixture();
    // A workspace with a policy in force and a decision, so readiness and the candidate
    // judge the group's own candidate (the workspace is read in lockstep, never by executors).
    let workspace = |args: &[&str]| {
        let out = lockstep()
            .args(args)
            .arg("--data")
            .arg(data.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let current = sample_logs().join("current-policy.xml");
    workspace(&[
        "-q",
        "policy",
        "import",
        "--fleet",
        current.to_str().unwrap(),
    ]);
    let ready: serde_json::Value = serde_json::from_str(&answer(
        &["readiness", "--format", "json"],
        data.path(),
        "local",
    ))
    .unwrap();
    let finance_ready = ready
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == "finance")
        .unwrap();
    let first_undecided = finance_ready["undecided"][0]["app_id"]
        .as_str()
        .unwrap()
        .to_owned();
    workspace(&["-q", "decide", "finance", &first_undecided, "block"]);
    let questions: Vec<Vec<&str>> = vec![
        vec!["report", "--format", "json", "--outcome", "all"],
        vec![
            "report",
            "--format",
            "json",
            "--since",
            "2026-10-12",
            "--group",
            "finance",
        ],
        vec!["suggest", "--format", "json", "--group", "finance"],
        vec![
            "simulate",
            "--format",
            "json",
            "--policy",
            finance.to_str().unwrap(),
        ],
        vec![
            "simulate",
            "--format",
            "json",
            "--policy",
            fixture.to_str().unwrap(),
        ],
        vec!["readiness", "--format", "json"],
        vec!["policy", "candidate", "--group", "finance"],
    ];
    let local: Vec<String> = questions
        .iter()
        .map(|q| answer(q, data.path(), "local"))
        .collect();

    let local_served = served_answers(data.path(), "local");

    let cluster = Cluster::start(2);
    let jobs_before = cluster.jobs().len();
    assert_eq!(
        served_answers(data.path(), &cluster.engine()),
        local_served,
        "lockstep serve answers differ on Ballista"
    );
    for (question, expected) in questions.iter().zip(&local) {
        let distributed = answer(question, data.path(), &cluster.engine());
        assert_eq!(
            &distributed, expected,
            "lockstep {question:?} differs on Ballista"
        );
    }
    assert!(
        local[0].contains("\"finance\"") && local[3].contains("still_blocked"),
        "the answers compared are real reports: {}",
        &local[0][..local[0].len().min(400)]
    );
    let jobs = cluster.jobs();
    assert!(
        jobs.len() > jobs_before + questions.len() + local_served.len(),
        "the scheduler ran the queries: {} jobs",
        jobs.len()
    );
    assert!(
        jobs.iter().all(|j| j["status"] == "Completed"),
        "failed jobs: {jobs:?}"
    );
    // Each context's scratch tables (the what-if verdicts) are gone with it.
    let scratch = data.path().join("scratch");
    let left: Vec<_> = std::fs::read_dir(&scratch)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "scratch left behind: {left:?}");
}

#[test]
fn an_unreachable_scheduler_is_named() {
    let data = sample_store();
    let port = free_port();
    let out = lockstep()
        .args(["report", "--data"])
        .arg(data.path())
        .args(["--engine", &format!("ballista://127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "cannot reach the Ballista scheduler at 127.0.0.1:{port}"
        )),
        "{stderr}"
    );
}
