//! Writing the fleet's logs: one file per AppLocker channel per host, or collector files
//! that mix hosts and channels as Windows Event Forwarding does.
//!
//! Each unit of work (a host, or a collector) runs a producer thread that generates events
//! and builds records while the calling thread encodes chunks and writes them, so even a
//! single huge file keeps two cores busy. Memory is a few batches per unit.

use std::collections::{BTreeMap, BinaryHeap};
use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use evtx_writer::{EvtxWriter, Instance};

use crate::encode::Encoder;
use crate::events::{Channel, Event, HostTimeline, Noise, Payload};
use crate::fleet::Fleet;
use crate::rng::Rng;
use crate::{Error, OutputFormat, Plan};

const BATCH: usize = 512;

/// What one written file holds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileSummary {
    /// Path relative to the output folder, with `/` separators.
    pub path: String,
    pub records: u64,
    pub bytes: u64,
}

/// What one unit of work wrote, plus per-host bookkeeping.
#[derive(Debug, Default)]
pub(crate) struct UnitSummary {
    pub files: Vec<FileSummary>,
    /// Event counts per (host, event id) for AppLocker events.
    pub events: BTreeMap<(usize, u16), u64>,
    pub noise_records: u64,
}

/// A record ready for a writer: which log of the unit, written time, record.
struct Ready {
    log: usize,
    written: u64,
    instance: Instance,
}

/// A log file being written in one of the forms.
enum LogWriter {
    Evtx(Box<EvtxWriter<BufWriter<File>>>),
    /// Event XML or Winlogbeat NDJSON: one event per line.
    Text {
        out: BufWriter<File>,
        records: u64,
    },
}

/// One log being written. EVTX continues in an archive file when the current file reaches
/// the 65,535-chunk limit of the format; the text forms have no limit.
struct RollingLog {
    dir: PathBuf,
    stem: String,
    format: OutputFormat,
    /// The Winlogbeat agent's `host.name` (the collector's, for forwarded events).
    agent: String,
    archives: usize,
    current: Option<(PathBuf, LogWriter)>,
    files: Vec<FileSummary>,
    out_root: PathBuf,
}

impl RollingLog {
    fn new(out_root: &Path, dir: PathBuf, stem: String, format: OutputFormat, agent: &str) -> Self {
        RollingLog {
            dir,
            stem,
            format,
            agent: agent.to_owned(),
            archives: 0,
            current: None,
            files: Vec::new(),
            out_root: out_root.to_owned(),
        }
    }

    fn append(&mut self, written: u64, instance: &Instance) -> Result<(), Error> {
        if self.current.is_none() {
            self.open()?;
        }
        let (partial, writer) = self.current.as_mut().expect("opened above");
        let writer = match writer {
            LogWriter::Evtx(writer) => writer,
            LogWriter::Text { out, records } => {
                use std::io::Write;
                let node = evtx_writer::Node::of(instance);
                let line = match self.format {
                    OutputFormat::Xml => node.to_xml(),
                    _ => crate::winlogbeat::document(&node, &self.agent).to_string(),
                };
                *records += 1;
                return writeln!(out, "{line}").map_err(|e| Error::io(partial, e));
            }
        };
        match writer.append(written, instance) {
            Err(evtx_writer::Error::FileFull { .. }) => {
                // Windows "archive the log when full": the full file gets an Archive- name.
                self.close(true)?;
                self.open()?;
                let Some((_, LogWriter::Evtx(writer))) = self.current.as_mut() else {
                    unreachable!("an EVTX log reopens as EVTX");
                };
                writer.append(written, instance)?;
                Ok(())
            }
            other => other.map(|_| ()).map_err(Error::from),
        }
    }

    fn open(&mut self) -> Result<(), Error> {
        fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        let extension = self.format.extension();
        let partial = self.dir.join(format!("{}.{extension}.partial", self.stem));
        let file = File::create(&partial).map_err(|e| Error::io(&partial, e))?;
        let out = BufWriter::with_capacity(1 << 20, file);
        let writer = match self.format {
            OutputFormat::Evtx => LogWriter::Evtx(Box::new(EvtxWriter::new(out))),
            _ => LogWriter::Text { out, records: 0 },
        };
        self.current = Some((partial, writer));
        Ok(())
    }

