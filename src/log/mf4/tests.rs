use std::io::{Cursor, Write as _};

use super::*;
use crate::frame::arb;
use crate::log::OwnedRecord;
use proptest::prelude::*;

fn sid(raw: u16) -> Id {
    Id::standard(raw).unwrap()
}

fn xid(raw: u32) -> Id {
    Id::extended(raw).unwrap()
}

const START: u64 = 1_700_000_000_000_000_000;

fn read_all(bytes: &[u8]) -> (Vec<OwnedRecord>, Stats, Option<String>, Vec<String>) {
    let mut r = Reader::new(Cursor::new(bytes));
    let mut out = Vec::new();
    let mut notes = Vec::new();
    let end = loop {
        match r.read_item() {
            Ok(Some(Item::Record(rec))) => out.push(rec.to_owned_record()),
            Ok(Some(Item::Other(s))) => notes.push(format!("other: {s}")),
            Ok(Some(Item::Skipped(s))) => notes.push(format!("skipped: {s}")),
            Ok(Some(Item::Bad(e))) => notes.push(format!("bad: {e}")),
            Ok(None) => break None,
            Err(e) => break Some(e.to_string()),
        }
    };
    (out, r.stats(), end, notes)
}

fn write(records: &[OwnedRecord]) -> (Vec<u8>, Vec<Loss>) {
    let mut w = Writer::new(Cursor::new(Vec::new()));
    for r in records {
        w.write_record(&r.as_record()).unwrap();
    }
    FrameWriter::finish(&mut w).unwrap();
    let losses = FrameWriter::losses(&w).to_vec();
    (w.into_inner().into_inner(), losses)
}

fn rec(nanos: u64, interface: &str, frame: Frame, direction: Option<Direction>) -> OwnedRecord {
    OwnedRecord {
        timestamp: Timestamp::from_nanos(nanos),
        precision: Precision::Nanos,
        interface: interface.to_owned(),
        frame,
        direction,
    }
}

// --- a small MDF builder for the layouts our writer does not make --------------------------

/// A file: identification, header (at 64), then blocks from 168 on.
struct Mdf {
    b: Blocks,
}

impl Mdf {
    fn new() -> Mdf {
        Mdf {
            b: Blocks {
                base: 168,
                bytes: Vec::new(),
            },
        }
    }

    fn text(&mut self, s: &str) -> u64 {
        self.b.text(b"##TX", s)
    }

    /// A CN with any bit layout.
    #[allow(clippy::too_many_arguments)]
    fn cn(
        &mut self,
        next: u64,
        name: &str,
        (ty, sync, data_type): (u8, u8, u8),
        (byte, bit, bits): (u32, u8, u32),
        data: u64,
        conversion: u64,
        composition: u64,
    ) -> u64 {
        let name = self.text(name);
        let mut d = Vec::new();
        d.extend_from_slice(&[ty, sync, data_type, bit]);
        d.extend_from_slice(&byte.to_le_bytes());
        d.extend_from_slice(&bits.to_le_bytes());
        d.extend_from_slice(&[0; 8]);
        d.extend_from_slice(&[0; 4]);
        d.extend_from_slice(&[0; 48]);
        self.b.add(
            b"##CN",
            &[next, composition, name, 0, conversion, data, 0, 0],
            &d,
        )
    }

    fn linear(&mut self, offset: f64, factor: f64) -> u64 {
        let mut d = vec![1u8, 0, 0, 0, 0, 0, 2, 0];
        d.extend_from_slice(&[0; 16]);
        d.extend_from_slice(&offset.to_le_bytes());
        d.extend_from_slice(&factor.to_le_bytes());
        self.b.add(b"##CC", &[0, 0, 0, 0], &d)
    }

    #[allow(clippy::too_many_arguments)]
    fn cg(
        &mut self,
        next: u64,
        first: u64,
        acq_name: &str,
        record_id: u64,
        cycles: u64,
        flags: u16,
        data_bytes: u32,
    ) -> u64 {
        let acq = if acq_name.is_empty() {
            0
        } else {
            self.text(acq_name)
        };
        let mut d = Vec::new();
        d.extend_from_slice(&record_id.to_le_bytes());
        d.extend_from_slice(&cycles.to_le_bytes());
        d.extend_from_slice(&flags.to_le_bytes());
        d.extend_from_slice(&[b'.', 0, 0, 0, 0, 0]);
        d.extend_from_slice(&data_bytes.to_le_bytes());
        d.extend_from_slice(&0u32.to_le_bytes());
        self.b.add(b"##CG", &[next, first, acq, 0, 0, 0], &d)
    }

