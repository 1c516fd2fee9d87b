//! The fused text path of `decode`: a classic data frame found by
//! [`scan_data_frame`](crate::log::candump::scan_data_frame) is decoded and printed in one pass, straight from the payload
//! word into the output, without the intermediate [`Decoded`](crate::dbc::Decoded)
//! buffer, the `i128` [`PhysicalValue`](crate::dbc::PhysicalValue) or a `memcpy` call per fragment.
//!
//! Contract: [`FastText::line`] prints exactly what [`Formatter::format`](super::Formatter)
//! prints in the text format for the same line (property tests hold them to that), or writes
//! nothing and returns `false` when the frame needs the general path (multiplexed messages,
//! messages longer than 8 bytes or with float signals, payloads shorter than the message).
//!
//! Per message, the plan keeps a compact array of signals (where the bits are, integer
//! scaling, offsets of the `, NAME=` / ` unit` / ` (label)` fragments in one text arena padded
//! so that every short fragment is one constant-size copy) and, for signals of at most
//! [`DENSE_LABEL_BITS`] bits, their labels by raw bits.

use crate::dbc::{Database, FlatBits, FlatMux, FlatSignal, Message, PayloadWord};
use crate::log::candump::DataFrameScan;

use super::{MessageText, push_scaled_decimal, push_text_value};

/// Fragments up to this length are copied in one constant-size copy.
pub(super) const FRAG: usize = 48;

/// Signals up to this size get a table of their labels by raw bits.
pub(super) const DENSE_LABEL_BITS: u8 = 10;

/// No label table (the signal has no value table).
const NO_LABELS: u32 = u32::MAX;
/// Labels looked up in the signal's value table.
const SPARSE_LABELS: u32 = u32::MAX - 1;

/// The fused plans of every message of a database.
pub struct FastText {
    /// Per message (database order); `None`: the general path.
    messages: Vec<Option<FastMessage>>,
}

/// A message printed straight from the payload.
struct FastMessage {
    size: usize,
    /// `  NAME`, then every fragment, then [`FRAG`] bytes of padding.
    text: Vec<u8>,
    header_len: usize,
    /// Every signal lies within `size` bytes, so every frame the plan takes decodes them all:
    /// the fixed texts between values are joined (`lead`/`tail`).
    joined: bool,
    /// The most a frame's text past the line can take, scratch included.
    max_len: usize,
    signals: Vec<FastSignal>,
    /// Parallel to `signals`: the full signal and the text plan's exact decimal scaling, for
    /// general values and sparse labels.
    cold: Vec<(FlatSignal, Option<(i128, i128)>)>,
    /// The label tables of the signals of at most [`DENSE_LABEL_BITS`] bits, one after the
    /// other (one allocation per message, so a frame's lookups stay close together): per raw
    /// bits value, the ` (label)` fragment in `text` as a [`packed_label`], 0 for none.
    labels: Vec<u32>,
    /// One level of multiplexing: `signals` holds the root signals, then every branch's.
    mux: Option<MuxPlan>,
}

/// Where the branches of a [`FlatMux`] are in a fused message's signals.
pub(super) struct MuxPlan {
    pub(super) plan: FlatMux,
    pub(super) root_len: usize,
    pub(super) ranges: Vec<std::ops::Range<usize>>,
}

impl MuxPlan {
    /// The signals a payload carries: the root's, and those of the branch its multiplexor
    /// selects; `None` when it selects none (a partial decode, which the general path marks).
    #[inline(always)]
    pub(super) fn rows(
        &self,
        word: &PayloadWord,
        len: usize,
    ) -> Option<(std::ops::Range<usize>, std::ops::Range<usize>)> {
        let branch = self.plan.select(word, len)?;
        let range = self.ranges.get(branch).cloned().unwrap_or(0..0);
        Some((0..self.root_len, range))
    }
}

/// A message's signals as a fused path takes them: in decoding order, one level of
/// multiplexing at most (the root's, then every branch's, with a [`MuxPlan`]); `None` when
/// the message needs the general path (deeper multiplexing, float signals, signals past the
/// eighth byte) or is only ever partly decoded (a signal, or the multiplexor, beyond its declared
/// length: the general path marks it).
pub(super) fn flat_plan(m: &Message) -> Option<(Vec<FlatSignal>, Option<MuxPlan>)> {
    let (flat, mux) = match m.flat_signals() {
        Some(flat) => (flat, None),
        None => {
            let plan = m.flat_mux()?;
            let mut all = plan.root.clone();
            let mut ranges = Vec::with_capacity(plan.branches.len());
            for (_, _, signals) in &plan.branches {
                let start = all.len();
                all.extend_from_slice(signals);
                ranges.push(start..all.len());
            }
            let root_len = plan.root.len();
            (
                all,
                Some(MuxPlan {
                    plan,
                    root_len,
                    ranges,
                }),
            )
        }
    };
    let size = m.size();
    if flat.iter().any(|f| f.end_byte() > size)
        || mux
            .as_ref()
            .is_some_and(|mp| mp.plan.multiplexor.end_byte() > size)
    {
        return None;
    }
    Some((flat, mux))
}

/// The hot part of one signal.
#[derive(Clone, Copy)]
struct FastSignal {
    bits: FlatBits,
    factor: i64,
    offset: i64,
    value: Value,
    decimals: u8,
    prefix_len: u8,
    unit_len: u8,
    prefix_at: u32,
    unit_at: u32,
    /// With `joined` messages: the text before the value (the header and `: NAME=` for the
    /// first signal, `, NAME=` after a labelled signal, else nothing) and after it (the unit,
    /// then `, NEXT=` unless this signal may have a label).
    lead_at: u32,
    tail_at: u32,
    lead_len: u16,
    tail_len: u16,
    /// Where this signal's table starts in [`FastMessage::labels`], or [`NO_LABELS`] /
    /// [`SPARSE_LABELS`].
    labels: u32,
}

