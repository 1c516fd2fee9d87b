//! The fused path of `decode --format jsonl` and `--format csv`, the machine formats' twin of
//! the text path ([`super::fast`]): a classic data frame of the common candump line is decoded
//! and written in one pass, straight from the payload word into the output, without parsing
//! the line into a record, the intermediate [`Decoded`](crate::dbc::Decoded) buffer or a
//! `memcpy` call per short fragment.
//!
//! Contract: [`FastMachine::line`] writes exactly what [`Formatter::format`](super::Formatter)
//! writes in its format for the same line (property tests hold them to that), or writes nothing
//! and returns `None` when the line needs the general path: more than one level of
//! multiplexing or a multiplexor that selects no branch, messages longer than 8 bytes, with
//! float signals or with signals past their declared length, payloads shorter than the
//! message, seconds written with a leading zero, and interface names that JSON would escape
//! or CSV would quote or guard.
//!
//! Per message, the plan keeps the signals' bits and integer scaling, and one text arena with
//! the message's fixed text, each signal's key (`, "NAME": ` in JSON, `NAME,` in CSV), CSV unit
//! cell and labels as the format writes them (JSON strings, CSV cells); signals of at most
//! [`DENSE_LABEL_BITS`] bits find their label by raw bits, wider ones by binary search.

use crate::dbc::{Database, FlatBits, FlatSignal, Message, PayloadWord};
use crate::log::candump::DataFrameScan;

use super::fast::{
    Cursor, DENSE_LABEL_BITS, FRAG, LINE_SLACK, MuxPlan, add_text, cursor, dense_table, fits_i64,
    flat_plan, planned,
};
use super::{HEX_UPPER, MessageText, hex_id, push_csv_field, push_value};

/// The fused plans of every message of a database, for one machine format.
pub struct FastMachine {
    csv: bool,
    /// Per message (database order); `None`: the general path.
    messages: Vec<Option<MachineMessage>>,
}

/// A message written straight from the payload.
struct MachineMessage {
    size: usize,
    /// The head (JSON: `, "message": "NAME", "signals": {`; CSV: the message cell and its
    /// comma), then every fragment, then [`FRAG`] bytes of padding.
    text: Vec<u8>,
    head_len: usize,
    signals: Vec<MachineSignal>,
    /// Parallel to `signals`: the full signal, for values that are not plain integers and for
    /// sparse labels.
    cold: Vec<FlatSignal>,
    /// The dense label tables, one after the other: per raw bits value, a
    /// [`packed_label`](super::fast::packed_label) of the label in `text`, 0 for none.
    labels: Vec<u32>,
    /// The sparse label tables, one after the other: (raw value, offset and length in `text`),
    /// sorted by raw value per signal.
    sparse: Vec<(i64, u32, u32)>,
    /// The most a frame's output past its fixed parts can take, scratch included.
    max_len: usize,
    /// One level of multiplexing: `signals` holds the root signals, then every branch's.
    mux: Option<MuxPlan>,
}

/// The hot part of one signal.
#[derive(Clone, Copy)]
struct MachineSignal {
    bits: FlatBits,
    /// `raw * factor + offset` is the value, an integer that fits `i64` for every raw value.
    int: bool,
    factor: i64,
    offset: i64,
    /// JSON: `, "NAME": ` (the first signal of an object skips the `, `); CSV: `NAME,`.
    key_at: u32,
    key_len: u16,
    /// CSV: `,UNIT,`; empty in JSON.
    unit_at: u32,
    unit_len: u16,
    labels: Labels,
}

/// Where a signal's labels are.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Labels {
    None,
    /// The table starts at this index of [`MachineMessage::labels`].
    Dense(u32),
    /// `len` entries from `start` in [`MachineMessage::sparse`].
    Sparse {
        start: u32,
        len: u32,
    },
}

impl FastMachine {
    /// The plans for CSV (`csv`) or JSON Lines; `texts` are the plan's fragments per message
    /// (database order), built for that format.
    pub(super) fn new(csv: bool, db: &Database, texts: &[MessageText]) -> FastMachine {
        FastMachine {
            csv,
            messages: crate::par::par_map(db.messages(), |i, m| {
                MachineMessage::new(csv, m, texts.get(i)?)
            }),
        }
    }

