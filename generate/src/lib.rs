//! `lockstep generate`: a simulated Windows fleet in AppLocker audit mode, written as genuine
//! EVTX files (one per AppLocker channel per host, or Windows Event Forwarding collector
//! files) plus the fleet's `inventory.csv` and a `manifest.json` of what was written.
//!
//! Everything is deterministic for a seed: the same options give byte-identical files.
//! [`Fleet`] and [`HostTimeline`] are public so tests can compute what a report must show
//! from the generator's own decisions, independently of lockstep's ingest and queries.

mod catalog;
mod encode;
mod events;
mod fleet;
mod flip;
pub use flip::{FlipManifest, FlipPlan, ManifestApp, NewVersion};
mod output;
mod policy;
mod winlogbeat;
pub use policy::{CURRENT_POLICY_FILE, current_policy_xml};
mod rng;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use chrono::{Datelike, NaiveDate};
use rayon::prelude::*;

pub use catalog::{AppSpec, Audience, Collection, fqbn_version};
pub use events::{
    Channel, Event, FileData, HostTimeline, Noise, Outcome, PackageData, Payload, WdacData,
    allocate_events,
};
pub use fleet::{
    Fleet, Group, Host, HostRole, HostStyle, InventoryStyle, MAX_GROUPS, PayloadShape, User,
};
pub use output::FileSummary;
pub use policy::{RuleRef, applocker_path};

/// Upper bounds that keep a typo from filling the disk.
/// The Active Directory export written beside the logs ([`Fleet::identities_csv`]).
pub const IDENTITIES_FILE: &str = "identities.csv";
pub const MAX_HOSTS: usize = 100_000;
pub const MAX_DAYS: usize = 3_650;
pub const MAX_EVENTS: u64 = 1_000_000_000;
pub const MAX_COLLECTORS: usize = 1_000;

/// Errors of the generator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid option: {0}")]
    InvalidOption(String),
    #[error("{} is not empty; pass --force to write into it anyway", path.display())]
    OutputNotEmpty { path: PathBuf },
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Evtx(#[from] evtx_writer::Error),
}

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// What to generate. `Options::default()` is the bundled sample fleet's shape.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Options {
    pub seed: u64,
    pub hosts: usize,
    pub groups: usize,
    pub days: usize,
    /// AppLocker events in total (collector noise comes on top).
    pub events: u64,
    /// Number of ForwardedEvents collector files; 0 writes per-host files only.
    pub forwarded: usize,
    /// With `forwarded > 0`: percentage of hosts enrolled in WEF; the rest get per-host files.
    pub wef_coverage: u8,
    /// First day of the window (UTC midnight).
    pub start: NaiveDate,
    /// Write into a non-empty output folder.
    #[serde(skip)]
    pub force: bool,
    /// Flips to Enforce rules during the window (`--enforce GROUP:COLLECTION:DAY`): from
    /// that day the group's hosts log blocks, not audits, for the collection.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enforce: Vec<Flip>,
    /// The export form of the logs (`--format`): EVTX, event XML or Winlogbeat NDJSON.
    #[serde(default, skip_serializing_if = "OutputFormat::is_evtx")]
    pub format: OutputFormat,
    /// With EVTX: the N hosts that log the most events of those with logs of their own (not
    /// forwarded) write them as text exports instead, event XML and Winlogbeat NDJSON in
    /// turn (`--text-exports`), so one fleet has every form, from hosts no EVTX file holds.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub text_exports: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The form `generate` writes the logs in: the same events in each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// `.evtx` files, as Windows keeps them.
    #[default]
    Evtx,
    /// `.xml`: one `<Event>` per line, as `wevtutil qe … /f:xml` prints them.
    Xml,
    /// `.ndjson`: one Winlogbeat document per line, as its file output writes them.
    Winlogbeat,
}

impl OutputFormat {
    fn is_evtx(&self) -> bool {
        *self == OutputFormat::Evtx
    }

    pub(crate) fn extension(self) -> &'static str {
        match self {
            OutputFormat::Evtx => "evtx",
            OutputFormat::Xml => "xml",
            OutputFormat::Winlogbeat => "ndjson",
        }
    }
}