/// How a value prints; each gives exactly what [`push_text_value`] gives.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Value {
    /// `raw * factor + offset`, an integer that fits `i64` for every raw value.
    Int,
    /// `(raw * factor + offset) / 10^decimals`, the numerator fitting `i64` for every raw value.
    Scaled,
    /// Through [`PhysicalValue`](crate::dbc::PhysicalValue) and [`push_text_value`].
    General,
}

/// A ` (label)` fragment of a message's text, as a label table holds it: its offset in the
/// high 24 bits, its length (1 to 255) in the low 8. `None` when either does not fit (the
/// signal then takes the sparse path).
pub(super) fn packed_label(at: usize, len: usize) -> Option<u32> {
    let at = u32::try_from(at).ok().filter(|&a| a < 1 << 24)?;
    let len = u8::try_from(len).ok().filter(|&l| l != 0)?;
    Some(at << 8 | u32::from(len))
}

/// Writes into a buffer's bytes at `pos`, in constant-size copies that may spill scratch bytes
/// past what they mean to write (the caller sizes the buffer for the worst case; should it
/// still run out, `overflow` is set and the line goes to the general path).
pub(super) struct Cursor<'a> {
    pub(super) buf: &'a mut [u8],
    pub(super) pos: usize,
    pub(super) overflow: bool,
}

impl Cursor<'_> {
    /// Writes the first `len` bytes of `chunk`, all `N` bytes copied.
    #[inline(always)]
    pub(super) fn chunk<const N: usize>(&mut self, chunk: &[u8; N], len: usize) {
        match self
            .buf
            .get_mut(self.pos..self.pos + N)
            .and_then(|d| <&mut [u8; N]>::try_from(d).ok())
        {
            Some(dst) => *dst = *chunk,
            None => self.overflow = true,
        }
        self.pos += len;
    }

    /// Writes `text[at..at + len]`, short fragments in one [`FRAG`]-byte copy (the arenas are
    /// padded so that the copy stays inside them).
    #[inline(always)]
    pub(super) fn frag(&mut self, text: &[u8], at: usize, len: usize) {
        if len <= FRAG
            && let Some(chunk) = text.get(at..at + FRAG)
            && let Ok(chunk) = <&[u8; FRAG]>::try_from(chunk)
        {
            self.chunk(chunk, len);
        } else if let Some(frag) = text.get(at..at + len) {
            self.slice(frag);
        } else {
            self.overflow = true;
        }
    }

    /// Writes all of `s`, a literal, in one constant-size copy.
    #[inline(always)]
    pub(super) fn lit<const N: usize>(&mut self, s: &[u8; N]) {
        self.chunk(s, N);
    }

    /// Writes again the `len` bytes written at `from` (before the cursor): short runs in one
    /// [`LINE_SLACK`]-byte copy (a copy whose source runs into its destination still copies
    /// the `len` bytes as they were).
    #[inline(always)]
    pub(super) fn repeat(&mut self, from: usize, len: usize) {
        let copy = len.max(LINE_SLACK);
        if from + len > self.pos || self.pos + copy > self.buf.len() {
            self.overflow = true;
        } else {
            self.buf.copy_within(from..from + copy, self.pos);
        }
        self.pos += len;
    }

    /// Writes what `write` appends to a scratch buffer (one per thread, not an allocation per
    /// call): for the rare values the general path's formatters write.
    pub(super) fn via_scratch(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        thread_local! {
            static TMP: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        TMP.with_borrow_mut(|tmp| {
            tmp.clear();
            write(tmp);
            self.slice(tmp);
        });
    }

    #[inline(always)]
    pub(super) fn slice(&mut self, s: &[u8]) {
        match self.buf.get_mut(self.pos..self.pos + s.len()) {
            Some(dst) => dst.copy_from_slice(s),
            None => self.overflow = true,
        }
        self.pos += s.len();
    }

    #[inline(always)]
    pub(super) fn byte(&mut self, b: u8) {
        match self.buf.get_mut(self.pos) {
            Some(dst) => *dst = b,
            None => self.overflow = true,
        }
        self.pos += 1;
    }

    /// A `u64` in decimal.
    #[inline(always)]
    pub(super) fn u64(&mut self, n: u64) {
        if n < 10 {
            self.byte(b'0' + n as u8);
        } else if n < 100 {
            self.chunk(&[b'0' + (n / 10) as u8, b'0' + (n % 10) as u8], 2);
        } else if n < 10_000 {
            let d = digits4(n as u32);
            let lead = d.trailing_zeros() / 8;
            let digits = (d | 0x3030_3030) >> (8 * lead);
            self.chunk(&digits.to_le_bytes(), 4 - lead as usize);
        } else if n < 100_000_000 {
            let d = digits8(n as u32);
            // Leading zero digits are the zero low bytes.
            let lead = d.trailing_zeros() / 8;
            let digits = (d | 0x3030_3030_3030_3030) >> (8 * lead);
            self.chunk(&digits.to_le_bytes(), 8 - lead as usize);
        } else {
            self.slice(itoa::Buffer::new().format(n).as_bytes());
        }
    }

    /// An `i64` in decimal, like [`push_int`](super::push_int).
    #[inline(always)]
    pub(super) fn i64(&mut self, i: i64) {
        if i < 0 {
            self.byte(b'-');
        }
        self.u64(i.unsigned_abs());
    }

    /// `v / 10^d` in decimal, like [`push_scaled_decimal`]: trailing zeros dropped but one
    /// digit kept after the point (`d = 0` prints the integer).
    #[inline]
    fn scaled(&mut self, v: i64, d: u8) {
        if d == 0 {
            return self.i64(v);
        }
        if d > 9 {
            let mut tmp = Vec::new();
            push_scaled_decimal(&mut tmp, i128::from(v), d);
            return self.slice(&tmp);
        }
        if v < 0 {
            self.byte(b'-');
        }
        let u = v.unsigned_abs();
        // One or two decimals (factors 0.1, 0.5, 0.01, ...) take a short way.
        if d == 1 {
            self.u64(u / 10);
            self.chunk(&[b'.', b'0' + (u % 10) as u8], 2);
            return;
        }
        if d == 2 {
            self.u64(u / 100);
            let frac = (u % 100) as u8;
            let (tens, ones) = (frac / 10, frac % 10);
            self.chunk(
                &[b'.', b'0' + tens, b'0' + ones],
                if ones == 0 { 2 } else { 3 },
            );
            return;
        }
        let (int, frac) = split_decimal(u, d);
        self.u64(int);
        if frac == 0 {
            self.chunk(b".0", 2);
            return;
        }
        // frac < 10^9: the last d of its 9 digits (with leading zeros), trailing zeros cut.
        let hi = (frac / 100_000_000) as u8;
        let d8 = digits8((frac % 100_000_000) as u32);
        let trailing = d8.leading_zeros() / 8;
        let keep = usize::from(d) - trailing as usize;
        // `.` and the digits: byte 0 is '.', then the 9 digits' last d.
        let digits = (u128::from(d8 | 0x3030_3030_3030_3030) << 16)
            | (u128::from(b'0' + hi) << 8)
            | u128::from(b'.');
        // Drop the 9 - d leading digits (keeping the '.').
        let skip = 9 - usize::from(d);
        let shifted = ((digits >> (8 * (skip + 1))) << 8) | u128::from(b'.');
        self.chunk(&shifted.to_le_bytes(), keep + 1);
    }
}

