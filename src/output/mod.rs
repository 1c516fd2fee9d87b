//! Output of decoded frames: text for people, JSON Lines (a stable machine contract) and CSV.
//!
//! Formatting goes into one reusable byte buffer per frame (numbers with `itoa`/`ryu`, no
//! `format!`), then into a large `BufWriter`: this is the hot path of `decode`.
//!
//! JSON Lines contract, one object per frame, in input order:
//! `{"timestamp": 1700000000.000211, "interface": "can0", "id": 1549, "extended": false,
//! "message": "BODY_STATUS" | null, "signals": {"NAME": <physical number>}, "labels":
//! {"NAME": "value-table text"}}`; a frame whose message is known but cannot be decoded has
//! `"error": "<why>"` instead of `signals`/`labels`; one only partly decoded (a multiplexor
//! value selecting no branch, signals beyond the message's declared length) keeps what was
//! decoded and adds `"error": "partly decoded: <why>", "partial": true`. Extra keys follow: `"data"` (hex), `"fd"`,
//! `"remote"`, and for error frames `"id": null` with `"error_frame": {"classes": [...]}`.
//! Numbers are integers for integer signals with integral scaling, else the shortest decimal
//! that reads back as the same float (`null` for NaN or infinities).

use std::io::Write as _;

mod fast;
mod machine;
pub mod parquet;
pub mod pipeline;
pub mod verdict;

use crate::dbc::{Database, DecodeError, Decoded, Message, PhysicalValue};
use crate::frame::Frame;
use crate::log::candump::{self, Precision};
use crate::time::Timestamp;

/// The output formats of `decode` and `dump`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One line per frame for people: raw frame, message, signals with units and labels.
    Text,
    /// One JSON object per frame (stable machine contract).
    Jsonl,
    /// One row per signal, with a header.
    Csv,
}

/// How each signal is shown to people, worked out once per DBC: the `NAME=` and ` unit`
/// fragments, and the decimal places of its resolution (as many as its factor and offset have,
/// capped at 9), so `-122 x 0.1` shows as `-12.2`, not the float's exact
/// `-12.200000000000001` (JSON and CSV keep the exact value). When the scaling is exact in
/// decimal, values are printed with integer arithmetic (`raw x F + O` with the point put back),
/// which is exact and several times faster than formatting the float.
pub struct TextPlan {
    /// Per message (database order).
    messages: Vec<MessageText>,
    /// The format's fused decode-and-write path.
    fused: FusedPlan,
}

/// The fused path of a format: text's (see [`fast`]), or JSON Lines' or CSV's (see
/// [`machine`]).
enum FusedPlan {
    Text(fast::FastText),
    Machine(machine::FastMachine),
}

struct MessageText {
    /// `  NAME` (text only).
    header: Box<[u8]>,
    /// `"NAME"` as JSON (JSON Lines only).
    json_name: Box<[u8]>,
    signals: Vec<SignalText>,
}

/// A value-table entry: the raw value and its label as the format writes it (a JSON string,
/// or a CSV cell).
type LabelText = (i64, Box<[u8]>);

/// The texts of one signal. Each format fills only what it writes (the rest stay empty, which
/// costs no allocation): loading a large DBC is on the path before the first frame.
struct SignalText {
    /// `, NAME=` (text; the first signal of a frame skips the `, `).
    prefix: Box<[u8]>,
    /// `, "NAME": ` (JSON Lines; the first signal of an object skips the `, `).
    key: Box<[u8]>,
    /// Whether the signal has a value table (else no label lookup).
    labelled: bool,
    /// The value table, by raw value, each label as a JSON string (JSON Lines) or a CSV cell
    /// (CSV); empty for text, which prints labels from the database.
    labels: Box<[LabelText]>,
    /// `NAME,` and `,UNIT,` as CSV cells (CSV).
    csv_name: Box<[u8]>,
    csv_unit: Box<[u8]>,
    /// ` unit`, or empty (text).
    unit: Box<[u8]>,
    decimals: u8,
    /// `(factor x 10^decimals, offset x 10^decimals)` when both are integers.
    scaled: Option<(i128, i128)>,
}

impl SignalText {
    /// The label of a decoded value as the format writes it: looked up by the raw value of an
    /// integer signal, or of a float signal with an integral value, as
    /// [`DecodedSignal::label`](crate::dbc::DecodedSignal::label) does.
    fn label(&self, s: &crate::dbc::DecodedSignal) -> Option<&[u8]> {
        let raw = match s.raw.as_int() {
            Some(i) => i,
            None => {
                let f = s.raw.as_f64();
                if f.fract() != 0.0 || !f.is_finite() {
                    return None;
                }
                f as i128
            }
        };
        let raw = i64::try_from(raw).ok()?;
        let i = self.labels.binary_search_by_key(&raw, |l| l.0).ok()?;
        self.labels.get(i).map(|l| &l.1[..])
    }
}

