//! AppLocker paths: one canonical form for rule paths and logged paths, the `*` wildcard,
//! and the knowledge base of places a standard user can write to.
//!
//! Events log a path under the most specific variable (`%SYSTEM32%\CMD.EXE`), rules name
//! folders with any variable (`%WINDIR%\*`), and the variables nest (spec §2.2). Both sides
//! are expanded to paths under `%OSDRIVE%` before they are compared: `%SYSTEM32%` and
//! `SysWOW64` become `%OSDRIVE%\WINDOWS\SYSTEM32`, `%WINDIR%` `%OSDRIVE%\WINDOWS`,
//! `%PROGRAMFILES%` and `Program Files (x86)` `%OSDRIVE%\PROGRAM FILES`. A rule written with
//! `C:\` is read as the OS drive (where Windows is installed on all but exotic machines).

/// The canonical, upper-case form of a rule path or a logged path.
pub fn canonical(path: &str) -> String {
    let mut p = path.trim().replace('/', "\\").to_uppercase();
    for (var, expansion) in [
        ("%SYSTEM32%", "%OSDRIVE%\\WINDOWS\\SYSTEM32"),
        ("%WINDIR%", "%OSDRIVE%\\WINDOWS"),
        ("%SYSTEMROOT%", "%OSDRIVE%\\WINDOWS"),
        ("%PROGRAMFILES%", "%OSDRIVE%\\PROGRAM FILES"),
        ("%SYSTEMDRIVE%", "%OSDRIVE%"),
        ("C:", "%OSDRIVE%"),
    ] {
        if let Some(rest) = p.strip_prefix(var)
            && (rest.is_empty() || rest.starts_with('\\') || rest.starts_with('*'))
        {
            p = format!("{expansion}{rest}");
            break;
        }
    }
    for (alias, name) in [
        (
            "%OSDRIVE%\\WINDOWS\\SYSWOW64",
            "%OSDRIVE%\\WINDOWS\\SYSTEM32",
        ),
        ("%OSDRIVE%\\PROGRAM FILES (X86)", "%OSDRIVE%\\PROGRAM FILES"),
    ] {
        if let Some(rest) = p.strip_prefix(alias)
            && (rest.is_empty() || rest.starts_with('\\'))
        {
            p = format!("{name}{rest}");
        }
    }
    p
}

/// A compiled path condition: canonical pattern, matched with `*` = any run of characters
/// (including `\`, so `folder\*` is the folder and everything below it).
#[derive(Debug, Clone)]
pub struct PathPattern {
    pattern: Vec<u8>,
    /// The text before the first `*`, for a cheap first test.
    prefix_len: usize,
}

impl PathPattern {
    pub fn new(rule_path: &str) -> Self {
        let pattern = canonical(rule_path).into_bytes();
        let prefix_len = pattern
            .iter()
            .position(|&b| b == b'*')
            .unwrap_or(pattern.len());
        PathPattern {
            pattern,
            prefix_len,
        }
    }

    /// Whether the canonical path `path` (see [`canonical`]) matches.
    pub fn matches(&self, path: &str) -> bool {
        let path = path.as_bytes();
        path.starts_with(&self.pattern[..self.prefix_len]) && wildcard(&self.pattern, path)
    }
}

