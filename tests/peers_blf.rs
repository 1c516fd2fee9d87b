//! The BLF reader and writer against python-can 4.6.1 (`CANRELEARN_PEER_PYTHON`), through
//! `tests/tools/blf_peer.py`:
//! - python-can writes mixed captures (classic, raw DLC, extended, remote, CAN FD to 64 bytes
//!   with BRS/ESI, error frames; 2 channels, Rx/Tx), zlib and uncompressed, with large and
//!   small containers; we read them frame for frame, timestamps to the nanosecond.
//! - We write the same captures (zlib and uncompressed, `CAN_MESSAGE` and `CAN_MESSAGE2`,
//!   small containers, streaming); python-can's `BLFReader` reads them back frame for frame.
//!   What python-can itself loses is checked as such: the direction of error frames (it reads
//!   every error frame as received) and timestamps below its float's resolution (~0.24 us).
//! - Files as CANoe and other writers make them, where python-can is wrong: error objects it
//!   skips (`CAN_ERROR`, `CAN_FD_ERROR_64`, `CAN_OVERLOAD`: python-can#1586), objects outside
//!   containers, file-level padding other than `size % 4` (it stops with `BLFParseError`).
#![cfg(feature = "peer-tests")]

#[path = "common/peer.rs"]
mod peer;

use std::io::{BufReader, Cursor};
use std::path::{Path, PathBuf};
use std::process::Command;

use canrelearn::frame::Frame;
use canrelearn::log::blf::{self, ClassicObject, WriteOptions};
use canrelearn::log::{Direction, FrameReader, FrameWriter, Item, OwnedRecord, candump};

use peer::{run_python, s};

const RUN_TOOL: &str =
    "import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')";

fn tool() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/tools/blf_peer.py")
}

fn blf_peer(args: &[&str]) -> String {
    let tool = tool();
    let mut all = vec![s(&tool)];
    all.extend_from_slice(args);
    let out = run_python(RUN_TOOL, &all);
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// python-can writes `n` messages; the file and what a correct reader reads from it.
fn python_writes(
    dir: &Path,
    name: &str,
    n: usize,
    level: i32,
    container: usize,
) -> (PathBuf, Vec<OwnedRecord>) {
    let file = dir.join(format!("{name}.blf"));
    let log = dir.join(format!("{name}.log"));
    blf_peer(&[
        "write",
        s(&file),
        s(&log),
        &n.to_string(),
        "7",
        &level.to_string(),
        &container.to_string(),
    ]);
    let text = std::fs::read(&log).unwrap();
    let mut r = candump::Reader::new(text.as_slice()).with_policy(candump::Policy::Strict);
    let mut expected = Vec::new();
    while let Some(rec) = r.next_record() {
        expected.push(rec.unwrap().to_owned_record());
    }
    assert_eq!(expected.len(), n);
    (file, expected)
}

/// Everything our reader reads from `bytes`: records, and the number of other items.
fn we_read(bytes: &[u8]) -> (Vec<OwnedRecord>, u64) {
    let mut r = blf::Reader::new(BufReader::new(bytes));
    let mut out = Vec::new();
    let mut others = 0;
    while let Some(item) = r.read_item().expect("no fatal error") {
        match item {
            Item::Record(rec) => out.push(rec.to_owned_record()),
            Item::Bad(e) => panic!("bad object: {e}"),
            _ => others += 1,
        }
    }
    (out, others)
}

#[test]
fn test_we_read_what_python_can_writes() {
    let dir = tempfile::tempdir().unwrap();
    let mut total = 0;
    for (name, level, container) in [
        ("zlib", -1, 128 * 1024),
        ("uncompressed", 0, 128 * 1024),
        ("zlib-small-containers", 9, 1000),
        ("uncompressed-small-containers", 0, 777),
    ] {
        let (file, expected) = python_writes(dir.path(), name, 6000, level, container);
        let (got, others) = we_read(&std::fs::read(&file).unwrap());
        assert_eq!(others, 0, "{name}");
        assert_eq!(got.len(), expected.len(), "{name}");
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            assert_eq!(g, e, "{name}: message {i}");
        }
        total += got.len();
    }
    eprintln!("read {total} frames written by python-can, frame for frame");
}

/// What python-can's BLFReader gives for one message.
#[derive(Debug)]
struct PyMessage {
    t: f64,
    channel: u64,
    id: u64,
    ext: bool,
    rtr: bool,
    err: bool,
    fd: bool,
    brs: bool,
    esi: bool,
    dlc: u64,
    data: Vec<u8>,
    rx: bool,
}

