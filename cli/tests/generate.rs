use crate::support::lockstep;

#[test]
fn generate_writes_a_fleet_and_reports_the_rate() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fleet");
    let assert = lockstep()
        .args([
            "generate",
            "--hosts",
            "6",
            "--groups",
            "2",
            "--days",
            "2",
            "--events",
            "300",
            "--forwarded",
            "1",
            "--out",
        ])
        .arg(&out)
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert!(stdout.contains("300 AppLocker events"), "{stdout}");
    assert!(stdout.contains("records/s"), "{stdout}");
    assert!(out.join("ForwardedEvents-1.evtx").exists());
    assert!(out.join("inventory.csv").exists());
    assert!(out.join("manifest.json").exists());
}

#[test]
fn generate_refuses_bad_arguments_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let assert = lockstep()
        .args(["generate", "--hosts", "0", "--out"])
        .arg(dir.path().join("x"))
        .assert()
        .failure();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains("--hosts must be between 1 and"), "{stderr}");

    // Flips that do not fit the fleet are refused before anything is written.
    for (flip, says) in [
        (
            "nosuch:EXE:3",
            "--enforce: no group \"nosuch\" in this fleet (its groups: finance",
        ),
        (
            "finance:EXE:30",
            "day 30 is past the window's last day (20)",
        ),
        (
            "finance:EXX:3",
            "\"EXX\" is not EXE, DLL, MSI, SCRIPT or APPX",
        ),
        ("finance:EXE", "is not GROUP:COLLECTION:DAY"),
    ] {
        let out = dir.path().join("flip");
        let assert = lockstep()
            .args(["generate", "--events", "100", "--enforce", flip, "--out"])
            .arg(&out)
            .assert()
            .failure();
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
        assert!(stderr.contains(says), "{flip}: {stderr}");
        assert!(
            !out.exists() || std::fs::read_dir(&out).unwrap().next().is_none(),
            "{flip}: nothing written"
        );
    }
}

#[test]
fn generate_never_overwrites_silently() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "keep").unwrap();
    let args = [
        "generate", "--hosts", "2", "--groups", "1", "--events", "20", "--out",
    ];
    let assert = lockstep().args(args).arg(dir.path()).assert().failure();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains("--force"), "{stderr}");
    lockstep()
        .args(args)
        .arg(dir.path())
        .arg("--force")
        .assert()
        .success();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("notes.txt")).unwrap(),
        "keep"
    );
}