impl TextPlan {
    /// The texts `format` writes, for every message of `db`.
    pub fn new(format: Format, db: &Database) -> Self {
        let messages = crate::par::par_map(db.messages(), |_, m| MessageText {
            header: match format {
                Format::Text => format!("  {}", m.name()).into_bytes().into(),
                Format::Jsonl | Format::Csv => Box::default(),
            },
            json_name: match format {
                Format::Jsonl => {
                    let mut name = Vec::with_capacity(m.name().len() + 2);
                    push_json_str(&mut name, m.name());
                    name.into()
                }
                Format::Text | Format::Csv => Box::default(),
            },
            signals: m
                .signals()
                .iter()
                .map(|s| SignalText::new(format, s))
                .collect(),
        });
        let fused = match format {
            Format::Text => FusedPlan::Text(fast::FastText::new(db, &messages)),
            Format::Jsonl => FusedPlan::Machine(machine::FastMachine::new(false, db, &messages)),
            Format::Csv => FusedPlan::Machine(machine::FastMachine::new(true, db, &messages)),
        };
        TextPlan { messages, fused }
    }
}

impl SignalText {
    fn new(format: Format, s: &crate::dbc::Signal) -> SignalText {
        // An IEEE float signal's values have no resolution of their own: shown in full.
        let decimals = match s.value_type() {
            crate::dbc::ValueType::Integer => decimals_of(s.factor()).max(decimals_of(s.offset())),
            crate::dbc::ValueType::Float32 | crate::dbc::ValueType::Float64 => FULL,
        };
        let mut t = SignalText {
            prefix: Box::default(),
            key: Box::default(),
            labelled: !s.value_table().is_empty(),
            labels: Box::default(),
            csv_name: Box::default(),
            csv_unit: Box::default(),
            unit: Box::default(),
            decimals,
            scaled: decimal_scaling(s.factor(), s.offset(), decimals),
        };
        match format {
            Format::Text => {
                t.prefix = format!(", {}=", s.name()).into_bytes().into();
                if !s.unit().is_empty() {
                    t.unit = format!(" {}", s.unit()).into_bytes().into();
                }
            }
            Format::Jsonl => {
                let mut key = Vec::with_capacity(s.name().len() + 6);
                key.extend_from_slice(b", ");
                push_json_str(&mut key, s.name());
                key.extend_from_slice(b": ");
                t.key = key.into();
                t.labels = label_cells(s, push_json_str);
            }
            Format::Csv => {
                let mut name = Vec::with_capacity(s.name().len() + 1);
                push_csv_field(&mut name, s.name());
                name.push(b',');
                t.csv_name = name.into();
                let mut unit = Vec::with_capacity(s.unit().len() + 2);
                unit.push(b',');
                push_csv_field(&mut unit, s.unit());
                unit.push(b',');
                t.csv_unit = unit.into();
                t.labels = label_cells(s, push_csv_field);
            }
        }
        t
    }
}

/// A signal's value table, sorted by raw value (one entry per value), each label written by
/// `push`.
fn label_cells(s: &crate::dbc::Signal, push: fn(&mut Vec<u8>, &str)) -> Box<[LabelText]> {
    let mut labels: Vec<LabelText> = s
        .value_table()
        .iter()
        .map(|v| {
            let mut cell = Vec::with_capacity(v.label.len() + 2);
            push(&mut cell, &v.label);
            (v.value, cell.into())
        })
        .collect();
    labels.sort_by_key(|l| l.0);
    labels.dedup_by_key(|l| l.0);
    labels.into()
}

/// `(factor x 10^d, offset x 10^d)` when both are integers (within 1e-6, the error of the
/// float product); otherwise values go through the float path.
fn decimal_scaling(factor: f64, offset: f64, d: u8) -> Option<(i128, i128)> {
    let p = 10f64.powi(i32::from(d));
    let exact = |x: f64| {
        let v = x * p;
        let r = v.round();
        (r.abs() < 1e12 && (v - r).abs() <= 1e-6).then_some(r as i128)
    };
    Some((exact(factor)?, exact(offset)?))
}

/// `v / 10^d` in decimal, trailing zeros dropped but one digit kept after the point
/// (`d = 0` prints the integer).
fn push_scaled_decimal(buf: &mut Vec<u8>, v: i128, d: u8) {
    let mut ib = itoa::Buffer::new();
    let digits = match u64::try_from(v.unsigned_abs()) {
        Ok(small) => ib.format(small),
        Err(_) => ib.format(v.unsigned_abs()),
    }
    .as_bytes();
    let d = usize::from(d);
    if v < 0 {
        buf.push(b'-');
    }
    if d == 0 {
        buf.extend_from_slice(digits);
        return;
    }
    match digits.len().checked_sub(d) {
        Some(n) if n > 0 => buf.extend_from_slice(&digits[..n]),
        _ => buf.push(b'0'),
    }
    buf.push(b'.');
    let frac_start = buf.len();
    for _ in digits.len()..d {
        buf.push(b'0');
    }
    buf.extend_from_slice(&digits[digits.len().saturating_sub(d)..]);
    while buf.len() > frac_start + 1 && buf.last() == Some(&b'0') {
        buf.pop();
    }
}

