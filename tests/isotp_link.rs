//! Two ISO-TP channels on the in-memory virtual link (`canrelearn::isotp::virtual_link`): exchanges with
//! byte-exact fixtures, segmentation/reassembly for every size and many configurations, timing
//! on the virtual clock, timers, sequence errors, WAIT and OVERFLOW, and "never panics".

use std::time::Duration;

use canrelearn::frame::{Frame, Id};
use canrelearn::isotp::virtual_link::{Loss, Side, TraceKind, VirtualLink};
use canrelearn::isotp::{
    Addressing, Channel, ChannelEvent, Config, FrameFormat, IgnoreReason, PduKind, ReceiveFailure,
    SendError, SendFailure, StMin,
};
use canrelearn::time::Timestamp;
use proptest::prelude::*;

fn sid(raw: u16) -> Id {
    Id::standard(raw).unwrap()
}
fn ms(n: u64) -> Timestamp {
    Timestamp::from_nanos(n * 1_000_000)
}

/// A's config; B's is the mirror (ids and addresses swapped).
fn mirror(a: &Config) -> Config {
    let mut b = a.clone();
    b.tx_id = a.rx_id;
    b.rx_id = a.tx_id;
    if let Addressing::Extended { tx_addr, rx_addr } = a.addressing {
        b.addressing = Addressing::Extended {
            tx_addr: rx_addr,
            rx_addr: tx_addr,
        };
    }
    b
}

fn link(a: Config, b: Config, delay: Duration, loss: Loss) -> VirtualLink {
    VirtualLink::new(
        Channel::new(a).unwrap(),
        Channel::new(b).unwrap(),
        delay,
        loss,
    )
}

fn transmitted(l: &VirtualLink, side: Side) -> Vec<(Timestamp, Frame)> {
    l.trace()
        .iter()
        .filter(|e| e.side == side)
        .filter_map(|e| match &e.kind {
            TraceKind::Transmitted { frame, .. } => Some((e.at, *frame)),
            _ => None,
        })
        .collect()
}

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn received(l: &VirtualLink, side: Side) -> Vec<Vec<u8>> {
    l.events(side)
        .into_iter()
        .filter_map(|(_, e)| match e {
            ChannelEvent::Received(d) => Some(d),
            _ => None,
        })
        .collect()
}

#[test]
fn test_emit_single_frame_unpadded_and_padded() {
    let cfg = Config::new(sid(0x745), sid(0x765));
    let mut l = link(cfg.clone(), mirror(&cfg), Duration::ZERO, Loss::None);
    l.a.send(Timestamp::ZERO, &[0x10, 0xC0]).unwrap();
    l.run_for(Duration::from_secs(5));
    let tx = transmitted(&l, Side::A);
    assert_eq!(tx.len(), 1);
    assert_eq!(tx[0].1.to_string(), "745#0210C0");
    assert_eq!(received(&l, Side::B), [vec![0x10, 0xC0]]);
    assert_eq!(
        l.events(Side::A),
        [(Timestamp::ZERO, ChannelEvent::Sent { len: 2 })]
    );

    let mut padded = Config::new(sid(0x71E), sid(0x72E));
    padded.padding = Some(0xFF);
    let mut l = link(padded.clone(), mirror(&padded), Duration::ZERO, Loss::None);
    l.a.send(Timestamp::ZERO, &[0x3B, 0x01, 0x02]).unwrap();
    l.run_for(Duration::from_secs(5));
    assert_eq!(
        transmitted(&l, Side::A)[0].1.to_string(),
        "71E#033B0102FFFFFFFF"
    );
    assert_eq!(received(&l, Side::B), [vec![0x3B, 0x01, 0x02]]);
}

#[test]
fn test_emit_segmented_exchange_with_block_size_and_stmin() {
    // A sends 30 bytes; B advertises BS 2, STmin 10 ms; 1 ms link delay; padding 0xAA.
    let mut a = Config::new(sid(0x765), sid(0x745));
    a.padding = Some(0xAA);
    let mut b = mirror(&a);
    b.block_size = 2;
    b.st_min = StMin::from_raw(10);
    let mut l = link(a, b, Duration::from_millis(1), Loss::None);
    let data = payload(30);
    l.a.send(Timestamp::ZERO, &data).unwrap();
    l.run_for(Duration::from_secs(5));
    let got: Vec<(Timestamp, String)> = l
        .trace()
        .iter()
        .filter_map(|e| match &e.kind {
            TraceKind::Transmitted { frame, .. } => Some((e.at, frame.to_string())),
            _ => None,
        })
        .collect();
    let want = [
        (ms(0), "765#101E00070E151C23"),
        (ms(1), "745#30020AAAAAAAAAAA"),
        (ms(2), "765#212A31383F464D54"),
        (ms(12), "765#225B626970777E85"),
        (ms(13), "745#30020AAAAAAAAAAA"),
        (ms(14), "765#238C939AA1A8AFB6"),
        (ms(24), "765#24BDC4CBAAAAAAAA"),
    ];
    let want: Vec<(Timestamp, String)> = want.iter().map(|(t, s)| (*t, s.to_string())).collect();
    assert_eq!(got, want);
    assert_eq!(received(&l, Side::B), [data]);
    assert_eq!(
        l.events(Side::A),
        [(ms(24), ChannelEvent::Sent { len: 30 })]
    );
}

