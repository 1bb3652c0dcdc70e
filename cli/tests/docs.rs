//! The docs cannot drift: every command that README.md and docs/*.md show is run here, in a
//! scratch folder with the bundled `sample-logs/`, and shown output must be what it prints.
//! The conventions (docs/testing.md "The docs are tested"):
//!
//! - ```` ```console ````: each `$ command` runs (through bash, stdout and stderr together)
//!   and must succeed; the lines shown after it must appear in its output, in that order
//!   (`...` stands for lines left out).
//! - ```` ```sh ````: the block runs as part of one bash script per file (`set -e`, state
//!   kept from block to block); a `lockstep serve … &` line is followed by a wait for the
//!   server (over HTTP or HTTPS), and every server is stopped at the end. `127.0.0.1:8080` is replaced by a free
//!   loopback port; `read.token` and `admin.token` exist.
//! - ```` ```sh quickstart ````: the README's two commands. `cargo run -- serve sample-logs/`
//!   is run as the built binary (it must print a working dashboard link); `cargo xtask test`
//!   is what `.ci/run` runs, and must stay so.
//! - ```` ```sh bench ````: benchmarks (minutes to hours): each script must exist and parse
//!   (`bash -n`), each `cargo bench -p CRATE` must name a crate with benches (which
//!   `cargo clippy --all-targets` builds).
//! - ```` ```sh ballista ````: cluster commands for other machines: every `--flag` must be one
//!   the Ballista test or `.ci/run` uses.
//! - ```` ```powershell ````: Windows commands: every `/api/v1/…` path must be a route.
//! - ```` ```text ```` blocks of `lockstep …` lines: usage synopses, which must name exactly
//!   the long flags of the command's `--help` (but the ones every command has).
//! - ```` ```sh regenerate ````: how `sample-logs/` was made: its options must be the ones
//!   in `sample-logs/manifest.json`, which `generate/tests/sample_logs.rs` regenerates the
//!   fleet from and compares byte for byte.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::sample_logs;

/// A fenced block of a Markdown file.
struct Block {
    info: String,
    /// 1-based line of the opening fence.
    line: usize,
    body: Vec<String>,
}

fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in text.lines().enumerate() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => {
                open = Some(Block {
                    info: info.trim().to_owned(),
                    line: i + 1,
                    body: Vec::new(),
                })
            }
            (Some(_), Some(_)) => out.push(open.take().expect("open block")),
            (Some(block), None) => block.body.push(line.to_owned()),
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "an unclosed code block");
    out
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every documentation file: the READMEs and docs/*.md.
fn doc_files() -> Vec<PathBuf> {
    let mut files = vec![
        repo().join("README.md"),
        repo().join("sample-logs/README.md"),
        repo().join("sample-logs-enforced/README.md"),
        repo().join("dashboards/README.md"),
    ];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .expect("docs/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

fn free_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// A `\`-continued shell command as one line.
fn commands(body: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in body {
        let line = line.trim_end();
        if let Some(head) = line.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
        } else {
            current.push_str(line);
            if !current.trim().is_empty() && !current.trim_start().starts_with('#') {
                out.push(std::mem::take(&mut current));
            }
            current.clear();
        }
    }
    out
}

/// What a `console` block expects: (command, lines it must print).
fn console_steps(body: &[String]) -> Vec<(String, Vec<String>)> {
    let mut steps: Vec<(String, Vec<String>)> = Vec::new();
    for line in body {
        if let Some(command) = line.strip_prefix("$ ") {
            steps.push((command.to_owned(), Vec::new()));
        } else if let Some((_, expected)) = steps.last_mut() {
            expected.push(line.trim_end().to_owned());
        }
    }
    steps
}

/// Whether `expected` (without its `...` lines) appears in `output` in order.
fn shows(output: &str, expected: &[String]) -> Result<(), String> {
    let mut lines = output.lines().map(str::trim_end);
    for want in expected
        .iter()
        .filter(|l| l.trim() != "..." && !l.is_empty())
    {
        if !lines.any(|got| got == want) {
            return Err(want.clone());
        }
    }
    Ok(())
}

/// The scratch folder a doc file runs in: `sample-logs/`, the token files, `lockstep` on
/// `PATH`.
struct Sandbox {
    dir: tempfile::TempDir,
    bin: PathBuf,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(sample_logs(), dir.path().join("sample-logs")).unwrap();
        std::os::unix::fs::symlink(
            repo().join("sample-logs-enforced"),
            dir.path().join("sample-logs-enforced"),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("read.token"),
            "docs-read-token-0123456789abcdef\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("admin.token"),
            "docs-admin-token-0123456789abcdef\n",
        )
        .unwrap();
        let bin = dir.path().join(".bin");
        std::fs::create_dir(&bin).unwrap();
        std::os::unix::fs::symlink(
            assert_cmd::cargo::cargo_bin("lockstep"),
            bin.join("lockstep"),
        )
        .unwrap();
        Sandbox { dir, bin }
    }

    fn path(&self) -> std::ffi::OsString {
        let mut dirs = vec![self.bin.clone()];
        dirs.extend(std::env::split_paths(&testkit::path_with_tools()));
        std::env::join_paths(dirs).unwrap()
    }
}

/// Runs the `sh` and `console` blocks of one file as one script; returns the problems.
fn run_file(file: &Path, blocks: &[Block]) -> Vec<String> {
    let sandbox = Sandbox::new();
    let address = free_address();
    let outputs = sandbox.dir.path().join(".outputs");
    std::fs::create_dir(&outputs).unwrap();
    let mut script = format!(
        "set -euo pipefail\n\
         trap 'for p in $(jobs -p); do kill $p 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT\n\
         wait_for_server() {{ for _ in $(seq 1 600); do (curl -fsS http://{address}/api/v1/health || curl -fsSk https://{address}/api/v1/health) >/dev/null 2>&1 && return 0; sleep 0.1; done; echo 'the server did not start' >&2; return 1; }}\n"
    );
    let mut expectations = Vec::new();
    let mut runnable = false;
    for block in blocks {
        runnable |= block.info == "sh" || block.info == "console";
        match block.info.as_str() {
            "sh" => {
                script.push_str(&format!("# {}:{}\n", file.display(), block.line));
                for command in commands(&block.body) {
                    let command = command.replace("127.0.0.1:8080", &address);
                    script.push_str(&command);
                    script.push('\n');
                    if command.contains("lockstep serve") && command.trim_end().ends_with('&') {
                        script.push_str("wait_for_server\n");
                    }
                }
            }
            "console" => {
                for (command, expected) in console_steps(&block.body) {
                    let n = expectations.len();
                    let out = outputs.join(n.to_string());
                    script.push_str(&format!(
                        "if ! ( {command} ) >{out} 2>&1; then echo 'failed: {}:{}: {}' >&2; cat {out} >&2; exit 1; fi\n",
                        file.display(),
                        block.line,
                        command.replace('\'', ""),
                        out = out.display(),
                    ));
                    expectations.push((block.line, command, expected, out));
                }
            }
            _ => {}
        }
    }
    if !runnable {
        return Vec::new();
    }
    let run = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(sandbox.dir.path())
        .env("PATH", sandbox.path())
        .env_remove("LOCKSTEP_DATA")
        .env_remove("LOCKSTEP_TOKEN")
        .env_remove("LOCKSTEP_ADMIN_TOKEN")
        .output()
        .unwrap();
    let mut problems = Vec::new();
    if !run.status.success() {
        problems.push(format!(
            "{}: the commands failed ({}):\n{}",
            file.display(),
            run.status,
            String::from_utf8_lossy(&run.stderr)
        ));
        return problems;
    }
    for (line, command, expected, out) in expectations {
        let printed = std::fs::read_to_string(&out).unwrap();
        if let Err(missing) = shows(&printed, &expected) {
            problems.push(format!(
                "{}:{line}: `{command}` did not print {missing:?}; it printed:\n{printed}",
                file.display()
            ));
        }
    }
    problems
}

/// The README's two commands.
fn check_quickstart(file: &Path, block: &Block) -> Vec<String> {
    let mut problems = Vec::new();
    let lines: Vec<String> = commands(&block.body)
        .into_iter()
        .map(|c| c.split('#').next().unwrap_or("").trim().to_owned())
        .collect();
    if lines != ["cargo run -- serve sample-logs/", "cargo xtask test"] {
        problems.push(format!(
            "{}:{}: the quick start is not the two commands this test knows: {lines:?}",
            file.display(),
            block.line
        ));
        return problems;
    }
    let ci = std::fs::read_to_string(repo().join(".ci/run")).unwrap();
    if !ci
        .lines()
        .any(|l| l.trim_start().starts_with("cargo xtask test"))
    {
        problems
            .push(".ci/run no longer runs `cargo xtask test`, the README's test command".into());
    }
    problems.extend(cargo_run_runs_lockstep());
    // `cargo run -- serve sample-logs/` is the built binary with those arguments.
    let sandbox = Sandbox::new();
    let address = free_address();
    let mut server = std::process::Command::new(sandbox.bin.join("lockstep"))
        .args(["serve", "sample-logs/", "--listen", &address])
        .current_dir(sandbox.dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = server.stdout.take().unwrap();
    let link = std::io::BufRead::lines(std::io::BufReader::new(stdout))
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("Dashboard: ").map(str::to_owned));
    let token = link
        .as_deref()
        .and_then(|l| l.split_once("#token="))
        .map(|(_, t)| t.to_owned());
    match token {
        None => problems.push("`serve sample-logs/` printed no dashboard link with a token".into()),
        Some(token) => {
            let (status, body) =
                crate::support::http_get(&address, "/api/v1/groups", Some(&token)).unwrap();
            if status != 200 || !body.contains("\"finance\"") {
                problems.push(format!("the served sample fleet answered {status}: {body}"));
            }
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    problems
}

/// Flags every command has, documented once at the top of docs/cli.md and in its
/// "`--engine`" section rather than in each synopsis.
const SHARED_FLAGS: [&str; 6] = [
    "--help",
    "--verbose",
    "--quiet",
    "--version",
    "--engine",
    "--memory-mb",
];

/// The long flags of `lockstep WORDS --help`: those its option lines start with.
fn help_flags(words: &[&str]) -> std::collections::BTreeSet<String> {
    let out = crate::support::lockstep()
        .args(words)
        .arg("--help")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with('-'))
        .filter_map(|l| {
            l.split([',', ' ', '='])
                .find(|w| w.starts_with("--"))
                .map(|w| w.trim_end_matches('.').to_owned())
        })
        .collect()
}

/// A usage synopsis (a ```` ```text ```` block of `lockstep …` lines) names exactly the
/// flags the command's `--help` lists, so the docs cannot keep a removed flag or miss a new
/// one. A line `(each … also takes [--flag …])` adds flags to every command of its block.
fn check_usage(file: &Path, block: &Block) -> Vec<String> {
    let mut commands: Vec<(Vec<String>, std::collections::BTreeSet<String>)> = Vec::new();
    let mut shared = std::collections::BTreeSet::new();
    let flags_in = |line: &str| -> Vec<String> {
        line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .filter(|w| w.starts_with("--") && w.len() > 2)
            .map(str::to_owned)
            .collect()
    };
    for line in &block.body {
        if let Some(rest) = line.strip_prefix("lockstep ") {
            let words: Vec<String> = rest
                .split_whitespace()
                .take_while(|w| w.chars().all(|c| c.is_ascii_lowercase()))
                .map(str::to_owned)
                .collect();
            // `lockstep (bin) → api …` in a diagram is no command.
            if !words.is_empty() {
                commands.push((words, flags_in(rest).into_iter().collect()));
            }
        } else if line.trim_start().starts_with("(each") {
            shared.extend(flags_in(line));
        } else if let Some((_, flags)) = commands.last_mut() {
            flags.extend(flags_in(line));
        }
    }
    // One synopsis may take several lines for one command (`decide` and `decide --fleet`).
    let mut merged: std::collections::BTreeMap<Vec<String>, std::collections::BTreeSet<String>> =
        Default::default();
    for (words, flags) in commands {
        merged.entry(words).or_default().extend(flags);
    }
    let mut problems = Vec::new();
    for (words, mut documented) in merged {
        if words != ["workspace", "backup"] {
            documented.extend(shared.iter().cloned());
        }
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let real = help_flags(&words);
        let stale: Vec<&String> = documented.difference(&real).collect();
        let missing: Vec<&String> = real
            .difference(&documented)
            .filter(|f| !SHARED_FLAGS.contains(&f.as_str()))
            .collect();
        if !stale.is_empty() || !missing.is_empty() {
            problems.push(format!(
                "{}:{}: `lockstep {}`: the synopsis names {stale:?} that --help does not, and misses {missing:?}",
                file.display(),
                block.line,
                words.join(" ")
            ));
        }
    }
    problems
}

/// A bare `cargo run` in a virtual workspace runs the one binary of its default members
/// (all members when none are named); with two, it stops and asks which. Checked from the
/// manifest: running cargo inside `cargo test` would wait for the build folder's lock.
fn cargo_run_runs_lockstep() -> Vec<String> {
    let manifest = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    let list = |key: &str| {
        manifest
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{key} =")))
            .map(|l| {
                l.split('"')
                    .skip(1)
                    .step_by(2)
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
    };
    let members = list("default-members")
        .or_else(|| list("members"))
        .unwrap_or_default();
    let with_binaries: Vec<&String> = members
        .iter()
        .filter(|m| {
            let dir = repo().join(m);
            dir.join("src/main.rs").exists()
                || std::fs::read_to_string(dir.join("Cargo.toml"))
                    .is_ok_and(|t| t.contains("[[bin]]"))
        })
        .collect();
    if with_binaries == ["cli"] {
        Vec::new()
    } else {
        vec![format!(
            "Cargo.toml: `cargo run` would not run lockstep alone: the default members with a \
             binary are {with_binaries:?} (name the others out of `default-members`)"
        )]
    }
}

/// Bench commands: the scripts exist and parse, the criterion benches exist.
fn check_bench(file: &Path, block: &Block) -> Vec<String> {
    let mut problems = Vec::new();
    for command in commands(&block.body) {
        for word in command.split_whitespace() {
            if word.starts_with("bench/") && word.ends_with(".sh") {
                let script = repo().join(word);
                let parses = Command::new("bash").arg("-n").arg(&script).status();
                if !parses.is_ok_and(|s| s.success()) {
                    problems.push(format!(
                        "{}:{}: {word} is missing or does not parse",
                        file.display(),
                        block.line
                    ));
                }
            }
        }
        if let Some(rest) = command.split("cargo bench -p ").nth(1) {
            let krate = rest.split_whitespace().next().unwrap_or("");
            if !repo().join(krate).join("benches").is_dir() {
                problems.push(format!(
                    "{}:{}: no benches in crate {krate}",
                    file.display(),
                    block.line
                ));
            }
        }
    }
    problems
}

/// Cluster commands: only flags the Ballista test or CI uses.
fn check_ballista(file: &Path, block: &Block) -> Vec<String> {
    let known = std::fs::read_to_string(repo().join("cli/tests/ballista.rs")).unwrap()
        + &std::fs::read_to_string(repo().join(".ci/run")).unwrap();
    let mut problems = Vec::new();
    for command in commands(&block.body) {
        for flag in command.split_whitespace().filter(|w| w.starts_with("--")) {
            let flag = flag.split('=').next().unwrap_or(flag);
            if !known.contains(flag) {
                problems.push(format!(
                    "{}:{}: {flag} is used nowhere in cli/tests/ballista.rs or .ci/run",
                    file.display(),
                    block.line
                ));
            }
        }
    }
    problems
}

/// A sample fleet's recipe: the options of the `manifest.json` beside the README.
fn check_regenerate(file: &Path, block: &Block) -> Vec<String> {
    let manifest = file.with_file_name("manifest.json");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    let command = commands(&block.body).join(" ");
    let words: Vec<&str> = command.split_whitespace().collect();
    let defaults = serde_json::to_value(generate::Options::default()).unwrap();
    let mut problems = Vec::new();
    for (option, value) in manifest["options"].as_object().unwrap() {
        let flag = format!("--{}", option.replace('_', "-"));
        if !words.contains(&flag.as_str()) && defaults[option] == *value {
            continue; // left at the generator's default
        }
        if option == "enforce" {
            // Each flip as `--enforce GROUP:COLLECTION:DAY`, in order.
            let wanted: Vec<String> = value
                .as_array()
                .unwrap()
                .iter()
                .map(|f| {
                    format!(
                        "{}:{}:{}",
                        f["group"].as_str().unwrap(),
                        f["collection"].as_str().unwrap(),
                        f["day"]
                    )
                })
                .collect();
            let given: Vec<&str> = words
                .windows(2)
                .filter(|w| w[0] == "--enforce")
                .map(|w| w[1])
                .collect();
            if given != wanted {
                problems.push(format!(
                    "{}:{}: --enforce is {given:?} in the command, {wanted:?} in manifest.json",
                    file.display(),
                    block.line
                ));
            }
            continue;
        }
        let given = words
            .iter()
            .position(|w| *w == flag)
            .and_then(|i| words.get(i + 1));
        if given.copied() != Some(value.to_string().as_str()) {
            problems.push(format!(
                "{}:{}: {flag} is {given:?} in the command, {value} in manifest.json",
                file.display(),
                block.line
            ));
        }
    }
    problems
}

/// PowerShell: every API path is a route.
fn check_powershell(file: &Path, block: &Block) -> Vec<String> {
    let routes: Vec<String> = api::route_list().into_iter().map(|(_, p)| p).collect();
    let mut problems = Vec::new();
    for line in &block.body {
        for part in line.split("/api/v1/").skip(1) {
            let path: String = part
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '/' || *c == '.' || *c == '-')
                .collect();
            let path = format!("/api/v1/{path}");
            let matches = routes.iter().any(|r| {
                let (r, p): (Vec<&str>, Vec<&str>) =
                    (r.split('/').collect(), path.split('/').collect());
                r.len() == p.len() && r.iter().zip(&p).all(|(a, b)| a.starts_with('{') || a == b)
            });
            if !matches {
                problems.push(format!(
                    "{}:{}: {path} is not a route",
                    file.display(),
                    block.line
                ));
            }
        }
    }
    problems
}

#[test]
fn every_command_in_the_docs_runs_and_prints_what_they_show() {
    let mut problems = Vec::new();
    let mut ran = 0;
    for file in doc_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let blocks = blocks(&text);
        for block in &blocks {
            problems.extend(match block.info.as_str() {
                "sh quickstart" => check_quickstart(&file, block),
                "sh bench" => check_bench(&file, block),
                "sh ballista" => check_ballista(&file, block),
                "powershell" => check_powershell(&file, block),
                "sh regenerate" => check_regenerate(&file, block),
                "text" => check_usage(&file, block),
                _ => Vec::new(),
            });
            if block.info.starts_with("sh")
                && !matches!(
                    block.info.as_str(),
                    "sh" | "sh quickstart" | "sh bench" | "sh ballista" | "sh regenerate"
                )
            {
                problems.push(format!(
                    "{}:{}: unknown block kind {:?}",
                    file.display(),
                    block.line,
                    block.info
                ));
            }
            if matches!(block.info.as_str(), "bash" | "shell") {
                problems.push(format!(
                    "{}:{}: write shell blocks as `sh` or `console` so they are run",
                    file.display(),
                    block.line
                ));
            }
        }
        ran += blocks
            .iter()
            .filter(|b| b.info == "sh" || b.info == "console")
            .count();
        problems.extend(run_file(&file, &blocks));
    }
    assert!(ran >= 10, "only {ran} runnable blocks found in the docs");
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn the_block_reader_follows_the_conventions() {
    let text = "x\n```console\n$ lockstep --version\nlockstep 0.1.0\n...\n```\n```sh\na \\\n  b\n# c\n```\n";
    let b = blocks(text);
    assert_eq!(b.len(), 2);
    assert_eq!(
        console_steps(&b[0].body),
        [(
            "lockstep --version".to_owned(),
            vec!["lockstep 0.1.0".to_owned(), "...".to_owned()]
        )]
    );
    assert_eq!(commands(&b[1].body), ["a    b"]);
    assert!(
        shows(
            "one\ntwo\nthree",
            &["one".into(), "...".into(), "three".into()]
        )
        .is_ok()
    );
    assert_eq!(
        shows("one\ntwo", &["two".into(), "one".into()]),
        Err("one".into())
    );
}
