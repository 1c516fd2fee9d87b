//! Fuzzes the BLF reader: arbitrary bytes (as a whole file, or as objects after a valid file
//! header) through a small buffer must never panic, and every item is counted exactly once.
//! Other inputs are decoded into frames, written with the BLF writer (zlib or uncompressed,
//! small containers so objects straddle them) and must read back equal.
#![no_main]

use std::io::{BufReader, Cursor};

use canrelearn::frame::{
    ClassicFrame, ErrorFrame, FD_LENGTHS, FdFlags, FdFrame, Frame, Id, RemoteFrame,
};
use canrelearn::log::blf::{ClassicObject, Reader, WriteOptions, Writer};
use canrelearn::log::{Direction, FrameReader, FrameWriter, Item, OwnedRecord, Precision};
use canrelearn::time::Timestamp;
use libfuzzer_sys::fuzz_target;

const HEADER: [u8; 16] = *b"LOGG\x90\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";

fn read_everything(bytes: &[u8], cap: usize) {
    let mut reader = Reader::new(BufReader::with_capacity(cap, bytes));
    let mut items = 0u64;
    while let Ok(Some(item)) = reader.read_item() {
        if let Item::Record(r) = &item {
            assert!(!r.interface.is_empty());
        }
        items += 1;
    }
    let s = reader.stats();
    assert_eq!(items, s.records + s.other + s.skipped + s.bad);
}

/// Frames from bytes: a kind byte, then what the kind needs; `None` when the bytes run out.
fn next_frame(b: &mut &[u8]) -> Option<Frame> {
    let (&kind, rest) = b.split_first()?;
    let take = |b: &mut &[u8], n: usize| -> Option<Vec<u8>> {
        let (head, tail) = b.split_at_checked(n)?;
        *b = tail;
        Some(head.to_vec())
    };
    *b = rest;
    let raw = take(b, 4)?;
    let raw = u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]);
    let id = if kind & 0x80 != 0 {
        Id::extended(raw & 0x1FFF_FFFF)?
    } else {
        Id::standard((raw & 0x7FF) as u16)?
    };
    Some(match kind % 5 {
        0 => {
            let n = usize::from(kind >> 3 & 0x7) + usize::from(kind & 0x40 != 0);
            let data = take(b, n.min(8))?;
            Frame::Classic(ClassicFrame::new(id, &data).ok()?)
        }
        1 => {
            let data = take(b, 8)?;
            let mut d = [0u8; 8];
            d.copy_from_slice(&data);
            Frame::Classic(ClassicFrame::with_raw_dlc(id, d, 9 + (kind >> 3) % 7).ok()?)
        }
        2 => Frame::Remote(RemoteFrame::new(id, (kind >> 3) % 9).ok()?),
        3 => {
            let len = usize::from(FD_LENGTHS[usize::from(kind >> 3 & 0xF)]);
            let data = take(b, len)?;
            let flags = FdFlags::from_bits(FdFlags::FDF | (kind >> 5 & 0x3)).unwrap_or_default();
            Frame::Fd(FdFrame::new(id, &data, flags).ok()?)
        }
        _ => {
            let data = take(b, 8)?;
            let mut d = [0u8; 8];
            d.copy_from_slice(&data);
            Frame::Error(ErrorFrame::new(raw & 0x1FFF_FFFF, d).ok()?)
        }
    })
}

fn round_trip(mut b: &[u8], options: WriteOptions) {
    let mut records = Vec::new();
    let mut nanos = 1_700_000_000_000_000_000u64;
    while let Some(frame) = next_frame(&mut b) {
        nanos += 1 + u64::from(records.len() as u32 % 977) * 1013;
        let i = records.len();
        records.push(OwnedRecord {
            timestamp: Timestamp::from_nanos(nanos),
            precision: Precision::Nanos,
            interface: format!("can{}", i % 3),
            frame,
            direction: Some(if i % 2 == 0 {
                Direction::Rx
            } else {
                Direction::Tx
            }),
        });
    }
    let mut w = Writer::with_options(Cursor::new(Vec::new()), options);
    for r in &records {
        w.write_record(&r.as_record()).expect("writes to memory");
    }
    w.finish().expect("writes to memory");
    assert!(w.losses().is_empty());
    let file = w.into_inner().into_inner();
    let mut reader = Reader::new(BufReader::with_capacity(64, file.as_slice()));
    let mut back = Vec::new();
    while let Some(item) = reader.read_item().expect("our own file reads") {
        match item {
            Item::Record(r) => back.push(r.to_owned_record()),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(back, records);
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let cap = usize::from(mode >> 3) + 1;
    match mode % 4 {
        0 => read_everything(rest, cap),
        1 => {
            let mut file = HEADER.to_vec();
            file.resize(144, 0);
            file.extend_from_slice(rest);
            read_everything(&file, cap);
        }
        _ => round_trip(
            // Enough for a few hundred frames across many containers; more only slows down.
            rest.get(..4096).unwrap_or(rest),
            WriteOptions {
                compression: (mode & 0x04 != 0).then_some(1 + u32::from(mode >> 5)),
                classic_object: if mode & 0x08 != 0 {
                    ClassicObject::CanMessage2
                } else {
                    ClassicObject::CanMessage
                },
                container_size: 16 + usize::from(mode >> 4) * 61,
            },
        ),
    }
});
