//! `dump` over a stream of frames: a [`Consumer`] that writes every frame as a line, decoded
//! with a DBC ([`Formatter`]) or as a `candump -L` record, one write per batch: low latency,
//! few system calls.

use std::io::{self, Write};

use crate::bus::Received;
use crate::dbc::Database;
use crate::drive::stream::Consumer;
use crate::log::candump::{self, Precision, Record, WriteOptions};
use crate::output::{Format, Formatter, FrameDecoder, Line};

/// Frames as lines on `out`; malformed records of captures go to `bad`.
pub struct Dump<'a, W: Write, B: FnMut(String)> {
    decoder: FrameDecoder<'a>,
    formatter: Option<Formatter>,
    out: W,
    buf: Vec<u8>,
    options: WriteOptions,
    bad: B,
}

impl<'a, W: Write, B: FnMut(String)> Dump<'a, W, B> {
    /// Lines decoded with `db` in `format`, or (`None`) `candump -L` records.
    pub fn new(db: &'a Database, format: Option<Format>, out: W, bad: B) -> Self {
        Dump {
            decoder: FrameDecoder::new(db),
            formatter: format.map(|f| Formatter::new(f, db)),
            out,
            buf: Vec::with_capacity(1 << 16),
            options: WriteOptions::default(),
            bad,
        }
    }

    /// Writes the format's header (CSV's column names), if it has one.
    pub fn write_header(&mut self) -> io::Result<()> {
        if let Some(f) = &self.formatter {
            self.out.write_all(f.header())?;
        }
        Ok(())
    }
}

impl<W: Write, B: FnMut(String)> Consumer for Dump<'_, W, B> {
    type Error = io::Error;

    fn frame(&mut self, r: Received) -> io::Result<()> {
        match &self.formatter {
            Some(f) => {
                let meaning = self.decoder.decode(&r.frame);
                f.format(
                    &Line {
                        raw: None,
                        timestamp: r.timestamp,
                        precision: Precision::Micros,
                        interface: &r.interface,
                        frame: &r.frame,
                        meaning,
                    },
                    &mut self.buf,
                );
            }
            None => candump::format_record(
                &mut self.buf,
                &Record {
                    timestamp: r.timestamp,
                    precision: Precision::Micros,
                    interface: &r.interface,
                    frame: r.frame,
                    direction: None,
                },
                &self.options,
            ),
        }
        Ok(())
    }

    fn bad_record(&mut self, text: String) {
        (self.bad)(text);
    }

    fn batch_end(&mut self) -> io::Result<()> {
        self.out.write_all(&self.buf)?;
        self.out.flush()?;
        self.buf.clear();
        Ok(())
    }
}
