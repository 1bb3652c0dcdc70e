//! Names for SIDs and group memberships, from Active Directory exports: what turns
//! `S-1-5-21-…-1104` into `CONTOSO\jdoe` in answers, and what tells the evaluator which
//! groups a user is in (rules on group SIDs).
//!
//! Two export forms are read, told apart by content:
//! - CSV from PowerShell's `Export-Csv` (`Get-ADUser`, `Get-ADGroup`, `Get-ADGroupMember`):
//!   a `SID` (or `objectSid`) and a `SamAccountName` column; optional `Name` or
//!   `DisplayName`, `DistinguishedName`, `ObjectClass`, and `MemberOf` (the groups'
//!   distinguished names, SIDs or account names, joined with `;`); the `#TYPE` line that
//!   Windows PowerShell 5 writes first is skipped;
//! - LDIF from `ldapsearch`: `objectSid::` as base64 binary, `sAMAccountName`,
//!   `displayName`, `memberOf`, `objectClass`, the `dn:` line (continuation lines and
//!   base64 values as RFC 2849 has them).
//!
//! The domain part of a name is the first `DC=` of the object's distinguished name, upper
//! case (`DC=contoso,DC=com` → `CONTOSO`). Well-known SIDs are named without any import
//! ([`well_known`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use base64::Engine as _;

use crate::eval::{SidGroups, is_sid};

/// One account or group.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Identity {
    pub sid: String,
    /// `DOMAIN\account` (or the account alone when the domain is not known).
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub is_group: bool,
    /// The SIDs of the groups it is a direct member of.
    pub groups: Vec<String>,
}

/// How many users an app row lists ([`users_listed`]); its `users` count says how many
/// there were in all.
pub const USERS_LISTED: usize = 50;

/// A user an answer lists: the SID as logged, and `DOMAIN\name` where it is known
/// (imported identities, well-known SIDs; filled by [`Directory::name_users`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NamedUser {
    pub sid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl std::fmt::Display for NamedUser {
    /// `SID (DOMAIN\name)`, or the SID alone.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{} ({name})", self.sid),
            None => f.write_str(&self.sid),
        }
    }
}

/// The first [`USERS_LISTED`] of `sids` by SID (distinct, not named yet).
pub fn users_listed<S: AsRef<str>>(sids: impl IntoIterator<Item = S>) -> Vec<NamedUser> {
    let distinct: BTreeSet<String> = sids.into_iter().map(|s| s.as_ref().to_owned()).collect();
    distinct
        .into_iter()
        .take(USERS_LISTED)
        .map(|sid| NamedUser { sid, name: None })
        .collect()
}

/// Two rows' listed users as one list (distinct, by SID, at most [`USERS_LISTED`]), names
/// kept: what a row merged from two (an app blocked in two groups) lists.
pub fn users_merged(a: &[NamedUser], b: &[NamedUser]) -> Vec<NamedUser> {
    let mut by_sid: BTreeMap<&str, &NamedUser> = BTreeMap::new();
    for user in a.iter().chain(b) {
        let kept = by_sid.entry(&user.sid).or_insert(user);
        if kept.name.is_none() {
            *kept = user;
        }
    }
    by_sid.into_values().take(USERS_LISTED).cloned().collect()
}

/// `SID (DOMAIN\name), …` for the users listed, then how many more there were of `total`.
pub fn users_text(users: &[NamedUser], total: u64) -> String {
    let mut listed: Vec<String> = users.iter().map(ToString::to_string).collect();
    let more = total.saturating_sub(users.len() as u64);
    if more > 0 {
        listed.push(format!("… {more} more"));
    }
    listed.join(", ")
}

/// Identities by SID.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directory {
    by_sid: BTreeMap<String, Identity>,
}

/// What an import read, and what it noticed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Imported {
    pub directory: Directory,
    /// Duplicates (the later one wins), memberships of groups not in the export.
    pub warnings: Vec<String>,
}

/// Why an export cannot be read; `line` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct IdentityError {
    pub line: usize,
    pub message: String,
}

fn error(line: usize, message: impl Into<String>) -> IdentityError {
    IdentityError {
        line,
        message: message.into(),
    }
}

