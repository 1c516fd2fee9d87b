//! Fuzzes the pcap/pcapng reader: arbitrary bytes through a small buffer, in every CAN id
//! byte-order mode, must never panic and every item must be counted exactly once; and what
//! the pcapng writer writes from the frames read must read back as the same frames (CAN FD
//! frames gain CANFD_FDF and lose the undefined flag bit 0x8, as the writer documents).
#![no_main]

use std::io::BufReader;

use canrelearn::frame::{FdFlags, FdFrame, Frame};
use canrelearn::log::pcap::{IdByteOrder, PcapngWriter, Reader};
use canrelearn::log::{FrameWriter, Item, OwnedRecord};
use libfuzzer_sys::fuzz_target;

fn normalized(frame: Frame) -> Frame {
    match frame {
        Frame::Fd(f) => FdFlags::from_bits(f.flags().bits() & 0x7 | FdFlags::FDF)
            .and_then(|flags| FdFrame::new(f.id(), f.data(), flags).ok())
            .map_or(frame, Frame::Fd),
        other => other,
    }
}

fuzz_target!(|data: &[u8]| {
    let (mode, rest) = match data.split_first() {
        Some((&c, rest)) => (c, rest),
        None => (0, data),
    };
    let order = match mode % 3 {
        0 => IdByteOrder::Auto,
        1 => IdByteOrder::Big,
        _ => IdByteOrder::Little,
    };
    let cap = usize::from(mode / 3 % 32) + 1;
    let mut reader = Reader::new(BufReader::with_capacity(cap, rest)).with_id_byte_order(order);
    let mut items = 0u64;
    let mut records: Vec<OwnedRecord> = Vec::new();
    while let Ok(Some(item)) = reader.read_item() {
        items += 1;
        if let Item::Record(r) = item
            && records.len() < 256
        {
            records.push(r.to_owned_record());
        }
    }
    let s = reader.stats();
    assert_eq!(items, s.records + s.other + s.skipped + s.bad);

    let mut w = PcapngWriter::new(Vec::new());
    for r in &records {
        w.write_record(&r.as_record()).expect("writes to a Vec");
    }
    w.finish().expect("writes to a Vec");
    let bytes = w.into_inner().expect("open");
    let mut back = Reader::new(bytes.as_slice());
    let mut got = Vec::new();
    while let Some(item) = back.read_item().expect("our own output reads") {
        match item {
            Item::Record(r) => got.push(r.to_owned_record()),
            Item::Other(_) => {}
            other => panic!("our own output: {other:?}"),
        }
    }
    assert_eq!(got.len(), records.len());
    for (g, r) in got.iter().zip(&records) {
        assert_eq!(g.frame, normalized(r.frame));
        assert_eq!((g.timestamp, &g.interface, g.direction), (r.timestamp, &r.interface, r.direction));
    }
});