impl std::str::FromStr for OutputFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<OutputFormat, String> {
        match text.to_ascii_lowercase().as_str() {
            "evtx" => Ok(OutputFormat::Evtx),
            "xml" => Ok(OutputFormat::Xml),
            "winlogbeat" | "json" => Ok(OutputFormat::Winlogbeat),
            _ => Err(format!("{text:?} is not evtx, xml or winlogbeat")),
        }
    }
}

/// A group's collection set to *Enforce rules* from a day of the window on (0-based).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Flip {
    pub group: String,
    pub collection: Collection,
    pub day: usize,
}

impl std::str::FromStr for Flip {
    type Err = String;

    /// `finance:EXE:7`.
    fn from_str(text: &str) -> Result<Flip, String> {
        let parts: Vec<&str> = text.split(':').collect();
        let [group, collection, day] = parts.as_slice() else {
            return Err(format!(
                "{text:?} is not GROUP:COLLECTION:DAY (finance:EXE:7)"
            ));
        };
        let collection = collection.to_ascii_uppercase().parse().map_err(|_| {
            format!("{text:?}: {collection:?} is not EXE, DLL, MSI, SCRIPT or APPX")
        })?;
        let day = day.parse().map_err(|_| {
            format!("{text:?}: {day:?} is not a day number of the window (0, 1, …)")
        })?;
        Ok(Flip {
            group: (*group).to_owned(),
            collection,
            day,
        })
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            seed: 1,
            hosts: 40,
            groups: 5,
            days: 21,
            events: 20_000,
            forwarded: 0,
            wef_coverage: 100,
            start: NaiveDate::from_ymd_opt(2026, 10, 5).expect("valid date"),
            force: false,
            enforce: Vec::new(),
            format: OutputFormat::Evtx,
            text_exports: 0,
        }
    }
}

impl Options {
    /// The options recorded in a `manifest.json` that `generate` wrote (to regenerate a fleet,
    /// or to replay its events with [`Simulation`]).
    pub fn from_manifest(path: &Path) -> Result<Options, Error> {
        #[derive(serde::Deserialize)]
        struct Manifest {
            options: Options,
        }
        let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
        let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
            Error::io(
                path,
                std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            )
        })?;
        Ok(manifest.options)
    }

    /// Checks every option, naming the bad one.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |msg: String| Err(Error::InvalidOption(msg));
        if self.hosts == 0 || self.hosts > MAX_HOSTS {
            return bad(format!(
                "--hosts must be between 1 and {MAX_HOSTS}, got {}",
                self.hosts
            ));
        }
        if self.groups == 0 || self.groups > self.hosts.min(MAX_GROUPS) {
            return bad(format!(
                "--groups must be between 1 and {} (at most one per host), got {}",
                self.hosts.min(MAX_GROUPS),
                self.groups
            ));
        }
        if self.days == 0 || self.days > MAX_DAYS {
            return bad(format!(
                "--days must be between 1 and {MAX_DAYS}, got {}",
                self.days
            ));
        }
        if self.events == 0 || self.events > MAX_EVENTS {
            return bad(format!(
                "--events must be between 1 and {MAX_EVENTS}, got {}",
                self.events
            ));
        }
        if self.forwarded > self.hosts.min(MAX_COLLECTORS) {
            return bad(format!(
                "--forwarded must be at most {} (one collector per host), got {}",
                self.hosts.min(MAX_COLLECTORS),
                self.forwarded
            ));
        }
        for flip in &self.enforce {
            if flip.day >= self.days {
                return bad(format!(
                    "--enforce {}:{}:{}: day {} is past the window's last day ({})",
                    flip.group,
                    flip.collection.as_str(),
                    flip.day,
                    flip.day,
                    self.days - 1
                ));
            }
        }
        if self.wef_coverage > 100 {
            return bad(format!(
                "--wef-coverage is a percentage (0-100), got {}",
                self.wef_coverage
            ));
        }
        if self.text_exports > 0 && !self.format.is_evtx() {
            return bad(
                "--text-exports writes some hosts as XML and NDJSON beside the EVTX of the others; with --format xml or winlogbeat every host is text already".into(),
            );
        }
        Ok(())
    }
}

