//! A DBC skeleton from captures: what a user's own car sends, measured, for `watch`, `monitor`
//! and `decode` to start from when the bundled definitions are wrong for the car.
//!
//! [`skeleton`] writes one `BO_` per id seen in the captures: the most common payload length,
//! the measured `GenMsgCycleTime` for periodic ids (none for the others, which are therefore not
//! watched), a comment with what was measured (capture, frame count, median period, jitter,
//! longest gap; for the others why they are not periodic) and what the bytes did; and one raw
//! signal per byte that changed (`COUNTER_B3` for a counter, `B4` for any other changing byte;
//! their meaning and byte order are unknown, so they are plain little-endian bytes). Senders
//! are unknown: every message is sent by `UNASSIGNED`, except that with two or more captures
//! the periodic ids of the first that a later capture never carried are sent by
//! `ABSENT_IN_<that capture>` (capture the car with one module unplugged or silent and that
//! node holds the module's own frames), and ids only a later capture carried by
//! `ONLY_IN_<that capture>`.
//!
//! The text is plain DBC that cantools, our loader and `dbc check` read without an error (the
//! only warnings are the missing cycle times of the ids that are not periodic, on purpose).

use std::fmt::Write as _;

use crate::baseline::{Baseline, ByteKind, CounterBits, Learnt};
use crate::frame::Id;

/// One capture's baseline and its name (the file name, used in comments and node names).
#[derive(Debug, Clone)]
pub struct Capture {
    pub name: String,
    pub baseline: Baseline,
}

/// The node that sends every message whose sender is not known.
pub const UNASSIGNED: &str = "UNASSIGNED";

/// A DBC identifier from a capture's file name: `silent-2.log` -> `silent_2`.
fn ident_part(name: &str) -> String {
    let stem = std::path::Path::new(name)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut out: String = stem
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if out.is_empty() {
        out.push_str("capture");
    }
    out
}

/// Node names are unique and at most 32 characters (the DBC format's traditional limit).
fn node_name(prefix: &str, capture: &str, taken: &[String]) -> String {
    let mut base: String = format!("{prefix}{}", ident_part(capture));
    base.truncate(32);
    let mut name = base.clone();
    let mut n = 2;
    while taken.contains(&name) {
        let suffix = format!("_{n}");
        let mut b = base.clone();
        b.truncate(32 - suffix.len());
        name = format!("{b}{suffix}");
        n += 1;
    }
    name
}

fn message_name(id: Id) -> String {
    if id.is_extended() {
        format!("ID_{:08X}X", id.raw())
    } else {
        format!("ID_{:03X}", id.raw())
    }
}

fn dbc_id(id: Id) -> u32 {
    if id.is_extended() {
        id.raw() | 0x8000_0000
    } else {
        id.raw()
    }
}

/// A DBC string: `"` and `\` cannot be escaped portably, so they are replaced.
fn quoted(text: &str) -> String {
    text.replace(['"', '\\'], "'")
}

fn ms(d: core::time::Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn span_text(b: &Baseline) -> String {
    match b.span {
        Some((first, last)) => format!(
            "{} frames over {:.1} s",
            b.frames,
            last.saturating_duration_since(first).as_secs_f64()
        ),
        None => "no frames".to_string(),
    }
}

struct Row<'a> {
    learnt: &'a Learnt,
    /// The capture it was measured in.
    capture: &'a str,
    node: String,
    note: Option<String>,
}

fn measured(l: &Learnt, capture: &str) -> String {
    let mut text = format!(
        "Measured by canrelearn dbc infer in {capture}: {} frames",
        l.frames
    );
    match (l.timing, l.not_watched) {
        (Some(t), None) => {
            let _ = write!(
                text,
                ", median period {}, jitter +-{}, longest gap {}",
                ms(t.median),
                ms(t.jitter()),
                ms(t.max_gap)
            );
        }
        (_, Some(why)) => {
            let _ = write!(text, "; not periodic, not watched: {why}");
        }
        (None, None) => {}
    }
    if l.lengths.len() > 1 {
        let lengths: Vec<String> = l
            .lengths
            .iter()
            .map(|(len, n)| format!("{len} bytes x{n}"))
            .collect();
        let _ = write!(text, "; lengths {}", lengths.join(", "));
    }
    if l.remote > 0 {
        let _ = write!(text, "; {} remote frames", l.remote);
    }
    let bytes = l.describe_bytes();
    if !bytes.is_empty() {
        let _ = write!(text, "; bytes: {bytes}");
    }
    text.push('.');
    text
}

