//! The SocketCAN bus against real vcan interfaces, checked against can-utils.
//!
//! Built only with `--features vcan-tests`; run with `tests/vm/run-vcan-tests.sh`, which brings
//! up vcan0 and vcan1 (natively or in a QEMU VM) and sets `CANRELEARN_VCAN=vcan0,vcan1`. Without
//! the interfaces every test fails with a message saying how to run them: none is skipped.
//! Tests share the interfaces, so each holds a global lock. Peers: `candump -L -x` (what the
//! kernel delivered, with its timestamps), `cansend`, `cangen`, `ip`, `tc`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::Duration;

use canrelearn::bus::{Bus, BusError, Direction, Filter, SocketCanBus, SocketCanOptions};
use canrelearn::frame::{ClassicFrame, ErrorFrame, FdFlags, FdFrame, Frame, Id, RemoteFrame};

static LOCK: Mutex<()> = Mutex::new(());

/// The two interfaces, or a failure telling how to run these tests.
fn ifaces() -> (String, String) {
    let spec = std::env::var("CANRELEARN_VCAN").unwrap_or_default();
    let mut it = spec.split(',').filter(|s| !s.is_empty());
    if let (Some(a), Some(b)) = (it.next(), it.next()) {
        return (a.to_string(), b.to_string());
    }
    let exists = |i: &str| std::path::Path::new(&format!("/sys/class/net/{i}")).exists();
    if exists("vcan0") && exists("vcan1") {
        return ("vcan0".into(), "vcan1".into());
    }
    panic!(
        "these tests need two real vcan interfaces and can-utils. Run them with \
         `tests/vm/run-vcan-tests.sh` (uses the kernel's vcan, or boots a QEMU VM when the kernel \
         has none), or set CANRELEARN_VCAN=vcan0,vcan1 after `sudo modprobe vcan; sudo ip link add \
         vcan0 type vcan; sudo ip link set up vcan0` (same for vcan1)."
    );
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn sh(cmd: &str) {
    let st = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .status()
        .expect("run sh");
    assert!(st.success(), "`{cmd}` failed: {st}");
}

fn sid(raw: u16) -> Id {
    Id::standard(raw).unwrap()
}
fn eid(raw: u32) -> Id {
    Id::extended(raw).unwrap()
}

/// The probe/marker id used to synchronise with candump (never used by test traffic).
const MARK: u16 = 0x7FF;

fn marker(n: u8) -> Frame {
    Frame::classic(sid(MARK), &[0xA5, 0x5A, 0xC3, n]).unwrap()
}

fn is_marker(f: &Frame) -> bool {
    (0..4).any(|n| *f == marker(n))
}

/// One parsed `candump -L -x` line.
#[derive(Debug, Clone, PartialEq)]
struct Dumped {
    secs: u64,
    micros: u32,
    iface: String,
    frame: String,
    dir: String,
}

/// `candump -L -x` running in the background, its lines delivered through a channel.
struct Candump {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Candump {
    /// Starts candump on `spec` (interface plus filters) and waits until it sees marker 0
    /// sent on `iface` (the spec's filters must let id 7FF through).
    fn start(spec: &str, iface: &str) -> Candump {
        let mut child = Command::new("stdbuf")
            .args(["-oL", "candump", "-L", "-x", spec])
            .stdout(Stdio::piped())
            .spawn()
            .expect("candump (can-utils) must be installed");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let c = Candump { child, lines };
        // Probe until candump is listening.
        let rt = rt();
        let mut bus = rt
            .block_on(async { SocketCanBus::open(iface, &SocketCanOptions::default()) })
            .unwrap();
        for _ in 0..100 {
            rt.block_on(bus.send(&marker(0))).unwrap();
            if let Ok(l) = c.lines.recv_timeout(Duration::from_millis(200)) {
                assert!(l.contains(&marker(0).to_string()), "unexpected {l}");
                // Drain further probes.
                while c.lines.recv_timeout(Duration::from_millis(300)).is_ok() {}
                return c;
            }
        }
        panic!("candump did not start");
    }

    /// Sends marker 1 on `iface` and returns every line before it, parsed.
    fn finish(mut self, iface: &str) -> Vec<Dumped> {
        let rt = rt();
        let mut bus = rt
            .block_on(async { SocketCanBus::open(iface, &SocketCanOptions::default()) })
            .unwrap();
        rt.block_on(bus.send(&marker(1))).unwrap();
        let end = marker(1).to_string();
        let mut out = Vec::new();
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(30))
                .expect("candump output ends with the end marker");
            let f: Vec<&str> = line.split_whitespace().collect();
            assert!(f.len() >= 3, "odd candump line {line}");
            if f[2] == end {
                break;
            }
            let ts = f[0].trim_start_matches('(').trim_end_matches(')');
            let (s, us) = ts.split_once('.').unwrap();
            out.push(Dumped {
                secs: s.parse().unwrap(),
                micros: us.parse().unwrap(),
                iface: f[1].to_string(),
                frame: f[2].to_string(),
                dir: f.get(3).unwrap_or(&"").to_string(),
            });
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        out
    }
}

/// Frames of every kind we can send (raw DLCs are checked separately: this candump version
/// does not print them).
fn all_kinds() -> Vec<Frame> {
    let mut v = vec![
        Frame::classic(sid(0x000), &[]).unwrap(),
        Frame::classic(sid(0x123), &[0xDE, 0xAD, 0xBE, 0xEF]).unwrap(),
        Frame::classic(sid(0x7FE), &[1, 2, 3, 4, 5, 6, 7, 8]).unwrap(),
        Frame::classic(eid(0x18DA_F110), &[0x02, 0x10, 0x03]).unwrap(),
        Frame::classic(eid(0x0000_0001), &[]).unwrap(),
        Frame::Remote(RemoteFrame::new(sid(0x321), 0).unwrap()),
        Frame::Remote(RemoteFrame::new(sid(0x321), 5).unwrap()),
        Frame::Remote(RemoteFrame::new(eid(0x1234_5678), 8).unwrap()),
        Frame::Error(ErrorFrame::new(0x0000_0044, [0, 0x04, 0, 0, 0, 0, 0, 0]).unwrap()),
        Frame::Error(ErrorFrame::new(0x0000_0200, [0, 0, 0, 0, 0, 0, 0x7F, 0x80]).unwrap()),
    ];
    for (i, len) in [0usize, 1, 8, 12, 16, 20, 24, 32, 48, 64]
        .into_iter()
        .enumerate()
    {
        let data: Vec<u8> = (0..len)
            .map(|b| (b as u8).wrapping_mul(7) ^ i as u8)
            .collect();
        v.push(Frame::fd(sid(0x200 + i as u16), &data, i % 2 == 0).unwrap());
        v.push(Frame::fd(eid(0x1000_0000 + i as u32), &data, i % 2 == 1).unwrap());
    }
    // ESI set, and an FD frame without the FDF flag (as older kernels and logs have it).
    v.push(Frame::Fd(
        FdFrame::new(sid(0x555), &[9; 12], FdFlags::from_bits(0x7).unwrap()).unwrap(),
    ));
    v
}

#[test]
fn test_frames_we_send_are_what_candump_sees() {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (if0, _) = ifaces();
    let dump = Candump::start(&format!("{if0},0:0,#FFFFFFFF"), &if0);
    let rt = rt();
    let frames = all_kinds();
    rt.block_on(async {
        let mut bus = SocketCanBus::open(&if0, &SocketCanOptions::default()).unwrap();
        for f in &frames {
            bus.send(f).await.unwrap();
        }
        assert_eq!(bus.stats().tx_frames, frames.len() as u64);
    });
    let seen = dump.finish(&if0);
    let seen_frames: Vec<&str> = seen.iter().map(|d| d.frame.as_str()).collect();
    let expected: Vec<String> = frames.iter().map(|f| f.to_string()).collect();
    assert_eq!(seen_frames, expected);
    assert!(seen.iter().all(|d| d.iface == if0 && d.dir == "T"));
}

#[test]
fn test_frames_from_can_utils_are_received_exactly() {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (if0, _) = ifaces();
    // Our receiver runs in its own thread, reading while the traffic flows, until marker 1.
    let (ready_tx, ready_rx) = mpsc::channel();
    let iface = if0.clone();
    let ours = std::thread::spawn(move || {
        rt().block_on(async {
            let mut bus = SocketCanBus::open(&iface, &SocketCanOptions::default()).unwrap();
            ready_tx.send(()).unwrap();
            let mut got = Vec::new();
            loop {
                let r = tokio::time::timeout(Duration::from_secs(60), bus.recv())
                    .await
                    .expect("frames within 60 s")
                    .unwrap();
                if r.frame == marker(1) {
                    break;
                }
                if !is_marker(&r.frame) {
                    got.push(r);
                }
            }
            (got, bus.stats())
        })
    });
    ready_rx.recv().unwrap();
    let dump = Candump::start(&format!("{if0},0:0,#FFFFFFFF"), &if0);
    // cangen: every kind mixed (standard, extended, FD, BRS, ESI, RTR), then cansend specials.
    sh(&format!("cangen {if0} -m -n 300 -g 2 -p 20"));
    for s in [
        "123#",
        "7E0#0210030000000000",
        "18DAF110#021003",
        "321#R",
        "321#R3",
        "20000044#0004000000000000",
        "123##1AABBCCDD",
        "123##0",
        "1ABCDEF0##3000102030405060708090A0B",
    ] {
        sh(&format!("cansend {if0} {s}"));
    }
    let seen = dump.finish(&if0);
    let (got, stats) = ours.join().unwrap();
    assert!(seen.len() >= 309, "candump saw only {} frames", seen.len());
    assert_eq!(got.len(), seen.len(), "we and candump saw as many frames");
    for (r, d) in got.iter().zip(&seen) {
        assert_eq!(r.frame.to_string(), d.frame, "frame");
        assert_eq!(&*r.interface, d.iface);
        assert_eq!(
            r.direction,
            Direction::Tx,
            "sent from this host: candump -x says T"
        );
        // Kernel receive timestamps: the same skb timestamp candump printed (microseconds).
        assert_eq!(
            (r.timestamp.secs(), r.timestamp.subsec_micros()),
            (d.secs, d.micros),
            "timestamp of {}",
            d.frame
        );
    }
    assert_eq!(stats.dropped, 0);
}

#[test]
fn test_kernel_filters_match_candump_and_our_model() {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (if0, _) = ifaces();
    let specs = ["123:7FF", "12345678:DFFFFFFF", "400~700", "7FF:7FF"];
    let filters: Vec<Filter> = specs.iter().map(|s| s.parse().unwrap()).collect();
    let frames = [
        Frame::classic(sid(0x123), &[1]).unwrap(),
        Frame::classic(eid(0x123), &[2]).unwrap(),
        Frame::Remote(RemoteFrame::new(sid(0x123), 0).unwrap()),
        Frame::classic(sid(0x124), &[3]).unwrap(),
        Frame::classic(eid(0x1234_5678), &[4]).unwrap(),
        Frame::classic(eid(0x1234_5679), &[5]).unwrap(),
        Frame::classic(sid(0x400), &[6]).unwrap(),
        Frame::classic(sid(0x4FF), &[7]).unwrap(),
        Frame::classic(sid(0x500), &[8]).unwrap(),
        Frame::fd(sid(0x123), &[9; 16], true).unwrap(),
        Frame::Error(ErrorFrame::new(0x20, [0; 8]).unwrap()),
    ];
    let expected: Vec<String> = frames
        .iter()
        .filter(|f| filters.iter().any(|flt| flt.matches(f)))
        .map(|f| f.to_string())
        .collect();
    // Sanity: the model does select (so the comparison below can fail).
    assert!(expected.len() > 3 && expected.len() < frames.len());
    let rt = rt();
    let mut rx = rt
        .block_on(async {
            SocketCanBus::open(
                &if0,
                &SocketCanOptions {
                    filters: filters.clone(),
                    ..Default::default()
                },
            )
        })
        .unwrap();
    let dump = Candump::start(&format!("{if0},{},#FFFFFFFF", specs.join(",")), &if0);
    rt.block_on(async {
        let mut tx = SocketCanBus::open(&if0, &SocketCanOptions::default()).unwrap();
        for f in &frames {
            tx.send(f).await.unwrap();
        }
    });
    let seen: Vec<String> = dump.finish(&if0).into_iter().map(|d| d.frame).collect();
    assert_eq!(seen, expected, "candump with the same filters");
    rt.block_on(async {
        let mut got = Vec::new();
        while got.len() < expected.len() {
            let r = tokio::time::timeout(Duration::from_secs(5), rx.recv())
                .await
                .expect("frame")
                .unwrap();
            if !is_marker(&r.frame) {
                got.push(r.frame.to_string());
            }
        }
        assert_eq!(got, expected, "our kernel filters");
        // Nothing else is queued but markers.
        while let Ok(r) = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await {
            assert!(is_marker(&r.unwrap().frame));
        }
    });
}

/// Kills a background peer even when a test fails.
struct KillOnDrop(Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Filters hold from a socket's first frame: set before the socket is bound (as candump does),
/// nothing that arrives while it opens is queued past them. Bound first, a filtered socket
/// opened during a flood would now and then start with a flood frame (a `dump --filter 60D`
/// once printed a 123 frame that way).
#[test]
fn test_filters_hold_from_the_first_frame_during_a_flood() {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (if0, _) = ifaces();
    let flood = Command::new("cangen")
        .args([if0.as_str(), "-g", "0", "-I", "123", "-L", "1", "-D", "i"])
        .spawn()
        .expect("cangen (can-utils) must be installed");
    let _flood = KillOnDrop(flood);
    let only_markers: Vec<Filter> = vec![format!("{MARK:03X}:7FF").parse().unwrap()];
    rt().block_on(async {
        let mut tx = SocketCanBus::open(&if0, &SocketCanOptions::default()).unwrap();
        // The flood is on the bus (an unfiltered socket sees it), so the check below can fail.
        let mut all = SocketCanBus::open(&if0, &SocketCanOptions::default()).unwrap();
        let r = tokio::time::timeout(Duration::from_secs(10), all.recv())
            .await
            .expect("cangen's flood")
            .unwrap();
        assert_eq!(r.frame.id(), Some(sid(0x123)), "{}", r.frame);
        drop(all);
        for round in 0..500 {
            let mut rx = SocketCanBus::open(
                &if0,
                &SocketCanOptions {
                    filters: only_markers.clone(),
                    ..Default::default()
                },
            )
            .unwrap();
            tx.send(&marker(3)).await.unwrap();
            let r = tokio::time::timeout(Duration::from_secs(5), rx.recv())
                .await
                .expect("the marker")
                .unwrap();
            assert_eq!(
                r.frame,
                marker(3),
                "socket {round}: its first frame is outside its filter"
            );
        }
    });
}

#[test]
fn test_raw_dlc_own_frames_and_directions() {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (if0, _) = ifaces();
    rt().block_on(async {
        let mut a = SocketCanBus::open(
            &if0,
            &SocketCanOptions {
                receive_own: true,
                ..Default::default()
            },
        )
        .unwrap();
        let mut b = SocketCanBus::open(&if0, &SocketCanOptions::default()).unwrap();
        // Linux turns receive timestamping on from a workqueue after the first socket asks for
        // it (net_enable_timestamp); until then each socket stamps at recvmsg time instead.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let frames = [
            Frame::Classic(ClassicFrame::with_raw_dlc(sid(0x10), [1; 8], 9).unwrap()),
            Frame::Classic(ClassicFrame::with_raw_dlc(eid(0x10), [2; 8], 15).unwrap()),
            Frame::Remote(RemoteFrame::with_raw_dlc(sid(0x11), 12).unwrap()),
        ];
        for f in &frames {
            a.send(f).await.unwrap();
        }
        for f in &frames {
            let r = b.recv().await.unwrap();
            assert_eq!((&r.frame, r.direction), (f, Direction::Tx));
            let own = a.recv().await.unwrap();
            assert_eq!((&own.frame, own.direction), (f, Direction::OwnTx));
            assert_eq!(own.timestamp, r.timestamp, "one skb, one kernel timestamp");
        }
    });
}

#[test]
fn test_missing_and_non_can_interfaces_are_typed_errors() {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let _ = ifaces();
    rt().block_on(async {
        for name in ["vcan97", "lo", "", "a/b", "name-longer-than-15"] {
            match SocketCanBus::open(name, &SocketCanOptions::default()) {
                Err(BusError::InterfaceNotFound { iface }) => assert_eq!(iface, name),
                other => panic!("{name}: expected InterfaceNotFound, got {other:?}"),
            }
        }
    });
}

/// Brings an interface back up (and removes a test qdisc) even when a test fails.
struct Restore(String);
impl Drop for Restore {
    fn drop(&mut self) {
        let i = &self.0;
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "tc qdisc del dev {i} root 2>/dev/null; ip link set {i} up"
            ))
            .status();
    }
}