/// The names Windows gives the SIDs every machine knows.
pub fn well_known(sid: &str) -> Option<&'static str> {
    const NAMES: &[(&str, &str)] = &[
        ("S-1-1-0", "Everyone"),
        ("S-1-2-0", "LOCAL"),
        ("S-1-3-0", "CREATOR OWNER"),
        ("S-1-5-2", "NT AUTHORITY\\NETWORK"),
        ("S-1-5-4", "NT AUTHORITY\\INTERACTIVE"),
        ("S-1-5-6", "NT AUTHORITY\\SERVICE"),
        ("S-1-5-7", "NT AUTHORITY\\ANONYMOUS LOGON"),
        ("S-1-5-11", "NT AUTHORITY\\Authenticated Users"),
        ("S-1-5-18", "NT AUTHORITY\\SYSTEM"),
        ("S-1-5-19", "NT AUTHORITY\\LOCAL SERVICE"),
        ("S-1-5-20", "NT AUTHORITY\\NETWORK SERVICE"),
        ("S-1-5-32-544", "BUILTIN\\Administrators"),
        ("S-1-5-32-545", "BUILTIN\\Users"),
        ("S-1-5-32-546", "BUILTIN\\Guests"),
        ("S-1-5-32-547", "BUILTIN\\Power Users"),
        ("S-1-5-32-551", "BUILTIN\\Backup Operators"),
        ("S-1-5-32-555", "BUILTIN\\Remote Desktop Users"),
        ("S-1-5-32-559", "BUILTIN\\Performance Log Users"),
        ("S-1-5-32-573", "BUILTIN\\Event Log Readers"),
    ];
    NAMES
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(sid))
        .map(|(_, name)| *name)
}

impl Directory {
    /// The name of `sid`: imported, or well known.
    pub fn name(&self, sid: &str) -> Option<&str> {
        self.by_sid
            .get(&sid.to_ascii_uppercase())
            .map(|i| i.name.as_str())
            .or_else(|| well_known(sid))
    }

    /// Fills the names of `users` this directory knows.
    pub fn name_users<'a>(&self, users: impl IntoIterator<Item = &'a mut NamedUser>) {
        for user in users {
            user.name = self.name(&user.sid).map(str::to_owned);
        }
    }

    pub fn get(&self, sid: &str) -> Option<&Identity> {
        self.by_sid.get(&sid.to_ascii_uppercase())
    }

    pub fn len(&self) -> usize {
        self.by_sid.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_sid.is_empty()
    }

    pub fn identities(&self) -> impl Iterator<Item = &Identity> {
        self.by_sid.values()
    }

    /// Builds a directory from stored identities.
    pub fn from_identities(identities: impl IntoIterator<Item = Identity>) -> Directory {
        Directory {
            by_sid: identities
                .into_iter()
                .map(|i| (i.sid.to_ascii_uppercase(), i))
                .collect(),
        }
    }

    /// Every group `user` is in, nested memberships followed (upper-case SIDs).
    fn groups_of(&self, user: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut queue: Vec<String> = self.get(user).map(|i| i.groups.clone()).unwrap_or_default();
        while let Some(group) = queue.pop() {
            let group = group.to_ascii_uppercase();
            if !seen.insert(group.clone()) {
                continue;
            }
            if let Some(parent) = self.by_sid.get(&group) {
                queue.extend(parent.groups.iter().cloned());
            }
        }
        seen
    }

    /// The imported group with the fewest members that holds every one of `users` (nested
    /// memberships count), if there is one: what a rule can be scoped to.
    pub fn narrowest_common_group(&self, users: &[String]) -> Option<&Identity> {
        let mut common: Option<BTreeSet<String>> = None;
        for user in users {
            let groups = self.groups_of(user);
            common = Some(match common {
                None => groups,
                Some(c) => c.intersection(&groups).cloned().collect(),
            });
        }
        let members = |group: &str| {
            self.by_sid
                .values()
                .filter(|i| !i.is_group && self.groups_of(&i.sid).contains(group))
                .count()
        };
        common?
            .into_iter()
            .filter_map(|g| self.by_sid.get(&g).filter(|i| i.is_group))
            .min_by_key(|g| (members(&g.sid.to_ascii_uppercase()), g.name.clone()))
    }

    /// Every user's groups, nested memberships followed (a user in a group in a group is in
    /// both), as the evaluator takes them.
    pub fn sid_groups(&self) -> SidGroups {
        let mut pairs = Vec::new();
        for identity in self.by_sid.values().filter(|i| !i.is_group) {
            let mut seen: Vec<String> = Vec::new();
            let mut queue = identity.groups.clone();
            while let Some(group) = queue.pop() {
                let group = group.to_ascii_uppercase();
                if seen.contains(&group) {
                    continue;
                }
                if let Some(parent) = self.by_sid.get(&group) {
                    queue.extend(parent.groups.iter().cloned());
                }
                seen.push(group);
            }
            pairs.extend(seen.into_iter().map(|g| (identity.sid.clone(), g)));
        }
        SidGroups::from_pairs(pairs)
    }
}

