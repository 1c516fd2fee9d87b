//! pcap and pcapng against real peers: Wireshark's tshark reads what we write (ids, flags,
//! lengths, data, error classes, interface names, directions, times), and we read what other
//! writers make: Scapy's PcapNgWriter, Wireshark's text2pcap (names, directions, nanosecond
//! times) and editcap (our classic pcap converted to pcapng). Also checks that we read Linux
//! cooked captures and host-order link-type-227 captures as tshark does (with its
//! `can.byte_swap` preference for the latter).
//!
//! Run: `CANRELEARN_PEER_PYTHON=/opt/peers/bin/python cargo test --features peer-tests --test
//! peers_pcap` (tshark, text2pcap and editcap come with the Debian package tshark; Scapy from
//! PyPI in the peer Python).

#[path = "common/peer.rs"]
mod peer;

use std::path::Path;

use canrelearn::frame::{ClassicFrame, ErrorFrame, FdFlags, FdFrame, Frame, Id, RemoteFrame};
use canrelearn::log::pcap::{IdByteOrder, PcapWriter, PcapngWriter, Reader, encode_frame};
use canrelearn::log::{Direction, FrameWriter, Item, OwnedRecord, Precision};
use canrelearn::time::Timestamp;

fn sid(raw: u16) -> Id {
    Id::standard(raw).unwrap()
}

fn xid(raw: u32) -> Id {
    Id::extended(raw).unwrap()
}

/// Every frame kind: classic 0-8 bytes (standard, extended, raw DLC), remote with lengths,
/// CAN FD of every length with BRS/ESI, error frames with details; three interfaces, both
/// directions and none. Times are multiples of 1/64 s (exact in binary and in microseconds).
fn mixed() -> Vec<OwnedRecord> {
    let mut frames = Vec::new();
    for len in 0..=8u8 {
        let data: Vec<u8> = (0..len).map(|i| 0x10 * len + i).collect();
        frames.push(Frame::classic(sid(0x100 + u16::from(len)), &data).unwrap());
        frames.push(Frame::classic(xid(0x18DA_F100 + u32::from(len)), &data).unwrap());
    }
    frames.push(Frame::Classic(
        ClassicFrame::with_raw_dlc(sid(0x7FF), [0xA5; 8], 0xB).unwrap(),
    ));
    for len in [0u8, 4, 8] {
        frames.push(Frame::Remote(RemoteFrame::new(sid(0x321), len).unwrap()));
        frames.push(Frame::Remote(
            RemoteFrame::new(xid(0x1234_5678), len).unwrap(),
        ));
    }
    for (i, len) in [0usize, 1, 8, 12, 16, 20, 24, 32, 48, 64]
        .into_iter()
        .enumerate()
    {
        let data: Vec<u8> = (0..len).map(|b| (b * 3 + i) as u8).collect();
        let flags = FdFlags::from_bits(FdFlags::FDF | (i as u8 % 4)).unwrap();
        let id = if i % 2 == 0 {
            sid(0x456)
        } else {
            xid(0x1ABC_DEF0)
        };
        frames.push(Frame::Fd(FdFrame::new(id, &data, flags).unwrap()));
    }
    frames.push(Frame::Error(
        ErrorFrame::new(0x44, [0, 0x04, 0, 0, 0, 0xAA, 0xBB, 0xCC]).unwrap(),
    ));
    frames.push(Frame::Error(
        ErrorFrame::new(0x08, [0, 0, 0x02, 0x0A, 0, 0, 0, 0]).unwrap(),
    ));
    frames.push(Frame::Error(ErrorFrame::new(0x80 | 0x20, [0; 8]).unwrap()));
    frames
        .into_iter()
        .enumerate()
        .map(|(i, frame)| OwnedRecord {
            timestamp: Timestamp::from_nanos(1_700_000_000_000_000_000 + i as u64 * 15_625_000),
            precision: Precision::Nanos,
            interface: ["can0", "vcan1", "canfd-bus"][i % 3].to_owned(),
            frame,
            direction: [None, Some(Direction::Rx), Some(Direction::Tx)][i % 3],
        })
        .collect()
}