/// Digits after the point in the shortest text of `x`, capped at 9.
fn decimals_of(x: f64) -> u8 {
    if !x.is_finite() {
        return 0;
    }
    let mut b = ryu::Buffer::new();
    let s = b.format_finite(x);
    let digits = match (s.find('.'), s.find('e')) {
        (_, Some(e)) => {
            // 1e-7 or 1.5e-7: the exponent decides.
            let exp: i32 = s[e + 1..].parse().unwrap_or(0);
            let mantissa_decimals = s[..e].find('.').map_or(0, |p| e - p - 1) as i32;
            (mantissa_decimals - exp).max(0)
        }
        (Some(p), None) => {
            let d = &s[p + 1..];
            if d == "0" { 0 } else { d.len() as i32 }
        }
        (None, None) => 0,
    };
    digits.min(9) as u8
}

/// What the DBC says about one frame.
pub enum Meaning<'a> {
    /// No message with this id (or an error frame).
    Unknown,
    /// A remote request for a known message.
    Remote(&'a Message),
    /// The signals of a known message.
    /// The message, its index in the database, its decoded signals.
    Signals(&'a Message, usize, &'a Decoded),
    /// A known message that could not be decoded (e.g. the frame is too short).
    Error(&'a Message, &'a DecodeError),
}

/// One frame to print.
pub struct Line<'a> {
    /// The log line's own `(timestamp) interface frame` text, when the frame came from a log:
    /// text output shows it as it was instead of formatting it again.
    pub raw: Option<&'a [u8]>,
    pub timestamp: Timestamp,
    pub precision: Precision,
    pub interface: &'a str,
    pub frame: &'a Frame,
    pub meaning: Meaning<'a>,
}

impl<'a> Line<'a> {
    /// A capture's record, with what its frame means (no log text: set `raw` for that).
    pub fn of_record(record: &'a crate::log::Record<'_>, meaning: Meaning<'a>) -> Line<'a> {
        Line {
            raw: None,
            timestamp: record.timestamp,
            precision: record.precision,
            interface: record.interface,
            frame: &record.frame,
            meaning,
        }
    }
}

/// Formats frames in one format, appending to a caller's buffer (no allocation per frame).
pub struct Formatter {
    format: Format,
    plan: TextPlan,
}

impl Formatter {
    pub fn new(format: Format, db: &Database) -> Self {
        Formatter {
            format,
            plan: TextPlan::new(format, db),
        }
    }

    /// The text that starts the output (the CSV header), if any.
    pub fn header(&self) -> &'static [u8] {
        match self.format {
            Format::Csv => CSV_HEADER.as_bytes(),
            Format::Text | Format::Jsonl => b"",
        }
    }

    /// The fused path of this format: common candump lines decoded and written in one pass.
    pub fn fused(&self) -> Fused<'_> {
        match &self.plan.fused {
            FusedPlan::Text(t) => Fused::Text(t),
            FusedPlan::Machine(m) => Fused::Machine(m),
        }
    }

    /// Append one frame to `out`.
    pub fn format(&self, line: &Line<'_>, out: &mut Vec<u8>) {
        match self.format {
            Format::Text => text(out, line, &self.plan),
            Format::Jsonl => jsonl(out, line, &self.plan),
            Format::Csv => csv(out, line, &self.plan),
        }
    }
}

/// A format's fused path (see [`Formatter::fused`]).
#[derive(Clone, Copy)]
pub enum Fused<'a> {
    Text(&'a fast::FastText),
    Machine(&'a machine::FastMachine),
}

impl Fused<'_> {
    /// Writes the frame of a line found by
    /// [`scan_data_frame`](crate::log::candump::scan_data_frame) at `*pos` in `buf` (bytes past
    /// `*pos` are scratch), advancing `*pos`, exactly as [`Formatter::format`] writes it. Gives
    /// whether the frame's id is a message of the database; `None`, with `*pos` unchanged,
    /// when the line needs the general path.
    #[inline(always)]
    pub fn line(
        &self,
        db: &Database,
        text: &[u8],
        len: usize,
        scan: &candump::DataFrameScan,
        buf: &mut Vec<u8>,
        pos: &mut usize,
    ) -> Option<bool> {
        match self {
            Fused::Text(t) => t.line(db, text, len, scan, buf, pos),
            Fused::Machine(m) => m.line(db, text, len, scan, buf, pos),
        }
    }

    /// About how many bytes a block of input becomes.
    pub fn expansion(&self) -> usize {
        match self {
            Fused::Text(_) => 5,
            Fused::Machine(_) => 16,
        }
    }
}

const CSV_HEADER: &str = "timestamp,interface,id,extended,message,signal,value,unit,label,error\n";

fn push_timestamp(buf: &mut Vec<u8>, t: Timestamp, precision: Precision) {
    let mut ib = itoa::Buffer::new();
    buf.extend_from_slice(ib.format(t.secs()).as_bytes());
    buf.push(b'.');
    let (frac, digits) = match precision {
        Precision::Micros => (u64::from(t.subsec_micros()), 6),
        Precision::Nanos => (u64::from(t.subsec_nanos()), 9),
    };
    let s = ib.format(frac);
    for _ in s.len()..digits {
        buf.push(b'0');
    }
    buf.extend_from_slice(s.as_bytes());
}

