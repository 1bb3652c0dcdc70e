//! AppLocker policies as Group Policy stores them: in a GPO's `Machine\registry.pol` (a
//! binary `PReg` file), and in the folder `Backup-GPO` or the GPMC writes.
//!
//! `registry.pol` (Microsoft, "Registry Policy File Format"; MS-GPREG §2.2.1): the 8 bytes
//! `PReg` + version 1, then records `[key;value;type;size;data]` back to back, brackets and
//! semicolons as UTF-16LE code units, key and value name NUL-terminated UTF-16LE, type and
//! size as u32 little-endian, then `size` bytes of data. Values named `**del.NAME`,
//! `**delvals.`, `**DeleteValues` and `**DeleteKeys` are instructions, applied in file order.
//!
//! AppLocker lives under `Software\Policies\Microsoft\Windows\SrpV2\<Collection>`: the value
//! `EnforcementMode` (DWORD 0 = AuditOnly, 1 = Enabled; absent = NotConfigured), and one
//! subkey per rule, named by its Id, whose `Value` (REG_SZ) is the rule's XML element.
//! (The mapping is the one LGPO and AaronLocker's author's tools use; no Microsoft document
//! states it, so other DWORD values are reported, not guessed.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::model::{CollectionKind, EnforcementMode, Policy};
use crate::read::Parsed;

/// The registry key AppLocker's rule collections are under.
pub const SRPV2: &str = r"Software\Policies\Microsoft\Windows\SrpV2";

const MAGIC: &[u8; 4] = b"PReg";
const REG_SZ: u32 = 1;
const REG_EXPAND_SZ: u32 = 2;
const REG_DWORD: u32 = 4;

/// Whether `bytes` start like a `registry.pol`.
pub fn is_registry_pol(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && &bytes[..4] == MAGIC
}

/// One registry value of a `registry.pol`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegValue {
    Text(String),
    Dword(u32),
    /// Any other type, raw.
    Other {
        kind: u32,
        data: Vec<u8>,
    },
}

/// The keys and values a `registry.pol` leaves, its instructions applied. Keys and value
/// names compare case-insensitively, as the registry does; the spelling of the first
/// occurrence is kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryPol {
    keys: BTreeMap<String, Key>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Key {
    name: String,
    values: BTreeMap<String, (String, RegValue)>,
}

impl RegistryPol {
    /// Reads a `registry.pol`; an error names the byte offset of what is wrong.
    pub fn parse(bytes: &[u8]) -> Result<RegistryPol, Error> {
        let bad = |offset: usize, message: String| Error::RegistryPol { offset, message };
        if !is_registry_pol(bytes) {
            return Err(bad(0, "no PReg signature: not a registry.pol file".into()));
        }
        let version = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes"));
        if version != 1 {
            return Err(bad(4, format!("version {version}, not 1")));
        }
        let mut pol = RegistryPol::default();
        let mut at = 8;
        while at < bytes.len() {
            let start = at;
            let expect = |at: &mut usize, unit: u16, what: &str| -> Result<(), Error> {
                match bytes.get(*at..*at + 2) {
                    Some(b) if u16::from_le_bytes([b[0], b[1]]) == unit => {
                        *at += 2;
                        Ok(())
                    }
                    _ => Err(bad(
                        *at,
                        format!("expected {what} of the record at {start}"),
                    )),
                }
            };
            expect(&mut at, u16::from(b'['), "`[`")?;
            let key = utf16_until_nul(bytes, &mut at).map_err(|m| bad(at, m))?;
            expect(&mut at, u16::from(b';'), "`;` after the key")?;
            let name = utf16_until_nul(bytes, &mut at).map_err(|m| bad(at, m))?;
            expect(&mut at, u16::from(b';'), "`;` after the value name")?;
            let kind = read_u32(bytes, &mut at).ok_or_else(|| bad(at, "cut short".into()))?;
            expect(&mut at, u16::from(b';'), "`;` after the type")?;
            let size = read_u32(bytes, &mut at).ok_or_else(|| bad(at, "cut short".into()))?;
            expect(&mut at, u16::from(b';'), "`;` after the size")?;
            let data = bytes
                .get(at..at + size as usize)
                .ok_or_else(|| bad(at, format!("{size} bytes of data announced, fewer left")))?;
            at += size as usize;
            expect(&mut at, u16::from(b']'), "`]`")?;
            pol.apply(&key, &name, kind, data)
                .map_err(|m| bad(start, m))?;
        }
        Ok(pol)
    }

