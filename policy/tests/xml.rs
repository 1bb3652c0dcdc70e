//! Policy XML: every file in `shared/real-policies/` is read, written, validated against
//! Microsoft's `AppLocker.xsd` with xmllint and read back unchanged; hostile XML is refused.

use std::path::PathBuf;
use std::process::Command;

use policy::read::{self, parse};
use policy::write::to_xml;
use policy::{Action, CollectionKind, Condition, EnforcementMode, Error};

fn real_policies() -> Vec<PathBuf> {
    let files = testkit::fixtures_in("real-policies", "xml");
    assert_eq!(files.len(), 8, "{files:?}");
    files
}

/// Validates XML text against the AppLocker schema; returns xmllint's complaint.
fn xsd_errors(xml: &str) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.xml");
    std::fs::write(&file, xml).unwrap();
    let out = Command::new(testkit::tool("xmllint"))
        .arg("--noout")
        .arg("--schema")
        .arg(testkit::fixture("spec/AppLocker.xsd"))
        .arg(&file)
        .output()
        .expect("xmllint runs");
    (!out.status.success()).then(|| String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn every_real_policy_round_trips_and_validates() {
    for path in real_policies() {
        let parsed = read::read_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            parsed.policy.rules().count() > 0,
            "{}: no rules read",
            path.display()
        );
        let xml = to_xml(&parsed.policy);
        if let Some(errors) = xsd_errors(&xml) {
            panic!(
                "{}: written XML does not validate:\n{errors}\n{xml}",
                path.display()
            );
        }
        let again = parse(xml.as_bytes()).unwrap();
        assert_eq!(again.policy, parsed.policy, "{}", path.display());
        assert!(again.warnings.is_empty(), "{:?}", again.warnings);
        assert_eq!(to_xml(&again.policy), xml, "writing is stable");
    }
}

#[test]
fn real_policies_read_as_their_sources_describe() {
    let read =
        |name: &str| read::read_file(&testkit::fixture(&format!("real-policies/{name}"))).unwrap();
    let count = |p: &policy::Policy, kind, action, element: &str| {
        p.rules()
            .filter(|(k, r)| *k == kind && r.action == action && r.element_name() == element)
            .count()
    };

    // UTF-16 with BOM, comments, placeholders reported (not valid policy), not fatal.
    let aaron = read("aaronlocker_base-rules_utf16_with-placeholders.xml");
    let p = &aaron.policy;
    assert_eq!(
        count(p, CollectionKind::Dll, Action::Deny, "FilePathRule"),
        2
    );
    assert_eq!(
        count(p, CollectionKind::Dll, Action::Deny, "FilePublisherRule"),
        1
    );
    assert_eq!(
        count(p, CollectionKind::Appx, Action::Allow, "FilePublisherRule"),
        1
    );
    assert!(
        aaron.warnings.iter().any(|w| w.contains("PLACEHOLDER")),
        "{:?}",
        aaron.warnings
    );
    assert_eq!(
        p.collection(CollectionKind::Exe).unwrap().mode,
        Some(EnforcementMode::AuditOnly)
    );

    let wdac = read("wdactoolkit_exe-rules_publisher-hash-path-deny.xml").policy;
    assert_eq!(
        count(
            &wdac,
            CollectionKind::Exe,
            Action::Allow,
            "FilePublisherRule"
        ),
        17
    );
    assert_eq!(
        count(
            &wdac,
            CollectionKind::Exe,
            Action::Deny,
            "FilePublisherRule"
        ),
        19
    );
    assert_eq!(
        count(&wdac, CollectionKind::Exe, Action::Allow, "FileHashRule"),
        26
    );
    assert_eq!(
        count(&wdac, CollectionKind::Exe, Action::Allow, "FilePathRule"),
        1
    );
    assert_eq!(
        count(&wdac, CollectionKind::Exe, Action::Deny, "FilePathRule"),
        16
    );

    let fragment = read("wdactoolkit_script-rules_multi-hash_fragment.xml");
    assert!(fragment.warnings.iter().any(|w| w.contains("fragment")));
    let most_hashes = fragment
        .policy
        .rules()
        .filter_map(|(_, r)| match &r.condition {
            Condition::Hash(h) => Some(h.hashes.len()),
            _ => None,
        })
        .max();
    assert_eq!(most_hashes, Some(17));

    let bginfo = read("aaronlocker_deny-old-bginfo_publisher-version-range.xml").policy;
    let (_, rule) = bginfo.rules().next().unwrap();
    let Condition::Publisher(p) = &rule.condition else {
        panic!("{rule:?}")
    };
    assert_eq!(
        (p.low, p.high.map(|v| v.to_string())),
        (None, Some("4.25.0.0".into()))
    );
}

