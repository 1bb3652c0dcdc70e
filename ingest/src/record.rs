//! One EVTX record, rendered as JSON by the `evtx` crate, decoded into the few fields
//! lockstep keeps. A typed, borrowing decode: unknown fields are skipped without being
//! built, which is what keeps ingest fast (docs/architecture.md "Known traps": going through
//! `serde_json::Value` for every record is 5× slower).
//!
//! Fields are looked up by element name, never by position, and every field but
//! `System/Computer`, `Channel`, `EventID` and `TimeCreated` is optional
//! (applocker-events.md §3.1, "Robustness rules").

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};

use crate::event::AuditEvent;

/// The AppLocker provider (applocker-events.md §1); compared case-insensitively.
pub(crate) const APPLOCKER_PROVIDER: &str = "Microsoft-Windows-AppLocker";

/// What a record turned out to be.
#[derive(Debug, PartialEq)]
pub(crate) enum Decoded {
    AppLocker(Box<AuditEvent>),
    /// Another provider (or a non-event AppLocker ID): skipped, counted.
    Other,
}

/// Why a record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodeError(pub(crate) String);

/// A scalar the renderer may give as a string, a number, or an element object with
/// attributes and `#text`.
#[derive(Debug, Default)]
struct Text<'a>(Option<Cow<'a, str>>);

impl<'a> Text<'a> {
    fn get(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, a number or an element with #text")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v))))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Text(None))
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(Text(None))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                // An array of strings renders as a list; keep the first item.
                let first = seq.next_element::<Text<'a>>()?.unwrap_or_default();
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(first)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut text = Text(None);
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    if key == "#text" {
                        text = map.next_value()?;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(text)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// An element whose attributes are what we want: `{"#attributes": {...}}`.
#[derive(Debug, Default, Deserialize)]
struct Attrs<'a> {
    #[serde(rename = "#attributes", borrow, default)]
    attributes: HashMap<Cow<'a, str>, Text<'a>>,
}

impl Attrs<'_> {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).and_then(Text::get)
    }
}

#[derive(Debug, Deserialize)]
struct Record<'a> {
    #[serde(rename = "Event", borrow)]
    event: Event<'a>,
}

#[derive(Debug, Deserialize)]
struct Event<'a> {
    #[serde(rename = "System", borrow)]
    system: System<'a>,
    #[serde(rename = "UserData", borrow, default)]
    user_data: Option<HashMap<Cow<'a, str>, Payload<'a>>>,
    #[serde(rename = "EventData", borrow, default)]
    event_data: Option<Payload<'a>>,
}

#[derive(Debug, Deserialize)]
struct System<'a> {
    #[serde(rename = "Provider", borrow, default)]
    provider: Option<Attrs<'a>>,
    #[serde(rename = "EventID", borrow, default)]
    event_id: Text<'a>,
    #[serde(rename = "TimeCreated", borrow, default)]
    time_created: Option<Attrs<'a>>,
    #[serde(rename = "EventRecordID", borrow, default)]
    event_record_id: Text<'a>,
    #[serde(rename = "Channel", borrow, default)]
    channel: Text<'a>,
    #[serde(rename = "Computer", borrow, default)]
    computer: Text<'a>,
    #[serde(rename = "Security", borrow, default)]
    security: Option<Attrs<'a>>,
}

/// `RuleAndFileData` (UserData form) or the named items of `EventData` (8028/8029).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Payload<'a> {
    #[serde(rename = "PolicyName", borrow)]
    policy_name: Text<'a>,
    #[serde(rename = "RuleId", borrow)]
    rule_id: Text<'a>,
    #[serde(rename = "RuleName", borrow)]
    rule_name: Text<'a>,
    #[serde(rename = "TargetUser", borrow)]
    target_user: Text<'a>,
    #[serde(rename = "TargetProcessId", borrow)]
    target_process_id: Text<'a>,
    #[serde(rename = "FilePath", borrow)]
    file_path: Text<'a>,
    #[serde(rename = "FileHash", borrow)]
    file_hash: Text<'a>,
    #[serde(rename = "FileHashLength", borrow)]
    file_hash_length: Text<'a>,
    #[serde(rename = "Sha256Hash", borrow)]
    sha256_hash: Text<'a>,
    #[serde(rename = "Fqbn", borrow)]
    fqbn: Text<'a>,
    #[serde(rename = "TargetLogonId", borrow)]
    target_logon_id: Text<'a>,
    #[serde(rename = "FullFilePath", borrow)]
    full_file_path: Text<'a>,
    #[serde(rename = "Package", borrow)]
    package: Text<'a>,
}

