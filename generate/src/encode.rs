//! Events into EVTX template instances, shaped as Windows writes them
//! (evtx-format.md §5): an outer System template per (provider, channel, computer, shape)
//! with literal provider, channel and computer text, and the payload as a nested BinXml
//! value. No substitution ever points at a NULL value (§4.12): each shape gets its own
//! template instead.

use std::collections::HashMap;

use evtx_writer::{Element, Instance, Template, Value, ValueType as T};

use crate::events::{Channel, Event, FileData, Noise, PackageData, Payload, WdacData};
use crate::fleet::{Fleet, HostStyle, PayloadShape};

const EVENT_NS: &str = "http://schemas.microsoft.com/win/2004/08/events/event";
const RULE_NS: &str = "http://schemas.microsoft.com/schemas/event/Microsoft.Windows/1.0.0.0";
const APPLOCKER: (&str, &str) = (
    "Microsoft-Windows-AppLocker",
    "{cbda4dbf-8d5d-4f69-9578-be14aa540d22}",
);

/// Where the outer template puts the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum PayloadPlace {
    None,
    /// `<UserData>%19</UserData>` (RuleAndFileData, LogFileCleared, bookmarks).
    UserData,
    /// `%19` directly under `<Event>`: the inner root is `<EventData>`.
    EventData,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct OuterKey {
    host: usize,
    channel: Channel,
    provider: u8,
    place: PayloadPlace,
    qualifiers: bool,
    user: bool,
    rendering: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum InnerKey {
    File(PayloadShape, bool, bool),
    Package(bool),
    Wdac,
    Bookmark,
    ServiceState,
    LogCleared,
}

/// Builds template instances for events, caching templates (one encoder per thread).
pub(crate) struct Encoder<'a> {
    fleet: &'a Fleet,
    outer: HashMap<OuterKey, Template>,
    inner: HashMap<InnerKey, Template>,
}

/// Provider of a record: (Name, Guid, EventSourceName).
fn provider(code: u8) -> (&'static str, Option<&'static str>, Option<&'static str>) {
    match code {
        0 => (APPLOCKER.0, Some(APPLOCKER.1), None),
        1 => ("Microsoft-Windows-EventForwarder", None, None),
        2 => (
            "Service Control Manager",
            Some("{555908d1-a6d7-4695-8e1e-26931d2012f4}"),
            Some("Service Control Manager"),
        ),
        _ => (
            "Microsoft-Windows-Eventlog",
            Some("{fc65ddd8-d6ef-4962-83d5-6e5cfe9ce148}"),
            None,
        ),
    }
}

impl<'a> Encoder<'a> {
    /// An encoder for events of `fleet`.
    pub(crate) fn new(fleet: &'a Fleet) -> Self {
        Encoder {
            fleet,
            outer: HashMap::new(),
            inner: HashMap::new(),
        }
    }

