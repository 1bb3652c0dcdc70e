//! What the simulated fleet's *current* AppLocker policy does with a file: the default rules
//! (`shared/spec/applocker-policy-xml.md` §4) plus a Microsoft-only packaged-app rule.
//! Files no rule allows are audit events (8003/8006/8021/8024) in audit-only groups and
//! block events (8004/8007/8022/8025) where the collection is enforced.

use crate::catalog::Collection;

/// The rule that decided, as logged in `RuleId`, `RuleName`, `RuleSddl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRef {
    pub id: &'static str,
    pub name: &'static str,
    pub sddl: &'static str,
}

/// The logged form when no rule matched (the normal case for audit events).
pub(crate) const NO_RULE: RuleRef = RuleRef {
    id: "00000000-0000-0000-0000-000000000000",
    name: "-",
    sddl: "-",
};

const EXE_PROGRAM_FILES: RuleRef = RuleRef {
    id: "921cc481-6e17-4653-8f75-050b80acca20",
    name: "(Default Rule) All files located in the Program Files folder",
    sddl: r#"D:(XA;;FX;;;S-1-1-0;(APPID://PATH Contains "%PROGRAMFILES%\*"))"#,
};
const EXE_WINDOWS: RuleRef = RuleRef {
    id: "a61c8b2c-a319-4cd0-9690-d2177cad7b51",
    name: "(Default Rule) All files located in the Windows folder",
    sddl: r#"D:(XA;;FX;;;S-1-1-0;(APPID://PATH Contains "%WINDIR%\*"))"#,
};
const DLL_PROGRAM_FILES: RuleRef = RuleRef {
    id: "3737732c-99b7-41d4-9037-9cddfb0de0d0",
    name: "(Default Rule) All DLLs located in the Program Files folder",
    sddl: r#"D:(XA;;FX;;;S-1-1-0;(APPID://PATH Contains "%PROGRAMFILES%\*"))"#,
};
const DLL_WINDOWS: RuleRef = RuleRef {
    id: "bac4b0bf-6f1b-40e8-8627-8545fa89c8b6",
    name: "(Default Rule) Microsoft Windows DLLs",
    sddl: r#"D:(XA;;FX;;;S-1-1-0;(APPID://PATH Contains "%WINDIR%\*"))"#,
};
const MSI_SIGNED: RuleRef = RuleRef {
    id: "b7af7102-efde-4369-8a89-7a6a392d1473",
    name: "(Default Rule) All digitally signed Windows Installer files",
    sddl: r#"D:(XA;;FX;;;S-1-1-0;((Exists APPID://FQBN) && ((APPID://FQBN) >= ({"*\*\*",0}))))"#,
};
const MSI_INSTALLER_FOLDER: RuleRef = RuleRef {
    id: "5b290184-345a-4453-b184-45305f6d9a54",
    name: "(Default Rule) All Windows Installer files in %systemdrive%\\Windows\\Installer",
    sddl: r#"D:(XA;;FX;;;S-1-1-0;(APPID://PATH Contains "%WINDIR%\INSTALLER\*"))"#,
};
const SCRIPT_PROGRAM_FILES: RuleRef = RuleRef {
    id: "06dce67b-934c-454f-a263-2515c8796a5d",
    name: "(Default Rule) All scripts located in the Program Files folder",
    sddl: r#"D:(XA;;FX;;;S-1-1-0;(APPID://PATH Contains "%PROGRAMFILES%\*"))"#,
};
const SCRIPT_WINDOWS: RuleRef = RuleRef {
    id: "9428c672-5fc3-47f4-808a-a0011f36dd2c",
    name: "(Default Rule) All scripts located in the Windows folder",
    sddl: r#"D:(XA;;FX;;;S-1-1-0;(APPID://PATH Contains "%WINDIR%\*"))"#,
};
const APPX_MICROSOFT: RuleRef = RuleRef {
    id: "3f1c6a0e-7d52-4b8e-9a61-0c2f5e8d4b17",
    name: "Microsoft packaged apps",
    sddl: r#"D:(XA;;FX;;;S-1-1-0;((Exists APPID://FQBN) && ((APPID://FQBN) >= ({"CN=MICROSOFT CORPORATION, O=MICROSOFT CORPORATION, L=REDMOND, S=WASHINGTON, C=US\*\*",0}))))"#,
};

/// The file name of the current policy `generate` writes beside the logs.
pub const CURRENT_POLICY_FILE: &str = "current-policy.xml";

