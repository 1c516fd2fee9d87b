//! The diagnostic session driver (`drive::diag`) on a virtual bus in paused tokio time, against
//! a simulated BCM: the bundled profile's `sim::ecu::EcuServer` behind its own ISO-TP `Channel`,
//! run by a small loop written here (not by the driver under test).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use canrelearn::Timestamp;
use canrelearn::bus::{Bus, Clock, TokioClock, VirtualBus, VirtualEndpoint};
use canrelearn::diag::client::ClientEvent as CEvent;
use canrelearn::diag::{ClientConfig, ClientError, Nrc, RequestOptions, TimeoutReason};
use canrelearn::drive::diag::{DiagError, DiagSession, RequestOutcome, SessionConfig};
use canrelearn::drive::isotp::{FrameDirection, Transcript};
use canrelearn::frame::Id;
use canrelearn::isotp::{self, Channel};
use canrelearn::sim::ecu::EcuServer;
use canrelearn::sim::profile::Profile;

const PROFILE: &str = include_str!("../scripts/simulator/qashqai-j11.toml");

fn sid(raw: u16) -> Id {
    Id::standard(raw).unwrap()
}

/// What the responder saw: requests with their arrival time, and the server's session over time.
#[derive(Debug, Default)]
struct Seen {
    requests: Vec<(Timestamp, Vec<u8>)>,
    sessions: Vec<(Timestamp, u8)>,
}

/// Runs a simulated module (`name` from the bundled profile, with `faults`) on `ep`.
fn spawn_ecu(
    mut ep: VirtualEndpoint,
    clock: Arc<dyn Clock>,
    name: &str,
    faults: &[&str],
) -> Arc<Mutex<Seen>> {
    let profile = Profile::from_toml(PROFILE, "qashqai-j11.toml").unwrap();
    let module = profile.module(name).unwrap().clone();
    let faults: Vec<_> = faults.iter().map(|f| profile.fault(f).unwrap()).collect();
    let mut cfg = isotp::Config::new(
        sid(module.response_id.unwrap() as u16),
        sid(module.request_id.unwrap() as u16),
    );
    cfg.padding = module.padding;
    let mut ch = Channel::new(cfg).unwrap();
    let mut ecu = EcuServer::new(module, &faults);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let out = Arc::clone(&seen);
    tokio::spawn(async move {
        let flags = BTreeSet::new();
        let mut queue: Vec<Vec<u8>> = Vec::new();
        let mut last_session = ecu.session();
        loop {
            let now = clock.now();
            ecu.handle_timeout(now);
            while let Some(r) = ecu.poll_response(now) {
                queue.push(r);
            }
            if !ch.is_sending() && !queue.is_empty() {
                let r = queue.remove(0);
                ch.send(now, &r).unwrap();
            }
            while let Some(f) = ch.poll_transmit(now) {
                ep.send(&f).await.unwrap();
            }
            while let Some(e) = ch.poll_event() {
                if let isotp::ChannelEvent::Received(pdu) = e {
                    out.lock().unwrap().requests.push((now, pdu.clone()));
                    ecu.handle_request(now, &pdu, &flags);
                }
            }
            if ecu.session() != last_session {
                last_session = ecu.session();
                out.lock().unwrap().sessions.push((now, last_session));
            }
            while ecu.poll_event().is_some() {}
            let wake = [ch.poll_timeout(), ecu.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            // Re-check at once when a response is queued and the channel just freed up.
            let busy_wait = !queue.is_empty() && !ch.is_sending();
            let sleep = if busy_wait {
                Duration::ZERO
            } else {
                wake.map_or(Duration::from_secs(3600), |w| {
                    w.saturating_duration_since(now)
                })
            };
            tokio::select! {
                r = ep.recv() => {
                    let r = r.unwrap();
                    ch.handle_frame(r.timestamp, &r.frame);
                }
                () = tokio::time::sleep(sleep) => {
                    ch.handle_timeout(clock.now());
                }
            }
        }
    });
    seen
}

struct Rig {
    session: DiagSession<VirtualEndpoint>,
    seen: Arc<Mutex<Seen>>,
    transcript: Transcript,
}

fn rig(faults: &[&str], tweak: impl FnOnce(&mut SessionConfig)) -> Rig {
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::new(Timestamp::ZERO));
    let bus = VirtualBus::with_clock("sim", 4096, Arc::clone(&clock));
    let seen = spawn_ecu(bus.endpoint(), Arc::clone(&clock), "BCM", faults);
    let mut iso = isotp::Config::new(sid(0x745), sid(0x765));
    iso.padding = Some(0xFF);
    let mut cfg = SessionConfig::new(iso, ClientConfig::kwp2000());
    tweak(&mut cfg);
    let mut session = DiagSession::new(bus.endpoint(), cfg, clock).unwrap();
    let transcript = Transcript::new();
    session.set_observer(Some(transcript.observer()));
    Rig {
        session,
        seen,
        transcript,
    }
}