    /// Writes the frame of a line found by
    /// [`scan_data_frame`](crate::log::candump::scan_data_frame) at `*pos` in `buf` (bytes past
    /// `*pos` are scratch: the buffer grows as needed and is never cut back here), advancing
    /// `*pos`. The line is `text[..len]`. Gives whether the frame's id is a message of the
    /// database; `None`, with `*pos` unchanged, when the frame needs the general path.
    #[inline]
    pub fn line(
        &self,
        db: &Database,
        text: &[u8],
        len: usize,
        scan: &DataFrameScan,
        buf: &mut Vec<u8>,
        pos: &mut usize,
    ) -> Option<bool> {
        let planned = planned(db, scan, &self.messages, |mm| mm.size)?;
        let mm = planned.map(|(_, mm)| mm);
        let spans = Spans::of(text.get(..len)?, self.csv)?;
        // A CSV frame repeats its first columns on each signal's row.
        let rows = if self.csv {
            mm.map_or(1, |mm| mm.signals.len().max(1))
        } else {
            1
        };
        let need = *pos
            + rows * (len + LINE_SLACK + mm.map_or(0, |mm| mm.head_len.max(FRAG)))
            + mm.map_or(0, |mm| mm.max_len)
            + 2 * LINE_SLACK;
        let mut w = cursor(buf, *pos, need);
        let written = if self.csv {
            write_csv(&mut w, text, &spans, scan, mm)
        } else {
            write_json(&mut w, text, &spans, scan, mm)
        };
        if written.is_none() || w.overflow {
            return None;
        }
        *pos = w.pos;
        Some(planned.is_some())
    }
}

/// Where the timestamp and the interface are in a line that
/// [`scan_data_frame`](crate::log::candump::scan_data_frame) took (`(SECS.FRAC) IFACE ...`).
struct Spans {
    /// `SECS.FRAC`, as the formats print the timestamp.
    timestamp: (usize, usize),
    interface: (usize, usize),
}

impl Spans {
    /// `None` when the formats would print the timestamp differently (seconds with a leading
    /// zero) or the interface name differently (escaped in JSON; quoted or guarded in CSV).
    #[inline(always)]
    fn of(line: &[u8], csv: bool) -> Option<Spans> {
        // At most 10 seconds digits and 9 fraction digits.
        let close = memchr::memchr(b')', line.get(..line.len().min(22))?)?;
        if line.get(1) == Some(&b'0') && line.get(2) != Some(&b'.') {
            return None;
        }
        let blank = |b: &u8| *b == b' ' || *b == b'\t';
        let start = close
            + 1
            + line
                .get(close + 1..)?
                .iter()
                .take_while(|b| blank(b))
                .count();
        let end = start + line.get(start..)?.iter().take_while(|b| !blank(b)).count();
        let iface = line.get(start..end)?;
        let plain = if csv {
            !iface.iter().any(|b| matches!(b, b',' | b'"'))
                && !matches!(iface.first(), Some(b'=' | b'+' | b'-' | b'@'))
        } else {
            !iface.iter().any(|b| matches!(b, b'"' | b'\\'))
        };
        plain.then_some(Spans {
            timestamp: (1, close),
            interface: (start, end),
        })
    }
}

/// Writes `text[from..to]`: one [`FRAG`]-byte copy when `text` has that many bytes there.
#[inline(always)]
fn copy(w: &mut Cursor<'_>, text: &[u8], (from, to): (usize, usize)) {
    w.frag(text, from, to - from);
}

/// The payload in upper-case hex, as [`push_hex`](super::push_hex) writes it.
#[inline(always)]
fn hex(w: &mut Cursor<'_>, scan: &DataFrameScan) {
    let mut out = [0u8; 16];
    for (pair, &b) in out.chunks_exact_mut(2).zip(&scan.data) {
        pair[0] = HEX_UPPER[usize::from(b >> 4)];
        pair[1] = HEX_UPPER[usize::from(b & 0xF)];
    }
    w.chunk(&out, 2 * scan.len.min(8));
}

