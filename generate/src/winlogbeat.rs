//! A record as Winlogbeat (and Elastic Agent's Windows integration) ships it: the `winlog.*`
//! fields of Elastic's Winlogbeat field reference, the ECS `event.*`, `host.name`,
//! `log.level`, and `@timestamp` to the millisecond, built from the same rendered record as
//! the EVTX and XML forms (`evtx_writer::Node`), so every form carries the same values.

use evtx_writer::Node;
use serde_json::{Map, Value, json};

/// The Winlogbeat document of `record`, shipped by the agent on `agent_host`.
pub(crate) fn document(record: &Node, agent_host: &str) -> Value {
    let system = record.child("System");
    let text = |name: &str| {
        system
            .and_then(|s| s.child(name))
            .map(|n| n.text.clone())
            .unwrap_or_default()
    };
    let attr = |element: &str, name: &str| {
        system
            .and_then(|s| s.child(element))
            .and_then(|n| n.attr(name))
            .map(str::to_owned)
    };
    let event_id = text("EventID");
    let provider = attr("Provider", "Name").unwrap_or_default();
    let time = attr("TimeCreated", "SystemTime").unwrap_or_default();
    let mut winlog = Map::new();
    winlog.insert("api".into(), "wineventlog".into());
    winlog.insert("channel".into(), text("Channel").into());
    winlog.insert("computer_name".into(), text("Computer").into());
    winlog.insert("event_id".into(), event_id.clone().into());
    winlog.insert("provider_name".into(), provider.clone().into());
    if let Some(guid) = attr("Provider", "Guid") {
        winlog.insert("provider_guid".into(), guid.into());
    }
    winlog.insert("record_id".into(), text("EventRecordID").into());
    if let (Some(pid), Some(tid)) = (
        attr("Execution", "ProcessID"),
        attr("Execution", "ThreadID"),
    ) {
        winlog.insert(
            "process".into(),
            json!({"pid": pid.parse::<u64>().unwrap_or(0), "thread": {"id": tid.parse::<u64>().unwrap_or(0)}}),
        );
    }
    if let Some(sid) = attr("Security", "UserID") {
        winlog.insert("user".into(), json!({ "identifier": sid }));
    }
    // UserData's element (RuleAndFileData…) flattened with its name in `xml_name`;
    // EventData's `Data` items by their `Name`.
    if let Some(data) = record.child("UserData").and_then(|u| u.children.first()) {
        let mut fields = Map::new();
        fields.insert("xml_name".into(), data.name.clone().into());
        for field in &data.children {
            fields.insert(field.name.clone(), field.text.clone().into());
        }
        winlog.insert("user_data".into(), Value::Object(fields));
    } else if let Some(data) = record.child("EventData") {
        let fields: Map<String, Value> = data
            .children
            .iter()
            .filter_map(|d| Some((d.attr("Name")?.to_owned(), d.text.clone().into())))
            .collect();
        winlog.insert("event_data".into(), Value::Object(fields));
    }
    let level = match text("Level").as_str() {
        "2" => "error",
        "3" => "warning",
        _ => "information",
    };
    json!({
        "@timestamp": milliseconds(&time),
        "event": {"code": event_id, "kind": "event", "provider": provider, "module": "windows"},
        "host": {"name": agent_host},
        "log": {"level": level},
        "winlog": Value::Object(winlog),
    })
}

/// `2026-10-05T09:12:33.1234567Z` as Elasticsearch keeps `@timestamp`:
/// `2026-10-05T09:12:33.123Z`.
fn milliseconds(system_time: &str) -> String {
    match system_time.split_once('.') {
        Some((seconds, fraction)) => {
            let digits: String = fraction
                .chars()
                .filter(char::is_ascii_digit)
                .take(3)
                .collect();
            format!("{seconds}.{digits:0<3}Z")
        }
        None => system_time.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_cut_to_the_millisecond() {
        assert_eq!(
            milliseconds("2026-10-05T09:12:33.1239999Z"),
            "2026-10-05T09:12:33.123Z"
        );
        assert_eq!(
            milliseconds("2026-10-05T09:12:33.1Z"),
            "2026-10-05T09:12:33.100Z"
        );
    }
}