    /// The record for `event`. `rendered` adds RenderingInfo, as a collector subscribed
    /// with the RenderedText format stores it (§5.3).
    pub(crate) fn instance(&mut self, event: &Event, rendered: bool) -> Instance {
        let host = &self.fleet.hosts[event.host];
        let style = host.style;
        let (provider_code, place, level, payload) = match &event.payload {
            Payload::PolicyApplied => (0, PayloadPlace::None, 4, None),
            Payload::File(f) => (
                0,
                PayloadPlace::UserData,
                level_of(event.event_id),
                Some(self.file_payload(f, event, style)),
            ),
            Payload::Package(p) => (
                0,
                PayloadPlace::UserData,
                level_of(event.event_id),
                Some(self.package_payload(p, event, style)),
            ),
            Payload::Wdac(w) => (
                0,
                PayloadPlace::EventData,
                level_of(event.event_id),
                Some(self.wdac_payload(w)),
            ),
            Payload::Noise(n) => {
                let (code, place, payload) = self.noise_payload(n, &host.short_name);
                (code, place, 4, Some(payload))
            }
        };
        let is_noise = matches!(event.payload, Payload::Noise(_));
        let key = OuterKey {
            host: event.host,
            channel: event.channel,
            provider: provider_code,
            place,
            qualifiers: provider_code == 2,
            user: !matches!(event.payload, Payload::Noise(Noise::SubscriptionBookmark)),
            rendering: rendered && !is_noise,
        };
        let computer = host.computer.clone();
        let template = self
            .outer
            .entry(key)
            .or_insert_with(|| outer_template(key, &computer))
            .clone();

        let mut values = vec![Value::Null; if key.rendering { 28 } else { 20 }];
        values[0] = Value::UInt8(level);
        values[1] = Value::UInt8(0);
        values[2] = Value::UInt16(0);
        values[3] = Value::UInt16(event.event_id);
        if key.qualifiers {
            values[4] = Value::UInt16(16384);
        }
        values[5] = Value::HexInt64(event.channel.keywords());
        values[6] = Value::FileTime(evtx_writer::filetime_from_unix_nanos(event.time));
        values[8] = Value::UInt32(event.process_id);
        values[9] = Value::UInt32(event.thread_id);
        values[10] = Value::UInt64(event.record_id);
        values[11] = Value::UInt8(0);
        if key.user {
            values[12] = Value::sid(&event.user_sid).expect("generated SIDs are valid");
        }
        if let Some(payload) = payload {
            values[19] = Value::BinXml(Box::new(payload));
        }
        if key.rendering {
            let (message, level_text) = rendering_text(event, host.culture);
            let culture = host.culture;
            for (slot, text) in [
                (20, culture.to_owned()),
                (21, message),
                (22, level_text.to_owned()),
                (23, "None".to_owned()),
                (24, "Info".to_owned()),
                (25, event.channel.name().to_owned()),
                (26, "Microsoft-Windows-AppLocker".to_owned()),
                (27, String::new()),
            ] {
                values[slot] = Value::String(text);
            }
        }
        Instance::new(&template, values)
    }

    fn file_payload(&mut self, f: &FileData, event: &Event, style: HostStyle) -> Instance {
        let key = InnerKey::File(style.payload, style.hash_as_text, style.rule_id_as_text);
        let template = self
            .inner
            .entry(key)
            .or_insert_with(|| file_template(style))
            .clone();
        let policy = f.collection.as_str();
        let hash = if style.hash_as_text {
            Value::String(format!("0x{}", hex_upper(&f.file_hash)))
        } else {
            Value::Binary(f.file_hash.to_vec())
        };
        let mut fields: Vec<(&str, Value)> = vec![
            ("PolicyNameLength", len16(policy)),
            ("PolicyName", Value::string(policy)),
            ("RuleId", rule_id(f.rule.id, style)),
            ("RuleNameLength", len16(f.rule.name)),
            ("RuleName", Value::string(f.rule.name)),
            ("RuleSddlLength", len16(f.rule.sddl)),
            ("RuleSddl", Value::string(f.rule.sddl)),
            (
                "TargetUser",
                Value::sid(&event.user_sid).expect("valid SID"),
            ),
            ("TargetProcessId", Value::UInt32(f.target_process_id)),
            ("FilePathLength", len16(&f.file_path)),
            ("FilePath", Value::string(&f.file_path)),
            ("FileHashLength", Value::UInt16(32)),
            ("FileHash", hash),
            ("FqbnLength", len16(&f.fqbn)),
            ("Fqbn", Value::string(&f.fqbn)),
            ("TargetLogonId", Value::HexInt64(f.logon_id)),
            ("FullFilePathLength", len16(&f.full_file_path)),
            ("FullFilePath", Value::string(&f.full_file_path)),
        ];
        fields.retain(|(name, _)| file_fields(style.payload).contains(name));
        Instance::new(&template, fields.into_iter().map(|(_, v)| v).collect())
    }