#[test]
fn shapes_seen_in_the_wild() {
    let rule = r#"<FilePathRule Id="921cc481-6e17-4653-8f75-050b80acca20" Name="n" Description="" UserOrGroupSid="S-1-1-0" Action="Allow"><Conditions><FilePathCondition Path="%PROGRAMFILES%\*" /></Conditions></FilePathRule>"#;
    let doc = format!(
        "<!-- exported --><AppLockerPolicy Version=\"1\"><RuleCollection Type=\"Exe\" EnforcementMode=\"Enabled\">{rule}<Surprise/></RuleCollection></AppLockerPolicy>"
    );
    // UTF-8 with BOM and declaration, UTF-16 LE and BE with BOM.
    let with_decl = format!("\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n{doc}");
    let utf16le: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(doc.encode_utf16().flat_map(|u| u.to_le_bytes()))
        .collect();
    let utf16be: Vec<u8> = [0xFE, 0xFF]
        .into_iter()
        .chain(doc.encode_utf16().flat_map(|u| u.to_be_bytes()))
        .collect();
    for bytes in [
        doc.as_bytes().to_vec(),
        with_decl.into_bytes(),
        utf16le,
        utf16be,
    ] {
        let parsed = parse(&bytes).unwrap();
        assert_eq!(parsed.policy.rules().count(), 1);
        assert!(
            parsed.warnings.iter().any(|w| w.contains("<Surprise>")),
            "{:?}",
            parsed.warnings
        );
    }
}

#[test]
fn bad_policies_name_the_line_and_field() {
    let err = parse(b"<AppLockerPolicy Version=\"1\">\n<RuleCollection Type=\"Exe\">\n<FilePathRule Id=\"x\" Name=\"n\" UserOrGroupSid=\"S-1-1-0\" Action=\"Maybe\"/></RuleCollection></AppLockerPolicy>")
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { line: 3, .. }), "{err}");
    assert!(err.to_string().contains("Maybe"), "{err}");
    let err = parse(b"<AppLockerPolicy Version=\"1\"><RuleCollection Type=\"Exe\"><FilePathRule Id=\"x\" Name=\"n\" Action=\"Allow\"><Conditions><FilePathCondition Path=\"*\"/></Conditions></FilePathRule></RuleCollection></AppLockerPolicy>")
        .unwrap_err();
    assert!(err.to_string().contains("UserOrGroupSid"), "{err}");
    let err = parse(b"<AppLockerPolicy><RuleCollection Type=\"Exe\">").unwrap_err();
    assert!(matches!(err, Error::Xml { .. }), "{err}");
    let err = parse(b"<Policy/>").unwrap_err();
    assert!(err.to_string().contains("root"), "{err}");
    assert!(matches!(
        parse(&[0xC3, 0x28, b'<']).unwrap_err(),
        Error::Encoding(_)
    ));
    let err = parse(b"<AppLockerPolicy Version=\"1\"><RuleCollection Type=\"Exe\"/><RuleCollection Type=\"Exe\"/></AppLockerPolicy>").unwrap_err();
    assert!(err.to_string().contains("second Exe"), "{err}");
}

#[test]
fn hostile_xml_is_refused_with_bounded_memory() {
    // Entity expansion ("billion laughs"): any DTD is refused.
    let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><AppLockerPolicy Version="1">&lol2;</AppLockerPolicy>"#;
    let err = parse(laughs.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("DTD"), "{err}");
    // External entities too.
    let xxe = r#"<!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]><AppLockerPolicy Version="1">&x;</AppLockerPolicy>"#;
    assert!(parse(xxe.as_bytes()).is_err());

    // Deep nesting: 200,000 levels parse without recursion and are then ignored/refused.
    let depth = 200_000;
    let deep = format!(
        "<AppLockerPolicy Version=\"1\"><PolicyExtensions>{}{}</PolicyExtensions></AppLockerPolicy>",
        "<a>".repeat(depth),
        "</a>".repeat(depth)
    );
    let err = parse(deep.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("nested deeper"), "{err}");
    let deep_unknown = format!(
        "<AppLockerPolicy Version=\"1\">{}{}</AppLockerPolicy>",
        "<a>".repeat(depth),
        "</a>".repeat(depth)
    );
    let err = parse(deep_unknown.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("nested deeper than 64"), "{err}");
    // Unknown elements within the depth limit are skipped with one warning for the outer one.
    let nested_unknown = format!(
        "<AppLockerPolicy Version=\"1\">{}{}</AppLockerPolicy>",
        "<a>".repeat(60),
        "</a>".repeat(60)
    );
    let parsed = parse(nested_unknown.as_bytes()).unwrap();
    assert_eq!(
        parsed.warnings.len(),
        1,
        "only the outer unknown element is reported"
    );

    // Too many nodes (in parents under the per-element child limit).
    let parents = read::MAX_NODES as usize / 50_000 + 1;
    let wide = format!(
        "<AppLockerPolicy Version=\"1\">{}</AppLockerPolicy>",
        format!("<p>{}</p>", "<a/>".repeat(50_000)).repeat(parents)
    );
    let err = parse(wide.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("nodes"), "{err}");

    // Huge files are refused before they are read.
    let dir = tempfile::tempdir().unwrap();
    let huge = dir.path().join("huge.xml");
    let file = std::fs::File::create(&huge).unwrap();
    file.set_len(read::MAX_POLICY_BYTES + 1).unwrap();
    let err = read::read_file(&huge).unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
}