#[test]
fn test_emit_exact_segmentation_fixture() {
    // 13 bytes: FF carries 6, one CF carries 7. Unpadded: the CF is exactly 8 bytes here,
    // and a 15-byte message ends with a 3-byte CF (PCI + 2).
    let a = Config::new(sid(0x7E0), sid(0x7E8));
    let mut l = link(a.clone(), mirror(&a), Duration::ZERO, Loss::None);
    let data: Vec<u8> = (1..=15).collect();
    l.a.send(Timestamp::ZERO, &data).unwrap();
    l.run_for(Duration::from_secs(1));
    let tx: Vec<String> = transmitted(&l, Side::A)
        .iter()
        .map(|(_, f)| f.to_string())
        .collect();
    assert_eq!(
        tx,
        ["7E0#100F010203040506", "7E0#210708090A0B0C0D", "7E0#220E0F"]
    );
    let fc: Vec<String> = transmitted(&l, Side::B)
        .iter()
        .map(|(_, f)| f.to_string())
        .collect();
    assert_eq!(fc, ["7E8#300000"]);
    assert_eq!(received(&l, Side::B), [data]);
}

#[test]
fn test_emit_fd_escape_single_frame_and_fd_first_frame() {
    let mut a = Config::new(sid(0x700), sid(0x708));
    a.format = FrameFormat::Fd {
        tx_dl: 64,
        brs: true,
    };
    a.max_rx_size = 10_000;
    let mut l = link(a.clone(), mirror(&a), Duration::ZERO, Loss::None);
    let data = payload(50);
    l.a.send(Timestamp::ZERO, &data).unwrap();
    l.run_for(Duration::from_secs(1));
    let tx = transmitted(&l, Side::A);
    assert_eq!(tx.len(), 1);
    let bytes = tx[0].1.data();
    assert_eq!(bytes.len(), 52 + 12, "rounded up to 64");
    assert_eq!(&bytes[..2], &[0x00, 50]);
    assert_eq!(&bytes[2..52], &data[..]);
    assert!(bytes[52..].iter().all(|&b| b == 0xCC));
    assert!(tx[0].1.to_string().starts_with("700##5"), "FDF + BRS");
    assert_eq!(received(&l, Side::B), [data]);

    // 5000 bytes on FD: escaped FF_DL, FF of 64 bytes carrying 58, CFs of 63.
    l.clear_trace();
    let big = payload(5000);
    l.a.send(l.now(), &big).unwrap();
    l.run_for(Duration::from_secs(1));
    let tx = transmitted(&l, Side::A);
    let ff = tx[0].1.data();
    assert_eq!(ff.len(), 64);
    assert_eq!(&ff[..6], &[0x10, 0x00, 0x00, 0x00, 0x13, 0x88]);
    assert_eq!(tx.len(), 1 + (5000 - 58usize).div_ceil(63));
    let fc = transmitted(&l, Side::B);
    assert!(fc[0].1.is_fd(), "FC answers in the FF's format");
    assert_eq!(received(&l, Side::B), [big]);
}

#[test]
fn test_emit_extended_addressing_and_29_bit_ids() {
    let mut a = Config::new(
        Id::extended(0x18DA_10F1).unwrap(),
        Id::extended(0x18DA_F110).unwrap(),
    );
    a.addressing = Addressing::Extended {
        tx_addr: 0x40,
        rx_addr: 0xF1,
    };
    let mut l = link(a.clone(), mirror(&a), Duration::ZERO, Loss::None);
    let data: Vec<u8> = (1..=10).collect();
    l.a.send(Timestamp::ZERO, &data).unwrap();
    l.run_for(Duration::from_secs(1));
    let tx: Vec<String> = transmitted(&l, Side::A)
        .iter()
        .map(|(_, f)| f.to_string())
        .collect();
    assert_eq!(tx, ["18DA10F1#40100A0102030405", "18DA10F1#4021060708090A"]);
    let fc: Vec<String> = transmitted(&l, Side::B)
        .iter()
        .map(|(_, f)| f.to_string())
        .collect();
    assert_eq!(fc, ["18DAF110#F1300000"]);
    assert_eq!(received(&l, Side::B), [data]);
}