/// `{"timestamp": ..., "data": "..."}` and a newline, as [`jsonl`](super::jsonl) writes it;
/// `None` for a partial decode.
#[inline(always)]
fn write_json(
    w: &mut Cursor<'_>,
    text: &[u8],
    spans: &Spans,
    scan: &DataFrameScan,
    mm: Option<&MachineMessage>,
) -> Option<()> {
    w.lit(b"{\"timestamp\": ");
    copy(w, text, spans.timestamp);
    w.lit(b", \"interface\": \"");
    copy(w, text, spans.interface);
    w.lit(b"\", \"id\": ");
    w.u64(u64::from(scan.id.raw()));
    if scan.id.is_extended() {
        w.lit(b", \"extended\": true");
    } else {
        w.lit(b", \"extended\": false");
    }
    match mm {
        None => w.lit(b", \"message\": null, \"signals\": {}, \"labels\": {}"),
        Some(mm) => {
            let word = PayloadWord::new(&scan.data);
            let rows = carried(mm, &word, scan.len)?;
            let arena = &mm.text[..];
            w.frag(arena, 0, mm.head_len);
            for (n, k) in rows.clone().enumerate() {
                let Some(s) = mm.signals.get(k) else { continue };
                // The first key of the object skips its `, `.
                let skip = if n == 0 { 2 } else { 0 };
                w.frag(
                    arena,
                    s.key_at as usize + skip,
                    usize::from(s.key_len) - skip,
                );
                value(w, mm, k, s, &word, b"null");
            }
            w.lit(b"}, \"labels\": {");
            let mut skip = 2;
            for k in rows {
                let Some(s) = mm.signals.get(k) else { continue };
                if let Some((at, len)) = label(mm, k, s, &word) {
                    w.frag(
                        arena,
                        s.key_at as usize + skip,
                        usize::from(s.key_len) - skip,
                    );
                    w.frag(arena, at, len);
                    skip = 0;
                }
            }
            w.byte(b'}');
        }
    }
    w.lit(b", \"data\": \"");
    hex(w, scan);
    w.lit(b"\"}\n");
    Some(())
}

/// One row per signal (`timestamp,interface,id,extended,message,signal,value,unit,label,`),
/// as [`csv`](super::csv) writes them; `None` for a partial decode.
#[inline(always)]
fn write_csv(
    w: &mut Cursor<'_>,
    text: &[u8],
    spans: &Spans,
    scan: &DataFrameScan,
    mm: Option<&MachineMessage>,
) -> Option<()> {
    let start = w.pos;
    copy(w, text, spans.timestamp);
    w.byte(b',');
    copy(w, text, spans.interface);
    w.lit(b",0x");
    let (digits, len) = hex_id(scan.id.raw(), scan.id.is_extended());
    w.chunk(&digits, len);
    if scan.id.is_extended() {
        w.lit(b",1,");
    } else {
        w.lit(b",0,");
    }
    let Some(mm) = mm else {
        // No message: empty message, signal, value, unit, label and error cells.
        w.lit(b",,,,,\n");
        return Some(());
    };
    let word = PayloadWord::new(&scan.data);
    let rows = carried(mm, &word, scan.len)?;
    let arena = &mm.text[..];
    w.frag(arena, 0, mm.head_len);
    let prefix = w.pos - start;
    if rows.clone().next().is_none() {
        w.lit(b",,,,\n");
        return Some(());
    }
    for (n, k) in rows.enumerate() {
        let Some(s) = mm.signals.get(k) else { continue };
        if n > 0 {
            w.repeat(start, prefix);
        }
        w.frag(arena, s.key_at as usize, usize::from(s.key_len));
        value(w, mm, k, s, &word, b"");
        w.frag(arena, s.unit_at as usize, usize::from(s.unit_len));
        if let Some((at, len)) = label(mm, k, s, &word) {
            w.frag(arena, at, len);
        }
        w.lit(b",\n");
    }
    Some(())
}

/// Signal `k`'s value, as [`push_value`](super::push_value) writes it (`nan` for a value
/// that is not a finite number).
#[inline(always)]
fn value(
    w: &mut Cursor<'_>,
    mm: &MachineMessage,
    k: usize,
    s: &MachineSignal,
    word: &PayloadWord,
    nan: &[u8],
) {
    if s.int {
        let raw = s.bits.raw_i64(word);
        w.i64(raw.wrapping_mul(s.factor).wrapping_add(s.offset));
    } else if let Some(flat) = mm.cold.get(k) {
        general_value(w, flat, word, nan);
    }
}