fn read(path: &Path) -> Vec<OwnedRecord> {
    read_with(path, IdByteOrder::Auto)
}

fn read_with(path: &Path, order: IdByteOrder) -> Vec<OwnedRecord> {
    let bytes = std::fs::read(path).unwrap();
    let mut r = Reader::new(bytes.as_slice()).with_id_byte_order(order);
    let mut out = Vec::new();
    while let Some(item) = r.read_item().unwrap() {
        match item {
            Item::Record(rec) => out.push(rec.to_owned_record()),
            Item::Bad(e) => panic!("{}: {e}", path.display()),
            Item::Skipped(what) => panic!("{}: skipped {what}", path.display()),
            Item::Other(_) => {}
        }
    }
    out
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

const FIELDS: &[&str] = &[
    "frame.interface_name",
    "frame.time_epoch",
    "frame.packet_flags_direction",
    "can.id",
    "can.flags.xtd",
    "can.flags.rtr",
    "can.flags.err",
    "can.len",
    "canfd.flags.brs",
    "canfd.flags.esi",
    "data.data",
    "can.reserved",
    "can.err.tx_timeout",
    "can.err.lostarb",
    "can.err.ctrl",
    "can.err.prot",
    "can.err.trx",
    "can.err.ack",
    "can.err.busoff",
    "can.err.buserror",
    "can.err.restarted",
    "can.err.ctrl.rx_warning",
    "can.err.prot.type.form",
    "can.err.prot.location",
    "can.err.ctrl_specific",
];

/// tshark's fields for every packet, one map per packet.
fn tshark(path: &Path, prefs: &[&str]) -> Vec<std::collections::HashMap<&'static str, String>> {
    let mut args: Vec<&str> = vec!["-r", peer::s(path), "-T", "fields", "-E", "separator=|"];
    for p in prefs {
        args.extend(["-o", p]);
    }
    for f in FIELDS {
        args.extend(["-e", f]);
    }
    let out = peer::run_tool("tshark", &args, "tshark");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let cols: Vec<&str> = line.split('|').collect();
            assert_eq!(cols.len(), FIELDS.len(), "{line}");
            FIELDS
                .iter()
                .copied()
                .zip(cols.into_iter().map(str::to_owned))
                .collect()
        })
        .collect()
}

fn flag(b: bool) -> &'static str {
    if b { "1" } else { "0" }
}