/// The System fields every AppLocker row needs, however they were read.
pub(crate) struct SystemFields<'a> {
    pub(crate) provider: &'a str,
    pub(crate) event_id: u16,
    pub(crate) time_us: i64,
    pub(crate) record_id: u64,
    pub(crate) computer: &'a str,
    pub(crate) channel: &'a str,
    pub(crate) security_user: Option<&'a str>,
}

/// What a reader found in a record's System part, as text, before any check.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RawSystem<'a> {
    pub(crate) provider: Option<&'a str>,
    pub(crate) event_id: Option<&'a str>,
    pub(crate) time: Option<&'a str>,
    /// The time already read (a form whose time text needs more than `SystemTime`'s rules).
    pub(crate) time_us: Option<i64>,
    pub(crate) record_id: Option<&'a str>,
    pub(crate) computer: Option<&'a str>,
    pub(crate) channel: Option<&'a str>,
    pub(crate) security_user: Option<&'a str>,
}

/// How a form names the System fields in its messages (`System/EventID` in EVTX and XML,
/// `winlog.event_id` in Winlogbeat JSON).
pub(crate) struct FieldNames {
    pub(crate) event_id: &'static str,
    pub(crate) time: &'static str,
    pub(crate) record_id: &'static str,
    pub(crate) computer: &'static str,
    pub(crate) channel: &'static str,
}

/// The names of the event XML schema (EVTX renders the same).
pub(crate) const XML_NAMES: FieldNames = FieldNames {
    event_id: "System/EventID",
    time: "System/TimeCreated/@SystemTime",
    record_id: "System/EventRecordID",
    computer: "System/Computer",
    channel: "System/Channel",
};

impl<'a> RawSystem<'a> {
    /// The checked System fields of an AppLocker event; `None` for another provider or a
    /// non-event AppLocker ID (recognised before anything else is read).
    pub(crate) fn check(self, names: &FieldNames) -> Result<Option<SystemFields<'a>>, DecodeError> {
        let provider = self.provider.unwrap_or("");
        if !provider.eq_ignore_ascii_case(APPLOCKER_PROVIDER) {
            return Ok(None);
        }
        let event_id: u16 = parse_number(self.event_id, names.event_id)?;
        if !is_applocker(provider, event_id) {
            return Ok(None);
        }
        let time_us = match self.time_us {
            Some(time_us) => time_us,
            None => {
                let time = self.time.ok_or_else(|| missing(names.time))?;
                crate::event::parse_system_time(time)
                    .ok_or_else(|| DecodeError(format!("{}: not a time: {time:?}", names.time)))?
            }
        };
        let record_id: u64 = parse_number(self.record_id, names.record_id)?;
        let computer = self
            .computer
            .filter(|c| !c.is_empty())
            .ok_or_else(|| missing(names.computer))?;
        let channel = self.channel.ok_or_else(|| missing(names.channel))?;
        Ok(Some(SystemFields {
            provider,
            event_id,
            time_us,
            record_id,
            computer,
            channel,
            security_user: self.security_user,
        }))
    }
}

fn parse_number<T: std::str::FromStr>(text: Option<&str>, field: &str) -> Result<T, DecodeError> {
    let text = text.ok_or_else(|| missing(field))?;
    text.trim()
        .parse()
        .map_err(|_| DecodeError(format!("{field}: not a number: {text:?}")))
}

