//! One AppLocker event as lockstep stores it, and the normalisations of docs/architecture.md
//! ("The event table"): outcome from the event ID, upper-case hex hashes, FQBN split,
//! numerically sortable versions (the value lists and the computer key are `schema::values`).

use schema::{Collection, Outcome, PolicyKind};

/// An AppLocker event decoded from a record (fields as logged, lightly normalised).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuditEvent {
    /// `TimeCreated`, µs since the Unix epoch (UTC).
    pub(crate) time_us: i64,
    pub(crate) computer: String,
    pub(crate) channel: String,
    pub(crate) provider: String,
    pub(crate) event_id: u16,
    pub(crate) record_id: u64,
    pub(crate) user_sid: Option<String>,
    pub(crate) process_id: Option<i64>,
    pub(crate) logon_id: Option<i64>,
    pub(crate) policy_name: Option<String>,
    pub(crate) rule_id: Option<String>,
    pub(crate) rule_name: Option<String>,
    pub(crate) file_path: Option<String>,
    pub(crate) full_file_path: Option<String>,
    pub(crate) file_hash: Option<String>,
    pub(crate) fqbn: Option<String>,
    pub(crate) package: Option<String>,
}

/// The parts of an FQBN (applocker-events.md §6).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct FqbnParts<'a> {
    pub(crate) publisher: &'a str,
    pub(crate) product: &'a str,
    pub(crate) binary: &'a str,
    pub(crate) version: &'a str,
}

impl AuditEvent {
    /// What AppLocker did (applocker-events.md §2).
    pub(crate) fn outcome(&self) -> Outcome {
        Outcome::of_event(self.event_id)
    }

    /// `wdac` for App Control script events (8028/8029), `applocker` otherwise.
    pub(crate) fn policy_kind(&self) -> PolicyKind {
        PolicyKind::of_event(self.event_id)
    }

    /// The rule collection: from `PolicyName`, else from the event ID (packaged apps), else
    /// for App Control script events from the file extension.
    pub(crate) fn collection(&self) -> Option<Collection> {
        let from_policy = self
            .policy_name
            .as_deref()
            .and_then(|p| p.parse::<Collection>().ok());
        from_policy.or(match self.event_id {
            8020..=8025 => Some(Collection::Appx),
            8028 | 8029 => {
                let msi = self
                    .file_path
                    .as_deref()
                    .is_some_and(|p| p.to_ascii_lowercase().ends_with(".msi"));
                Some(if msi {
                    Collection::Msi
                } else {
                    Collection::Script
                })
            }
            _ => None,
        })
    }

    /// The FQBN split into its four parts, or `None` for unsigned files (`-`) and events
    /// without one.
    pub(crate) fn fqbn_parts(&self) -> Option<FqbnParts<'_>> {
        split_fqbn(self.fqbn.as_deref()?)
    }
}

/// `PUBLISHER\PRODUCT\BINARY\VERSION`: the last three parts are product, binary and
/// version; everything before them is the publisher (which, to be safe, may contain `\`).
pub(crate) fn split_fqbn(fqbn: &str) -> Option<FqbnParts<'_>> {
    let fqbn = fqbn.trim();
    if fqbn.is_empty() || fqbn == "-" {
        return None;
    }
    let mut parts = fqbn.rsplitn(4, '\\');
    let version = parts.next()?;
    let binary = parts.next()?;
    let product = parts.next()?;
    let publisher = parts.next()?;
    Some(FqbnParts {
        publisher,
        product,
        binary,
        version,
    })
}

/// A version as four zero-padded 10-digit parts, so text order is numeric order
/// (`2.9.0.00` < `2.10.0.00`); written with `Display`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct VersionKey([u64; 4]);

impl std::fmt::Display for VersionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [a, b, c, d] = self.0;
        write!(f, "{a:010}.{b:010}.{c:010}.{d:010}")
    }
}

/// The sortable key of `version`. Missing parts count as 0; `None` if a part is not a
/// number.
pub(crate) fn version_key(version: &str) -> Option<VersionKey> {
    let mut parts = [0u64; 4];
    for (i, part) in version.trim().split('.').enumerate() {
        if i >= 4 || part.is_empty() {
            return None;
        }
        parts[i] = part.parse().ok()?;
    }
    Some(VersionKey(parts))
}

/// A GUID as lower case without braces.
pub(crate) fn normalize_guid(text: &str) -> String {
    text.trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .to_ascii_lowercase()
}

