//! Alerts on unexpected blocks (`serve --alert-webhook URL`): every interval, each group
//! with a rollout record is monitored; an app blocked without a `block` decision, and more
//! than `burst_events` unexpected blocks within `burst_period`, each become an alert once
//! (kept in the workspace, so a restart does not repeat them). Alerts are POSTed as JSON
//! with a `text` field that Teams and Slack incoming webhooks display; a failed delivery is
//! retried with backoff. The loop takes query turns like any request, on its own task:
//! ingest and the API never wait for it.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::rustls::pki_types::ServerName;

use crate::state::AppState;

/// Where and when alerts go.
#[derive(Debug, Clone)]
pub struct AlertSettings {
    pub webhook: Webhook,
    /// How often the groups are looked at.
    pub interval: Duration,
    /// More unexpected blocks than this within `burst_period` is a burst.
    pub burst_events: u64,
    pub burst_period: Duration,
    /// The first retry waits this long; each next one twice as long, at most an hour.
    pub retry_base: Duration,
}

impl AlertSettings {
    /// Seconds between looks unless told otherwise.
    pub const DEFAULT_INTERVAL_SECS: u64 = 60;
    /// The default burst: more than 20 unexpected blocks in an hour.
    pub const DEFAULT_BURST_EVENTS: u64 = 20;
    pub const DEFAULT_BURST_PERIOD: Duration = Duration::from_secs(3600);

    /// The defaults for `webhook`.
    pub fn new(webhook: Webhook) -> AlertSettings {
        AlertSettings {
            webhook,
            interval: Duration::from_secs(Self::DEFAULT_INTERVAL_SECS),
            burst_events: Self::DEFAULT_BURST_EVENTS,
            burst_period: Self::DEFAULT_BURST_PERIOD,
            retry_base: Duration::from_secs(30),
        }
    }
}

impl AlertSettings {
    /// The settings `lockstep alerts set` kept in the workspace.
    pub fn from_config(kept: &workspace::AlertConfig) -> Result<AlertSettings, String> {
        Ok(AlertSettings {
            interval: Duration::from_secs(kept.interval_secs.max(1)),
            burst_events: kept.burst_events,
            burst_period: Duration::from_secs(kept.burst_period_secs.max(3600)),
            ..AlertSettings::new(Webhook::parse(&kept.webhook)?)
        })
    }
}

/// A webhook URL: `http://` or `https://`, a host, an optional port and a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub https: bool,
    pub host: String,
    pub port: u16,
    /// The path and query, `/` at least.
    pub path: String,
}

impl Webhook {
    /// Parses `url`, saying what is wrong with it.
    pub fn parse(url: &str) -> Result<Webhook, String> {
        let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(format!("{url:?} is not an http:// or https:// URL"));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.contains('@') {
            return Err(format!("{url:?}: user names in the URL are not supported"));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => {
                let port = port
                    .parse()
                    .map_err(|_| format!("{url:?}: {port:?} is not a port"))?;
                (host, port)
            }
            _ => (authority, if https { 443 } else { 80 }),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("{url:?} names no host"));
        }
        if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "{url:?}: the path has spaces or control characters"
            ));
        }
        Ok(Webhook {
            https,
            host: host.to_owned(),
            port,
            path: path.to_owned(),
        })
    }

    /// `host:port`, with brackets around an IPv6 host.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Runs until `stopping` says so.
pub(crate) async fn run(
    state: Arc<AppState>,
    settings: AlertSettings,
    mut stopping: watch::Receiver<bool>,
) {
    loop {
        if let Err(e) = look(&state, &settings).await {
            tracing::warn!(target: "lockstep::alerts", "looking for alerts: {e}");
        }
        deliver(&state, &settings).await;
        tokio::select! {
            () = tokio::time::sleep(settings.interval) => {}
            _ = stopping.changed() => return,
        }
    }
}

