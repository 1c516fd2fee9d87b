//! `canrelearn diag` (the real binary) against a KWP2000 module built on the kernel's ISO-TP
//! (tests/vm/kwp-responder.py, python can-isotp sockets) on a real vcan interface: sessions,
//! multi-frame both ways, 0x78, NRCs, no-response requests, DTCs by module name, scan, CAN FD
//! with 29-bit ids, and a module that does not answer.
//!
//! Built only with `--features vcan-tests`; run with `tests/vm/run-vcan-tests.sh`. Without the
//! interface every test fails with a message saying how to run them: none is skipped.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::Mutex;

static LOCK: Mutex<()> = Mutex::new(());

const BIN: &str = env!("CARGO_BIN_EXE_canrelearn");

fn iface() -> String {
    let spec = std::env::var("CANRELEARN_VCAN").unwrap_or_default();
    if let Some(a) = spec.split(',').find(|s| !s.is_empty()) {
        return a.to_string();
    }
    if std::path::Path::new("/sys/class/net/vcan0").exists() {
        return "vcan0".into();
    }
    panic!(
        "these tests need a real vcan interface and python can-isotp. Run them with \
         `tests/vm/run-vcan-tests.sh`, or set CANRELEARN_VCAN=vcan0,vcan1 after `sudo modprobe \
         vcan; sudo ip link add vcan0 type vcan; sudo ip link set up vcan0`."
    );
}

/// The python responder, killed when dropped.
struct Responder {
    child: Child,
    out: BufReader<ChildStdout>,
}

