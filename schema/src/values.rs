//! The value lists of the event table and the computer key: what the `collection`,
//! `outcome` and `policy_kind` columns hold, and how a computer name becomes the key that
//! joins events with the inventory (docs/architecture.md "The event table").
//!
//! One definition each: ingest writes these strings, the queries filter on them, the CLI
//! parses them (`clap` feature) and the API reads and documents them (`serde`, `openapi`).
//! Nothing else spells `"EXE"` or `'audit'` by hand.

use std::fmt;
use std::str::FromStr;

/// A value that is not in one of the lists below.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a {list}: expected one of {expected}")]
pub struct UnknownValue {
    /// What was given.
    pub value: String,
    /// Which list (`collection`, `outcome`, `policy kind`).
    pub list: &'static str,
    /// The accepted values, comma-separated.
    pub expected: String,
}

/// Declares `ALL`, `as_str`, `Display` and a case-insensitive `FromStr` for a value list.
macro_rules! value_list {
    ($ty:ident, $list:literal, [$($variant:ident => $text:literal),+ $(,)?]) => {
        impl $ty {
            /// Every value, in the order the list sorts.
            pub const ALL: [$ty; [$($text),+].len()] = [$($ty::$variant),+];

            /// The value as the event table stores it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $text),+
                }
            }

            /// A SQL string literal of the value (`'EXE'`).
            pub fn sql(self) -> String {
                format!("'{}'", self.as_str())
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = UnknownValue;

            /// Case-insensitive, surrounding white space ignored.
            fn from_str(text: &str) -> Result<$ty, UnknownValue> {
                let text = text.trim();
                $ty::ALL
                    .into_iter()
                    .find(|v| v.as_str().eq_ignore_ascii_case(text))
                    .ok_or_else(|| UnknownValue {
                        value: text.to_owned(),
                        list: $list,
                        expected: $ty::ALL.map($ty::as_str).join(", "),
                    })
            }
        }
    };
}

/// The rule collection an event belongs to (`collection`; null for events of none, such as
/// 8001).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "UPPERCASE")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[cfg_attr(feature = "clap", value(rename_all = "UPPERCASE"))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Collection {
    /// Packaged apps (8020-8025).
    Appx,
    Dll,
    Exe,
    /// Windows Installer files.
    Msi,
    Script,
}

value_list!(Collection, "collection", [
    Appx => "APPX",
    Dll => "DLL",
    Exe => "EXE",
    Msi => "MSI",
    Script => "SCRIPT",
]);

/// What AppLocker did, from the event ID (applocker-events.md §2).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Outcome {
    /// Allowed by a rule (8002, 8005, 8020, 8023).
    Allowed,
    /// Would be blocked under *Enforce rules* (8003, 8006, 8021, 8024; 8028 for App Control).
    Audit,
    /// Blocked (8004, 8007, 8022, 8025; 8029 for App Control).
    Blocked,
    /// Any other AppLocker event (8000, 8001, …).
    Other,
}

value_list!(Outcome, "outcome", [
    Allowed => "allowed",
    Audit => "audit",
    Blocked => "blocked",
    Other => "other",
]);

impl Outcome {
    /// The outcome of an AppLocker event ID.
    pub fn of_event(event_id: u16) -> Outcome {
        match event_id {
            8002 | 8005 | 8020 | 8023 => Outcome::Allowed,
            8003 | 8006 | 8021 | 8024 | 8028 => Outcome::Audit,
            8004 | 8007 | 8022 | 8025 | 8029 => Outcome::Blocked,
            _ => Outcome::Other,
        }
    }
}

/// Which kind of policy decided (`policy_kind`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PolicyKind {
    Applocker,
    /// App Control (WDAC) script events 8028/8029: not AppLocker decisions.
    Wdac,
}

value_list!(PolicyKind, "policy kind", [
    Applocker => "applocker",
    Wdac => "wdac",
]);

impl PolicyKind {
    /// The policy kind of an AppLocker event ID.
    pub fn of_event(event_id: u16) -> PolicyKind {
        if matches!(event_id, 8028 | 8029) {
            PolicyKind::Wdac
        } else {
            PolicyKind::Applocker
        }
    }
}