/// The resolved plan shared by all writers.
pub(crate) struct Plan {
    pub(crate) seed: u64,
    pub(crate) format: OutputFormat,
    pub(crate) start: i64,
    pub(crate) start_weekday: usize,
    pub(crate) days: usize,
    pub(crate) per_host: Vec<u64>,
    /// The form each host's own logs are written in (`format`, or a text export).
    pub(crate) host_format: Vec<OutputFormat>,
}

impl Plan {
    fn new(opts: &Options, fleet: &Fleet) -> Result<Plan, Error> {
        let start = opts.start.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
        let per_host = allocate_events(fleet, opts.events);
        let mut host_format = vec![opts.format; fleet.hosts.len()];
        // The busiest hosts with logs of their own, so each export holds the most events.
        let mut own_logs: Vec<usize> = (0..fleet.hosts.len())
            .filter(|&h| fleet.hosts[h].collector.is_none() && per_host[h] > 0)
            .collect();
        own_logs.sort_by_key(|&h| (std::cmp::Reverse(per_host[h]), h));
        if opts.text_exports > own_logs.len() {
            return Err(Error::InvalidOption(format!(
                "--text-exports {}: only {} hosts write logs of their own (not forwarded)",
                opts.text_exports,
                own_logs.len()
            )));
        }
        let exported = own_logs.iter().take(opts.text_exports);
        for (k, &h) in exported.enumerate() {
            host_format[h] = [OutputFormat::Xml, OutputFormat::Winlogbeat][k % 2];
        }
        Ok(Plan {
            seed: opts.seed,
            format: opts.format,
            start: start.timestamp_nanos_opt().expect("date in range"),
            start_weekday: opts.start.weekday().num_days_from_monday() as usize,
            days: opts.days,
            per_host,
            host_format,
        })
    }
}

/// The events a set of options generates, host by host, without writing anything: the
/// generator's own bookkeeping, for tests that check what lockstep reports.
pub struct Simulation {
    pub fleet: Fleet,
    plan: Plan,
}

impl Simulation {
    /// The fleet and timelines that `generate` would write for `opts`.
    pub fn new(opts: &Options) -> Result<Simulation, Error> {
        opts.validate()?;
        let fleet = Fleet::new(opts)?;
        let plan = Plan::new(opts, &fleet)?;
        Ok(Simulation { fleet, plan })
    }

    /// Host `host`'s AppLocker events, in time order (the same events `generate` writes).
    pub fn host_events(&self, host: usize) -> HostTimeline<'_> {
        self.plan.timeline(&self.fleet, host)
    }
}

/// Per-host bookkeeping in the manifest.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HostManifest {
    pub computer: String,
    pub short_name: String,
    pub group: String,
    /// The group a report must show for it, given `inventory.csv`.
    pub expected_group: String,
    pub in_inventory: bool,
    pub role: HostRole,
    /// `ForwardedEvents-<n>.evtx` when forwarded, else its own folder.
    pub written_to: String,
    pub events_by_id: BTreeMap<u16, u64>,
}

/// What `generate` wrote (also saved as `manifest.json`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub options: Options,
    pub files: Vec<FileSummary>,
    pub hosts: Vec<HostManifest>,
    /// AppLocker events per event ID, all hosts.
    pub events_by_id: BTreeMap<u16, u64>,
    pub applocker_events: u64,
    /// Non-AppLocker records in collector files.
    pub noise_records: u64,
    pub bytes: u64,
    /// `--enforce` flips as played: apps blocked on purpose, new apps, new versions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flips: Vec<FlipManifest>,
    /// Wall time; left out of `manifest.json`, which must be identical for a seed.
    #[serde(skip)]
    pub elapsed_seconds: f64,
}

