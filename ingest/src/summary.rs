//! The summary of an event file (`schema::summary`): its rows counted per computer, UTC day
//! and key columns, written beside it. Built from the very batches the file is written from
//! (or, after de-duplication dropped rows, from what was kept), so file and summary always
//! hold the same events.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use schema::columns;
use schema::summary::{DAY_MICROS, KEY_COLUMNS, summary_schema};

use crate::Error;

/// No value (a null).
const NULL: u32 = u32::MAX;

/// The key columns that hold text (all but `event_id`), in [`KEY_COLUMNS`] order.
const TEXT_KEYS: usize = KEY_COLUMNS.len() - 1;

/// The summary file that goes with the event file at `events`.
pub(crate) fn summary_path(events: &Path) -> PathBuf {
    events.with_extension("summary.parquet")
}

/// [`summary_path`] of a manifest path (relative to the data folder, `/`-separated).
pub(crate) fn summary_name(events: &str) -> String {
    format!("{}.summary.parquet", events.trim_end_matches(".parquet"))
}

/// A multiply-rotate hash (as rustc's FxHash) for the summarizer's maps: they are built
/// on the encoder thread, on every row, where SipHash's cost showed in the ingest profile.
/// The keys are the store's own values, not an attacker's choice of collisions that matter.
#[derive(Default, Clone, Copy)]
struct FastHash;

impl std::hash::BuildHasher for FastHash {
    type Hasher = FastHasher;
    fn build_hasher(&self) -> FastHasher {
        FastHasher(0)
    }
}

struct FastHasher(u64);

impl FastHasher {
    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl std::hash::Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.mix(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(word));
        }
    }
    fn write_u8(&mut self, v: u8) {
        self.mix(u64::from(v));
    }
    fn write_u32(&mut self, v: u32) {
        self.mix(u64::from(v));
    }
    fn write_i32(&mut self, v: i32) {
        self.mix(v as u32 as u64);
    }
    fn write_i64(&mut self, v: i64) {
        self.mix(v as u64);
    }
    fn write_usize(&mut self, v: usize) {
        self.mix(v as u64);
    }
}

/// Each distinct text of one column once, by number.
#[derive(Default)]
struct Interner {
    ids: HashMap<Box<str>, u32, FastHash>,
    texts: Vec<Box<str>>,
    /// The previous row's value: rows come sorted by computer, so neighbours mostly repeat
    /// (comparing with it is cheaper than hashing).
    last: Option<u32>,
}

impl Interner {
    fn id(&mut self, text: Option<&str>) -> u32 {
        let Some(text) = text else { return NULL };
        if let Some(last) = self.last
            && *self.texts[last as usize] == *text
        {
            return last;
        }
        let id = match self.ids.get(text) {
            Some(&id) => id,
            None => {
                let id = self.texts.len() as u32;
                self.texts.push(text.into());
                self.ids.insert(text.into(), id);
                id
            }
        };
        self.last = Some(id);
        id
    }

    fn text(&self, id: u32) -> Option<&str> {
        (id != NULL).then(|| &*self.texts[id as usize])
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    day: i64,
    event_id: i32,
    texts: [u32; TEXT_KEYS],
}

struct Totals {
    events: i64,
    first: i64,
    last: i64,
    /// The largest `binary_version_key` (interned in `version_keys`).
    version_key: u32,
}

/// Adds event batches up into summary rows.
#[derive(Default)]
pub(crate) struct Summarizer {
    columns: [Interner; TEXT_KEYS],
    version_keys: Interner,
    rows: HashMap<Key, Totals, FastHash>,
}

fn text_column<'a>(batch: &'a RecordBatch, name: &str) -> &'a StringArray {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        .unwrap_or_else(|| panic!("the event table's {name} column is text"))
}