/// True for AppLocker's provider and event-ID range (applocker-events.md §2).
pub(crate) fn is_applocker(provider: &str, event_id: u16) -> bool {
    provider.eq_ignore_ascii_case(APPLOCKER_PROVIDER) && (8000..=8040).contains(&event_id)
}

/// The payload fields lockstep reads: children of `UserData/RuleAndFileData` (and the
/// packaged-app form), or the `Name` of `EventData/Data` items (applocker-events.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PayloadField {
    PolicyName,
    RuleId,
    RuleName,
    TargetUser,
    TargetProcessId,
    FilePath,
    FileHash,
    FileHashLength,
    Sha256Hash,
    Fqbn,
    TargetLogonId,
    FullFilePath,
    Package,
}

impl PayloadField {
    pub(crate) const ALL: [PayloadField; 13] = [
        PayloadField::PolicyName,
        PayloadField::RuleId,
        PayloadField::RuleName,
        PayloadField::TargetUser,
        PayloadField::TargetProcessId,
        PayloadField::FilePath,
        PayloadField::FileHash,
        PayloadField::FileHashLength,
        PayloadField::Sha256Hash,
        PayloadField::Fqbn,
        PayloadField::TargetLogonId,
        PayloadField::FullFilePath,
        PayloadField::Package,
    ];

    /// The element name (or `Data` item name) as logged.
    pub(crate) fn name(self) -> &'static str {
        match self {
            PayloadField::PolicyName => "PolicyName",
            PayloadField::RuleId => "RuleId",
            PayloadField::RuleName => "RuleName",
            PayloadField::TargetUser => "TargetUser",
            PayloadField::TargetProcessId => "TargetProcessId",
            PayloadField::FilePath => "FilePath",
            PayloadField::FileHash => "FileHash",
            PayloadField::FileHashLength => "FileHashLength",
            PayloadField::Sha256Hash => "Sha256Hash",
            PayloadField::Fqbn => "Fqbn",
            PayloadField::TargetLogonId => "TargetLogonId",
            PayloadField::FullFilePath => "FullFilePath",
            PayloadField::Package => "Package",
        }
    }
}

/// Builds the row from the System fields and a lookup of payload fields (each asked for
/// once, so a lookup may move its value out).
pub(crate) fn assemble<'p>(
    sys: SystemFields<'_>,
    mut payload: impl FnMut(PayloadField) -> Option<Cow<'p, str>>,
) -> AuditEvent {
    // Exports keep the NUL that ends a UTF-16 string now and then (JSON shippers, XML
    // written by scripts): not part of the value.
    let mut text = |field: PayloadField| {
        payload(field).map(|v| match v.strip_suffix('\0') {
            Some(_) => v.trim_end_matches('\0').to_owned(),
            None => v.into_owned(),
        })
    };
    let hash_len = text(PayloadField::FileHashLength).and_then(|l| l.trim().parse::<usize>().ok());
    let hash = text(PayloadField::FileHash).or_else(|| text(PayloadField::Sha256Hash));
    AuditEvent {
        time_us: sys.time_us,
        computer: sys.computer.to_owned(),
        channel: sys.channel.to_owned(),
        provider: sys.provider.to_owned(),
        event_id: sys.event_id,
        record_id: sys.record_id,
        user_sid: text(PayloadField::TargetUser).or_else(|| sys.security_user.map(str::to_owned)),
        process_id: text(PayloadField::TargetProcessId).and_then(|v| parse_int(&v)),
        logon_id: text(PayloadField::TargetLogonId).and_then(|v| parse_int(&v)),
        policy_name: text(PayloadField::PolicyName),
        rule_id: text(PayloadField::RuleId).map(|v| crate::event::normalize_guid(&v)),
        rule_name: text(PayloadField::RuleName),
        file_path: text(PayloadField::FilePath),
        full_file_path: text(PayloadField::FullFilePath),
        file_hash: hash.and_then(|h| crate::event::normalize_hash(&h, hash_len)),
        fqbn: text(PayloadField::Fqbn),
        package: text(PayloadField::Package),
    }
}

