//! The fused path of `decode --format parquet`: a classic data frame of the common candump
//! line goes from the line's scan straight into the columns of its rows, without the parsed
//! record, the [`Decoded`](crate::dbc::Decoded) buffer and the per-row scratch of the general
//! path ([`BatchBuilder::push`]).
//!
//! Contract: [`BatchBuilder::push_scanned`] adds exactly the rows [`BatchBuilder::push`] adds
//! for the same line (a property test holds them to that), or adds nothing and returns `None`
//! when the line needs the general path: messages the other fused paths leave to it too
//! ([`flat_plan`]: deeper multiplexing, IEEE float signals, signals past the message's
//! declared length or the eighth byte), payloads shorter than the message, and a multiplexor
//! that selects no branch (a partial decode, which the general path marks and warns of).

use crate::dbc::{Database, FlatBits, FlatSignal, PayloadWord};
use crate::log::candump::{self, DataFrameScan};
use crate::output::fast::{MuxPlan, fits_i64, flat_plan, planned};
use crate::output::{FrameDecoder, Line};

use super::{BatchBuilder, Column, DatasetError, Kind, Resolution, kind_of};

/// The fused plans of every message of a database, shared by the workers.
pub struct FusedRows {
    /// Per message (database order); `None`: the general path.
    messages: Vec<Option<RowPlan>>,
}

/// How a message's payload becomes its table's row.
struct RowPlan {
    size: usize,
    /// In decoding order: the root's signals, then every branch's ([`MuxPlan`]).
    signals: Vec<RowSignal>,
    /// Parallel to `signals`: the full signal, for values that are not plain integers.
    cold: Vec<FlatSignal>,
    mux: Option<MuxPlan>,
    /// Per branch: the signal columns it leaves null (those of the other branches).
    absent: Vec<Vec<u32>>,
    /// The message's signals: its row has `2 + signals` columns before `partial`.
    columns: usize,
}

#[derive(Clone, Copy)]
struct RowSignal {
    bits: FlatBits,
    /// Its column in the message's table.
    column: u32,
    kind: Kind,
    /// `(factor, offset)` when the value is the integer `raw * factor + offset` and fits the
    /// column (an `INT64` column and `i64` for every raw value).
    int: Option<(i64, i64)>,
}

impl FusedRows {
    /// The plans of `db`'s messages.
    pub fn new(db: &Database) -> FusedRows {
        FusedRows {
            messages: db.messages().iter().map(RowPlan::new).collect(),
        }
    }
}