/// The messages to write, with their senders, and the nodes with their comments.
struct Plan<'a> {
    rows: Vec<Row<'a>>,
    nodes: Vec<String>,
    node_comments: Vec<(String, String)>,
}

/// Places every id: the reference's ids (absent in a later capture: that capture's
/// `ABSENT_IN_` node), then the ids only later captures carried (`ONLY_IN_`).
fn plan<'a>(reference: &'a Capture, others: &'a [Capture]) -> Plan<'a> {
    let mut p = Plan {
        rows: Vec::new(),
        nodes: vec![UNASSIGNED.to_string()],
        node_comments: Vec::new(),
    };
    // The node of each later capture's absent ids, made at its first use.
    let mut absent_node: Vec<Option<String>> = vec![None; others.len()];
    for l in &reference.baseline.ids {
        let lacking: Vec<usize> = if l.is_periodic() {
            others
                .iter()
                .enumerate()
                .filter(|(_, c)| c.baseline.get(l.id).is_none())
                .map(|(i, _)| i)
                .collect()
        } else {
            Vec::new()
        };
        let (node, note) = match lacking.first() {
            Some(&first) => {
                let node = absent_node[first]
                    .get_or_insert_with(|| {
                        let n = node_name("ABSENT_IN_", &others[first].name, &p.nodes);
                        p.nodes.push(n.clone());
                        p.node_comments.push((
                            n.clone(),
                            format!(
                                "Periodic in {} and never seen in {}: the frames of the module missing there.",
                                reference.name, others[first].name
                            ),
                        ));
                        n
                    })
                    .clone();
                let names: Vec<&str> = lacking.iter().map(|&i| others[i].name.as_str()).collect();
                (node, Some(format!(" Never seen in {}.", names.join(", "))))
            }
            None => (UNASSIGNED.to_string(), None),
        };
        p.rows.push(Row {
            learnt: l,
            capture: &reference.name,
            node,
            note,
        });
    }
    for c in others {
        let mut only: Option<String> = None;
        for l in &c.baseline.ids {
            if reference.baseline.get(l.id).is_some() || p.rows.iter().any(|r| r.learnt.id == l.id)
            {
                continue;
            }
            let node = only
                .get_or_insert_with(|| {
                    let n = node_name("ONLY_IN_", &c.name, &p.nodes);
                    p.nodes.push(n.clone());
                    p.node_comments.push((
                        n.clone(),
                        format!("Seen in {} and never in {}.", c.name, reference.name),
                    ));
                    n
                })
                .clone();
            p.rows.push(Row {
                learnt: l,
                capture: &c.name,
                node,
                note: Some(format!(" Never seen in {}.", reference.name)),
            });
        }
    }
    p.rows
        .sort_by_key(|r| (r.learnt.id.is_extended(), r.learnt.id.raw()));
    p
}

/// One `BO_` with a raw signal per changing byte of its length.
fn write_message(out: &mut String, r: &Row<'_>) {
    let l = r.learnt;
    let length = l.length();
    let _ = writeln!(
        out,
        "BO_ {} {}: {} {}",
        dbc_id(l.id),
        message_name(l.id),
        length,
        r.node
    );
    for (i, kind) in l.bytes.iter().enumerate().take(usize::from(length)) {
        let (name, start, size) = match kind {
            ByteKind::Constant(_) => continue,
            ByteKind::Counter(CounterBits::Byte) => (format!("COUNTER_B{i}"), i * 8, 8),
            ByteKind::Counter(CounterBits::LowNibble) => (format!("COUNTER_B{i}"), i * 8, 4),
            ByteKind::Counter(CounterBits::HighNibble) => (format!("COUNTER_B{i}"), i * 8 + 4, 4),
            ByteKind::Changes { .. } => (format!("B{i}"), i * 8, 8),
        };
        let _ = writeln!(
            out,
            " SG_ {name} : {start}|{size}@1+ (1,0) [0|{}] \"\" Vector__XXX",
            (1u32 << size) - 1
        );
    }
    out.push('\n');
}