fn req() -> RequestOptions {
    RequestOptions::default()
}

#[tokio::test(start_paused = true)]
async fn test_positive_negative_and_multi_frame_response() {
    let mut r = rig(&[], |_| {});
    let reply = r.session.request(&[0x1A, 0x81], req()).await.unwrap();
    // The identification answer is 13 bytes: a multi-frame response.
    let RequestOutcome::Positive { pdu, elapsed } = &reply.outcome else {
        panic!("{reply:?}")
    };
    assert_eq!(pdu[..2], [0x5A, 0x81]);
    assert_eq!(&pdu[2..], b"284B2-4EA0A");
    assert!(*elapsed >= Duration::from_millis(15));
    // $21 in the default session: NRC 0x80.
    let reply = r.session.request(&[0x21, 0x83], req()).await.unwrap();
    let RequestOutcome::Negative { sid, nrc, pdu, .. } = &reply.outcome else {
        panic!("{reply:?}")
    };
    assert_eq!(
        (*sid, *nrc, &pdu[..]),
        (0x21, Nrc(0x80), &[0x7F, 0x21, 0x80][..])
    );
    let frames = r.transcript.frames();
    // 1A 81 (SF), FF + FC + 1 CF for the response, 21 83 (SF), 7F 21 80 (SF).
    let sent: Vec<_> = frames
        .iter()
        .filter(|f| f.direction == FrameDirection::Sent)
        .map(|f| f.frame.data().to_vec())
        .collect();
    assert_eq!(
        sent,
        [
            vec![0x02, 0x1A, 0x81, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
            vec![0x30, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
            vec![0x02, 0x21, 0x83, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
        ]
    );
    assert_eq!(frames.len(), 6);
}

#[tokio::test(start_paused = true)]
async fn test_multi_frame_request_is_delivered() {
    let mut r = rig(&[], |_| {});
    r.session.request(&[0x10, 0xC0], req()).await.unwrap();
    // A 3B write of 20 bytes to an unknown local id: goes out in 3 frames, answered 7F 3B 31.
    let mut pdu = vec![0x3B, 0x55];
    pdu.extend(0..20u8);
    let reply = r.session.request(&pdu, req()).await.unwrap();
    assert_eq!(reply.outcome.pdu(), Some(&[0x7F, 0x3B, 0x31][..]));
    let seen = r.seen.lock().unwrap();
    assert_eq!(seen.requests.last().unwrap().1, pdu);
}

#[tokio::test(start_paused = true)]
async fn test_silent_module_times_out_after_p2() {
    let mut r = rig(&["bcm-silent"], |_| {});
    let start = r.session.now();
    let reply = r.session.request(&[0x1A, 0x81], req()).await.unwrap();
    assert_eq!(
        reply.outcome,
        RequestOutcome::Timeout {
            waited: Duration::from_secs(1),
            reason: TimeoutReason::P2,
            pending_count: 0
        }
    );
    assert_eq!(r.session.now(), start + Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn test_slow_responses_survive_six_seconds_of_pending() {
    let mut r = rig(&["slow-responses"], |_| {});
    let reply = r.session.request(&[0x10, 0xC0], req()).await.unwrap();
    let RequestOutcome::Positive { pdu, elapsed } = &reply.outcome else {
        panic!("{reply:?}")
    };
    assert_eq!(pdu, &[0x50, 0xC0]);
    assert!(*elapsed > Duration::from_secs(5), "{elapsed:?}");
    assert_eq!(reply.pending_count(), 20);
    assert!(reply.events.contains(&CEvent::SessionChanged {
        session: 0xC0,
        is_default: false
    }));
}

#[tokio::test(start_paused = true)]
async fn test_keep_alive_holds_the_session_and_close_returns_to_default() {
    let mut r = rig(&[], |_| {});
    let reply = r.session.request(&[0x10, 0xC0], req()).await.unwrap();
    assert!(reply.outcome.is_positive());
    let opened = r.session.now();
    r.session.idle_for(Duration::from_secs(12)).await.unwrap();
    // Still in 0xC0: $21 83 (needs 0xC0) is answered.
    let reply = r.session.request(&[0x21, 0x83], req()).await.unwrap();
    assert_eq!(&reply.outcome.pdu().unwrap()[..2], &[0x61, 0x83]);
    let keep_alives: Vec<Timestamp> = r
        .seen
        .lock()
        .unwrap()
        .requests
        .iter()
        .filter(|(_, p)| p == &[0x3E, 0x80])
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(keep_alives.len(), 6, "{keep_alives:?}");
    // Every 2 s after the last activity.
    let mut prev = opened;
    for t in &keep_alives {
        let gap = t.saturating_duration_since(prev);
        assert!(
            gap >= Duration::from_secs(2) && gap < Duration::from_millis(2100),
            "{gap:?}"
        );
        prev = *t;
    }
    assert!(
        r.session
            .take_background_events()
            .iter()
            .filter(|e| **e == CEvent::KeepAliveSent)
            .count()
            == 6
    );
    let close = r.session.close().await.unwrap().unwrap();
    assert_eq!(close.outcome.pdu(), Some(&[0x50, 0x81][..]));
    let count = {
        let seen = r.seen.lock().unwrap();
        assert_eq!(seen.requests.last().unwrap().1, [0x10, 0x81]);
        assert_eq!(
            seen.sessions.iter().map(|s| s.1).collect::<Vec<_>>(),
            [0xC0, 0x81]
        );
        seen.requests.len()
    };
    // Closed: no more requests, no more keep-alives.
    assert!(matches!(
        r.session.request(&[0x1A, 0x81], req()).await,
        Err(DiagError::Client(ClientError::Closed))
    ));
    r.session.idle_for(Duration::from_secs(10)).await.unwrap();
    assert_eq!(r.seen.lock().unwrap().requests.len(), count);
}

#[tokio::test(start_paused = true)]
async fn test_without_keep_alive_the_module_drops_to_default_after_s3() {
    let mut r = rig(&[], |c| c.client.keep_alive = None);
    r.session.request(&[0x10, 0xC0], req()).await.unwrap();
    r.session.idle_for(Duration::from_secs(6)).await.unwrap();
    let reply = r.session.request(&[0x21, 0x83], req()).await.unwrap();
    assert_eq!(reply.outcome.pdu(), Some(&[0x7F, 0x21, 0x80][..]));
    let seen = r.seen.lock().unwrap();
    assert_eq!(
        seen.sessions.iter().map(|s| s.1).collect::<Vec<_>>(),
        [0xC0, 0x81]
    );
    assert!(!seen.requests.iter().any(|(_, p)| p == &[0x3E, 0x80]));
}

#[tokio::test(start_paused = true)]
async fn test_no_response_request_is_on_the_bus_when_it_returns() {
    let mut r = rig(&[], |_| {});
    let reply = r
        .session
        .request(&[0x3E, 0x80], RequestOptions::no_response())
        .await
        .unwrap();
    assert_eq!(reply.outcome, RequestOutcome::SentNoResponse);
    let frames = r.transcript.frames();
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].frame.data()[..3], [0x02, 0x3E, 0x80]);
}

#[tokio::test(start_paused = true)]
async fn test_close_in_default_session_sends_nothing() {
    let mut r = rig(&[], |_| {});
    assert_eq!(r.session.close().await.unwrap(), None);
    assert!(r.transcript.frames().is_empty());
}

/// `diag scan`'s driver against the simulated BCM: the probes go to every pair in turn, the
/// BCM answers one of them, a silent pair costs only its timeouts, and the bus comes back.
#[tokio::test(start_paused = true)]
async fn test_scan_finds_the_simulated_bcm_and_only_it() {
    use canrelearn::diag::scan::PROBES;
    use canrelearn::drive::diag::{Found, scan};
    use std::ops::ControlFlow;

    let clock: Arc<dyn Clock> = Arc::new(TokioClock::new(Timestamp::ZERO));
    let bus = VirtualBus::with_clock("sim", 4096, Arc::clone(&clock));
    let seen = spawn_ecu(bus.endpoint(), Arc::clone(&clock), "BCM", &[]);
    let pairs = [
        (sid(0x744), sid(0x764)),
        (sid(0x745), sid(0x765)),
        (sid(0x746), sid(0x766)),
    ];
    let config = |tx, rx| {
        let mut iso = isotp::Config::new(tx, rx);
        iso.padding = Some(0xFF);
        let mut cfg = SessionConfig::new(iso, ClientConfig::kwp2000());
        cfg.client.keep_alive = None;
        cfg.client.p2_timeout = Duration::from_millis(150);
        cfg
    };
    let mut found: Vec<Found> = Vec::new();
    let bus = scan(bus.endpoint(), &pairs, PROBES, config, clock, |m| {
        found.push(m.clone());
        ControlFlow::Continue(())
    })
    .await
    .unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].request, found[0].response), pairs[1]);
    assert!(found[0].outcome.pdu().is_some());
    assert_eq!(
        found[0].probe, PROBES[0],
        "the first probe already draws an answer"
    );
    let requests = seen.lock().unwrap().requests.len();
    assert_eq!(requests, 1, "the BCM was asked once");
    drop(bus);
}
