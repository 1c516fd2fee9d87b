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
        if !self.buf.is_empty() {
            self.out.write_all(&self.buf)?;
            self.out.flush()?;
            self.buf.clear();
        }
        Ok(())
    }
}