/// A hash as upper-case hex without `0x` or dashes (applocker-events.md §5). When
/// `FileHashLength` is known, a longer value is cut to it (a known renderer over-read).
/// `None` for an empty or non-hex value.
pub(crate) fn normalize_hash(text: &str, byte_len: Option<usize>) -> Option<String> {
    let t = text.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    let mut hex: String = t
        .chars()
        .filter(|c| *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    if let Some(n) = byte_len.filter(|n| *n > 0 && 2 * n < hex.len()) {
        hex.truncate(2 * n);
    }
    Some(hex)
}

/// `TimeCreated/@SystemTime` in µs since the epoch. Accepts the Windows form
/// `2023-07-20T15:05:03.8826518Z` and the `2019-11-07 22:15:09.5660628` form some tools
/// print (applocker-events.md §7), with 0 to 9 fraction digits.
pub(crate) fn parse_system_time(text: &str) -> Option<i64> {
    let t = text.trim().trim_end_matches('Z');
    let t = t.strip_suffix("+00:00").unwrap_or(t);
    let b = t.as_bytes();
    if b.len() < 19 || !(b[10] == b'T' || b[10] == b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| t.get(r)?.parse::<i64>().ok();
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut micros = 0;
    if let Some(frac) = t.get(19..).filter(|f| !f.is_empty()) {
        let digits = frac.strip_prefix('.')?;
        if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let padded = format!("{digits:0<9}");
        micros = padded[..6].parse::<i64>().ok()?;
    }
    let days = days_from_civil(year, month, day);
    Some(((days * 24 + hour) * 60 + minute) * 60_000_000 + second * 1_000_000 + micros)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fqbn_splits_from_the_right() {
        let p =
            split_fqbn(r"O=JOHANNES SCHINDELIN, S=NORDRHEIN-WESTFALEN, C=DE\GIT\GIT.EXE\2.35.5.01")
                .unwrap();
        assert_eq!(
            (p.publisher, p.product, p.binary, p.version),
            (
                "O=JOHANNES SCHINDELIN, S=NORDRHEIN-WESTFALEN, C=DE",
                "GIT",
                "GIT.EXE",
                "2.35.5.01"
            )
        );
        let signed_script =
            split_fqbn(r"O=MICROSOFT CORPORATION, L=REDMOND, S=WASHINGTON, C=US\\\0.0.0.00")
                .unwrap();
        assert_eq!((signed_script.product, signed_script.binary), ("", ""));
        assert_eq!(split_fqbn("-"), None);
        assert_eq!(split_fqbn(r"NO\VERSION"), None);
    }

    #[test]
    fn version_keys_sort_numerically() {
        let a = version_key("3.9.13.150").unwrap().to_string();
        let b = version_key("3.10.11.1013").unwrap().to_string();
        assert!(a < b);
        assert_eq!(a, "0000000003.0000000009.0000000013.0000000150");
        assert_eq!(
            version_key("4.28.0.00").unwrap(),
            version_key("4.28").unwrap()
        );
        assert_eq!(version_key("1.x"), None);
    }

    #[test]
    fn hashes_normalise() {
        let h = "11D3940DE41D28E044CE45AB76A6D824E617D99B62C5FB44E37BE5CD7B0545F5";
        assert_eq!(
            normalize_hash(&format!("0x{}", h.to_lowercase()), Some(32)).unwrap(),
            h
        );
        assert_eq!(normalize_hash("10-67-8D-A8", None).unwrap(), "10678DA8");
        assert_eq!(
            normalize_hash(&format!("{h}4100"), Some(32)).unwrap(),
            h,
            "over-read is cut"
        );
        assert_eq!(normalize_hash("", None), None);
        assert_eq!(normalize_hash("(not reported)", None), None);
    }

    #[test]
    fn system_times_in_both_forms() {
        assert_eq!(parse_system_time("1970-01-01T00:00:01.5Z"), Some(1_500_000));
        assert_eq!(
            parse_system_time("2023-07-20T15:05:03.8826518Z"),
            Some(1_689_865_503_882_651)
        );
        assert_eq!(
            parse_system_time("2023-07-20 15:05:03.8826518"),
            Some(1_689_865_503_882_651)
        );
        assert_eq!(
            parse_system_time("2023-07-20T15:05:03Z"),
            Some(1_689_865_503_000_000)
        );
        assert_eq!(parse_system_time("yesterday"), None);
        assert_eq!(parse_system_time("2023-13-20T15:05:03Z"), None);
    }
}