impl Responder {
    fn start(rx: &str, tx: &str, extra: &[&str]) -> Responder {
        let script = format!("{}/tests/vm/kwp-responder.py", env!("CARGO_MANIFEST_DIR"));
        let err_path =
            std::env::temp_dir().join(format!("kwp-responder-{}-{rx}.err", std::process::id()));
        let mut child = Command::new("python3")
            .arg(script)
            .args([iface().as_str(), rx, tx])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&err_path).expect("stderr file"))
            .spawn()
            .expect("run python3");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut l = String::new();
        out.read_line(&mut l).unwrap();
        if l.trim() != "ready" {
            // Say why: the exit status (a signal such as SIGILL names itself) and stderr.
            let status = child.wait();
            let err = std::fs::read_to_string(&err_path).unwrap_or_default();
            panic!("responder did not start: {status:?}\n{err}");
        }
        Responder { child, out }
    }

    /// The next request the responder received, as `REQ xx xx`.
    fn next_request(&mut self) -> String {
        let mut l = String::new();
        self.out.read_line(&mut l).unwrap();
        l.trim_end().to_string()
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn diag(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("diag")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run canrelearn")
}

fn request(bytes: &[&str], extra: &[&str]) -> Output {
    let i = iface();
    let mut args = vec![
        "request",
        "--iface",
        i.as_str(),
        "--tx",
        "0x745",
        "--rx",
        "765",
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(bytes);
    diag(&args)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn first_line(o: &Output) -> String {
    text(&o.stdout).lines().next().unwrap_or("").to_string()
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn test_request_sessions_nrcs_and_multi_frame() {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = Responder::start("745", "765", &[]);

    // Multi-frame response (13 bytes), request bytes joined.
    let o = request(&["1A81"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(first_line(&o), "5A 81 32 38 34 42 32 2D 34 45 41 30 41");
    assert_eq!(r.next_request(), "REQ 1A 81");

    // Negative response in the default session: NRC name and meaning, exit 1.
    let o = request(&["21", "83"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("7F 21 80"));
    let nrc = lines.next().unwrap();
    assert!(
        nrc.contains("0x80") && nrc.contains("serviceNotSupportedInActiveDiagnosticSession"),
        "{nrc}"
    );
    assert_eq!(r.next_request(), "REQ 21 83");

    // Open the extended session; the next process finds it open (the responder has no S3).
    let o = request(&["10", "C0"], &[]);
    assert_eq!(first_line(&o), "50 C0");
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(r.next_request(), "REQ 10 C0");
    let o = request(&["0x21", "0x83"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(first_line(&o), "61 83 32 38 34 42 32 2D 34 45 41 30 41");
    r.next_request();

    // A long multi-frame request (202 bytes) and a long multi-frame response (202 bytes).
    let mut write = vec![0x3B, 0x01];
    write.extend((0..200).map(|i| (i * 3) as u8));
    let o = request(&[&hex(&write)], &[]);
    assert_eq!(first_line(&o), "7B 01", "{}", text(&o.stderr));
    assert_eq!(r.next_request(), format!("REQ {}", hex(&write)));
    let o = request(&["21F0"], &[]);
    let mut expected = vec![0x61, 0xF0];
    expected.extend((0..200).map(|i| i as u8));
    assert_eq!(first_line(&o), hex(&expected));
    r.next_request();

    // Three 0x78 1 s apart, then positive 3 s after the request: longer than P2 (1 s), within
    // P2* (5 s) of each 0x78.
    let o = request(&["31", "90"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(first_line(&o), "71 90");
    assert!(text(&o.stderr).contains("3 times"), "{}", text(&o.stderr));
    r.next_request();
    // With P2* shorter than the gap between 0x78s it times out: exit 4.
    let o = request(&["31", "90"], &["--p2-star-ms", "300"]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o.stderr));
    let e = text(&o.stderr);
    assert!(e.contains("no answer") && e.contains("P2*"), "{e}");
    r.next_request();
    // Wait for the responder to finish that exchange before the next one.
    std::thread::sleep(std::time::Duration::from_millis(3500));

    // No response expected: nothing printed, exit 0, the module got it.
    let o = request(&["3E", "80"], &["--no-response"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(o.stdout.is_empty());
    assert_eq!(r.next_request(), "REQ 3E 80");

    // Unsupported service.
    let o = request(&["A5"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(first_line(&o), "7F A5 11");
    r.next_request();

    // Back to the default session.
    let o = request(&["10", "81"], &["--padding", "none"]);
    assert_eq!(first_line(&o), "50 81");
    assert_eq!(r.next_request(), "REQ 10 81");
}

#[test]
fn test_no_answer_exits_4() {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let i = iface();
    let o = diag(&[
        "request", "--iface", &i, "--tx", "7E0", "--rx", "7E8", "--p2-ms", "200", "1A", "81",
    ]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o.stderr));
    assert!(o.stdout.is_empty());
    let e = text(&o.stderr);
    assert!(
        e.contains("no answer from 7E8 to `1A 81` sent on 7E0: nothing within P2"),
        "{e}"
    );
}

#[test]
fn test_dtc_read_and_clear_by_module_name() {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    // The BCM's ids come from the bundled profile (0x745/0x765).
    let mut r = Responder::start("745", "765", &[]);
    let i = iface();
    let o = diag(&["dtc", "read", "--iface", &i, "--module", "BCM"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.starts_with("U1000 status 0x20 "), "{out}");
    assert_eq!(r.next_request(), "REQ 18 02 FF 00");
    let o = diag(&["dtc", "clear", "--iface", &i, "--module", "bcm", "--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(first_line(&o), "DTCs cleared (54 FF 00)");
    assert_eq!(r.next_request(), "REQ 14 FF 00");
}

#[test]
fn test_scan_finds_the_responder() {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = Responder::start("746", "766", &[]);
    let i = iface();
    let o = diag(&[
        "scan",
        "--iface",
        &i,
        "--ids",
        "744-747+20",
        "--timeout-ms",
        "100",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stdout),
        "746 -> 766  1A 81: 5A 81 32 38 34 42 32 2D 34 45 41 30 41 \"284B2-4EA0A\"\n"
    );
    assert_eq!(r.next_request(), "REQ 1A 81");
    // Nobody on these ids: said, and exit 1 (a script must not go on as if a module was found).
    let o = diag(&[
        "scan",
        "--iface",
        &i,
        "--ids",
        "750-751+20",
        "--timeout-ms",
        "50",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "no module answered\n");
}

#[test]
fn test_can_fd_with_29_bit_ids() {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let mut r = Responder::start("18DA28F1", "18DAF128", &["--fd"]);
    let i = iface();
    let o = diag(&[
        "request", "--iface", &i, "--fd", "--tx", "18DA28F1", "--rx", "18DAF128", "21", "F0",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let mut expected = vec![0x61, 0xF0];
    expected.extend((0..200).map(|i| i as u8));
    assert_eq!(first_line(&o), hex(&expected));
    assert_eq!(r.next_request(), "REQ 21 F0");
}