/// An integer in decimal. Most CAN integers are flags and small states, so 0-99 take a
/// shortcut; the rest use itoa's `i64` path (several times faster than its `i128` one).
#[inline]
fn push_int(buf: &mut Vec<u8>, i: i128) {
    if let Ok(small) = u8::try_from(i) {
        if small < 10 {
            buf.push(b'0' + small);
            return;
        }
        if small < 100 {
            buf.extend_from_slice(&[b'0' + small / 10, b'0' + small % 10]);
            return;
        }
    }
    let mut b = itoa::Buffer::new();
    let text = match i64::try_from(i) {
        Ok(small) => b.format(small),
        Err(_) => b.format(i),
    };
    buf.extend_from_slice(text.as_bytes());
}

fn push_value(buf: &mut Vec<u8>, v: PhysicalValue, nan: &[u8]) {
    match v {
        PhysicalValue::Int(i) => push_int(buf, i),
        PhysicalValue::Float(f) if f.is_finite() => {
            buf.extend_from_slice(ryu::Buffer::new().format_finite(f).as_bytes())
        }
        PhysicalValue::Float(_) => buf.extend_from_slice(nan),
    }
}

/// The decimals of a signal shown in full, not rounded (an IEEE float signal's).
const FULL: u8 = u8::MAX;

/// A value for people: floats rounded to the signal's resolution (`decimals`; [`FULL`]: not
/// rounded), trailing zeros dropped; `NaN`, `inf` and `-inf` named.
fn push_value_rounded(buf: &mut Vec<u8>, v: PhysicalValue, decimals: Option<u8>) {
    let f = match v {
        PhysicalValue::Float(f) if f.is_nan() => return buf.extend_from_slice(b"NaN"),
        PhysicalValue::Float(f) if f.is_infinite() => {
            return buf.extend_from_slice(if f > 0.0 { b"inf" } else { b"-inf" });
        }
        PhysicalValue::Float(f) => f,
        PhysicalValue::Int(_) => return push_value(buf, v, b"NaN"),
    };
    let Some(d) = decimals.filter(|&d| d != FULL) else {
        return push_value(buf, v, b"NaN");
    };
    let mut rb = ryu::Buffer::new();
    let shortest = rb.format_finite(f);
    let too_long = match shortest.find('.') {
        Some(p) => shortest.len() - p - 1 > usize::from(d) || shortest.contains('e'),
        None => shortest.contains('e'),
    };
    if !too_long {
        buf.extend_from_slice(shortest.as_bytes());
        return;
    }
    let start = buf.len();
    let _ = write!(buf, "{:.*}", usize::from(d), f);
    if d > 0 {
        while buf.last() == Some(&b'0') && buf[buf.len() - 2] != b'.' {
            buf.pop();
        }
    }
    if &buf[start..] == b"-0" || &buf[start..] == b"-0.0" {
        buf.remove(start);
    }
}

/// A signal's value for people (text format): integers as they are, exactly scaled values
/// with integer arithmetic, other floats rounded to the signal's resolution.
#[inline]
fn push_text_value(
    buf: &mut Vec<u8>,
    physical: PhysicalValue,
    raw: Option<i128>,
    scaled: Option<(i128, i128)>,
    decimals: u8,
) {
    match (physical, scaled, raw) {
        (PhysicalValue::Float(_), Some((f, o)), Some(raw)) => {
            match raw.checked_mul(f).and_then(|x| x.checked_add(o)) {
                Some(v) => push_scaled_decimal(buf, v, decimals),
                None => push_value_rounded(buf, physical, Some(decimals)),
            }
        }
        (PhysicalValue::Int(i), _, _) => push_int(buf, i),
        _ => push_value_rounded(buf, physical, Some(decimals)),
    }
}

