//! `lockstep suggest`, `simulate` and `readiness` end to end on the bundled fleet.

use std::path::{Path, PathBuf};

use crate::support::{on_sample_store, sample_store};

fn xsd() -> PathBuf {
    testkit::fixture("spec/AppLocker.xsd")
}

/// The file validates against Microsoft's `AppLocker.xsd` (xmllint).
fn assert_valid_policy(path: &Path) {
    let valid = std::process::Command::new(testkit::tool("xmllint"))
        .args(["--noout", "--schema"])
        .arg(xsd())
        .arg(path)
        .output()
        .expect("xmllint runs");
    assert!(
        valid.status.success(),
        "{}",
        String::from_utf8_lossy(&valid.stderr)
    );
}

fn run(args: &[&str], data: &Path) -> std::process::Output {
    on_sample_store(args, data).output().unwrap()
}

#[test]
fn suggest_writes_valid_policies_that_simulate_and_readiness_accept() {
    let data = sample_store();
    let out_dir = tempfile::tempdir().unwrap();
    let out = run(
        &["suggest", "--out", out_dir.path().to_str().unwrap()],
        data.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let finance = out_dir.path().join("finance.xml");
    assert_valid_policy(&finance);
    let evidence: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.path().join("finance.json")).unwrap())
            .unwrap();
    let first = &evidence["suggestions"][0];
    for key in [
        "collection",
        "rule",
        "apps",
        "events",
        "hosts",
        "users",
        "why",
        "review",
    ] {
        assert!(first.get(key).is_some(), "{key} missing: {first}");
    }

    // One group to stdout as XML; several groups need --group or --out.
    let one = run(&["suggest", "--group", "finance", "--enforce"], data.path());
    assert!(one.status.success());
    let xml = String::from_utf8(one.stdout).unwrap();
    assert!(xml.contains("EnforcementMode=\"Enabled\""), "{xml}");
    assert!(
        xml.contains("a9e18c21-ff8f-43cf-b9fc-db40eed693ba"),
        "Exe enforced brings the Appx default rule"
    );
    let many = run(&["suggest"], data.path());
    assert!(!many.status.success());
    assert!(String::from_utf8_lossy(&many.stderr).contains("--out DIR"));

    let sim = run(
        &[
            "simulate",
            "--format",
            "json",
            "--group",
            "finance",
            "--policy",
            finance.to_str().unwrap(),
        ],
        data.path(),
    );
    assert!(
        sim.status.success(),
        "{}",
        String::from_utf8_lossy(&sim.stderr)
    );
    let sim: serde_json::Value = serde_json::from_slice(&sim.stdout).unwrap();
    assert_eq!(sim["groups"][0]["group"], "finance");
    assert!(sim["executions_judged"].as_u64().unwrap() > 100);

    let table = run(
        &["simulate", "--policy", finance.to_str().unwrap()],
        data.path(),
    );
    assert!(String::from_utf8_lossy(&table.stdout).contains("finance: still blocked"));

    let ready = run(
        &["readiness", "--format", "json", "--min-days", "3"],
        data.path(),
    );
    assert!(
        ready.status.success(),
        "{}",
        String::from_utf8_lossy(&ready.stderr)
    );
    let ready: serde_json::Value = serde_json::from_slice(&ready.stdout).unwrap();
    let groups = ready.as_array().unwrap();
    assert!(groups.iter().any(|g| g["group"] == "finance"));
    for g in groups {
        assert_eq!(g["collections"].as_array().unwrap().len(), 5);
        for c in g["collections"].as_array().unwrap() {
            let status = c["status"].as_str().unwrap();
            assert!(
                ["ready", "not_ready", "insufficient_data"].contains(&status),
                "{c}"
            );
            if status == "not_ready" {
                assert!(c["residual_events"].as_u64().unwrap() > 0, "{c}");
            }
            if status != "ready" {
                assert!(!c["reasons"].as_array().unwrap().is_empty(), "{c}");
            }
        }
    }
}