    /// One record, its instruction carried out.
    fn apply(&mut self, key: &str, name: &str, kind: u32, data: &[u8]) -> Result<(), String> {
        let lower = name.to_ascii_lowercase();
        let entry = self
            .keys
            .entry(key.to_ascii_lowercase())
            .or_insert_with(|| Key {
                name: key.to_owned(),
                values: BTreeMap::new(),
            });
        if let Some(value) = lower.strip_prefix("**del.") {
            entry.values.remove(value);
        } else if lower == "**delvals." || lower == "**delvals" {
            entry.values.clear();
        } else if lower == "**deletevalues" {
            for value in text(data)?.split(';') {
                entry.values.remove(&value.trim().to_ascii_lowercase());
            }
        } else if lower == "**deletekeys" {
            let doomed: Vec<String> = text(data)?
                .split(';')
                .map(|k| format!("{}\\{}", key, k.trim()).to_ascii_lowercase())
                .collect();
            self.keys.retain(|k, _| {
                !doomed
                    .iter()
                    .any(|d| k == d || k.starts_with(&format!("{d}\\")))
            });
        } else if lower.starts_with("**") || name.is_empty() {
            // `**SecureKey`, `**soft.`, key-only records: nothing AppLocker reads.
        } else {
            let value = match kind {
                REG_SZ | REG_EXPAND_SZ => RegValue::Text(text(data)?),
                REG_DWORD if data.len() == 4 => {
                    RegValue::Dword(u32::from_le_bytes(data.try_into().expect("4 bytes")))
                }
                _ => RegValue::Other {
                    kind,
                    data: data.to_vec(),
                },
            };
            entry.values.insert(lower, (name.to_owned(), value));
        }
        Ok(())
    }

    /// The value `name` of `key`, if set.
    pub fn value(&self, key: &str, name: &str) -> Option<&RegValue> {
        self.keys
            .get(&key.to_ascii_lowercase())?
            .values
            .get(&name.to_ascii_lowercase())
            .map(|(_, v)| v)
    }

    /// The direct subkeys of `key`, by name as written.
    pub fn subkeys(&self, key: &str) -> Vec<&str> {
        let prefix = format!("{}\\", key.to_ascii_lowercase());
        self.keys
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix) && !k[prefix.len()..].contains('\\'))
            .map(|(_, v)| &v.name[prefix.len()..])
            .collect()
    }

    /// The AppLocker policy these values hold: one rule collection per `SrpV2\<Collection>`
    /// key, its rules from the subkeys' `Value`s.
    pub fn applocker_policy(&self) -> Result<Parsed, Error> {
        let mut xml = String::from("<AppLockerPolicy Version=\"1\">");
        let mut warnings = Vec::new();
        let mut found = false;
        for name in self.subkeys(SRPV2) {
            let key = format!("{SRPV2}\\{name}");
            let Some(kind) = CollectionKind::parse(name) else {
                warnings.push(format!(
                    "registry key {key}: not a rule collection, skipped"
                ));
                continue;
            };
            found = true;
            let mode = match self.value(&key, "EnforcementMode") {
                None => EnforcementMode::NotConfigured,
                Some(RegValue::Dword(0)) => EnforcementMode::AuditOnly,
                Some(RegValue::Dword(1)) => EnforcementMode::Enabled,
                Some(other) => {
                    return Err(Error::RegistryPolicy {
                        key,
                        message: format!(
                            "EnforcementMode is {other:?}, not 0 (audit only) or 1 (enforce)"
                        ),
                    });
                }
            };
            xml.push_str(&format!(
                "<RuleCollection Type=\"{}\" EnforcementMode=\"{}\">",
                kind.xml_name(),
                mode.xml_name()
            ));
            for rule in self.subkeys(&key) {
                let rule_key = format!("{key}\\{rule}");
                let fragment = match self.value(&rule_key, "Value") {
                    Some(RegValue::Text(t)) => t,
                    _ => {
                        warnings.push(format!(
                            "registry key {rule_key}: no rule XML in its Value, skipped"
                        ));
                        continue;
                    }
                };
                // Each rule read alone first, so an error names its key.
                let alone = format!(
                    "<AppLockerPolicy Version=\"1\"><RuleCollection Type=\"{}\">{fragment}</RuleCollection></AppLockerPolicy>",
                    kind.xml_name()
                );
                let parsed =
                    crate::read::parse(alone.as_bytes()).map_err(|e| Error::RegistryPolicy {
                        key: rule_key.clone(),
                        message: e.to_string(),
                    })?;
                for (_, r) in parsed.policy.rules() {
                    if !r.id.eq_ignore_ascii_case(rule.trim_matches(['{', '}'])) {
                        warnings.push(format!(
                            "registry key {rule_key}: the rule's Id is {}",
                            r.id
                        ));
                    }
                }
                xml.push_str(fragment);
            }
            xml.push_str("</RuleCollection>");
        }
        xml.push_str("</AppLockerPolicy>");
        if !found {
            return Err(Error::NotAPolicy(format!(
                "a registry.pol without AppLocker settings (no {SRPV2} key)"
            )));
        }
        let mut parsed = crate::read::parse(xml.as_bytes())?;
        warnings.append(&mut parsed.warnings);
        parsed.warnings = warnings;
        Ok(parsed)
    }
}