    fn package_payload(&mut self, p: &PackageData, event: &Event, style: HostStyle) -> Instance {
        let template = self
            .inner
            .entry(InnerKey::Package(style.rule_id_as_text))
            .or_insert_with(|| package_template(style))
            .clone();
        let values = vec![
            len16("APPX"),
            Value::string("APPX"),
            rule_id(p.rule.id, style),
            len16(p.rule.name),
            Value::string(p.rule.name),
            len16(p.rule.sddl),
            Value::string(p.rule.sddl),
            Value::sid(&event.user_sid).expect("valid SID"),
            Value::UInt32(p.target_process_id),
            len16(&p.package),
            Value::string(&p.package),
            len16(&p.fqbn),
            Value::string(&p.fqbn),
        ];
        Instance::new(&template, values)
    }

    fn wdac_payload(&mut self, w: &WdacData) -> Instance {
        let template = self
            .inner
            .entry(InnerKey::Wdac)
            .or_insert_with(|| event_data_template(&["FilePath", "Sha1Hash", "Sha256Hash"]));
        Instance::new(
            template,
            vec![
                Value::string(&w.file_path),
                Value::string(&w.sha1_hex),
                Value::string(&w.sha256_hex),
            ],
        )
    }

    fn noise_payload(&mut self, noise: &Noise, host_name: &str) -> (u8, PayloadPlace, Instance) {
        match noise {
            Noise::SubscriptionBookmark => {
                let t = self.inner.entry(InnerKey::Bookmark).or_insert_with(|| {
                    Template::new(
                        Element::new("SubscriptionBookmarkEvent")
                            .attr(
                                "xmlns",
                                "http://manifests.microsoft.com/win/2004/08/windows/eventforwarder",
                            )
                            .child(Element::new("SubscriptionId").subst(0, T::String)),
                    )
                });
                (
                    1,
                    PayloadPlace::UserData,
                    Instance::new(t, vec![Value::string("AppLocker")]),
                )
            }
            Noise::ServiceState { running } => {
                let t = self
                    .inner
                    .entry(InnerKey::ServiceState)
                    .or_insert_with(|| event_data_template(&["param1", "param2", "param3"]));
                let state = if *running { "running" } else { "stopped" };
                // param3 is the service key name as hex UTF-16 ("AppIDSvc"), as Windows logs it.
                let binary = "4100700070004900440053007600630000000000";
                let values = vec![
                    Value::string("Application Identity"),
                    Value::string(state),
                    Value::string(binary),
                ];
                (2, PayloadPlace::EventData, Instance::new(t, values))
            }
            Noise::LogCleared { channel } => {
                let t = self.inner.entry(InnerKey::LogCleared).or_insert_with(|| {
                    Template::new(
                        Element::new("LogFileCleared")
                            .attr(
                                "xmlns",
                                "http://manifests.microsoft.com/win/2004/08/windows/eventlog",
                            )
                            .child(Element::new("SubjectUserName").subst(0, T::String))
                            .child(Element::new("SubjectDomainName").subst(1, T::String))
                            .child(Element::new("Channel").subst(2, T::String))
                            .child(Element::new("BackupPath").subst(3, T::String)),
                    )
                });
                let user = format!("adm-{}", host_name.to_lowercase());
                let values = vec![
                    Value::string(user),
                    Value::string("CORP"),
                    Value::string(channel.name()),
                    Value::string(""),
                ];
                (3, PayloadPlace::UserData, Instance::new(t, values))
            }
        }
    }
}

fn level_of(event_id: u16) -> u8 {
    match event_id {
        8003 | 8006 | 8021 | 8024 | 8028 => 3,
        8004 | 8007 | 8022 | 8025 | 8029 => 2,
        _ => 4,
    }
}