/// Reads an export (CSV or LDIF, by content).
pub fn parse(text: &str) -> Result<Imported, IdentityError> {
    let text = text.trim_start_matches('\u{feff}');
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or_default();
    let records = if first.to_ascii_lowercase().starts_with("dn:")
        || first.to_ascii_lowercase().starts_with("version:")
    {
        ldif_records(text)?
    } else {
        csv_records(text)?
    };
    Ok(resolve(records))
}

/// One object as read, before memberships are resolved.
#[derive(Debug, Default)]
struct Record {
    line: usize,
    sid: String,
    account: String,
    display_name: Option<String>,
    dn: Option<String>,
    is_group: bool,
    member_of: Vec<String>,
}

fn resolve(records: Vec<Record>) -> Imported {
    let mut warnings = Vec::new();
    let mut by_dn: HashMap<String, String> = HashMap::new();
    let mut by_account: HashMap<String, String> = HashMap::new();
    for r in &records {
        if let Some(dn) = &r.dn {
            by_dn.insert(dn.to_ascii_lowercase(), r.sid.clone());
        }
        by_account.insert(r.account.to_ascii_lowercase(), r.sid.clone());
    }
    let mut by_sid: BTreeMap<String, Identity> = BTreeMap::new();
    let mut unresolved = 0;
    for r in records {
        let domain = r.dn.as_deref().and_then(domain_of);
        let name = match domain {
            Some(d) => format!("{d}\\{}", r.account),
            None => r.account.clone(),
        };
        let mut groups = Vec::new();
        for group in &r.member_of {
            let sid = if is_sid(group) {
                Some(group.to_ascii_uppercase())
            } else {
                by_dn
                    .get(&group.to_ascii_lowercase())
                    .or_else(|| by_account.get(&group.to_ascii_lowercase()))
                    .cloned()
            };
            match sid {
                Some(sid) if !groups.contains(&sid) => groups.push(sid),
                Some(_) => {}
                None => unresolved += 1,
            }
        }
        let key = r.sid.to_ascii_uppercase();
        if let Some(before) = by_sid.get(&key)
            && before.name != name
        {
            warnings.push(format!(
                "line {}: {} was {} and is now {name} (the later one wins)",
                r.line, r.sid, before.name
            ));
        }
        by_sid.insert(
            key,
            Identity {
                sid: r.sid,
                name,
                display_name: r.display_name,
                is_group: r.is_group,
                groups,
            },
        );
    }
    if unresolved > 0 {
        warnings.push(format!(
            "{unresolved} membership(s) name groups that are not in the export (export the groups too, e.g. Get-ADGroup -Filter * | Export-Csv): left out"
        ));
    }
    Imported {
        directory: Directory { by_sid },
        warnings,
    }
}

/// `CONTOSO` from `CN=x,OU=y,DC=contoso,DC=com`.
fn domain_of(dn: &str) -> Option<String> {
    dn.split(',')
        .map(str::trim)
        .find_map(|part| {
            let (key, value) = part.split_once('=')?;
            key.trim()
                .eq_ignore_ascii_case("DC")
                .then(|| value.trim().to_ascii_uppercase())
        })
        .filter(|d| !d.is_empty())
}