    fn dg(&mut self, next: u64, cg: u64, data: u64, record_id_size: u8) -> u64 {
        let mut d = [0u8; 8];
        d[0] = record_id_size;
        self.b.add(b"##DG", &[next, cg, data, 0], &d)
    }

    fn data(&mut self, id: &[u8; 4], bytes: &[u8]) -> u64 {
        self.b.add(id, &[], bytes)
    }

    fn dz(&mut self, org: &[u8; 2], bytes: &[u8], columns: Option<u32>) -> u64 {
        let plain = match columns {
            Some(c) => {
                // Transpose: column-major rows of `c` bytes, the rest as it is.
                let c = c as usize;
                let rows = bytes.len() / c;
                let mut t = Vec::new();
                for col in 0..c {
                    for r in 0..rows {
                        t.push(bytes[r * c + col]);
                    }
                }
                t.extend_from_slice(&bytes[rows * c..]);
                t
            }
            None => bytes.to_vec(),
        };
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&plain).unwrap();
        let zipped = z.finish().unwrap();
        let mut d = Vec::new();
        d.extend_from_slice(org);
        d.push(u8::from(columns.is_some()));
        d.push(0);
        d.extend_from_slice(&columns.unwrap_or(0).to_le_bytes());
        d.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        d.extend_from_slice(&(zipped.len() as u64).to_le_bytes());
        d.extend_from_slice(&zipped);
        self.b.add(b"##DZ", &[], &d)
    }

    fn dl(&mut self, blocks: &[u64], equal: Option<u64>) -> u64 {
        let mut links = vec![0u64];
        links.extend_from_slice(blocks);
        let mut d = vec![u8::from(equal.is_some()), 0, 0, 0];
        d.extend_from_slice(&(blocks.len() as u32).to_le_bytes());
        match equal {
            Some(len) => d.extend_from_slice(&len.to_le_bytes()),
            None => d.extend(std::iter::repeat_n(0u8, 8 * blocks.len())),
        }
        self.b.add(b"##DL", &links, &d)
    }

    fn hl(&mut self, dl: u64) -> u64 {
        self.b.add(b"##HL", &[dl], &[0, 0, 0, 0, 0, 0, 0, 0])
    }

    fn finish(self, dg: u64, start_ns: u64, unfinished: Option<u16>) -> Vec<u8> {
        let mut out = Vec::new();
        let mut id = Writer::<Cursor<Vec<u8>>>::identification(unfinished.is_none());
        if let Some(flags) = unfinished {
            id[60..62].copy_from_slice(&flags.to_le_bytes());
        }
        out.extend_from_slice(&id);
        out.extend_from_slice(&Writer::<Cursor<Vec<u8>>>::header(dg, 0, start_ns));
        out.extend_from_slice(&self.b.bytes);
        out
    }
}

