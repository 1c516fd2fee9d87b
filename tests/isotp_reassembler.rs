//! The passive ISO-TP reassembler fed with real exchanges from the virtual link, interleaved
//! conversations, and arbitrary garbage.

use std::time::Duration;

use canrelearn::frame::{Frame, Id};
use canrelearn::isotp::virtual_link::{Loss, Side, TraceKind, VirtualLink};
use canrelearn::isotp::{
    Channel, Config, FlowStatus, FrameFormat, IncompleteReason, Observation, ObserverConfig,
    Reassembler,
};
use canrelearn::time::Timestamp;
use proptest::prelude::*;

fn sid(raw: u16) -> Id {
    Id::standard(raw).unwrap()
}

fn payload(n: usize, salt: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31) ^ salt).collect()
}

/// Every frame put on the virtual bus, in order, with its time.
fn bus(l: &VirtualLink) -> Vec<(Timestamp, Frame)> {
    l.trace()
        .iter()
        .filter_map(|e| match &e.kind {
            TraceKind::Transmitted { frame, .. } => Some((e.at, *frame)),
            _ => None,
        })
        .collect()
}

fn pair(tx: u16, rx: u16, format: FrameFormat) -> VirtualLink {
    let mut a = Config::new(sid(tx), sid(rx));
    a.format = format;
    a.max_rx_size = 20_000;
    let mut b = Config::new(sid(rx), sid(tx));
    b.format = format;
    b.block_size = 3;
    b.max_rx_size = 20_000;
    VirtualLink::new(
        Channel::new(a).unwrap(),
        Channel::new(b).unwrap(),
        Duration::from_micros(250),
        Loss::None,
    )
}