fn text(buf: &mut Vec<u8>, line: &Line<'_>, plan: &TextPlan) {
    match line.raw {
        Some(raw) => buf.extend_from_slice(raw),
        None => {
            buf.push(b'(');
            push_timestamp(buf, line.timestamp, line.precision);
            buf.extend_from_slice(b") ");
            buf.extend_from_slice(line.interface.as_bytes());
            buf.push(b' ');
            candump::format_frame(buf, line.frame);
        }
    }
    match &line.meaning {
        Meaning::Unknown => {
            if let Frame::Error(e) = line.frame {
                buf.extend_from_slice(b"  ERROR FRAME:");
                let mut first = true;
                for class in e.classes() {
                    buf.extend_from_slice(if first { b" " } else { b", " });
                    buf.extend_from_slice(class.name.as_bytes());
                    first = false;
                }
                if first {
                    buf.extend_from_slice(b" (no class bits)");
                }
            }
        }
        Meaning::Remote(m) => {
            buf.extend_from_slice(b"  ");
            buf.extend_from_slice(m.name().as_bytes());
            buf.extend_from_slice(b" (remote request)");
        }
        Meaning::Signals(m, mi, signals) => {
            let Some(mt) = plan.messages.get(*mi) else {
                return;
            };
            let decoded = signals.signals();
            buf.reserve(mt.header.len() + 48 * decoded.len() + 1);
            buf.extend_from_slice(&mt.header);
            // The first signal's ", " becomes ": ".
            let first_comma = buf.len();
            for s in decoded {
                let Some(st) = mt.signals.get(s.index) else {
                    continue;
                };
                buf.extend_from_slice(&st.prefix);
                push_text_value(buf, s.physical, s.raw.as_int(), st.scaled, st.decimals);
                if !st.unit.is_empty() {
                    buf.extend_from_slice(&st.unit);
                }
                if st.labelled
                    && let Some(label) = s.label(m)
                {
                    buf.extend_from_slice(b" (");
                    buf.extend_from_slice(label.as_bytes());
                    buf.push(b')');
                }
            }
            if let Some(c) = buf.get_mut(first_comma) {
                *c = b':';
            }
            if let Some(why) = signals.partial(m) {
                if decoded.is_empty() {
                    buf.push(b':');
                }
                buf.extend_from_slice(b"  PARTIAL (");
                buf.extend_from_slice(why.as_bytes());
                buf.push(b')');
            }
        }
        Meaning::Error(m, e) => {
            buf.extend_from_slice(b"  ");
            buf.extend_from_slice(m.name().as_bytes());
            buf.extend_from_slice(b": error: ");
            buf.extend_from_slice(e.to_string().as_bytes());
        }
    }
    buf.push(b'\n');
}

/// Append `s` as a JSON string (quoted, escaped). The runs between bytes that need escaping
/// are copied whole: names and labels rarely hold any.
pub fn push_json_str(buf: &mut Vec<u8>, s: &str) {
    buf.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        buf.extend_from_slice(bytes.get(start..i).unwrap_or_default());
        start = i + 1;
        match b {
            b'"' => buf.extend_from_slice(b"\\\""),
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                buf.extend_from_slice(b"\\u00");
                buf.push(HEX[usize::from(b >> 4)]);
                buf.push(HEX[usize::from(b & 0xF)]);
            }
        }
    }
    buf.extend_from_slice(bytes.get(start..).unwrap_or_default());
    buf.push(b'"');
}

/// Upper-case hex digits, as candump writes ids and payloads.
const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

fn push_hex(buf: &mut Vec<u8>, data: &[u8]) {
    for &b in data {
        buf.push(HEX_UPPER[usize::from(b >> 4)]);
        buf.push(HEX_UPPER[usize::from(b & 0xF)]);
    }
}

fn jsonl(buf: &mut Vec<u8>, line: &Line<'_>, plan: &TextPlan) {
    let mut ib = itoa::Buffer::new();
    buf.extend_from_slice(b"{\"timestamp\": ");
    push_timestamp(buf, line.timestamp, line.precision);
    buf.extend_from_slice(b", \"interface\": ");
    push_json_str(buf, line.interface);
    match line.frame.id() {
        Some(id) => {
            buf.extend_from_slice(b", \"id\": ");
            buf.extend_from_slice(ib.format(id.raw()).as_bytes());
            buf.extend_from_slice(if id.is_extended() {
                b", \"extended\": true"
            } else {
                b", \"extended\": false"
            });
        }
        None => buf.extend_from_slice(b", \"id\": null, \"extended\": null"),
    }
    buf.extend_from_slice(b", \"message\": ");
    match &line.meaning {
        Meaning::Unknown => buf.extend_from_slice(b"null"),
        Meaning::Signals(_, i, _) => match plan.messages.get(*i) {
            Some(t) => buf.extend_from_slice(&t.json_name),
            None => buf.extend_from_slice(b"null"),
        },
        Meaning::Remote(m) | Meaning::Error(m, _) => push_json_str(buf, m.name()),
    }
    match &line.meaning {
        Meaning::Signals(m, i, signals) => {
            let texts = plan
                .messages
                .get(*i)
                .map_or(&[][..], |t| t.signals.as_slice());
            buf.extend_from_slice(b", \"signals\": {");
            let mut first = true;
            for s in signals.signals() {
                let Some(key) = texts.get(s.index).map(|t| &t.key[..]) else {
                    continue;
                };
                // The key starts with `, `: the first one of the object skips it.
                buf.extend_from_slice(if first {
                    key.get(2..).unwrap_or(key)
                } else {
                    key
                });
                first = false;
                push_value(buf, s.physical, b"null");
            }
            buf.extend_from_slice(b"}, \"labels\": {");
            let mut first = true;
            for s in signals.signals() {
                let Some(t) = texts.get(s.index).filter(|t| t.labelled) else {
                    continue;
                };
                let Some(label) = t.label(s) else {
                    continue;
                };
                let key = &t.key[..];
                buf.extend_from_slice(if first {
                    key.get(2..).unwrap_or(key)
                } else {
                    key
                });
                first = false;
                buf.extend_from_slice(label);
            }
            buf.push(b'}');
            // A partial decode: the signals that could be decoded stay, the frame says why
            // the rest are missing (cantools rejects such a frame whole).
            if let Some(why) = signals.partial(m) {
                buf.extend_from_slice(b", \"error\": ");
                push_json_str(buf, &why);
                buf.extend_from_slice(b", \"partial\": true");
            }
        }
        Meaning::Error(_, e) => {
            buf.extend_from_slice(b", \"error\": ");
            push_json_str(buf, &e.to_string());
        }
        Meaning::Remote(_) | Meaning::Unknown => {
            if !line.frame.is_error() {
                buf.extend_from_slice(b", \"signals\": {}, \"labels\": {}");
            }
        }
    }
    match line.frame {
        Frame::Classic(_) | Frame::Fd(_) => {
            buf.extend_from_slice(b", \"data\": \"");
            push_hex(buf, line.frame.data());
            buf.push(b'"');
            if let Frame::Fd(f) = line.frame {
                buf.extend_from_slice(b", \"fd\": true, \"brs\": ");
                buf.extend_from_slice(if f.flags().brs() { b"true" } else { b"false" });
            }
        }
        Frame::Remote(r) => {
            buf.extend_from_slice(b", \"remote\": true, \"dlc\": ");
            buf.extend_from_slice(ib.format(r.dlc()).as_bytes());
        }
        Frame::Error(e) => {
            buf.extend_from_slice(b", \"error_frame\": {\"class\": ");
            buf.extend_from_slice(ib.format(e.class()).as_bytes());
            buf.extend_from_slice(b", \"classes\": [");
            for (i, c) in e.classes().enumerate() {
                if i > 0 {
                    buf.extend_from_slice(b", ");
                }
                push_json_str(buf, c.name);
            }
            buf.extend_from_slice(b"], \"data\": \"");
            push_hex(buf, e.data());
            buf.extend_from_slice(b"\"}");
        }
    }
    buf.extend_from_slice(b"}\n");
}

