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

fn rec(nanos: u64, interface: &str, frame: Frame, direction: Option<Direction>) -> OwnedRecord {
    OwnedRecord {
        timestamp: Timestamp::from_nanos(nanos),
        precision: Precision::Nanos,
        interface: interface.to_owned(),
        frame,
        direction,
    }
}

/// One of every frame kind.
fn mixed_frames() -> Vec<Frame> {
    vec![
        Frame::classic(sid(0x123), &[0x11, 0x22]).unwrap(),
        Frame::classic(sid(0x7FF), &[]).unwrap(),
        Frame::classic(xid(0x18DA_F110), &[1, 2, 3, 4, 5, 6, 7, 8]).unwrap(),
        Frame::Classic(ClassicFrame::with_raw_dlc(sid(0x080), [9; 8], 13).unwrap()),
        Frame::Remote(RemoteFrame::new(sid(0x321), 4).unwrap()),
        Frame::Remote(RemoteFrame::new(xid(0x1234), 0).unwrap()),
        Frame::Remote(RemoteFrame::with_raw_dlc(sid(0x1), 9).unwrap()),
        Frame::fd(sid(0x456), &[0xAB; 64], true).unwrap(),
        Frame::Fd(
            FdFrame::new(xid(0x1ABC_DEF0), &[1; 12], FdFlags::from_bits(0x6).unwrap()).unwrap(),
        ),
        Frame::fd(sid(0x0), &[], false).unwrap(),
        Frame::Error(ErrorFrame::new(0x0000_0044, [0, 4, 0, 0, 0, 0, 0, 0]).unwrap()),
    ]
}

fn read_all(bytes: &[u8]) -> (Vec<OwnedRecord>, Stats, Option<String>) {
    read_all_with(bytes, IdByteOrder::Auto)
}

fn read_all_with(bytes: &[u8], order: IdByteOrder) -> (Vec<OwnedRecord>, Stats, Option<String>) {
    let mut r = Reader::new(bytes).with_id_byte_order(order);
    let mut out = Vec::new();
    let end = loop {
        match r.read_item() {
            Ok(Some(Item::Record(rec))) => out.push(rec.to_owned_record()),
            Ok(Some(_)) => {}
            Ok(None) => break None,
            Err(e) => break Some(e.to_string()),
        }
    };
    (out, r.stats(), end)
}

fn items(bytes: &[u8]) -> Vec<String> {
    let mut r = Reader::new(bytes);
    let mut out = Vec::new();
    loop {
        match r.read_item() {
            Ok(Some(Item::Record(rec))) => out.push(format!("{} {}", rec.interface, rec.frame)),
            Ok(Some(Item::Other(s))) => out.push(format!("other: {s}")),
            Ok(Some(Item::Skipped(s))) => out.push(format!("skipped: {s}")),
            Ok(Some(Item::Bad(e))) => out.push(format!("bad: {e}")),
            Ok(None) => break,
            Err(e) => {
                out.push(format!("error: {e}"));
                break;
            }
        }
    }
    out
}

fn write_pcapng(records: &[OwnedRecord]) -> Vec<u8> {
    let mut w = PcapngWriter::new(Vec::new());
    for r in records {
        w.write_record(&r.as_record()).unwrap();
    }
    FrameWriter::finish(&mut w).unwrap();
    w.into_inner().unwrap()
}

// --- hand-built pcapng blocks, in either byte order --------------------------------------

#[derive(Copy, Clone)]
enum E {
    Be,
    Le,
}

fn u16b(e: E, v: u16) -> [u8; 2] {
    match e {
        E::Be => v.to_be_bytes(),
        E::Le => v.to_le_bytes(),
    }
}

fn u32b(e: E, v: u32) -> [u8; 4] {
    match e {
        E::Be => v.to_be_bytes(),
        E::Le => v.to_le_bytes(),
    }
}

fn block(e: E, kind: u32, body: &[u8]) -> Vec<u8> {
    let mut body = body.to_vec();
    body.resize(body.len().div_ceil(4) * 4, 0);
    let len = body.len() as u32 + 12;
    let mut b = Vec::new();
    b.extend_from_slice(&u32b(e, kind));
    b.extend_from_slice(&u32b(e, len));
    b.extend_from_slice(&body);
    b.extend_from_slice(&u32b(e, len));
    b
}

fn option(e: E, code: u16, value: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&u16b(e, code));
    b.extend_from_slice(&u16b(e, value.len() as u16));
    b.extend_from_slice(value);
    b.resize(b.len().div_ceil(4) * 4, 0);
    b
}

fn shb(e: E) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&u32b(e, BYTE_ORDER_MAGIC));
    body.extend_from_slice(&u16b(e, 1));
    body.extend_from_slice(&u16b(e, 0));
    body.extend_from_slice(&[0xFF; 8]);
    block(e, SHB, &body)
}