/// A SQL list of values: `('audit', 'blocked')`.
pub fn sql_list<T: Copy + fmt::Display>(values: &[T]) -> String {
    let items: Vec<String> = values.iter().map(|v| format!("'{v}'")).collect();
    format!("({})", items.join(", "))
}

/// The first label of a computer name, as logged: ` FIN-WS02.corp ` → `FIN-WS02`.
fn computer_label(computer: &str) -> &str {
    computer.trim().split('.').next().unwrap_or("")
}

/// The key that joins a computer's events with the inventory: its lower-case short name
/// (`FIN-WS02.corp.example.com` → `fin-ws02`), white space trimmed.
pub fn computer_key(computer: &str) -> String {
    let mut key = String::new();
    push_computer_key(computer, &mut key);
    key
}

/// [`computer_key`] appended to `out` (ingest's hot path reuses one buffer).
pub fn push_computer_key(computer: &str, out: &mut String) {
    let start = out.len();
    out.push_str(computer_label(computer));
    out[start..].make_ascii_lowercase();
}

/// Orders computers as their [`computer_key`]s would, without building them.
pub fn cmp_computer_keys(a: &str, b: &str) -> std::cmp::Ordering {
    let key = |c| computer_label(c).bytes().map(|b| b.to_ascii_lowercase());
    key(a).cmp(key(b))
}

/// Whether `text` matches `pattern`, where `*` matches any run of characters and `?` one
/// character; everything else matches itself (case-sensitively: callers fold case first
/// when they want to). Used for inventory lines (`FIN-*`) and for file globs.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Greedy with backtracking to the last `*`: linear in practice, never exponential.
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_print_and_parse_back() {
        for c in Collection::ALL {
            assert_eq!(c.as_str().parse::<Collection>(), Ok(c));
            assert_eq!(c.as_str().to_lowercase().parse::<Collection>(), Ok(c));
            assert_eq!(
                serde_json::to_string(&c).unwrap(),
                format!("\"{}\"", c.as_str())
            );
        }
        for o in Outcome::ALL {
            assert_eq!(o.to_string().parse::<Outcome>(), Ok(o));
            assert_eq!(
                serde_json::from_str::<Outcome>(&format!("\"{o}\"")).unwrap(),
                o
            );
        }
        assert_eq!(" wdac ".parse::<PolicyKind>(), Ok(PolicyKind::Wdac));
        let err = "exe2".parse::<Collection>().unwrap_err().to_string();
        assert_eq!(
            err,
            "\"exe2\" is not a collection: expected one of APPX, DLL, EXE, MSI, SCRIPT"
        );
    }

    #[test]
    fn event_ids_map_to_outcomes_and_kinds() {
        assert_eq!(Outcome::of_event(8003), Outcome::Audit);
        assert_eq!(Outcome::of_event(8025), Outcome::Blocked);
        assert_eq!(Outcome::of_event(8023), Outcome::Allowed);
        assert_eq!(Outcome::of_event(8001), Outcome::Other);
        assert_eq!(PolicyKind::of_event(8028), PolicyKind::Wdac);
        assert_eq!(PolicyKind::of_event(8003), PolicyKind::Applocker);
        assert_eq!(
            sql_list(&[Outcome::Audit, Outcome::Blocked]),
            "('audit', 'blocked')"
        );
    }

    #[test]
    fn computer_keys_are_trimmed_short_and_lower_case() {
        assert_eq!(computer_key("FIN-WS02.corp.example.com"), "fin-ws02");
        assert_eq!(computer_key(" FIN-WS02 "), "fin-ws02");
        assert_eq!(computer_key("el33t-b00k-1"), "el33t-b00k-1");
        let mut names = ["b.x", "A", " a.y", "C"];
        names.sort_by(|a, b| cmp_computer_keys(a, b));
        let keys: Vec<String> = names.iter().map(|n| computer_key(n)).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*.evtx", "a.evtx"));
        assert!(wildcard_match(
            "Forwarded*-?.evtx",
            "ForwardedEvents-1.evtx"
        ));
        assert!(!wildcard_match("*.evtx", "a.evtx.partial"));
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("fin-*", "fin-ws01"));
        assert!(!wildcard_match("fin-?", "fin-ws01"));
        assert!(wildcard_match("*a*b*c*", "xxaxxbxxcxx"));
        assert!(!wildcard_match("FIN-*", "fin-ws01"), "case-sensitive");
    }
}