fn csv_records(text: &str) -> Result<Vec<Record>, IdentityError> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with("#TYPE"));
    let Some((header_line, header)) = lines.next() else {
        return Ok(Vec::new());
    };
    let header: Vec<String> = split_csv(header)
        .into_iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let column = |names: &[&str]| header.iter().position(|h| names.contains(&h.as_str()));
    let sid = column(&["sid", "objectsid"])
        .ok_or_else(|| error(header_line, "no SID column (expected SID or objectSid)"))?;
    let account = column(&["samaccountname"])
        .ok_or_else(|| error(header_line, "no SamAccountName column"))?;
    let display = column(&["displayname", "name"]);
    let dn = column(&["distinguishedname"]);
    let class = column(&["objectclass"]);
    let member_of = column(&["memberof"]);
    let mut records = Vec::new();
    for (line, text) in lines {
        let fields = split_csv(text);
        let field = |i: Option<usize>| {
            i.and_then(|i| fields.get(i))
                .map(|f| f.trim().to_owned())
                .filter(|f| !f.is_empty())
        };
        let sid_text = field(Some(sid)).unwrap_or_default();
        if !is_sid(&sid_text) {
            return Err(error(line, format!("{sid_text:?} is not a SID (S-1-…)")));
        }
        let Some(account_text) = field(Some(account)) else {
            return Err(error(line, "the SamAccountName is empty"));
        };
        if field(member_of).is_some_and(|m| m.contains("ADPropertyValueCollection")) {
            return Err(error(
                line,
                "MemberOf holds PowerShell's type name, not the groups: select it as @{n='MemberOf';e={$_.MemberOf -join ';'}}",
            ));
        }
        records.push(Record {
            line,
            sid: sid_text,
            account: account_text,
            display_name: field(display),
            dn: field(dn),
            is_group: field(class).is_some_and(|c| c.eq_ignore_ascii_case("group")),
            member_of: field(member_of)
                .map(|m| {
                    m.split([';', '|', '\n'])
                        .map(str::trim)
                        .filter(|g| !g.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        });
    }
    Ok(records)
}

/// The fields of one CSV line (`"` quotes, `""` inside quotes). The home of CSV splitting:
/// the inventory reads its lines with it too.
pub fn split_csv(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                fields.last_mut().expect("one field").push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(String::new()),
            c => fields.last_mut().expect("one field").push(c),
        }
    }
    fields
}

fn ldif_records(text: &str) -> Result<Vec<Record>, IdentityError> {
    // Unfold continuation lines (a line starting with one space continues the last).
    let mut lines: Vec<(usize, String)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let raw = raw.trim_end_matches('\r');
        match (raw.strip_prefix(' '), lines.last_mut()) {
            (Some(rest), Some((_, last))) if !last.is_empty() => last.push_str(rest),
            _ => lines.push((i + 1, raw.to_owned())),
        }
    }
    let mut records = Vec::new();
    let mut entry: Vec<(usize, String, Value)> = Vec::new();
    for (line, text) in lines.into_iter().chain([(0, String::new())]) {
        if text.trim().is_empty() {
            if !entry.is_empty() {
                if let Some(r) = ldif_record(&entry)? {
                    records.push(r);
                }
                entry.clear();
            }
            continue;
        }
        if text.starts_with('#') {
            continue;
        }
        let Some((key, rest)) = text.split_once(':') else {
            return Err(error(line, format!("{text:?} is not `attribute: value`")));
        };
        let value = if let Some(b64) = rest.strip_prefix(':') {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|e| error(line, format!("{key}: not base64 ({e})")))?;
            Value::Binary(bytes)
        } else {
            Value::Text(rest.trim().to_owned())
        };
        entry.push((line, key.trim().to_ascii_lowercase(), value));
    }
    Ok(records)
}

enum Value {
    Text(String),
    Binary(Vec<u8>),
}

impl Value {
    fn text(&self) -> String {
        match self {
            Value::Text(t) => t.clone(),
            Value::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        }
    }
}

/// One LDIF entry; `None` for entries without a SID (containers, the version line).
fn ldif_record(entry: &[(usize, String, Value)]) -> Result<Option<Record>, IdentityError> {
    let line = entry[0].0;
    let mut record = Record {
        line,
        ..Record::default()
    };
    for (at, key, value) in entry {
        match key.as_str() {
            "dn" => record.dn = Some(value.text()),
            "objectsid" => {
                record.sid = match value {
                    Value::Binary(bytes) => binary_sid(bytes)
                        .ok_or_else(|| error(*at, "objectSid is not a binary SID"))?,
                    Value::Text(t) if is_sid(t) => t.clone(),
                    Value::Text(t) => return Err(error(*at, format!("{t:?} is not a SID"))),
                }
            }
            "samaccountname" => record.account = value.text(),
            "displayname" => record.display_name = Some(value.text()),
            "memberof" => record.member_of.push(value.text()),
            "objectclass" => record.is_group |= value.text().eq_ignore_ascii_case("group"),
            _ => {}
        }
    }
    if record.sid.is_empty() {
        return Ok(None);
    }
    if record.account.is_empty() {
        return Err(error(line, format!("{} has no sAMAccountName", record.sid)));
    }
    Ok(Some(record))
}