/// An IDB; `end` adds `opt_endofopt`.
fn idb(e: E, link: u16, name: Option<&str>, tsresol: Option<u8>, end: bool) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&u16b(e, link));
    body.extend_from_slice(&[0, 0]);
    body.extend_from_slice(&u32b(e, 0));
    if let Some(n) = name {
        body.extend(option(e, 2, n.as_bytes()));
    }
    if let Some(r) = tsresol {
        body.extend(option(e, 9, &[r]));
    }
    if end {
        body.extend_from_slice(&[0; 4]);
    }
    block(e, IDB, &body)
}

fn epb(e: E, iface: u32, units: u64, data: &[u8], flags: Option<u32>) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&u32b(e, iface));
    body.extend_from_slice(&u32b(e, (units >> 32) as u32));
    body.extend_from_slice(&u32b(e, units as u32));
    body.extend_from_slice(&u32b(e, data.len() as u32));
    body.extend_from_slice(&u32b(e, data.len() as u32));
    body.extend_from_slice(data);
    body.resize(body.len().div_ceil(4) * 4, 0);
    if let Some(f) = flags {
        body.extend(option(e, 2, &u32b(e, f)));
        body.extend_from_slice(&[0; 4]);
    }
    block(e, EPB, &body)
}

fn spb(e: E, data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&u32b(e, data.len() as u32));
    body.extend_from_slice(data);
    block(e, SPB, &body)
}

/// A LINKTYPE_CAN_SOCKETCAN packet with the id word in the given byte order.
fn can(e: E, word: u32, len: u8, flags: u8, res: [u8; 2], data: &[u8], mtu: usize) -> Vec<u8> {
    let mut b = u32b(e, word).to_vec();
    b.extend_from_slice(&[len, flags, res[0], res[1]]);
    b.extend_from_slice(data);
    b.resize(mtu.max(b.len()), 0);
    b
}

fn classic_pcap(e: E, nanos: bool, link: u32, packets: &[(u32, u32, Vec<u8>)]) -> Vec<u8> {
    let magic = if nanos { 0xA1B2_3C4D } else { 0xA1B2_C3D4 };
    let mut b = u32b(e, magic).to_vec();
    b.extend_from_slice(&u16b(e, 2));
    b.extend_from_slice(&u16b(e, 4));
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&u32b(e, 65535));
    b.extend_from_slice(&u32b(e, link));
    for (secs, frac, data) in packets {
        b.extend_from_slice(&u32b(e, *secs));
        b.extend_from_slice(&u32b(e, *frac));
        b.extend_from_slice(&u32b(e, data.len() as u32));
        b.extend_from_slice(&u32b(e, data.len() as u32));
        b.extend_from_slice(data);
    }
    b
}

// --- tests ---------------------------------------------------------------------------------

#[test]
fn test_sniff_magics() {
    let pcapng = write_pcapng(&[]);
    assert_eq!(sniff_format(&pcapng), Some(Format::Pcapng));
    let be = shb(E::Be);
    assert_eq!(sniff_format(&be), Some(Format::Pcapng));
    for (e, nanos) in [(E::Be, false), (E::Be, true), (E::Le, false), (E::Le, true)] {
        let b = classic_pcap(e, nanos, 227, &[]);
        assert_eq!(sniff_format(&b), Some(Format::Pcap));
        assert!(sniff(&b));
    }
    assert!(!sniff(b"(1700000000.000000) can0 123#11\n"));
    assert!(!sniff(b"date Mon Jan 1 00:00:00 2024\n"));
    assert!(!sniff(&[0xD4, 0xC3, 0xB2]));
    assert!(!sniff(&[0x0A, 0x0D, 0x0D, 0x0A, 0, 0, 0, 28, 1, 2, 3, 4]));
    let mut wrong_version = classic_pcap(E::Le, false, 227, &[]);
    wrong_version[4] = 3;
    assert!(!sniff(&wrong_version));
}

#[test]
fn test_emit_frames_as_linux_captures_them() {
    let mut b = Vec::new();
    encode_frame(&mut b, &Frame::classic(sid(0x123), &[0x11, 0x22]).unwrap());
    assert_eq!(b, [0, 0, 1, 0x23, 2, 0, 0, 0, 0x11, 0x22, 0, 0, 0, 0, 0, 0]);
    encode_frame(&mut b, &Frame::classic(xid(0x18DA_F110), &[]).unwrap());
    assert_eq!(&b[..8], &[0x98, 0xDA, 0xF1, 0x10, 0, 0, 0, 0]);
    assert_eq!(b.len(), 16);
    encode_frame(
        &mut b,
        &Frame::Classic(ClassicFrame::with_raw_dlc(sid(1), [7; 8], 12).unwrap()),
    );
    assert_eq!(&b[..8], &[0, 0, 0, 1, 8, 0, 0, 12]);
    encode_frame(
        &mut b,
        &Frame::Remote(RemoteFrame::new(sid(0x10), 3).unwrap()),
    );
    assert_eq!(&b[..8], &[0x40, 0, 0, 0x10, 3, 0, 0, 0]);
    encode_frame(
        &mut b,
        &Frame::Error(ErrorFrame::new(0x80, [1, 2, 3, 4, 5, 6, 7, 8]).unwrap()),
    );
    assert_eq!(
        &b[..16],
        &[0x20, 0, 0, 0x80, 8, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]
    );
    let fd = FdFrame::new(
        sid(0x22),
        &[5; 12],
        FdFlags::from_bits(FdFlags::BRS).unwrap(),
    )
    .unwrap();
    encode_frame(&mut b, &Frame::Fd(fd));
    assert_eq!(b.len(), 72);
    assert_eq!(
        &b[..8],
        &[0, 0, 0, 0x22, 12, 0x05, 0, 0],
        "FDF is always set"
    );
}

