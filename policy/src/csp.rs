//! The AppLocker configuration service provider (CSP) form of a policy, as Intune's custom
//! profiles deploy it: one OMA-URI setting per rule collection,
//! `./Vendor/MSFT/AppLocker/ApplicationLaunchRestrictions/{Grouping}/{Node}/Policy`, whose
//! value is that collection's `<RuleCollection>` element (Microsoft's AppLocker CSP
//! reference). The Grouping names the deployment: settings of the same Grouping replace each
//! other on the device, so every version of a group's policy must use the same one.

use crate::model::{CollectionKind, Policy};
use crate::write::collection_xml;

/// The CSP's root for AppLocker policies.
pub const CSP_ROOT: &str = "./Vendor/MSFT/AppLocker/ApplicationLaunchRestrictions";

/// One OMA-URI setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CspSetting {
    pub kind: CollectionKind,
    /// `./Vendor/MSFT/AppLocker/ApplicationLaunchRestrictions/{Grouping}/EXE/Policy`.
    pub oma_uri: String,
    /// The `<RuleCollection>` element.
    pub value: String,
}

/// The CSP node of a rule collection. Managed-installer collections have no node of their
/// own in this CSP (they go in an App Control policy), so they have none here.
pub fn csp_node(kind: CollectionKind) -> Option<&'static str> {
    match kind {
        CollectionKind::Exe => Some("EXE"),
        CollectionKind::Msi => Some("MSI"),
        CollectionKind::Script => Some("Script"),
        CollectionKind::Appx => Some("StoreApps"),
        CollectionKind::Dll => Some("DLL"),
        CollectionKind::ManagedInstaller => None,
    }
}

/// A Grouping name may hold letters, digits, `-` and `_`: anything else becomes `-`.
pub fn grouping_name(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The settings of `policy` under `grouping`, one per rule collection with a CSP node.
pub fn csp_settings(policy: &Policy, grouping: &str) -> Vec<CspSetting> {
    let grouping = grouping_name(grouping);
    policy
        .collections
        .iter()
        .filter_map(|c| {
            let node = csp_node(c.kind)?;
            Some(CspSetting {
                kind: c.kind,
                oma_uri: format!("{CSP_ROOT}/{grouping}/{node}/Policy"),
                value: collection_xml(c).trim().to_owned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_collection_gets_its_node_and_reads_back() {
        let xml = std::fs::read(testkit::repo().join("sample-logs/current-policy.xml")).unwrap();
        let policy = crate::read::parse(&xml).unwrap().policy;
        let settings = csp_settings(&policy, "lockstep finance");
        let uris: Vec<&str> = settings.iter().map(|s| s.oma_uri.as_str()).collect();
        assert_eq!(
            uris,
            [
                "./Vendor/MSFT/AppLocker/ApplicationLaunchRestrictions/lockstep-finance/StoreApps/Policy",
                "./Vendor/MSFT/AppLocker/ApplicationLaunchRestrictions/lockstep-finance/DLL/Policy",
                "./Vendor/MSFT/AppLocker/ApplicationLaunchRestrictions/lockstep-finance/EXE/Policy",
                "./Vendor/MSFT/AppLocker/ApplicationLaunchRestrictions/lockstep-finance/MSI/Policy",
                "./Vendor/MSFT/AppLocker/ApplicationLaunchRestrictions/lockstep-finance/Script/Policy",
            ]
        );
        // Each value is the collection itself: wrapped in a policy, it reads back equal.
        for (setting, collection) in settings.iter().zip(&policy.collections) {
            assert!(
                setting.value.starts_with("<RuleCollection Type="),
                "{}",
                setting.value
            );
            let wrapped = format!(
                "<AppLockerPolicy Version=\"1\">{}</AppLockerPolicy>",
                setting.value
            );
            let back = crate::read::parse(wrapped.as_bytes()).unwrap().policy;
            assert_eq!(back.collections, vec![collection.clone()]);
        }
    }
}