/// Checks one packet as tshark dissected it against the record we wrote.
fn check_tshark_packet(
    p: &std::collections::HashMap<&'static str, String>,
    r: &OwnedRecord,
    names: bool,
    micros: bool,
) {
    let t = r.timestamp;
    let frac = if micros {
        t.subsec_micros() * 1000
    } else {
        t.subsec_nanos()
    };
    let ctx = format!("{} {:?}", r.frame, p);
    assert_eq!(
        p["frame.time_epoch"],
        format!("{}.{frac:09}", t.secs()),
        "{ctx}"
    );
    if names {
        assert_eq!(p["frame.interface_name"], r.interface, "{ctx}");
        let dir = match r.direction {
            None => "",
            Some(Direction::Rx) => "0x00000001",
            Some(Direction::Tx) => "0x00000002",
        };
        assert_eq!(p["frame.packet_flags_direction"], dir, "{ctx}");
    }
    match r.frame {
        Frame::Classic(c) => {
            assert_eq!(p["can.id"], c.id().raw().to_string(), "{ctx}");
            assert_eq!(p["can.flags.xtd"], flag(c.id().is_extended()), "{ctx}");
            assert_eq!(p["can.flags.rtr"], "0", "{ctx}");
            assert_eq!(p["can.flags.err"], "0", "{ctx}");
            assert_eq!(p["can.len"], c.data().len().to_string(), "{ctx}");
            assert_eq!(p["data.data"], hex(c.data()), "{ctx}");
            let raw = c.raw_dlc().unwrap_or(0);
            assert_eq!(
                p["can.reserved"],
                format!("0000{raw:02x}"),
                "len8_dlc: {ctx}"
            );
        }
        Frame::Remote(rf) => {
            assert_eq!(p["can.id"], rf.id().raw().to_string(), "{ctx}");
            assert_eq!(p["can.flags.xtd"], flag(rf.id().is_extended()), "{ctx}");
            assert_eq!(p["can.flags.rtr"], "1", "{ctx}");
            assert_eq!(p["can.len"], rf.len().to_string(), "{ctx}");
        }
        Frame::Fd(f) => {
            assert_eq!(p["can.id"], f.id().raw().to_string(), "{ctx}");
            assert_eq!(p["can.flags.xtd"], flag(f.id().is_extended()), "{ctx}");
            assert_eq!(p["can.len"], f.data().len().to_string(), "{ctx}");
            assert_eq!(p["canfd.flags.brs"], flag(f.flags().brs()), "{ctx}");
            assert_eq!(p["canfd.flags.esi"], flag(f.flags().esi()), "{ctx}");
            assert_eq!(p["data.data"], hex(f.data()), "{ctx}");
        }
        Frame::Error(e) => {
            assert_eq!(p["can.flags.err"], "1", "{ctx}");
            assert_eq!(p["can.len"], "8", "{ctx}");
            let names = [
                "can.err.tx_timeout",
                "can.err.lostarb",
                "can.err.ctrl",
                "can.err.prot",
                "can.err.trx",
                "can.err.ack",
                "can.err.busoff",
                "can.err.buserror",
                "can.err.restarted",
            ];
            let mut class = 0u32;
            for (bit, name) in names.iter().enumerate() {
                if p[name] == "1" {
                    class |= 1 << bit;
                }
            }
            assert_eq!(class, e.class(), "{ctx}");
            let d = e.data();
            assert_eq!(
                p["can.err.ctrl_specific"],
                format!("{:02x} {:02x} {:02x}", d[5], d[6], d[7]),
                "{ctx}"
            );
            if e.class() & 0x04 != 0 {
                assert_eq!(
                    p["can.err.ctrl.rx_warning"],
                    flag(d[1] & 0x04 != 0),
                    "{ctx}"
                );
            }
            if e.class() & 0x08 != 0 {
                assert_eq!(p["can.err.prot.type.form"], flag(d[2] & 0x02 != 0), "{ctx}");
                assert_eq!(p["can.err.prot.location"], d[3].to_string(), "{ctx}");
            }
        }
    }
}

#[test]
fn tshark_reads_our_pcapng() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ours.pcapng");
    let records = mixed();
    let mut w = PcapngWriter::new(std::fs::File::create(&path).unwrap());
    for r in &records {
        w.write_record(&r.as_record()).unwrap();
    }
    w.finish().unwrap();
    assert!(w.losses().is_empty());
    drop(w);
    let packets = tshark(&path, &[]);
    assert_eq!(packets.len(), records.len());
    for (p, r) in packets.iter().zip(&records) {
        check_tshark_packet(p, r, true, false);
    }
    // And we read back what we wrote.
    assert_eq!(read(&path), records);
}

#[test]
fn tshark_reads_our_pcap_with_nanosecond_and_microsecond_magic() {
    let dir = tempfile::tempdir().unwrap();
    let records = mixed();
    for micros in [false, true] {
        let path = dir.path().join(format!("ours-{micros}.pcap"));
        let mut w = PcapWriter::new(std::fs::File::create(&path).unwrap());
        if micros {
            w = w.with_microseconds();
        }
        for r in &records {
            w.write_record(&r.as_record()).unwrap();
        }
        w.finish().unwrap();
        let lost: Vec<_> = w
            .losses()
            .iter()
            .map(|l| (l.what, l.count, l.dropped))
            .collect();
        assert_eq!(lost.len(), 2, "names and directions: {lost:?}");
        drop(w);
        let packets = tshark(&path, &[]);
        assert_eq!(packets.len(), records.len());
        for (p, r) in packets.iter().zip(&records) {
            check_tshark_packet(p, r, false, micros);
        }
        let back = read(&path);
        assert_eq!(back.len(), records.len());
        for (b, r) in back.iter().zip(&records) {
            assert_eq!((b.frame, b.interface.as_str()), (r.frame, "can0"));
        }
    }
}