/// Every real policy, stored as a GPO stores it (registry.pol) and read back: the same
/// policy. And the same through a GPO backup folder, as `Backup-GPO` lays it out.
#[test]
fn real_policies_round_trip_through_registry_pol_and_gpo_backups() {
    let dir = tempfile::tempdir().unwrap();
    for path in real_policies() {
        let original = read::read_file(&path).unwrap().policy;
        let pol = policy::gpo::to_registry_pol(&original);
        let backup = dir.path().join(path.file_stem().unwrap());
        let machine = backup
            .join("{6AC1786C-016F-11D2-945F-00C04FB984F9}")
            .join("DomainSysvol/GPO/MACHINE");
        std::fs::create_dir_all(&machine).unwrap();
        std::fs::write(machine.join("Registry.pol"), &pol).unwrap();
        std::fs::write(backup.join("manifest.xml"), "<Backups/>").unwrap();
        let (parsed, source) = policy::gpo::read_any(&backup).unwrap();
        assert!(
            matches!(source, policy::gpo::PolicySource::GpoBackup(_)),
            "{source:?}"
        );
        let canonical = |p: &policy::Policy| {
            let mut p = p.clone();
            p.collections.sort_by_key(|c| c.kind);
            // A NotConfigured collection without rules is not stored in a GPO.
            p.collections
                .retain(|c| !c.rules.is_empty() || c.mode != Some(EnforcementMode::NotConfigured));
            for c in &mut p.collections {
                c.mode = c.mode.or(Some(EnforcementMode::NotConfigured));
                // Collection extensions are not part of the registry layout lockstep writes,
                // and registry keys have no order.
                c.extensions = None;
                c.rules.sort_by_key(|r| r.id.to_lowercase());
            }
            p.extensions = None;
            to_xml(&p)
        };
        assert_eq!(
            canonical(&parsed.policy),
            canonical(&original),
            "{}",
            path.display()
        );
    }
}

#[test]
fn group_policy_files_that_are_not_policies_say_what_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("gpreport.xml");
    let xml = r#"<?xml version="1.0" encoding="utf-16"?><GPO xmlns="http://www.microsoft.com/GroupPolicy/Settings"><Name>AppLocker finance</Name></GPO>"#;
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(xml.encode_utf16().flat_map(u16::to_le_bytes));
    std::fs::write(&report, utf16).unwrap();
    let err = policy::gpo::read_any(&report).unwrap_err().to_string();
    assert!(
        err.contains("a GPMC report") && err.contains("backup folder"),
        "{err}"
    );
    let rsop = dir.path().join("rsop.xml");
    std::fs::write(
        &rsop,
        r#"<Rsop xmlns="http://www.microsoft.com/GroupPolicy/Rsop"/>"#,
    )
    .unwrap();
    let err = policy::gpo::read_any(&rsop).unwrap_err().to_string();
    assert!(err.contains("gpresult"), "{err}");
    let empty = dir.path().join("not-a-backup");
    std::fs::create_dir(&empty).unwrap();
    let err = policy::gpo::read_any(&empty).unwrap_err().to_string();
    assert!(
        err.contains("DomainSysvol/GPO/Machine/registry.pol"),
        "{err}"
    );
    // A registry.pol where policy XML is expected (simulate's body) is named as such.
    let pol = policy::gpo::to_registry_pol(&policy::Policy::default());
    let err = parse(&pol).unwrap_err().to_string();
    assert!(err.contains("registry.pol (PReg)"), "{err}");
}