/// Append a CSV field, quoted when it needs to be (RFC 4180).
/// A text cell: quoted when it holds a separator, and neutralised with a leading `'` when
/// it starts like a spreadsheet formula (`=`, `+`, `-`, `@`, or a tab/carriage return), so a
/// name from a DBC or a log cannot run as a formula where the CSV is opened.
fn push_csv_field(buf: &mut Vec<u8>, s: &str) {
    if s.bytes()
        .next()
        .is_some_and(|b| matches!(b, b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r'))
    {
        let mut guarded = String::with_capacity(s.len() + 1);
        guarded.push('\'');
        guarded.push_str(s);
        return push_csv_field_raw(buf, &guarded);
    }
    push_csv_field_raw(buf, s)
}

fn push_csv_field_raw(buf: &mut Vec<u8>, s: &str) {
    if s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
        buf.push(b'"');
        for &b in s.as_bytes() {
            if b == b'"' {
                buf.push(b'"');
            }
            buf.push(b);
        }
        buf.push(b'"');
    } else {
        buf.extend_from_slice(s.as_bytes());
    }
}

fn csv_prefix(buf: &mut Vec<u8>, line: &Line<'_>, message: &str) {
    push_timestamp(buf, line.timestamp, line.precision);
    buf.push(b',');
    push_csv_field(buf, line.interface);
    buf.push(b',');
    match line.frame.id() {
        Some(id) => {
            buf.extend_from_slice(b"0x");
            push_hex_id(buf, id.raw(), id.is_extended());
            buf.extend_from_slice(if id.is_extended() { b",1," } else { b",0," });
        }
        None => buf.extend_from_slice(b",,"),
    }
    push_csv_field(buf, message);
    buf.push(b',');
}

/// An id in hex as candump writes it: 3 digits standard, 8 digits extended.
fn push_hex_id(buf: &mut Vec<u8>, id: u32, extended: bool) {
    let (digits, len) = hex_id(id, extended);
    buf.extend_from_slice(&digits[..len]);
}

/// The digits of [`push_hex_id`] and how many there are.
#[inline(always)]
fn hex_id(id: u32, extended: bool) -> ([u8; 8], usize) {
    let len = if extended { 8 } else { 3 };
    let mut digits = [0u8; 8];
    for (i, d) in digits.iter_mut().take(len).enumerate() {
        *d = HEX_UPPER[((id >> (4 * (len - 1 - i))) & 0xF) as usize];
    }
    (digits, len)
}

fn csv(buf: &mut Vec<u8>, line: &Line<'_>, plan: &TextPlan) {
    match &line.meaning {
        Meaning::Signals(m, i, signals) if !signals.signals().is_empty() => {
            let texts = plan
                .messages
                .get(*i)
                .map_or(&[][..], |t| t.signals.as_slice());
            // A partial decode: every row says why (the error column).
            let why = signals.partial(m);
            // The frame's columns are formatted once and copied to each signal's row.
            let mut prefix: Option<(usize, usize)> = None;
            for s in signals.signals() {
                let Some(sig) = m.signals().get(s.index) else {
                    continue;
                };
                match prefix {
                    Some((a, b)) => buf.extend_from_within(a..b),
                    None => {
                        let a = buf.len();
                        csv_prefix(buf, line, m.name());
                        prefix = Some((a, buf.len()));
                    }
                }
                match texts.get(s.index) {
                    Some(t) => {
                        buf.extend_from_slice(&t.csv_name);
                        push_value(buf, s.physical, b"");
                        buf.extend_from_slice(&t.csv_unit);
                        if let Some(label) = t.labelled.then(|| t.label(s)).flatten() {
                            buf.extend_from_slice(label);
                        }
                    }
                    None => {
                        push_csv_field(buf, sig.name());
                        buf.push(b',');
                        push_value(buf, s.physical, b"");
                        buf.push(b',');
                        push_csv_field(buf, sig.unit());
                        buf.push(b',');
                        if let Some(label) = s.label(m) {
                            push_csv_field(buf, label);
                        }
                    }
                }
                buf.push(b',');
                if let Some(why) = &why {
                    push_csv_field(buf, why);
                }
                buf.push(b'\n');
            }
        }
        Meaning::Signals(m, _, signals) if signals.partial(m).is_some() => {
            csv_prefix(buf, line, m.name());
            buf.extend_from_slice(b",,,,");
            push_csv_field(buf, &signals.partial(m).unwrap_or_default());
            buf.push(b'\n');
        }
        Meaning::Signals(m, _, _) | Meaning::Remote(m) => {
            csv_prefix(buf, line, m.name());
            buf.extend_from_slice(b",,,,\n");
        }
        Meaning::Error(m, e) => {
            csv_prefix(buf, line, m.name());
            buf.extend_from_slice(b",,,,");
            push_csv_field(buf, &e.to_string());
            buf.push(b'\n');
        }
        Meaning::Unknown => {
            csv_prefix(buf, line, "");
            buf.extend_from_slice(b",,,,");
            if line.frame.is_error() {
                buf.extend_from_slice(b"error frame");
            }
            buf.push(b'\n');
        }
    }
}

/// Looks frames up in the DBC and decodes them into a reused buffer.
pub struct FrameDecoder<'db> {
    db: &'db Database,
    decoded: Decoded,
    error: Option<DecodeError>,
}