/// Appends `frag` to the arena, returning its offset.
pub(super) fn add_text(text: &mut Vec<u8>, frag: &[u8]) -> Option<u32> {
    let at = u32::try_from(text.len()).ok()?;
    text.extend_from_slice(frag);
    Some(at)
}

/// The plan of the message of a scanned frame, for a fused path whose plans are `messages`
/// (database order; `size` gives a plan's message size): `Some(Some((index, plan)))`,
/// `Some(None)` for an id the database does not have; `None` when the frame needs the general
/// path (no plan for its message, or a payload shorter than the message).
#[inline(always)]
pub(super) fn planned<'a, M>(
    db: &Database,
    scan: &DataFrameScan,
    messages: &'a [Option<M>],
    size: impl Fn(&M) -> usize,
) -> Option<Option<(usize, &'a M)>> {
    match db.message_index(scan.id) {
        Some(mi) => match messages.get(mi) {
            Some(Some(m)) if scan.len >= size(m) => Some(Some((mi, m))),
            _ => None,
        },
        None => Some(None),
    }
}

/// A cursor at `pos` in `buf`, grown first (by half at least) to hold `need` bytes.
#[inline(always)]
pub(super) fn cursor(buf: &mut Vec<u8>, pos: usize, need: usize) -> Cursor<'_> {
    if buf.len() < need {
        buf.resize(need.max(buf.len() + buf.len() / 2).max(64 * 1024), 0);
    }
    Cursor {
        buf: &mut buf[..],
        pos,
        overflow: false,
    }
}

/// `(factor, offset)` as `i64`s when `raw * factor + offset` fits `i64` for every raw value
/// of `f` (the value is then written with integer arithmetic).
pub(super) fn fits_i64(f: &FlatSignal, (factor, offset): (i128, i128)) -> Option<(i64, i64)> {
    let (lo, hi) = f.raw_range();
    let at = |r: i128| {
        r.checked_mul(factor)
            .and_then(|v| v.checked_add(offset))
            .and_then(|v| i64::try_from(v).ok())
    };
    at(lo)?;
    at(hi)?;
    Some((i64::try_from(factor).ok()?, i64::try_from(offset).ok()?))
}

/// A dense label table for `f` (at most [`DENSE_LABEL_BITS`] bits): per raw bits value, the
/// [`packed_label`] of the label of the raw value those bits read as, 0 for none. `labels`
/// are (raw value, offset and length of the label in the arena), one per value; those outside
/// the signal's raw range are left out. `None` when a label does not pack.
pub(super) fn dense_table(
    f: &FlatSignal,
    labels: impl IntoIterator<Item = (i64, u32, u32)>,
) -> Option<Vec<u32>> {
    let (lo, hi) = f.raw_range();
    let mask = (1u64 << f.size()) - 1;
    let mut table = vec![0u32; 1 << f.size()];
    for (value, at, len) in labels {
        if (lo..=hi).contains(&i128::from(value)) {
            *table.get_mut((value as u64 & mask) as usize)? =
                packed_label(at as usize, len as usize)?;
        }
    }
    Some(table)
}

impl FastText {
    /// The plans; `texts` are the text plan's fragments per message (database order).
    pub(super) fn new(db: &Database, texts: &[MessageText]) -> FastText {
        FastText {
            messages: crate::par::par_map(db.messages(), |i, m| FastMessage::new(m, texts.get(i)?)),
        }
    }