/// `*` matches any run of bytes; everything else matches itself.
fn wildcard(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

/// Folders under `%WINDIR%` that standard users can write to (and so run code from) on a
/// default Windows install; AppLocker's default `%WINDIR%\*` rule includes them, which is why
/// hardened policies except them. Canonical form, each covering its subfolders.
///
/// Sources: AaronLocker (Aaron Margosis, Microsoft), whose policy builder scans `%windir%`
/// with Sysinternals AccessChk for folders non-admins can write to and excepts them from the
/// Windows-folder rule, and the public AppLocker bypass list that documents the same folders
/// (Oddvar Moe, "UltimateAppLockerByPassList"). Each entry below says what it is.
pub const WRITABLE_WINDOWS_FOLDERS: &[&str] = &[
    // The system temp folder: Authenticated Users may create files.
    "%OSDRIVE%\\WINDOWS\\TEMP",
    // Legacy scheduled-task folders: writable by users (AaronLocker, UltimateAppLockerByPassList).
    "%OSDRIVE%\\WINDOWS\\TASKS",
    // Event tracing output (users may create files).
    "%OSDRIVE%\\WINDOWS\\TRACING",
    // COM+ registration log.
    "%OSDRIVE%\\WINDOWS\\REGISTRATION\\CRMLOG",
    // Windows Image Acquisition debug logs.
    "%OSDRIVE%\\WINDOWS\\DEBUG\\WIA",
    // Performance Logs and Alerts: reports, rules and templates.
    "%OSDRIVE%\\WINDOWS\\PLA\\REPORTS",
    "%OSDRIVE%\\WINDOWS\\PLA\\RULES",
    "%OSDRIVE%\\WINDOWS\\PLA\\TEMPLATES",
    // LocalService's temp folder.
    "%OSDRIVE%\\WINDOWS\\SERVICEPROFILES\\LOCALSERVICE\\APPDATA\\LOCAL\\TEMP",
    // Task Scheduler's task store.
    "%OSDRIVE%\\WINDOWS\\SYSTEM32\\TASKS",
    "%OSDRIVE%\\WINDOWS\\SYSTEM32\\TASKS_MIGRATED",
    // COM+ dump folder.
    "%OSDRIVE%\\WINDOWS\\SYSTEM32\\COM\\DMP",
    // The fax service's temp folder.
    "%OSDRIVE%\\WINDOWS\\SYSTEM32\\FXSTMP",
    // Machine key store: users may create key files.
    "%OSDRIVE%\\WINDOWS\\SYSTEM32\\MICROSOFT\\CRYPTO\\RSA\\MACHINEKEYS",
    // Print spooler: color profiles, spool and server folders.
    "%OSDRIVE%\\WINDOWS\\SYSTEM32\\SPOOL\\DRIVERS\\COLOR",
    "%OSDRIVE%\\WINDOWS\\SYSTEM32\\SPOOL\\PRINTERS",
    "%OSDRIVE%\\WINDOWS\\SYSTEM32\\SPOOL\\SERVERS",
    // The 32-bit twins under SysWOW64 (the same ACLs on 64-bit Windows).
    "%OSDRIVE%\\WINDOWS\\SYSWOW64\\TASKS",
    "%OSDRIVE%\\WINDOWS\\SYSWOW64\\COM\\DMP",
    "%OSDRIVE%\\WINDOWS\\SYSWOW64\\FXSTMP",
    // Configuration Manager clients: the client's temp folder (writable by users there).
    "%OSDRIVE%\\WINDOWS\\CCM\\TEMP",
];

/// Why a standard user could write to `path` (canonical form; a file, a folder, or a rule
/// pattern, where a pattern is as writable as anything it covers), or `None` for an
/// admin-only place. Only `%OSDRIVE%\WINDOWS` (minus [`WRITABLE_WINDOWS_FOLDERS`]) and
/// `%OSDRIVE%\PROGRAM FILES` are admin-only; everything else is treated as writable.
pub fn user_writable(path: &str) -> Option<&'static str> {
    let under = |root: &str| {
        path.strip_prefix(root)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('\\'))
    };
    // A `*` before the file name may reach a writable subfolder: judge by the folder part.
    let folder_part = match path.find('*') {
        Some(star) => &path[..star],
        None => path,
    };
    if folder_part.is_empty() {
        return Some("the pattern matches every path, including user-writable ones");
    }
    if path.starts_with("%REMOVABLE%") || path.starts_with("%HOT%") {
        return Some("removable or hot-pluggable media");
    }
    if path.starts_with("\\\\") {
        return Some("a network share (its permissions are not known)");
    }
    if under("%OSDRIVE%\\USERS") {
        return Some("a user profile");
    }
    if under("%OSDRIVE%\\PROGRAMDATA") {
        return Some("ProgramData (users can create folders there)");
    }
    if under("%OSDRIVE%\\PROGRAM FILES") {
        return None;
    }
    if under("%OSDRIVE%\\WINDOWS") {
        let writable = WRITABLE_WINDOWS_FOLDERS.iter().any(|w| {
            let inside = path
                .strip_prefix(w)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('\\'));
            // A pattern on a parent of a writable folder covers it too.
            let covers = path.contains('*') && w.starts_with(folder_part.trim_end_matches('\\'));
            inside || covers
        });
        return writable.then_some("a user-writable folder under Windows");
    }
    if path.starts_with("%OSDRIVE%") {
        return Some(
            "a folder at the OS drive root (Authenticated Users may create and write there)",
        );
    }
    Some("another drive or location (not an admin-only Windows or Program Files folder)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_nest() {
        let m = |rule: &str, logged: &str| PathPattern::new(rule).matches(&canonical(logged));
        assert!(m("%WINDIR%\\*", "%SYSTEM32%\\CMD.EXE"));
        assert!(m("%OSDRIVE%\\*", "%PROGRAMFILES%\\GIT\\GIT.EXE"));
        assert!(m("%windir%\\system32\\*", "%SYSTEM32%\\CMD.EXE"));
        assert!(m("%WINDIR%\\SysWOW64\\*", "%SYSTEM32%\\CMD.EXE"));
        assert!(m(
            "%PROGRAMFILES%\\*",
            "%OSDRIVE%\\PROGRAM FILES (X86)\\APP\\A.EXE"
        ));
        assert!(m("C:\\Windows\\*", "%SYSTEM32%\\CMD.EXE"));
        assert!(!m("%PROGRAMFILES%\\*", "%OSDRIVE%\\PROGRAMDATA\\A.EXE"));
        assert!(m("*\\firefox.exe", "%OSDRIVE%\\USERS\\BOB\\FIREFOX.EXE"));
        assert!(!m(
            "*\\firefox.exe",
            "%OSDRIVE%\\USERS\\BOB\\FIREFOX.EXE.TXT"
        ));
        assert!(m("*", "\\\\SERVER\\SHARE\\X.EXE"));
        assert!(m("*.*", "D:\\X.MSI"));
        assert!(!m("D:\\X.MSI", "D:\\X.MSIX"));
    }

    /// Windows' default Exe rules (Program Files and Windows for Everyone, everything for
    /// administrators), as the AppLocker console creates them.
    fn windows_default_exe_rules() -> crate::Policy {
        let xml = r#"<AppLockerPolicy Version="1"><RuleCollection Type="Exe" EnforcementMode="Enabled">
            <FilePathRule Id="921cc481-6e17-4653-8f75-050b80acca20" Name="(Default Rule) All files located in the Program Files folder" Description="" UserOrGroupSid="S-1-1-0" Action="Allow"><Conditions><FilePathCondition Path="%PROGRAMFILES%\*" /></Conditions></FilePathRule>
            <FilePathRule Id="a61c8b2c-a319-4cd0-9690-d2177cad7b51" Name="(Default Rule) All files located in the Windows folder" Description="" UserOrGroupSid="S-1-1-0" Action="Allow"><Conditions><FilePathCondition Path="%WINDIR%\*" /></Conditions></FilePathRule>
            <FilePathRule Id="fd686d83-a829-4351-8ff4-27c7de5755d2" Name="(Default Rule) All files" Description="" UserOrGroupSid="S-1-5-32-544" Action="Allow"><Conditions><FilePathCondition Path="*" /></Conditions></FilePathRule>
        </RuleCollection></AppLockerPolicy>"#;
        crate::read::parse(xml.as_bytes()).unwrap().policy
    }

    /// Every entry of the table, in the forms a rule or an event names it, is writable; no
    /// suggestion is ever a path rule there (an unsigned file from there gets a hash rule
    /// flagged for review, or none); and an execution from there that Windows' default
    /// rules allow is flagged as a bypass risk.
    #[test]
    fn every_writable_windows_folder_is_judged_writable_and_never_gets_a_path_rule() {
        use crate::suggest::{AppEvidence, ReviewCode, SuggestOptions, suggest};
        let defaults = crate::Evaluator::new(&windows_default_exe_rules(), None);
        for folder in WRITABLE_WINDOWS_FOLDERS {
            let logged = folder.replace("%OSDRIVE%\\WINDOWS", "%WINDIR%");
            for form in [
                folder.to_string(),
                format!("{logged}\\X.EXE"),
                format!("{folder}\\*"),
            ] {
                assert!(user_writable(&canonical(&form)).is_some(), "{form}");
            }
            for hash in [Some("AB".repeat(32)), None] {
                let app = AppEvidence {
                    collection: Some(crate::CollectionKind::Exe),
                    paths: vec![format!("{logged}\\TOOL.EXE")],
                    hash: hash.clone(),
                    ..AppEvidence::default()
                };
                let suggestions = suggest(std::slice::from_ref(&app), &SuggestOptions::default());
                assert!(!suggestions.is_empty(), "{folder}: no suggestion at all");
                for s in suggestions {
                    let path_rule = s
                        .rule
                        .as_ref()
                        .is_some_and(|r| matches!(r.condition, crate::model::Condition::Path(_)));
                    assert!(!path_rule, "{folder}: a path rule was suggested: {s:?}");
                    assert!(
                        s.review
                            .iter()
                            .any(|r| r.code == ReviewCode::UserWritableLocation),
                        "{folder}: {s:?}"
                    );
                }
            }
            // Windows' default rules allow it (everything under the Windows folder), and
            // the evaluator names the bypass: a path rule on a place users can write.
            let facts = crate::FileFacts {
                collection: Some(crate::CollectionKind::Exe),
                path: Some(format!("{logged}\\TOOL.EXE")),
                user_sid: Some("S-1-5-21-1-2-3-1104".into()),
                ..crate::FileFacts::default()
            };
            let verdict = defaults.evaluate(&facts);
            assert_eq!(verdict.decision, crate::Decision::Allowed, "{folder}");
            assert!(
                defaults.writable_place_allowed(&facts, &verdict).is_some(),
                "{folder}: not flagged as a bypass risk"
            );
        }
        // Nothing else the default rules allow is flagged.
        let system = crate::FileFacts {
            collection: Some(crate::CollectionKind::Exe),
            path: Some("%SYSTEM32%\\CMD.EXE".into()),
            ..crate::FileFacts::default()
        };
        let verdict = defaults.evaluate(&system);
        assert_eq!(verdict.decision, crate::Decision::Allowed);
        assert_eq!(defaults.writable_place_allowed(&system, &verdict), None);
    }

    #[test]
    fn writable_places() {
        let w = |p: &str| user_writable(&canonical(p)).is_some();
        assert!(w("%OSDRIVE%\\USERS\\BOB\\DOWNLOADS\\X.EXE"));
        assert!(w("%OSDRIVE%\\PROGRAMDATA\\X\\*"));
        assert!(w("%WINDIR%\\Tasks\\*"));
        assert!(w("%SYSTEM32%\\SPOOL\\DRIVERS\\COLOR\\X.EXE"));
        assert!(w("%WINDIR%\\*"), "covers Temp and Tasks");
        assert!(w("%OSDRIVE%\\TOOLS\\X.EXE"));
        assert!(w("D:\\APPS\\X.EXE"));
        assert!(w("\\\\SRV\\SHARE\\X.EXE"));
        assert!(w("%HOT%\\X.EXE") && w("%REMOVABLE%\\*"));
        assert!(w("*\\X.EXE"));
        assert!(!w("%PROGRAMFILES%\\VENDOR\\*"));
        assert!(!w("%SYSTEM32%\\CMD.EXE"));
        assert!(!w("%WINDIR%\\SYSTEM32\\DRIVERS\\*"));
    }
}