fn len16(s: &str) -> Value {
    Value::UInt16(s.encode_utf16().count() as u16)
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn rule_id(id: &str, style: HostStyle) -> Value {
    if style.rule_id_as_text {
        Value::String(format!("{{{}}}", id.to_uppercase()))
    } else {
        Value::guid(id).expect("rule ids are valid GUIDs")
    }
}

fn file_fields(shape: PayloadShape) -> &'static [&'static str] {
    const ALL: &[&str] = &[
        "PolicyNameLength",
        "PolicyName",
        "RuleId",
        "RuleNameLength",
        "RuleName",
        "RuleSddlLength",
        "RuleSddl",
        "TargetUser",
        "TargetProcessId",
        "FilePathLength",
        "FilePath",
        "FileHashLength",
        "FileHash",
        "FqbnLength",
        "Fqbn",
        "TargetLogonId",
        "FullFilePathLength",
        "FullFilePath",
    ];
    const NO_LENGTHS: &[&str] = &[
        "PolicyName",
        "RuleId",
        "RuleName",
        "RuleSddl",
        "TargetUser",
        "TargetProcessId",
        "FilePath",
        "FileHash",
        "Fqbn",
    ];
    match shape {
        PayloadShape::Full => ALL,
        PayloadShape::NoFullFilePath => &ALL[..16],
        PayloadShape::NoTargetLogonId => &ALL[..15],
        PayloadShape::NoLengths => NO_LENGTHS,
    }
}

fn field_type(name: &str, style: HostStyle) -> T {
    match name {
        "RuleId" if style.rule_id_as_text => T::String,
        "RuleId" => T::Guid,
        "FileHash" if style.hash_as_text => T::String,
        "FileHash" => T::Binary,
        "TargetUser" => T::Sid,
        "TargetProcessId" => T::UInt32,
        "TargetLogonId" => T::HexInt64,
        n if n.ends_with("Length") => T::UInt16,
        _ => T::String,
    }
}

fn file_template(style: HostStyle) -> Template {
    let mut root = Element::new("RuleAndFileData").attr("xmlns", RULE_NS);
    if style.payload == PayloadShape::NoLengths {
        // Some exports add a second namespace attribute (applocker-events.md §3.1).
        root = root.attr(
            "xmlns:auto-ns2",
            "http://schemas.microsoft.com/win/2004/08/events",
        );
    }
    for (slot, name) in file_fields(style.payload).iter().enumerate() {
        root = root.child(Element::new(*name).subst(slot as u16, field_type(name, style)));
    }
    Template::new(root)
}

fn package_template(style: HostStyle) -> Template {
    let names = [
        "PolicyNameLength",
        "PolicyName",
        "RuleId",
        "RuleNameLength",
        "RuleName",
        "RuleSddlLength",
        "RuleSddl",
        "TargetUser",
        "TargetProcessId",
        "PackageLength",
        "Package",
        "FqbnLength",
        "Fqbn",
    ];
    let mut root = Element::new("RuleAndFileData").attr("xmlns", RULE_NS);
    for (slot, name) in names.iter().enumerate() {
        root = root.child(Element::new(*name).subst(slot as u16, field_type(name, style)));
    }
    Template::new(root)
}

fn event_data_template(names: &[&str]) -> Template {
    let mut root = Element::new("EventData");
    for (slot, name) in names.iter().enumerate() {
        root = root.child(
            Element::new("Data")
                .attr("Name", *name)
                .subst(slot as u16, T::String),
        );
    }
    Template::new(root)
}

