//! The text `canrelearn dbc show` prints: messages, ids, lengths, senders, cycle times,
//! signal tables, value tables and bit-layout diagrams.
//!
//! People-facing, so it must never panic on what a file holds: names of any length (no
//! `{:width$}` formatting, whose width Rust limits to 65535), any number of signals.

use core::fmt::Write as _;

use super::{ByteOrder, Database, Message, Multiplexing, Signal, ValueType};

/// `text` followed by spaces up to `width` characters (nothing added when it is longer).
pub fn pad(out: &mut String, text: &str, width: usize) {
    out.push_str(text);
    let n = text.chars().count();
    for _ in n..width {
        out.push(' ');
    }
}

/// A message by name, or by id (hex `0x60D` or decimal `1549`).
pub fn find_message<'a>(db: &'a Database, wanted: &str) -> Option<&'a Message> {
    if let Some(m) = db.message_by_name(wanted) {
        return Some(m);
    }
    let id = match wanted.strip_prefix("0x").or(wanted.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
        None => wanted.parse().ok()?,
    };
    db.messages().iter().find(|m| m.id().raw() == id)
}

/// The whole database: a summary (nodes, value tables) then every message.
pub fn database(db: &Database, name: &str, layout: bool) -> String {
    let mut text = String::new();
    summary(&mut text, db, name);
    for m in db.messages() {
        message(&mut text, m, layout);
    }
    text
}

/// One message.
pub fn one_message(m: &Message, layout: bool) -> String {
    let mut text = String::new();
    message(&mut text, m, layout);
    text
}

fn summary(out: &mut String, db: &Database, name: &str) {
    let _ = writeln!(
        out,
        "{name}: {} messages, {} nodes",
        db.messages().len(),
        db.nodes().len()
    );
    if !db.nodes().is_empty() {
        let _ = writeln!(out, "\nNodes:");
        let width = db
            .nodes()
            .iter()
            .map(|n| n.name().chars().count())
            .max()
            .unwrap_or(0);
        for n in db.nodes() {
            out.push_str("  ");
            pad(out, n.name(), width);
            let _ = writeln!(out, "  {}", n.comment().unwrap_or(""));
        }
    }
    for t in db.value_tables() {
        let _ = write!(out, "\nValue table {}:", t.name());
        for e in t.entries() {
            let _ = write!(out, " {} {:?}", e.value, e.label);
        }
        out.push('\n');
    }
}

/// `12.5`, `-40`, `0.0625`: the shortest text that reads back as the same number.
fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn message(out: &mut String, m: &Message, layout: bool) {
    let id = m.id();
    let _ = write!(
        out,
        "\n{} {}  id {}{}  {} byte{}  sender {}",
        if id.is_extended() {
            format!("0x{:08X}", id.raw())
        } else {
            format!("0x{:03X}", id.raw())
        },
        m.name(),
        id.raw(),
        if id.is_extended() { " extended" } else { "" },
        m.size(),
        if m.size() == 1 { "" } else { "s" },
        m.transmitter().unwrap_or("(none)"),
    );
    for extra in m.extra_transmitters() {
        let _ = write!(out, ", {extra}");
    }
    match m.cycle_time_ms() {
        Some(ms) => {
            let _ = writeln!(out, "  cycle {ms} ms");
        }
        None => {
            let _ = writeln!(out, "  no cycle time");
        }
    }
    if let Some(c) = m.comment() {
        let _ = writeln!(out, "  {c}");
    }
    if m.signals().is_empty() {
        let _ = writeln!(out, "  (no signals)");
        return;
    }
    let rows: Vec<[String; 8]> = m
        .signals()
        .iter()
        .enumerate()
        .map(|(i, s)| {
            [
                format!("{} {}", letter(i), s.name()),
                format!("{}|{}", s.start_bit(), s.size()),
                match s.byte_order() {
                    ByteOrder::LittleEndian => "Intel".into(),
                    ByteOrder::BigEndian => "Motorola".into(),
                },
                match s.value_type() {
                    ValueType::Integer if s.is_signed() => "signed".into(),
                    ValueType::Integer => "unsigned".into(),
                    ValueType::Float32 => "float32".into(),
                    ValueType::Float64 => "float64".into(),
                },
                format!("x{} {:+}", num(s.factor()), Num(s.offset())),
                format!("[{}..{}]", num(s.min()), num(s.max())),
                s.unit().to_string(),
                mux(m, s),
            ]
        })
        .collect();
    let headers = [
        "  signal", "bits", "order", "type", "scale", "range", "unit", "mux",
    ];
    let mut widths = headers.map(|h| h.chars().count());
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    widths[0] = widths[0].max(
        rows.iter()
            .map(|r| r[0].chars().count() + 2)
            .max()
            .unwrap_or(0),
    );
    for (h, w) in headers.iter().zip(widths) {
        pad(out, h, w);
        out.push_str("  ");
    }
    out.push_str("receivers\n");
    for (r, s) in rows.iter().zip(m.signals()) {
        out.push_str("  ");
        pad(out, &r[0], widths[0].saturating_sub(2));
        out.push_str("  ");
        for (cell, w) in r.iter().zip(widths).skip(1) {
            pad(out, cell, w);
            out.push_str("  ");
        }
        let _ = writeln!(out, "{}", s.receivers().join(","));
    }
    for s in m.signals() {
        if !s.value_table().is_empty() {
            let _ = write!(out, "  values of {}:", s.name());
            for (i, v) in s.value_table().iter().enumerate() {
                let _ = write!(
                    out,
                    "{} {} {:?}",
                    if i == 0 { "" } else { "," },
                    v.value,
                    v.label
                );
            }
            out.push('\n');
        }
        if let Some(c) = s.comment() {
            let _ = writeln!(out, "  note on {}: {c}", s.name());
        }
    }
    if layout {
        bit_layout(out, m);
    }
}