impl RowPlan {
    fn new(m: &crate::dbc::Message) -> Option<RowPlan> {
        let (flat, mux) = flat_plan(m)?;
        let columns = m.signals().len();
        let signals = flat
            .iter()
            .map(|f| {
                let signal = m.signals().get(f.index())?;
                let kind = kind_of(signal);
                let int = match kind {
                    Kind::Int => f
                        .int_scaling()
                        .and_then(|s| fits_i64(f, (i128::from(s.0), i128::from(s.1)))),
                    Kind::UInt | Kind::Float => None,
                };
                Some(RowSignal {
                    bits: f.flat_bits(),
                    column: u32::try_from(2 + f.index()).ok()?,
                    kind,
                    int,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        let absent = match &mux {
            None => Vec::new(),
            Some(mp) => mp
                .ranges
                .iter()
                .map(|range| {
                    let carried: Vec<u32> = signals
                        .get(..mp.root_len)
                        .into_iter()
                        .flatten()
                        .chain(signals.get(range.clone()).into_iter().flatten())
                        .map(|s| s.column)
                        .collect();
                    (0..columns)
                        .filter_map(|i| u32::try_from(2 + i).ok())
                        .filter(|c| !carried.contains(c))
                        .collect()
                })
                .collect(),
        };
        Some(RowPlan {
            size: m.size(),
            signals,
            cold: flat,
            mux,
            absent,
            columns,
        })
    }
}

impl BatchBuilder<'_> {
    /// Adds the frame of `line`, a candump line that
    /// [`scan_data_frame`](crate::log::candump::scan_data_frame) found to be `scan`, straight
    /// from the scan: `Some(whether its message is known)`, or `None` with nothing added when
    /// the general path must take it ([`Self::push`], with the parsed and decoded line).
    #[inline]
    pub fn push_scanned(
        &mut self,
        plans: &FusedRows,
        line: &[u8],
        scan: &DataFrameScan,
    ) -> Option<Result<bool, DatasetError>> {
        let planned = planned(self.builder.db, scan, &plans.messages, |p| p.size)?;
        let word = PayloadWord::new(&scan.data);
        // The branch the multiplexor selects, if the message has one.
        let branch = match planned.and_then(|(_, p)| p.mux.as_ref()) {
            Some(mux) => Some(mux.plan.select(&word, scan.len)?),
            None => None,
        };
        let head = candump::canonical_head(line)?;
        let interface = std::str::from_utf8(line.get(head.interface)?).ok()?;
        let time = self.builder.time(head.timestamp.as_nanos());
        let frame = &mut self.batch.frames;
        let c = &mut frame.columns[..];
        c[0].opt_i64(time);
        c[1].run(interface);
        c[2].i64(i64::from(scan.id.raw()));
        c[3].bool(scan.id.is_extended());
        for flag in &mut c[4..9] {
            flag.bool(false);
        }
        c[9].i32(scan.len as i32);
        c[10].blob(scan.payload());
        match planned.and_then(|(i, _)| u32::try_from(i).ok()) {
            Some(i) => c[11].key(i),
            None => c[11].null(),
        }
        frame.rows += 1;
        let Some((index, plan)) = planned else {
            return Some(Ok(false));
        };
        let rows = match self.message_slot(index) {
            Ok(slot) => match slot.and_then(|s| self.batch.messages.get_mut(s)) {
                Some((_, rows)) => rows,
                None => return Some(Ok(true)),
            },
            Err(e) => return Some(Err(e)),
        };
        let c = &mut rows.columns[..];
        c[0].opt_i64(time);
        c[1].run(interface);
        let carried = match (&plan.mux, branch) {
            (Some(mux), Some(b)) => {
                let range = mux.ranges.get(b).cloned().unwrap_or(0..0);
                for &col in plan.absent.get(b).into_iter().flatten() {
                    c[col as usize].null();
                }
                (0..mux.root_len).chain(range)
            }
            _ => (0..plan.signals.len()).chain(0..0),
        };
        for k in carried {
            let (Some(s), Some(cold)) = (plan.signals.get(k), plan.cold.get(k)) else {
                continue;
            };
            let col = &mut c[s.column as usize];
            match s.int {
                Some((factor, offset)) => col.i64(
                    s.bits
                        .raw_i64(&word)
                        .wrapping_mul(factor)
                        .wrapping_add(offset),
                ),
                None => cold_value(col, s.kind, cold, &word),
            }
        }
        let n = 2 + plan.columns;
        c[n].bool(false);
        c[n + 1].null();
        rows.rows += 1;
        Some(Ok(true))
    }
}

/// A value that is not a plain integer: the general path's physical value, stored as it
/// stores it.
#[inline(never)]
fn cold_value(col: &mut Column, kind: Kind, cold: &FlatSignal, word: &PayloadWord) {
    super::store(col, kind, Some(&cold.physical(cold.raw(word))));
}

/// For the fuzz target: whether the fused path adds for `line` (which
/// [`scan_data_frame_in`](candump::scan_data_frame_in) found to be `scan`) the rows the general
/// path adds, in both timestamp resolutions; `true` when it declines the line and adds nothing.
/// `false` also when the line does not parse or a table cannot be made.
#[doc(hidden)]
pub fn fused_agrees(db: &Database, fused: &FusedRows, line: &[u8], scan: &DataFrameScan) -> bool {
    let Ok(candump::Line::Record(record)) = candump::parse_line(line) else {
        return false;
    };
    [Resolution::Micros, Resolution::Nanos]
        .into_iter()
        .all(|resolution| {
            let (Ok(mut a), Ok(mut b)) = (
                BatchBuilder::new(db, resolution),
                BatchBuilder::new(db, resolution),
            ) else {
                return false;
            };
            let fresh = a.take();
            let known = match a.push_scanned(fused, line, scan) {
                None => return a.take() == fresh,
                Some(Err(_)) => return false,
                Some(Ok(known)) => known,
            };
            let mut decoder = FrameDecoder::new(db);
            let meaning = decoder.decode(&record.frame);
            let general_known = !matches!(meaning, crate::output::Meaning::Unknown);
            let general = b.push(&Line::of_record(&record, meaning));
            general.is_ok() && known == general_known && a.take() == b.take()
        })
}
