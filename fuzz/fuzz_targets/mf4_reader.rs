//! Fuzzes the MDF 4 reader over an in-memory file: arbitrary bytes must never panic, every item
//! is counted once, and the frames read, written back by the MF4 writer, read back as the same
//! frames (CAN FD frames as FDF with BRS/ESI only, unknown directions as Rx; the reader merges
//! by time, so both sides are compared sorted).
#![no_main]

use std::io::Cursor;

use canrelearn::frame::{FdFlags, FdFrame, Frame};
use canrelearn::log::mf4::{Reader, Writer};
use canrelearn::log::{Direction, FrameWriter, Item};
use libfuzzer_sys::fuzz_target;

fn normalized(frame: Frame) -> Frame {
    match frame {
        Frame::Fd(f) => FdFlags::from_bits(f.flags().bits() & 0x3 | FdFlags::FDF)
            .and_then(|flags| FdFrame::new(f.id(), f.data(), flags).ok())
            .map_or(frame, Frame::Fd),
        other => other,
    }
}

fuzz_target!(|data: &[u8]| {
    let mut reader = Reader::new(Cursor::new(data));
    let mut items = 0u64;
    let mut frames: Vec<(u64, String, bool)> = Vec::new();
    let mut writer = Writer::new(Cursor::new(Vec::new()));
    while let Ok(Some(item)) = reader.read_item() {
        items += 1;
        if let Item::Record(r) = item
            && frames.len() < 512
        {
            // One bus, so that interface names play no part.
            let mut r = r;
            r.interface = "can0";
            writer.write_record(&r).expect("writes to memory");
            frames.push((
                r.timestamp.as_nanos(),
                normalized(r.frame).to_string(),
                r.direction == Some(Direction::Tx),
            ));
        }
    }
    let s = reader.stats();
    assert_eq!(items, s.records + s.other + s.skipped + s.bad);

    writer.finish().expect("writes to memory");
    let bytes = writer.into_inner().into_inner();
    let mut back = Reader::new(Cursor::new(bytes.as_slice()));
    let mut got = Vec::new();
    while let Some(item) = back.read_item().expect("our own output reads") {
        match item {
            Item::Record(r) => got.push((
                r.timestamp.as_nanos(),
                r.frame.to_string(),
                r.direction == Some(Direction::Tx),
            )),
            other => panic!("our own output: {other:?}"),
        }
    }
    // Times more than 46 days apart lose nanoseconds in f64 seconds (counted by the writer).
    let span = frames.iter().map(|f| f.0).max().unwrap_or(0) - frames.iter().map(|f| f.0).min().unwrap_or(0);
    if span < 4_000_000_000_000_000 {
        frames.sort();
        got.sort();
        assert_eq!(got, frames);
    } else {
        assert_eq!(got.len(), frames.len());
    }
});
