//! Hardening: deny rules for the Windows programs that can run code an allow list would
//! otherwise stop (mshta, MSBuild, InstallUtil, wmic, …), for the what-if "what breaks if we
//! also block them" (`suggest --harden`, `simulate --harden`).
//!
//! The list is [`HARDENING_LIST`], one entry per file, each with where it comes from:
//! - `MS`: Microsoft, "Applications that can bypass App Control and how to block them"
//!   (learn.microsoft.com, App Control for Business design guide, the recommended block
//!   rules);
//! - `AL`: AaronLocker's `CustomizationInputs/GetExeFilesToDenyList.ps1` (Aaron Margosis,
//!   github.com/microsoft/AaronLocker), the files it denies to non-administrators.
//!
//! The rules are Deny rules for Everyone on Microsoft's signature, any product and version,
//! matched by the file's original name (which a renamed copy keeps). Everyone includes
//! administrators: a Deny rule cannot spare a group, and `Set-AppLockerPolicy -Merge` can
//! only add rules. AaronLocker, which rebuilds the whole policy, instead writes these files as
//! exceptions to the Everyone rules so administrators keep them; the what-if lists every user
//! it would hit, administrators included, so the board sees both.

use crate::eval::EVERYONE;
use crate::model::{Action, CollectionKind, Condition, Policy, PublisherCondition, Rule};

/// The publisher the listed files are signed by, as AppLocker events name it.
pub const MICROSOFT: &str = "O=MICROSOFT CORPORATION, L=REDMOND, S=WASHINGTON, C=US";
/// Every hardening rule's name starts with this; how answers tell its blocks apart.
pub const RULE_NAME_PREFIX: &str = "lockstep hardening: ";

/// Where an entry of the list comes from (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Source {
    /// Microsoft's recommended block rules.
    Microsoft,
    /// AaronLocker's deny list.
    AaronLocker,
}

/// One file to deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct HardeningEntry {
    /// The original file name (the FQBN's binary name), upper case.
    pub binary: &'static str,
    pub collection: CollectionKind,
    /// What an attacker does with it.
    pub why: &'static str,
    pub sources: &'static [Source],
}

use CollectionKind::{Dll, Exe};
use Source::{AaronLocker as AL, Microsoft as MS};

const fn entry(
    binary: &'static str,
    collection: CollectionKind,
    why: &'static str,
    sources: &'static [Source],
) -> HardeningEntry {
    HardeningEntry {
        binary,
        collection,
        why,
        sources,
    }
}

const DOTNET: &str = ".NET tool that compiles or loads arbitrary code";
const DEBUGGER: &str = "debugger that runs arbitrary code in a signed process";
const LINUX: &str = "runs Linux binaries outside AppLocker's view";
const SCRIPT_HOST: &str = "script host (block where scripts are not needed)";