#[test]
fn test_parse_pcapng_written_by_us() {
    let mut records = Vec::new();
    for (i, f) in mixed_frames().into_iter().enumerate() {
        let iface = ["can0", "vcan1", "long-name-bus"][i % 3];
        let dir = [None, Some(Direction::Rx), Some(Direction::Tx)][i % 3];
        records.push(rec(
            1_700_000_000_123_456_789 + i as u64 * 1_001,
            iface,
            f,
            dir,
        ));
    }
    let bytes = write_pcapng(&records);
    let (got, stats, end) = read_all(&bytes);
    assert_eq!(end, None);
    assert_eq!(got, records);
    assert_eq!(stats.records, records.len() as u64);
    assert_eq!(
        stats.other,
        1 + 3,
        "one section header and three interfaces"
    );
    assert_eq!(stats.bad + stats.skipped, 0);
}

#[test]
fn test_parse_pcap_written_by_us_nanos_and_micros() {
    let records: Vec<_> = mixed_frames()
        .into_iter()
        .enumerate()
        .map(|(i, f)| rec(1_700_000_000_123_456_789 + i as u64, "can0", f, None))
        .collect();
    let mut w = PcapWriter::new(Vec::new());
    for r in &records {
        w.write_record(&r.as_record()).unwrap();
    }
    assert!(FrameWriter::losses(&w).is_empty());
    let bytes = w.into_inner();
    assert_eq!(&bytes[..4], &[0x4D, 0x3C, 0xB2, 0xA1]);
    let (got, _, end) = read_all(&bytes);
    assert_eq!(end, None);
    assert_eq!(got, records);

    let mut w = PcapWriter::new(Vec::new()).with_microseconds();
    for r in &records {
        w.write_record(&r.as_record()).unwrap();
    }
    let (got, _, _) = read_all(&w.into_inner());
    assert_eq!(got.len(), records.len());
    for (g, r) in got.iter().zip(&records) {
        assert_eq!(g.frame, r.frame);
        assert_eq!(g.precision, Precision::Micros);
        assert_eq!(g.timestamp.as_nanos(), r.timestamp.as_nanos() / 1000 * 1000);
    }
}

#[test]
fn test_emit_pcap_counts_names_directions_and_late_times() {
    let f = Frame::classic(sid(1), &[1]).unwrap();
    let mut w = PcapWriter::new(Vec::new());
    for r in [
        rec(1, "can0", f, None),
        rec(2, "vcan3", f, None),
        rec(3, "can0", f, Some(Direction::Tx)),
        rec(u64::MAX, "can0", f, None),
    ] {
        w.write_record(&r.as_record()).unwrap();
    }
    let losses = FrameWriter::losses(&w).to_vec();
    assert_eq!(
        losses,
        vec![
            Loss {
                what: LOSS_NAME,
                count: 1,
                dropped: false
            },
            Loss {
                what: LOSS_DIRECTION,
                count: 1,
                dropped: false
            },
            Loss {
                what: LOSS_TIME,
                count: 1,
                dropped: true
            },
        ]
    );
    let (got, _, _) = read_all(&w.into_inner());
    assert_eq!(got.len(), 3);
    assert!(
        got.iter()
            .all(|r| r.interface == "can0" && r.direction.is_none())
    );
}

#[test]
fn test_emit_empty_captures_are_valid() {
    let mut w = PcapngWriter::new(Vec::new());
    FrameWriter::finish(&mut w).unwrap();
    assert!(
        w.write_record(&rec(1, "can0", Frame::classic(sid(1), &[]).unwrap(), None).as_record())
            .is_err()
    );
    let bytes = w.into_inner().unwrap();
    assert_eq!(items(&bytes), ["other: pcapng section header"]);
    let mut w = PcapWriter::new(Vec::new());
    FrameWriter::finish(&mut w).unwrap();
    let bytes = w.into_inner();
    assert_eq!(bytes.len(), 24);
    assert_eq!(items(&bytes), ["other: pcap file header"]);
}