/// A CANedge-like unsorted data group: 1-byte record ids, bit-packed CAN_DataFrame fields with
/// the data bytes in a VLSD channel group, CAN_ErrorFrame with ErrorType, LIN frames; time in
/// 10 µs ticks through a linear conversion. Returns the file and where its DT block starts.
fn canedge_like() -> (Vec<u8>, usize) {
    let mut m = Mdf::new();
    let ticks = m.linear(0.0, 1e-5);
    // Data frames (record id 1): time u48 at 0; byte 6: BusChannel bits 0-1, IDE bit 2,
    // Dir bit 3, EDL bit 4, BRS bit 5, ESI bit 6; ID 29 bits at byte 7; DLC 4 bits at byte
    // 11; DataLength byte 12; DataBytes: VLSD offset (u64) at byte 13.
    let vlsd_cg = m.cg(0, 0, "", 2, 0, 1, 0);
    let p = "CAN_DataFrame";
    let bytes = m.cn(
        0,
        &format!("{p}.DataBytes"),
        (1, 0, 10),
        (13, 0, 64),
        vlsd_cg,
        0,
        0,
    );
    let len = m.cn(
        bytes,
        &format!("{p}.DataLength"),
        (0, 0, 0),
        (12, 0, 8),
        0,
        0,
        0,
    );
    let dlc = m.cn(len, &format!("{p}.DLC"), (0, 0, 0), (11, 0, 4), 0, 0, 0);
    let id = m.cn(dlc, &format!("{p}.ID"), (0, 0, 0), (7, 0, 29), 0, 0, 0);
    let esi = m.cn(id, &format!("{p}.ESI"), (0, 0, 0), (6, 6, 1), 0, 0, 0);
    let brs = m.cn(esi, &format!("{p}.BRS"), (0, 0, 0), (6, 5, 1), 0, 0, 0);
    let edl = m.cn(brs, &format!("{p}.EDL"), (0, 0, 0), (6, 4, 1), 0, 0, 0);
    let dir = m.cn(edl, &format!("{p}.Dir"), (0, 0, 0), (6, 3, 1), 0, 0, 0);
    let ide = m.cn(dir, &format!("{p}.IDE"), (0, 0, 0), (6, 2, 1), 0, 0, 0);
    let bus = m.cn(
        ide,
        &format!("{p}.BusChannel"),
        (0, 0, 0),
        (6, 0, 2),
        0,
        0,
        0,
    );
    let time = m.cn(bus, "Timestamp", (2, 1, 0), (0, 0, 48), 0, ticks, 0);
    let data_cg = m.cg(vlsd_cg, time, "CAN_DataFrame", 1, 0, 0x2, 21);
    // Error frames (record id 3): time, BusChannel byte 6, ErrorType byte 7.
    let et = m.cn(0, "CAN_ErrorFrame.ErrorType", (0, 0, 0), (7, 0, 8), 0, 0, 0);
    let eb = m.cn(
        et,
        "CAN_ErrorFrame.BusChannel",
        (0, 0, 0),
        (6, 0, 8),
        0,
        0,
        0,
    );
    let etime = m.cn(eb, "Timestamp", (2, 1, 0), (0, 0, 48), 0, ticks, 0);
    let err_cg = m.cg(data_cg, etime, "CAN_ErrorFrame", 3, 0, 0x2, 8);
    // LIN frames (record id 4).
    let lid = m.cn(0, "LIN_Frame.ID", (0, 0, 0), (6, 0, 8), 0, 0, 0);
    let ltime = m.cn(lid, "Timestamp", (2, 1, 0), (0, 0, 48), 0, ticks, 0);
    let lin_cg = m.cg(err_cg, ltime, "LIN_Frame", 4, 0, 0x2, 7);

    let mut stream = Vec::new();
    let mut vlsd_offset = 0u64;
    let mut data_frame =
        |stream: &mut Vec<u8>, tick: u64, flags: u8, id: u32, dlc: u8, data: &[u8]| {
            stream.push(2);
            stream.extend_from_slice(&(data.len() as u32).to_le_bytes());
            stream.extend_from_slice(data);
            stream.push(1);
            stream.extend_from_slice(&tick.to_le_bytes()[..6]);
            stream.push(flags);
            stream.extend_from_slice(&id.to_le_bytes());
            stream.push(dlc);
            stream.push(data.len() as u8);
            stream.extend_from_slice(&vlsd_offset.to_le_bytes());
            vlsd_offset += 4 + data.len() as u64;
        };
    // BusChannel 1, Rx, standard.
    data_frame(&mut stream, 100, 0x01, 0x123, 2, &[0x11, 0x22]);
    // BusChannel 2, IDE, Tx.
    data_frame(
        &mut stream,
        105,
        0x02 | 0x04 | 0x08,
        0x18DA_F110,
        8,
        &[1; 8],
    );
    // Error: bus 1, form error; then acknowledgement error.
    stream.push(3);
    stream.extend_from_slice(&110u64.to_le_bytes()[..6]);
    stream.extend_from_slice(&[1, 2]);
    stream.push(4);
    stream.extend_from_slice(&111u64.to_le_bytes()[..6]);
    stream.push(0x3C);
    stream.push(3);
    stream.extend_from_slice(&112u64.to_le_bytes()[..6]);
    stream.extend_from_slice(&[2, 5]);
    // CAN FD, BusChannel 1, EDL + BRS + ESI, 64 bytes (DLC 15).
    let fd: Vec<u8> = (0..64).collect();
    data_frame(&mut stream, 120, 0x01 | 0x10 | 0x20 | 0x40, 0x456, 15, &fd);
    // Raw DLC 12 with 8 bytes.
    data_frame(&mut stream, 130, 0x01, 0x7FF, 12, &[7; 8]);

    let dt_at = m.data(b"##DT", &stream);
    let dg = m.dg(0, lin_cg, dt_at, 1);
    (m.finish(dg, START, None), dt_at as usize)
}