impl Summarizer {
    /// Counts the rows of `batch`, a batch of the event table (every key column, `time` and
    /// `binary_version_key`; other columns are not looked at).
    pub(crate) fn add(&mut self, batch: &RecordBatch) {
        let time = batch
            .column_by_name(columns::TIME)
            .and_then(|c| c.as_any().downcast_ref::<TimestampMicrosecondArray>())
            .expect("the event table's time column");
        let event_id = batch
            .column_by_name(columns::EVENT_ID)
            .and_then(|c| c.as_any().downcast_ref::<Int32Array>())
            .expect("the event table's event_id column");
        let texts: Vec<&StringArray> = KEY_COLUMNS
            .iter()
            .filter(|&&c| c != columns::EVENT_ID)
            .map(|c| text_column(batch, c))
            .collect();
        let version_key = text_column(batch, columns::BINARY_VERSION_KEY);
        for row in 0..batch.num_rows() {
            let mut key = Key {
                day: time.value(row).div_euclid(DAY_MICROS) * DAY_MICROS,
                event_id: event_id.value(row),
                texts: [NULL; TEXT_KEYS],
            };
            for (c, column) in texts.iter().enumerate() {
                let value = column.is_valid(row).then(|| column.value(row));
                key.texts[c] = self.columns[c].id(value);
            }
            let t = time.value(row);
            let v = version_key.is_valid(row).then(|| version_key.value(row));
            let totals = self.rows.entry(key).or_insert(Totals {
                events: 0,
                first: t,
                last: t,
                version_key: NULL,
            });
            totals.events += 1;
            totals.first = totals.first.min(t);
            totals.last = totals.last.max(t);
            if let Some(v) = v
                && self
                    .version_keys
                    .text(totals.version_key)
                    .is_none_or(|kept| v > kept)
            {
                totals.version_key = self.version_keys.id(Some(v));
            }
        }
    }

    /// The summary rows, sorted by computer then day (as the events are, so that the
    /// statistics prune the same way).
    pub(crate) fn finish(self) -> RecordBatch {
        let mut rows: Vec<(Key, Totals)> = self.rows.into_iter().collect();
        let computer = |k: &Key| self.columns[0].text(k.texts[0]);
        rows.sort_unstable_by(|(a, _), (b, _)| {
            (computer(a), a.day, a.texts, a.event_id).cmp(&(
                computer(b),
                b.day,
                b.texts,
                b.event_id,
            ))
        });
        let mut out: Vec<ArrayRef> = Vec::with_capacity(KEY_COLUMNS.len() + 5);
        let text = |c: usize| -> ArrayRef {
            Arc::new(StringArray::from_iter(
                rows.iter().map(|(k, _)| self.columns[c].text(k.texts[c])),
            ))
        };
        let stamp = |values: Vec<i64>| -> ArrayRef {
            Arc::new(TimestampMicrosecondArray::from(values).with_timezone("UTC"))
        };
        let mut c = 0;
        for name in KEY_COLUMNS {
            if name == columns::EVENT_ID {
                out.push(Arc::new(Int32Array::from_iter_values(
                    rows.iter().map(|(k, _)| k.event_id),
                )));
                continue;
            }
            out.push(text(c));
            c += 1;
            if name == columns::COMPUTER_KEY {
                out.push(stamp(rows.iter().map(|(k, _)| k.day).collect()));
            }
        }
        out.push(Arc::new(StringArray::from_iter(
            rows.iter()
                .map(|(_, t)| self.version_keys.text(t.version_key)),
        )));
        out.push(Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|(_, t)| t.events),
        )));
        out.push(stamp(rows.iter().map(|(_, t)| t.first).collect()));
        out.push(stamp(rows.iter().map(|(_, t)| t.last).collect()));
        RecordBatch::try_new(summary_schema(), out).expect("summary columns match its schema")
    }

    /// Writes the summary to `path` (synced).
    pub(crate) fn write(self, path: &Path) -> Result<(), Error> {
        let batch = self.finish();
        let file = File::create(path).map_err(|e| Error::io(path, e))?;
        let mut writer =
            ArrowWriter::try_new(file, summary_schema(), Some(crate::staging::properties()))
                .map_err(|e| Error::parquet(path, e))?;
        writer.write(&batch).map_err(|e| Error::parquet(path, e))?;
        writer
            .into_inner()
            .and_then(|f| f.sync_all().map_err(Into::into))
            .map_err(|e| Error::parquet(path, e))
    }
}