/// The files, alphabetical by name.
pub const HARDENING_LIST: &[HardeningEntry] = &[
    entry("ADDINPROCESS.EXE", Exe, DOTNET, &[MS, AL]),
    entry("ADDINPROCESS32.EXE", Exe, DOTNET, &[MS, AL]),
    entry("ADDINUTIL.EXE", Exe, DOTNET, &[MS, AL]),
    entry("ASPNET_COMPILER.EXE", Exe, DOTNET, &[MS, AL]),
    entry("BASH.EXE", Exe, LINUX, &[MS, AL]),
    entry(
        "BGINFO.EXE",
        Exe,
        "runs VBScript from its configuration file",
        &[MS],
    ),
    entry("CDB.EXE", Exe, DEBUGGER, &[MS]),
    entry("CSCRIPT.EXE", Exe, SCRIPT_HOST, &[MS]),
    entry("CSI.EXE", Exe, "C# interactive compiler", &[MS]),
    entry("DBGHOST.EXE", Exe, DEBUGGER, &[MS]),
    entry("DBGSVC.EXE", Exe, DEBUGGER, &[MS]),
    entry("DNX.EXE", Exe, DOTNET, &[MS]),
    entry("DOTNET.EXE", Exe, DOTNET, &[MS]),
    entry("FSI.EXE", Exe, "F# interactive compiler", &[MS]),
    entry("FSIANYCPU.EXE", Exe, "F# interactive compiler", &[MS]),
    entry("IEEXEC.EXE", Exe, DOTNET, &[AL]),
    entry(
        "INFDEFAULTINSTALL.EXE",
        Exe,
        "runs commands from an INF file",
        &[MS],
    ),
    entry("INSTALLUTIL.EXE", Exe, DOTNET, &[MS, AL]),
    entry("KD.EXE", Exe, DEBUGGER, &[MS]),
    entry("KILL.EXE", Exe, "ends protected processes", &[MS]),
    entry("LXRUN.EXE", Exe, LINUX, &[MS, AL]),
    entry("MICROSOFT.BUILD.DLL", Dll, DOTNET, &[MS, AL]),
    entry("MICROSOFT.BUILD.FRAMEWORK.DLL", Dll, DOTNET, &[MS, AL]),
    entry("MICROSOFT.WORKFLOW.COMPILER.EXE", Exe, DOTNET, &[MS, AL]),
    entry("MSBUILD.DLL", Dll, DOTNET, &[MS]),
    entry("MSBUILD.EXE", Exe, DOTNET, &[MS, AL]),
    entry(
        "MSHTA.EXE",
        Exe,
        "runs HTML applications (script) from anywhere",
        &[MS, AL],
    ),
    entry("NTKD.EXE", Exe, DEBUGGER, &[MS]),
    entry("NTSD.EXE", Exe, DEBUGGER, &[MS]),
    entry("POWERSHELLCUSTOMHOST.EXE", Exe, "hosts PowerShell", &[MS]),
    entry(
        "PRESENTATIONHOST.EXE",
        Exe,
        "runs XAML browser applications",
        &[AL],
    ),
    entry("RCSI.EXE", Exe, "C# interactive compiler", &[MS]),
    entry("REGASM.EXE", Exe, DOTNET, &[MS, AL]),
    entry("REGSVCS.EXE", Exe, DOTNET, &[MS, AL]),
    entry("RUNSCRIPTHELPER.EXE", Exe, "runs PowerShell scripts", &[MS]),
    entry(
        "SYSTEM.MANAGEMENT.AUTOMATION.DLL",
        Dll,
        "PowerShell without powershell.exe",
        &[MS, AL],
    ),
    entry("TEXTTRANSFORM.EXE", Exe, "runs T4 templates (code)", &[MS]),
    entry(
        "VISUALUIAVERIFYNATIVE.EXE",
        Exe,
        "loads arbitrary code",
        &[MS],
    ),
    entry("WFC.EXE", Exe, "workflow compiler", &[MS]),
    entry("WINDBG.EXE", Exe, DEBUGGER, &[MS]),
    entry(
        "WMIC.EXE",
        Exe,
        "runs XSL script through /format",
        &[MS, AL],
    ),
    entry("WSCRIPT.EXE", Exe, SCRIPT_HOST, &[MS]),
    entry("WSL.EXE", Exe, LINUX, &[MS, AL]),
    entry("WSLCONFIG.EXE", Exe, LINUX, &[MS, AL]),
    entry("WSLHOST.EXE", Exe, LINUX, &[MS, AL]),
];

/// What hardening added to a policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Hardened {
    pub policy: Policy,
    /// Deny rules added.
    pub rules_added: usize,
    /// Collections with listed files that got no rules: the policy has no rules there, and
    /// a first rule would turn the collection on (everything else in it implicitly denied).
    pub collections_skipped: Vec<CollectionKind>,
}

/// The Deny rule for one entry.
pub fn hardening_rule(entry: &HardeningEntry) -> Rule {
    let condition = Condition::Publisher(PublisherCondition {
        publisher_name: MICROSOFT.into(),
        product_name: "*".into(),
        binary_name: entry.binary.into(),
        low: None,
        high: None,
    });
    let mut rule = crate::suggest::rule_of(entry.collection, Action::Deny, EVERYONE, condition, "");
    rule.name = format!("{RULE_NAME_PREFIX}{}", entry.binary);
    rule.description = format!("{} (lockstep's hardening list)", entry.why);
    rule
}

/// Whether a rule name is one [`hardening_rule`] gave.
pub fn is_hardening_rule(name: &str) -> bool {
    name.starts_with(RULE_NAME_PREFIX)
}

