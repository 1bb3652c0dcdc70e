//! Policy parsing stays linear on hostile shapes: each document is parsed at size N and 4N
//! and the ratio of the times is printed (linear ≈ 4, quadratic ≈ 16). Run with
//! `cargo bench -p policy --bench hostile`; the hostile-input tests (`policy/tests/hostile.rs`)
//! check the answers, this checks the growth.

use std::time::{Duration, Instant};

const EXE_OPEN: &str =
    r#"<AppLockerPolicy Version="1"><RuleCollection Type="Exe" EnforcementMode="Enabled">"#;
const EXE_CLOSE: &str = "</RuleCollection></AppLockerPolicy>";

fn unknown_siblings(n: usize) -> String {
    format!("{EXE_OPEN}{}{EXE_CLOSE}", "<X/>\n".repeat(n))
}

fn unknown_parents(n: usize) -> String {
    let children = n.min(90_000);
    let parents = n / children;
    let wide = format!("<X>{}</X>", "<Y/>".repeat(children)).repeat(parents);
    format!(r#"<AppLockerPolicy Version="1">{wide}</AppLockerPolicy>"#)
}

fn path_rules(n: usize) -> String {
    let rules: String = (0..n)
        .map(|i| {
            format!(
                r#"<FilePathRule Id="00000000-0000-0000-0000-{i:012}" Name="rule {i}" Description="" UserOrGroupSid="S-1-1-0" Action="Allow"><Conditions><FilePathCondition Path="%PROGRAMFILES%\app{i}\*" /></Conditions></FilePathRule>"#
            )
        })
        .collect();
    format!("{EXE_OPEN}{rules}{EXE_CLOSE}")
}

/// The fastest of a few parses (the least disturbed by the rest of the machine).
fn best_of(text: &str) -> Duration {
    (0..3)
        .map(|_| {
            let started = Instant::now();
            // Refused or read: the time is what counts here.
            let _ = std::hint::black_box(policy::read::parse(text.as_bytes()));
            started.elapsed()
        })
        .min()
        .expect("three runs")
}

/// A document shape: its name, how to make it at a size, and the size N.
type Shape = (&'static str, fn(usize) -> String, usize);

fn main() {
    let shapes: [Shape; 3] = [
        ("unknown siblings", unknown_siblings, 25_000),
        ("unknown parents of 90,000", unknown_parents, 450_000),
        ("path rules", path_rules, 5_000),
    ];
    println!(
        "{:<28} {:>10} {:>12} {:>12} {:>7}",
        "shape", "N", "time N", "time 4N", "ratio"
    );
    for (name, make, n) in shapes {
        let (small, large) = (make(n), make(4 * n));
        let (a, b) = (best_of(&small), best_of(&large));
        println!(
            "{name:<28} {n:>10} {:>10.1}ms {:>10.1}ms {:>7.1}",
            a.as_secs_f64() * 1e3,
            b.as_secs_f64() * 1e3,
            b.as_secs_f64() / a.as_secs_f64()
        );
    }
    println!("(linear ≈ 4; quadratic ≈ 16)");
}