/// Keeps an alert for each new unexpected app and each burst of every group with a record.
async fn look(state: &AppState, settings: &AlertSettings) -> Result<(), String> {
    let ws = state.workspace().map_err(|e| e.message)?.clone();
    let groups = ws.groups_with_rollouts().map_err(|e| e.to_string())?;
    for group in groups {
        let name = group.clone();
        let monitor = state
            .query(|session| async move { Ok(session.monitor(&name).await?) })
            .await
            .map_err(|e| e.message)?;
        for app in &monitor.exceptions {
            let message = format!(
                "lockstep: {group}: {} was blocked without a decision ({} event(s) on {} host(s), last {}). Allow it (a decision, then publish and roll out) or confirm the block.",
                app.app.label,
                app.app.events,
                app.app.hosts,
                app.app
                    .last_seen
                    .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                    .unwrap_or_default()
            );
            let key = format!("app:{}", app.app.app_id);
            if ws
                .add_alert(&group, &key, "new_unexpected_app", &message)
                .map_err(|e| e.to_string())?
            {
                tracing::info!(target: "lockstep::alerts", %group, %key, "alert");
            }
        }
        let since = query::versions::hour_before(settings.burst_period);
        let recent: u64 = monitor
            .unexpected_by_hour
            .range(since..)
            .map(|(_, n)| n)
            .sum();
        if recent > settings.burst_events {
            let latest = monitor
                .unexpected_by_hour
                .keys()
                .next_back()
                .cloned()
                .unwrap_or_default();
            let message = format!(
                "lockstep: {group}: {recent} unexpected blocks within {} h (more than {}); the exception queue is on the group's page.",
                settings.burst_period.as_secs() / 3600,
                settings.burst_events
            );
            ws.add_alert(&group, &format!("burst:{latest}"), "burst", &message)
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// Sends the alerts that are due; a failure is kept for a later try.
async fn deliver(state: &AppState, settings: &AlertSettings) {
    let Ok(ws) = state.workspace() else { return };
    let due = match ws.due_alerts() {
        Ok(due) => due,
        Err(e) => {
            tracing::warn!(target: "lockstep::alerts", "reading the alerts: {e}");
            return;
        }
    };
    for alert in due {
        let body = serde_json::json!({
            "text": alert.message,
            "group": alert.group,
            "kind": alert.kind,
            "key": alert.key,
            "created_at": alert.created_at,
        })
        .to_string();
        match tokio::time::timeout(Duration::from_secs(10), post(&settings.webhook, &body)).await {
            Ok(Ok(())) => {
                let _ = ws.alert_delivered(alert.id);
            }
            outcome => {
                let error = match outcome {
                    Ok(Err(e)) => e,
                    _ => "no answer within 10 s".to_owned(),
                };
                let wait = settings
                    .retry_base
                    .saturating_mul(1 << alert.attempts.clamp(0, 16))
                    .min(Duration::from_secs(3600));
                tracing::warn!(target: "lockstep::alerts", key = %alert.key, "delivering an alert: {error}; again in {} s", wait.as_secs());
                let _ = ws.alert_failed(alert.id, &error, wait);
            }
        }
    }
}

/// POSTs `body` as JSON; `Ok` on a 2xx answer.
async fn post(webhook: &Webhook, body: &str) -> Result<(), String> {
    let stream = TcpStream::connect(webhook.address())
        .await
        .map_err(|e| format!("{}: {e}", webhook.address()))?;
    if !webhook.https {
        return exchange(stream, webhook, body).await;
    }
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = ServerName::try_from(webhook.host.clone()).map_err(|e| e.to_string())?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, stream)
        .await
        .map_err(|e| format!("TLS with {}: {e}", webhook.host))?;
    exchange(stream, webhook, body).await
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    webhook: &Webhook,
    body: &str,
) -> Result<(), String> {
    let request = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nUser-Agent: lockstep/{}\r\nConnection: close\r\n\r\n{body}",
        webhook.path,
        webhook.host,
        body.len(),
        env!("CARGO_PKG_VERSION")
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut status = [0u8; 12];
    stream
        .read_exact(&mut status)
        .await
        .map_err(|e| format!("no answer: {e}"))?;
    let code = std::str::from_utf8(&status[9..12]).unwrap_or("");
    if code.starts_with('2') {
        Ok(())
    } else {
        Err(format!("the webhook answered {code}"))
    }
}

#[cfg(test)]
mod tests {
    use super::Webhook;

    #[test]
    fn webhook_urls() {
        let w = Webhook::parse("https://example.webhook.office.com/webhookb2/abc?x=1").unwrap();
        assert_eq!(
            (w.https, w.host.as_str(), w.port, w.path.as_str()),
            (
                true,
                "example.webhook.office.com",
                443,
                "/webhookb2/abc?x=1"
            )
        );
        let w = Webhook::parse("http://127.0.0.1:9000").unwrap();
        assert_eq!((w.https, w.port, w.path.as_str()), (false, 9000, "/"));
        let w = Webhook::parse("http://[::1]:9000/hook").unwrap();
        assert_eq!((w.host.as_str(), w.port), ("::1", 9000));
        for (bad, says) in [
            ("ftp://x/", "not an http:// or https:// URL"),
            ("hooks.slack.com/x", "not an http:// or https:// URL"),
            ("http://:80/", "names no host"),
            ("http://h:port/", "is not a port"),
            ("http://u:p@h/", "user names"),
            ("http://h/a b", "spaces"),
        ] {
            let e = Webhook::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