    /// Prints the frame of a line found by [`scan_data_frame`](crate::log::candump::scan_data_frame) at `*pos` in `buf`
    /// (bytes past `*pos` are scratch: the buffer grows as needed and is never cut back here),
    /// advancing `*pos`. The line as it is shown is `text[..len]`. Gives whether the frame's
    /// id is a message of the database; `None`, with `*pos` unchanged, when the frame needs
    /// the general path.
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
        let planned = planned(db, scan, &self.messages, |fm| fm.size)?;
        let need = *pos + len + LINE_SLACK + planned.map_or(0, |(_, fm)| fm.max_len);
        let mut w = cursor(buf, *pos, need);
        // The line: one 64-byte copy when the text has that many bytes.
        match text.get(..LINE_SLACK).map(<&[u8; LINE_SLACK]>::try_from) {
            Some(Ok(chunk)) if len <= LINE_SLACK => w.chunk(chunk, len),
            _ => w.slice(text.get(..len).unwrap_or_default()),
        }
        if let Some((mi, fm)) = planned
            && !write_signals(&mut w, db, mi, fm, scan)
        {
            return None;
        }
        w.byte(b'\n');
        if w.overflow {
            return None;
        }
        *pos = w.pos;
        Some(planned.is_some())
    }
}

/// Bytes of a line copied at once, and the scratch room past any write.
pub(super) const LINE_SLACK: usize = 64;

/// `  NAME: SIG=value unit (label), ...` for a frame of a fast message.
#[inline(always)]
fn write_signals(
    w: &mut Cursor<'_>,
    db: &Database,
    mi: usize,
    fm: &FastMessage,
    scan: &DataFrameScan,
) -> bool {
    let word = PayloadWord::new(&scan.data);
    if fm.joined {
        write_joined(w, db, mi, fm, &word);
        return true;
    }
    w.frag(&fm.text, 0, fm.header_len);
    // The first signal's ", " becomes ": ".
    let first_comma = w.pos;
    match &fm.mux {
        None => write_plain(w, db, mi, fm, 0..fm.signals.len(), &word, scan.len),
        Some(mux) => {
            write_plain(w, db, mi, fm, 0..mux.root_len, &word, scan.len);
            match mux.plan.select(&word, scan.len) {
                Some(branch) => {
                    if let Some(range) = mux.ranges.get(branch) {
                        write_plain(w, db, mi, fm, range.clone(), &word, scan.len);
                    }
                }
                // No branch: a partial decode, which the general path marks.
                None => return false,
            }
        }
    }
    if let Some(c) = w.buf.get_mut(first_comma)
        && first_comma < w.pos
    {
        *c = b':';
    }
    true
}

/// `, NAME=value unit (label)` for the signals `range` of `fm` that a payload of `len` bytes
/// carries.
#[inline(always)]
fn write_plain(
    w: &mut Cursor<'_>,
    db: &Database,
    mi: usize,
    fm: &FastMessage,
    range: std::ops::Range<usize>,
    word: &PayloadWord,
    len: usize,
) {
    let text = &fm.text[..];
    let Some(signals) = fm.signals.get(range.clone()) else {
        return;
    };
    for (k, fs) in range.zip(signals) {
        if fs.bits.end_byte() > len {
            continue;
        }
        w.frag(text, fs.prefix_at as usize, usize::from(fs.prefix_len));
        let between = (fs.unit_at as usize, usize::from(fs.unit_len));
        write_value_and_label(w, db, mi, fm, k, fs, word, between);
    }
}

/// [`write_signals`] for a `joined` message.
#[inline(always)]
fn write_joined(
    w: &mut Cursor<'_>,
    db: &Database,
    mi: usize,
    fm: &FastMessage,
    word: &PayloadWord,
) {
    let text = &fm.text[..];
    if fm.signals.is_empty() {
        w.frag(text, 0, fm.header_len);
    }
    for (k, fs) in fm.signals.iter().enumerate() {
        if fs.lead_len != 0 {
            w.frag(text, fs.lead_at as usize, usize::from(fs.lead_len));
        }
        let between = (fs.tail_at as usize, usize::from(fs.tail_len));
        write_value_and_label(w, db, mi, fm, k, fs, word, between);
    }
}

/// Signal `k` (`fs`) of a message: its value, the text fragment `between` (unit and separator),
/// then its label if it has one.
#[allow(clippy::too_many_arguments, reason = "inlined into the two hot loops")]
#[inline(always)]
fn write_value_and_label(
    w: &mut Cursor<'_>,
    db: &Database,
    mi: usize,
    fm: &FastMessage,
    k: usize,
    fs: &FastSignal,
    word: &PayloadWord,
    between: (usize, usize),
) {
    let text = &fm.text[..];
    let bits = fs.bits.bits(word);
    match fs.value {
        Value::Int => {
            let raw = fs.bits.raw_i64(word);
            w.i64(raw.wrapping_mul(fs.factor).wrapping_add(fs.offset));
        }
        Value::Scaled => {
            let raw = fs.bits.raw_i64(word);
            w.scaled(
                raw.wrapping_mul(fs.factor).wrapping_add(fs.offset),
                fs.decimals,
            );
        }
        Value::General => {
            if let Some(&(flat, scaled)) = fm.cold.get(k) {
                write_general(w, &flat, scaled, fs.decimals, word);
            }
        }
    }
    w.frag(text, between.0, between.1);
    match fs.labels {
        NO_LABELS => {}
        SPARSE_LABELS => {
            if let Some((flat, _)) = fm.cold.get(k) {
                write_sparse_label(w, db.messages().get(mi), flat, word);
            }
        }
        t => {
            // No label is entry 0: a copy of no bytes, without a branch on random data.
            if let Some(&label) = fm.labels.get(t as usize + bits as usize) {
                w.frag(text, (label >> 8) as usize, (label & 0xFF) as usize);
            }
        }
    }
}

#[cold]
fn write_general(
    w: &mut Cursor<'_>,
    flat: &FlatSignal,
    scaled: Option<(i128, i128)>,
    decimals: u8,
    word: &PayloadWord,
) {
    let raw = flat.raw(word);
    w.via_scratch(|tmp| push_text_value(tmp, flat.physical(raw), raw.as_int(), scaled, decimals));
}