/// A number with an explicit sign for offsets (`+0`, `-40`, `+0.5`).
struct Num(f64);
impl std::fmt::Display for Num {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = num(self.0);
        if s.starts_with('-') {
            f.write_str(&s)
        } else {
            write!(f, "+{s}")
        }
    }
}

fn mux(m: &Message, s: &Signal) -> String {
    let mut text = String::new();
    if s.is_multiplexor() {
        text.push('M');
    }
    match s.multiplexing() {
        Multiplexing::Plain => {}
        Multiplexing::Selected {
            multiplexor,
            values,
        } => {
            if !text.is_empty() {
                text.push(' ');
            }
            let switch = m
                .signals()
                .get(multiplexor)
                .map(|x| x.name())
                .unwrap_or("?");
            let ranges: Vec<String> = values
                .iter()
                .map(|r| {
                    if r.min == r.max {
                        r.min.to_string()
                    } else {
                        format!("{}-{}", r.min, r.max)
                    }
                })
                .collect();
            let _ = write!(text, "{switch}={}", ranges.join(","));
        }
        Multiplexing::Orphan { switch } => {
            let _ = write!(text, "orphan({})", switch.unwrap_or("no switch"));
        }
    }
    text
}

fn letter(i: usize) -> char {
    const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    LETTERS.get(i).map(|&b| char::from(b)).unwrap_or('#')
}

/// One row per byte, bits 7 to 0, each cell the letter of the signal using it, `*` where
/// several do (legitimate between branches of a multiplexor), `.` where none does.
fn bit_layout(out: &mut String, m: &Message) {
    let size = m.size().max(
        m.signals()
            .iter()
            .map(|s| s.bytes_needed())
            .max()
            .unwrap_or(0),
    );
    let masks: Vec<[u64; 8]> = m.signals().iter().map(|s| s.bit_mask()).collect();
    let _ = writeln!(out, "  layout     7 6 5 4 3 2 1 0");
    for byte in 0..size.min(64) {
        let _ = write!(out, "  byte {byte:2}  ");
        for bit in (0..8).rev() {
            let abs = byte * 8 + bit;
            let users: Vec<usize> = masks
                .iter()
                .enumerate()
                .filter(|(_, mask)| mask[abs / 64] >> (abs % 64) & 1 == 1)
                .map(|(i, _)| i)
                .collect();
            let c = match users.as_slice() {
                [] => '.',
                [one] => letter(*one),
                _ => '*',
            };
            let _ = write!(out, " {c}");
        }
        if byte >= m.size() {
            out.push_str("   (beyond the message size)");
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a signal, unit or node name over 65535 characters made `dbc show` panic
    /// (Rust's `{:width$}` limit).
    #[test]
    fn test_huge_names_render() {
        let long = "N".repeat(70_000);
        let unit = "u".repeat(70_000);
        let text = format!(
            "VERSION \"\"\nNS_ :\nBS_:\nBU_: {long}\nBO_ 256 M: 8 {long}\n SG_ {long}S : 0|8@1+ (1,0) [0|255] \"{unit}\" {long}\n"
        );
        let db = Database::from_bytes(text.as_bytes(), "long.dbc").unwrap();
        let out = database(&db, "long.dbc", true);
        assert!(out.contains(&unit));
        assert!(out.contains("layout"));
    }
}