fn python_reads(file: &Path) -> Vec<PyMessage> {
    blf_peer(&["read", s(file)])
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            PyMessage {
                t: v["t"].as_str().unwrap().parse().unwrap(),
                channel: v["ch"].as_u64().unwrap(),
                id: v["id"].as_u64().unwrap(),
                ext: v["ext"].as_bool().unwrap(),
                rtr: v["rtr"].as_bool().unwrap(),
                err: v["err"].as_bool().unwrap(),
                fd: v["fd"].as_bool().unwrap(),
                brs: v["brs"].as_bool().unwrap(),
                esi: v["esi"].as_bool().unwrap(),
                dlc: v["dlc"].as_u64().unwrap(),
                data: hex::decode(v["data"].as_str().unwrap()).unwrap(),
                rx: v["rx"].as_bool().unwrap(),
            }
        })
        .collect()
}

/// Checks python-can's reading of one record we wrote.
fn check(i: usize, r: &OwnedRecord, p: &PyMessage) {
    let ctx = format!("message {i}: {r:?} read by python-can as {p:?}");
    let t = r.timestamp.as_secs_f64();
    // python-can's float timestamps resolve ~0.24 us at Unix times of today.
    assert!((p.t - t).abs() < 1e-6, "{ctx}: time");
    let channel: u64 = r.interface.strip_prefix("can").unwrap().parse().unwrap();
    assert_eq!(p.channel, channel, "{ctx}: channel");
    let rx = r.direction == Some(Direction::Rx);
    match &r.frame {
        Frame::Classic(f) => {
            assert!(!p.rtr && !p.err && !p.fd, "{ctx}");
            assert_eq!(
                (p.id, p.ext),
                (u64::from(f.id().raw()), f.id().is_extended()),
                "{ctx}"
            );
            assert_eq!(p.dlc, u64::from(f.dlc()), "{ctx}");
            assert_eq!(p.data, f.data(), "{ctx}");
            assert_eq!(p.rx, rx, "{ctx}");
        }
        Frame::Remote(f) => {
            assert!(p.rtr && !p.err && !p.fd, "{ctx}");
            assert_eq!(
                (p.id, p.ext),
                (u64::from(f.id().raw()), f.id().is_extended()),
                "{ctx}"
            );
            assert_eq!(p.dlc, u64::from(f.dlc()), "{ctx}");
            assert!(p.data.is_empty(), "{ctx}");
            assert_eq!(p.rx, rx, "{ctx}");
        }
        Frame::Fd(f) => {
            assert!(p.fd && !p.rtr && !p.err, "{ctx}");
            assert_eq!(
                (p.id, p.ext),
                (u64::from(f.id().raw()), f.id().is_extended()),
                "{ctx}"
            );
            assert_eq!((p.brs, p.esi), (f.flags().brs(), f.flags().esi()), "{ctx}");
            assert_eq!(p.dlc, f.data().len() as u64, "{ctx}");
            assert_eq!(p.data, f.data(), "{ctx}");
            assert_eq!(p.rx, rx, "{ctx}");
        }
        Frame::Error(e) => {
            assert!(p.err && !p.fd && !p.rtr, "{ctx}");
            assert_eq!(p.id, u64::from(e.class()), "{ctx}: class");
            assert_eq!(p.dlc, 8, "{ctx}");
            assert_eq!(p.data, e.data(), "{ctx}");
            // python-can loses the direction of error frames: it reads them all as received.
            assert!(p.rx, "{ctx}");
        }
    }
}

#[test]
fn test_python_can_reads_what_we_write() {
    let dir = tempfile::tempdir().unwrap();
    let (_, mut records) = python_writes(dir.path(), "source", 6000, -1, 128 * 1024);
    // Give error frames a direction too: python-can cannot read it back (checked in `check`).
    for (i, r) in records.iter_mut().enumerate() {
        if r.frame.is_error() {
            r.direction = Some(if i % 2 == 0 {
                Direction::Rx
            } else {
                Direction::Tx
            });
        }
    }
    let raw = WriteOptions {
        compression: None,
        ..WriteOptions::default()
    };
    let mut total = 0;
    for (name, options, streaming) in [
        ("zlib", WriteOptions::default(), false),
        ("uncompressed", raw, false),
        (
            "message2",
            WriteOptions {
                classic_object: ClassicObject::CanMessage2,
                ..WriteOptions::default()
            },
            false,
        ),
        (
            "small-containers",
            WriteOptions {
                container_size: 1000,
                ..raw
            },
            false,
        ),
        ("streaming", WriteOptions::default(), true),
    ] {
        let bytes = if streaming {
            let mut w = blf::Writer::streaming_with_options(Vec::new(), options);
            for r in &records {
                w.write_record(&r.as_record()).unwrap();
            }
            w.finish().unwrap();
            assert!(w.losses().is_empty());
            w.into_inner()
        } else {
            let mut w = blf::Writer::with_options(Cursor::new(Vec::new()), options);
            for r in &records {
                w.write_record(&r.as_record()).unwrap();
            }
            w.finish().unwrap();
            assert!(w.losses().is_empty());
            w.into_inner().into_inner()
        };
        let file = dir.path().join(format!("ours-{name}.blf"));
        std::fs::write(&file, &bytes).unwrap();
        let read = python_reads(&file);
        assert_eq!(read.len(), records.len(), "{name}");
        for (i, (r, p)) in records.iter().zip(&read).enumerate() {
            check(i, r, p);
        }
        // And we read our own file back exactly.
        assert_eq!(we_read(&bytes).0, records, "{name}");
        total += read.len();
    }
    eprintln!("python-can read {total} frames we wrote, frame for frame");
}

