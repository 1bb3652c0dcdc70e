//! The events a host logs, in time order, generated lazily so memory stays bounded
//! whatever `--events` is.
//!
//! [`Event`] is also the generator's bookkeeping: tests compute expected report rows from
//! these values, independently of lockstep's own ingest and queries.

use crate::catalog::{AppSpec, Collection, file_hash, fqbn_version};
use crate::fleet::{Fleet, Host, HostRole};
use crate::flip::CANDIDATE_RULE;
use crate::policy::{NO_RULE, RuleRef, allowing_rule, applocker_path};
use crate::rng::{Rng, stable_hash};

const NANOS_PER_HOUR: i64 = 3_600_000_000_000;

/// The log an event lands in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Channel {
    ExeAndDll,
    MsiAndScript,
    PackagedAppExecution,
    PackagedAppDeployment,
    /// Noise only: the System log.
    System,
    /// Noise only: the collector's own records.
    ForwardedEvents,
}

impl Channel {
    /// The four AppLocker channels, in the order of [`Channel::index`].
    pub const APPLOCKER: [Channel; 4] = [
        Channel::ExeAndDll,
        Channel::MsiAndScript,
        Channel::PackagedAppExecution,
        Channel::PackagedAppDeployment,
    ];

    /// `System/Channel` as Windows logs it.
    pub fn name(self) -> &'static str {
        match self {
            Channel::ExeAndDll => "Microsoft-Windows-AppLocker/EXE and DLL",
            Channel::MsiAndScript => "Microsoft-Windows-AppLocker/MSI and Script",
            Channel::PackagedAppExecution => "Microsoft-Windows-AppLocker/Packaged app-Execution",
            Channel::PackagedAppDeployment => "Microsoft-Windows-AppLocker/Packaged app-Deployment",
            Channel::System => "System",
            Channel::ForwardedEvents => "ForwardedEvents",
        }
    }

    /// The file Windows keeps the channel in: `/` becomes `%4` (applocker-events.md §1).
    pub fn file_name(self) -> String {
        format!("{}.evtx", self.name().replace('/', "%4"))
    }

    /// Position in [`Channel::APPLOCKER`]; noise channels have none.
    pub fn index(self) -> Option<usize> {
        Channel::APPLOCKER.iter().position(|c| *c == self)
    }

    /// `System/Keywords` of AppLocker events in this channel (evtx-format.md §5.1).
    pub fn keywords(self) -> u64 {
        match self {
            Channel::ExeAndDll => 0x8000_0000_0000_0000,
            Channel::MsiAndScript => 0x4000_0000_0000_0000,
            Channel::PackagedAppExecution => 0x2000_0000_0000_0000,
            Channel::PackagedAppDeployment => 0x1000_0000_0000_0000,
            Channel::System => 0x8080_0000_0000_0000,
            Channel::ForwardedEvents => 0x4000_0000_0000_0000,
        }
    }
}

/// What the policy decided (the event ID follows from it and the collection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Outcome {
    Allowed,
    Audit,
    Blocked,
}

/// One event as the generator decided it.
#[derive(Debug, Clone)]
pub struct Event {
    /// Index into `Fleet::hosts`.
    pub host: usize,
    /// `TimeCreated`, nanoseconds since the Unix epoch (UTC), 100-ns resolution.
    pub time: i64,
    pub channel: Channel,
    pub event_id: u16,
    /// `System/EventRecordID`: the host's own counter for the channel.
    pub record_id: u64,
    /// `System/Execution` process and thread.
    pub process_id: u32,
    pub thread_id: u32,
    /// `System/Security/@UserID` (and `TargetUser`).
    pub user_sid: String,
    pub payload: Payload,
}

/// The event's payload.
#[derive(Debug, Clone)]
pub enum Payload {
    /// 8001: policy applied, no payload.
    PolicyApplied,
    /// 8002–8007: `RuleAndFileData`, file form.
    File(FileData),
    /// 8020–8025: `RuleAndFileData`, package form.
    Package(PackageData),
    /// 8028/8029: App Control script check, `EventData` form.
    Wdac(WdacData),
    /// Not AppLocker: collector and System records in forwarded files.
    Noise(Noise),
}