#[test]
fn test_sniff() {
    let (bytes, _) = write(&[]);
    assert!(sniff(&bytes));
    assert!(sniff(b"UnFinMF 4.11    "));
    assert!(!sniff(b"MDF     3.30    "));
    assert!(!sniff(b"(1700000000.000000) can0 123#"));
    assert!(!sniff(&[0x0A, 0x0D, 0x0D, 0x0A]));
    assert!(!sniff(b"MDF"));
}

#[test]
fn test_parse_unsorted_bit_packed_vlsd_group() {
    let (bytes, _) = canedge_like();
    let (got, stats, end, notes) = read_all(&bytes);
    assert_eq!(end, None, "{notes:?}");
    assert_eq!(notes, ["skipped: LIN bus record"]);
    assert_eq!(stats.skipped, 1);
    let frames: Vec<String> = got
        .iter()
        .map(|r| {
            format!(
                "{} {} {:?} {}",
                r.timestamp.as_nanos() - START,
                r.interface,
                r.direction,
                r.frame
            )
        })
        .collect();
    let fd: String = (0..64).map(|b| format!("{b:02X}")).collect();
    assert_eq!(
        frames,
        [
            "1000000 can0 Some(Rx) 123#1122".to_owned(),
            "1050000 can1 Some(Tx) 18DAF110#0101010101010101".to_owned(),
            "1100000 can0 None 20000008#0000020000000000".to_owned(),
            "1120000 can1 None 20000020#0000000000000000".to_owned(),
            format!("1200000 can0 Some(Rx) 456##7{fd}"),
            "1300000 can0 Some(Rx) 7FF#0707070707070707_C".to_owned(),
        ]
    );
    assert!(got.iter().all(|r| r.precision == Precision::Micros));
}

#[test]
fn test_parse_unfinalised_file_reads_the_last_dt_block_to_the_end() {
    // The same group, with the DT block last and its length not updated.
    let mut m = Mdf::new();
    let ticks = m.linear(0.0, 1e-3);
    let len = m.cn(0, "CAN_DataFrame.DataLength", (0, 0, 0), (8, 0, 8), 0, 0, 0);
    let bytes = m.cn(
        len,
        "CAN_DataFrame.DataBytes",
        (0, 0, 10),
        (9, 0, 64),
        0,
        0,
        0,
    );
    let id = m.cn(bytes, "CAN_DataFrame.ID", (0, 0, 0), (4, 0, 32), 0, 0, 0);
    let time = m.cn(id, "t", (2, 1, 0), (0, 0, 32), 0, ticks, 0);
    let cg = m.cg(0, time, "", 1, 0, 0x2, 17);
    // The DG (64 bytes) goes next, the DT block right after it, last in the file.
    let dg_at = m.b.base + m.b.bytes.len().div_ceil(8) as u64 * 8;
    let dt_link = dg_at + 64;
    let dg = m.dg(0, cg, dt_link, 1);
    assert_eq!(dg, dg_at);
    let mut records = Vec::new();
    for i in 0..5u32 {
        records.push(1u8);
        records.extend_from_slice(&(i * 10).to_le_bytes());
        records.extend_from_slice(&(0x100 + i).to_le_bytes());
        records.push(1);
        records.push(i as u8);
        records.extend_from_slice(&[0; 7]);
    }
    // A DT header of length 24: the records follow it unaccounted.
    let at = m.data(b"##DT", &[]);
    assert_eq!(at, dt_link);
    m.b.bytes.extend_from_slice(&records);
    let bytes = m.finish(dg, START, Some(0x4));
    assert!(sniff(&bytes));
    let (got, _, end, notes) = read_all(&bytes);
    assert_eq!((end, notes), (None, vec![]));
    assert_eq!(got.len(), 5);
    assert_eq!(got[4].frame, Frame::classic(sid(0x104), &[4]).unwrap());
    assert_eq!(got[4].timestamp.as_nanos(), START + 40_000_000);
    // Cut inside the last record: every complete one, then the truncation.
    let (got, _, end, _) = read_all(&bytes[..bytes.len() - 3]);
    assert_eq!(got.len(), 4);
    assert!(end.unwrap().contains("the input ends inside a record"));
}