/// The frames in the line format of tests/tools/pcap_peer.py.
fn scapy_lines(records: &[OwnedRecord]) -> String {
    let mut s = String::new();
    for r in records {
        let t = r.timestamp;
        let secs = format!("{}.{:06}", t.secs(), t.subsec_micros());
        let dir = match r.direction {
            None => "-",
            Some(Direction::Rx) => "R",
            Some(Direction::Tx) => "T",
        };
        let data = |d: &[u8]| if d.is_empty() { "-".to_owned() } else { hex(d) };
        let line = match r.frame {
            Frame::Classic(c) => format!(
                "C {:X} {} {} {} {}",
                c.id().raw(),
                u8::from(c.id().is_extended()),
                c.data().len(),
                c.raw_dlc().unwrap_or(0),
                data(c.data())
            ),
            Frame::Remote(rf) => format!(
                "R {:X} {} {} 0 -",
                rf.id().raw(),
                u8::from(rf.id().is_extended()),
                rf.len()
            ),
            Frame::Fd(f) => format!(
                "F {:X} {} {} {} {}",
                f.id().raw(),
                u8::from(f.id().is_extended()),
                f.data().len(),
                f.flags().bits(),
                data(f.data())
            ),
            Frame::Error(e) => format!("E {:X} 0 8 0 {}", e.class(), hex(e.data())),
        };
        s.push_str(&format!("{secs} {} {dir} {line}\n", r.interface));
    }
    s
}

#[test]
fn we_read_scapy_pcapng_frame_for_frame() {
    let dir = tempfile::tempdir().unwrap();
    let frames = dir.path().join("frames.txt");
    let out = dir.path().join("scapy.pcapng");
    let records = mixed();
    std::fs::write(&frames, scapy_lines(&records)).unwrap();
    peer::run_python(
        include_str!("tools/pcap_peer.py"),
        &[peer::s(&frames), peer::s(&out)],
    );
    let got = read(&out);
    assert_eq!(got.len(), records.len());
    for (g, r) in got.iter().zip(&records) {
        assert_eq!(g.frame, r.frame, "{g:?}");
        assert_eq!(g.interface, r.interface);
        assert_eq!(g.direction, r.direction);
        assert_eq!(g.timestamp, r.timestamp, "Scapy writes microseconds");
        assert_eq!(g.precision, Precision::Micros);
    }
    // tshark agrees with Scapy's file too.
    let packets = tshark(&out, &[]);
    for (p, r) in packets.iter().zip(&records) {
        check_tshark_packet(p, r, true, true);
    }
}

/// A text2pcap hex dump of the records: `I`/`O` direction, epoch time with nanoseconds.
fn text2pcap_dump(records: &[OwnedRecord]) -> String {
    let mut s = String::new();
    let mut buf = Vec::new();
    for r in records {
        encode_frame(&mut buf, &r.frame);
        let dir = if r.direction == Some(Direction::Tx) {
            "O"
        } else {
            "I"
        };
        let t = r.timestamp;
        s.push_str(&format!(
            "{dir} {}.{:09}\n0000 ",
            t.secs(),
            t.subsec_nanos()
        ));
        for b in &buf {
            s.push_str(&format!(" {b:02x}"));
        }
        s.push('\n');
    }
    s
}

#[test]
fn we_read_wireshark_text2pcap_pcapng() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("dump.txt");
    let out = dir.path().join("text2pcap.pcapng");
    let records: Vec<_> = mixed()
        .into_iter()
        .map(|mut r| {
            r.interface = "vcan7".into();
            r.direction = Some(r.direction.unwrap_or(Direction::Rx));
            r.timestamp = Timestamp::from_nanos(r.timestamp.as_nanos() + 123_456_789);
            r
        })
        .collect();
    std::fs::write(&text, text2pcap_dump(&records)).unwrap();
    peer::run_tool(
        "text2pcap",
        &[
            "-q",
            "-D",
            "-t",
            "%s.%f",
            "-l",
            "227",
            "-N",
            "vcan7",
            peer::s(&text),
            peer::s(&out),
        ],
        "tshark",
    );
    let got = read(&out);
    assert_eq!(got, records);
}