/// Decodes one record's JSON. Non-AppLocker records are recognised from the provider name
/// and event ID only, before anything else is decoded into owned values.
pub(crate) fn decode(json: &[u8]) -> Result<Decoded, DecodeError> {
    let record: Record<'_> =
        serde_json::from_slice(json).map_err(|e| DecodeError(format!("not an event: {e}")))?;
    let system = &record.event.system;
    // A record with null System fields (real-evtx damaged_bad-chunk-magic) is not AppLocker.
    let raw = RawSystem {
        provider: system.provider.as_ref().and_then(|p| p.attr("Name")),
        event_id: system.event_id.get(),
        time: system
            .time_created
            .as_ref()
            .and_then(|t| t.attr("SystemTime")),
        time_us: None,
        record_id: system.event_record_id.get(),
        computer: system.computer.get(),
        channel: system.channel.get(),
        security_user: system.security.as_ref().and_then(|s| s.attr("UserID")),
    };
    let Some(sys) = raw.check(&XML_NAMES)? else {
        return Ok(Decoded::Other);
    };

    let payload = record
        .event
        .user_data
        .as_ref()
        .and_then(|u| u.values().next())
        .or(record.event.event_data.as_ref());
    let empty = Payload::default();
    let p = payload.unwrap_or(&empty);
    let event = assemble(sys, |field| {
        let text = match field {
            PayloadField::PolicyName => &p.policy_name,
            PayloadField::RuleId => &p.rule_id,
            PayloadField::RuleName => &p.rule_name,
            PayloadField::TargetUser => &p.target_user,
            PayloadField::TargetProcessId => &p.target_process_id,
            PayloadField::FilePath => &p.file_path,
            PayloadField::FileHash => &p.file_hash,
            PayloadField::FileHashLength => &p.file_hash_length,
            PayloadField::Sha256Hash => &p.sha256_hash,
            PayloadField::Fqbn => &p.fqbn,
            PayloadField::TargetLogonId => &p.target_logon_id,
            PayloadField::FullFilePath => &p.full_file_path,
            PayloadField::Package => &p.package,
        };
        text.get().map(|v| Cow::Owned(v.to_owned()))
    });
    Ok(Decoded::AppLocker(Box::new(event)))
}

fn missing(field: &str) -> DecodeError {
    DecodeError(format!("missing field {field}"))
}