#[test]
fn test_parse_sorted_sd_data_bytes_virtual_master_and_signal_groups() {
    let mut m = Mdf::new();
    // SD stream inside a DZ block: values "A", "BCD", 8 bytes.
    let mut sd = Vec::new();
    for v in [b"A".as_slice(), b"BCD", &[9; 8]] {
        sd.extend_from_slice(&(v.len() as u32).to_le_bytes());
        sd.extend_from_slice(v);
    }
    let sd_link = m.dz(b"SD", &sd, None);
    let ms = m.linear(0.5, 1e-3);
    let bytes = m.cn(
        0,
        "CAN_DataFrame.DataBytes",
        (1, 0, 10),
        (4, 0, 64),
        sd_link,
        0,
        0,
    );
    let id = m.cn(bytes, "CAN_DataFrame.ID", (0, 0, 0), (0, 0, 32), 0, 0, 0);
    let master = m.cn(id, "time", (3, 1, 0), (0, 0, 0), 0, ms, 0);
    let parent = m.cn(master, "CAN_DataFrame", (0, 0, 10), (0, 0, 96), 0, 0, 0);
    let cg = m.cg(0, parent, "", 0, 3, 0x6, 12);
    let mut dt = Vec::new();
    for (id, off) in [(0x10u32, 0u64), (0x11, 5), (0x12, 12)] {
        dt.extend_from_slice(&id.to_le_bytes());
        dt.extend_from_slice(&off.to_le_bytes());
    }
    let dt = m.data(b"##DT", &dt);
    let dg1 = m.dg(0, cg, dt, 0);
    // A group of plain signals.
    let sig = m.cn(0, "EngineSpeed", (0, 0, 0), (0, 0, 16), 0, 0, 0);
    let sig_cg = m.cg(0, sig, "", 0, 0, 0, 2);
    let dg0 = m.dg(dg1, sig_cg, 0, 0);
    let bytes = m.finish(dg0, START, None);
    let (got, stats, end, notes) = read_all(&bytes);
    assert_eq!(end, None);
    assert_eq!(notes, ["other: MDF channel group of signals"]);
    assert_eq!(stats.other, 1);
    let want = [
        (500_000_000, Frame::classic(sid(0x10), b"A").unwrap()),
        (501_000_000, Frame::classic(sid(0x11), b"BCD").unwrap()),
        (502_000_000, Frame::classic(sid(0x12), &[9; 8]).unwrap()),
    ];
    for (g, (t, f)) in got.iter().zip(want) {
        assert_eq!((g.timestamp.as_nanos() - START, g.frame), (t, f));
        assert_eq!((g.interface.as_str(), g.direction), ("can0", None));
    }
}

