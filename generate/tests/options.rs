//! Bad options are refused with an error that names them; output is never overwritten
//! silently.

use std::sync::atomic::AtomicU64;

use generate::{Error, Options, generate};

fn run(opts: &Options, out: &std::path::Path) -> Result<generate::Summary, Error> {
    generate(opts, out, &AtomicU64::new(0))
}

#[test]
fn absurd_sizes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            Options {
                hosts: 0,
                ..Default::default()
            },
            "--hosts",
        ),
        (
            Options {
                hosts: 10_000_000,
                ..Default::default()
            },
            "--hosts",
        ),
        (
            Options {
                groups: 0,
                ..Default::default()
            },
            "--groups",
        ),
        (
            Options {
                hosts: 3,
                groups: 4,
                ..Default::default()
            },
            "--groups",
        ),
        (
            Options {
                days: 0,
                ..Default::default()
            },
            "--days",
        ),
        (
            Options {
                events: 0,
                ..Default::default()
            },
            "--events",
        ),
        (
            Options {
                events: u64::MAX,
                ..Default::default()
            },
            "--events",
        ),
        (
            Options {
                forwarded: 41,
                ..Default::default()
            },
            "--forwarded",
        ),
        (
            Options {
                wef_coverage: 101,
                ..Default::default()
            },
            "--wef-coverage",
        ),
        (
            Options {
                text_exports: 2,
                format: generate::OutputFormat::Xml,
                ..Default::default()
            },
            "--text-exports",
        ),
        (
            Options {
                text_exports: 41,
                ..Default::default()
            },
            "--text-exports",
        ),
    ];
    for (opts, flag) in cases {
        let err = run(&opts, &dir.path().join("out")).unwrap_err();
        assert!(err.to_string().contains(flag), "{err} should name {flag}");
        assert!(
            !dir.path().join("out").exists(),
            "nothing is written for bad options"
        );
    }
}

#[test]
fn a_non_empty_output_folder_needs_force() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keep.txt"), "mine").unwrap();
    let small = Options {
        hosts: 3,
        groups: 1,
        days: 1,
        events: 50,
        ..Default::default()
    };
    let err = run(&small, dir.path()).unwrap_err();
    assert!(matches!(err, Error::OutputNotEmpty { .. }), "{err}");
    assert!(err.to_string().contains("--force"));
    run(
        &Options {
            force: true,
            ..small
        },
        dir.path(),
    )
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("keep.txt")).unwrap(),
        "mine"
    );
    assert!(dir.path().join("inventory.csv").exists());
}

#[test]
fn an_unwritable_output_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let out = file.join("out");
    let err = run(
        &Options {
            hosts: 2,
            groups: 1,
            events: 10,
            ..Default::default()
        },
        &out,
    )
    .unwrap_err();
    assert!(err.to_string().contains("a-file"), "{err}");
}

#[test]
fn inventory_leaves_some_computers_out_and_lists_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let summary = run(
        &Options {
            hosts: 30,
            groups: 5,
            events: 500,
            days: 2,
            ..Default::default()
        },
        dir.path(),
    )
    .unwrap();
    let inventory = std::fs::read_to_string(dir.path().join("inventory.csv")).unwrap();
    assert!(inventory.starts_with("computer,group\n"));
    assert!(
        inventory.lines().any(|l| l.contains('*')),
        "some groups are listed by glob"
    );
    let missing: Vec<_> = summary.hosts.iter().filter(|h| !h.in_inventory).collect();
    assert!(
        !missing.is_empty(),
        "a few computers are deliberately left out"
    );
    for host in &summary.hosts {
        let listed = inventory.lines().any(|l| {
            let name = l.split(',').next().unwrap().to_lowercase();
            name == host.short_name.to_lowercase()
                || name == host.computer.to_lowercase()
                || name
                    .strip_suffix('*')
                    .is_some_and(|p| host.short_name.to_lowercase().starts_with(p))
        });
        assert_eq!(listed, host.in_inventory, "{}", host.computer);
        let expected = if host.in_inventory {
            host.group.as_str()
        } else {
            "unassigned"
        };
        assert_eq!(host.expected_group, expected);
    }
}
