//! `cargo xtask test [CARGO TEST ARGS…]`: the README's test command. It installs what the
//! tests need from outside the repository when it is missing, says in one line what it
//! installs, then runs the whole suite (`cargo test --workspace --locked`):
//!
//! - Debian packages for the outside commands (`testkit::DEBIAN_TOOLS`), with `apt-get`
//!   when running as root, or through `sudo` when it needs no password;
//! - the PyPI packages of `.ci/requirements.txt`, into a virtual environment under the
//!   target folder (`TARGET/test-tools/venv`);
//! - the browser tests' npm packages (`npm ci` in `dashboards/`).
//!
//! `cargo xtask install-test-tools` does the first part alone. Nothing is installed twice:
//! the virtual environment and `node_modules` are redone only when their lock files change.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "usage: cargo xtask test [ARGS for cargo test…]
       cargo xtask install-test-tools";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => install_test_tools().and_then(|tools| run_tests(&tools, &args[1..])),
        Some("install-test-tools") => install_test_tools().map(|_| ExitCode::SUCCESS),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    result.unwrap_or_else(|message| {
        eprintln!("cargo xtask: {message}");
        ExitCode::FAILURE
    })
}

/// Where the test tools live: `TARGET/test-tools`.
struct Tools {
    dir: PathBuf,
}

impl Tools {
    fn venv(&self) -> PathBuf {
        self.dir.join("venv")
    }

    fn venv_python(&self) -> PathBuf {
        self.venv().join("bin").join("python3")
    }
}

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        // Absolute: the tests run in their crate's folder, where a relative
        // `CARGO_TARGET_DIR` (relative to where cargo was started) names nothing.
        Some(dir) if !dir.is_empty() => {
            std::path::absolute(&dir).unwrap_or_else(|_| PathBuf::from(dir))
        }
        _ => testkit::repo().join("target"),
    }
}

/// Installs what is missing and returns where the tools are.
fn install_test_tools() -> Result<Tools, String> {
    let repo = testkit::repo();
    let tools = Tools {
        dir: target_dir().join("test-tools"),
    };
    std::fs::create_dir_all(&tools.dir)
        .map_err(|e| format!("creating {}: {e}", tools.dir.display()))?;
    let packages = missing_debian_packages();
    let requirements = repo.join(".ci").join("requirements.txt");
    let python_stamp = tools.dir.join("requirements.installed");
    let python_needed =
        !tools.venv_python().is_file() || !same_contents(&requirements, &python_stamp);
    let lock = repo.join("dashboards").join("package-lock.json");
    let npm_stamp = tools.dir.join("package-lock.installed");
    let npm_needed =
        !repo.join("dashboards").join("node_modules").is_dir() || !same_contents(&lock, &npm_stamp);

    let mut plan = Vec::new();
    if !packages.is_empty() {
        plan.push(format!("Debian packages {}", packages.join(" ")));
    }
    if python_needed {
        plan.push(format!(
            "the PyPI packages of .ci/requirements.txt into {}",
            tools.venv().display()
        ));
    }
    if npm_needed {
        plan.push("the npm packages of dashboards/package-lock.json (npm ci)".into());
    }
    if plan.is_empty() {
        eprintln!(
            "cargo xtask: the test tools are installed ({})",
            tools.dir.display()
        );
        return Ok(tools);
    }
    eprintln!("cargo xtask: installing {}", plan.join("; "));

    if !packages.is_empty() {
        install_debian(&packages)?;
    }
    if python_needed {
        if !tools.venv_python().is_file() {
            run(Command::new("python3")
                .arg("-m")
                .arg("venv")
                .arg(tools.venv()))?;
        }
        run(Command::new(tools.venv_python())
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .arg("-r")
            .arg(&requirements))?;
        copy(&requirements, &python_stamp)?;
    }
    if npm_needed {
        check_node(&lock)?;
        run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--silent"])
            .current_dir(repo.join("dashboards")))?;
        copy(&lock, &npm_stamp)?;
    }
    Ok(tools)
}

