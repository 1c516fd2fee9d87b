//! JSON Lines as this tool writes them: one object per line, keys in the order of the serde
//! type, `": "` and `", "` between them (the style of every `--format jsonl` output), and
//! timestamps as numbers with exactly the microseconds of the frame (`1700000000.000211`), not
//! rounded through a float.
//!
//! Every machine-readable record type (watch events, sniff records) derives `Serialize` once
//! and is written with [`line()`]; the decode hot path writes by hand and is tested byte for
//! byte against this form.

use std::io;

use serde::Serialize;
use serde_json::ser::Formatter;

use crate::time::Timestamp;

/// Seconds since the epoch (or the log's zero) with six decimals, written as a JSON number
/// digit for digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seconds(pub Timestamp);

impl Seconds {
    /// `1700000000.000211`.
    pub fn text(&self) -> String {
        format!("{}.{:06}", self.0.secs(), self.0.subsec_micros())
    }
}

impl Serialize for Seconds {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match serde_json::value::RawValue::from_string(self.text()) {
            Ok(raw) => raw.serialize(s),
            Err(_) => s.serialize_f64(self.0.as_secs_f64()),
        }
    }
}

/// The project's spacing: `{"a": 1, "b": [1, 2]}` on one line.
struct Spaced;

impl Formatter for Spaced {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }
}

/// `value` as one JSON line (without the newline).
pub fn line<T: Serialize>(value: &T) -> String {
    let mut out = Vec::with_capacity(128);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, Spaced);
    if value.serialize(&mut ser).is_err() {
        return String::from("{}");
    }
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct R {
        event: &'static str,
        id: Option<u32>,
        timestamp: Seconds,
        list: Vec<u8>,
    }

    #[test]
    fn test_line_spacing_and_exact_times() {
        let r = R {
            event: "lost",
            id: None,
            timestamp: Seconds(Timestamp::from_secs_nanos(1_700_000_000, 100_000_000).unwrap()),
            list: vec![1, 2],
        };
        assert_eq!(
            line(&r),
            r#"{"event": "lost", "id": null, "timestamp": 1700000000.100000, "list": [1, 2]}"#
        );
    }
}
