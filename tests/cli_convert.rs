//! `canrelearn convert` and `record --format`, driven through the real binary.

use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use canrelearn::log::{FrameReader, Item, OwnedRecord, asc, candump};

#[path = "common/full_disk.rs"]
mod full_disk;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_canrelearn"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("the binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn records(reader: &mut dyn FrameReader) -> Vec<OwnedRecord> {
    let mut out = Vec::new();
    while let Some(item) = reader.read_item().unwrap() {
        if let Item::Record(r) = item {
            out.push(r.to_owned_record());
        }
    }
    out
}

fn read_candump(path: &Path) -> Vec<OwnedRecord> {
    let file = std::fs::File::open(path).unwrap();
    records(&mut candump::Reader::new(BufReader::new(file)))
}

/// A candump log with interfaces that every numbered format can carry (can0, can1), classic,
/// extended, remote, FD with BRS/ESI (and the FDF flag, as kernels since 6.x log it), and
/// error frames, at nanosecond times.
const MIXED: &str = "(1700000000.000000100) can0 123#1122334455667788\n\
(1700000000.000100200) can1 1ABCDEF0#01\n\
(1700000000.000200300) can0 7FF#R\n\
(1700000000.000300400) can1 321##7000102030405060708090A0B0C0D0E0F\n\
(1700000000.000400500) can0 20000004#0000000000000000\n\
(1700000000.000500600) can0 456##5AA\n";

fn mixed(dir: &Path) -> PathBuf {
    let p = dir.join("mixed.log");
    std::fs::write(&p, MIXED).unwrap();
    p
}