/// The summary of a committed event file, read back from it (for a store written before
/// the summary).
pub(crate) fn summarize_file(events: &Path) -> Result<Summarizer, Error> {
    let file = File::open(events).map_err(|e| Error::io(events, e))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| Error::parquet(events, e))?;
    let wanted: Vec<&str> = KEY_COLUMNS
        .iter()
        .copied()
        .chain([columns::TIME, columns::BINARY_VERSION_KEY])
        .collect();
    let mask = ProjectionMask::columns(builder.parquet_schema(), wanted);
    let reader = builder
        .with_projection(mask)
        .build()
        .map_err(|e| Error::parquet(events, e))?;
    let mut summary = Summarizer::default();
    for batch in reader {
        summary.add(&batch.map_err(|e| Error::parquet(events, e.into()))?);
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{Row, to_record_batch};
    use crate::event::AuditEvent;

    #[test]
    fn rows_are_counted_per_computer_day_and_key_with_their_times_and_newest_version() {
        let day = DAY_MICROS * 20_000;
        let rows = [
            row("B", day + 5, Some("1.2"), 8003),
            row("A", day + 9, Some("1.10"), 8003),
            row("A", day + 1, Some("1.10"), 8003),
            row("A", day + DAY_MICROS + 3, Some("1.10"), 8003),
            row("A", day + 2, None, 8003),
            row("A", day + 4, Some("1.10"), 8002),
        ];
        let refs: Vec<_> = rows.iter().collect();
        let batch = to_record_batch(&refs, &["f.evtx".to_owned()], "i");
        let mut s = Summarizer::default();
        s.add(&batch.slice(0, 3));
        s.add(&batch.slice(3, 3));
        let out = s.finish();
        let text = |name: &str| {
            let c = text_column(&out, name);
            (0..c.len())
                .map(|i| c.is_valid(i).then(|| c.value(i).to_owned()))
                .collect::<Vec<_>>()
        };
        let ints = |name: &str| arrow_cast_i64(out.column_by_name(name).unwrap());
        assert_eq!(out.num_rows(), 5);
        assert_eq!(
            text(columns::COMPUTER),
            ["A", "A", "A", "A", "B"].map(|s| Some(s.to_owned()))
        );
        let events = ints(schema::summary::EVENTS);
        let first = ints(schema::summary::FIRST_SEEN);
        let last = ints(schema::summary::LAST_SEEN);
        let days = ints(schema::summary::DAY);
        // The two 8003 runs of 1.10 on A's first day are one row.
        let both = (0..5)
            .find(|&i| events[i] == 2)
            .expect("one row of two events");
        assert_eq!(
            (first[both], last[both], days[both]),
            (day + 1, day + 9, day)
        );
        assert_eq!(events.iter().sum::<i64>(), 6);
        assert_eq!(days.iter().filter(|&&d| d == day + DAY_MICROS).count(), 1);
    }

    fn row(computer: &str, time_us: i64, version: Option<&str>, event_id: u16) -> Row {
        Row {
            event: AuditEvent {
                time_us,
                computer: computer.into(),
                channel: "Microsoft-Windows-AppLocker/EXE and DLL".into(),
                provider: "Microsoft-Windows-AppLocker".into(),
                event_id,
                record_id: time_us as u64,
                user_sid: Some("S-1-5-21-1".into()),
                process_id: None,
                logon_id: None,
                policy_name: Some("EXE".into()),
                rule_id: None,
                rule_name: None,
                file_path: Some("%OSDRIVE%\\X.EXE".into()),
                full_file_path: None,
                file_hash: None,
                fqbn: Some(match version {
                    Some(v) => format!("O=ACME\\TOOL\\X.EXE\\{v}"),
                    None => "-".into(),
                }),
                package: None,
            },
            source: 0,
        }
    }

    fn arrow_cast_i64(c: &ArrayRef) -> Vec<i64> {
        if let Some(t) = c.as_any().downcast_ref::<TimestampMicrosecondArray>() {
            return t.values().to_vec();
        }
        c.as_any()
            .downcast_ref::<Int64Array>()
            .expect("integers")
            .values()
            .to_vec()
    }
}