/// A value that is not a plain integer: written by [`push_value`], as the general path
/// writes it.
#[inline(never)]
fn general_value(w: &mut Cursor<'_>, flat: &FlatSignal, word: &PayloadWord, nan: &[u8]) {
    w.via_scratch(|buf| push_value(buf, flat.physical(flat.raw(word)), nan));
}

/// The signals a frame's payload carries, in decoding order (indices into
/// [`MachineMessage::signals`]); `None` for a partial decode (the general path marks it).
#[inline(always)]
fn carried(
    mm: &MachineMessage,
    word: &PayloadWord,
    len: usize,
) -> Option<std::iter::Chain<std::ops::Range<usize>, std::ops::Range<usize>>> {
    let (root, branch) = match &mm.mux {
        None => (0..mm.signals.len(), 0..0),
        Some(mux) => mux.rows(word, len)?,
    };
    Some(root.chain(branch))
}

/// Where signal `k`'s label (as the format writes it) is in the message's text, if its
/// value has one.
#[inline(always)]
fn label(
    mm: &MachineMessage,
    k: usize,
    s: &MachineSignal,
    word: &PayloadWord,
) -> Option<(usize, usize)> {
    match s.labels {
        Labels::None => None,
        Labels::Dense(start) => {
            let label = *mm.labels.get(start as usize + s.bits.bits(word) as usize)?;
            (label != 0).then_some(((label >> 8) as usize, (label & 0xFF) as usize))
        }
        Labels::Sparse { start, len } => sparse_label(mm, k, start, len, word),
    }
}

#[inline(never)]
fn sparse_label(
    mm: &MachineMessage,
    k: usize,
    start: u32,
    len: u32,
    word: &PayloadWord,
) -> Option<(usize, usize)> {
    let raw = i64::try_from(mm.cold.get(k)?.raw(word).as_int()?).ok()?;
    let table = mm
        .sparse
        .get(start as usize..start as usize + len as usize)?;
    let i = table.binary_search_by_key(&raw, |e| e.0).ok()?;
    table.get(i).map(|e| (e.1 as usize, e.2 as usize))
}

impl MachineMessage {
    fn new(csv: bool, m: &Message, mt: &MessageText) -> Option<MachineMessage> {
        // Every signal of the frames the plan takes is decoded: a partial decode (a
        // multiplexor that selects no branch) is left to the general path.
        let (flat, mux) = flat_plan(m)?;
        let size = m.size();
        let mut text = Vec::new();
        if csv {
            push_csv_field(&mut text, m.name());
            text.push(b',');
        } else {
            text.extend_from_slice(b", \"message\": ");
            text.extend_from_slice(&mt.json_name);
            text.extend_from_slice(b", \"signals\": {");
        }
        let head_len = text.len();
        let mut signals = Vec::with_capacity(flat.len());
        let mut labels = Vec::new();
        let mut sparse = Vec::new();
        let mut longest_label = 0;
        for f in &flat {
            let st = mt.signals.get(f.index())?;
            let (key, unit) = if csv {
                (&st.csv_name[..], &st.csv_unit[..])
            } else {
                (&st.key[..], &[][..])
            };
            if !csv && key.len() < 2 {
                return None;
            }
            let key_at = add_text(&mut text, key)?;
            let unit_at = add_text(&mut text, unit)?;
            let scaling = f
                .int_scaling()
                .and_then(|(factor, offset)| fits_i64(f, (factor.into(), offset.into())));
            let table = if st.labelled && !st.labels.is_empty() {
                longest_label = st
                    .labels
                    .iter()
                    .map(|l| l.1.len())
                    .fold(longest_label, usize::max);
                label_table(f, &st.labels, &mut text, &mut labels, &mut sparse)?
            } else {
                Labels::None
            };
            signals.push(MachineSignal {
                bits: f.flat_bits(),
                int: scaling.is_some(),
                factor: scaling.map_or(0, |s| s.0),
                offset: scaling.map_or(0, |s| s.1),
                key_at,
                key_len: u16::try_from(key.len()).ok()?,
                unit_at,
                unit_len: u16::try_from(unit.len()).ok()?,
                labels: table,
            });
        }
        text.extend_from_slice(&[0; FRAG]);
        // Per signal: key, value (at most 41 bytes and chunk scratch), unit, the key again (JSON
        // writes it before the label too) and label, each at least a FRAG-byte copy.
        let max_len = head_len.max(FRAG)
            + signals
                .iter()
                .map(|s| {
                    usize::from(s.key_len).max(FRAG)
                        + 48
                        + usize::from(s.unit_len).max(FRAG)
                        + usize::from(s.key_len).max(FRAG)
                        + longest_label.max(FRAG)
                        + 8
                })
                .sum::<usize>()
            + LINE_SLACK;
        Some(MachineMessage {
            size,
            text,
            head_len,
            signals,
            cold: flat,
            labels,
            sparse,
            max_len,
            mux,
        })
    }
}