#[test]
fn we_read_our_pcap_converted_to_pcapng_by_editcap() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("ours.pcap");
    let pcapng = dir.path().join("editcap.pcapng");
    let records = mixed();
    let mut w = PcapWriter::new(std::fs::File::create(&pcap).unwrap());
    for r in &records {
        w.write_record(&r.as_record()).unwrap();
    }
    w.finish().unwrap();
    drop(w);
    peer::run_tool(
        "editcap",
        &["-F", "pcapng", peer::s(&pcap), peer::s(&pcapng)],
        "tshark",
    );
    let got = read(&pcapng);
    assert_eq!(got.len(), records.len());
    for (g, r) in got.iter().zip(&records) {
        assert_eq!((g.frame, g.timestamp), (r.frame, r.timestamp));
        assert_eq!(g.precision, Precision::Nanos, "editcap keeps nanoseconds");
    }
}

/// Writes a classic pcap of raw packets (little-endian file).
fn raw_pcap(path: &Path, link: u32, packets: &[Vec<u8>]) {
    let mut b = 0xA1B2_3C4Du32.to_le_bytes().to_vec();
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&262_144u32.to_le_bytes());
    b.extend_from_slice(&link.to_le_bytes());
    for (i, p) in packets.iter().enumerate() {
        for v in [1_700_000_000 + i as u32, 0, p.len() as u32, p.len() as u32] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(p);
    }
    std::fs::write(path, b).unwrap();
}

/// The classic and FD frames of `mixed()`, with their id word byte-swapped (host order on a
/// little-endian machine).
fn host_order_packets() -> (Vec<Frame>, Vec<Vec<u8>>) {
    let mut frames = Vec::new();
    let mut packets = Vec::new();
    let mut buf = Vec::new();
    for r in mixed() {
        encode_frame(&mut buf, &r.frame);
        buf[..4].reverse();
        frames.push(r.frame);
        packets.push(buf.clone());
    }
    (frames, packets)
}

#[test]
fn cooked_captures_read_as_tshark_reads_them() {
    // Linux cooked capture (tcpdump -i any): CAN header in host (little-endian) order.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sll.pcap");
    let (frames, packets) = host_order_packets();
    let sll: Vec<Vec<u8>> = frames
        .iter()
        .zip(&packets)
        .map(|(f, p)| {
            let mut b = Vec::new();
            b.extend_from_slice(&1u16.to_be_bytes()); // broadcast: received
            b.extend_from_slice(&280u16.to_be_bytes()); // ARPHRD_CAN
            b.extend_from_slice(&0u16.to_be_bytes());
            b.extend_from_slice(&[0; 8]);
            let proto: u16 = if f.is_fd() { 0x000D } else { 0x000C };
            b.extend_from_slice(&proto.to_be_bytes());
            b.extend_from_slice(p);
            b
        })
        .collect();
    raw_pcap(&path, 113, &sll);
    let got = read(&path);
    let got_frames: Vec<Frame> = got.iter().map(|r| r.frame).collect();
    assert_eq!(got_frames, frames);
    let packets = tshark(&path, &[]);
    assert_eq!(packets.len(), got.len());
    for (p, r) in packets.iter().zip(&got) {
        if let Some(id) = r.frame.id() {
            assert_eq!(p["can.id"], id.raw().to_string(), "{:?}", r.frame);
        } else {
            assert_eq!(p["can.flags.err"], "1");
        }
    }
}

#[test]
fn host_order_socketcan_reads_as_tshark_with_byte_swap() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("host-order.pcap");
    let (frames, packets) = host_order_packets();
    raw_pcap(&path, 227, &packets);
    let got = read(&path);
    let got_frames: Vec<Frame> = got.iter().map(|r| r.frame).collect();
    assert_eq!(got_frames, frames, "detected little-endian ids");
    assert_eq!(read_with(&path, IdByteOrder::Little), got);
    let packets = tshark(&path, &["can.byte_swap:TRUE"]);
    for (p, r) in packets.iter().zip(&got) {
        check_tshark_packet(p, r, false, false);
    }
}