/// A SID in its binary form (revision, count, 48-bit authority big-endian, 32-bit
/// sub-authorities little-endian) as `S-1-…` text.
pub fn binary_sid(bytes: &[u8]) -> Option<String> {
    let (&revision, rest) = bytes.split_first()?;
    let (&count, rest) = rest.split_first()?;
    if revision != 1 || rest.len() != 6 + 4 * count as usize {
        return None;
    }
    let authority = rest[..6].iter().fold(0u64, |a, &b| (a << 8) | u64::from(b));
    let mut sid = format!("S-1-{authority}");
    for chunk in rest[6..].chunks_exact(4) {
        let sub = u32::from_le_bytes(chunk.try_into().expect("four bytes"));
        sid.push_str(&format!("-{sub}"));
    }
    Some(sid)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "#TYPE Microsoft.ActiveDirectory.Management.ADUser\n\
\"DistinguishedName\",\"Name\",\"ObjectClass\",\"SamAccountName\",\"SID\",\"MemberOf\"\n\
\"CN=Jane Doe,OU=Finance,DC=contoso,DC=com\",\"Jane Doe\",\"user\",\"jdoe\",\"S-1-5-21-1-2-3-1104\",\"CN=Finance Staff,OU=Groups,DC=contoso,DC=com;CN=Unknown,DC=contoso,DC=com\"\n\
\"CN=Finance Staff,OU=Groups,DC=contoso,DC=com\",\"Finance Staff\",\"group\",\"Finance Staff\",\"S-1-5-21-1-2-3-2001\",\"CN=All Staff,OU=Groups,DC=contoso,DC=com\"\n\
\"CN=All Staff,OU=Groups,DC=contoso,DC=com\",\"All Staff\",\"group\",\"All Staff\",\"S-1-5-21-1-2-3-2002\",\"\"\n";

    #[test]
    fn listed_users_are_distinct_sorted_capped_and_named() {
        let sids: Vec<String> = (0..80)
            .rev()
            .map(|n| format!("S-1-5-21-1-2-3-{}", 1000 + n))
            .chain(["S-1-5-18".to_owned(), "S-1-5-21-1-2-3-1000".to_owned()])
            .collect();
        let mut listed = users_listed(&sids);
        assert_eq!(listed.len(), USERS_LISTED);
        assert!(listed.windows(2).all(|w| w[0].sid < w[1].sid));
        assert_eq!(listed[0].sid, "S-1-5-18");
        let directory = parse(CSV).unwrap().directory;
        directory.name_users(&mut listed);
        assert_eq!(
            listed[0].name.as_deref(),
            Some("NT AUTHORITY\\SYSTEM"),
            "well known"
        );
        assert!(
            listed[1..].iter().all(|u| u.name.is_none()),
            "not in the export"
        );
        assert_eq!(listed[0].to_string(), "S-1-5-18 (NT AUTHORITY\\SYSTEM)");
        assert_eq!(listed[1].to_string(), "S-1-5-21-1-2-3-1000");
        assert!(users_text(&listed, 81).ends_with(", … 31 more"));
        assert!(!users_text(&listed[..2], 2).contains("more"));

        // Merged rows keep the names either side had, and stay capped.
        let mut jdoe = users_listed(["S-1-5-21-1-2-3-1104"]);
        directory.name_users(&mut jdoe);
        let unnamed = users_listed(["S-1-5-21-1-2-3-1104", "S-1-5-21-1-2-3-0999"]);
        let merged = users_merged(&unnamed, &jdoe);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[1].name.as_deref(), Some("CONTOSO\\jdoe"));
        assert_eq!(users_merged(&listed, &unnamed).len(), USERS_LISTED);
    }

    #[test]
    fn csv_names_memberships_and_nesting() {
        let imported = parse(CSV).unwrap();
        let d = &imported.directory;
        assert_eq!(d.len(), 3);
        assert_eq!(d.name("s-1-5-21-1-2-3-1104"), Some("CONTOSO\\jdoe"));
        assert_eq!(
            d.get("S-1-5-21-1-2-3-1104")
                .unwrap()
                .display_name
                .as_deref(),
            Some("Jane Doe")
        );
        assert_eq!(d.name("S-1-5-32-544"), Some("BUILTIN\\Administrators"));
        assert_eq!(d.name("S-1-5-21-9-9-9-9"), None);
        assert_eq!(imported.warnings.len(), 1, "{:?}", imported.warnings);
        assert!(imported.warnings[0].starts_with("1 membership(s)"));
        let groups = d.sid_groups();
        assert!(groups.is_member("S-1-5-21-1-2-3-1104", "S-1-5-21-1-2-3-2001"));
        assert!(
            groups.is_member("S-1-5-21-1-2-3-1104", "S-1-5-21-1-2-3-2002"),
            "nested"
        );
    }

    #[test]
    fn the_narrowest_group_holding_every_user() {
        let d = parse(CSV).unwrap().directory;
        let jane = ["S-1-5-21-1-2-3-1104".to_owned()];
        // Jane is in Finance Staff directly and in All Staff through it; both have one
        // member, so the tie goes by name.
        assert_eq!(
            d.narrowest_common_group(&jane).unwrap().name,
            "CONTOSO\\All Staff"
        );
        let stranger = ["S-1-5-21-9-9-9-9".to_owned()];
        assert!(d.narrowest_common_group(&stranger).is_none());
        let both = [jane[0].clone(), stranger[0].clone()];
        assert!(
            d.narrowest_common_group(&both).is_none(),
            "no group holds both"
        );
    }

    #[test]
    fn bad_csv_names_the_line() {
        let missing = parse("Name,SamAccountName\nx,y\n").unwrap_err();
        assert_eq!(missing.line, 1);
        assert!(missing.message.contains("SID"), "{missing}");
        let bad = parse("SID,SamAccountName\nS-1-5-21-1-2-3-1,a\nnot-a-sid,b\n").unwrap_err();
        assert_eq!(bad.line, 3);
        let collection = parse("SID,SamAccountName,MemberOf\nS-1-5-21-1-2-3-1,a,Microsoft.ActiveDirectory.Management.ADPropertyValueCollection\n").unwrap_err();
        assert_eq!(collection.line, 2);
        assert!(collection.message.contains("-join"), "{collection}");
        let dup = parse("SID,SamAccountName\nS-1-5-21-1-2-3-1,a\nS-1-5-21-1-2-3-1,b\n").unwrap();
        assert_eq!(dup.directory.name("S-1-5-21-1-2-3-1"), Some("b"));
        assert!(dup.warnings[0].starts_with("line 3:"), "{:?}", dup.warnings);
    }

    #[test]
    fn ldif_with_binary_sids_and_folded_lines() {
        // S-1-5-21-1-2-3-1104: revision 1, 5 sub-authorities, authority 5.
        let mut sid = vec![1u8, 5, 0, 0, 0, 0, 0, 5];
        for sub in [21u32, 1, 2, 3, 1104] {
            sid.extend(sub.to_le_bytes());
        }
        let b64 = base64::engine::general_purpose::STANDARD.encode(&sid);
        let ldif = format!(
            "version: 1\n\ndn: CN=Jane Doe,OU=Finance,DC=contoso,DC=com\nobjectClass: top\nobjectClass: user\nsAMAccountName: jdoe\ndisplayName: Jane\n  Doe\nobjectSid:: {b64}\nmemberOf: S-1-5-32-545\n\n# a container without a SID\ndn: OU=Finance,DC=contoso,DC=com\nobjectClass: organizationalUnit\n"
        );
        let imported = parse(&ldif).unwrap();
        let jane = imported.directory.get("S-1-5-21-1-2-3-1104").unwrap();
        assert_eq!(jane.name, "CONTOSO\\jdoe");
        assert_eq!(jane.display_name.as_deref(), Some("Jane Doe"));
        assert_eq!(jane.groups, ["S-1-5-32-545"]);
        assert!(parse("dn: x\nobjectSid:: AQ==\nsAMAccountName: a\n").is_err());
        assert_eq!(
            binary_sid(&[1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]).unwrap(),
            "S-1-1-0"
        );
    }
}