#[test]
fn test_parse_header_list_of_transposed_and_plain_dz_blocks() {
    // Records of 21 bytes (time f64, ID u32, DataLength u8, 8 data bytes) split across two
    // DZ blocks in the middle of a record.
    let mut m = Mdf::new();
    let bytes_cn = m.cn(
        0,
        "CAN_DataFrame.DataBytes",
        (0, 0, 10),
        (13, 0, 64),
        0,
        0,
        0,
    );
    let len = m.cn(
        bytes_cn,
        "CAN_DataFrame.DataLength",
        (0, 0, 0),
        (12, 0, 8),
        0,
        0,
        0,
    );
    let id = m.cn(len, "CAN_DataFrame.ID", (0, 0, 0), (8, 0, 32), 0, 0, 0);
    let time = m.cn(id, "time", (2, 1, 4), (0, 0, 64), 0, 0, 0);
    let cg = m.cg(0, time, "", 0, 100, 0x6, 21);
    let mut data = Vec::new();
    for i in 0..100u32 {
        data.extend_from_slice(&(f64::from(i) * 0.25).to_le_bytes());
        data.extend_from_slice(&(0x8000_0000u32 | i).to_le_bytes());
        data.push((i % 9) as u8);
        data.extend_from_slice(&[i as u8; 8]);
    }
    let a = m.dz(b"DT", &data[..1000], Some(21));
    let b = m.dz(b"DT", &data[1000..], None);
    let dl = m.dl(&[a, b], Some(1000));
    let hl = m.hl(dl);
    let dg = m.dg(0, cg, hl, 0);
    let file = m.finish(dg, START, None);
    let (got, _, end, notes) = read_all(&file);
    assert_eq!((end, notes), (None, vec![]));
    assert_eq!(got.len(), 100);
    for (i, g) in got.iter().enumerate() {
        let want = Frame::classic(xid(i as u32), &vec![i as u8; i % 9]).unwrap();
        assert_eq!(g.frame, want);
        assert_eq!(g.timestamp.as_nanos(), START + i as u64 * 250_000_000);
    }
}

#[test]
fn test_parse_a_data_block_listed_twice_is_a_cycle() {
    // Two lists naming the same DT block (here one list naming it twice, and a header list
    // whose list links back to the list) would read the same bytes again and again.
    let mut m = Mdf::new();
    let id = m.cn(0, "CAN_DataFrame.ID", (0, 0, 0), (8, 0, 32), 0, 0, 0);
    let time = m.cn(id, "time", (2, 1, 4), (0, 0, 64), 0, 0, 0);
    let cg = m.cg(0, time, "", 0, 2, 0x6, 12);
    let dt = m.data(b"##DT", &[0; 12]);
    let dl = m.dl(&[dt, dt], Some(12));
    let dg = m.dg(0, cg, dl, 0);
    let (got, _, end, _) = read_all(&m.finish(dg, START, None));
    assert!(got.is_empty());
    assert!(end.unwrap().contains("cycle"));
}

#[test]
fn test_parse_skips_no_more_records_than_the_data_holds() {
    // A LIN group claiming 2^40 records of 4 bytes with 12 bytes of data: 3 are skipped.
    let mut m = Mdf::new();
    let id = m.cn(0, "LIN_Frame.ID", (0, 0, 0), (8, 0, 8), 0, 0, 0);
    let time = m.cn(id, "time", (2, 1, 4), (0, 0, 32), 0, 0, 0);
    let cg = m.cg(0, time, "", 0, 1 << 40, 0x6, 4);
    let dt = m.data(b"##DT", &[0; 12]);
    let dg = m.dg(0, cg, dt, 0);
    let (got, stats, end, notes) = read_all(&m.finish(dg, START, None));
    assert_eq!((got.len(), end), (0, None));
    assert_eq!(stats.skipped, 3, "{notes:?}");
    assert_eq!(notes, vec!["skipped: LIN bus record"; 3]);
}

#[test]
fn test_parse_bad_record_id_ends_its_group() {
    let (mut bytes, dt) = canedge_like();
    // The first record id of the stream becomes 9.
    bytes[dt + 24] = 9;
    let (got, _, end, notes) = read_all(&bytes);
    assert_eq!(end, None);
    assert!(got.is_empty());
    assert_eq!(notes.len(), 1);
    assert!(
        notes[0].contains("record id 9 belongs to no channel group"),
        "{notes:?}"
    );
}

#[test]
fn test_parse_broken_files_are_errors_not_panics() {
    let (bytes, _) = write(&[rec(
        START,
        "can0",
        Frame::classic(sid(1), &[1]).unwrap(),
        None,
    )]);
    let (_, _, end, _) = read_all(&bytes[..100]);
    assert!(end.unwrap().contains("the input ends inside a record"));
    let (_, _, end, _) = read_all(b"MDF     4.10    ");
    assert!(end.is_some());
    let (_, _, end, _) =
        read_all(b"not an mdf file at all, but long enough to have an id block...!!");
    assert!(end.unwrap().contains("not an MDF 4 file"));
    // A data group linking to itself.
    let mut m = Mdf::new();
    let at = m.b.base;
    let dg = m.dg(at, 0, 0, 0);
    assert_eq!(dg, at);
    let (_, _, end, _) = read_all(&m.finish(dg, START, None));
    assert!(end.unwrap().contains("cycle"));
}