/// Windows' newer System template (evtx-format.md §5.1), with literal provider, channel and
/// computer, in the variant that fits the record.
fn outer_template(key: OuterKey, computer: &str) -> Template {
    let (name, guid, source) = provider(key.provider);
    let mut provider = Element::new("Provider").attr("Name", name);
    if let Some(guid) = guid {
        provider = provider.attr("Guid", guid);
    }
    if let Some(source) = source {
        provider = provider.attr("EventSourceName", source);
    }
    let mut event_id = Element::new("EventID");
    if key.qualifiers {
        event_id = event_id.attr_subst("Qualifiers", 4, T::UInt16);
    }
    let mut security = Element::new("Security");
    if key.user {
        security = security.attr_subst("UserID", 12, T::Sid);
    }
    let system = Element::new("System")
        .child(provider)
        .child(event_id.depends_on(3).opt_subst(3, T::UInt16))
        .child(
            Element::new("Version")
                .depends_on(11)
                .opt_subst(11, T::UInt8),
        )
        .child(Element::new("Level").depends_on(0).opt_subst(0, T::UInt8))
        .child(Element::new("Task").depends_on(2).opt_subst(2, T::UInt16))
        .child(Element::new("Opcode").depends_on(1).opt_subst(1, T::UInt8))
        .child(
            Element::new("Keywords")
                .depends_on(5)
                .opt_subst(5, T::HexInt64),
        )
        .child(Element::new("TimeCreated").attr_subst("SystemTime", 6, T::FileTime))
        .child(
            Element::new("EventRecordID")
                .depends_on(10)
                .opt_subst(10, T::UInt64),
        )
        .child(Element::new("Correlation"))
        .child(
            Element::new("Execution")
                .attr_subst("ProcessID", 8, T::UInt32)
                .attr_subst("ThreadID", 9, T::UInt32),
        )
        .child(Element::new("Channel").text(key.channel.name()))
        .child(Element::new("Computer").text(computer))
        .child(security);
    let mut event = Element::new("Event").attr("xmlns", EVENT_NS).child(system);
    match key.place {
        PayloadPlace::None => {}
        PayloadPlace::UserData => {
            event = event.child(
                Element::new("UserData")
                    .depends_on(19)
                    .opt_subst(19, T::BinXml),
            )
        }
        PayloadPlace::EventData => event = event.opt_subst(19, T::BinXml),
    }
    if key.rendering {
        event = event.child(
            Element::new("RenderingInfo")
                .attr_subst("Culture", 20, T::String)
                .child(Element::new("Message").subst(21, T::String))
                .child(Element::new("Level").subst(22, T::String))
                .child(Element::new("Task").subst(23, T::String))
                .child(Element::new("Opcode").subst(24, T::String))
                .child(Element::new("Channel").subst(25, T::String))
                .child(Element::new("Provider").subst(26, T::String))
                .child(
                    Element::new("Keywords").child(Element::new("Keyword").subst(27, T::String)),
                ),
        );
    }
    Template::new(event)
}

/// The localized message a RenderedText subscription carries (never parsed by lockstep).
fn rendering_text(event: &Event, culture: &str) -> (String, &'static str) {
    let subject = match &event.payload {
        Payload::File(f) => f.file_path.clone(),
        Payload::Package(p) => p.package.clone(),
        Payload::Wdac(w) => w.file_path.clone(),
        _ => String::new(),
    };
    let german = culture == "de-DE";
    let (message, level) = match (event.event_id, german) {
        (8001, false) => (
            "The AppLocker policy was applied successfully to this computer.".to_owned(),
            "Information",
        ),
        (8001, true) => (
            "Die AppLocker-Richtlinie wurde erfolgreich auf diesen Computer angewendet.".to_owned(),
            "Informationen",
        ),
        (8002 | 8005 | 8020, false) => (format!("{subject} was allowed to run."), "Information"),
        (8002 | 8005 | 8020, true) => (
            format!("Die Ausführung von {subject} wurde zugelassen."),
            "Informationen",
        ),
        (8023, _) => (
            format!("{subject} was allowed to be installed."),
            "Information",
        ),
        (8004 | 8007 | 8022 | 8025 | 8029, false) => {
            (format!("{subject} was prevented from running."), "Error")
        }
        (8004 | 8007 | 8022 | 8025 | 8029, true) => (
            format!("Die Ausführung von {subject} wurde verhindert."),
            "Fehler",
        ),
        (_, false) => (
            format!(
                "{subject} was allowed to run but would have been prevented from running if the AppLocker policy were enforced."
            ),
            "Warning",
        ),
        (_, true) => (
            format!(
                "Die Ausführung von {subject} wurde zugelassen, wäre aber bei Erzwingung der AppLocker-Richtlinie verhindert worden."
            ),
            "Warnung",
        ),
    };
    (message, level)
}