fn read_u32(bytes: &[u8], at: &mut usize) -> Option<u32> {
    let v = u32::from_le_bytes(bytes.get(*at..*at + 4)?.try_into().ok()?);
    *at += 4;
    Some(v)
}

/// A NUL-terminated UTF-16LE string at `at`, which moves past the NUL.
fn utf16_until_nul(bytes: &[u8], at: &mut usize) -> Result<String, String> {
    let mut units = Vec::new();
    loop {
        let pair = bytes
            .get(*at..*at + 2)
            .ok_or_else(|| "a name without its terminating NUL".to_owned())?;
        *at += 2;
        let unit = u16::from_le_bytes([pair[0], pair[1]]);
        if unit == 0 {
            break;
        }
        units.push(unit);
    }
    String::from_utf16(&units).map_err(|e| format!("a name that is not UTF-16: {e}"))
}

/// REG_SZ data as text, its NUL(s) dropped.
fn text(data: &[u8]) -> Result<String, String> {
    if !data.len().is_multiple_of(2) {
        return Err("text data of an odd number of bytes".into());
    }
    let units: Vec<u16> = data
        .chunks_exact(2)
        .map(|p| u16::from_le_bytes([p[0], p[1]]))
        .collect();
    let text = String::from_utf16(&units).map_err(|e| format!("text that is not UTF-16: {e}"))?;
    Ok(text.trim_end_matches('\0').to_owned())
}

/// `policy` as the `registry.pol` a GPO would hold: for each rule collection its
/// `EnforcementMode` (unless NotConfigured) and one subkey per rule with the rule's XML.
pub fn to_registry_pol(policy: &Policy) -> Vec<u8> {
    let mut out = Vec::from(*MAGIC);
    out.extend_from_slice(&1u32.to_le_bytes());
    let utf16z = |s: &str| -> Vec<u8> {
        s.encode_utf16()
            .chain([0])
            .flat_map(u16::to_le_bytes)
            .collect()
    };
    let mut record = |key: &str, name: &str, kind: u32, data: &[u8]| {
        for part in [
            &b"[\0"[..],
            &utf16z(key),
            b";\0",
            &utf16z(name),
            b";\0",
            &kind.to_le_bytes(),
            b";\0",
            &(data.len() as u32).to_le_bytes(),
            b";\0",
            data,
            b"]\0",
        ] {
            out.extend_from_slice(part);
        }
    };
    for c in &policy.collections {
        let key = format!("{SRPV2}\\{}", c.kind.xml_name());
        match c.mode {
            Some(EnforcementMode::AuditOnly) => {
                record(&key, "EnforcementMode", REG_DWORD, &0u32.to_le_bytes())
            }
            Some(EnforcementMode::Enabled) => {
                record(&key, "EnforcementMode", REG_DWORD, &1u32.to_le_bytes())
            }
            _ => record(&key, "", 0, &[]),
        }
        for rule in &c.rules {
            let xml = crate::write::rule_xml(rule);
            record(
                &format!("{key}\\{}", rule.id.to_ascii_lowercase()),
                "Value",
                REG_SZ,
                &utf16z(&xml),
            );
        }
    }
    out
}