impl<'db> FrameDecoder<'db> {
    pub fn new(db: &'db Database) -> Self {
        FrameDecoder {
            db,
            decoded: Decoded::new(),
            error: None,
        }
    }

    /// What the DBC says about `frame`.
    pub fn decode(&mut self, frame: &Frame) -> Meaning<'_> {
        let Some(id) = frame.id() else {
            return Meaning::Unknown;
        };
        let Some(index) = self.db.message_index(id) else {
            return Meaning::Unknown;
        };
        let Some(message) = self.db.messages().get(index) else {
            return Meaning::Unknown;
        };
        let Some(data) = frame.payload() else {
            return Meaning::Remote(message);
        };
        match message.decode_into(data, &mut self.decoded) {
            Ok(()) => Meaning::Signals(message, index, &self.decoded),
            Err(e) => Meaning::Error(message, self.error.insert(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_json_string_escaping() {
        let mut b = Vec::new();
        push_json_str(&mut b, "a\"b\\c\n\u{1}é");
        let s = String::from_utf8(b).unwrap();
        let parsed: String = serde_json::from_str(&s).unwrap();
        assert_eq!(parsed, "a\"b\\c\n\u{1}é");
    }

    proptest::proptest! {
        /// Any string written as JSON reads back as itself.
        #[test]
        fn test_json_strings_read_back(s in "\\PC*|[\\x00-\\x7f]*") {
            let mut b = Vec::new();
            push_json_str(&mut b, &s);
            let parsed: String = serde_json::from_slice(&b).unwrap();
            proptest::prop_assert_eq!(parsed, s);
        }
    }

    #[test]
    fn test_csv_quoting() {
        let mut b = Vec::new();
        push_csv_field(&mut b, "on, \"really\"");
        assert_eq!(b, b"\"on, \"\"really\"\"\"");
        b.clear();
        push_csv_field(&mut b, "plain");
        assert_eq!(b, b"plain");
    }

    /// Regression: a DBC name or unit like `=HYPERLINK(...)` ran as a formula in a
    /// spreadsheet opening the CSV.
    #[test]
    fn test_csv_neutralises_formula_cells() {
        for (cell, want) in [
            ("=1+2", &b"'=1+2"[..]),
            ("+cmd", b"'+cmd"),
            ("-x", b"'-x"),
            ("@sum", b"'@sum"),
            ("=a,b", b"\"'=a,b\""),
            ("km/h", b"km/h"),
        ] {
            let mut b = Vec::new();
            push_csv_field(&mut b, cell);
            assert_eq!(b, want, "{cell}");
        }
    }

    #[test]
    fn test_timestamp_precision() {
        let t = Timestamp::from_secs_nanos(12, 34_567_891).unwrap();
        let mut b = Vec::new();
        push_timestamp(&mut b, t, Precision::Micros);
        assert_eq!(b, b"12.034567");
        b.clear();
        push_timestamp(&mut b, t, Precision::Nanos);
        assert_eq!(b, b"12.034567891");
    }

    #[test]
    fn test_decimals_of_factors() {
        assert_eq!(decimals_of(1.0), 0);
        assert_eq!(decimals_of(0.1), 1);
        assert_eq!(decimals_of(0.0625), 4);
        assert_eq!(decimals_of(-40.0), 0);
        assert_eq!(decimals_of(1e-7), 7);
        assert_eq!(decimals_of(2.5e-12), 9);
        assert_eq!(decimals_of(0.00571428571428571), 9);
    }

    #[test]
    fn test_values_for_people_are_rounded_to_the_resolution() {
        let show = |v: f64, d: u8| {
            let mut b = Vec::new();
            push_value_rounded(&mut b, PhysicalValue::Float(v), Some(d));
            String::from_utf8(b).unwrap()
        };
        assert_eq!(show(-12.200000000000001, 1), "-12.2");
        let int = |i: i128| {
            let mut b = Vec::new();
            push_int(&mut b, i);
            String::from_utf8(b).unwrap()
        };
        for i in [
            0,
            7,
            9,
            10,
            42,
            99,
            100,
            255,
            256,
            -1,
            -100,
            i128::from(i64::MAX) + 1,
        ] {
            assert_eq!(int(i), i.to_string());
        }
        assert_eq!(show(12.5, 4), "12.5");
        assert_eq!(show(0.0, 1), "0.0");
        assert_eq!(show(-0.00000001, 1), "0.0");
        assert_eq!(show(1.0 / 3.0, 2), "0.33");
        assert_eq!(show(1e21, 0), "1000000000000000000000");
        assert_eq!(show(2.0, 0), "2");
    }

    /// An IEEE float signal is shown in full whatever its factor (its values have no
    /// resolution of their own), as cantools shows it; infinities are named, not `NaN`.
    #[test]
    fn test_float_signals_are_shown_in_full_and_infinities_named() {
        let db = Database::from_str_named(
            "VERSION \"\"\nNS_ :\nBS_:\nBU_: A\nBO_ 257 FLOATS: 8 A\n \
             SG_ F : 0|32@1- (1,0) [0|0] \"\" A\n SG_ G : 32|32@1- (0.01,0) [0|0] \"V\" A\n\
             SIG_VALTYPE_ 257 F : 1;\nSIG_VALTYPE_ 257 G : 1;\n",
            "floats.dbc",
        )
        .unwrap();
        let formatter = Formatter::new(Format::Text, &db);
        let mut decoder = FrameDecoder::new(&db);
        let mut text = |f: f32, g: f32| {
            let mut data = f.to_le_bytes().to_vec();
            data.extend_from_slice(&g.to_le_bytes());
            let frame = Frame::classic(crate::frame::Id::standard(257).unwrap(), &data).unwrap();
            let line = Line {
                raw: None,
                timestamp: crate::time::Timestamp::ZERO,
                precision: Precision::Micros,
                interface: "can0",
                frame: &frame,
                meaning: decoder.decode(&frame),
            };
            let mut out = Vec::new();
            formatter.format(&line, &mut out);
            let out = String::from_utf8(out).unwrap();
            out.split_once("  ").unwrap().1.trim_end().to_string()
        };
        assert_eq!(text(0.125, 12.5), "FLOATS: F=0.125, G=0.125 V");
        assert_eq!(text(1.5, 0.125), "FLOATS: F=1.5, G=0.00125 V");
        assert_eq!(
            text(f32::INFINITY, f32::NEG_INFINITY),
            "FLOATS: F=inf, G=-inf V"
        );
        assert_eq!(text(f32::NAN, -2.0), "FLOATS: F=NaN, G=-0.02 V");
    }

    #[test]
    fn test_scaled_decimals() {
        let show = |v: i128, d: u8| {
            let mut b = Vec::new();
            push_scaled_decimal(&mut b, v, d);
            String::from_utf8(b).unwrap()
        };
        assert_eq!(show(-122, 1), "-12.2");
        assert_eq!(show(120, 1), "12.0");
        assert_eq!(show(200, 4), "0.02");
        assert_eq!(show(0, 3), "0.0");
        assert_eq!(show(-5, 1), "-0.5");
        assert_eq!(show(7, 0), "7");
        assert_eq!(show(123456789, 9), "0.123456789");
        assert_eq!(decimal_scaling(0.1, -40.0, 1), Some((1, -400)));
        assert_eq!(decimal_scaling(0.0625, 0.0, 4), Some((625, 0)));
        assert_eq!(decimal_scaling(1.0 / 3.0, 0.0, 9), None);
    }

    #[test]
    fn test_hex_ids() {
        let mut b = Vec::new();
        push_hex_id(&mut b, 0x2, false);
        assert_eq!(b, b"002");
        b.clear();
        push_hex_id(&mut b, 0x1234, true);
        assert_eq!(b, b"00001234");
    }
}
