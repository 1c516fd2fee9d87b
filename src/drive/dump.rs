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
        crate::drive::stream::write_batch(&mut self.out, &mut self.buf)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::bus::Direction;
    use crate::drive::SharedWriter;
    use crate::frame::{ClassicFrame, Frame, Id};
    use crate::time::Timestamp;

    fn received(id: u32, data: &[u8]) -> Received {
        Received {
            timestamp: Timestamp::from_micros(1_700_000_000_001_855).unwrap(),
            interface: Arc::from("can0"),
            frame: Frame::Classic(ClassicFrame::new(Id::new(id, false).unwrap(), data).unwrap()),
            direction: Direction::Rx,
        }
    }

    #[test]
    fn test_frames_are_written_when_their_batch_ends() {
        let db = crate::bundled::database().unwrap();
        let out = SharedWriter::default();
        let mut bad = Vec::new();
        let mut dump = Dump::new(&db, None, out.clone(), |t| bad.push(t));
        dump.frame(received(0x358, &[1, 0, 0, 0, 0, 0, 0, 0]))
            .unwrap();
        dump.frame(received(0x7FF, &[])).unwrap();
        dump.bad_record("x.log:3: no".into());
        assert_eq!(out.text(), "", "nothing is written before the batch ends");
        dump.batch_end().unwrap();
        assert_eq!(
            out.text(),
            "(1700000000.001855) can0 358#0100000000000000\n(1700000000.001855) can0 7FF#\n"
        );
        dump.batch_end().unwrap();
        assert_eq!(out.text().lines().count(), 2, "a batch is written once");
        drop(dump);
        assert_eq!(bad, ["x.log:3: no"]);
    }

    #[test]
    fn test_decoded_lines_are_the_formatters() {
        let db = crate::bundled::database().unwrap();
        for format in [Format::Text, Format::Jsonl, Format::Csv] {
            let out = SharedWriter::default();
            let mut dump = Dump::new(&db, Some(format), out.clone(), |_| {});
            dump.write_header().unwrap();
            let frame = received(0x358, &[1, 0, 0, 0, 0, 0, 0, 0]);
            dump.frame(frame.clone()).unwrap();
            dump.batch_end().unwrap();
            // What the decode pipeline's formatter prints for the same frame.
            let formatter = Formatter::new(format, &db);
            let mut want = formatter.header().to_vec();
            formatter.format(
                &Line {
                    raw: None,
                    timestamp: frame.timestamp,
                    precision: Precision::Micros,
                    interface: &frame.interface,
                    frame: &frame.frame,
                    meaning: FrameDecoder::new(&db).decode(&frame.frame),
                },
                &mut want,
            );
            assert_eq!(out.text(), String::from_utf8(want).unwrap(), "{format:?}");
            assert!(out.text().contains("KEY_INSERTED"), "{format:?}: decoded");
        }
    }
}