// ---------------------------------------------------------------------------------------------
// Files python-can mishandles

fn object(kind: u32, version: u16, stamp: u64, body: &[u8]) -> Vec<u8> {
    let mut o = Vec::new();
    o.extend_from_slice(b"LOBJ");
    o.extend_from_slice(&32u16.to_le_bytes());
    o.extend_from_slice(&version.to_le_bytes());
    o.extend_from_slice(&((32 + body.len()) as u32).to_le_bytes());
    o.extend_from_slice(&kind.to_le_bytes());
    o.extend_from_slice(&2u32.to_le_bytes());
    o.extend_from_slice(&[0; 4]);
    o.extend_from_slice(&stamp.to_le_bytes());
    o.extend_from_slice(body);
    o
}

fn can_message(channel: u16, id: u32, data: &[u8], stamp: u64) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&channel.to_le_bytes());
    b.push(0);
    b.push(data.len() as u8);
    b.extend_from_slice(&id.to_le_bytes());
    let mut d = [0u8; 8];
    d[..data.len()].copy_from_slice(data);
    b.extend_from_slice(&d);
    object(1, 1, stamp, &b)
}

/// An uncompressed container followed by `padding` zero bytes.
fn container(data: &[u8], padding: usize) -> Vec<u8> {
    let mut c = Vec::new();
    c.extend_from_slice(b"LOBJ");
    c.extend_from_slice(&16u16.to_le_bytes());
    c.extend_from_slice(&1u16.to_le_bytes());
    c.extend_from_slice(&((32 + data.len()) as u32).to_le_bytes());
    c.extend_from_slice(&10u32.to_le_bytes());
    c.extend_from_slice(&[0; 8]);
    c.extend_from_slice(&(data.len() as u32).to_le_bytes());
    c.extend_from_slice(&[0; 4]);
    c.extend_from_slice(data);
    c.extend_from_slice(&vec![0; padding]);
    c
}

fn file(parts: &[Vec<u8>]) -> Vec<u8> {
    let mut f = vec![0u8; 144];
    f[..4].copy_from_slice(b"LOGG");
    f[4..8].copy_from_slice(&144u32.to_le_bytes());
    for (i, v) in [2024u16, 12, 2, 31, 14, 9, 40, 222].iter().enumerate() {
        f[40 + 2 * i..42 + 2 * i].copy_from_slice(&v.to_le_bytes());
    }
    for p in parts {
        f.extend_from_slice(p);
    }
    f
}

#[test]
fn test_where_python_can_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    // Error objects python-can skips (python-can#1586), a header version 3 object
    // (python-can#1950: skipped by both, it carries no frame), and an object outside containers.
    let mut fd_error = vec![0u8; 44];
    fd_error[0] = 1;
    fd_error[4] = 2; // CAN-Core error code valid: bit error (code 0) on Tx
    fd_error[6..8].copy_from_slice(&0x3000u16.to_le_bytes());
    let stream = [
        can_message(1, 0x100, &[1], 1_000),
        object(2, 1, 2_000, &[1, 0, 0, 0]), // CAN_ERROR
        object(104, 1, 3_000, &fd_error),   // CAN_FD_ERROR_64
        object(3, 1, 4_000, &[2, 0, 0, 0]), // CAN_OVERLOAD
        object(128, 3, 5_000, &[0; 24]),    // trigger condition, header v3
        can_message(2, 0x101, &[2], 6_000),
    ]
    .concat();
    let size = 32 + stream.len();
    let f = file(&[
        can_message(1, 0x0FF, &[0], 500), // outside any container
        container(&stream, size % 4),
        container(&can_message(1, 0x102, &[3], 7_000), 0),
    ]);
    let path = dir.path().join("canoe-like.blf");
    std::fs::write(&path, &f).unwrap();
    let (ours, others) = we_read(&f);
    assert_eq!(others, 1, "the trigger condition is skipped");
    let frames: Vec<String> = ours.iter().map(|r| r.frame.to_string()).collect();
    assert_eq!(
        frames,
        [
            "0FF#00",
            "100#01",
            "20000088#0000000000000000",
            "20000088#0000810000000000",
            "20000008#0000200000000000",
            "101#02",
            "102#03"
        ]
    );
    let theirs = python_reads(&path);
    let ids: Vec<u64> = theirs.iter().map(|m| m.id).collect();
    assert_eq!(
        ids,
        [0x100, 0x101, 0x102],
        "python-can skips the 3 error objects and the object outside containers"
    );
    eprintln!(
        "python-can read {} of the {} frames of a CANoe-like file",
        theirs.len(),
        ours.len()
    );

    // Containers padded to 4 bytes (not `size % 4`): python-can stops with BLFParseError.
    let one = can_message(1, 0x200, &[1, 2, 3], 1);
    let mut odd = object(200, 1, 2, &[0xAB]); // 33 bytes: the container is 4-aligned + 1
    odd.extend_from_slice(&one);
    let size = 32 + odd.len();
    let aligned = file(&[
        container(&odd, (4 - size % 4) % 4),
        container(&can_message(1, 0x201, &[4], 3), 0),
    ]);
    let path = dir.path().join("aligned.blf");
    std::fs::write(&path, &aligned).unwrap();
    let (ours, _) = we_read(&aligned);
    assert_eq!(ours.len(), 2);
    let tool = tool();
    let out = Command::new(peer::python())
        .args(["-c", RUN_TOOL, s(&tool), "count", s(&path)])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("BLFParseError"),
        "python-can is expected to fail here:\n{stderr}"
    );
}