/// `policy` with the hardening Deny rules added to each collection that has rules in it or
/// in `in_force` (the policy it is merged into; rules already there, by Id, are not added
/// twice).
pub fn harden(policy: &Policy, in_force: Option<&Policy>) -> Hardened {
    let mut out = Hardened {
        policy: policy.clone(),
        ..Hardened::default()
    };
    let mut additions = Policy::default();
    for entry in HARDENING_LIST {
        let has_rules = [Some(policy), in_force].into_iter().flatten().any(|p| {
            p.collection(entry.collection)
                .is_some_and(|c| !c.rules.is_empty())
        });
        if !has_rules {
            if !out.collections_skipped.contains(&entry.collection) {
                out.collections_skipped.push(entry.collection);
            }
            continue;
        }
        additions
            .collection_mut(entry.collection)
            .rules
            .push(hardening_rule(entry));
    }
    let before = out.policy.rules().count();
    out.policy.merge(&additions);
    out.rules_added = out.policy.rules().count() - before;
    out.collections_skipped.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Decision, Evaluator, FileFacts};

    fn exe_policy() -> Policy {
        let mut p = Policy::default();
        let exe = p.collection_mut(Exe);
        exe.rules.push(Rule {
            id: "a61c8b2c-a319-4cd0-9690-d2177cad7b51".into(),
            name: "(Default Rule) All files located in the Windows folder".into(),
            description: String::new(),
            user_or_group_sid: EVERYONE.into(),
            action: Action::Allow,
            condition: Condition::Path(crate::PathCondition {
                path: r"%WINDIR%\*".into(),
            }),
            exceptions: Vec::new(),
        });
        p
    }

    fn signed(binary: &str, collection: CollectionKind) -> FileFacts {
        FileFacts {
            collection: Some(collection),
            path: Some(format!(r"%SYSTEM32%\{binary}")),
            publisher: Some(MICROSOFT.into()),
            product: Some("MICROSOFT® WINDOWS® OPERATING SYSTEM".into()),
            binary: Some(binary.into()),
            version: "10.0.19041.1".parse().ok(),
            user_sid: Some("S-1-5-21-1-2-3-1104".into()),
            ..FileFacts::default()
        }
    }

    #[test]
    fn the_list_is_sorted_unique_upper_case_and_sourced() {
        let names: Vec<&str> = HARDENING_LIST.iter().map(|e| e.binary).collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(names, sorted);
        for e in HARDENING_LIST {
            assert_eq!(e.binary, e.binary.to_uppercase());
            assert!(!e.sources.is_empty() && !e.why.is_empty(), "{}", e.binary);
            let dll = e.binary.ends_with(".DLL");
            assert_eq!(dll, e.collection == Dll, "{}", e.binary);
        }
    }

    #[test]
    fn every_listed_file_is_denied_and_the_rest_of_windows_still_runs() {
        let hardened = harden(&exe_policy(), None);
        let exe_entries = HARDENING_LIST
            .iter()
            .filter(|e| e.collection == Exe)
            .count();
        assert_eq!(hardened.rules_added, exe_entries);
        assert_eq!(
            hardened.collections_skipped,
            vec![Dll],
            "no DLL rules: left off"
        );
        let evaluator = Evaluator::new(&hardened.policy, None);
        for entry in HARDENING_LIST.iter().filter(|e| e.collection == Exe) {
            // Lower case in the event, as some shippers write it: still denied.
            let v = evaluator.evaluate(&signed(&entry.binary.to_lowercase(), Exe));
            assert_eq!(v.decision, Decision::Denied, "{}", entry.binary);
            let rule = evaluator.rule(v.rule.unwrap());
            assert!(is_hardening_rule(&rule.name), "{}", rule.name);
        }
        let cmd = evaluator.evaluate(&signed("CMD.EXE", Exe));
        assert_eq!(cmd.decision, Decision::Allowed);
        // Another publisher's file of the same name is not Microsoft's.
        let mut other = signed("MSHTA.EXE", Exe);
        other.publisher = Some("O=CONTOSO".into());
        assert_eq!(evaluator.evaluate(&other).decision, Decision::Allowed);
    }

    #[test]
    fn hardening_twice_adds_nothing_and_the_xml_is_valid() {
        let once = harden(&exe_policy(), None);
        let twice = harden(&once.policy, None);
        assert_eq!(twice.rules_added, 0);
        assert_eq!(twice.policy, once.policy);
        let xml = crate::write::to_xml(&once.policy);
        let back = crate::read::parse(xml.as_bytes()).unwrap();
        assert!(back.warnings.is_empty(), "{:?}", back.warnings);
        assert_eq!(back.policy.rules().count(), once.policy.rules().count());
    }

    #[test]
    fn rules_go_where_the_policy_in_force_has_rules() {
        let mut in_force = exe_policy();
        in_force
            .collection_mut(Dll)
            .rules
            .push(exe_policy().rules().next().unwrap().1.clone());
        let hardened = harden(&Policy::default(), Some(&in_force));
        assert_eq!(hardened.rules_added, HARDENING_LIST.len());
        assert!(hardened.collections_skipped.is_empty());
    }

    #[test]
    fn a_policy_without_rules_is_left_alone() {
        let hardened = harden(&Policy::default(), None);
        assert_eq!(hardened.rules_added, 0);
        assert_eq!(hardened.collections_skipped, vec![Dll, Exe]);
        assert_eq!(hardened.policy, Policy::default());
    }
}