/// File-form payload (applocker-events.md §3.1).
#[derive(Debug, Clone)]
pub struct FileData {
    /// Index into `Fleet::catalog`.
    pub app: usize,
    pub collection: Collection,
    pub outcome: Outcome,
    pub rule: RuleRef,
    pub target_process_id: u32,
    /// AppLocker form: upper case, `%OSDRIVE%\…`.
    pub file_path: String,
    /// On-disk form, original case.
    pub full_file_path: String,
    pub file_hash: [u8; 32],
    /// `PUBLISHER\PRODUCT\BINARY\VERSION`, or `-` for unsigned files.
    pub fqbn: String,
    pub version: [u32; 4],
    pub logon_id: u64,
}

/// Package-form payload (applocker-events.md §3.2).
#[derive(Debug, Clone)]
pub struct PackageData {
    pub app: usize,
    pub outcome: Outcome,
    pub rule: RuleRef,
    pub target_process_id: u32,
    pub package: String,
    pub fqbn: String,
    pub version: [u32; 4],
}

/// App Control script event payload (applocker-events.md §3.4).
#[derive(Debug, Clone)]
pub struct WdacData {
    pub app: usize,
    /// NT device path, e.g. `\Device\HarddiskVolume3\Users\…`.
    pub file_path: String,
    pub sha1_hex: String,
    pub sha256_hex: String,
}

/// Records that are not AppLocker events (they must be skipped and counted by ingest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Noise {
    /// `Microsoft-Windows-EventForwarder` 111: a source subscribed.
    SubscriptionBookmark,
    /// `Service Control Manager` 7036: the Application Identity service state.
    ServiceState { running: bool },
    /// `Microsoft-Windows-Eventlog` 104 whose *payload* names an AppLocker channel.
    LogCleared { channel: Channel },
}

/// Splits `total` events over hosts by weight (largest remainder, so the sum is exact).
pub fn allocate_events(fleet: &Fleet, total: u64) -> Vec<u64> {
    let weights: Vec<f64> = fleet
        .hosts
        .iter()
        .map(|h| match h.role {
            HostRole::Silent => 0.0,
            HostRole::PolicyOnly => 0.03,
            HostRole::Normal => h.weight,
        })
        .collect();
    let sum: f64 = weights.iter().sum();
    if sum == 0.0 {
        return vec![0; weights.len()];
    }
    let exact: Vec<f64> = weights.iter().map(|w| w / sum * total as f64).collect();
    let mut counts: Vec<u64> = exact.iter().map(|x| x.floor() as u64).collect();
    let mut order: Vec<usize> = (0..exact.len()).collect();
    order.sort_by(|&a, &b| {
        (exact[b] - exact[b].floor())
            .total_cmp(&(exact[a] - exact[a].floor()))
            .then(a.cmp(&b))
    });
    let missing = total - counts.iter().sum::<u64>();
    for &i in order
        .iter()
        .filter(|&&i| weights[i] > 0.0)
        .cycle()
        .take(missing as usize)
    {
        counts[i] += 1;
    }
    counts
}

/// Relative activity in an hour: a working-hours rhythm, quiet nights and weekends.
fn hour_weight(day: usize, hour: usize, start_weekday: usize) -> f64 {
    let weekend = (start_weekday + day) % 7 >= 5;
    let base = match hour {
        9..=11 | 13..=16 => 1.0,
        8 | 12 | 17 => 0.6,
        7 | 18 | 19 => 0.2,
        _ => 0.03,
    };
    if weekend { base * 0.08 } else { base }
}

/// A host's events in time order.
pub struct HostTimeline<'a> {
    fleet: &'a Fleet,
    host_index: usize,
    rng: Rng,
    start: i64,
    days: usize,
    slot_weights: Vec<f64>,
    remaining_weight: f64,
    remaining: u64,
    slot: usize,
    /// Offsets (ns) of the current hour's events, sorted descending (popped from the end).
    pending: Vec<i64>,
    record_ids: [u64; 4],
    service_pid: u32,
}

impl<'a> HostTimeline<'a> {
    /// `count` events for host `host_index` over `days` days from `start` (Unix ns,
    /// midnight UTC of a day whose weekday is `start_weekday`, 0 = Monday).
    pub fn new(
        fleet: &'a Fleet,
        host_index: usize,
        seed: u64,
        start: i64,
        start_weekday: usize,
        days: usize,
        count: u64,
    ) -> Self {
        let mut rng = Rng::new(seed, 0x4057 + host_index as u64);
        let slot_weights: Vec<f64> = (0..days * 24)
            .map(|s| hour_weight(s / 24, s % 24, start_weekday))
            .collect();
        let remaining_weight = slot_weights.iter().sum();
        let record_ids = [0; 4].map(|_| 1_000 + rng.below(90_000));
        let service_pid = 900 + rng.below(8_000) as u32;
        HostTimeline {
            fleet,
            host_index,
            rng,
            start,
            days,
            slot_weights,
            remaining_weight,
            remaining: count,
            slot: 0,
            pending: Vec::new(),
            record_ids,
            service_pid,
        }
    }