#[test]
fn test_parse_big_endian_sections_resolutions_and_missing_endofopt() {
    let frame = can(E::Be, 0x123, 2, 0, [0, 0], &[0xAA, 0xBB], 16);
    let mut f = shb(E::Be);
    // Microseconds (the default), no opt_endofopt.
    f.extend(idb(E::Be, 227, Some("can7"), None, false));
    f.extend(epb(E::Be, 0, 1_700_000_000_000_001, &frame, Some(1)));
    // A second, little-endian section: interfaces start again.
    f.extend(shb(E::Le));
    f.extend(idb(E::Le, 227, None, Some(9), true));
    f.extend(idb(E::Le, 227, Some("bin"), Some(0x80 | 10), true));
    f.extend(epb(
        E::Le,
        1,
        1024 * 5 + 512,
        &can(E::Be, 0x80000001, 0, 0, [0, 0], &[], 16),
        Some(2),
    ));
    f.extend(epb(E::Le, 0, 1_700_000_000_000_000_007, &frame, None));
    let (got, stats, end) = read_all(&f);
    assert_eq!(end, None);
    assert_eq!(stats.bad, 0);
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].interface, "can7");
    assert_eq!(got[0].timestamp.as_nanos(), 1_700_000_000_000_001_000);
    assert_eq!(got[0].precision, Precision::Micros);
    assert_eq!(got[0].direction, Some(Direction::Rx));
    assert_eq!(
        got[0].frame,
        Frame::classic(sid(0x123), &[0xAA, 0xBB]).unwrap()
    );
    assert_eq!(got[1].interface, "bin");
    assert_eq!(got[1].timestamp.as_nanos(), 5_500_000_000, "2^-10 s units");
    assert_eq!(got[1].direction, Some(Direction::Tx));
    assert_eq!(got[1].frame, Frame::classic(xid(1), &[]).unwrap());
    assert_eq!(
        got[2].interface, "can0",
        "unnamed interface 0 of its section"
    );
    assert_eq!(got[2].timestamp.as_nanos(), 1_700_000_000_000_000_007);
    assert_eq!(got[2].precision, Precision::Nanos);
}

#[test]
fn test_parse_tsoffset_simple_and_obsolete_packet_blocks() {
    let e = E::Le;
    let frame = can(E::Be, 0x42, 1, 0, [0, 0], &[7], 16);
    let mut body = Vec::new();
    body.extend_from_slice(&u16b(e, 227));
    body.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    body.extend(option(e, 14, &[100, 0, 0, 0, 0, 0, 0, 0]));
    body.extend(option(e, 2, b"off"));
    let mut f = shb(e);
    f.extend(block(e, IDB, &body));
    f.extend(epb(e, 0, 2_000_000, &frame, None));
    f.extend(spb(e, &frame));
    // An obsolete Packet Block: 16-bit interface id, 16-bit drops count.
    let mut pb = Vec::new();
    pb.extend_from_slice(&u16b(e, 0));
    pb.extend_from_slice(&u16b(e, 0));
    pb.extend_from_slice(&u32b(e, 0));
    pb.extend_from_slice(&u32b(e, 3_000_000));
    pb.extend_from_slice(&u32b(e, 16));
    pb.extend_from_slice(&u32b(e, 16));
    pb.extend_from_slice(&frame);
    pb.extend(option(e, 2, &u32b(e, 2)));
    f.extend(block(e, PB, &pb));
    let (got, stats, end) = read_all(&f);
    assert_eq!(end, None, "{stats:?}");
    let times: Vec<_> = got.iter().map(|r| r.timestamp.as_nanos()).collect();
    assert_eq!(times, [102_000_000_000, 102_000_000_000, 103_000_000_000]);
    assert_eq!(got[2].direction, Some(Direction::Tx));
    assert!(got.iter().all(|r| r.interface == "off"));
}

#[test]
fn test_parse_non_can_link_types_are_skipped_and_counted() {
    let e = E::Le;
    let mut f = shb(e);
    f.extend(idb(e, 1, Some("eth0"), None, true));
    f.extend(idb(e, 227, Some("can0"), None, true));
    f.extend(epb(e, 0, 1, &[0xFF; 60], None));
    f.extend(epb(e, 1, 2, &can(E::Be, 0x1, 0, 0, [0, 0], &[], 16), None));
    f.extend(block(e, ISB, &[0; 12]));
    f.extend(block(e, 0x0BAD, &[1, 2, 3, 4]));
    assert_eq!(
        items(&f),
        [
            "other: pcapng section header",
            "other: pcapng interface description block",
            "other: pcapng interface description block",
            "skipped: packet of a non-CAN link type",
            "can0 001#",
            "other: pcapng interface statistics block",
            "other: pcapng block",
        ]
    );
    let (_, stats, _) = read_all(&f);
    assert_eq!(stats.skipped, 1);
    assert_eq!(stats.records, 1);
}