/// The simulated fleet's current policy as AppLocker policy XML, every collection audit
/// only (the GPO of an audited group; the enforcing group's differs only in its modes):
/// exactly the rules `allowing_rule` applies, so a tool that evaluates it must reach the
/// generator's own verdicts.
pub fn current_policy_xml() -> String {
    let path_rule = |r: &RuleRef, path: &str| {
        format!(
            r#"    <FilePathRule Id="{}" Name="{}" Description="" UserOrGroupSid="S-1-1-0" Action="Allow"><Conditions><FilePathCondition Path="{path}" /></Conditions></FilePathRule>
"#,
            r.id,
            xml_text(r.name)
        )
    };
    let publisher_rule = |r: &RuleRef, publisher: &str| {
        format!(
            r#"    <FilePublisherRule Id="{}" Name="{}" Description="" UserOrGroupSid="S-1-1-0" Action="Allow"><Conditions><FilePublisherCondition PublisherName="{publisher}" ProductName="*" BinaryName="*"><BinaryVersionRange LowSection="0.0.0.0" HighSection="*" /></FilePublisherCondition></Conditions></FilePublisherRule>
"#,
            r.id,
            xml_text(r.name)
        )
    };
    let collection = |kind: &str, rules: &[String]| {
        format!(
            "  <RuleCollection Type=\"{kind}\" EnforcementMode=\"AuditOnly\">\n{}  </RuleCollection>\n",
            rules.concat()
        )
    };
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<AppLockerPolicy Version=\"1\">\n",
    );
    xml.push_str(&collection(
        "Appx",
        &[publisher_rule(
            &APPX_MICROSOFT,
            "CN=MICROSOFT CORPORATION, O=MICROSOFT CORPORATION, L=REDMOND, S=WASHINGTON, C=US",
        )],
    ));
    xml.push_str(&collection(
        "Dll",
        &[
            path_rule(&DLL_PROGRAM_FILES, r"%PROGRAMFILES%\*"),
            path_rule(&DLL_WINDOWS, r"%WINDIR%\*"),
        ],
    ));
    xml.push_str(&collection(
        "Exe",
        &[
            path_rule(&EXE_PROGRAM_FILES, r"%PROGRAMFILES%\*"),
            path_rule(&EXE_WINDOWS, r"%WINDIR%\*"),
        ],
    ));
    xml.push_str(&collection(
        "Msi",
        &[
            publisher_rule(&MSI_SIGNED, "*"),
            path_rule(&MSI_INSTALLER_FOLDER, r"%WINDIR%\Installer\*"),
        ],
    ));
    xml.push_str(&collection(
        "Script",
        &[
            path_rule(&SCRIPT_PROGRAM_FILES, r"%PROGRAMFILES%\*"),
            path_rule(&SCRIPT_WINDOWS, r"%WINDIR%\*"),
        ],
    ));
    xml.push_str("</AppLockerPolicy>\n");
    xml
}

/// `text` with XML's special characters escaped.
fn xml_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Turns a path as it is on disk into the form AppLocker logs in `FilePath`: upper case,
/// with the longest matching well-known prefix replaced by an AppLocker variable
/// (applocker-events.md §4: System32 wins over Windows, Windows and Program Files over
/// the OS drive; other drives and UNC paths stay as they are).
pub fn applocker_path(full: &str) -> String {
    const PREFIXES: &[(&str, &str)] = &[
        (r"C:\WINDOWS\SYSTEM32\", r"%SYSTEM32%\"),
        (r"C:\WINDOWS\SYSWOW64\", r"%SYSTEM32%\"),
        (r"C:\WINDOWS\", r"%WINDIR%\"),
        (r"C:\PROGRAM FILES (X86)\", r"%PROGRAMFILES%\"),
        (r"C:\PROGRAM FILES\", r"%PROGRAMFILES%\"),
        (r"C:\", r"%OSDRIVE%\"),
    ];
    let upper = full.to_uppercase();
    for (prefix, variable) in PREFIXES {
        if let Some(rest) = upper.strip_prefix(prefix) {
            return format!("{variable}{rest}");
        }
    }
    upper
}

/// The rule of the current policy that allows the file, or `None` (audit or block).
pub(crate) fn allowing_rule(
    collection: Collection,
    applocker_path: &str,
    publisher: Option<&str>,
) -> Option<RuleRef> {
    let in_program_files = applocker_path.starts_with(r"%PROGRAMFILES%\");
    // %SYSTEM32% is inside the Windows folder, so the Windows-folder rule covers it.
    let in_windows =
        applocker_path.starts_with(r"%WINDIR%\") || applocker_path.starts_with(r"%SYSTEM32%\");
    match collection {
        Collection::Exe if in_program_files => Some(EXE_PROGRAM_FILES),
        Collection::Exe if in_windows => Some(EXE_WINDOWS),
        Collection::Dll if in_program_files => Some(DLL_PROGRAM_FILES),
        Collection::Dll if in_windows => Some(DLL_WINDOWS),
        Collection::Script if in_program_files => Some(SCRIPT_PROGRAM_FILES),
        Collection::Script if in_windows => Some(SCRIPT_WINDOWS),
        Collection::Msi if publisher.is_some() => Some(MSI_SIGNED),
        Collection::Msi if applocker_path.starts_with(r"%WINDIR%\INSTALLER\") => {
            Some(MSI_INSTALLER_FOLDER)
        }
        Collection::Appx
            if publisher.is_some_and(|p| p.starts_with("CN=MICROSOFT CORPORATION,")) =>
        {
            Some(APPX_MICROSOFT)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_applocker_variables() {
        assert_eq!(
            applocker_path(r"C:\Windows\System32\conhost.exe"),
            r"%SYSTEM32%\CONHOST.EXE"
        );
        assert_eq!(
            applocker_path(r"C:\Windows\explorer.exe"),
            r"%WINDIR%\EXPLORER.EXE"
        );
        assert_eq!(
            applocker_path(r"C:\Program Files (x86)\A\b.exe"),
            r"%PROGRAMFILES%\A\B.EXE"
        );
        assert_eq!(
            applocker_path(r"C:\Users\thor\x.exe"),
            r"%OSDRIVE%\USERS\THOR\X.EXE"
        );
        assert_eq!(applocker_path(r"D:\blp\x.exe"), r"D:\BLP\X.EXE");
        assert_eq!(applocker_path(r"\\srv\share\x.exe"), r"\\SRV\SHARE\X.EXE");
    }

    #[test]
    fn default_rules_allow_windows_and_program_files_only() {
        assert!(allowing_rule(Collection::Exe, r"%SYSTEM32%\CMD.EXE", None).is_some());
        assert!(allowing_rule(Collection::Exe, r"%OSDRIVE%\USERS\A\X.EXE", Some("O=X")).is_none());
        assert!(allowing_rule(Collection::Msi, r"%OSDRIVE%\USERS\A\X.MSI", Some("O=X")).is_some());
        assert!(allowing_rule(Collection::Appx, "X", Some("CN=453637B3")).is_none());
    }
}