    fn host(&self) -> &'a Host {
        &self.fleet.hosts[self.host_index]
    }

    /// Draws the number of events in the next hour and their sorted offsets.
    fn fill_next_hour(&mut self) -> bool {
        while self.pending.is_empty() {
            if self.remaining == 0 || self.slot >= self.slot_weights.len() {
                return false;
            }
            let w = self.slot_weights[self.slot];
            let last = self.slot + 1 == self.slot_weights.len();
            let n = if last {
                self.remaining
            } else {
                let expected = self.remaining as f64 * w / self.remaining_weight;
                let n = expected.floor() as u64 + u64::from(self.rng.chance(expected.fract()));
                n.min(self.remaining)
            };
            self.remaining -= n;
            self.remaining_weight -= w;
            let base = self.start + self.slot as i64 * NANOS_PER_HOUR;
            self.pending = (0..n)
                .map(|_| base + (self.rng.below(36_000_000_000) as i64) * 100)
                .collect();
            self.pending.sort_unstable_by(|a, b| b.cmp(a));
            self.slot += 1;
        }
        true
    }

    fn next_record_id(&mut self, channel: Channel) -> u64 {
        let i = channel.index().expect("AppLocker channel");
        self.record_ids[i] += 1;
        self.record_ids[i]
    }

    fn make_event(&mut self, time: i64) -> Event {
        let host = self.host();
        let user = &self.fleet.users[host.users[if host.users.len() > 1 && self.rng.chance(0.2) {
            1
        } else {
            0
        }]];
        let day = ((time - self.start) / (24 * NANOS_PER_HOUR)) as usize;
        let (channel, event_id, payload) =
            if host.role == HostRole::PolicyOnly || host.apps.is_empty() || self.rng.chance(0.02) {
                (Channel::ExeAndDll, 8001, Payload::PolicyApplied)
            } else {
                self.app_event(day, &user.name)
            };
        let record_id = self.next_record_id(channel);
        Event {
            host: self.host_index,
            time,
            channel,
            event_id,
            record_id,
            process_id: self.service_pid,
            thread_id: 1_000 + self.rng.below(30_000) as u32,
            user_sid: user.sid.clone(),
            payload,
        }
    }

    fn app_event(&mut self, day: usize, user_name: &str) -> (Channel, u16, Payload) {
        let host = self.host();
        let catalog = &self.fleet.catalog;
        // Apps a flip brings have no weight before it (and pre-flip days draw as without it).
        let weights: Vec<f64> = host
            .apps
            .iter()
            .map(|&(i, w)| if catalog[i].first_day > day { 0.0 } else { w })
            .collect();
        let app_index = host.apps[self.rng.weighted(&weights)].0;
        let app = &catalog[app_index];
        let version = self.version_on_day(app_index, day);
        let group = &self.fleet.groups[host.group];
        // After a flip the group enforces its published candidate, not only the current rules.
        let decide_here = |collection: Collection, current: Option<RuleRef>| match current {
            Some(rule) => (Outcome::Allowed, rule),
            None => match group.flip_on(collection, day) {
                Some(flip) if flip.candidate_allows(app_index, app, version) => {
                    (Outcome::Allowed, CANDIDATE_RULE)
                }
                _ => (decide(false, group.enforced_on(collection, day)), NO_RULE),
            },
        };
        let target_process_id = 1_000 + self.rng.below(40_000) as u32 * 4;
        let signed_fqbn = |app: &AppSpec, binary: &str| {
            app.publisher
                .as_ref()
                .map(|p| format!("{p}\\{}\\{binary}\\{}", app.product, fqbn_version(version)))
        };

        if app.collection == Collection::Appx {
            let (outcome, rule) = decide_here(
                Collection::Appx,
                allowing_rule(Collection::Appx, "", app.publisher.as_deref()),
            );
            let deploy = self.rng.chance(0.1);
            let (channel, base) = if deploy {
                (Channel::PackagedAppDeployment, 8023)
            } else {
                (Channel::PackagedAppExecution, 8020)
            };
            let fqbn = signed_fqbn(app, "APPX").unwrap_or_else(|| "-".into());
            let payload = PackageData {
                app: app_index,
                outcome,
                rule,
                target_process_id,
                package: app.path.clone(),
                fqbn,
                version,
            };
            return (
                channel,
                base + outcome_offset(outcome),
                Payload::Package(payload),
            );
        }

        let raw_path = self.raw_path(app, user_name);
        let file_path = applocker_path(&raw_path);
        // %HOT% (USB) paths are logged with the variable; the disk path has a drive letter.
        let full_file_path = raw_path.replace("%HOT%", "F:");
        let (outcome, rule) = decide_here(
            app.collection,
            allowing_rule(app.collection, &file_path, app.publisher.as_deref()),
        );
        let enforced = group.enforced_on(app.collection, day);
        let file_hash = if app.policy_test_noise {
            crate::rng::fake_sha256(&[&full_file_path])
        } else {
            file_hash(app, version)
        };

        // Hosts with an App Control script policy also log 8028/8029 for scripts that policy
        // would not allow (applocker-events.md §2: WDAC, not the AppLocker rules).
        if app.collection == Collection::Script
            && host.wdac
            && outcome != Outcome::Allowed
            && self.rng.chance(0.25)
        {
            let nt_path = full_file_path.replacen("C:", r"\Device\HarddiskVolume3", 1);
            let sha256_hex: String = file_hash.iter().map(|b| format!("{b:02X}")).collect();
            let sha1_hex = sha256_hex[..40].to_string();
            let id = if enforced { 8029 } else { 8028 };
            return (
                Channel::MsiAndScript,
                id,
                Payload::Wdac(WdacData {
                    app: app_index,
                    file_path: nt_path,
                    sha1_hex,
                    sha256_hex,
                }),
            );
        }

        let (channel, base) = match app.collection {
            Collection::Exe | Collection::Dll => (Channel::ExeAndDll, 8002),
            _ => (Channel::MsiAndScript, 8005),
        };
        let fqbn = signed_fqbn(app, &app.binary).unwrap_or_else(|| "-".into());
        let logon_id =
            0x3_0000 + stable_hash(&[user_name, &day.to_string(), &host.short_name]) % 0x40_0000;
        let payload = FileData {
            app: app_index,
            collection: app.collection,
            outcome,
            rule,
            target_process_id,
            file_path,
            full_file_path,
            file_hash,
            fqbn,
            version,
            logon_id,
        };
        (
            channel,
            base + outcome_offset(outcome),
            Payload::File(payload),
        )
    }

    /// Hosts move to newer versions over the window, each on its own day; after a flip, half
    /// of the group's hosts update the app its plan names (crate::flip).
    fn version_on_day(&self, app_index: usize, day: usize) -> [u32; 4] {
        let app = &self.fleet.catalog[app_index];
        let host = self.host();
        let update = self.fleet.groups[host.group]
            .flips
            .iter()
            .filter_map(|f| f.new_version)
            .find(|v| v.app == app_index && day >= v.from_day && v.updates(&host.short_name, app));
        if let Some(update) = update {
            return update.version;
        }
        let n = app.versions.len();
        if n == 1 {
            return app.versions[0];
        }
        let jitter = (stable_hash(&[&self.host().short_name, &app.key])
            % (self.days as u64 / n as u64 + 1)) as usize;
        let step = (self.days / n).max(1);
        app.versions[((day + jitter) / step).min(n - 1)]
    }

    fn raw_path(&mut self, app: &AppSpec, user_name: &str) -> String {
        let path = app.path.replace("{user}", user_name);
        if app.policy_test_noise {
            // PowerShell probes AppLocker with a random 8.3 name on every start.
            const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
            let name: String = (0..12)
                .map(|i| {
                    if i == 8 {
                        '.'
                    } else {
                        *self.rng.pick(LETTERS) as char
                    }
                })
                .collect();
            path.replace("{rand}", &name)
        } else {
            path
        }
    }
}

fn decide(allowed: bool, enforced: bool) -> Outcome {
    match (allowed, enforced) {
        (true, _) => Outcome::Allowed,
        (false, false) => Outcome::Audit,
        (false, true) => Outcome::Blocked,
    }
}

fn outcome_offset(outcome: Outcome) -> u16 {
    match outcome {
        Outcome::Allowed => 0,
        Outcome::Audit => 1,
        Outcome::Blocked => 2,
    }
}

impl Iterator for HostTimeline<'_> {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        if !self.fill_next_hour() {
            return None;
        }
        let time = self.pending.pop()?;
        Some(self.make_event(time))
    }
}