/// Wireshark's BLF reader (tshark 4.0) reads what we write: timestamps to the nanosecond,
/// channel, id, remote flag, length, data and direction. tshark 4.0 skips error objects
/// (`CAN_ERROR_EXT`) and shows no BRS/ESI for BLF; those are compared with python-can above.
#[test]
fn test_tshark_reads_what_we_write() {
    let dir = tempfile::tempdir().unwrap();
    let (_, records) = python_writes(dir.path(), "source", 3000, -1, 128 * 1024);
    let mut w = blf::Writer::new(Cursor::new(Vec::new()));
    for r in &records {
        w.write_record(&r.as_record()).unwrap();
    }
    w.finish().unwrap();
    let file = dir.path().join("ours.blf");
    std::fs::write(&file, w.into_inner().into_inner()).unwrap();
    let out = peer::run_tool(
        "tshark",
        &[
            // No heuristic dissector takes a payload away from `data.data`.
            "--disable-protocol",
            "autosar-nm,signal_pdu,ipdum,obd-ii",
            "-r",
            s(&file),
            "-T",
            "fields",
            "-e",
            "frame.time_epoch",
            "-e",
            "frame.interface_name",
            "-e",
            "can.id",
            "-e",
            "can.flags.xtd",
            "-e",
            "can.flags.rtr",
            "-e",
            "can.len",
            "-e",
            "data.data",
            "-e",
            "frame.p2p_dir",
            "-e",
            "frame.protocols",
        ],
        "tshark",
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let frames: Vec<&OwnedRecord> = records.iter().filter(|r| !r.frame.is_error()).collect();
    assert_eq!(
        lines.len(),
        frames.len(),
        "tshark reads every data and remote frame"
    );
    let mut dissected = 0;
    for (i, (line, r)) in lines.iter().zip(&frames).enumerate() {
        let mut f: Vec<&str> = line.split('\t').collect();
        // A payload another dissector took (some protocols claim CAN id 0) is not in
        // `data.data`: its length is still compared.
        let taken = f.pop().is_some_and(|p| p != "can:data" && p != "can");
        if taken {
            dissected += 1;
            f[6] = "";
        }
        let t = r.timestamp;
        let channel: u32 = r.interface.strip_prefix("can").unwrap().parse().unwrap();
        let (id, remote, len, data) = match &r.frame {
            Frame::Classic(c) => (c.id(), false, c.data().len(), c.data()),
            Frame::Remote(c) => (c.id(), true, usize::from(c.len()), &[][..]),
            Frame::Fd(c) => (c.id(), false, c.data().len(), c.data()),
            Frame::Error(_) => unreachable!(),
        };
        let expected = [
            format!("{}.{:09}", t.secs(), t.subsec_nanos()),
            format!("CAN-{}", channel + 1),
            id.raw().to_string(),
            u8::from(id.is_extended()).to_string(),
            u8::from(remote).to_string(),
            len.to_string(),
            if taken {
                String::new()
            } else {
                hex::encode(data)
            },
            if r.direction == Some(Direction::Rx) {
                "1"
            } else {
                "0"
            }
            .to_owned(),
        ];
        assert_eq!(f, expected, "message {i}: {r:?}");
    }
    assert!(
        dissected * 100 < lines.len(),
        "{dissected} payloads dissected"
    );
    eprintln!(
        "tshark read {} frames we wrote, frame for frame ({dissected} payloads dissected as another protocol)",
        lines.len()
    );
}