#[test]
fn test_ignores_other_ids_addresses_remote_and_error_frames() {
    let mut cfg = Config::new(sid(0x100), sid(0x200));
    cfg.addressing = Addressing::Extended {
        tx_addr: 1,
        rx_addr: 2,
    };
    let mut ch = Channel::new(cfg).unwrap();
    let t = Timestamp::ZERO;
    ch.handle_frame(t, &Frame::classic(sid(0x201), &[2, 0x01, 0xAA]).unwrap());
    ch.handle_frame(t, &Frame::classic(sid(0x200), &[3, 0x01, 0xAA]).unwrap());
    ch.handle_frame(t, &Frame::classic(sid(0x200), &[]).unwrap());
    ch.handle_frame(
        t,
        &Frame::Remote(canrelearn::frame::RemoteFrame::new(sid(0x200), 8).unwrap()),
    );
    ch.handle_frame(
        t,
        &Frame::Error(canrelearn::frame::ErrorFrame::new(0x40, [0; 8]).unwrap()),
    );
    assert_eq!(ch.poll_event(), None);
    ch.handle_frame(t, &Frame::classic(sid(0x200), &[2, 0x01, 0xAA]).unwrap());
    assert_eq!(ch.poll_event(), Some(ChannelEvent::Received(vec![0xAA])));
}

#[test]
fn test_send_errors() {
    let mut ch = Channel::new(Config::new(sid(1), sid(2))).unwrap();
    assert_eq!(ch.send(Timestamp::ZERO, &[]), Err(SendError::Empty));
    ch.send(Timestamp::ZERO, &[1; 100]).unwrap();
    assert!(ch.is_sending());
    assert_eq!(ch.send(Timestamp::ZERO, &[1]), Err(SendError::Busy));
    ch.abort_send();
    assert!(!ch.is_sending());
    ch.send(Timestamp::ZERO, &[1]).unwrap();

    let mut bad = Config::new(sid(1), sid(2));
    bad.format = FrameFormat::Fd {
        tx_dl: 10,
        brs: false,
    };
    assert!(Channel::new(bad.clone()).is_err());
    bad.format = FrameFormat::Fd {
        tx_dl: 6,
        brs: false,
    };
    assert!(Channel::new(bad).is_err());
}

#[test]
fn test_timeout_bs_when_flow_control_never_comes() {
    let a = Config::new(sid(0x745), sid(0x765));
    // B listens on another id: no flow control ever.
    let b = Config::new(sid(0x7FF), sid(0x7FE));
    let mut l = link(a, b, Duration::from_millis(2), Loss::None);
    l.advance_to(ms(100));
    l.a.send(ms(100), &payload(30)).unwrap();
    l.run_for(Duration::from_secs(10));
    assert_eq!(
        l.events(Side::A),
        [(ms(1100), ChannelEvent::SendFailed(SendFailure::TimeoutBs))]
    );
    assert!(!l.a.is_sending());
}

#[test]
fn test_timeout_cr_when_consecutive_frames_stop() {
    let a = Config::new(sid(0x745), sid(0x765));
    let b = mirror(&a);
    // Frame indices (both directions): 0 FF, 1 FC, 2 CF1, 3 CF2, then CF3-CF5 are lost.
    let mut l = link(a, b, Duration::from_millis(1), Loss::Indices(&[4, 5, 6]));
    let mut sa = Config::new(sid(0x745), sid(0x765));
    sa.tx_st_min_override = Some(Duration::from_millis(5));
    l.a = Channel::new(sa).unwrap();
    l.a.send(Timestamp::ZERO, &payload(40)).unwrap();
    l.run_for(Duration::from_secs(10));
    let tx_a = transmitted(&l, Side::A);
    // CF2 was sent at 2 + 5 = 7 ms and arrived at 8 ms: N_Cr fires at 1008 ms.
    assert_eq!(tx_a[2].0, ms(7));
    let ev_b = l.events(Side::B);
    assert_eq!(ev_b[0], (ms(1), ChannelEvent::RxFirstFrame { len: 40 }));
    assert_eq!(
        ev_b[1],
        (
            ms(1008),
            ChannelEvent::ReceiveFailed(ReceiveFailure::TimeoutCr {
                received: 20,
                expected: 40
            })
        )
    );
    assert_eq!(ev_b.len(), 2);
    // The sender does not know (BS 0): it finished.
    assert!(matches!(
        l.events(Side::A).last(),
        Some((_, ChannelEvent::Sent { len: 40 }))
    ));
}

fn fc(id: u16, bytes: &[u8]) -> Frame {
    Frame::classic(sid(id), bytes).unwrap()
}