#[test]
fn test_observes_request_and_segmented_response() {
    let mut l = pair(0x745, 0x765, FrameFormat::Classic);
    let mut a = l.a.config().clone();
    a.block_size = 3;
    l.a = Channel::new(a).unwrap();
    l.a.send(Timestamp::ZERO, &[0x21, 0x01]).unwrap();
    l.run_for(Duration::from_secs(1));
    let response = payload(100, 0x5A);
    l.b.send(l.now(), &response).unwrap();
    l.run_for(Duration::from_secs(1));
    let frames = bus(&l);
    let mut r = Reassembler::default();
    for (t, f) in &frames {
        r.handle_frame(*t, f);
    }
    let obs: Vec<Observation> = std::iter::from_fn(|| r.poll_event()).collect();
    let msgs: Vec<_> = obs
        .iter()
        .filter_map(|o| match o {
            Observation::Message(m) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(msgs.len(), 2);
    assert_eq!(
        (msgs[0].id, msgs[0].data.as_slice()),
        (sid(0x745), &[0x21, 0x01][..])
    );
    assert_eq!(msgs[1].id, sid(0x765));
    assert_eq!(msgs[1].data, response);
    assert_eq!(msgs[1].frames as usize, 1 + (100 - 6usize).div_ceil(7));
    // First and last frame times are those of the FF and the last CF on the bus.
    let resp_frames: Vec<_> = frames
        .iter()
        .filter(|(_, f)| f.id() == Some(sid(0x765)))
        .collect();
    assert_eq!(msgs[1].first, resp_frames[0].0);
    assert_eq!(msgs[1].last, resp_frames.last().unwrap().0);
    // 14 CFs with BS 3: one FC after the FF and one after each full block but the last.
    let fcs = obs
        .iter()
        .filter(|o| {
            matches!(o, Observation::FlowControl { id, fc, .. }
            if *id == sid(0x745) && fc.status == FlowStatus::ContinueToSend && fc.block_size == 3)
        })
        .count();
    assert_eq!(fcs, 1 + (14 - 1) / 3);
}

#[test]
fn test_interleaved_conversations_on_fd_and_classic() {
    let mut l1 = pair(
        0x700,
        0x708,
        FrameFormat::Fd {
            tx_dl: 32,
            brs: true,
        },
    );
    let mut l2 = pair(0x7E0, 0x7E8, FrameFormat::Classic);
    let m1 = payload(3000, 1);
    let m2 = payload(500, 2);
    l1.a.send(Timestamp::ZERO, &m1).unwrap();
    l2.a.send(Timestamp::ZERO, &m2).unwrap();
    l1.run_for(Duration::from_secs(5));
    l2.run_for(Duration::from_secs(5));
    let mut all = bus(&l1);
    all.extend(bus(&l2));
    all.sort_by_key(|(t, _)| *t); // stable: per-id order is kept
    let mut r = Reassembler::default();
    for (t, f) in &all {
        r.handle_frame(*t, f);
    }
    let mut got: Vec<(Id, Vec<u8>, bool)> = std::iter::from_fn(|| r.poll_event())
        .filter_map(|o| match o {
            Observation::Message(m) => Some((m.id, m.data, m.fd)),
            _ => None,
        })
        .collect();
    got.sort_by_key(|g| g.0);
    assert_eq!(got, [(sid(0x700), m1, true), (sid(0x7E0), m2, false)]);
}

#[test]
fn test_lost_frame_reported_incomplete() {
    let mut l = pair(0x745, 0x765, FrameFormat::Classic);
    l.a.send(Timestamp::ZERO, &payload(60, 3)).unwrap();
    l.run_for(Duration::from_secs(1));
    let mut frames = bus(&l);
    // Drop the third frame on the bus (CF 2) from what the sniffer sees.
    frames.remove(3);
    let mut r = Reassembler::default();
    for (t, f) in &frames {
        r.handle_frame(*t, f);
    }
    let obs: Vec<Observation> = std::iter::from_fn(|| r.poll_event()).collect();
    assert!(
        obs.iter().any(|o| matches!(
            o,
            Observation::Incomplete {
                reason: IncompleteReason::WrongSequenceNumber {
                    expected: 2,
                    got: 3
                },
                received: 13,
                expected: 60,
                ..
            }
        )),
        "{obs:?}"
    );
    assert!(!obs.iter().any(|o| matches!(o, Observation::Message(_))));
}

#[test]
fn test_extended_addressing_keys_by_address() {
    let mut r = Reassembler::new(ObserverConfig {
        extended_addressing: true,
        ..ObserverConfig::default()
    });
    let id = sid(0x6F1);
    let f = |d: &[u8]| Frame::classic(id, d).unwrap();
    r.handle_frame(Timestamp::ZERO, &f(&[0x40, 0x10, 0x08, 1, 2, 3, 4, 5]));
    r.handle_frame(Timestamp::ZERO, &f(&[0x41, 0x10, 0x08, 9, 9, 9, 9, 9]));
    r.handle_frame(Timestamp::ZERO, &f(&[0x40, 0x21, 6, 7, 8]));
    r.handle_frame(Timestamp::ZERO, &f(&[0x41, 0x21, 9, 9, 9]));
    let got: Vec<(Option<u8>, Vec<u8>)> = std::iter::from_fn(|| r.poll_event())
        .filter_map(|o| match o {
            Observation::Message(m) => Some((m.address, m.data)),
            _ => None,
        })
        .collect();
    assert_eq!(
        got,
        [
            (Some(0x40), vec![1, 2, 3, 4, 5, 6, 7, 8]),
            (Some(0x41), vec![9; 8])
        ]
    );
}

fn arb_frame() -> impl Strategy<Value = (u64, Frame)> {
    (
        0u64..5_000_000_000,
        0u16..8,
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..=64),
    )
        .prop_filter_map("valid frame", |(dt, id, fd, data)| {
            let id = sid(0x700 + id);
            let f = if fd {
                let len = canrelearn::frame::fd_round_up_len(data.len())?;
                let mut d = data;
                d.resize(len, 0xCC);
                Frame::fd(id, &d, false).ok()?
            } else {
                Frame::classic(id, data.get(..data.len().min(8))?).ok()?
            };
            Some((dt / 1000, f))
        })
}

proptest! {
    /// Arbitrary frames never panic the reassembler, and its memory stays bounded.
    #[test]
    fn reassembler_never_panics(frames in prop::collection::vec(arb_frame(), 0..300),
                                ext in any::<bool>(), max_partials in 0usize..4) {
        let mut r = Reassembler::new(ObserverConfig {
            extended_addressing: ext,
            max_partials,
            max_message_size: 300,
            timeout: Duration::from_millis(500),
        });
        let mut now = Timestamp::ZERO;
        for (dt, f) in frames {
            now += Duration::from_micros(dt);
            r.handle_frame(now, &f);
            prop_assert!(r.partial_count() <= max_partials);
            while let Some(o) = r.poll_event() {
                if let Observation::Message(m) = o {
                    prop_assert!(m.data.len() <= 300);
                    prop_assert!(m.first <= m.last);
                }
            }
        }
        r.flush();
        prop_assert_eq!(r.partial_count(), 0);
    }

    /// Whatever one side sends, the sniffer sees exactly that message.
    #[test]
    fn reassembler_matches_channel(size in 1usize..5000, fd in any::<bool>(), bs in 0u8..5) {
        let format = if fd { FrameFormat::Fd { tx_dl: 64, brs: false } } else { FrameFormat::Classic };
        let mut l = pair(0x745, 0x765, format);
        let mut b = l.b.config().clone();
        b.block_size = bs;
        l.b = Channel::new(b).unwrap();
        let data = payload(size, 7);
        l.a.send(Timestamp::ZERO, &data).unwrap();
        l.run_for(Duration::from_secs(60));
        prop_assert!(l.events(Side::B).iter().any(|(_, e)| *e == canrelearn::isotp::ChannelEvent::Received(data.clone())));
        let mut r = Reassembler::default();
        for (t, f) in bus(&l) {
            r.handle_frame(t, &f);
        }
        let msgs: Vec<Vec<u8>> = std::iter::from_fn(|| r.poll_event())
            .filter_map(|o| match o { Observation::Message(m) => Some(m.data), _ => None })
            .collect();
        prop_assert_eq!(msgs, vec![data]);
    }
}
