//! Our ISO-TP driver (`drive::isotp` on `SocketCanBus`) against the Linux kernel's ISO-TP
//! (`CAN_ISOTP`) on real vcan interfaces, both directions: can-utils `isotpsend`/`isotprecv`
//! and python can-isotp sockets (tests/vm/isotp-echo-responder.py), with block size / STmin
//! variants, padding, CAN FD and 4095-byte messages. Also measures a 4095-byte transfer
//! (BS 0, STmin 0) with ours and with the kernel's, and prints both (no assertion on time).
//!
//! Built only with `--features vcan-tests`; run with `tests/vm/run-vcan-tests.sh`. Without the
//! interfaces every test fails with a message saying how to run them: none is skipped.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use canrelearn::bus::{SocketCanBus, SocketCanOptions};
use canrelearn::drive::isotp::{FrameDirection, IsoTpDriver, Transcript, unix_tokio_clock};
use canrelearn::frame::Id;
use canrelearn::isotp::{Config, FrameFormat, StMin};

static LOCK: Mutex<()> = Mutex::new(());

fn iface() -> String {
    let spec = std::env::var("CANRELEARN_VCAN").unwrap_or_default();
    if let Some(a) = spec.split(',').find(|s| !s.is_empty()) {
        return a.to_string();
    }
    if std::path::Path::new("/sys/class/net/vcan0").exists() {
        return "vcan0".into();
    }
    panic!(
        "these tests need a real vcan interface, can-utils and python can-isotp. Run them with \
         `tests/vm/run-vcan-tests.sh`, or set CANRELEARN_VCAN=vcan0,vcan1 after `sudo modprobe \
         vcan; sudo ip link add vcan0 type vcan; sudo ip link set up vcan0`."
    );
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn sid(raw: u16) -> Id {
    Id::standard(raw).unwrap()
}

/// A child process killed when dropped.
struct Peer {
    child: Child,
    out: BufReader<ChildStdout>,
    err: std::path::PathBuf,
}

impl Peer {
    fn spawn(cmd: &str, args: &[&str]) -> Peer {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let err = std::env::temp_dir().join(format!(
            "vcan-peer-{}-{}.err",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let mut child = Command::new(cmd)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&err).expect("stderr file"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"));
        let out = BufReader::new(child.stdout.take().unwrap());
        Peer { child, out, err }
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.out.read_line(&mut l).unwrap();
        l.trim_end().to_string()
    }

    /// Waits for a python peer's `ready`.
    fn ready(mut self) -> Peer {
        let l = self.line();
        if l != "ready" {
            // Say why: the exit status (a signal such as SIGILL names itself) and stderr.
            let status = self.child.wait();
            let err = std::fs::read_to_string(&self.err).unwrap_or_default();
            panic!("peer did not start: {status:?}\n{err}");
        }
        self
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn vm_script(name: &str) -> String {
    format!("{}/tests/vm/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + 3) as u8).collect()
}

fn hex_line(data: &[u8]) -> String {
    data.iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn parse_hex_line(l: &str) -> Vec<u8> {
    l.split_whitespace()
        .map(|t| u8::from_str_radix(t, 16).unwrap())
        .collect()
}

fn driver(cfg: Config) -> IsoTpDriver<SocketCanBus> {
    let bus = SocketCanBus::open(&iface(), &SocketCanOptions::default()).unwrap();
    IsoTpDriver::new(bus, cfg, unix_tokio_clock()).unwrap()
}

/// Gives a can-utils peer time to bind its socket (it prints nothing when ready).
fn settle() {
    std::thread::sleep(Duration::from_millis(700));
}

#[derive(Debug, Clone, Copy)]
struct Variant {
    len: usize,
    bs: u8,
    st_min_ms: u8,
    padding: Option<u8>,
    fd: bool,
}

const VARIANTS: &[Variant] = &[
    Variant {
        len: 5,
        bs: 0,
        st_min_ms: 0,
        padding: None,
        fd: false,
    },
    Variant {
        len: 100,
        bs: 4,
        st_min_ms: 0,
        padding: Some(0xAA),
        fd: false,
    },
    Variant {
        len: 40,
        bs: 2,
        st_min_ms: 5,
        padding: Some(0xFF),
        fd: false,
    },
    Variant {
        len: 4095,
        bs: 0,
        st_min_ms: 0,
        padding: None,
        fd: false,
    },
    Variant {
        len: 300,
        bs: 3,
        st_min_ms: 0,
        padding: None,
        fd: true,
    },
    Variant {
        len: 4095,
        bs: 0,
        st_min_ms: 0,
        padding: Some(0x55),
        fd: true,
    },
];

fn ll_args(fd: bool) -> Vec<String> {
    if fd {
        vec!["-L".into(), "72:64:1".into()]
    } else {
        Vec::new()
    }
}

#[test]
fn test_ours_sends_to_kernel_isotprecv() {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let rt = rt();
    for v in VARIANTS {
        let mut args: Vec<String> = vec!["-s".into(), "7E8".into(), "-d".into(), "7E0".into()];
        args.extend(["-b".into(), format!("{:X}", v.bs)]);
        args.extend(["-m".into(), format!("{:X}", v.st_min_ms)]);
        if let Some(p) = v.padding {
            // Expect our padding byte and check length and content of every frame.
            args.extend(["-p".into(), format!(":{p:02X}"), "-P".into(), "a".into()]);
        }
        args.extend(ll_args(v.fd));
        args.push(iface());
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut peer = Peer::spawn("isotprecv", &argv);
        settle();
        let data = payload(v.len);
        let mut cfg = Config::new(sid(0x7E0), sid(0x7E8));
        cfg.padding = v.padding;
        if v.fd {
            cfg.format = FrameFormat::Fd {
                tx_dl: 64,
                brs: true,
            };
        }
        let t = Transcript::new();
        rt.block_on(async {
            let mut d = driver(cfg);
            d.set_observer(Some(t.observer()));
            d.send(&data).await.unwrap();
        });
        let got = parse_hex_line(&peer.line());
        assert_eq!(got.len(), data.len(), "{v:?}");
        assert_eq!(got, data, "{v:?}");
        let frames = t.frames();
        let fcs = frames
            .iter()
            .filter(|f| {
                f.direction == FrameDirection::Received
                    && f.frame.id() == Some(sid(0x7E8))
                    && f.frame.data().first().is_some_and(|b| b >> 4 == 3)
            })
            .count();
        let sent: Vec<_> = frames
            .iter()
            .filter(|f| f.direction == FrameDirection::Sent)
            .collect();
        let cfs = sent.len().saturating_sub(1);
        let expected_fcs = if v.len <= 7 {
            0
        } else if v.bs == 0 {
            1
        } else {
            1 + (cfs - 1) / usize::from(v.bs)
        };
        assert_eq!(fcs, expected_fcs, "{v:?}: flow controls");
        if let Some(p) = v.padding {
            let last = sent.last().unwrap().frame.data();
            assert!(last.len() >= 8, "{v:?}");
            assert_eq!(*last.last().unwrap(), p, "{v:?}");
        }
        if v.fd {
            assert!(sent.iter().all(|f| f.frame.is_fd()), "{v:?}");
        }
        // STmin: consecutive frames of one block are at least st_min apart (our clock).
        if v.st_min_ms > 0 {
            let min = Duration::from_millis(u64::from(v.st_min_ms));
            let cf = sent.get(1..).unwrap_or(&[]);
            for (k, w) in cf.windows(2).enumerate() {
                // w[0] is CF number k + 1; the next one starts a new block after k + 1 = n * bs.
                if v.bs != 0 && (k + 1) % usize::from(v.bs) == 0 {
                    continue;
                }
                let gap = w[1].at.saturating_duration_since(w[0].at);
                assert!(gap >= min, "{v:?}: CF gap {gap:?}");
            }
        }
    }
}

#[test]
fn test_kernel_isotpsend_to_ours() {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let rt = rt();
    for v in VARIANTS {
        let data = payload(v.len);
        let mut cfg = Config::new(sid(0x7E0), sid(0x7E8));
        cfg.block_size = v.bs;
        cfg.st_min = StMin::from_raw(v.st_min_ms);
        cfg.padding = Some(0xCC);
        let t = Transcript::new();
        let got = rt.block_on(async {
            let mut d = driver(cfg);
            d.set_observer(Some(t.observer()));
            let mut args: Vec<String> = vec!["-s".into(), "7E8".into(), "-d".into(), "7E0".into()];
            if let Some(p) = v.padding {
                args.extend(["-p".into(), format!("{p:02X}:")]);
            }
            args.extend(ll_args(v.fd));
            args.push(iface());
            let data2 = data.clone();
            let sender = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(200));
                let mut child = Command::new("isotpsend")
                    .args(&args)
                    .stdin(Stdio::piped())
                    .spawn()
                    .expect("run isotpsend");
                let mut stdin = child.stdin.take().unwrap();
                writeln!(stdin, "{}", hex_line(&data2)).unwrap();
                drop(stdin);
                child.wait().unwrap()
            });
            let got = tokio::time::timeout(Duration::from_secs(20), d.recv())
                .await
                .expect("no message from isotpsend")
                .unwrap();
            assert!(sender.join().unwrap().success());
            got
        });
        assert_eq!(got, data, "{v:?}");
        let frames = t.frames();
        let data_frames: Vec<_> = frames
            .iter()
            .filter(|f| f.direction == FrameDirection::Received && f.frame.id() == Some(sid(0x7E8)))
            .collect();
        let our_fcs = frames
            .iter()
            .filter(|f| f.direction == FrameDirection::Sent)
            .count();
        let expected = if data_frames.len() == 1 {
            0
        } else if v.bs == 0 {
            1
        } else {
            1 + (data_frames.len() - 2) / usize::from(v.bs)
        };
        assert_eq!(our_fcs, expected, "{v:?}: our flow controls");
        if let Some(p) = v.padding {
            let last = data_frames.last().unwrap().frame.data();
            assert_eq!(*last.last().unwrap(), p, "{v:?}: kernel padding");
        }
        if v.fd && v.len > 62 {
            assert!(data_frames.iter().all(|f| f.frame.is_fd()), "{v:?}");
        }
    }
}

#[test]
fn test_round_trips_through_kernel_sockets() {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let rt = rt();
    for v in VARIANTS {
        let mut args = vec![
            vm_script("isotp-echo-responder.py"),
            iface(),
            "7E0".into(),
            "7E8".into(),
            "--bs".into(),
            v.bs.to_string(),
            "--stmin".into(),
            v.st_min_ms.to_string(),
        ];
        if let Some(p) = v.padding {
            args.extend(["--pad".into(), format!("0x{p:02X}")]);
        }
        if v.fd {
            args.push("--fd".into());
        }
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut peer = Peer::spawn("python3", &argv).ready();
        let data = payload(v.len);
        let mut cfg = Config::new(sid(0x7E0), sid(0x7E8));
        cfg.padding = v.padding;
        cfg.block_size = 5;
        cfg.st_min = StMin::from_raw(1);
        if v.fd {
            cfg.format = FrameFormat::Fd {
                tx_dl: 64,
                brs: true,
            };
        }
        let back = rt.block_on(async {
            let mut d = driver(cfg);
            let r = d.exchange(&data, Duration::from_secs(20)).await.unwrap();
            // Which variant failed, and when: a TCG run once gave no echo, unexplained.
            r.unwrap_or_else(|| panic!("{v:?}: no echo within 20 s"))
        });
        assert_eq!(peer.line(), format!("ECHO {}", v.len));
        assert_eq!(back, data, "{v:?}");
    }
}

#[test]
fn test_timing_4095_bytes_ours_and_kernel() {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let rt = rt();
    let data = payload(4095);
    // Ours to ours: two sockets on the same vcan, BS 0, STmin 0.
    let ours = rt.block_on(async {
        let mut a = driver(Config::new(sid(0x6E0), sid(0x6E8)));
        let mut b = driver(Config::new(sid(0x6E8), sid(0x6E0)));
        let start = Instant::now();
        let (sent, got) = tokio::join!(a.send(&data), b.recv());
        let elapsed = start.elapsed();
        sent.unwrap();
        assert_eq!(got.unwrap(), data);
        elapsed
    });
    // Kernel to kernel: isotpsend -> isotprecv, measured from isotpsend's start to isotprecv's
    // output line (includes starting the isotpsend process).
    let mut recv = Peer::spawn("isotprecv", &["-s", "6D8", "-d", "6D0", &iface()]);
    settle();
    let start = Instant::now();
    let st = Command::new("isotpsend")
        .args(["-s", "6D0", "-d", "6D8", "-D", "4095", &iface()])
        .status()
        .expect("run isotpsend");
    let line = recv.line();
    let kernel = start.elapsed();
    assert!(st.success());
    assert_eq!(parse_hex_line(&line).len(), 4095);
    // Kernel sockets from python, send call to reception (no process start).
    let py = Command::new("python3")
        .args([vm_script("isotp-kernel-timing.py"), iface(), "4095".into()])
        .output()
        .expect("run python3");
    assert!(
        py.status.success(),
        "{}",
        String::from_utf8_lossy(&py.stderr)
    );
    let py = String::from_utf8_lossy(&py.stdout).trim().to_string();
    let report = format!(
        "ISO-TP 4095 bytes, BS 0, STmin 0 on {}: ours (drive::isotp -> drive::isotp) {:.3} ms; \
         kernel (isotpsend -> isotprecv, incl. process start) {:.3} ms; python {} ms\n",
        iface(),
        ours.as_secs_f64() * 1000.0,
        kernel.as_secs_f64() * 1000.0,
        py
    );
    eprint!("{report}");
    if let Ok(dir) = std::env::var("RESULTS") {
        let _ = std::fs::write(format!("{dir}/isotp-timing.txt"), &report);
    }
}