    /// Finishes the current file and moves it to its final name.
    fn close(&mut self, archived: bool) -> Result<(), Error> {
        let Some((partial, writer)) = self.current.take() else {
            return Ok(());
        };
        let records = match writer {
            LogWriter::Evtx(writer) => {
                let records = writer.record_count();
                writer.finish()?;
                records
            }
            LogWriter::Text { out, records } => {
                out.into_inner()
                    .map_err(|e| Error::io(&partial, e.into_error()))?
                    .sync_all()
                    .map_err(|e| Error::io(&partial, e))?;
                records
            }
        };
        let extension = self.format.extension();
        let name = if archived {
            self.archives += 1;
            format!("Archive-{}-{}.{extension}", self.stem, self.archives)
        } else {
            format!("{}.{extension}", self.stem)
        };
        let target = self.dir.join(name);
        fs::rename(&partial, &target).map_err(|e| Error::io(&target, e))?;
        let bytes = fs::metadata(&target)
            .map_err(|e| Error::io(&target, e))?
            .len();
        let path = target
            .strip_prefix(&self.out_root)
            .unwrap_or(&target)
            .to_string_lossy()
            .replace('\\', "/");
        self.files.push(FileSummary {
            path,
            records,
            bytes,
        });
        Ok(())
    }
}

/// Runs `produce` on a helper thread, feeding records to `logs` on this thread.
fn run_unit(
    logs: &mut [RollingLog],
    progress: &AtomicU64,
    produce: impl FnOnce(&mut dyn FnMut(Ready) -> bool) + Send,
) -> Result<(), Error> {
    let (tx, rx) = mpsc::sync_channel::<Vec<Ready>>(4);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            let mut emit = |ready: Ready| {
                batch.push(ready);
                if batch.len() == BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    return tx.send(full).is_ok();
                }
                true
            };
            produce(&mut emit);
            let _ = tx.send(batch);
        });
        for batch in rx {
            for ready in &batch {
                logs[ready.log].append(ready.written, &ready.instance)?;
            }
            progress.fetch_add(batch.len() as u64, Ordering::Relaxed);
        }
        Ok::<(), Error>(())
    })?;
    for log in logs.iter_mut() {
        log.close(false)?;
    }
    Ok(())
}

/// Writes one host's four channel files under `out/<HOST>/`.
pub(crate) fn write_host(
    plan: &Plan,
    fleet: &Fleet,
    host: usize,
    out: &Path,
    progress: &AtomicU64,
) -> Result<UnitSummary, Error> {
    let name = &fleet.hosts[host].short_name;
    let dir = out.join(name);
    let mut logs: Vec<RollingLog> = Channel::APPLOCKER
        .iter()
        .map(|c| {
            RollingLog::new(
                out,
                dir.clone(),
                c.file_name().trim_end_matches(".evtx").to_owned(),
                plan.host_format[host],
                &name.to_lowercase(),
            )
        })
        .collect();
    let mut summary = UnitSummary::default();
    let counts = &mut summary.events;
    run_unit(&mut logs, progress, |emit| {
        let mut encoder = Encoder::new(fleet);
        for event in plan.timeline(fleet, host) {
            *counts.entry((host, event.event_id)).or_default() += 1;
            let log = event
                .channel
                .index()
                .expect("hosts log only AppLocker channels");
            let written = evtx_writer::filetime_from_unix_nanos(event.time);
            if !emit(Ready {
                log,
                written,
                instance: encoder.instance(&event, false),
            }) {
                return;
            }
        }
    })?;
    summary.files = logs.into_iter().flat_map(|l| l.files).collect();
    Ok(summary)
}

/// An event on its way to a collector, ordered by arrival.
struct Arrival {
    at: i64,
    source: usize,
    event: Event,
}

impl PartialEq for Arrival {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.source) == (other.at, other.source)
    }
}
impl Eq for Arrival {}
impl PartialOrd for Arrival {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Arrival {
    // Reversed: BinaryHeap is a max-heap and we want the earliest arrival first.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.at, other.source).cmp(&(self.at, self.source))
    }
}