#[test]
fn test_down_interface_and_going_down_mid_run() {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (_, if1) = ifaces();
    let _restore = Restore(if1.clone());
    let rt = rt();
    sh(&format!("ip link set {if1} down"));
    let e = rt
        .block_on(async { SocketCanBus::open(&if1, &SocketCanOptions::default()) })
        .unwrap_err();
    assert!(
        matches!(&e, BusError::InterfaceDown { iface } if *iface == if1),
        "{e:?}"
    );
    assert!(e.is_interface_unavailable());
    sh(&format!("ip link set {if1} up"));
    rt.block_on(async {
        let mut rx = SocketCanBus::open(&if1, &SocketCanOptions::default()).unwrap();
        let mut tx = SocketCanBus::open(&if1, &SocketCanOptions::default()).unwrap();
        let frames: Vec<Frame> = (0..5u8)
            .map(|i| Frame::classic(sid(0x100 + u16::from(i)), &[i]).unwrap())
            .collect();
        for f in &frames {
            tx.send(f).await.unwrap();
        }
        sh(&format!("ip link set {if1} down"));
        // Everything captured before the interface went down comes first, then the error.
        for f in &frames {
            assert_eq!(&rx.recv().await.unwrap().frame, f);
        }
        let e = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("an error, not a hang")
            .unwrap_err();
        assert!(
            matches!(&e, BusError::InterfaceDown { iface } if *iface == if1),
            "{e:?}"
        );
        let e = tx.send(&frames[0]).await.unwrap_err();
        assert!(matches!(e, BusError::InterfaceDown { .. }), "{e:?}");
    });
}