#[test]
fn candump_to_asc_and_back_keeps_every_frame_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let src = mixed(dir.path());
    let asc_path = dir.path().join("out.asc");
    let o = run(&["convert", s(&src), s(&asc_path)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("converted 6 frames"), "{}", stderr(&o));
    // ASC error frames carry no class: said, with the count.
    assert!(
        stderr(&o).contains("1 record written without error class and details"),
        "{}",
        stderr(&o)
    );
    // Our own ASC reader agrees frame for frame (ASC keeps microseconds by default).
    let file = std::fs::File::open(&asc_path).unwrap();
    let from_asc = records(&mut asc::Reader::new(BufReader::new(file)));
    let original = read_candump(&src);
    assert_eq!(from_asc.len(), original.len());
    let same = |a: &OwnedRecord, b: &OwnedRecord| {
        a.frame == b.frame || (a.frame.is_error() && b.frame.is_error())
    };
    for (a, b) in from_asc.iter().zip(&original) {
        assert!(same(a, b), "{} vs {}", a.frame, b.frame);
        assert_eq!(a.interface, b.interface);
        assert_eq!(a.timestamp.as_nanos() / 1000, b.timestamp.as_nanos() / 1000);
    }
    let back = dir.path().join("back.log");
    let o = run(&["convert", s(&asc_path), s(&back)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let round = read_candump(&back);
    assert_eq!(round.len(), original.len());
    for (a, b) in round.iter().zip(&original) {
        assert!(same(a, b), "{} vs {}", a.frame, b.frame);
    }
}

#[test]
fn what_the_target_cannot_carry_is_warned_with_a_count() {
    let dir = tempfile::tempdir().unwrap();
    let src = mixed(dir.path());
    let out = dir.path().join("out.csv");
    let o = run(&["convert", s(&src), s(&out)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    // python-can CSV has one bus and no FD flags.
    assert!(err.contains("2 records written without interface"), "{err}");
    assert!(
        err.contains("written without CAN FD bit rate switch"),
        "{err}"
    );
    // vcan names become channel numbers in every format that numbers its buses: said, with
    // how they read back (BLF did not say it).
    let named = dir.path().join("v.log");
    std::fs::write(&named, "(1700000000.000000) vcan0 123#11\n").unwrap();
    for to in ["asc", "blf", "trc", "mf4"] {
        let out = dir.path().join(format!("v.{to}"));
        let o = run(&["convert", s(&named), s(&out)]);
        assert_eq!(o.status.code(), Some(0), "{to}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("vcan0 as channel 1 (reads back as can0)"),
            "{to}: {}",
            stderr(&o)
        );
        let o = run(&["convert", s(&out), "-", "--to", "candump"]);
        assert!(stdout(&o).contains(") can0 123#11"), "{to}: {}", stdout(&o));
    }
}

/// Channel 0 of a format that numbers its buses from 1 (python-can writes it for its channel
/// -1) is a bus of its own, `ch0`, never merged into channel 1's `can0`.
#[test]
fn channel_0_is_not_merged_into_channel_1() {
    let dir = tempfile::tempdir().unwrap();
    let asc = dir.path().join("two.asc");
    std::fs::write(
        &asc,
        "date Mon Dec 7 01:00:00.000 am 2026\nbase hex  timestamps absolute\n\
         no internal events logged\nBegin Triggerblock Mon Dec 7 01:00:00.000 am 2026\n\
         \x20  0.000000 Start of measurement\n\
         \x20  0.100000 0  100             Rx   d 1 11\n\
         \x20  0.200000 1  200             Rx   d 1 22\n\
         End TriggerBlock\n",
    )
    .unwrap();
    let o = run(&["convert", s(&asc), "-", "--to", "candump"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains(") ch0 100#11"), "{out}");
    assert!(out.contains(") can0 200#22"), "{out}");
}

#[test]
fn gzip_output_and_standard_streams() {
    let dir = tempfile::tempdir().unwrap();
    let src = mixed(dir.path());
    let gz = dir.path().join("out.log.gz");
    let o = run(&["convert", s(&src), s(&gz)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let bytes = std::fs::read(&gz).unwrap();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b]);
    // Read back through convert itself, to standard output.
    let o = run(&["convert", s(&gz), "-", "--to", "candump"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(String::from_utf8(o.stdout).unwrap(), MIXED);
    // Standard output needs a format.
    let o = run(&["convert", s(&src), "-"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--to"), "{}", stderr(&o));
    // Standard input, recognised by content.
    let mut child = bin()
        .args(["convert", "-", "-", "--to", "asc"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(MIXED.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        String::from_utf8(o.stdout)
            .unwrap()
            .contains("Begin Triggerblock")
    );
}

#[test]
fn the_screen_output_converts_to_a_log() {
    let dir = tempfile::tempdir().unwrap();
    let screen = data("candump-real/screen/head-abs-x-e-a.txt");
    let expected = read_candump(&data("candump-real/screen/head-abs-x-e-a.log"));
    let out = dir.path().join("screen.log");
    let o = run(&["convert", s(&screen), s(&out)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let got = read_candump(&out);
    assert_eq!(got.len(), expected.len());
    // The screen output without -8 shows no raw DLC: ids, data and times must agree.
    for (a, b) in got.iter().zip(&expected) {
        assert_eq!(a.frame.id(), b.frame.id());
        assert_eq!(a.frame.data(), b.frame.data());
        assert_eq!(a.timestamp, b.timestamp);
    }
    // The screen format is read only.
    let o = run(&["convert", s(&screen), "-", "--to", "candump-screen"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("can be read but not written"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn refusals_leave_no_output_behind() {
    let dir = tempfile::tempdir().unwrap();
    let src = mixed(dir.path());
    // Unknown input: exit 2, naming the file, and no output file.
    let junk = dir.path().join("junk.txt");
    std::fs::write(&junk, "hello\n").unwrap();
    let out = dir.path().join("out.log");
    let o = run(&["convert", s(&junk), s(&out)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("junk.txt"), "{}", stderr(&o));
    assert!(!out.exists());
    // A capture with no frame: exit 2, no output file.
    let empty = dir.path().join("empty.csv");
    std::fs::write(
        &empty,
        "timestamp,arbitration_id,extended,remote,error,dlc,data\n",
    )
    .unwrap();
    let o = run(&["convert", s(&empty), s(&out)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("no CAN frame"), "{}", stderr(&o));
    assert!(!out.exists());
    // An extension that names no format.
    let o = run(&["convert", s(&src), s(&dir.path().join("out.txt"))]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--to"), "{}", stderr(&o));
    // An existing output needs --force; the input itself never.
    std::fs::write(&out, "keep me").unwrap();
    let o = run(&["convert", s(&src), s(&out)]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep me");
    let o = run(&["convert", "--force", s(&src), s(&src)]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&src).unwrap(), MIXED);
    let o = run(&["convert", "--force", s(&src), s(&out)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn a_damaged_input_keeps_what_came_before_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..5000u32 {
        text.push_str(&format!("(1700000000.{i:06}) can0 123#{i:08X}\n"));
    }
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(text.as_bytes()).unwrap();
    let gz = e.finish().unwrap();
    let cut = dir.path().join("cut.log.gz");
    std::fs::write(&cut, &gz[..gz.len() * 2 / 3]).unwrap();
    let out = dir.path().join("out.log");
    let o = run(&["convert", s(&cut), s(&out)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("damaged"), "{}", stderr(&o));
    let kept = read_candump(&out);
    assert!(kept.len() > 1000 && kept.len() < 5000, "{}", kept.len());
    // Every frame kept is whole and in order.
    for (i, r) in kept.iter().enumerate() {
        assert_eq!(r.frame.data(), (i as u32).to_be_bytes());
    }
}

#[test]
fn malformed_records_are_reported_and_strict_stops() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("bad.log");
    std::fs::write(
        &src,
        "(1700000000.000000) can0 123#11\n(1700000000.000001) can0 12G#11\n(1700000000.000002) can0 124#22\n",
    )
    .unwrap();
    let out = dir.path().join("out.asc");
    let o = run(&["convert", s(&src), s(&out)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("bad.log:2:"), "{}", stderr(&o));
    assert!(stderr(&o).contains("converted 2 frames"), "{}", stderr(&o));
    let o = run(&["convert", "--strict", "--force", s(&src), s(&out)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn record_writes_any_writable_format() {
    let dir = tempfile::tempdir().unwrap();
    let src = mixed(dir.path());
    // `record` accepts logs as sources (a copy): the format comes from the extension.
    let out = dir.path().join("rec.asc");
    let o = run(&["record", s(&src), "-o", s(&out)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let file = std::fs::File::open(&out).unwrap();
    let got = records(&mut asc::Reader::new(BufReader::new(file)));
    assert_eq!(got.len(), 6);
    assert_eq!(got[3].frame, read_candump(&src)[3].frame);
    // --format wins over the extension; a read-only format is refused before anything runs.
    let out = dir.path().join("rec.txt");
    let o = run(&["record", s(&src), "-o", s(&out), "--format", "csv"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        std::fs::read_to_string(&out)
            .unwrap()
            .starts_with("timestamp,arbitration_id")
    );
    let out = dir.path().join("rec2.txt");
    let o = run(&[
        "record",
        s(&src),
        "-o",
        s(&out),
        "--format",
        "candump-screen",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!out.exists());
}

/// pcap, pcapng, MDF 4, BLF and TRC through the binary: candump -> each -> candump keeps every frame,
/// interface (classic pcap has one) and time (compared to the microsecond: MDF 4 keeps float
/// seconds); an MDF 4 to a pipe is refused with no output.
#[test]
fn binary_formats_round_trip_through_convert() {
    let dir = tempfile::tempdir().unwrap();
    let src = mixed(dir.path());
    let original = read_candump(&src);
    for ext in ["pcap", "pcapng", "mf4", "blf", "trc"] {
        let out = dir.path().join(format!("out.{ext}"));
        let o = run(&["convert", s(&src), s(&out)]);
        assert_eq!(o.status.code(), Some(0), "{ext}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("converted 6 frames"),
            "{ext}: {}",
            stderr(&o)
        );
        // Classic pcap has a single unnamed interface: said, with the count.
        let single = ext == "pcap";
        if single {
            assert!(
                stderr(&o).contains("2 records written without interface names"),
                "{}",
                stderr(&o)
            );
        }
        let back = dir.path().join(format!("back-{ext}.log"));
        let o = run(&["convert", s(&out), s(&back)]);
        assert_eq!(o.status.code(), Some(0), "{ext}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(&format!("({ext})")),
            "{ext}: {}",
            stderr(&o)
        );
        let round = read_candump(&back);
        assert_eq!(round.len(), original.len(), "{ext}");
        for (a, b) in round.iter().zip(&original) {
            if ext == "trc" && b.frame.is_error() {
                // TRC holds protocol errors only: the controller class is counted as lost.
                assert!(a.frame.is_error());
            } else {
                assert_eq!(a.frame, b.frame, "{ext}");
            }
            if single {
                assert_eq!(a.interface, "can0");
            } else {
                assert_eq!(a.interface, b.interface, "{ext}");
            }
            assert_eq!(
                a.timestamp.as_nanos() / 1000,
                b.timestamp.as_nanos() / 1000,
                "{ext}"
            );
        }
    }
    let o = run(&["convert", s(&src), "-", "--to", "mf4"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    assert!(stderr(&o).contains("give a file"), "{}", stderr(&o));
}

/// `convert`, and `record` copying a log, into a file they cannot write whole (past the file
/// size limit, as on a full disk): a write error, exit 4, naming the file and the cause; what
/// was written before stays.
#[test]
fn a_write_error_is_exit_4_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("big.log");
    std::fs::write(&log, full_disk::incompressible_log(30_000)).unwrap();
    let (asc, rec) = (dir.path().join("big.asc"), dir.path().join("rec.log"));
    for (out, args) in [
        (&asc, vec!["convert", s(&log), s(&asc)]),
        (&rec, vec!["record", s(&log), "-o", s(&rec)]),
    ] {
        let o = full_disk::run_with_file_limit(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(4), "{args:?}: {err}");
        assert!(
            err.contains(&format!("cannot write {}", out.display())),
            "{err}"
        );
        assert!(err.contains("File too large"), "{err}");
        let kept = std::fs::metadata(out).unwrap().len();
        assert!(
            kept > 0 && kept <= full_disk::LIMIT_BYTES as u64,
            "{args:?}: {kept}"
        );
    }
}

/// An output format that can carry none of the frames read (a pcap holds no time after
/// 2106) leaves nothing behind and exits 2, instead of a file of no frame and exit 0; when
/// some are written, the count is of those, and the others are said.
#[test]
fn an_output_that_can_carry_no_frame_is_an_error_and_counts_are_of_frames_written() {
    let dir = tempfile::tempdir().unwrap();
    let late = dir.path().join("late.log");
    std::fs::write(&late, "(10413792000.250000) can0 123#01\n").unwrap();
    let out = dir.path().join("late.pcap");
    let o = run(&["convert", s(&late), s(&out)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("none of the 1 frame read could be written to"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists(), "a pcap of no frame was left behind");
    // record says the same of a recording (a log played into it): exit 2, counts written.
    let rec = dir.path().join("rec.pcap");
    let o = run(&["record", s(&late), "-o", s(&rec)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("recorded 0 frames to")
            && stderr(&o).contains("1 of the 1 received could not be written")
            && stderr(&o).contains("none of the 1 frame received could be written"),
        "{}",
        stderr(&o)
    );

    let both = dir.path().join("both.log");
    std::fs::write(
        &both,
        "(1700000000.000000) can0 123#01\n(10413792000.250000) can0 123#02\n",
    )
    .unwrap();
    let out = dir.path().join("both.pcap");
    let o = run(&["convert", s(&both), s(&out)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("converted 1 frame from")
            && stderr(&o).contains("1 of the 2 read could not be written"),
        "{}",
        stderr(&o)
    );
    let o = run(&["convert", s(&out), "-", "--to", "candump"]);
    assert_eq!(stdout(&o).lines().count(), 1, "{}", stdout(&o));
}