#[test]
fn test_wrong_sequence_number_aborts_reception() {
    let mut ch = Channel::new(Config::new(sid(0x765), sid(0x745))).unwrap();
    let t = Timestamp::ZERO;
    ch.handle_frame(t, &fc(0x745, &[0x10, 0x14, 1, 2, 3, 4, 5, 6]));
    assert_eq!(
        ch.poll_event(),
        Some(ChannelEvent::RxFirstFrame { len: 20 })
    );
    assert_eq!(ch.poll_transmit(t).unwrap().to_string(), "765#300000");
    ch.handle_frame(ms(1), &fc(0x745, &[0x21, 7, 8, 9, 10, 11, 12, 13]));
    ch.handle_frame(ms(2), &fc(0x745, &[0x23, 14, 15, 16, 17, 18, 19, 20]));
    assert_eq!(
        ch.poll_event(),
        Some(ChannelEvent::ReceiveFailed(
            ReceiveFailure::WrongSequenceNumber {
                expected: 2,
                got: 3
            }
        ))
    );
    assert!(!ch.is_receiving());
    assert_eq!(ch.poll_timeout(), None);
    // A late CF is now unexpected and ignored.
    ch.handle_frame(ms(3), &fc(0x745, &[0x22, 14, 15, 16, 17, 18, 19, 20]));
    assert_eq!(
        ch.poll_event(),
        Some(ChannelEvent::Ignored(IgnoreReason::UnexpectedPdu(
            PduKind::Consecutive
        )))
    );
}

#[test]
fn test_sequence_number_wraps_after_15() {
    // 7 + 20 * 7 bytes: SN runs 1..F, 0, 1, ...
    let a = Config::new(sid(1), sid(2));
    let mut l = link(a.clone(), mirror(&a), Duration::ZERO, Loss::None);
    let data = payload(6 + 20 * 7);
    l.a.send(Timestamp::ZERO, &data).unwrap();
    l.run_for(Duration::from_secs(1));
    let sns: Vec<u8> = transmitted(&l, Side::A)[1..]
        .iter()
        .map(|(_, f)| f.data()[0])
        .collect();
    let want: Vec<u8> = (1..=20u8).map(|i| 0x20 | (i & 0x0F)).collect();
    assert_eq!(sns, want);
    assert_eq!(received(&l, Side::B), [data]);
}

#[test]
fn test_new_first_frame_interrupts_reception() {
    let mut ch = Channel::new(Config::new(sid(0x765), sid(0x745))).unwrap();
    let t = Timestamp::ZERO;
    ch.handle_frame(t, &fc(0x745, &[0x10, 0x14, 1, 2, 3, 4, 5, 6]));
    ch.handle_frame(t, &fc(0x745, &[0x21, 7, 8, 9, 10, 11, 12, 13]));
    ch.handle_frame(t, &fc(0x745, &[0x03, 0x22, 0xF1, 0x90]));
    let ev: Vec<ChannelEvent> = std::iter::from_fn(|| ch.poll_event()).collect();
    assert_eq!(
        ev,
        [
            ChannelEvent::RxFirstFrame { len: 20 },
            ChannelEvent::ReceiveFailed(ReceiveFailure::Interrupted {
                received: 13,
                expected: 20
            }),
            ChannelEvent::Received(vec![0x22, 0xF1, 0x90]),
        ]
    );
}

#[test]
fn test_wait_frames_restart_bs_and_limit() {
    let mut cfg = Config::new(sid(0x745), sid(0x765));
    cfg.max_wait_frames = 2;
    let mut ch = Channel::new(cfg).unwrap();
    ch.send(ms(0), &payload(30)).unwrap();
    assert!(ch.poll_transmit(ms(0)).is_some());
    assert_eq!(ch.poll_timeout(), Some(ms(1000)));
    ch.handle_frame(ms(500), &fc(0x765, &[0x31, 0, 0]));
    assert_eq!(ch.poll_timeout(), Some(ms(1500)), "WAIT restarts N_Bs");
    ch.handle_timeout(ms(1200));
    assert_eq!(ch.poll_event(), None);
    ch.handle_frame(ms(1400), &fc(0x765, &[0x31, 0, 0]));
    assert_eq!(ch.poll_timeout(), Some(ms(2400)));
    assert!(ch.poll_transmit(ms(1400)).is_none(), "no CF while waiting");
    ch.handle_frame(ms(2000), &fc(0x765, &[0x31, 0, 0]));
    assert_eq!(
        ch.poll_event(),
        Some(ChannelEvent::SendFailed(SendFailure::WaitLimit(2)))
    );
    assert!(!ch.is_sending());

    // WAIT then CTS goes on.
    let mut ch = Channel::new(Config::new(sid(0x745), sid(0x765))).unwrap();
    ch.send(ms(0), &payload(10)).unwrap();
    assert!(ch.poll_transmit(ms(0)).is_some());
    ch.handle_frame(ms(1), &fc(0x765, &[0x31, 0, 0]));
    ch.handle_frame(ms(2), &fc(0x765, &[0x30, 0, 0]));
    let cf = ch.poll_transmit(ms(2)).unwrap();
    assert_eq!(cf.data()[0], 0x21);
    assert_eq!(ch.poll_event(), Some(ChannelEvent::Sent { len: 10 }));
}