#[test]
fn test_send_backs_off_on_enobufs_and_delivers_every_frame() {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (_, if1) = ifaces();
    let _restore = Restore(if1.clone());
    // vcan uses the `noqueue` qdisc, so `txqueuelen` alone never fills; a token bucket with a
    // tiny queue makes the interface as slow as a real bus (about 780 frames/s here) and its
    // overflow is reported to the sender as ENOBUFS, as a full CAN controller queue is.
    sh(&format!(
        "ip link set {if1} txqueuelen 1 && tc qdisc replace dev {if1} root tbf rate 100kbit burst 256 limit 256"
    ));
    let n = 400u16;
    rt().block_on(async {
        let mut rx = SocketCanBus::open(&if1, &SocketCanOptions::default()).unwrap();
        let mut tx = SocketCanBus::open(&if1, &SocketCanOptions::default()).unwrap();
        let send = async {
            for i in 0..n {
                let f = Frame::classic(sid(i % 0x700), &i.to_be_bytes()).unwrap();
                tx.send(&f).await.unwrap();
            }
            tx.stats()
        };
        let recv = async {
            let mut got = Vec::new();
            while got.len() < usize::from(n) {
                let r = tokio::time::timeout(Duration::from_secs(20), rx.recv())
                    .await
                    .expect("frame")
                    .unwrap();
                got.push(r.frame);
            }
            got
        };
        let (stats, got) = tokio::join!(send, recv);
        let want: Vec<Frame> = (0..n)
            .map(|i| Frame::classic(sid(i % 0x700), &i.to_be_bytes()).unwrap())
            .collect();
        assert_eq!(got, want, "every frame, in order");
        assert_eq!(stats.tx_frames, u64::from(n));
        assert!(
            stats.tx_queue_full > 0,
            "the queue never overflowed, so back-off was not exercised"
        );
        eprintln!("ENOBUFS back-offs: {}", stats.tx_queue_full);
    });
}