#[cold]
fn write_sparse_label(
    w: &mut Cursor<'_>,
    m: Option<&Message>,
    flat: &FlatSignal,
    word: &PayloadWord,
) {
    if let Some(label) = m
        .and_then(|m| m.signals().get(flat.index()))
        .and_then(|sig| sig.label(flat.raw(word).as_int()?))
    {
        w.slice(b" (");
        w.slice(label.as_bytes());
        w.byte(b')');
    }
}

impl FastMessage {
    fn new(m: &Message, texts: &MessageText) -> Option<FastMessage> {
        let (flat, mux) = flat_plan(m)?;
        let mut text = texts.header.to_vec();
        let header_len = text.len();
        let mut signals = Vec::with_capacity(flat.len());
        let mut labels = Vec::new();
        let mut cold = Vec::with_capacity(flat.len());
        // Per signal: its `, NAME=` and ` unit`, and whether it has labels.
        let mut fixed = Vec::with_capacity(flat.len());
        for f in &flat {
            let sig = m.signals().get(f.index())?;
            let st = texts.signals.get(f.index())?;
            let fits = |scaling| fits_i64(f, scaling);
            let int = f
                .int_scaling()
                .and_then(|(fa, of)| fits((i128::from(fa), i128::from(of))));
            let scaled = st.scaled.and_then(fits);
            let (value, (factor, offset)) = match (f.int_scaling(), int, scaled) {
                (Some(_), Some(fo), _) => (Value::Int, fo),
                (None, _, Some(fo)) => (Value::Scaled, fo),
                _ => (Value::General, (0, 0)),
            };
            cold.push((*f, st.scaled));
            let prefix_at = add_text(&mut text, &st.prefix)?;
            let unit_at = add_text(&mut text, &st.unit)?;
            let label_ref = if !st.labelled {
                NO_LABELS
            } else if f.size() <= DENSE_LABEL_BITS
                && let Some(start) = dense_labels(sig, f, &mut text, &mut labels)
            {
                start
            } else {
                SPARSE_LABELS
            };
            signals.push(FastSignal {
                bits: f.flat_bits(),
                factor,
                offset,
                value,
                decimals: st.decimals,
                prefix_len: u8::try_from(st.prefix.len()).unwrap_or(u8::MAX),
                unit_len: u8::try_from(st.unit.len()).unwrap_or(u8::MAX),
                prefix_at,
                unit_at,
                lead_at: 0,
                tail_at: 0,
                lead_len: 0,
                tail_len: 0,
                labels: label_ref,
            });
            fixed.push((st.prefix.to_vec(), st.unit.to_vec(), st.labelled));
            if st.prefix.len() >= usize::from(u8::MAX) || st.unit.len() >= usize::from(u8::MAX) {
                return None;
            }
        }
        join_texts(&texts.header, &fixed, &mut signals, &mut text)?;
        let joined = mux.is_none() && flat.iter().all(|f| f.end_byte() <= m.size());
        let longest_joined = signals
            .iter()
            .map(|s| usize::from(s.lead_len.max(s.tail_len)))
            .max()
            .unwrap_or(0);
        text.extend_from_slice(&[0; FRAG]);
        // Per signal: prefix, value (at most 41 bytes: sign, 20 digits, point, 9 digits, and
        // chunk scratch), unit and label, each at least a FRAG-byte copy.
        let longest_label = labels
            .iter()
            .map(|&label| (label & 0xFF) as usize)
            .max()
            .unwrap_or(0);
        let max_len = header_len.max(FRAG)
            + signals
                .iter()
                .map(|s: &FastSignal| {
                    usize::from(s.prefix_len).max(FRAG)
                        + longest_joined.max(FRAG)
                        + 48
                        + usize::from(s.unit_len).max(FRAG)
                        + longest_label.max(FRAG)
                })
                .sum::<usize>()
            + LINE_SLACK;
        Some(FastMessage {
            size: m.size(),
            text,
            header_len,
            joined,
            max_len,
            signals,
            cold,
            labels,
            mux,
        })
    }
}

/// A signal's labels by its raw bits, for signals of at most [`DENSE_LABEL_BITS`] bits: for
/// each value-table entry (sorted, one per value), the raw bits that read as that value and
/// its ` (LABEL)` fragment, added to `text`; the table is added to `labels`, and where it
/// starts is returned. `None`, with `labels` as it was, when a fragment does not fit a
/// [`packed_label`] (the signal then takes the sparse path).
fn dense_labels(
    sig: &crate::dbc::Signal,
    f: &FlatSignal,
    text: &mut Vec<u8>,
    labels: &mut Vec<u32>,
) -> Option<u32> {
    let (lo, hi) = f.raw_range();
    let at = u32::try_from(labels.len())
        .ok()
        .filter(|&s| s < SPARSE_LABELS)?;
    let mut placed = Vec::new();
    for entry in sig.value_table() {
        let v = i128::from(entry.value);
        if v < lo || v > hi || sig.label(v) != Some(entry.label.as_str()) {
            continue;
        }
        let frag = format!(" ({})", entry.label);
        let frag_at = add_text(text, frag.as_bytes())?;
        placed.push((entry.value, frag_at, u32::try_from(frag.len()).ok()?));
    }
    labels.extend_from_slice(&dense_table(f, placed)?);
    Some(at)
}

