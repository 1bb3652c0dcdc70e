//! The evaluator against a table of hand-written cases (spec §2–3): each rule type, `*`
//! wildcards and path variables, version ranges in numeric order, exceptions, deny beating
//! allow, and SIDs with and without a `--sid-groups` table.

use policy::read::parse;
use policy::{CollectionKind, Decision, Evaluator, FileFacts, SidGroups, Version};

const POLICY: &str = include_str!("fixtures/table-policy.xml");

const ALICE: &str = "S-1-5-21-1-2-3-2001"; // in Engineering (S-1-5-21-1-2-3-1001)
const BOB: &str = "S-1-5-21-1-2-3-2002"; // in no group
const ADMIN: &str = "S-1-5-21-1-2-3-3001"; // in BUILTIN\Administrators
const MALLORY: &str = "S-1-5-21-1-2-3-5005"; // named by a Deny rule

const GIT: &str = "O=JOHANNES SCHINDELIN, S=NORDRHEIN-WESTFALEN, C=DE";
const SYS: &str = "O=SYSINTERNALS - WWW.SYSINTERNALS.COM, L=AUSTIN, S=TEXAS, C=US";
const CONTOSO: &str = "O=CONTOSO LTD, C=US";
const MS: &str = "CN=MICROSOFT CORPORATION, O=MICROSOFT CORPORATION, L=REDMOND, S=WASHINGTON, C=US";

const SID_GROUPS: &str = "user_sid,group_sid\n\
    S-1-5-21-1-2-3-2001,S-1-5-21-1-2-3-1001\n\
    S-1-5-21-1-2-3-3001,S-1-5-32-544\n";

/// Builds the facts of one execution.
#[derive(Clone)]
struct F(FileFacts);

fn file(collection: &str, path: &str) -> F {
    F(FileFacts {
        collection: CollectionKind::parse(collection),
        path: (!path.is_empty()).then(|| path.to_owned()),
        user_sid: Some(BOB.to_owned()),
        ..FileFacts::default()
    })
}

fn exe(path: &str) -> F {
    file("EXE", path)
}

impl F {
    fn signed(mut self, publisher: &str, product: &str, binary: &str, version: &str) -> F {
        self.0.publisher = Some(publisher.to_owned());
        self.0.product = Some(product.to_owned());
        self.0.binary = Some(binary.to_owned());
        self.0.version = (!version.is_empty()).then(|| version.parse::<Version>().unwrap());
        self
    }
    fn hash(mut self, hash: &str) -> F {
        self.0.hash = Some(hash.repeat(64 / hash.len()));
        self
    }
    fn user(mut self, sid: &str) -> F {
        self.0.user_sid = Some(sid.to_owned());
        self
    }
}

use Decision::{Allowed, Denied, ImplicitDeny, NotCovered};

