//! The transcript of a run: every frame sent and every diagnostic frame received, in the
//! `candump -L` format with `R`/`T` directions, the steps, answers and outcome as `#` comment
//! lines. `canrelearn decode`, `diag sniff`, `script from-capture` and can-utils read it.
//!
//! A write error is kept and reported at the end ([`Transcript::finish`]): the run is not
//! disturbed, cleanup matters more than the file. Every comment flushes, so a transcript is
//! complete up to the last event even if the process is killed.

use std::io::{self, Write};

use crate::frame::Frame;
use crate::log::candump::{self, Direction, Precision, Record};
use crate::time::{Timestamp, UtcTime};

/// The name a run's transcript gets when none is given, without its extension:
/// `canrelearn-<PROCEDURE>-<UTC start time>`, the procedure's name made safe for a file name
/// (every character but ASCII letters, digits, `-` and `_` becomes `_`).
pub fn default_stem(procedure: &str, started: Timestamp) -> String {
    let name: String = procedure
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' => c,
            _ => '_',
        })
        .collect();
    format!("canrelearn-{name}-{}", UtcTime::of(started).compact())
}

/// A transcript writer over any [`Write`].
pub struct Transcript<W: Write> {
    out: candump::Writer<W>,
    error: Option<io::Error>,
}

impl<W: Write> Transcript<W> {
    pub fn new(out: W) -> Self {
        Transcript {
            out: candump::Writer::new(out),
            error: None,
        }
    }

    /// A frame sent (`T`) or received (`R`) on `iface` at `at`.
    pub fn frame(&mut self, at: Timestamp, iface: &str, frame: &Frame, sent: bool) {
        let r = Record {
            timestamp: at,
            precision: Precision::Micros,
            interface: iface,
            frame: *frame,
            direction: Some(if sent { Direction::Tx } else { Direction::Rx }),
        };
        let r = self.out.write_record(&r);
        self.keep(r);
    }

    /// `# text`, one comment line per line of `text`; flushed.
    pub fn comment(&mut self, text: &str) {
        for l in text.lines() {
            let r = self.out.write_other(&format!("# {l}"));
            self.keep(r);
        }
        let r = self.out.flush();
        self.keep(r);
    }

    fn keep(&mut self, r: io::Result<()>) {
        if let Err(e) = r
            && self.error.is_none()
        {
            self.error = Some(e);
        }
    }

    /// Flushes; the first write error, if any.
    pub fn finish(mut self) -> Result<(), io::Error> {
        let r = self.out.flush();
        self.keep(r);
        match self.error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Id;

    #[test]
    fn test_default_stem_is_safe_for_a_file_name() {
        let t = Timestamp::from_nanos(1_700_000_000_123_456_789);
        let stem = default_stem("Audio unit / BCM: äö", t);
        assert!(
            stem.starts_with("canrelearn-Audio_unit___BCM____-"),
            "{stem}"
        );
        assert!(
            stem.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{stem}"
        );
        assert!(stem.ends_with(&UtcTime::of(t).compact()));
    }

    #[test]
    fn test_emit_frames_and_comments() {
        let mut t = Transcript::new(Vec::new());
        t.comment("run started\nsecond line");
        let f = Frame::classic(Id::standard(0x745).unwrap(), &[0x02, 0x10, 0xC0]).unwrap();
        t.frame(
            Timestamp::from_nanos(1_000_000_500_000_000),
            "can0",
            &f,
            true,
        );
        t.frame(
            Timestamp::from_nanos(1_000_000_600_000_000),
            "can0",
            &f,
            false,
        );
        let mut out = Vec::new();
        let Transcript { out: w, .. } = t;
        out.extend(w.into_inner());
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "# run started\n# second line\n(0001000000.500000) can0 745#0210C0 T\n(0001000000.600000) can0 745#0210C0 R\n"
        );
    }
}