/// The texts joined around each value, added to `text`: before it, `  NAME: SIG=` for the
/// first signal, or the prefix when the previous signal has labels; after it, the unit and,
/// when this signal has no labels, the next signal's prefix.
fn join_texts(
    header: &[u8],
    fixed: &[(Vec<u8>, Vec<u8>, bool)],
    signals: &mut [FastSignal],
    text: &mut Vec<u8>,
) -> Option<()> {
    for k in 0..signals.len() {
        let (prefix, unit, labelled) = fixed.get(k)?;
        let mut lead = Vec::new();
        if k == 0 {
            // `  NAME: SIG=` (the prefix's ", " becomes ": ").
            lead.extend_from_slice(header);
            lead.push(b':');
            lead.extend_from_slice(prefix.get(1..)?);
        } else if fixed.get(k - 1)?.2 {
            lead.extend_from_slice(prefix);
        }
        let mut tail = unit.clone();
        if !labelled && let Some((next, _, _)) = fixed.get(k + 1) {
            tail.extend_from_slice(next);
        }
        let lead_at = add_text(text, &lead)?;
        let tail_at = add_text(text, &tail)?;
        let fs = signals.get_mut(k)?;
        fs.lead_at = lead_at;
        fs.tail_at = tail_at;
        fs.lead_len = u16::try_from(lead.len()).ok()?;
        fs.tail_len = u16::try_from(tail.len()).ok()?;
    }
    Some(())
}

/// Eight decimal digits of `n < 10^8`, most significant first in memory order (the low
/// byte), as values 0-9 (SWAR: two 4-digit halves, then pairs, then digits).
#[inline(always)]
fn digits8(n: u32) -> u64 {
    let hi = u64::from(n / 10_000);
    let lo = u64::from(n % 10_000);
    let v = hi | (lo << 32);
    let hundreds = ((v * 10_486) >> 20) & 0x0000_007F_0000_007F;
    let v = hundreds | ((v - hundreds * 100) << 16);
    let tens = ((v * 103) >> 10) & 0x000F_000F_000F_000F;
    tens | ((v - tens * 10) << 8)
}

/// Four decimal digits of `n < 10^4`, as [`digits8`] does eight.
#[inline(always)]
fn digits4(n: u32) -> u32 {
    let hundreds = (n * 10_486) >> 20;
    let v = hundreds | ((n - hundreds * 100) << 16);
    let tens = ((v * 103) >> 10) & 0x000F_000F;
    tens | ((v - tens * 10) << 8)
}