#[test]
fn test_kernel_drop_counter_is_reported() {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (_, if1) = ifaces();
    rt().block_on(async {
        let mut rx = SocketCanBus::open(
            &if1,
            &SocketCanOptions {
                receive_buffer: Some(1), // the kernel rounds up to its minimum
                ..Default::default()
            },
        )
        .unwrap();
        let mut tx = SocketCanBus::open(&if1, &SocketCanOptions::default()).unwrap();
        let n = 2000u64;
        for i in 0..n {
            tx.send(&Frame::classic(sid(0x100), &i.to_le_bytes()).unwrap())
                .await
                .unwrap();
        }
        // Drain what was kept, then a final frame carries the final drop count.
        let mut kept = 0u64;
        while let Ok(r) = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await {
            r.unwrap();
            kept += 1;
        }
        tx.send(&marker(2)).await.unwrap();
        let last = rx.recv().await.unwrap();
        assert_eq!(last.frame, marker(2));
        let st = rx.stats();
        assert!(st.dropped > 0, "nothing dropped: {st:?}");
        assert_eq!(kept + st.dropped, n, "kept + dropped = sent ({st:?})");
    });
}

/// Deletes a temporary interface even when a test fails.
struct DeleteLink(&'static str);
impl Drop for DeleteLink {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", self.0])
            .stderr(Stdio::null())
            .status();
    }
}

#[test]
fn test_interface_removed_mid_run() {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let _ = ifaces();
    let tmp = "vcanrm9";
    let _del = DeleteLink(tmp);
    sh(&format!(
        "ip link add {tmp} type vcan && ip link set up {tmp}"
    ));
    rt().block_on(async {
        let mut rx = SocketCanBus::open(tmp, &SocketCanOptions::default()).unwrap();
        let mut tx = SocketCanBus::open(tmp, &SocketCanOptions::default()).unwrap();
        let f = Frame::fd(eid(0x1F), &[0x11; 24], true).unwrap();
        tx.send(&f).await.unwrap();
        sh(&format!("ip link del {tmp}"));
        assert_eq!(
            rx.recv().await.unwrap().frame,
            f,
            "the frame captured before removal"
        );
        let e = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("an error, not a hang")
            .unwrap_err();
        assert!(
            matches!(&e, BusError::InterfaceNotFound { iface } if iface == tmp),
            "{e:?}"
        );
        assert!(e.is_interface_unavailable());
    });
}
