//! Throughput of the candump screen reader and the python-can CSV reader and writer over
//! 200k in-memory mixed frames (classic, extended, CAN FD up to 64 bytes, remote, error), in
//! bytes/s. The screen text is what `candump -ta -x -a can0 can1` prints.

use std::hint::black_box;

use canrelearn::frame::{ErrorFrame, FD_LENGTHS, FdFlags, FdFrame, RemoteFrame};
use canrelearn::log::{FrameReader, FrameWriter, Item, OwnedRecord, Precision, csv, screen};
use canrelearn::{Frame, Id, Timestamp};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const FRAMES: usize = 200_000;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn records() -> Vec<OwnedRecord> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut micros: u64 = 1_700_000_000_000_000;
    (0..FRAMES)
        .map(|i| {
            micros += 50 + rng.next() % 500;
            let mut data = [0u8; 64];
            for b in data.iter_mut() {
                *b = rng.next() as u8;
            }
            let sid = Id::standard((rng.next() % 0x800) as u16).unwrap();
            let xid = Id::extended((rng.next() % 0x2000_0000) as u32).unwrap();
            let frame = match rng.next() % 20 {
                0..=13 => Frame::classic(sid, &data[..(rng.next() % 9) as usize]).unwrap(),
                14..=15 => Frame::classic(xid, &data[..8]).unwrap(),
                16..=17 => {
                    let len = usize::from(FD_LENGTHS[(rng.next() % 16) as usize]);
                    let flags = FdFlags::from_bits(4 | (rng.next() % 4) as u8).unwrap();
                    Frame::Fd(FdFrame::new(sid, &data[..len], flags).unwrap())
                }
                18 => Frame::Remote(RemoteFrame::new(sid, (rng.next() % 9) as u8).unwrap()),
                _ => Frame::Error(ErrorFrame::new(0x4, [0, 4, 0, 0, 0, 0, 0, 0]).unwrap()),
            };
            OwnedRecord {
                timestamp: Timestamp::from_nanos(micros * 1_000),
                precision: Precision::Micros,
                interface: if i % 3 == 0 { "can1" } else { "can0" }.into(),
                frame,
                direction: None,
            }
        })
        .collect()
}

/// `candump -ta -x -a` output of the records.
fn screen_text(recs: &[OwnedRecord]) -> String {
    let mut out = String::new();
    for r in recs {
        let t = r.timestamp;
        out.push_str(&format!(
            " ({}.{:06})  {}  RX ",
            t.secs(),
            t.subsec_micros(),
            r.interface
        ));
        let (b, e) = match r.frame {
            Frame::Fd(f) => (f.flags().brs(), f.flags().esi()),
            _ => (false, false),
        };
        out.push_str(if b { "B " } else { "- " });
        out.push_str(if e { "E  " } else { "-  " });
        let id = match r.frame {
            Frame::Error(e) => format!("{:08X}", e.class() | 0x2000_0000),
            f => {
                let id = f.id().unwrap();
                if id.is_extended() {
                    format!("{:08X}", id.raw())
                } else {
                    format!("     {:03X}", id.raw())
                }
            }
        };
        out.push_str(&id);
        let data = r.frame.data();
        match r.frame {
            Frame::Fd(f) => out.push_str(&format!("  [{:02}] ", f.data().len())),
            Frame::Remote(rf) => {
                out.push_str(&format!("   [{}]  remote request\n", rf.len()));
                continue;
            }
            _ => out.push_str(&format!("   [{}] ", data.len())),
        }
        for b in data {
            out.push_str(&format!(" {b:02X}"));
        }
        if data.len() <= 8 {
            let pad = 3 * (8 - data.len());
            if r.frame.is_error() {
                out.push_str(&format!("{:>w$}", "ERRORFRAME", w = pad + 13));
            } else {
                out.push_str(&format!("{:>w$}", "'", w = pad + 4));
                for &b in data {
                    out.push(if (0x20..0x7F).contains(&b) {
                        b as char
                    } else {
                        '.'
                    });
                }
                out.push('\'');
            }
        }
        out.push('\n');
    }
    out
}

fn count<R: FrameReader>(mut r: R) -> usize {
    let mut n = 0;
    while let Some(item) = r.read_item().unwrap() {
        if let Item::Record(rec) = item {
            black_box(rec.frame);
            n += 1;
        }
    }
    n
}

fn bench(c: &mut Criterion) {
    let recs = records();
    let screen = screen_text(&recs);
    assert_eq!(count(screen::Reader::new(screen.as_bytes())), FRAMES);
    let mut w = csv::Writer::new(Vec::new());
    for r in &recs {
        w.write_record(&r.as_record()).unwrap();
    }
    w.finish().unwrap();
    let csv_bytes = w.into_inner();
    assert_eq!(count(csv::Reader::new(&csv_bytes[..])), FRAMES);

    let mut g = c.benchmark_group("text_formats");
    g.throughput(Throughput::Bytes(screen.len() as u64));
    g.bench_function("screen_read", |b| {
        b.iter(|| count(screen::Reader::new(black_box(screen.as_bytes()))))
    });
    g.throughput(Throughput::Bytes(csv_bytes.len() as u64));
    g.bench_function("csv_read", |b| {
        b.iter(|| count(csv::Reader::new(black_box(&csv_bytes[..]))))
    });
    g.bench_function("csv_write", |b| {
        b.iter(|| {
            let mut w = csv::Writer::new(Vec::with_capacity(csv_bytes.len()));
            for r in &recs {
                w.write_record(&r.as_record()).unwrap();
            }
            w.finish().unwrap();
            black_box(w.into_inner().len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
