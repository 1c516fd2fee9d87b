//! `diag sniff` over a stream of frames: a [`Consumer`] that runs the pure
//! [`Stream`] over every frame and writes each diagnostic message
//! as a line ([`Format`]) as it completes, one write per batch.

use std::io::{self, Write};

use crate::bus::Received;
use crate::diag::sniff::{Format, Record, Stream};
use crate::drive::stream::Consumer;

/// Diagnostic messages from raw frames, written to `out` as they complete; malformed records
/// of captures go to `bad`.
pub struct SniffWriter<W: Write, B: FnMut(String)> {
    stream: Stream,
    format: Format,
    /// Messages written.
    messages: u64,
    buf: Vec<u8>,
    out: W,
    bad: B,
}

impl<W: Write, B: FnMut(String)> SniffWriter<W, B> {
    /// Sniffs with `stream`, writing `format` lines to `out`.
    pub fn new(stream: Stream, format: Format, out: W, bad: B) -> Self {
        SniffWriter {
            stream,
            format,
            messages: 0,
            buf: Vec::new(),
            out,
            bad,
        }
    }

    /// The messages written so far.
    pub fn messages(&self) -> u64 {
        self.messages
    }

    /// The end of the stream: transfers still open are given as broken, and written out.
    pub fn finish(&mut self) -> io::Result<()> {
        let (format, messages, buf) = (self.format, &mut self.messages, &mut self.buf);
        self.stream
            .finish(&mut |r| push_line(format, r, messages, buf));
        self.batch_end()
    }
}

/// One sniffed message as a line, counted.
fn push_line(format: Format, r: Record, messages: &mut u64, buf: &mut Vec<u8>) {
    *messages += 1;
    buf.extend_from_slice(r.line(format).as_bytes());
    buf.push(b'\n');
}

impl<W: Write, B: FnMut(String)> Consumer for SniffWriter<W, B> {
    type Error = io::Error;

    fn frame(&mut self, r: Received) -> io::Result<()> {
        let (format, messages, buf) = (self.format, &mut self.messages, &mut self.buf);
        self.stream.handle_frame(r.timestamp, &r.frame, &mut |x| {
            push_line(format, x, messages, buf)
        });
        Ok(())
    }

    fn bad_record(&mut self, text: String) {
        (self.bad)(text);
    }

    fn batch_end(&mut self) -> io::Result<()> {
        crate::drive::stream::write_batch(&mut self.out, &mut self.buf)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::bus::Direction;
    use crate::diag::codec::Dialect;
    use crate::diag::scan::IdRange;
    use crate::frame::{ClassicFrame, Frame, Id};
    use crate::time::Timestamp;

    fn received(ms: u64, id: u32, data: &[u8]) -> Received {
        Received {
            timestamp: Timestamp::from_micros(1_700_000_000_000_000 + ms * 1000).unwrap(),
            interface: Arc::from("can0"),
            frame: Frame::Classic(ClassicFrame::new(Id::new(id, false).unwrap(), data).unwrap()),
            direction: Direction::Rx,
        }
    }

    /// A request and its answer, then the first frame of a transfer that never ends.
    fn frames() -> Vec<Received> {
        vec![
            received(0, 0x745, &[0x02, 0x10, 0xC0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]),
            received(5, 0x765, &[0x02, 0x50, 0xC0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]),
            received(10, 0x765, &[0x10, 0x14, 0x61, 0x83, 1, 2, 3, 4]),
        ]
    }

    /// What the pure stream gives for the same frames, as lines.
    fn expected(format: Format) -> String {
        let mut stream = Stream::new(Dialect::Kwp2000, IdRange::DIAGNOSTIC.to_vec());
        let mut text = String::new();
        let mut emit = |r: Record| {
            text.push_str(&r.line(format));
            text.push('\n');
        };
        for r in frames() {
            stream.handle_frame(r.timestamp, &r.frame, &mut emit);
        }
        stream.finish(&mut emit);
        text
    }

    #[test]
    fn test_messages_are_written_per_batch_and_open_transfers_at_the_end() {
        for format in [Format::Text, Format::Jsonl] {
            let stream = Stream::new(Dialect::Kwp2000, IdRange::DIAGNOSTIC.to_vec());
            let mut out = Vec::new();
            let mut bad = Vec::new();
            let mut w = SniffWriter::new(stream, format, &mut out, |t| bad.push(t));
            for r in frames() {
                w.frame(r).unwrap();
            }
            w.bad_record("x.log:9: no".into());
            assert_eq!(w.messages(), 2, "{format:?}: the request and its answer");
            w.batch_end().unwrap();
            w.finish().unwrap();
            assert_eq!(w.messages(), 3, "{format:?}: and the broken transfer");
            drop(w);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                expected(format),
                "{format:?}"
            );
            assert_eq!(bad, ["x.log:9: no"]);
        }
    }
}