/// Writes collector `index`'s `ForwardedEvents-<n>.evtx`: the AppLocker events of every
/// host forwarding to it, merged by arrival time, plus the collector's own records and
/// forwarded System noise.
pub(crate) fn write_collector(
    plan: &Plan,
    fleet: &Fleet,
    index: usize,
    out: &Path,
    progress: &AtomicU64,
) -> Result<UnitSummary, Error> {
    let hosts: Vec<usize> = (0..fleet.hosts.len())
        .filter(|&h| fleet.hosts[h].collector == Some(index))
        .collect();
    let mut logs = vec![RollingLog::new(
        out,
        out.to_owned(),
        format!("ForwardedEvents-{}", index + 1),
        plan.format,
        &format!("wec{:02}", index + 1),
    )];
    // Collectors with an even number use the default RenderedText subscription format.
    let rendered = index.is_multiple_of(2);
    let mut summary = UnitSummary::default();
    let (counts, noise_records) = (&mut summary.events, &mut summary.noise_records);
    run_unit(&mut logs, progress, |emit| {
        let mut encoder = Encoder::new(fleet);
        let mut rng = Rng::new(plan.seed, 0xC011 + index as u64);
        // Sources: per host its AppLocker timeline (source 2h) and its noise (2h + 1).
        let mut sources: Vec<Box<dyn Iterator<Item = Event> + '_>> = Vec::new();
        let mut latency = Vec::new();
        for (n, &h) in hosts.iter().enumerate() {
            sources.push(Box::new(plan.timeline(fleet, h)));
            sources.push(Box::new(noise_events(plan, fleet, h, n == 0).into_iter()));
            let delay = 500_000_000 + rng.below(20_000_000_000) as i64;
            latency.extend([delay, delay]);
        }
        let mut heap = BinaryHeap::new();
        for (source, it) in sources.iter_mut().enumerate() {
            if let Some(event) = it.next() {
                heap.push(Arrival {
                    at: event.time + latency[source],
                    source,
                    event,
                });
            }
        }
        while let Some(Arrival { at, source, event }) = heap.pop() {
            if let Some(next) = sources[source].next() {
                heap.push(Arrival {
                    at: (next.time + latency[source]).max(at),
                    source,
                    event: next,
                });
            }
            if matches!(event.payload, Payload::Noise(_)) {
                *noise_records += 1;
            } else {
                *counts.entry((event.host, event.event_id)).or_default() += 1;
            }
            let written = evtx_writer::filetime_from_unix_nanos(at);
            if !emit(Ready {
                log: 0,
                written,
                instance: encoder.instance(&event, rendered),
            }) {
                return;
            }
        }
    })?;
    summary.files = logs.into_iter().flat_map(|l| l.files).collect();
    Ok(summary)
}

/// The non-AppLocker records a collector receives for a host, in time order: the
/// subscription bookmark when the host first connects, the Application Identity service
/// starting each working day, and (on one host) an AppLocker log being cleared.
fn noise_events(plan: &Plan, fleet: &Fleet, host: usize, clears_log: bool) -> Vec<Event> {
    let mut rng = Rng::new(plan.seed, 0x4015E + host as u64);
    let sid = fleet.users[fleet.hosts[host].users[0]].sid.clone();
    let mut record_id = 50_000 + rng.below(50_000);
    let mut events = Vec::new();
    let mut push = |time: i64, channel: Channel, event_id: u16, noise: Noise, rng: &mut Rng| {
        record_id += 1 + rng.below(40);
        events.push(Event {
            host,
            time,
            channel,
            event_id,
            record_id,
            process_id: 700 + rng.below(200) as u32,
            thread_id: 1000 + rng.below(9000) as u32,
            user_sid: sid.clone(),
            payload: Payload::Noise(noise),
        });
    };
    let hour = 3_600_000_000_000i64;
    push(
        plan.start + 7 * hour,
        Channel::ForwardedEvents,
        111,
        Noise::SubscriptionBookmark,
        &mut rng,
    );
    for day in 0..plan.days as i64 {
        let at = plan.start
            + day * 24 * hour
            + 7 * hour
            + 30 * 60_000_000_000
            + rng.below(3_000_000_000) as i64 * 100;
        push(
            at,
            Channel::System,
            7036,
            Noise::ServiceState { running: true },
            &mut rng,
        );
        if clears_log && day == 1 {
            push(
                at + hour,
                Channel::System,
                104,
                Noise::LogCleared {
                    channel: Channel::ExeAndDll,
                },
                &mut rng,
            );
        }
    }
    events
}

impl Plan {
    pub(crate) fn timeline<'a>(&self, fleet: &'a Fleet, host: usize) -> HostTimeline<'a> {
        HostTimeline::new(
            fleet,
            host,
            self.seed,
            self.start,
            self.start_weekday,
            self.days,
            self.per_host[host],
        )
    }
}