fn cases() -> Vec<(&'static str, F, Decision, Option<&'static str>)> {
    vec![
        (
            "program files",
            exe("%PROGRAMFILES%\\APP\\A.EXE"),
            Allowed,
            Some("Program Files"),
        ),
        (
            "program files (x86) is %PROGRAMFILES%",
            exe("%OSDRIVE%\\PROGRAM FILES (X86)\\APP\\A.EXE"),
            Allowed,
            Some("Program Files"),
        ),
        (
            "%SYSTEM32% lies inside %WINDIR%",
            exe("%SYSTEM32%\\CMD.EXE"),
            Allowed,
            Some("Windows"),
        ),
        (
            "windows folder",
            exe("%WINDIR%\\EXPLORER.EXE"),
            Allowed,
            Some("Windows"),
        ),
        (
            "exception: Windows\\Temp",
            exe("%WINDIR%\\TEMP\\X.EXE"),
            ImplicitDeny,
            None,
        ),
        (
            "exception folder covers subfolders",
            exe("%WINDIR%\\TASKS\\SUB\\X.EXE"),
            ImplicitDeny,
            None,
        ),
        (
            "exception on one file",
            exe("%WINDIR%\\REGEDIT.EXE"),
            ImplicitDeny,
            None,
        ),
        (
            "an exception does not stop other allow rules",
            exe("%WINDIR%\\REGEDIT.EXE").user(ADMIN),
            Allowed,
            Some("Admins all"),
        ),
        (
            "user profile, unsigned",
            exe("%OSDRIVE%\\USERS\\BOB\\DOWNLOADS\\X.EXE"),
            ImplicitDeny,
            None,
        ),
        (
            "administrators: path *",
            exe("%OSDRIVE%\\USERS\\ADMIN\\DOWNLOADS\\X.EXE").user(ADMIN),
            Allowed,
            Some("Admins all"),
        ),
        (
            "publisher + product, version above low",
            exe("%OSDRIVE%\\USERS\\BOB\\APPDATA\\LOCAL\\GIT\\GIT.EXE").signed(
                GIT,
                "GIT",
                "GIT.EXE",
                "2.35.5.01",
            ),
            Allowed,
            Some("Git"),
        ),
        (
            "version compared as numbers: 2.9 < 2.35",
            exe("%OSDRIVE%\\USERS\\BOB\\GIT.EXE").signed(GIT, "GIT", "GIT.EXE", "2.9.0.0"),
            ImplicitDeny,
            None,
        ),
        (
            "version compared as numbers: 2.100 > 2.35",
            exe("%OSDRIVE%\\USERS\\BOB\\GIT.EXE").signed(GIT, "GIT", "GIT.EXE", "2.100.0.0"),
            Allowed,
            Some("Git"),
        ),
        (
            "low bound inclusive",
            exe("%OSDRIVE%\\USERS\\BOB\\GIT.EXE").signed(GIT, "GIT", "GIT.EXE", "2.35.0.0"),
            Allowed,
            Some("Git"),
        ),
        (
            "publisher case-insensitive",
            exe("D:\\GIT.EXE").signed(&GIT.to_lowercase(), "git", "git.exe", "2.40.0.0"),
            Allowed,
            Some("Git"),
        ),
        (
            "other product of the same publisher",
            exe("D:\\GIT.EXE").signed(GIT, "GIT FOR WINDOWS", "GIT.EXE", "2.40.0.0"),
            ImplicitDeny,
            None,
        ),
        (
            "signed without version is 0.0.0.0",
            exe("D:\\GIT.EXE").signed(GIT, "GIT", "GIT.EXE", ""),
            ImplicitDeny,
            None,
        ),
        (
            "unsigned (FQBN -) never matches a publisher rule",
            exe("D:\\GIT.EXE").signed("-", "", "", ""),
            ImplicitDeny,
            None,
        ),
        (
            "deny *\\firefox.exe in a profile",
            exe("%OSDRIVE%\\USERS\\BOB\\FIREFOX.EXE"),
            Denied,
            Some("No portable Firefox"),
        ),
        (
            "deny exception: the installed Firefox",
            exe("%PROGRAMFILES%\\MOZILLA FIREFOX\\FIREFOX.EXE"),
            Allowed,
            Some("Program Files"),
        ),
        (
            "deny beats a path allow",
            exe("%PROGRAMFILES%\\OTHER\\FIREFOX.EXE"),
            Denied,
            Some("No portable Firefox"),
        ),
        (
            "deny beats the administrators' allow",
            exe("%OSDRIVE%\\USERS\\ADMIN\\FIREFOX.EXE").user(ADMIN),
            Denied,
            Some("No portable Firefox"),
        ),
        (
            "wildcard needs the whole name",
            exe("%OSDRIVE%\\USERS\\BOB\\FIREFOX.EXE.OLD"),
            ImplicitDeny,
            None,
        ),
        (
            "other drive folder rule",
            exe("D:\\LOB\\APP.EXE"),
            Allowed,
            Some("LOB"),
        ),
        (
            "path exception inside it",
            exe("D:\\LOB\\UPLOADS\\X.EXE"),
            ImplicitDeny,
            None,
        ),
        (
            "publisher exception: allowed by another rule instead",
            exe("D:\\LOB\\PROCMON.EXE").signed(SYS, "PROCESS MONITOR", "PROCMON.EXE", "3.0.0.0"),
            Allowed,
            Some("Sysinternals"),
        ),
        (
            "hash exception",
            exe("D:\\LOB\\BAD.EXE").hash("1"),
            ImplicitDeny,
            None,
        ),
        (
            "other folder of that drive",
            exe("D:\\OTHER\\X.EXE"),
            ImplicitDeny,
            None,
        ),
        (
            "publisher deny, version below high",
            exe("D:\\BGINFO64.EXE").signed(SYS, "BGINFO", "BGINFO.EXE", "4.20.0.0"),
            Denied,
            Some("Old BgInfo"),
        ),
        (
            "high bound inclusive",
            exe("D:\\BGINFO64.EXE").signed(SYS, "BGINFO", "BGINFO.EXE", "4.25.0.0"),
            Denied,
            Some("Old BgInfo"),
        ),
        (
            "above the deny range: publisher allow",
            exe("D:\\BGINFO64.EXE").signed(SYS, "BGINFO", "BGINFO.EXE", "4.28.0.00"),
            Allowed,
            Some("Sysinternals"),
        ),
        (
            "binary name is the original name, not the file name",
            exe("D:\\RENAMED.EXE").signed(SYS, "BGINFO", "BGINFO.EXE", "4.10.0.0"),
            Denied,
            Some("Old BgInfo"),
        ),
        (
            "publisher-only allow, any version",
            exe("D:\\PROCMON.EXE").signed(SYS, "PROCESS MONITOR", "PROCMON.EXE", "3.96.0.0"),
            Allowed,
            Some("Sysinternals"),
        ),
        (
            "hash rule for a group member",
            exe("D:\\TOOLS\\TOOL.EXE").hash("A").user(ALICE),
            Allowed,
            Some("Engineering tool"),
        ),
        (
            "hash rule, user not in the group",
            exe("D:\\TOOLS\\TOOL.EXE").hash("A"),
            ImplicitDeny,
            None,
        ),
        (
            "hash compared case-insensitively",
            exe("D:\\TOOLS\\TOOL.EXE").hash("a").user(ALICE),
            Allowed,
            Some("Engineering tool"),
        ),
        (
            "any hash of a multi-hash rule (policy in lower case)",
            exe("D:\\B.EXE").hash("B"),
            Allowed,
            Some("Hash pair"),
        ),
        (
            "second hash of the rule",
            exe("D:\\C.EXE").hash("C"),
            Allowed,
            Some("Hash pair"),
        ),
        (
            "SHA256Flat entries are not AppLocker hashes",
            exe("D:\\D.EXE").hash("D"),
            ImplicitDeny,
            None,
        ),
        ("no hash, unsigned", exe("D:\\X.EXE"), ImplicitDeny, None),
        (
            "product version range",
            exe("D:\\SUITE.EXE").signed(CONTOSO, "CONTOSO SUITE", "SUITE.EXE", "1.5.0.0"),
            Allowed,
            Some("Contoso Suite 1.x"),
        ),
        (
            "deny for one user SID",
            exe("D:\\SUITE.EXE")
                .signed(CONTOSO, "CONTOSO SUITE", "SUITE.EXE", "1.5.0.0")
                .user(MALLORY),
            Denied,
            Some("Contoso denied for Mallory"),
        ),
        (
            "above the range",
            exe("D:\\SUITE.EXE").signed(CONTOSO, "CONTOSO SUITE", "SUITE.EXE", "2.0.0.0"),
            ImplicitDeny,
            None,
        ),
        (
            "below the range",
            exe("D:\\SUITE.EXE").signed(CONTOSO, "CONTOSO SUITE", "SUITE.EXE", "0.9.0.0"),
            ImplicitDeny,
            None,
        ),
        (
            "top of the range",
            exe("D:\\SUITE.EXE").signed(CONTOSO, "CONTOSO SUITE", "SUITE.EXE", "1.9.9.9"),
            Allowed,
            Some("Contoso Suite 1.x"),
        ),
        (
            "other binary of the product",
            exe("D:\\HELPER.EXE").signed(CONTOSO, "CONTOSO SUITE", "HELPER.EXE", "1.5.0.0"),
            ImplicitDeny,
            None,
        ),
        (
            "a path without * is one file",
            exe("%OSDRIVE%\\TOOLS\\RUN.EXE"),
            Allowed,
            Some("One tool"),
        ),
        (
            "not its neighbour",
            exe("%OSDRIVE%\\TOOLS\\RUN2.EXE"),
            ImplicitDeny,
            None,
        ),
        (
            "not the same name elsewhere",
            exe("%OSDRIVE%\\TOOLS\\SUB\\RUN.EXE"),
            ImplicitDeny,
            None,
        ),
        (
            "* inside a publisher name is literal",
            exe("D:\\A.EXE").signed("O=FABRIKAM*", "P", "A.EXE", "1.0.0.0"),
            Allowed,
            Some("Literal star"),
        ),
        (
            "so it does not match other publishers",
            exe("D:\\A.EXE").signed("O=FABRIKAM INC", "P", "A.EXE", "1.0.0.0"),
            ImplicitDeny,
            None,
        ),
        (
            "binary name ? alone means any",
            exe("D:\\A.EXE").signed("O=FABRIKAM*", "P", "", "1.0.0.0"),
            Allowed,
            Some("Literal star"),
        ),
        (
            "group rule on %OSDRIVE%\\*",
            exe("%OSDRIVE%\\USERS\\ALICE\\X.EXE").user(ALICE),
            Allowed,
            Some("Whole OS drive for Engineering"),
        ),
        (
            "%OSDRIVE% covers %PROGRAMFILES% (first allow named)",
            exe("%PROGRAMFILES%\\X\\A.EXE").user(ALICE),
            Allowed,
            Some("Program Files"),
        ),
        (
            "deny beats a group allow",
            exe("%OSDRIVE%\\USERS\\ALICE\\FIREFOX.EXE").user(ALICE),
            Denied,
            Some("No portable Firefox"),
        ),
        (
            "%OSDRIVE% is not another drive",
            exe("D:\\X.EXE").user(ALICE),
            ImplicitDeny,
            None,
        ),
        (
            "a collection without rules allows all",
            file("DLL", "%OSDRIVE%\\USERS\\BOB\\X.DLL"),
            NotCovered,
            None,
        ),
        (
            "msi: * with exceptions",
            file("MSI", "%OSDRIVE%\\USERS\\BOB\\DOWNLOADS\\SETUP.MSI"),
            Allowed,
            Some("All but removable"),
        ),
        (
            "msi: %HOT% excepted",
            file("MSI", "%HOT%\\SETUP.MSI"),
            ImplicitDeny,
            None,
        ),
        (
            "msi: %REMOVABLE% excepted",
            file("MSI", "%REMOVABLE%\\SETUP.MSI"),
            ImplicitDeny,
            None,
        ),
        (
            "script hash rule",
            file(
                "SCRIPT",
                "%OSDRIVE%\\USERS\\BOB\\APPDATA\\LOCAL\\TEMP\\LOGON.PS1",
            )
            .hash("E"),
            Allowed,
            Some("Logon script"),
        ),
        (
            "script on a UNC path",
            file(
                "SCRIPT",
                "\\\\CORP.EXAMPLE.COM\\SYSVOL\\CORP\\SCRIPTS\\LOGON.BAT",
            ),
            Allowed,
            Some("SYSVOL scripts"),
        ),
        (
            "script nowhere allowed",
            file("SCRIPT", "%OSDRIVE%\\USERS\\BOB\\X.PS1"),
            ImplicitDeny,
            None,
        ),
        (
            "packaged app by package name (case differs)",
            file("APPX", "").signed(MS, "MICROSOFT.BINGNEWS", "APPX", "4.55.62231.00"),
            Allowed,
            Some("Bing News"),
        ),
        (
            "packaged app below the version",
            file("APPX", "").signed(MS, "MICROSOFT.BINGNEWS", "APPX", "3.0.0.0"),
            ImplicitDeny,
            None,
        ),
        (
            "packaged app denied by name, any publisher",
            file("APPX", "").signed(MS, "MICROSOFT.XBOXAPP", "APPX", "48.0.0.0"),
            Denied,
            Some("No Xbox"),
        ),
        (
            "other packaged app",
            file("APPX", "").signed(MS, "MICROSOFT.ZUNEMUSIC", "APPX", "10.0.0.0"),
            ImplicitDeny,
            None,
        ),
        (
            "no collection",
            file("", "%OSDRIVE%\\X.EXE"),
            NotCovered,
            None,
        ),
    ]
}