/// `(v / 10^d, v % 10^d)` with constant divisors (no division instruction).
#[inline(always)]
fn split_decimal(u: u64, d: u8) -> (u64, u64) {
    macro_rules! by {
        ($p:expr) => {
            (u / $p, u % $p)
        };
    }
    match d {
        1 => by!(10),
        2 => by!(100),
        3 => by!(1_000),
        4 => by!(10_000),
        5 => by!(100_000),
        6 => by!(1_000_000),
        7 => by!(10_000_000),
        8 => by!(100_000_000),
        _ => by!(1_000_000_000),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::log::candump;
    use crate::output::push_int;

    fn written(f: impl FnOnce(&mut Cursor<'_>)) -> String {
        let mut buf = vec![0u8; 256];
        let mut w = Cursor {
            buf: &mut buf,
            pos: 0,
            overflow: false,
        };
        f(&mut w);
        assert!(!w.overflow);
        let pos = w.pos;
        String::from_utf8(buf[..pos].to_vec()).unwrap()
    }

    #[test]
    fn test_integers_match_the_general_path() {
        let mut cases: Vec<u64> = (0..2000).collect();
        for p in 0..20 {
            let t = 10u64.pow(p);
            cases.extend([t - 1, t, t + 1, t.saturating_mul(7) / 3]);
        }
        cases.extend([u64::MAX, 99_999_999, 100_000_000, 12_345_678]);
        for n in cases {
            assert_eq!(written(|w| w.u64(n)), n.to_string());
        }
        for i in [i64::MIN, -1, -10, -99_999_999, 0, 42, i64::MAX] {
            let mut b = Vec::new();
            push_int(&mut b, i128::from(i));
            assert_eq!(written(|w| w.i64(i)).as_bytes(), b);
        }
    }

    #[test]
    fn test_scaled_values_match_the_general_path() {
        let mut values = vec![
            0i64,
            1,
            -1,
            5,
            -5,
            10,
            120,
            -122,
            200,
            123_456_789,
            -987_654_321_012,
            1_000_000_000,
            100_000_000,
            -300_000_000,
            i64::MAX,
            i64::MIN,
        ];
        values.extend((0..1000).map(|k| k * 7_919 - 3_000_000));
        for d in 0..=12u8 {
            for &v in &values {
                let mut b = Vec::new();
                push_scaled_decimal(&mut b, i128::from(v), d);
                assert_eq!(
                    written(|w| w.scaled(v, d)),
                    String::from_utf8(b).unwrap(),
                    "{v} {d}"
                );
            }
        }
    }

    /// Edge cases for the fused path: long names and units (past one fragment copy), labels
    /// on signed and on wide signals (sparse), signals past the message size, scalings that
    /// are not exact in decimal, 64-bit values and a float signal.
    const EDGE_DBC: &str = r#"VERSION ""
NS_ :
BS_:
BU_: A B
BO_ 300 LONG_NAMES_AND_UNITS_OF_A_MESSAGE_THAT_GOES_ON: 8 A
 SG_ A_signal_name_longer_than_thirty_two_bytes_in_all : 0|4@1- (1,0) [0|0] "a unit longer than thirty-two bytes" B
 SG_ Wide_labelled : 4|16@1+ (1,0) [0|0] "" B
 SG_ Thirds : 20|12@1+ (0.333333333333,0) [0|0] "x" B
 SG_ Tiny : 32|8@1+ (1e-12,0) [0|0] "" B
 SG_ Past_size : 40|8@1+ (1,0) [0|0] "" B
BO_ 301 SHORT: 4 A
 SG_ Beyond_declared_size : 32|16@1- (0.5,-1000) [0|0] "" B
 SG_ In : 0|8@1- (-2,3) [0|0] "" B
BO_ 302 BIG: 8 A
 SG_ Big_offset : 0|63@1- (1000,9000000000000000000) [0|0] "" B
BO_ 303 FLOAT: 8 A
 SG_ F : 0|32@1- (1,0) [0|0] "" B
BO_ 304 NONE: 2 A
SIG_VALTYPE_ 303 F : 1;
VAL_ 300 A_signal_name_longer_than_thirty_two_bytes_in_all -8 "minus eight" -1 "minus one, a label longer than thirty-two bytes" 7 "seven" ;
VAL_ 300 Wide_labelled 0 "zero" 65535 "top" 1000 "thousand" ;
VAL_ 301 In 0 "zero" ;
"#;

    /// A small signal whose label is too long for a packed label table entry (255 bytes):
    /// the fused path looks it up in the value table instead.
    fn long_label_dbc() -> String {
        format!(
            "VERSION \"\"\nNS_ :\nBS_:\nBU_: A B\nBO_ 305 LONG_LABEL: 2 A\n \
             SG_ Long : 0|2@1+ (1,0) [0|0] \"\" B\n SG_ Short : 8|2@1+ (1,0) [0|0] \"\" B\n\
             VAL_ 305 Long 1 \"{}\" 2 \"two\" ;\nVAL_ 305 Short 3 \"three\" ;\n",
            "a label longer than a packed entry ".repeat(8)
        )
    }

    /// The edge-case databases and every DBC of the tests and of `dbc/`.
    pub(in crate::output) fn databases() -> Vec<Database> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut dbs = vec![
            Database::from_str_named(EDGE_DBC, "edge.dbc").unwrap(),
            Database::from_str_named(&long_label_dbc(), "long_label.dbc").unwrap(),
        ];
        for dir in ["tests/data/dbc", "dbc"] {
            let mut paths: Vec<_> = std::fs::read_dir(root.join(dir))
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "dbc"))
                .collect();
            paths.sort();
            for p in paths {
                dbs.push(
                    crate::dbc::Database::from_bytes(
                        &std::fs::read(&p).unwrap(),
                        &p.display().to_string(),
                    )
                    .unwrap(),
                );
            }
        }
        dbs
    }

    /// A payload of `size` bytes for pattern `pattern`: all zeros, all ones, all 0x80, or (3
    /// and up) the next bytes of `state`'s xorshift.
    pub(in crate::output) fn patterned(size: usize, pattern: u32, state: &mut u64) -> Vec<u8> {
        (0..size)
            .map(|_| match pattern {
                0 => 0,
                1 => 0xFF,
                2 => 0x80,
                _ => {
                    *state ^= *state << 13;
                    *state ^= *state >> 7;
                    *state ^= *state << 17;
                    *state as u8
                }
            })
            .collect()
    }

    /// `ID#HEX` as candump writes a classic data frame.
    pub(in crate::output) fn frame_text(id: crate::frame::Id, payload: &[u8]) -> String {
        let hex: String = payload.iter().map(|b| format!("{b:02X}")).collect();
        if id.is_extended() {
            format!("{:08X}#{hex}", id.raw())
        } else {
            format!("{:03X}#{hex}", id.raw())
        }
    }

    /// The fused text path of a text formatter.
    fn text_path(formatter: &super::super::Formatter) -> &FastText {
        match formatter.fused() {
            super::super::Fused::Text(fast) => fast,
            super::super::Fused::Machine(_) => panic!("not a text formatter"),
        }
    }

    /// What the general path writes for `line` in `formatter`'s format.
    pub(in crate::output) fn general_text(
        db: &Database,
        formatter: &super::super::Formatter,
        line: &[u8],
    ) -> Vec<u8> {
        use crate::log::candump::{Line as LogLine, parse_line};
        let Ok(LogLine::Record(rec)) = parse_line(line) else {
            panic!("not a record: {}", String::from_utf8_lossy(line));
        };
        let mut decoder = super::super::FrameDecoder::new(db);
        let mut out = Vec::new();
        formatter.format(
            &super::super::Line {
                raw: Some(line.trim_ascii_end()),
                ..super::super::Line::of_record(&rec, decoder.decode(&rec.frame))
            },
            &mut out,
        );
        out
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]
        /// The fused path prints exactly what the general path prints, for random frames of
        /// every message of every DBC in the tests (and unknown ids), in both scanners.
        #[test]
        fn test_fused_text_is_the_general_text(
            which in 0usize..64,
            pick in proptest::prelude::any::<proptest::sample::Index>(),
            unknown in 0u8..8,
            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..=8),
            nanos in proptest::prelude::any::<bool>(),
            direction in proptest::prelude::any::<bool>(),
            next in proptest::prelude::any::<bool>(),
        ) {
            thread_local! {
                static DBS: Vec<(Database, super::super::Formatter)> = databases()
                    .into_iter()
                    .map(|db| {
                        let f = super::super::Formatter::new(super::super::Format::Text, &db);
                        (db, f)
                    })
                    .collect();
            }
            DBS.with(|dbs| -> Result<(), proptest::test_runner::TestCaseError> {
                let (db, formatter) = &dbs[which % dbs.len()];
                let fast = text_path(formatter);
                let id = match db.messages().get(pick.index(db.messages().len().max(1))) {
                    Some(m) if unknown != 0 => m.id(),
                    _ => crate::frame::Id::new(0x7DF, false).unwrap(),
                };
                if db.messages().is_empty() {
                    return Ok(());
                }
                let frame = frame_text(id, &payload);
                let frac = if nanos { "000105123" } else { "000105" };
                let dir = if direction { " R" } else { "" };
                let line = format!("(1700000000.{frac}) vcan0 {frame}{dir}");
                let want = general_text(db, formatter, line.as_bytes());
                let mut text = line.clone().into_bytes();
                if next {
                    text.extend_from_slice(b"\n(1700000000.000000) can0 123#0011223344556677\n");
                }
                let mut out = vec![0xAA; 7];
                let mut pos = 3;
                let scanned = match candump::scan_data_frame_in(&text) {
                    Some(found) => Some(found),
                    None => candump::scan_data_frame(line.as_bytes()).map(|s| (s, line.len())),
                };
                let (scan, len) = scanned.expect("a common line");
                proptest::prop_assert_eq!(len, line.len());
                if fast.line(db, &text, len, &scan, &mut out, &mut pos).is_some() {
                    proptest::prop_assert_eq!(
                        String::from_utf8_lossy(&out[3..pos]),
                        String::from_utf8_lossy(&want)
                    );
                } else {
                    proptest::prop_assert_eq!(pos, 3);
                }
                proptest::prop_assert_eq!(&out[..3], &[0xAA; 3]);
                Ok(())
            })?;
        }
    }

    /// Every message of every DBC, with patterned payloads of every length: the fused path
    /// agrees with the general one, and takes most frames.
    #[test]
    fn test_fused_text_for_every_message() {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let (mut taken, mut total, mut mux_taken, mut mux_total) = (0, 0, 0, 0);
        for db in databases() {
            let formatter = super::super::Formatter::new(super::super::Format::Text, &db);
            let fast = text_path(&formatter);
            for (mi, m) in db.messages().iter().enumerate() {
                let has_fast = fast.messages.get(mi).is_some_and(Option::is_some);
                for size in 0..=8usize {
                    for pattern in 0..12 {
                        let payload = patterned(size, pattern, &mut state);
                        let id = m.id();
                        let frame = frame_text(id, &payload);
                        let line = format!("(1700000000.000105) can0 {frame}");
                        let want = general_text(&db, &formatter, line.as_bytes());
                        let mut text = line.clone().into_bytes();
                        text.extend_from_slice(
                            b"\n(1700000000.000000) can0 123#0011223344556677\n",
                        );
                        let (scan, len) = candump::scan_data_frame_in(&text).unwrap();
                        let (mut out, mut pos) = (Vec::new(), 0);
                        // Partial decodes are the general path's (it marks them).
                        let partial = String::from_utf8_lossy(&want).contains("  PARTIAL (");
                        let whole = size >= m.size() && !partial;
                        total += usize::from(whole);
                        mux_total += usize::from(whole && has_fast && m.is_multiplexed());
                        if fast
                            .line(&db, &text, len, &scan, &mut out, &mut pos)
                            .is_some()
                        {
                            taken += 1;
                            mux_taken += usize::from(m.is_multiplexed());
                            assert_eq!(
                                String::from_utf8_lossy(&out[..pos]),
                                String::from_utf8_lossy(&want),
                                "{line}"
                            );
                        }
                    }
                }
            }
        }
        // All but the float and over-long messages (and deeper multiplexing).
        assert!(taken * 10 > total * 9, "{taken} of {total}");
        // Every whole multiplexed frame of a message the fused path has.
        assert!(
            mux_total >= 12 && mux_taken == mux_total,
            "{mux_taken} of {mux_total}"
        );
    }

    #[test]
    fn test_fused_path_takes_the_common_messages() {
        let dbs = databases();
        let edge = &dbs[0];
        let formatter = super::super::Formatter::new(super::super::Format::Text, edge);
        let fast = text_path(&formatter);
        let taken: Vec<bool> = fast.messages.iter().map(Option::is_some).collect();
        // Every message but the one with a signal beyond its declared size (only ever
        // partly decoded: the general path marks it) and the float one.
        assert_eq!(taken, [true, false, true, false, true]);
    }

    #[test]
    fn test_a_label_too_long_to_pack_is_printed() {
        let db = Database::from_str_named(&long_label_dbc(), "long_label.dbc").unwrap();
        let formatter = super::super::Formatter::new(super::super::Format::Text, &db);
        let fast = text_path(&formatter);
        let fm = fast.messages[0].as_ref().expect("a fused message");
        // `Long` is looked up in its value table, `Short` in the packed table.
        assert_eq!(fm.signals[0].labels, SPARSE_LABELS);
        assert_eq!(fm.signals[1].labels, 0);
        let long = "a label longer than a packed entry ".repeat(8);
        for (hex, want) in [
            ("0103", format!("Long=1 ({long}), Short=3 (three)")),
            ("0200", "Long=2 (two), Short=0".to_string()),
        ] {
            let text = format!("(1700000000.000105) can0 131#{hex}\n").into_bytes();
            let (scan, len) = candump::scan_data_frame_in(&text).unwrap();
            let (mut out, mut pos) = (Vec::new(), 0);
            assert_eq!(
                fast.line(&db, &text, len, &scan, &mut out, &mut pos),
                Some(true)
            );
            let line = String::from_utf8_lossy(&out[..pos]).into_owned();
            assert_eq!(
                line,
                format!("(1700000000.000105) can0 131#{hex}  LONG_LABEL: {want}\n")
            );
            assert_eq!(out[..pos], general_text(&db, &formatter, &text[..len])[..]);
        }
    }

    #[test]
    fn test_cursor_reports_overflow() {
        let mut buf = vec![0u8; 8];
        let mut w = Cursor {
            buf: &mut buf,
            pos: 0,
            overflow: false,
        };
        w.slice(b"1234");
        assert!(!w.overflow);
        w.frag(&[b'x'; 64], 0, 3);
        assert!(w.overflow);
    }
}