/// Decimal or `0x`-prefixed hexadecimal (TargetLogonId is HexInt64).
pub(crate) fn parse_int(text: &str) -> Option<i64> {
    let t = text.trim();
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok().map(|v| v as i64),
        None => t.parse().ok(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const SAMPLE_8003: &str = r##"{"Event":{"#attributes":{"xmlns":"x"},"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-AppLocker","Guid":"{cbda4dbf-8d5d-4f69-9578-be14aa540d22}"}},"EventID":8003,"Version":0,"Level":3,"Keywords":"0x8000000000000000","TimeCreated":{"#attributes":{"SystemTime":"2023-07-20T15:05:03.8826518Z"}},"EventRecordID":154247,"Correlation":null,"Execution":{"#attributes":{"ProcessID":33848,"ThreadID":12040}},"Channel":"Microsoft-Windows-AppLocker/EXE and DLL","Computer":"TOPSYLL.local","Security":{"#attributes":{"UserID":"S-1-5-21-1-2-3-200319"}}},"UserData":{"RuleAndFileData":{"#attributes":{"xmlns":"y"},"PolicyNameLength":3,"PolicyName":"EXE","RuleId":"{00000000-0000-0000-0000-000000000000}","RuleName":"-","RuleSddl":"-","TargetUser":"S-1-5-21-1-2-3-200319","TargetProcessId":27116,"FilePath":"%OSDRIVE%\\USERS\\TOPSY\\GIT.EXE","FileHashLength":32,"FileHash":"11D3940DE41D28E044CE45AB76A6D824E617D99B62C5FB44E37BE5CD7B0545F5","Fqbn":"O=JOHANNES SCHINDELIN, S=NORDRHEIN-WESTFALEN, C=DE\\GIT\\GIT.EXE\\2.35.5.01","TargetLogonId":"0x14fcb7","FullFilePath":"C:\\Users\\TOPSY\\git.exe"}}}}"##;

    fn event(json: &str) -> AuditEvent {
        match decode(json.as_bytes()).unwrap() {
            Decoded::AppLocker(e) => *e,
            Decoded::Other => panic!("not AppLocker"),
        }
    }

    #[test]
    fn decodes_the_spec_example_by_name() {
        let e = event(SAMPLE_8003);
        assert_eq!(e.event_id, 8003);
        assert_eq!(e.record_id, 154247);
        assert_eq!(e.computer, "TOPSYLL.local");
        assert_eq!(e.time_us, 1_689_865_503_882_651);
        assert_eq!(e.logon_id, Some(0x14fcb7));
        assert_eq!(e.process_id, Some(27116));
        assert_eq!(
            e.rule_id.as_deref(),
            Some("00000000-0000-0000-0000-000000000000")
        );
        assert_eq!(
            e.file_path.as_deref(),
            Some(r"%OSDRIVE%\USERS\TOPSY\GIT.EXE")
        );
        assert_eq!(e.full_file_path.as_deref(), Some(r"C:\Users\TOPSY\git.exe"));
        assert_eq!(e.user_sid.as_deref(), Some("S-1-5-21-1-2-3-200319"));
    }

    #[test]
    fn other_providers_and_near_misses_are_not_applocker() {
        let near_miss = r##"{"Event":{"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Eventlog"}},"EventID":104,"Channel":"System","Computer":"FS03"},"UserData":{"LogFileCleared":{"Channel":"Microsoft-Windows-AppLocker/EXE and DLL"}}}}"##;
        assert!(matches!(
            decode(near_miss.as_bytes()).unwrap(),
            Decoded::Other
        ));
    }

    #[test]
    fn qualifiers_and_text_variants_are_accepted() {
        let json = SAMPLE_8003
            .replace(
                r##""EventID":8003"##,
                r##""EventID":{"#attributes":{"Qualifiers":0},"#text":8003}"##,
            )
            .replace(r##""FileHash":"11D3"##, r##""FileHash":"0x11d3"##)
            .replace(
                "{00000000-0000-0000-0000-000000000000}",
                "{A9E18C21-FF8F-43CF-B9FC-DB40EED693BA}",
            );
        let e = event(&json);
        assert_eq!(e.event_id, 8003);
        assert_eq!(
            e.file_hash.as_deref(),
            Some("11D3940DE41D28E044CE45AB76A6D824E617D99B62C5FB44E37BE5CD7B0545F5")
        );
        assert_eq!(
            e.rule_id.as_deref(),
            Some("a9e18c21-ff8f-43cf-b9fc-db40eed693ba")
        );
    }

    #[test]
    fn a_garbage_record_with_null_system_fields_is_not_applocker() {
        let json = r##"{"Event":{"System":{"Provider":null,"EventID":0,"TimeCreated":null,"Channel":null,"Computer":null}}}"##;
        assert!(matches!(decode(json.as_bytes()).unwrap(), Decoded::Other));
    }

    #[test]
    fn a_record_without_computer_is_an_error_naming_the_field() {
        let json = SAMPLE_8003.replace(r##""Computer":"TOPSYLL.local","##, "");
        assert_eq!(
            decode(json.as_bytes()).unwrap_err(),
            DecodeError("missing field System/Computer".into())
        );
    }

    #[test]
    fn old_events_without_optional_fields_decode() {
        let json = r##"{"Event":{"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-AppLocker"}},"EventID":8001,"TimeCreated":{"#attributes":{"SystemTime":"2019-11-07 22:15:09.5660628"}},"EventRecordID":5,"Channel":"Microsoft-Windows-AppLocker/EXE and DLL","Computer":"pc1"}}}"##;
        let e = event(json);
        assert_eq!(e.event_id, 8001);
        assert_eq!(e.file_path, None);
        assert_eq!(e.user_sid, None);
    }
}