#[test]
fn test_parse_linux_cooked_captures_in_host_order() {
    // SLL (v1) in a little-endian classic pcap: the CAN header is in the file's byte order.
    let mut sll = Vec::new();
    sll.extend_from_slice(&4u16.to_be_bytes()); // outgoing
    sll.extend_from_slice(&280u16.to_be_bytes());
    sll.extend_from_slice(&0u16.to_be_bytes());
    sll.extend_from_slice(&[0; 8]);
    sll.extend_from_slice(&ETH_P_CANFD.to_be_bytes());
    let mut fd = sll.clone();
    fd.extend(can(E::Le, 0x123, 8, 0x01, [0, 0], &[3; 8], 72));
    let mut classic = sll.clone();
    classic[1] = 0; // to us
    classic[15] = ETH_P_CAN as u8;
    classic.extend(can(E::Le, 0x8000_0456, 1, 0, [0, 0], &[9], 16));
    let mut ip = sll.clone();
    ip[14..16].copy_from_slice(&0x0800u16.to_be_bytes());
    ip.extend_from_slice(&[0x45; 20]);
    let b = classic_pcap(
        E::Le,
        false,
        LINKTYPE_LINUX_SLL,
        &[(1, 0, fd), (2, 0, classic), (3, 0, ip)],
    );
    let out = items(&b);
    assert_eq!(
        out,
        [
            "other: pcap file header",
            "can0 123##10303030303030303",
            "can0 00000456#09",
            "skipped: non-CAN packet in a Linux cooked capture",
        ]
    );
    let (got, _, _) = read_all(&b);
    assert_eq!(got[0].direction, Some(Direction::Tx));
    assert_eq!(got[1].direction, Some(Direction::Rx));

    // SLL2 in pcapng: the interface index names the bus.
    let e = E::Le;
    let mut sll2 = Vec::new();
    sll2.extend_from_slice(&ETH_P_CAN.to_be_bytes());
    sll2.extend_from_slice(&[0, 0]);
    sll2.extend_from_slice(&7u32.to_be_bytes());
    sll2.extend_from_slice(&280u16.to_be_bytes());
    sll2.push(1);
    sll2.push(0);
    sll2.extend_from_slice(&[0; 8]);
    sll2.extend(can(E::Le, 0x7FF, 0, 0, [0, 0], &[], 16));
    let mut f = shb(e);
    f.extend(idb(e, LINKTYPE_LINUX_SLL2 as u16, Some("any"), None, true));
    f.extend(epb(e, 0, 1, &sll2, None));
    assert_eq!(items(&f).last().unwrap(), "any:7 7FF#");
}

#[test]
fn test_parse_host_order_link_type_227_is_detected_per_interface() {
    // A tool that wrote link type 227 with little-endian ids. 0x0C3 and 0x1C4 read validly
    // both ways (swapped, their low byte makes an extended remote frame), so does 0x123
    // (swapped, an error frame); extended id 1 does not (swapped, a standard id with bits
    // above 11) and settles the order.
    let e = E::Le;
    let le = |word: u32, data: &[u8]| can(E::Le, word, data.len() as u8, 0, [0, 0], data, 16);
    let mut f = shb(e);
    f.extend(idb(e, 227, Some("host"), Some(9), true));
    f.extend(idb(e, 227, Some("net"), Some(9), true));
    f.extend(epb(e, 0, 1, &le(0x0C3, &[1]), None));
    f.extend(epb(
        e,
        1,
        2,
        &can(E::Be, 0x0C3, 1, 0, [0, 0], &[2], 16),
        None,
    ));
    f.extend(epb(e, 0, 3, &le(0x1C4, &[3]), None));
    f.extend(epb(e, 0, 4, &le(0x123, &[4]), None));
    f.extend(epb(e, 0, 5, &le(0x8000_0001, &[5]), None));
    let out = items(&f);
    assert_eq!(
        &out[3..],
        [
            "host 0C3#01",
            "net 0C3#02",
            "host 1C4#03",
            "host 123#04",
            "host 00000001#05",
        ],
        "file order kept while the first interface waits"
    );
    // Forced orders.
    let (got, stats, _) = read_all_with(&f, IdByteOrder::Big);
    assert_eq!(got[1].frame, Frame::classic(sid(0x0C3), &[2]).unwrap());
    assert!(
        stats.bad > 0,
        "little-endian ids are not valid in network order"
    );
    let (got, _, _) = read_all_with(&f, IdByteOrder::Little);
    assert_eq!(got[0].frame, Frame::classic(sid(0x0C3), &[1]).unwrap());
}