#[test]
fn test_overflow_both_sides() {
    let a = Config::new(sid(0x745), sid(0x765));
    let mut b = mirror(&a);
    b.max_rx_size = 100;
    b.padding = Some(0x00);
    let mut l = link(a, b, Duration::ZERO, Loss::None);
    l.a.send(Timestamp::ZERO, &payload(200)).unwrap();
    l.run_for(Duration::from_secs(5));
    assert_eq!(
        transmitted(&l, Side::B)[0].1.to_string(),
        "765#3200000000000000"
    );
    assert_eq!(
        l.events(Side::A),
        [(
            Timestamp::ZERO,
            ChannelEvent::SendFailed(SendFailure::Overflow)
        )]
    );
    assert_eq!(
        l.events(Side::B),
        [(
            Timestamp::ZERO,
            ChannelEvent::ReceiveFailed(ReceiveFailure::TooLarge { len: 200, max: 100 })
        )]
    );
    // The sender can send again at once.
    l.a.send(l.now(), &payload(50)).unwrap();
    l.run_for(Duration::from_secs(5));
    assert_eq!(received(&l, Side::B), [payload(50)]);
}

#[test]
fn test_reserved_flow_status_aborts_send() {
    let mut ch = Channel::new(Config::new(sid(0x745), sid(0x765))).unwrap();
    ch.send(ms(0), &payload(30)).unwrap();
    assert!(ch.poll_transmit(ms(0)).is_some());
    ch.handle_frame(ms(1), &fc(0x765, &[0x35, 0, 0]));
    // Reserved FS is a malformed N_PDU: ignored, then N_Bs expires.
    assert!(matches!(ch.poll_event(), Some(ChannelEvent::Ignored(_))));
    ch.handle_timeout(ms(1000));
    assert_eq!(
        ch.poll_event(),
        Some(ChannelEvent::SendFailed(SendFailure::TimeoutBs))
    );
}

#[test]
fn test_short_consecutive_frame_is_invalid_length() {
    let mut ch = Channel::new(Config::new(sid(0x765), sid(0x745))).unwrap();
    ch.handle_frame(ms(0), &fc(0x745, &[0x10, 0x14, 1, 2, 3, 4, 5, 6]));
    let _ = ch.poll_transmit(ms(0));
    ch.handle_frame(ms(1), &fc(0x745, &[0x21, 7, 8, 9]));
    let ev: Vec<ChannelEvent> = std::iter::from_fn(|| ch.poll_event()).collect();
    assert_eq!(
        ev.last(),
        Some(&ChannelEvent::ReceiveFailed(
            ReceiveFailure::InvalidLength {
                expected: 7,
                got: 3
            }
        ))
    );
    // A first frame with FF_DL that would fit a single frame is ignored.
    ch.handle_frame(ms(2), &fc(0x745, &[0x10, 0x07, 1, 2, 3, 4, 5, 6]));
    assert!(matches!(
        ch.poll_event(),
        Some(ChannelEvent::Ignored(IgnoreReason::InvalidFirstFrame {
            ff_dl: 7,
            ..
        }))
    ));
}