/// Generates the fleet into `out`. `progress` counts records written, for a progress bar.
pub fn generate(opts: &Options, out: &Path, progress: &AtomicU64) -> Result<Summary, Error> {
    opts.validate()?;
    let started = Instant::now();
    // Options that only the fleet can judge (--enforce, --text-exports) fail before
    // anything is written.
    let fleet = Fleet::new(opts)?;
    let plan = Plan::new(opts, &fleet)?;
    prepare_output(out, opts.force)?;

    enum Unit {
        Host(usize),
        Collector(usize),
    }
    let mut units: Vec<Unit> = (0..fleet.hosts.len())
        .filter(|&h| fleet.hosts[h].collector.is_none())
        .map(Unit::Host)
        .collect();
    units.extend((0..opts.forwarded).map(Unit::Collector));
    let results = units
        .par_iter()
        .map(|unit| match unit {
            Unit::Host(h) => output::write_host(&plan, &fleet, *h, out, progress),
            Unit::Collector(c) => output::write_collector(&plan, &fleet, *c, out, progress),
        })
        .collect::<Result<Vec<_>, Error>>()?;

    let inventory = out.join("inventory.csv");
    fs::write(&inventory, fleet.inventory_csv()).map_err(|e| Error::io(&inventory, e))?;
    let identities = out.join(IDENTITIES_FILE);
    fs::write(&identities, fleet.identities_csv()).map_err(|e| Error::io(&identities, e))?;
    let current = out.join(policy::CURRENT_POLICY_FILE);
    fs::write(&current, policy::current_policy_xml()).map_err(|e| Error::io(&current, e))?;
    let summary = summarize(opts, &fleet, results, started);
    let manifest = out.join("manifest.json");
    let json = serde_json::to_string_pretty(&summary).expect("summary serializes");
    fs::write(&manifest, json + "\n").map_err(|e| Error::io(&manifest, e))?;
    Ok(summary)
}

fn prepare_output(out: &Path, force: bool) -> Result<(), Error> {
    match fs::read_dir(out) {
        Ok(mut entries) => {
            if entries.next().is_some() && !force {
                return Err(Error::OutputNotEmpty {
                    path: out.to_owned(),
                });
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        }
        Err(e) => return Err(Error::io(out, e)),
    }
    // Fail now, with the folder's name, rather than after minutes of work.
    let probe = out.join(".lockstep-write-test");
    fs::write(&probe, b"")
        .and_then(|_| fs::remove_file(&probe))
        .map_err(|e| Error::io(out, e))
}

fn summarize(
    opts: &Options,
    fleet: &Fleet,
    results: Vec<output::UnitSummary>,
    started: Instant,
) -> Summary {
    let mut files = Vec::new();
    let mut per_host: Vec<BTreeMap<u16, u64>> = vec![BTreeMap::new(); fleet.hosts.len()];
    let mut noise_records = 0;
    for unit in results {
        files.extend(unit.files);
        noise_records += unit.noise_records;
        for ((host, id), n) in unit.events {
            *per_host[host].entry(id).or_default() += n;
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let mut events_by_id = BTreeMap::new();
    for counts in &per_host {
        for (id, n) in counts {
            *events_by_id.entry(*id).or_default() += n;
        }
    }
    let hosts = fleet
        .hosts
        .iter()
        .zip(per_host)
        .map(|(h, events_by_id)| HostManifest {
            computer: h.computer.clone(),
            short_name: h.short_name.clone(),
            group: fleet.groups[h.group].name.clone(),
            expected_group: fleet.expected_group(h).to_owned(),
            in_inventory: h.in_inventory,
            role: h.role,
            written_to: match h.collector {
                Some(c) => format!("ForwardedEvents-{}.evtx", c + 1),
                None => format!("{}/", h.short_name),
            },
            events_by_id,
        })
        .collect();
    Summary {
        options: opts.clone(),
        bytes: files.iter().map(|f| f.bytes).sum(),
        files,
        hosts,
        applocker_events: events_by_id.values().sum(),
        events_by_id,
        noise_records,
        flips: flip::manifest(opts, fleet),
        elapsed_seconds: started.elapsed().as_secs_f64(),
    }
}