#[test]
fn test_parse_ambiguous_frames_take_the_expected_order_at_the_end() {
    // Only ambiguous frames (low id byte with the 0x80 bit): network order is kept.
    let e = E::Le;
    let mut f = shb(e);
    f.extend(idb(e, 227, None, Some(9), true));
    for i in 0..3u32 {
        f.extend(epb(
            e,
            0,
            u64::from(i),
            &can(E::Be, 0x180 | i, 0, 0, [0, 0], &[], 16),
            None,
        ));
    }
    let (got, _, end) = read_all(&f);
    assert_eq!(end, None);
    let ids: Vec<_> = got.iter().map(|r| r.frame.id().unwrap()).collect();
    assert_eq!(ids, [sid(0x180), sid(0x181), sid(0x182)]);
    // More than LOOKAHEAD of them: handed out in order all the same.
    let mut f = shb(e);
    f.extend(idb(e, 227, None, Some(9), true));
    for i in 0..(LOOKAHEAD as u64 + 10) {
        f.extend(epb(
            e,
            0,
            i,
            &can(E::Be, 0x180, 0, 0, [0, 0], &[], 16),
            None,
        ));
    }
    let (got, _, _) = read_all(&f);
    assert_eq!(got.len(), LOOKAHEAD + 10);
    assert!(got.windows(2).all(|w| w[0].timestamp < w[1].timestamp));
}

#[test]
fn test_parse_fd_detection_rules_and_can_xl() {
    let e = E::Le;
    let mut f = shb(e);
    f.extend(idb(e, 227, None, Some(9), true));
    // FDF set and clean: FD even in 16 bytes.
    f.extend(epb(
        e,
        0,
        1,
        &can(E::Be, 1, 2, 0x05, [0, 0], &[1, 2], 16),
        None,
    ));
    // No FDF, 72 bytes: FD (older writers), flags as they are.
    f.extend(epb(
        e,
        0,
        2,
        &can(E::Be, 2, 8, 0x01, [0, 0], &[0; 8], 72),
        None,
    ));
    // FDF with junk in the reserved bytes: classic (Wireshark's rule).
    f.extend(epb(
        e,
        0,
        3,
        &can(E::Be, 3, 1, 0x04, [0x55, 0], &[7], 16),
        None,
    ));
    // Classic with len8_dlc.
    f.extend(epb(
        e,
        0,
        4,
        &can(E::Be, 4, 8, 0, [0, 11], &[1; 8], 16),
        None,
    ));
    // len8_dlc ignored below 8 bytes.
    f.extend(epb(
        e,
        0,
        5,
        &can(E::Be, 5, 2, 0, [0, 11], &[1, 1], 16),
        None,
    ));
    // CAN XL: 0x80 in the fifth byte.
    f.extend(epb(
        e,
        0,
        6,
        &[0, 0, 0, 1, 0x80, 0, 2, 0, 0, 0, 0, 0, 1, 2],
        None,
    ));
    // Short error payload padded with zeros.
    f.extend(epb(
        e,
        0,
        7,
        &can(E::Be, 0x2000_0004, 2, 0, [0, 0], &[0, 4], 10),
        None,
    ));
    assert_eq!(
        &items(&f)[2..],
        [
            "can0 001##50102",
            "can0 002##10000000000000000",
            "can0 003#07",
            "can0 004#0101010101010101_B",
            "can0 005#0101",
            "skipped: CAN XL frame",
            "can0 20000004#0004000000000000",
        ]
    );
}

#[test]
fn test_parse_malformed_packets_are_bad_and_reading_goes_on() {
    let e = E::Le;
    let mut f = shb(e);
    f.extend(idb(e, 227, None, Some(9), true));
    f.extend(epb(e, 3, 1, &can(E::Be, 1, 0, 0, [0, 0], &[], 16), None));
    f.extend(epb(e, 0, 2, &[0, 0, 0], None));
    f.extend(epb(
        e,
        0,
        3,
        &can(E::Be, 1, 9, 0, [0, 0], &[0; 8], 16),
        None,
    ));
    f.extend(epb(
        e,
        0,
        4,
        &can(E::Be, 1, 8, 0, [0, 0], &[1, 2], 10),
        None,
    ));
    f.extend(epb(
        e,
        0,
        5,
        &can(E::Be, 1, 9, CANFD_FDF, [0, 0], &[0; 9], 72),
        None,
    ));
    f.extend(epb(
        e,
        0,
        6,
        &can(E::Be, 0x4000_0001, 2, CANFD_FDF, [0, 0], &[0; 2], 72),
        None,
    ));
    f.extend(epb(
        e,
        0,
        7,
        &can(E::Be, 0x6000_0001, 8, 0, [0, 0], &[0; 8], 16),
        None,
    ));
    f.extend(epb(
        e,
        0,
        8,
        &can(E::Be, 0x0000_0800, 0, 0, [0, 0], &[], 16),
        None,
    ));
    f.extend(epb(
        e,
        0,
        9,
        &can(E::Be, 0x4000_0001, 9, 0, [0, 0], &[], 16),
        None,
    ));
    f.extend(epb(
        e,
        0,
        10,
        &can(E::Be, 0x1, 1, 0, [0, 0], &[1], 16),
        None,
    ));
    let out = items(&f);
    assert_eq!(
        &out[2..],
        [
            "bad: <input>: byte 60: packet of interface 3, which no interface description block declared",
            "bad: <input>: byte 108: packet of 3 bytes is shorter than a CAN frame header",
            "bad: <input>: byte 144: classic CAN frame with a payload length of 9 (at most 8)",
            "bad: <input>: byte 192: payload of 8 bytes but only 2 captured",
            "bad: <input>: byte 236: CAN FD frame with a payload length of 9, which is not a CAN FD length",
            "bad: <input>: byte 340: CAN FD frame with the remote flag",
            "bad: <input>: byte 444: error frame word 0x60000001 has the extended or remote flag set",
            "bad: <input>: byte 492: standard CAN id word 0x00000800 has bits set above 11 bits",
            "bad: <input>: byte 540: remote frame requesting 9 bytes (at most 8)",
            "can0 001#01",
        ]
    );
}