#[test]
fn test_timeout_as_and_ar_with_confirmations() {
    let mut cfg = Config::new(sid(0x745), sid(0x765));
    cfg.tx_confirmations = true;
    let mut ch = Channel::new(cfg.clone()).unwrap();
    ch.send(ms(0), &payload(30)).unwrap();
    assert!(ch.poll_transmit(ms(0)).is_some());
    assert!(
        ch.poll_transmit(ms(0)).is_none(),
        "one frame in flight at a time"
    );
    assert_eq!(ch.poll_timeout(), Some(ms(1000)));
    ch.handle_timeout(ms(999));
    assert_eq!(ch.poll_event(), None);
    ch.handle_timeout(ms(1000));
    assert_eq!(
        ch.poll_event(),
        Some(ChannelEvent::SendFailed(SendFailure::TimeoutAs))
    );

    // Confirmed: N_Bs starts at the confirmation, not at poll_transmit.
    ch.send(ms(2000), &payload(30)).unwrap();
    let ff = ch.poll_transmit(ms(2000)).unwrap();
    ch.on_transmitted(
        ms(2100),
        &Frame::classic(sid(0x745), &[0x02, 0, 0]).unwrap(),
    );
    assert_eq!(
        ch.poll_timeout(),
        Some(ms(3000)),
        "another frame confirms nothing"
    );
    ch.on_transmitted(ms(2300), &ff);
    assert_eq!(ch.poll_timeout(), Some(ms(3300)));
    // The FC arrives, the first CF goes out; a late duplicate echo of the FF changes nothing.
    ch.handle_frame(ms(2400), &fc(0x765, &[0x30, 0, 0]));
    let cf = ch.poll_transmit(ms(2400)).unwrap();
    ch.on_transmitted(ms(2401), &ff);
    assert_eq!(ch.poll_timeout(), Some(ms(3400)), "CF still in flight");
    ch.on_transmitted(ms(2402), &cf);
    assert_eq!(
        ch.poll_timeout(),
        Some(ms(2402)),
        "next CF due now (STmin 0)"
    );

    // Receive side: our FC is never confirmed.
    let mut rx = Channel::new(mirror(&cfg)).unwrap();
    rx.handle_frame(ms(0), &fc(0x745, &[0x10, 0x14, 1, 2, 3, 4, 5, 6]));
    assert!(rx.poll_transmit(ms(0)).is_some());
    rx.handle_timeout(ms(1000));
    let ev: Vec<ChannelEvent> = std::iter::from_fn(|| rx.poll_event()).collect();
    assert_eq!(
        ev,
        [
            ChannelEvent::RxFirstFrame { len: 20 },
            ChannelEvent::ReceiveFailed(ReceiveFailure::TimeoutAr)
        ]
    );
}

#[test]
fn test_all_classic_sizes_roundtrip() {
    let a = Config::new(sid(0x745), sid(0x765));
    let mut l = link(a.clone(), mirror(&a), Duration::ZERO, Loss::None);
    for n in 1..=4095usize {
        let data = payload(n);
        l.clear_trace();
        l.a.send(l.now(), &data).unwrap();
        l.run_for(Duration::from_secs(10));
        assert_eq!(received(&l, Side::B), [data], "size {n}");
        assert!(!l.a.is_sending(), "size {n}");
    }
}

#[test]
fn test_lossy_link_recovers_for_next_message() {
    // 5% loss: transfers fail with timeouts, but the channels always come back to idle and
    // every message that is reported received is intact.
    let a = Config::new(sid(0x745), sid(0x765));
    let mut l = link(
        a.clone(),
        mirror(&a),
        Duration::from_micros(300),
        Loss::Random {
            per_mille: 50,
            seed: 42,
        },
    );
    let mut ok = 0;
    for i in 0..100usize {
        let data = payload(1 + i * 13);
        l.clear_trace();
        l.a.send(l.now(), &data).unwrap();
        l.run_for(Duration::from_secs(20));
        assert!(!l.a.is_sending() && !l.b.is_receiving(), "message {i}");
        for d in received(&l, Side::B) {
            assert_eq!(d, data);
            ok += 1;
        }
    }
    assert!(ok > 10 && ok < 100, "{ok} delivered of 100");
}

#[derive(Debug, Clone)]
struct Case {
    a: Config,
    b: Config,
    size: usize,
    delay_us: u64,
}