#[test]
fn the_case_table() {
    let policy = parse(POLICY.as_bytes()).unwrap().policy;
    let evaluator = Evaluator::new(&policy, Some(SidGroups::parse(SID_GROUPS).unwrap()));
    let cases = cases();
    assert!(cases.len() >= 60, "{} cases", cases.len());
    let mut failures = Vec::new();
    for (name, facts, decision, rule) in &cases {
        let v = evaluator.evaluate(&facts.0);
        let rule_name = v.rule.map(|i| evaluator.rule(i).name.as_str());
        if v.decision != *decision || rule_name != *rule {
            failures.push(format!(
                "{name}: expected {decision:?} by {rule:?}, got {v:?} ({rule_name:?})"
            ));
        }
        assert!(!evaluator.explain(&v).is_empty());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn without_sid_groups_group_rules_are_named_not_applied() {
    let policy = parse(POLICY.as_bytes()).unwrap().policy;
    let evaluator = Evaluator::new(&policy, None);
    let admin = evaluator.evaluate(&exe("%OSDRIVE%\\USERS\\ADMIN\\X.EXE").user(ADMIN).0);
    assert_eq!(admin.decision, ImplicitDeny);
    let not_evaluated = |v: &policy::Verdict| -> Vec<String> {
        v.not_evaluated
            .iter()
            .map(|&i| evaluator.not_evaluated_label(i))
            .collect()
    };
    assert!(
        not_evaluated(&admin)
            .iter()
            .any(|r| r.contains("Admins all")),
        "{admin:?}"
    );
    let reason = evaluator.explain(&admin);
    assert!(reason.contains("not evaluated"), "{reason}");

    let alice = evaluator.evaluate(&exe("D:\\TOOLS\\TOOL.EXE").hash("A").user(ALICE).0);
    assert_eq!(alice.decision, ImplicitDeny);
    assert!(
        not_evaluated(&alice)
            .iter()
            .any(|r| r.contains("Engineering tool"))
    );

    // A rule naming the user's own SID needs no table.
    let mallory = evaluator.evaluate(
        &exe("D:\\SUITE.EXE")
            .signed(CONTOSO, "CONTOSO SUITE", "SUITE.EXE", "1.5.0.0")
            .user(MALLORY)
            .0,
    );
    assert_eq!(mallory.decision, Denied);
    // Everyone rules need no table either.
    assert_eq!(
        evaluator.evaluate(&exe("%SYSTEM32%\\CMD.EXE").0).decision,
        Allowed
    );
}

#[test]
fn exe_rules_without_appx_rules_block_packaged_apps() {
    let xml = r#"<AppLockerPolicy Version="1"><RuleCollection Type="Exe" EnforcementMode="Enabled">
        <FilePathRule Id="921cc481-6e17-4653-8f75-050b80acca20" Name="PF" Description="" UserOrGroupSid="S-1-1-0" Action="Allow">
        <Conditions><FilePathCondition Path="%PROGRAMFILES%\*" /></Conditions></FilePathRule></RuleCollection></AppLockerPolicy>"#;
    let evaluator = Evaluator::new(&parse(xml.as_bytes()).unwrap().policy, None);
    let appx = evaluator.evaluate(
        &file("APPX", "")
            .signed(MS, "MICROSOFT.BINGNEWS", "APPX", "4.0.0.0")
            .0,
    );
    assert_eq!(appx.decision, ImplicitDeny);
    let reason = evaluator.explain(&appx);
    assert!(reason.contains("packaged apps"), "{reason}");
    assert_eq!(
        evaluator.evaluate(&file("SCRIPT", "D:\\X.PS1").0).decision,
        NotCovered
    );
}

#[test]
fn sid_group_table_errors_name_the_line() {
    let err =
        SidGroups::parse("user_sid,group_sid\nS-1-5-21-1,S-1-5-32-544\nbob,admins\n").unwrap_err();
    assert!(err.contains("line 3"), "{err}");
    assert!(
        SidGroups::parse("S-1-5-21-1\n")
            .unwrap_err()
            .contains("line 1")
    );
    // Not a SID, and not ASCII where a SID's prefix would be: an error, not a panic.
    let err = SidGroups::parse("S-1é-5-21-1,S-1-5-32-544\n").unwrap_err();
    assert!(err.contains("line 1"), "{err}");
}

/// The bypass-risk flag: a path rule for users on a place they can write, not one for
/// administrators, nor the domain's logon-script shares, nor a publisher rule.
#[test]
fn path_rules_on_user_writable_places_are_bypass_risks() {
    let xml = r#"<AppLockerPolicy Version="1"><RuleCollection Type="Script" EnforcementMode="Enabled">
        <FilePathRule Id="00000000-0000-4000-8000-000000000001" Name="logon scripts" Description="" UserOrGroupSid="S-1-1-0" Action="Allow"><Conditions><FilePathCondition Path="\\CONTOSO.COM\SYSVOL\*" /></Conditions></FilePathRule>
        <FilePathRule Id="00000000-0000-4000-8000-000000000002" Name="apps share" Description="" UserOrGroupSid="S-1-1-0" Action="Allow"><Conditions><FilePathCondition Path="\\FILES\APPS\*" /></Conditions></FilePathRule>
        <FilePathRule Id="00000000-0000-4000-8000-000000000003" Name="admins" Description="" UserOrGroupSid="S-1-5-32-544" Action="Allow"><Conditions><FilePathCondition Path="%OSDRIVE%\USERS\*" /></Conditions></FilePathRule>
        <FilePathRule Id="00000000-0000-4000-8000-000000000004" Name="profiles" Description="" UserOrGroupSid="S-1-1-0" Action="Allow"><Conditions><FilePathCondition Path="%OSDRIVE%\USERS\*\TOOLS\*" /></Conditions></FilePathRule>
    </RuleCollection></AppLockerPolicy>"#;
    let policy = parse(xml.as_bytes()).unwrap().policy;
    let groups = SidGroups::parse(SID_GROUPS).unwrap();
    let evaluator = Evaluator::new(&policy, Some(groups));
    let flag = |path: &str, user: &str| {
        let facts = FileFacts {
            user_sid: Some(user.to_owned()),
            ..file("SCRIPT", path).0
        };
        let verdict = evaluator.evaluate(&facts);
        assert_eq!(verdict.decision, Decision::Allowed, "{path}");
        evaluator.writable_place_allowed(&facts, &verdict)
    };
    assert_eq!(
        flag(r"\\CONTOSO.COM\SYSVOL\CONTOSO.COM\SCRIPTS\LOGON.BAT", BOB),
        None
    );
    assert_eq!(
        flag(r"\\FILES\APPS\X.PS1", BOB),
        Some("a network share (its permissions are not known)")
    );
    assert_eq!(flag(r"%OSDRIVE%\USERS\ADMIN\DOWNLOADS\X.PS1", ADMIN), None);
    assert_eq!(
        flag(r"%OSDRIVE%\USERS\BOB\TOOLS\X.PS1", BOB),
        Some("a user profile")
    );
}
