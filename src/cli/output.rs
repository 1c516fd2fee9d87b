//! Output of decoded frames: text for people, JSON Lines (a stable machine contract) and CSV.
//!
//! Formatting goes into one reusable byte buffer per frame (numbers with `itoa`/`ryu`, no
//! `format!`), then into a large `BufWriter`: this is the hot path of `decode`.
//!
//! JSON Lines contract, one object per frame, in input order:
//! `{"timestamp": 1700000000.000211, "interface": "can0", "id": 1549, "extended": false,
//! "message": "BODY_STATUS" | null, "signals": {"NAME": <physical number>}, "labels":
//! {"NAME": "value-table text"}}`; a frame whose message is known but cannot be decoded has
//! `"error": "<why>"` instead of `signals`/`labels`. Extra keys follow: `"data"` (hex), `"fd"`,
//! `"remote"`, and for error frames `"id": null` with `"error_frame": {"classes": [...]}`.
//! Numbers are integers for integer signals with integral scaling, else the shortest decimal
//! that reads back as the same float (`null` for NaN or infinities).

use std::io::{self, Write};

use canrelearn::dbc::{Database, DecodeError, Decoded, Message, PhysicalValue};
use canrelearn::frame::Frame;
use canrelearn::log::candump::{self, Precision};
use canrelearn::time::Timestamp;

/// The output formats of `decode` and `dump`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One line per frame for people: raw frame, message, signals with units and labels.
    Text,
    /// One JSON object per frame (stable machine contract).
    Jsonl,
    /// One row per signal, with a header.
    Csv,
}

/// Decimal places for showing each signal's value to people: as many as its factor and offset
/// have (capped at 9), so `-122 x 0.1` shows as `-12.2`, not the float's exact
/// `-12.200000000000001` (JSON and CSV keep the exact value).
pub struct Resolution {
    /// Per message (database order), per signal.
    decimals: Vec<Vec<u8>>,
}

impl Resolution {
    pub fn new(db: &Database) -> Self {
        let decimals = db
            .messages()
            .iter()
            .map(|m| {
                m.signals()
                    .iter()
                    .map(|s| decimals_of(s.factor()).max(decimals_of(s.offset())))
                    .collect()
            })
            .collect();
        Resolution { decimals }
    }

    fn get(&self, message: usize, signal: usize) -> Option<u8> {
        self.decimals.get(message)?.get(signal).copied()
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
    pub timestamp: Timestamp,
    pub precision: Precision,
    pub interface: &'a str,
    pub frame: &'a Frame,
    pub meaning: Meaning<'a>,
}

/// Writes frames in one format.
pub struct FrameWriter<W: Write> {
    out: W,
    format: Format,
    buf: Vec<u8>,
    header_done: bool,
    resolution: Resolution,
}

impl<W: Write> FrameWriter<W> {
    pub fn new(out: W, format: Format, db: &Database) -> Self {
        FrameWriter {
            out,
            format,
            buf: Vec::with_capacity(1024),
            header_done: false,
            resolution: Resolution::new(db),
        }
    }