fn arb_case() -> impl Strategy<Value = Case> {
    let fmt = prop_oneof![
        Just(FrameFormat::Classic),
        (
            prop::sample::select(vec![8u8, 12, 16, 20, 24, 32, 48, 64]),
            any::<bool>()
        )
            .prop_map(|(tx_dl, brs)| FrameFormat::Fd { tx_dl, brs }),
    ];
    let st = prop_oneof![
        (0u8..=3).prop_map(StMin::from_raw),
        (0xF1u8..=0xF9).prop_map(StMin::from_raw),
        Just(StMin::from_raw(0x80)),
    ];
    (
        fmt,
        prop::option::of(any::<u8>()),
        prop::option::of(any::<u8>()),
        0u8..=20,
        st,
        any::<bool>(),
        any::<bool>(),
        prop::option::of((any::<u8>(), any::<u8>())),
        (0u64..2000, any::<bool>()),
        any::<u16>(),
        1usize..=20000,
    )
        .prop_map(
            |(format, pad_a, pad_b, bs, st, ext_ids, confirm, ext, (delay_us, ovr), seed, size)| {
                let (ta, ra) = if ext_ids {
                    (
                        Id::extended(0x18DA_00F1 | (u32::from(seed) << 8) & 0xFF00).unwrap(),
                        Id::extended(0x18DA_F100).unwrap(),
                    )
                } else {
                    (sid(0x700 | (seed & 0x7F)), sid(0x780))
                };
                let mut a = Config::new(ta, ra);
                a.format = format;
                a.padding = pad_a;
                a.tx_confirmations = confirm;
                a.max_rx_size = 20000;
                if let Some((x, y)) = ext {
                    a.addressing = Addressing::Extended {
                        tx_addr: x,
                        rx_addr: y,
                    };
                }
                if ovr {
                    a.tx_st_min_override = Some(Duration::from_micros(u64::from(seed % 3000)));
                }
                let mut b = mirror(&a);
                b.padding = pad_b;
                b.block_size = bs;
                b.st_min = st;
                b.tx_st_min_override = None;
                let size = if format == FrameFormat::Classic {
                    1 + (size - 1) % 4095
                } else {
                    size
                };
                Case {
                    a,
                    b,
                    size,
                    delay_us,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Segment then reassemble gives the payload, with STmin and BS respected on the clock.
    #[test]
    fn segment_reassemble_roundtrip_with_timing(case in arb_case()) {
        let mut l = link(case.a.clone(), case.b.clone(), Duration::from_micros(case.delay_us), Loss::None);
        l.confirm = case.a.tx_confirmations;
        let data = payload(case.size);
        l.a.send(Timestamp::ZERO, &data).unwrap();
        l.run_for(Duration::from_secs(600));
        prop_assert_eq!(received(&l, Side::B), vec![data.clone()]);
        let ev_a = l.events(Side::A);
        prop_assert_eq!(ev_a.len(), 1);
        prop_assert_eq!(&ev_a[0].1, &ChannelEvent::Sent { len: case.size });

        let st = case.a.tx_st_min_override.unwrap_or_else(|| case.b.st_min.duration());
        let bs = usize::from(case.b.block_size);
        let mut last_cf: Option<Timestamp> = None;
        let mut since_fc = 0usize;
        let mut fcs_seen = 0usize;
        for e in l.trace() {
            match (&e.kind, e.side) {
                (TraceKind::Delivered { frame }, Side::A) => {
                    let pci = frame.data().get(case.a.addressing.overhead()).copied();
                    if pci.map(|p| p >> 4) == Some(3) {
                        since_fc = 0;
                        fcs_seen += 1;
                        last_cf = None;
                    }
                }
                (TraceKind::Transmitted { frame, .. }, Side::A) => {
                    let pci = frame.data().get(case.a.addressing.overhead()).copied().unwrap_or(0);
                    let dl = frame.data().len();
                    prop_assert!(dl <= case.a.tx_dl() || (dl <= 8));
                    if case.a.padding.is_some() {
                        prop_assert!(dl >= 8, "padded frames are at least 8 bytes");
                    }
                    if pci >> 4 == 2 {
                        prop_assert!(fcs_seen > 0, "no CF before the first FC");
                        if let Some(prev) = last_cf {
                            prop_assert!(e.at.saturating_duration_since(prev) >= st,
                                "CF spacing {:?} < STmin {:?}", e.at.saturating_duration_since(prev), st);
                        }
                        last_cf = Some(e.at);
                        since_fc += 1;
                        if bs > 0 {
                            prop_assert!(since_fc <= bs, "{} CFs in a block of {}", since_fc, bs);
                        }
                    }
                }
                (TraceKind::Transmitted { frame, .. }, Side::B) => {
                    if case.b.padding.is_some() {
                        prop_assert!(frame.data().len() >= 8);
                    }
                    // Every FC from B carries B's advertised BS and STmin.
                    let o = case.b.addressing.overhead();
                    prop_assert_eq!(frame.data().get(o).map(|p| p >> 4), Some(3));
                    prop_assert_eq!(frame.data().get(o + 1).copied(), Some(case.b.block_size));
                    prop_assert_eq!(frame.data().get(o + 2).copied(), Some(case.b.st_min.raw()));
                }
                _ => {}
            }
        }
    }

    /// Arbitrary frames, times and calls into a Channel never panic and never wedge it.
    #[test]
    fn channel_never_panics(ops in prop::collection::vec(
        (0u8..6, any::<u8>(), prop::collection::vec(any::<u8>(), 0..=64), 0u64..3_000_000),
        0..200),
        ext in any::<bool>(), fd in any::<bool>(), conf in any::<bool>(), bs in 0u8..4)
    {
        let mut cfg = Config::new(sid(0x10), sid(0x20));
        if ext { cfg.addressing = Addressing::Extended { tx_addr: 1, rx_addr: 2 }; }
        if fd { cfg.format = FrameFormat::Fd { tx_dl: 64, brs: false }; }
        cfg.tx_confirmations = conf;
        cfg.block_size = bs;
        cfg.max_rx_size = 3000;
        let mut ch = Channel::new(cfg).unwrap();
        let mut now = Timestamp::ZERO;
        let mut last: Option<Frame> = None;
        for (op, x, bytes, dt) in ops {
            now += Duration::from_nanos(dt);
            match op {
                0 | 1 => {
                    let mut d = bytes.clone();
                    if ext { d.insert(0, 2); }
                    d.truncate(64);
                    let len = canrelearn::frame::fd_round_up_len(d.len()).unwrap_or(64);
                    d.resize(len, 0);
                    let f = if op == 0 && d.len() <= 8 {
                        Frame::classic(sid(0x20), &d)
                    } else {
                        Frame::fd(sid(0x20), &d, false)
                    };
                    if let Ok(f) = f { ch.handle_frame(now, &f); }
                }
                2 => { let _ = ch.send(now, &bytes); }
                3 => { while let Some(f) = ch.poll_transmit(now) { last = Some(f); } }
                4 => { ch.handle_timeout(now); if let (0, Some(f)) = (x & 1, last) { ch.on_transmitted(now, &f); } }
                _ => { while ch.poll_event().is_some() {} }
            }
            if let Some(t) = ch.poll_timeout() {
                // After every timer has fired, nothing stays overdue.
                if t <= now {
                    ch.handle_timeout(now);
                    while let Some(f) = ch.poll_transmit(now) { last = Some(f); }
                    if let Some(f) = last { ch.on_transmitted(now, &f); }
                    while let Some(f) = ch.poll_transmit(now) { last = Some(f); }
                    prop_assert!(ch.poll_timeout().is_none_or(|t2| t2 > now),
                        "stuck deadline {:?} at {:?}", ch.poll_timeout(), now);
                }
            }
        }
        // Eventually everything ends: far in the future all timers have fired.
        for _ in 0..10_000 {
            let Some(t) = ch.poll_timeout() else { break };
            let t = t.max(now);
            now = t;
            ch.handle_timeout(now);
            if let Some(f) = last { ch.on_transmitted(now, &f); }
            while let Some(f) = ch.poll_transmit(now) { last = Some(f); }
        }
    }
}

#[test]
fn test_first_flow_control_sets_bs_and_stmin_for_the_whole_message() {
    let mut ch = Channel::new(Config::new(sid(0x745), sid(0x765))).unwrap();
    ch.send(ms(0), &payload(6 + 7 * 6)).unwrap();
    assert!(ch.poll_transmit(ms(0)).is_some());
    ch.handle_frame(ms(1), &fc(0x765, &[0x30, 2, 5]));
    assert_eq!(ch.poll_transmit(ms(1)).unwrap().data()[0], 0x21);
    assert!(ch.poll_transmit(ms(5)).is_none(), "STmin 5 ms");
    assert_eq!(ch.poll_timeout(), Some(ms(6)));
    assert_eq!(ch.poll_transmit(ms(6)).unwrap().data()[0], 0x22);
    assert!(ch.poll_transmit(ms(100)).is_none(), "block of 2 done");
    assert_eq!(ch.poll_timeout(), Some(ms(1006)), "N_Bs");
    // A later FC asking for BS 4 and STmin 0 only restarts the block with the first values.
    ch.handle_frame(ms(7), &fc(0x765, &[0x30, 4, 0]));
    assert_eq!(ch.poll_transmit(ms(7)).unwrap().data()[0], 0x23);
    assert!(ch.poll_transmit(ms(11)).is_none());
    assert_eq!(ch.poll_transmit(ms(12)).unwrap().data()[0], 0x24);
    assert!(ch.poll_transmit(ms(100)).is_none(), "block of 2 again");
    // An FC while not waiting for one is ignored.
    let mut idle = Channel::new(Config::new(sid(0x745), sid(0x765))).unwrap();
    idle.handle_frame(ms(0), &fc(0x765, &[0x30, 0, 0]));
    assert_eq!(
        idle.poll_event(),
        Some(ChannelEvent::Ignored(IgnoreReason::UnexpectedPdu(
            PduKind::FlowControl
        )))
    );
}

#[test]
fn test_stmin_microsecond_codes_pace_frames() {
    // B asks for 0xF3 = 300 us; no link delay.
    let a = Config::new(sid(0x745), sid(0x765));
    let mut b = mirror(&a);
    b.st_min = StMin::from_raw(0xF3);
    let mut l = link(a, b, Duration::ZERO, Loss::None);
    l.a.send(Timestamp::ZERO, &payload(6 + 7 * 4)).unwrap();
    l.run_for(Duration::from_secs(1));
    let times: Vec<u64> = transmitted(&l, Side::A)
        .iter()
        .map(|(t, _)| t.as_nanos() / 1000)
        .collect();
    assert_eq!(times, [0, 0, 300, 600, 900]);
}