#[test]
fn test_parse_truncated_and_broken_files() {
    let records: Vec<_> = (0..5)
        .map(|i| {
            rec(
                i * 1000,
                "can0",
                Frame::classic(sid(i as u16), &[1]).unwrap(),
                None,
            )
        })
        .collect();
    let bytes = write_pcapng(&records);
    for cut in [bytes.len() - 1, bytes.len() - 40, 30] {
        let (got, _, end) = read_all(&bytes[..cut]);
        let end = end.expect("an error at the end");
        assert!(end.contains("the input ends inside a record"), "{end}");
        assert!(got.len() < 5);
        assert_eq!(got, records[..got.len()]);
    }
    let (got, _, end) = read_all(&bytes[..bytes.len() - 48]);
    assert_eq!((got.len(), end), (4, None), "cut at a block boundary");

    let (_, _, end) = read_all(b"");
    assert!(end.unwrap().contains("capture file header"));
    let (_, _, end) = read_all(b"hello world, this is text");
    assert_eq!(
        end.unwrap(),
        "<input>: byte 0: not a pcap or pcapng capture (magic number 0x68656C6C)"
    );
    // A broken trailer stops the read.
    let mut broken = bytes.clone();
    let n = broken.len();
    broken[n - 1] ^= 0xFF;
    let (got, _, end) = read_all(&broken);
    assert_eq!(got.len(), 4);
    assert!(end.unwrap().contains("trailer length"));
    // A classic pcap record cut short.
    let mut w = PcapWriter::new(Vec::new());
    for r in &records {
        w.write_record(&r.as_record()).unwrap();
    }
    let classic = w.into_inner();
    let (got, _, end) = read_all(&classic[..classic.len() - 3]);
    assert_eq!(got.len(), 4);
    assert_eq!(
        end.unwrap(),
        format!(
            "<input>: byte {}: the input ends inside a record (pcap record)",
            24 + 4 * 32
        )
    );
}

#[test]
fn test_parse_classic_pcap_big_endian_and_bad_fraction() {
    let data = can(E::Be, 0x8000_0001, 1, 0, [0, 0], &[0x5A], 16);
    let b = classic_pcap(
        E::Be,
        false,
        227,
        &[
            (10, 999_999, data.clone()),
            (11, 1_000_000, data.clone()),
            (12, 5, data),
        ],
    );
    let out = items(&b);
    assert_eq!(
        out,
        [
            "other: pcap file header",
            "can0 00000001#5A",
            "bad: <input>: byte 56: time stamp fraction 1000000 is not below one second",
            "can0 00000001#5A",
        ]
    );
    let (got, _, _) = read_all(&b);
    assert_eq!(got[0].timestamp.as_nanos(), 10_999_999_000);
    assert_eq!(got[1].timestamp.as_nanos(), 12_000_005_000);
    assert_eq!(got[0].precision, Precision::Micros);
}

#[test]
fn test_reader_streams_a_long_capture_with_flat_memory() {
    let mut w = PcapngWriter::new(Vec::new());
    let n = 100_000u64;
    for i in 0..n {
        let f = if i % 7 == 0 {
            Frame::fd(sid((i % 0x800) as u16), &[i as u8; 48], true).unwrap()
        } else {
            Frame::classic(xid(i as u32), &i.to_le_bytes()).unwrap()
        };
        let iface = ["can0", "can1"][(i % 2) as usize];
        w.write_record(&rec(i * 100, iface, f, Some(Direction::Rx)).as_record())
            .unwrap();
    }
    let bytes = w.into_inner().unwrap();
    let mut r = Reader::new(io::BufReader::new(bytes.as_slice()));
    let mut count = 0u64;
    let mut max_queue = 0;
    while let Some(item) = r.read_item().unwrap() {
        if let Item::Record(rec) = item {
            assert_eq!(rec.timestamp.as_nanos(), count * 100);
            count += 1;
        }
        max_queue = max_queue.max(r.queue.len());
    }
    assert_eq!(count, n);
    assert!(r.buf.capacity() <= 1024, "{}", r.buf.capacity());
    assert_eq!(max_queue, 0, "nothing waits in a network-order capture");
    assert_eq!(r.names.len(), 2);
}