/// Where the policy in a GPO backup folder is: its `DomainSysvol/GPO/Machine/registry.pol`
/// (path parts matched case-insensitively, as Windows wrote them), in `folder` itself or in
/// the one backup (`{ID}` folder) inside it.
pub fn backup_registry_pol(folder: &Path) -> Result<PathBuf, Error> {
    let io = |path: &Path, source| Error::Io {
        path: path.display().to_string(),
        cause: source,
    };
    let child = |dir: &Path, name: &str| -> Result<Option<PathBuf>, Error> {
        for entry in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
            let entry = entry.map_err(|e| io(dir, e))?;
            if entry
                .file_name()
                .to_string_lossy()
                .eq_ignore_ascii_case(name)
            {
                return Ok(Some(entry.path()));
            }
        }
        Ok(None)
    };
    let pol_in = |backup: &Path| -> Result<Option<PathBuf>, Error> {
        let mut at = backup.to_owned();
        for part in ["DomainSysvol", "GPO", "Machine", "registry.pol"] {
            match child(&at, part)? {
                Some(next) => at = next,
                None => return Ok(None),
            }
        }
        Ok(Some(at))
    };
    if let Some(pol) = pol_in(folder)? {
        return Ok(pol);
    }
    let mut backups = Vec::new();
    for entry in std::fs::read_dir(folder).map_err(|e| io(folder, e))? {
        let entry = entry.map_err(|e| io(folder, e))?;
        if entry.path().is_dir()
            && let Some(pol) = pol_in(&entry.path())?
        {
            backups.push(pol);
        }
    }
    match backups.len() {
        1 => Ok(backups.remove(0)),
        0 => Err(Error::NotAPolicy(format!(
            "{}: a folder without DomainSysvol/GPO/Machine/registry.pol: not a GPO backup with computer settings (AppLocker is a computer setting)",
            folder.display()
        ))),
        n => Err(Error::NotAPolicy(format!(
            "{}: {n} GPO backups ({}): give the folder of the one to import",
            folder.display(),
            backups
                .iter()
                .filter_map(|p| p.ancestors().nth(4))
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// What a policy was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    /// AppLocker policy XML (`Get-AppLockerPolicy -Xml`, the GPO editor's export).
    Xml,
    /// A `registry.pol` file.
    RegistryPol,
    /// A GPO backup folder; the `registry.pol` in it.
    GpoBackup(PathBuf),
}

impl std::fmt::Display for PolicySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PolicySource::Xml => f.write_str("AppLocker policy XML"),
            PolicySource::RegistryPol => f.write_str("a registry.pol"),
            PolicySource::GpoBackup(pol) => write!(f, "the GPO backup's {}", pol.display()),
        }
    }
}

/// Reads a policy from `path`, whatever form it has, recognised by content: policy XML
/// (UTF-8 or UTF-16), a `registry.pol`, or a GPO backup folder. Anything else is refused,
/// saying what it is when lockstep knows (a GPMC report, `gpresult` output, …).
pub fn read_any(path: &Path) -> Result<(Parsed, PolicySource), Error> {
    if path.is_dir() {
        let pol = backup_registry_pol(path)?;
        let parsed = read_registry_pol_file(&pol)?;
        return Ok((parsed, PolicySource::GpoBackup(pol)));
    }
    let head = {
        use std::io::Read;
        let mut head = [0u8; 8];
        let n = std::fs::File::open(path)
            .and_then(|mut f| f.read(&mut head))
            .map_err(|source| Error::Io {
                path: path.display().to_string(),
                cause: source,
            })?;
        head[..n].to_vec()
    };
    if is_registry_pol(&head) {
        return Ok((read_registry_pol_file(path)?, PolicySource::RegistryPol));
    }
    Ok((crate::read::read_file(path)?, PolicySource::Xml))
}