#[test]
fn bad_policy_files_are_clear_errors() {
    let data = sample_store();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.xml");
    std::fs::write(&bad, "<AppLockerPolicy Version=\"1\">\n<RuleCollection Type=\"Exe\">\n<FilePathRule Id=\"x\" Name=\"n\" UserOrGroupSid=\"S-1-1-0\" Action=\"Allow\"></FilePathRule>\n</RuleCollection></AppLockerPolicy>").unwrap();
    let out = run(
        &["simulate", "--policy", bad.to_str().unwrap()],
        data.path(),
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.xml") && stderr.contains("line 3"),
        "{stderr}"
    );
    let missing = run(&["simulate", "--policy", "no-such.xml"], data.path());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no-such.xml"));
}

/// Two allowed runs of wmic on a finance laptop, as `wevtutil qe … /f:xml` prints them.
const WMIC_RUNS: &str = r#"<Events>
<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System><Provider Name="Microsoft-Windows-AppLocker" Guid="{cbda4dbf-8d5d-4f69-9578-be14aa540d22}"/><EventID>8002</EventID><Version>0</Version><Level>4</Level><Task>0</Task><Opcode>0</Opcode><Keywords>0x8000000000000000</Keywords><TimeCreated SystemTime="2026-10-12T09:15:00.1234567Z"/><EventRecordID>990001</EventRecordID><Correlation/><Execution ProcessID="4242" ThreadID="17"/><Channel>Microsoft-Windows-AppLocker/EXE and DLL</Channel><Computer>FIN-LT001</Computer><Security UserID="S-1-5-21-1-2-3-7001"/></System><UserData><RuleAndFileData xmlns="http://schemas.microsoft.com/schemas/event/Microsoft.Windows/1.0.0.0"><PolicyName>EXE</PolicyName><RuleId>{a61c8b2c-a319-4cd0-9690-d2177cad7b51}</RuleId><RuleName>(Default Rule) All files located in the Windows folder</RuleName><RuleSddl>-</RuleSddl><TargetUser>S-1-5-21-1-2-3-7001</TargetUser><TargetProcessId>5150</TargetProcessId><FilePath>%SYSTEM32%\WBEM\WMIC.EXE</FilePath><FileHash>5D8B5D1D6D6C4E1D9E8C1B2A3F4E5D6C7B8A9F0E1D2C3B4A5968778695A4B3C2</FileHash><Fqbn>O=MICROSOFT CORPORATION, L=REDMOND, S=WASHINGTON, C=US\MICROSOFT® WINDOWS® OPERATING SYSTEM\WMIC.EXE\10.0.19041.3636</Fqbn><TargetLogonId>0x3e7</TargetLogonId></RuleAndFileData></UserData></Event>
<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System><Provider Name="Microsoft-Windows-AppLocker" Guid="{cbda4dbf-8d5d-4f69-9578-be14aa540d22}"/><EventID>8002</EventID><Version>0</Version><Level>4</Level><Task>0</Task><Opcode>0</Opcode><Keywords>0x8000000000000000</Keywords><TimeCreated SystemTime="2026-10-13T10:20:00.7654321Z"/><EventRecordID>990002</EventRecordID><Correlation/><Execution ProcessID="4242" ThreadID="17"/><Channel>Microsoft-Windows-AppLocker/EXE and DLL</Channel><Computer>FIN-LT001</Computer><Security UserID="S-1-5-21-1-2-3-7001"/></System><UserData><RuleAndFileData xmlns="http://schemas.microsoft.com/schemas/event/Microsoft.Windows/1.0.0.0"><PolicyName>EXE</PolicyName><RuleId>{a61c8b2c-a319-4cd0-9690-d2177cad7b51}</RuleId><RuleName>(Default Rule) All files located in the Windows folder</RuleName><RuleSddl>-</RuleSddl><TargetUser>S-1-5-21-1-2-3-7001</TargetUser><TargetProcessId>5151</TargetProcessId><FilePath>%SYSTEM32%\WBEM\WMIC.EXE</FilePath><FileHash>5D8B5D1D6D6C4E1D9E8C1B2A3F4E5D6C7B8A9F0E1D2C3B4A5968778695A4B3C2</FileHash><Fqbn>O=MICROSOFT CORPORATION, L=REDMOND, S=WASHINGTON, C=US\MICROSOFT® WINDOWS® OPERATING SYSTEM\WMIC.EXE\10.0.19041.3636</Fqbn><TargetLogonId>0x3e7</TargetLogonId></RuleAndFileData></UserData></Event>
</Events>
"#;