#[test]
fn test_emit_and_parse_every_frame_kind() {
    let frames = [
        Frame::classic(sid(0x123), &[1, 2]).unwrap(),
        Frame::classic(xid(0x1FFF_FFFF), &[]).unwrap(),
        Frame::Classic(ClassicFrame::with_raw_dlc(sid(0x7FF), [3; 8], 15).unwrap()),
        Frame::Remote(RemoteFrame::new(sid(0x10), 5).unwrap()),
        Frame::Remote(RemoteFrame::with_raw_dlc(xid(0x10), 9).unwrap()),
        Frame::fd(sid(0x22), &[4; 64], true).unwrap(),
        Frame::Fd(FdFrame::new(xid(0x33), &[5; 12], FdFlags::from_bits(0x6).unwrap()).unwrap()),
        Frame::Error(ErrorFrame::new(0x1FFF_FFFF, [1, 2, 3, 4, 5, 6, 7, 8]).unwrap()),
    ];
    let records: Vec<_> = frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            rec(
                START + i as u64 * 1_000_001,
                ["can0", "can1", "can7"][i % 3],
                *f,
                [Some(Direction::Rx), Some(Direction::Tx)][i % 2],
            )
        })
        .collect();
    let (bytes, losses) = write(&records);
    assert!(losses.is_empty(), "{losses:?}");
    let (got, stats, end, notes) = read_all(&bytes);
    assert_eq!((end, notes), (None, vec![]));
    assert_eq!(stats.records, 8);
    assert_eq!(got, records);
}

#[test]
fn test_emit_counts_what_mdf_cannot_hold() {
    let f = Frame::classic(sid(1), &[]).unwrap();
    let fd8 = Frame::Fd(FdFrame::new(sid(1), &[], FdFlags::from_bits(0xC).unwrap()).unwrap());
    let (bytes, losses) = write(&[
        rec(START, "vcan0", f, None),
        rec(START + 1, "can0", fd8, Some(Direction::Rx)),
        rec(
            START + 5_000_000_000_000_000,
            "can0",
            f,
            Some(Direction::Rx),
        ),
    ]);
    let whats: Vec<_> = losses
        .iter()
        .map(|l| (l.what, l.count, l.dropped))
        .collect();
    assert_eq!(
        whats,
        [
            (LOSS_DIRECTION, 1, false),
            (LOSS_FD_FLAG, 1, false),
            (LOSS_SPAN, 1, false),
        ]
    );
    let (got, _, _, _) = read_all(&bytes);
    assert_eq!(got[0].interface, "can0", "vcan0 took channel 1");
    assert_eq!(got[1].interface, "can1", "can0 then took channel 2");
    // An empty capture is a valid file without data groups.
    let (bytes, _) = write(&[]);
    assert_eq!(read_all(&bytes).0.len(), 0);
    assert_eq!(read_all(&bytes).2, None);
}

#[test]
fn test_parse_merges_groups_in_time_order() {
    let times = [5u64, 1, 3, 2, 4, 0];
    let frames = [
        Frame::classic(sid(1), &[]).unwrap(),
        Frame::Remote(RemoteFrame::new(sid(2), 0).unwrap()),
        Frame::Error(ErrorFrame::new(4, [0; 8]).unwrap()),
    ];
    // Each group's own records in time order, the groups interleaved.
    let mut records = Vec::new();
    for (i, t) in [0u64, 1, 2, 3, 4, 5].iter().enumerate() {
        records.push(rec(
            START + t * 1000,
            "can0",
            frames[i % 3],
            Some(Direction::Rx),
        ));
    }
    let _ = times;
    let (bytes, _) = write(&records);
    let (got, _, _, _) = read_all(&bytes);
    assert_eq!(got, records);
}