    /// Write one frame.
    pub fn write(&mut self, line: &Line<'_>) -> io::Result<()> {
        self.buf.clear();
        match self.format {
            Format::Text => text(&mut self.buf, line, &self.resolution),
            Format::Jsonl => jsonl(&mut self.buf, line),
            Format::Csv => {
                if !self.header_done {
                    self.buf.extend_from_slice(CSV_HEADER.as_bytes());
                    self.header_done = true;
                }
                csv(&mut self.buf, line)
            }
        }
        self.out.write_all(&self.buf)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
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

fn push_value(buf: &mut Vec<u8>, v: PhysicalValue, nan: &[u8]) {
    match v {
        PhysicalValue::Int(i) => buf.extend_from_slice(itoa::Buffer::new().format(i).as_bytes()),
        PhysicalValue::Float(f) if f.is_finite() => {
            buf.extend_from_slice(ryu::Buffer::new().format_finite(f).as_bytes())
        }
        PhysicalValue::Float(_) => buf.extend_from_slice(nan),
    }
}

/// A value for people: floats rounded to the signal's resolution, trailing zeros dropped.
fn push_value_rounded(buf: &mut Vec<u8>, v: PhysicalValue, decimals: Option<u8>) {
    let (PhysicalValue::Float(f), Some(d)) = (v, decimals) else {
        return push_value(buf, v, b"NaN");
    };
    if !f.is_finite() {
        return push_value(buf, v, b"NaN");
    }
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

fn text(buf: &mut Vec<u8>, line: &Line<'_>, resolution: &Resolution) {
    buf.push(b'(');
    push_timestamp(buf, line.timestamp, line.precision);
    buf.extend_from_slice(b") ");
    buf.extend_from_slice(line.interface.as_bytes());
    buf.push(b' ');
    candump::format_frame(buf, line.frame);
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
            buf.extend_from_slice(b"  ");
            buf.extend_from_slice(m.name().as_bytes());
            let mut sep: &[u8] = b": ";
            for s in signals.signals() {
                let Some(sig) = m.signals().get(s.index) else {
                    continue;
                };
                buf.extend_from_slice(sep);
                sep = b", ";
                buf.extend_from_slice(sig.name().as_bytes());
                buf.push(b'=');
                push_value_rounded(buf, s.physical, resolution.get(*mi, s.index));
                if !sig.unit().is_empty() {
                    buf.push(b' ');
                    buf.extend_from_slice(sig.unit().as_bytes());
                }
                if let Some(label) = s.label(m) {
                    buf.extend_from_slice(b" (");
                    buf.extend_from_slice(label.as_bytes());
                    buf.push(b')');
                }
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

/// Append `s` as a JSON string (quoted, escaped).
pub fn push_json_str(buf: &mut Vec<u8>, s: &str) {
    buf.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => buf.extend_from_slice(b"\\\""),
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            0..=0x1F => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                buf.extend_from_slice(b"\\u00");
                buf.push(HEX[usize::from(b >> 4)]);
                buf.push(HEX[usize::from(b & 0xF)]);
            }
            _ => buf.push(b),
        }
    }
    buf.push(b'"');
}

fn push_hex(buf: &mut Vec<u8>, data: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in data {
        buf.push(HEX[usize::from(b >> 4)]);
        buf.push(HEX[usize::from(b & 0xF)]);
    }
}

fn jsonl(buf: &mut Vec<u8>, line: &Line<'_>) {
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
        Meaning::Remote(m) | Meaning::Signals(m, _, _) | Meaning::Error(m, _) => {
            push_json_str(buf, m.name())
        }
    }
    match &line.meaning {
        Meaning::Signals(m, _, signals) => {
            buf.extend_from_slice(b", \"signals\": {");
            let mut first = true;
            for s in signals.signals() {
                let Some(sig) = m.signals().get(s.index) else {
                    continue;
                };
                if !first {
                    buf.extend_from_slice(b", ");
                }
                first = false;
                push_json_str(buf, sig.name());
                buf.extend_from_slice(b": ");
                push_value(buf, s.physical, b"null");
            }
            buf.extend_from_slice(b"}, \"labels\": {");
            let mut first = true;
            for s in signals.signals() {
                let (Some(sig), Some(label)) = (m.signals().get(s.index), s.label(m)) else {
                    continue;
                };
                if !first {
                    buf.extend_from_slice(b", ");
                }
                first = false;
                push_json_str(buf, sig.name());
                buf.extend_from_slice(b": ");
                push_json_str(buf, label);
            }
            buf.push(b'}');
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
fn push_csv_field(buf: &mut Vec<u8>, s: &str) {
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
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let digits = if extended { 8 } else { 3 };
    for i in (0..digits).rev() {
        buf.push(HEX[((id >> (i * 4)) & 0xF) as usize]);
    }
}

fn csv(buf: &mut Vec<u8>, line: &Line<'_>) {
    match &line.meaning {
        Meaning::Signals(m, _, signals) if !signals.signals().is_empty() => {
            for s in signals.signals() {
                let Some(sig) = m.signals().get(s.index) else {
                    continue;
                };
                csv_prefix(buf, line, m.name());
                push_csv_field(buf, sig.name());
                buf.push(b',');
                push_value(buf, s.physical, b"");
                buf.push(b',');
                push_csv_field(buf, sig.unit());
                buf.push(b',');
                if let Some(label) = s.label(m) {
                    push_csv_field(buf, label);
                }
                buf.extend_from_slice(b",\n");
            }
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

    #[test]
    fn test_csv_quoting() {
        let mut b = Vec::new();
        push_csv_field(&mut b, "on, \"really\"");
        assert_eq!(b, b"\"on, \"\"really\"\"\"");
        b.clear();
        push_csv_field(&mut b, "plain");
        assert_eq!(b, b"plain");
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
        assert_eq!(show(12.5, 4), "12.5");
        assert_eq!(show(0.0, 1), "0.0");
        assert_eq!(show(-0.00000001, 1), "0.0");
        assert_eq!(show(1.0 / 3.0, 2), "0.33");
        assert_eq!(show(1e21, 0), "1000000000000000000000");
        assert_eq!(show(2.0, 0), "2");
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