/// The sample store with [`WMIC_RUNS`] ingested as event XML, and a scratch folder.
fn sample_store_with_wmic_runs() -> (tempfile::TempDir, tempfile::TempDir) {
    let data = sample_store();
    let work = tempfile::tempdir().unwrap();
    let wmic = work.path().join("fin-lt001-exe.xml");
    std::fs::write(&wmic, WMIC_RUNS).unwrap();
    crate::support::lockstep()
        .args(["-q", "ingest", "--data"])
        .arg(data.path())
        .arg(&wmic)
        .assert()
        .success();
    (data, work)
}

/// `simulate --harden` of the sample fleet's policy in force, with `more` arguments.
fn simulate_hardened(data: &Path, more: &[&str]) -> std::process::Output {
    let current = crate::support::sample_logs().join("current-policy.xml");
    let mut args = vec![
        "simulate",
        "--policy",
        current.to_str().unwrap(),
        "--harden",
    ];
    args.extend(more);
    run(&args, data)
}

/// `--harden`: the deny list goes into the suggested policy (valid XML), and simulate and
/// suggest name who it would hit, from the recorded events.
#[test]
fn hardening_what_if_names_who_would_be_hit() {
    let (data, exports) = sample_store_with_wmic_runs();

    let out = run(&["suggest", "--group", "finance", "--harden"], data.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let xml = String::from_utf8(out.stdout).unwrap();
    assert!(
        xml.contains(r#"Name="lockstep hardening: WMIC.EXE""#),
        "{xml}"
    );
    assert!(
        xml.contains(r#"Name="lockstep hardening: MSHTA.EXE""#),
        "{xml}"
    );
    assert!(
        stderr.contains("they would block 1 recorded app(s)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("WMIC.EXE: 2 event(s), hosts fin-lt001, users S-1-5-21-1-2-3-7001"),
        "{stderr}"
    );
    let policy = exports.path().join("finance-hardened.xml");
    std::fs::write(&policy, &xml).unwrap();
    assert_valid_policy(&policy);

    // simulate --harden on the policy in force: wmic in finance, and the sample fleet's own
    // BGInfo (Sysinternals, signed by Microsoft) in it-ops; nothing elsewhere.
    let sim = simulate_hardened(data.path(), &["--format", "json"]);
    assert!(
        sim.status.success(),
        "{}",
        String::from_utf8_lossy(&sim.stderr)
    );
    let sim: serde_json::Value = serde_json::from_slice(&sim.stdout).unwrap();
    for g in sim["groups"].as_array().unwrap() {
        let hits = g.get("hardening_hits").and_then(|h| h.as_array());
        if g["group"] == "finance" {
            let hits = hits.expect("finance is hit");
            assert_eq!(hits.len(), 1, "{hits:?}");
            assert_eq!(hits[0]["binary"], "WMIC.EXE");
            assert_eq!(hits[0]["host_names"], serde_json::json!(["fin-lt001"]));
            assert_eq!(
                hits[0]["blocked_by"],
                serde_json::json!(["lockstep hardening: WMIC.EXE"])
            );
        } else if g["group"] == "it-ops" {
            let hits = hits.expect("it-ops is hit");
            assert_eq!(hits.len(), 1, "{hits:?}");
            assert_eq!(hits[0]["binary"], "BGINFO.EXE");
        } else {
            assert!(hits.is_none(), "{}: {hits:?}", g["group"]);
        }
    }
    // The table says it too.
    let table = simulate_hardened(data.path(), &["--group", "finance"]);
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(
        text.contains("harden") && text.contains("users: S-1-5-21-1-2-3-7001"),
        "{text}"
    );
}

/// An AD export as `Get-ADObject … | Select-Object … | Export-Csv` writes it in Windows
/// PowerShell 5 (a `#TYPE` line, every field quoted, `MemberOf` joined with `;`).
const AD_EXPORT: &str = "#TYPE Selected.Microsoft.ActiveDirectory.Management.ADObject\r\n\
\"DistinguishedName\",\"ObjectClass\",\"SamAccountName\",\"DisplayName\",\"SID\",\"MemberOf\"\r\n\
\"CN=Jane Doe,OU=Finance,DC=contoso,DC=com\",\"user\",\"jdoe\",\"Jane Doe\",\"S-1-5-21-1-2-3-7001\",\"CN=Finance Admins,OU=Groups,DC=contoso,DC=com\"\r\n\
\"CN=Finance Admins,OU=Groups,DC=contoso,DC=com\",\"group\",\"Finance Admins\",\"\",\"S-1-5-21-1-2-3-2001\",\"\"\r\n";

/// `identities import`: names beside SIDs in answers, and the memberships decide rules on
/// group SIDs; a bad export keeps nothing.
#[test]
fn imported_identities_name_users_and_apply_group_rules() {
    let (data, work) = sample_store_with_wmic_runs();
    // A candidate that lets only Finance Admins run wmic, plus Program Files for everyone.
    let candidate = work.path().join("candidate.xml");
    std::fs::write(&candidate, r#"<AppLockerPolicy Version="1"><RuleCollection Type="Exe" EnforcementMode="Enabled">
        <FilePathRule Id="00000000-0000-4000-8000-000000000001" Name="Program Files" Description="" UserOrGroupSid="S-1-1-0" Action="Allow"><Conditions><FilePathCondition Path="%PROGRAMFILES%\*" /></Conditions></FilePathRule>
        <FilePathRule Id="00000000-0000-4000-8000-000000000002" Name="wmic for finance admins" Description="" UserOrGroupSid="S-1-5-21-1-2-3-2001" Action="Allow"><Conditions><FilePathCondition Path="%SYSTEM32%\WBEM\WMIC.EXE" /></Conditions></FilePathRule>
    </RuleCollection></AppLockerPolicy>"#).unwrap();
    let wmic_blocked = |data: &Path| -> bool {
        let out = run(
            &[
                "simulate",
                "--policy",
                candidate.to_str().unwrap(),
                "--group",
                "finance",
                "--format",
                "json",
            ],
            data,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let sim: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        sim["groups"][0]["newly_blocked"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["binary"] == "WMIC.EXE")
    };
    assert!(
        wmic_blocked(data.path()),
        "membership unknown: the group rule does not apply"
    );

    // A bad export: the line is named, nothing is kept.
    let bad = work.path().join("bad.csv");
    std::fs::write(
        &bad,
        "SID,SamAccountName\nS-1-5-21-1-2-3-7001,jdoe\nS-1-5-21-x,broken\n",
    )
    .unwrap();
    let out = crate::support::lockstep()
        .args(["identities", "import", "--data"])
        .arg(data.path())
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.csv: line 3:") && stderr.contains("not a SID"),
        "{stderr}"
    );
    let shown = crate::support::lockstep()
        .args(["identities", "show", "--data"])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&shown.stdout).starts_with("0 identities"));

    let export = work.path().join("ad.csv");
    std::fs::write(&export, AD_EXPORT).unwrap();
    let out = crate::support::lockstep()
        .args(["identities", "import", "--data"])
        .arg(data.path())
        .arg(&export)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("imported 2 identities (1 users, 1 groups)"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let shown = crate::support::lockstep()
        .args(["identities", "show", "--data"])
        .arg(data.path())
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains("CONTOSO\\jdoe  in CONTOSO\\Finance Admins"),
        "{shown}"
    );
    assert!(
        !wmic_blocked(data.path()),
        "jdoe is a Finance Admin: the group rule allows wmic"
    );

    // Names beside SIDs.
    let sim = simulate_hardened(data.path(), &["--group", "finance", "--format", "json"]);
    let sim: serde_json::Value = serde_json::from_slice(&sim.stdout).unwrap();
    assert_eq!(sim["names"]["S-1-5-21-1-2-3-7001"], "CONTOSO\\jdoe");
    let table = simulate_hardened(data.path(), &["--group", "finance"]);
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(
        text.contains("S-1-5-21-1-2-3-7001 (CONTOSO\\jdoe)"),
        "{text}"
    );
}

/// `suggest --scope-to-groups`: a rule whose users are all in one AD group is scoped to the
/// narrowest such group; the others stay for Everyone.
#[test]
fn suggested_rules_are_scoped_to_the_narrowest_group_of_their_users() {
    let data = sample_store();
    let refused = run(
        &["suggest", "--group", "finance", "--scope-to-groups"],
        data.path(),
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("lockstep identities import"));

    // Six of Bloomberg's seven users are in Traders, which is inside Finance; the seventh
    // is in Finance only.
    let traders = ["1104", "1110", "1116", "1117", "1122", "1128"];
    let sid = |rid: &str| format!("S-1-5-21-1004336348-1177238915-682003330-{rid}");
    let mut csv = String::from("DistinguishedName,ObjectClass,SamAccountName,SID,MemberOf\n");
    csv.push_str(&format!(
        "\"CN=Traders,DC=corp,DC=example\",group,Traders,{},\"CN=Finance,DC=corp,DC=example\"\n",
        sid("3001")
    ));
    csv.push_str(&format!(
        "\"CN=Finance,DC=corp,DC=example\",group,Finance,{},\n",
        sid("3002")
    ));
    for rid in traders {
        csv.push_str(&format!(
            "\"CN=u{rid},DC=corp,DC=example\",user,u{rid},{},\"CN=Traders,DC=corp,DC=example\"\n",
            sid(rid)
        ));
    }
    csv.push_str(&format!(
        "\"CN=u1135,DC=corp,DC=example\",user,u1135,{},\"CN=Finance,DC=corp,DC=example\"\n",
        sid("1135")
    ));
    let export = data.path().join("ad.csv");
    std::fs::write(&export, csv).unwrap();
    crate::support::lockstep()
        .args(["-q", "identities", "import", "--data"])
        .arg(data.path())
        .arg(&export)
        .assert()
        .success();

    let out = run(
        &[
            "suggest",
            "--group",
            "finance",
            "--scope-to-groups",
            "--format",
            "json",
        ],
        data.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let groups: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let suggestions = groups[0]["suggestions"].as_array().unwrap();
    let bloomberg = suggestions
        .iter()
        .find(|s| {
            s["app_ids"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!("203547b4aeb4ce0a"))
        })
        .expect("a suggestion for Bloomberg");
    assert_eq!(
        bloomberg["rule"]["user_or_group_sid"],
        sid("3002"),
        "{bloomberg}"
    );
    let why = bloomberg["why"].as_str().unwrap();
    assert!(why.contains("scoped to CORP\\Finance"), "{why}");
    // An app only traders ran gets the narrower group; nothing gets a group that misses one
    // of its users (unknown users keep Everyone).
    let sids: Vec<String> = suggestions
        .iter()
        .filter_map(|s| s["rule"]["user_or_group_sid"].as_str().map(str::to_owned))
        .collect();
    assert!(sids.contains(&sid("3001")), "{sids:?}");
    let allowed = [sid("3001"), sid("3002"), "S-1-1-0".to_owned()];
    assert!(sids.iter().all(|s| allowed.contains(s)), "{sids:?}");
    // The XML validates, with the group SID on the rule.
    let xml_out = run(
        &["suggest", "--group", "finance", "--scope-to-groups"],
        data.path(),
    );
    let xml = String::from_utf8(xml_out.stdout).unwrap();
    assert!(
        xml.contains(&format!("UserOrGroupSid=\"{}\"", sid("3002"))),
        "{xml}"
    );
    let path = data.path().join("scoped.xml");
    std::fs::write(&path, &xml).unwrap();
    assert_valid_policy(&path);
}