fn read_registry_pol_file(path: &Path) -> Result<Parsed, Error> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        cause: source,
    })?;
    if bytes.len() as u64 > crate::read::MAX_POLICY_BYTES {
        return Err(Error::TooLarge {
            size: bytes.len() as u64,
            limit: crate::read::MAX_POLICY_BYTES,
        }
        .in_file(path));
    }
    RegistryPol::parse(&bytes)
        .and_then(|pol| pol.applocker_policy())
        .map_err(|e| e.in_file(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"<AppLockerPolicy Version="1">
  <RuleCollection Type="Exe" EnforcementMode="AuditOnly">
    <FilePathRule Id="921cc481-6e17-4653-8f75-050b80acca20" Name="Program Files" Description="" UserOrGroupSid="S-1-1-0" Action="Allow">
      <Conditions><FilePathCondition Path="%PROGRAMFILES%\*" /></Conditions>
    </FilePathRule>
    <FileHashRule Id="a61c8b2c-a319-4cd0-9690-d2177cad7b51" Name="tool &amp; co" Description="" UserOrGroupSid="S-1-1-0" Action="Deny">
      <Conditions><FileHashCondition><FileHash Type="SHA256" Data="0x0DC594FBA5F712D3797B060F1BB7AE87216339214A65EFF17DAA13F4B0410D23" SourceFileName="T.EXE" SourceFileLength="10" /></FileHashCondition></Conditions>
    </FileHashRule>
  </RuleCollection>
  <RuleCollection Type="Script" EnforcementMode="Enabled" />
  <RuleCollection Type="Msi" EnforcementMode="NotConfigured" />
</AppLockerPolicy>"#;

    #[test]
    fn a_policy_round_trips_through_registry_pol() {
        let mut policy = crate::read::parse(POLICY.as_bytes()).unwrap().policy;
        let bytes = to_registry_pol(&policy);
        assert!(is_registry_pol(&bytes));
        let back = RegistryPol::parse(&bytes)
            .unwrap()
            .applocker_policy()
            .unwrap();
        assert!(back.warnings.is_empty(), "{:?}", back.warnings);
        // Registry keys come back in name order; the collections' order means nothing.
        policy.collections.sort_by_key(|c| c.kind);
        assert_eq!(
            crate::write::to_xml(&back.policy),
            crate::write::to_xml(&policy)
        );
    }

    #[test]
    fn directives_are_applied_in_order() {
        let policy = crate::read::parse(POLICY.as_bytes()).unwrap().policy;
        let mut bytes = to_registry_pol(&policy);
        // A later `**del.Value` on the hash rule's key removes that rule.
        let key = format!("{SRPV2}\\Exe\\a61c8b2c-a319-4cd0-9690-d2177cad7b51");
        bytes.extend_from_slice(b"[\0");
        bytes.extend(key.encode_utf16().chain([0]).flat_map(u16::to_le_bytes));
        bytes.extend_from_slice(b";\0");
        bytes.extend(
            "**del.Value"
                .encode_utf16()
                .chain([0])
                .flat_map(u16::to_le_bytes),
        );
        bytes.extend_from_slice(b";\0");
        bytes.extend_from_slice(&REG_SZ.to_le_bytes());
        bytes.extend_from_slice(b";\0");
        bytes.extend_from_slice(&4u32.to_le_bytes());
        bytes.extend_from_slice(b";\0 \0\0\0]\0");
        let back = RegistryPol::parse(&bytes)
            .unwrap()
            .applocker_policy()
            .unwrap();
        assert_eq!(back.policy.rules().count(), 1);
        assert!(
            back.warnings.iter().any(|w| w.contains("no rule XML")),
            "{:?}",
            back.warnings
        );
    }

    #[test]
    fn damage_is_named_by_its_offset() {
        let policy = crate::read::parse(POLICY.as_bytes()).unwrap().policy;
        let bytes = to_registry_pol(&policy);
        let err = RegistryPol::parse(&bytes[..bytes.len() - 3])
            .unwrap_err()
            .to_string();
        assert!(err.contains("offset"), "{err}");
        let err = RegistryPol::parse(b"PReg\x02\0\0\0")
            .unwrap_err()
            .to_string();
        assert!(err.contains("version 2"), "{err}");
        let mut pol = RegistryPol::default();
        pol.apply(
            &format!("{SRPV2}\\Exe"),
            "EnforcementMode",
            REG_DWORD,
            &7u32.to_le_bytes(),
        )
        .unwrap();
        let err = pol.applocker_policy().unwrap_err().to_string();
        assert!(
            err.contains("EnforcementMode") && err.contains("SrpV2"),
            "{err}"
        );
        let none = RegistryPol::default()
            .applocker_policy()
            .unwrap_err()
            .to_string();
        assert!(none.contains("without AppLocker settings"), "{none}");
    }
}