/// A signal's labels (its value table as the format writes it, sorted by raw value), added to
/// `text` and to the dense or the sparse tables.
fn label_table(
    f: &FlatSignal,
    cells: &[super::LabelText],
    text: &mut Vec<u8>,
    labels: &mut Vec<u32>,
    sparse: &mut Vec<(i64, u32, u32)>,
) -> Option<Labels> {
    let (lo, hi) = f.raw_range();
    let mut placed = Vec::with_capacity(cells.len());
    for (v, cell) in cells {
        if (lo..=hi).contains(&i128::from(*v)) {
            placed.push((*v, add_text(text, cell)?, u32::try_from(cell.len()).ok()?));
        }
    }
    if f.size() <= DENSE_LABEL_BITS
        && let Some(table) = dense_table(f, placed.iter().copied())
    {
        let start = u32::try_from(labels.len()).ok()?;
        labels.extend_from_slice(&table);
        return Some(Labels::Dense(start));
    }
    let start = u32::try_from(sparse.len()).ok()?;
    sparse.extend_from_slice(&placed);
    Some(Labels::Sparse {
        start,
        len: u32::try_from(placed.len()).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dbc::Database;
    use crate::log::candump;
    use crate::output::fast::tests::{databases, frame_text, general_text, patterned};
    use crate::output::{Format, Formatter};

    /// What the fused path writes for the first line of `text` (which may go on), as the
    /// pipeline calls it: `None` when it leaves the line to the general path.
    fn fused(db: &Database, formatter: &Formatter, text: &[u8]) -> Option<(Vec<u8>, bool)> {
        let line_len = memchr::memchr(b'\n', text).unwrap_or(text.len());
        let line = &text[..line_len];
        let (scan, len, text) = match candump::scan_data_frame_in(text) {
            Some((scan, len)) => (scan, len, text),
            None => {
                let raw = line.trim_ascii_end();
                (candump::scan_data_frame(line)?, raw.len(), raw)
            }
        };
        let Fused::Machine(machine) = formatter.fused() else {
            panic!("not a machine format");
        };
        let mut out = vec![0xAA; 7];
        let mut pos = 3;
        let known = machine.line(db, text, len, &scan, &mut out, &mut pos);
        assert_eq!(&out[..3], &[0xAA; 3], "wrote before its position");
        match known {
            Some(known) => Some((out[3..pos].to_vec(), known)),
            None => {
                assert_eq!(pos, 3, "moved without writing");
                None
            }
        }
    }

    use super::super::Fused;

    const INTERFACES: [&str; 10] = [
        "vcan0", "can0", "can-1", "x:y.z", "c\"an", "c\\an", "a,b", "-can", "=x", "@x",
    ];
    const SECONDS: [&str; 4] = ["1700000000", "0", "0012", "7"];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]
        /// The fused path writes exactly what the general path writes, in JSON Lines and CSV,
        /// for random frames of every message of every DBC in the tests, unknown ids, odd
        /// interface names and timestamps, in both scanners.
        #[test]
        fn test_fused_machine_output_is_the_general_output(
            which in 0usize..64,
            pick in proptest::prelude::any::<proptest::sample::Index>(),
            unknown in 0u8..8,
            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..=8),
            nanos in proptest::prelude::any::<bool>(),
            direction in proptest::prelude::any::<bool>(),
            next in proptest::prelude::any::<bool>(),
            iface in 0usize..INTERFACES.len(),
            secs in 0usize..SECONDS.len(),
            csv in proptest::prelude::any::<bool>(),
        ) {
            thread_local! {
                static DBS: Vec<(Database, Formatter, Formatter)> = databases()
                    .into_iter()
                    .map(|db| {
                        let j = Formatter::new(Format::Jsonl, &db);
                        let c = Formatter::new(Format::Csv, &db);
                        (db, j, c)
                    })
                    .collect();
            }
            DBS.with(|dbs| -> Result<(), proptest::test_runner::TestCaseError> {
                let (db, jsonl, csv_formatter) = &dbs[which % dbs.len()];
                let formatter = if csv { csv_formatter } else { jsonl };
                let id = match db.messages().get(pick.index(db.messages().len().max(1))) {
                    Some(m) if unknown > 1 => m.id(),
                    _ if unknown == 1 => crate::frame::Id::new(0x18DA_F110, true).unwrap(),
                    _ => crate::frame::Id::new(0x7DF, false).unwrap(),
                };
                let frame = frame_text(id, &payload);
                let frac = if nanos { "000105123" } else { "000105" };
                let dir = if direction { " R" } else { "" };
                let line = format!(
                    "({}.{frac}) {} {frame}{dir}",
                    SECONDS[secs], INTERFACES[iface]
                );
                let want = general_text(db, formatter, line.as_bytes());
                let mut text = line.clone().into_bytes();
                if next {
                    text.extend_from_slice(b"\n(1700000000.000000) can0 123#0011223344556677\n");
                }
                if let Some((got, known)) = fused(db, formatter, &text) {
                    proptest::prop_assert_eq!(
                        String::from_utf8_lossy(&got),
                        String::from_utf8_lossy(&want)
                    );
                    proptest::prop_assert_eq!(known, db.message_index(id).is_some());
                }
                Ok(())
            })?;
        }
    }

    /// Every message of every DBC, with patterned payloads of every length: the fused path
    /// agrees with the general one in both formats, and takes most frames.
    #[test]
    fn test_fused_machine_output_for_every_message() {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        for format in [Format::Jsonl, Format::Csv] {
            let (mut taken, mut total) = (0, 0);
            for db in databases() {
                let formatter = Formatter::new(format, &db);
                let ids = db
                    .messages()
                    .iter()
                    .map(|m| (m.id(), m.size()))
                    .chain([(crate::frame::Id::new(0x7DF, false).unwrap(), 0)]);
                for (id, message_size) in ids {
                    for size in 0..=8usize {
                        for pattern in 0..12 {
                            let payload = patterned(size, pattern, &mut state);
                            let frame = frame_text(id, &payload);
                            let line = format!("(1700000000.000105) can0 {frame}");
                            let want = general_text(&db, &formatter, line.as_bytes());
                            let partial = String::from_utf8_lossy(&want).contains("partly");
                            let whole = size >= message_size && !partial;
                            total += usize::from(whole);
                            let mut text = line.clone().into_bytes();
                            text.extend_from_slice(b"\n(1700000000.000000) can0 123#00\n");
                            if let Some((got, _)) = fused(&db, &formatter, &text) {
                                taken += 1;
                                assert_eq!(
                                    String::from_utf8_lossy(&got),
                                    String::from_utf8_lossy(&want),
                                    "{format:?}: {line}"
                                );
                            }
                        }
                    }
                }
            }
            // All but the float and over-long messages (and deeper multiplexing).
            assert!(taken * 10 > total * 9, "{format:?}: {taken} of {total}");
        }
    }

    /// The edge cases by hand: labels dense, sparse and too long to pack, unknown ids, and the
    /// lines the fused path leaves to the general one.
    #[test]
    fn test_what_the_fused_path_takes() {
        let long = "a label longer than a packed entry ".repeat(8);
        let dbc = format!(
            "VERSION \"\"\nNS_ :\nBS_:\nBU_: A B\nBO_ 305 M: 4 A\n \
             SG_ Long : 0|2@1+ (1,0) [0|0] \"\" B\n SG_ Wide : 8|16@1+ (0.5,0) [0|0] \"V\" B\n \
             SG_ Short : 24|2@1+ (1,0) [0|0] \"\" B\n\
             BO_ 306 MUX: 2 A\n SG_ S M : 0|8@1+ (1,0) [0|0] \"\" B\n SG_ X m1 : 8|8@1+ (1,0) [0|0] \"\" B\n\
             VAL_ 305 Long 1 \"{long}\" 2 \"two\" ;\nVAL_ 305 Wide 4000 \"wide\" ;\n\
             VAL_ 305 Short 3 \"three\" ;\n"
        );
        let db = Database::from_str_named(&dbc, "edge.dbc").unwrap();
        let jsonl = Formatter::new(Format::Jsonl, &db);
        let csv = Formatter::new(Format::Csv, &db);
        let Fused::Machine(machine) = jsonl.fused() else {
            panic!()
        };
        let m = machine.messages[0].as_ref().unwrap();
        assert_eq!(m.signals[0].labels, Labels::Sparse { start: 0, len: 2 });
        assert!(matches!(m.signals[1].labels, Labels::Sparse { .. }));
        assert_eq!(m.signals[2].labels, Labels::Dense(0));
        assert!(machine.messages[1].is_some(), "one level of multiplexing");
        let line = b"(1700000000.000105) can0 131#01A00FC3\n";
        let (got, known) = fused(&db, &jsonl, line).unwrap();
        assert!(known);
        let want = format!(
            "{{\"timestamp\": 1700000000.000105, \"interface\": \"can0\", \"id\": 305, \
             \"extended\": false, \"message\": \"M\", \"signals\": {{\"Long\": 1, \"Wide\": \
             2000.0, \"Short\": 3}}, \"labels\": {{\"Long\": \"{long}\", \"Wide\": \"wide\", \
             \"Short\": \"three\"}}, \"data\": \"01A00FC3\"}}\n"
        );
        assert_eq!(String::from_utf8_lossy(&got), want);
        assert_eq!(got, general_text(&db, &jsonl, &line[..line.len() - 1]));
        let (got, _) = fused(&db, &csv, line).unwrap();
        let prefix = "1700000000.000105,can0,0x131,0,M,";
        assert_eq!(
            String::from_utf8_lossy(&got),
            format!(
                "{prefix}Long,1,,{long},\n{prefix}Wide,2000.0,V,wide,\n{prefix}Short,3,,three,\n"
            )
        );
        // One level of multiplexing: the root's signals, then the selected branch's.
        let mux = b"(1700000000.000105) can0 132#0107";
        for formatter in [&jsonl, &csv] {
            let (got, known) = fused(&db, formatter, mux).unwrap();
            assert!(known);
            assert_eq!(got, general_text(&db, formatter, mux));
        }
        let (got, _) = fused(&db, &jsonl, mux).unwrap();
        assert!(
            String::from_utf8_lossy(&got).contains("\"signals\": {\"S\": 1, \"X\": 7}"),
            "{}",
            String::from_utf8_lossy(&got)
        );
        // An unknown id, in both formats.
        let unknown = b"(1700000000.000105) can0 7DF#0210";
        let (got, known) = fused(&db, &csv, unknown).unwrap();
        assert!(!known);
        assert_eq!(got, b"1700000000.000105,can0,0x7DF,0,,,,,,\n");
        let (got, _) = fused(&db, &jsonl, unknown).unwrap();
        assert_eq!(got, general_text(&db, &jsonl, unknown));
        // Left to the general path: a short payload, a multiplexor that selects no branch
        // (a partial decode), seconds with a leading zero, interfaces JSON escapes or CSV
        // quotes or guards.
        for (formatter, line) in [
            (&jsonl, &b"(1700000000.000105) can0 131#01A0"[..]),
            (&jsonl, b"(1700000000.000105) can0 132#0202"),
            (&csv, b"(1700000000.000105) can0 132#0202"),
            (&jsonl, b"(01.000105) can0 131#01A00FC3"),
            (&jsonl, b"(1.000105) c\"n 131#01A00FC3"),
            (&csv, b"(1.000105) a,b 131#01A00FC3"),
            (&csv, b"(1.000105) -can 131#01A00FC3"),
        ] {
            assert!(
                fused(&db, formatter, line).is_none(),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
        // What JSON does not escape, CSV takes, and the other way round.
        assert!(fused(&db, &csv, b"(1.000105) c\"n 131#01A00FC3").is_none());
        assert!(fused(&db, &jsonl, b"(1.000105) -can 131#01A00FC3").is_some());
        assert!(fused(&db, &jsonl, b"(0.000105) can0 131#01A00FC3").is_some());
    }
}