fn arb_record() -> impl Strategy<Value = OwnedRecord> {
    (
        any::<u64>(),
        prop_oneof![
            Just("can0"),
            Just("can1"),
            Just("vcan0"),
            Just("bus with spaces")
        ],
        arb::frame(),
        prop_oneof![
            Just(None),
            Just(Some(Direction::Rx)),
            Just(Some(Direction::Tx))
        ],
    )
        .prop_map(|(nanos, interface, frame, direction)| rec(nanos, interface, frame, direction))
}

/// What the writers do to a frame: CAN FD frames gain `CANFD_FDF` and lose the undefined
/// flag bit 0x8.
fn with_fdf(frame: Frame) -> Frame {
    match frame {
        Frame::Fd(f) => Frame::Fd(
            FdFrame::new(
                f.id(),
                f.data(),
                FdFlags::from_bits(f.flags().bits() & 0x7 | CANFD_FDF).unwrap(),
            )
            .unwrap(),
        ),
        other => other,
    }
}

proptest! {
    #[test]
    fn test_roundtrip_pcapng(records in proptest::collection::vec(arb_record(), 0..40)) {
        let bytes = write_pcapng(&records);
        let (got, stats, end) = read_all(&bytes);
        prop_assert_eq!(end, None);
        prop_assert_eq!(stats.bad, 0);
        let want: Vec<_> = records
            .iter()
            .map(|r| OwnedRecord { frame: with_fdf(r.frame), ..r.clone() })
            .collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn test_roundtrip_pcap(records in proptest::collection::vec(arb_record(), 0..40), micros in any::<bool>()) {
        let mut w = PcapWriter::new(Vec::new());
        if micros {
            w = w.with_microseconds();
        }
        for r in &records {
            w.write_record(&r.as_record()).unwrap();
        }
        FrameWriter::finish(&mut w).unwrap();
        let dropped: u64 = FrameWriter::losses(&w).iter().filter(|l| l.dropped).map(|l| l.count).sum();
        let (got, _, end) = read_all(&w.into_inner());
        prop_assert_eq!(end, None);
        let want: Vec<_> = records
            .iter()
            .filter(|r| r.timestamp.secs() <= u64::from(u32::MAX))
            .map(|r| {
                let nanos = r.timestamp.as_nanos();
                OwnedRecord {
                    timestamp: Timestamp::from_nanos(if micros { nanos / 1000 * 1000 } else { nanos }),
                    precision: if micros { Precision::Micros } else { Precision::Nanos },
                    interface: "can0".into(),
                    frame: with_fdf(r.frame),
                    direction: None,
                }
            })
            .collect();
        prop_assert_eq!(dropped as usize, records.len() - want.len());
        prop_assert_eq!(got, want);
    }

    #[test]
    fn test_reader_never_panics(
        prefix in 0usize..4,
        body in proptest::collection::vec(any::<u8>(), 0..600),
        cap in 1usize..64,
    ) {
        let mut input = match prefix {
            0 => Vec::new(),
            1 => shb(E::Le),
            2 => { let mut s = shb(E::Be); s.extend(idb(E::Be, 227, Some("x"), None, true)); s }
            _ => classic_pcap(E::Le, true, 227, &[]),
        };
        input.extend(body);
        let mut r = Reader::new(io::BufReader::with_capacity(cap, input.as_slice()));
        let mut n = 0u64;
        while let Ok(Some(_)) = r.read_item() {
            n += 1;
            prop_assert!(n < 10_000);
        }
        let s = r.stats();
        prop_assert_eq!(n, s.records + s.other + s.skipped + s.bad);
    }

    #[test]
    fn test_reader_never_panics_on_mutated_captures(
        records in proptest::collection::vec(arb_record(), 1..8),
        flips in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut bytes = write_pcapng(&records);
        for (i, v) in flips {
            let at = i.index(bytes.len());
            bytes[at] = v;
        }
        let mut r = Reader::new(bytes.as_slice());
        while let Ok(Some(_)) = r.read_item() {}
    }
}

#[test]
fn test_regression_error_class_with_high_bits_does_not_flip_the_byte_order() {
    // An error frame whose class uses bits Linux does not define once made the reader settle
    // little-endian ids for our own network-order file.
    let f = Frame::Error(ErrorFrame::new(0x1C7F_CE80, [0; 8]).unwrap());
    let bytes = write_pcapng(&[rec(0, "can0", f, None)]);
    let (got, _, end) = read_all(&bytes);
    assert_eq!(end, None);
    assert_eq!(got[0].frame, f);
}