/// The attribute definitions and values: measured cycle times, CAN FD frame formats.
fn write_attributes(out: &mut String, rows: &[Row<'_>]) {
    let any_fd = rows.iter().any(|r| r.learnt.fd);
    out.push_str("BA_DEF_ BO_ \"GenMsgCycleTime\" INT 0 65535;\n");
    if any_fd {
        out.push_str("BA_DEF_ BO_ \"VFrameFormat\" ENUM \"StandardCAN\",\"ExtendedCAN\",\"reserved\",\"J1939PG\",\"reserved\",\"reserved\",\"reserved\",\"reserved\",\"reserved\",\"reserved\",\"reserved\",\"reserved\",\"reserved\",\"reserved\",\"StandardCAN_FD\",\"ExtendedCAN_FD\";\n");
    }
    out.push_str("BA_DEF_DEF_ \"GenMsgCycleTime\" 0;\n");
    if any_fd {
        out.push_str("BA_DEF_DEF_ \"VFrameFormat\" \"StandardCAN\";\n");
    }
    for r in rows {
        if let Some(period) = r.learnt.period() {
            let cycle = (period.as_secs_f64() * 1e3).round().clamp(1.0, 65535.0) as u32;
            let _ = writeln!(
                out,
                "BA_ \"GenMsgCycleTime\" BO_ {} {cycle};",
                dbc_id(r.learnt.id)
            );
        }
    }
    for r in rows.iter().filter(|r| r.learnt.fd) {
        let format = if r.learnt.id.is_extended() { 15 } else { 14 };
        let _ = writeln!(
            out,
            "BA_ \"VFrameFormat\" BO_ {} {format};",
            dbc_id(r.learnt.id)
        );
    }
}

/// What each later capture lacks of the first's periodic ids, one line per later capture, with
/// the node that `written` (the [`skeleton`] as loaded) made their sender.
pub fn comparisons(captures: &[Capture], written: &super::Database) -> Vec<String> {
    let Some((reference, others)) = captures.split_first() else {
        return Vec::new();
    };
    others
        .iter()
        .map(|c| {
            let missing = reference.baseline.missing_in(&c.baseline);
            if missing.is_empty() {
                return format!(
                    "{}: carries every periodic id of {} (no module missing there)",
                    c.name, reference.name
                );
            }
            let node = missing
                .first()
                .and_then(|id| written.message_by_id(*id))
                .and_then(|m| m.transmitter())
                .unwrap_or_default();
            let ids: Vec<String> = missing.iter().map(|id| format!("0x{id}")).collect();
            format!(
                "periodic in {} and never seen in {}: {} (node {node})",
                reference.name,
                c.name,
                ids.join(", ")
            )
        })
        .collect()
}

/// Writes the skeleton DBC for `captures` (the first is the reference: a healthy car).
pub fn skeleton(captures: &[Capture]) -> String {
    let Some((reference, others)) = captures.split_first() else {
        return String::new();
    };
    let p = plan(reference, others);
    let mut out = String::new();
    out.push_str("VERSION \"\"\n\n\nNS_ :\n\tCM_\n\tBA_DEF_\n\tBA_\n\tBA_DEF_DEF_\n\nBS_:\n\n");
    let _ = writeln!(out, "BU_: {}\n", p.nodes.join(" "));
    for r in &p.rows {
        write_message(&mut out, r);
    }
    out.push('\n');
    let sources: Vec<String> = captures
        .iter()
        .map(|c| format!("{} ({})", c.name, span_text(&c.baseline)))
        .collect();
    let _ = writeln!(
        out,
        "CM_ \"DBC skeleton inferred by canrelearn dbc infer from {}. Ids, lengths and cycle times are measured; senders and signal meanings are not known: assign each message to its module (BU_), name and scale its signals (the B<n> signals are raw bytes), and keep the comments as the record of what was measured.\";",
        quoted(&sources.join(", "))
    );
    let _ = writeln!(
        out,
        "CM_ BU_ {UNASSIGNED} \"Sender not known: every message the captures showed that no comparison placed.\";"
    );
    for (node, text) in &p.node_comments {
        let _ = writeln!(out, "CM_ BU_ {node} \"{}\";", quoted(text));
    }
    for r in &p.rows {
        let mut text = measured(r.learnt, r.capture);
        if let Some(note) = &r.note {
            text.push_str(note);
        }
        let _ = writeln!(
            out,
            "CM_ BO_ {} \"{}\";",
            dbc_id(r.learnt.id),
            quoted(&text)
        );
    }
    write_attributes(&mut out, &p.rows);
    out
}

#[cfg(test)]
mod tests;