/// The browser tests' packages name the oldest Node.js they run on (`"node": ">=20"` in
/// the lock file); Debian 12's own `nodejs` is 18, older than playwright-core takes. Says
/// so before `npm ci` hides it in a warning and the browser test fails later.
fn check_node(lock: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(lock).map_err(|e| format!("{}: {e}", lock.display()))?;
    let Some(wanted) = text
        .split("\"node\": \">=")
        .skip(1)
        .filter_map(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse::<u32>()
                .ok()
        })
        .max()
    else {
        return Ok(());
    };
    let output = Command::new("node")
        .arg("--version")
        .output()
        .map_err(|e| format!("running node --version: {e}"))?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let major = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    match major {
        Some(major) if major >= wanted => Ok(()),
        _ => Err(format!(
            "the browser tests need Node.js {wanted} or newer and `node --version` says {version:?}; \
             install a newer one (e.g. `nodejs` from NodeSource's Debian repository, or Debian 13's), then run this again"
        )),
    }
}

/// The Debian packages of the outside commands that are not on `PATH`.
fn missing_debian_packages() -> Vec<&'static str> {
    let mut packages: Vec<&'static str> = testkit::DEBIAN_TOOLS
        .iter()
        .filter(|(command, _)| !on_path(command))
        .map(|(_, package)| *package)
        .collect();
    // Debian's python3 makes virtual environments only with python3-venv (ensurepip).
    let venv_works = on_path("python3")
        && Command::new("python3")
            .args(["-c", "import ensurepip, venv"])
            .output()
            .is_ok_and(|o| o.status.success());
    if !venv_works {
        packages.push("python3-venv");
    }
    packages.sort_unstable();
    packages.dedup();
    packages
}

fn on_path(command: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(command).is_file()))
}

/// `apt-get install` as root, or through a `sudo` that needs no password.
fn install_debian(packages: &[&str]) -> Result<(), String> {
    let as_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let sudo = !as_root
        && Command::new("sudo")
            .args(["-n", "true"])
            .output()
            .is_ok_and(|o| o.status.success());
    if !as_root && !sudo {
        return Err(format!(
            "the tests need the Debian packages {list}, and this user can install nothing \
             (not root, no password-less sudo). Install them with \
             `sudo apt-get install {list}`, then run `cargo xtask test` again.",
            list = packages.join(" ")
        ));
    }
    let apt = |args: &[&str]| {
        let mut command = if sudo {
            let mut c = Command::new("sudo");
            c.arg("apt-get");
            c
        } else {
            Command::new("apt-get")
        };
        command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        command
    };
    run(&mut apt(&["update", "-qq"]))?;
    let mut install = apt(&["install", "-y", "-qq", "--no-install-recommends"]);
    install.args(packages);
    run(&mut install)
}

/// Runs the whole suite with the test tools first on `PATH`.
fn run_tests(tools: &Tools, args: &[String]) -> Result<ExitCode, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut path = vec![tools.venv().join("bin")];
    if let Some(existing) = std::env::var_os("PATH") {
        path.extend(std::env::split_paths(&existing));
    }
    let status = Command::new(cargo)
        .args(["test", "--workspace", "--locked"])
        .args(args)
        .env("LOCKSTEP_TEST_TOOLS", &tools.dir)
        .env(
            "PATH",
            std::env::join_paths(path).map_err(|e| e.to_string())?,
        )
        .current_dir(testkit::repo())
        .status()
        .map_err(|e| format!("running cargo test: {e}"))?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}

/// Runs `command`, its output shown; an error names it when it fails.
fn run(command: &mut Command) -> Result<(), String> {
    let shown = format!("{command:?}");
    let status = command
        .status()
        .map_err(|e| format!("running {shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed ({status})"))
    }
}

fn same_contents(a: &Path, b: &Path) -> bool {
    matches!((std::fs::read(a), std::fs::read(b)), (Ok(x), Ok(y)) if x == y)
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| format!("copying {} to {}: {e}", from.display(), to.display()))
}