#[test]
fn test_reader_streams_a_long_capture_with_flat_memory() {
    let n = 100_000u64;
    let mut w = Writer::new(Cursor::new(Vec::new()));
    for i in 0..n {
        let frame = match i % 10 {
            0 => Frame::fd(sid((i % 0x800) as u16), &[i as u8; 48], true).unwrap(),
            1 => Frame::Remote(RemoteFrame::new(xid(i as u32), 8).unwrap()),
            _ => Frame::classic(xid(i as u32), &i.to_le_bytes()).unwrap(),
        };
        let r = rec(
            START + i * 100_000,
            ["can0", "can1"][(i % 2) as usize],
            frame,
            Some(Direction::Tx),
        );
        w.write_record(&r.as_record()).unwrap();
    }
    FrameWriter::finish(&mut w).unwrap();
    let bytes = w.into_inner().into_inner();
    let mut r = Reader::new(Cursor::new(bytes.as_slice()));
    let mut count = 0u64;
    while let Some(item) = r.read_item().unwrap() {
        if let Item::Record(rec) = item {
            assert_eq!(rec.timestamp.as_nanos(), START + count * 100_000);
            count += 1;
        }
    }
    assert_eq!(count, n);
    for s in &r.streams {
        assert!(
            s.source.buf.capacity() <= 4 * CHUNK,
            "{}",
            s.source.buf.capacity()
        );
    }
}

fn arb_record() -> impl Strategy<Value = OwnedRecord> {
    (
        0u64..5_000_000_000_000,
        prop_oneof![Just("can0"), Just("can1"), Just("can5")],
        arb::frame(),
        prop_oneof![Just(Some(Direction::Rx)), Just(Some(Direction::Tx))],
    )
        .prop_map(|(nanos, interface, frame, direction)| rec(nanos, interface, frame, direction))
}

/// What the writer does to a frame: CAN FD frames are FDF with BRS/ESI only.
fn written(frame: Frame) -> Frame {
    match frame {
        Frame::Fd(f) => Frame::Fd(
            FdFrame::new(
                f.id(),
                f.data(),
                FdFlags::from_bits(f.flags().bits() & 0x3 | FdFlags::FDF).unwrap(),
            )
            .unwrap(),
        ),
        other => other,
    }
}

fn group_of(frame: &Frame) -> u8 {
    match frame {
        Frame::Classic(_) | Frame::Fd(_) => 0,
        Frame::Error(_) => 1,
        Frame::Remote(_) => 2,
    }
}

proptest! {
    #[test]
    fn test_roundtrip_write_then_read(
        start in 0u64..u64::MAX / 2,
        mut records in proptest::collection::vec(arb_record(), 0..40),
    ) {
        records.sort_by_key(|r| r.timestamp);
        for r in &mut records {
            r.timestamp = Timestamp::from_nanos(start + r.timestamp.as_nanos());
        }
        let (bytes, _) = write(&records);
        let (got, stats, end, notes) = read_all(&bytes);
        prop_assert_eq!(end, None);
        prop_assert!(notes.is_empty());
        prop_assert_eq!(stats.records as usize, records.len());
        let mut want: Vec<_> = records
            .iter()
            .map(|r| OwnedRecord { frame: written(r.frame), ..r.clone() })
            .collect();
        // The groups are merged by time; equal times go to the data frames first.
        want.sort_by_key(|r| (r.timestamp, group_of(&r.frame)));
        prop_assert_eq!(got, want);
    }

    #[test]
    fn test_reader_never_panics_on_mutated_files(
        records in proptest::collection::vec(arb_record(), 1..6),
        flips in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<proptest::sample::Index>(),
    ) {
        let (mut bytes, _) = write(&records);
        for (i, v) in flips {
            let at = i.index(bytes.len());
            bytes[at] = v;
        }
        let keep = cut.index(bytes.len() + 1).max(bytes.len() / 2);
        let mut r = Reader::new(Cursor::new(&bytes[..keep]));
        let mut n = 0;
        while let Ok(Some(_)) = r.read_item() {
            n += 1;
            prop_assert!(n < 100_000);
        }
    }

    #[test]
    fn test_reader_never_panics_on_mutated_unsorted_files(
        flips in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let (mut bytes, _) = canedge_like();
        for (i, v) in flips {
            let at = i.index(bytes.len());
            bytes[at] = v;
        }
        let mut r = Reader::new(Cursor::new(&bytes[..]));
        let mut n = 0;
        while let Ok(Some(_)) = r.read_item() {
            n += 1;
            prop_assert!(n < 100_000);
        }
    }
}
