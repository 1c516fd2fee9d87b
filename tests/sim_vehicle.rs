//! The simulated J11 (bundled profile and DBC) on a virtual clock, driven by a tester-side
//! ISO-TP channel on the same time line: periodic frames decoded with the DBC, signal
//! behaviours, every fault of the profile, and both registration routines end to end.

use std::collections::BTreeMap;
use std::time::Duration;

use canrelearn::Timestamp;
use canrelearn::dbc::{Database, Decoded};
use canrelearn::frame::{Frame, Id};
use canrelearn::isotp::{self, Channel, Config, SendFailure};
use canrelearn::sim::profile::Profile;
use canrelearn::sim::vehicle::{EventKind, Vehicle, VehicleEvent};

const PROFILE: &str = include_str!("../scripts/simulator/qashqai-j11.toml");
const DBC: &str = include_str!("../dbc/nissan_qashqai_j11.dbc");

fn ms(v: u64) -> Timestamp {
    Timestamp::from_nanos(v * 1_000_000)
}
fn sid(raw: u16) -> Id {
    Id::standard(raw).unwrap()
}

fn db() -> Database {
    Database::from_str_named(DBC, "j11.dbc").unwrap()
}

/// The vehicle, one tester channel, and everything that happened, on one virtual time line.
struct Rig {
    v: Vehicle,
    db: Database,
    tester: Channel,
    now: Timestamp,
    /// Every frame the vehicle sent, with its time.
    bus: Vec<(Timestamp, Frame)>,
    events: Vec<VehicleEvent>,
    /// Complete responses the tester received.
    answers: Vec<(Timestamp, Vec<u8>)>,
    tester_events: Vec<(Timestamp, isotp::ChannelEvent)>,
}

impl Rig {
    fn new(faults: &[&str], request: u16, response: u16) -> Rig {
        let p = Profile::from_toml(PROFILE, "j11").unwrap();
        let db = db();
        let v = Vehicle::new(&p, &db, faults).unwrap();
        let mut cfg = Config::new(sid(request), sid(response));
        cfg.padding = Some(0xFF);
        Rig {
            v,
            db,
            tester: Channel::new(cfg).unwrap(),
            now: Timestamp::ZERO,
            bus: Vec::new(),
            events: Vec::new(),
            answers: Vec::new(),
            tester_events: Vec::new(),
        }
    }

    fn bcm(faults: &[&str]) -> Rig {
        Rig::new(faults, 0x745, 0x765)
    }

    /// Runs until `end`, or until `stop` holds after a step.
    fn run_while(&mut self, end: Timestamp, stop: impl Fn(&Rig) -> bool) {
        let mut idle_at_same_time = 0;
        loop {
            let mut any = false;
            let now = self.now;
            while let Some(f) = self.tester.poll_transmit(now) {
                any = true;
                self.v.handle_frame(now, &f);
            }
            while let Some(ev) = self.tester.poll_event() {
                if let isotp::ChannelEvent::Received(d) = &ev {
                    self.answers.push((now, d.clone()));
                }
                self.tester_events.push((now, ev));
            }
            self.v.handle_timeout(now);
            while let Some(f) = self.v.poll_transmit(now) {
                any = true;
                self.bus.push((now, f));
                self.tester.handle_frame(now, &f);
            }
            while let Some(ev) = self.v.poll_event() {
                self.events.push(ev);
            }
            if stop(self) {
                return;
            }
            if any {
                continue;
            }
            let next = [self.v.poll_timeout(), self.tester.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    if t <= self.now {
                        idle_at_same_time += 1;
                        assert!(idle_at_same_time < 100, "stuck at {}", self.now);
                    } else {
                        idle_at_same_time = 0;
                    }
                    self.now = self.now.max(t);
                    self.tester.handle_timeout(self.now);
                }
                _ => {
                    self.now = self.now.max(end);
                    return;
                }
            }
        }
    }

    fn run_until(&mut self, end: Timestamp) {
        self.run_while(end, |_| false);
    }

    fn run_for(&mut self, d: Duration) {
        self.run_until(self.now + d);
    }

    /// Sends `req` and returns the answers up to the first final one (0x78 included), waiting
    /// at most 10 s.
    fn ask(&mut self, req: &[u8]) -> Vec<Vec<u8>> {
        let first = self.answers.len();
        self.tester.send(self.now, req).unwrap();
        let end = self.now + Duration::from_secs(10);
        self.run_while(end, |r| {
            r.answers[first..]
                .last()
                .is_some_and(|(_, a)| !(a.len() == 3 && a[0] == 0x7F && a[2] == 0x78))
        });
        self.answers[first..]
            .iter()
            .map(|(_, a)| a.clone())
            .collect()
    }

    /// `ask` expecting exactly one answer.
    fn ask1(&mut self, req: &[u8]) -> Vec<u8> {
        let a = self.ask(req);
        assert_eq!(a.len(), 1, "answers to {req:02X?}: {a:02X?}");
        a.into_iter().next().unwrap()
    }

    /// Sends a request that gets no answer (`3E 80`) and lets it go out.
    fn tell(&mut self, req: &[u8]) {
        self.tester.send(self.now, req).unwrap();
        let end = self.now + Duration::from_millis(100);
        self.run_while(end, |r| !r.tester.is_sending());
    }

    fn frames_of(&self, id: u16, from: Timestamp, to: Timestamp) -> Vec<(Timestamp, Frame)> {
        self.bus
            .iter()
            .filter(|(t, f)| f.id() == Some(sid(id)) && *t >= from && *t < to)
            .cloned()
            .collect()
    }

    /// The physical value of `message.signal` in `frame`.
    fn signal(&self, frame: &Frame, message: &str, signal: &str) -> f64 {
        let m = self.db.message_by_name(message).unwrap();
        let (i, _) = m.signal_by_name(signal).unwrap();
        let mut d = Decoded::new();
        m.decode_into(frame.data(), &mut d).unwrap();
        d.signals()
            .iter()
            .find(|s| s.index == i)
            .unwrap()
            .physical
            .as_f64()
    }

    fn event_kinds(&self) -> Vec<&EventKind> {
        self.events.iter().map(|e| &e.kind).collect()
    }
}

const AV_IDS: [u16; 3] = [0x35D, 0x540, 0x541];

#[test]
fn test_every_node_sends_its_messages_at_their_cycle_times_with_the_profile_values() {
    let mut r = Rig::bcm(&[]);
    r.run_until(ms(2000));
    let mut by_id: BTreeMap<u16, Vec<Timestamp>> = BTreeMap::new();
    for (t, f) in &r.bus {
        by_id
            .entry(f.id().unwrap().raw() as u16)
            .or_default()
            .push(*t);
    }
    let db = db();
    let mut nodes = std::collections::BTreeSet::new();
    for m in db.messages() {
        let cycle = Duration::from_millis(u64::from(m.cycle_time_ms().unwrap()));
        let times = by_id
            .get(&(m.id().raw() as u16))
            .unwrap_or_else(|| panic!("{} sent", m.name()));
        assert!(
            times.len() as u128 >= 2000 / cycle.as_millis(),
            "{}",
            m.name()
        );
        for w in times.windows(2) {
            assert_eq!(w[1].saturating_duration_since(w[0]), cycle, "{}", m.name());
        }
        nodes.insert(m.transmitter().unwrap().to_string());
    }
    assert_eq!(
        nodes.into_iter().collect::<Vec<_>>(),
        ["ABS", "AV", "BCM", "ECM", "EPS", "IPDM_ER", "METER"]
    );
    // Each message has its own phase: not all first frames at the same instant.
    let firsts: std::collections::BTreeSet<_> = by_id.values().map(|t| t[0]).collect();
    assert!(firsts.len() > 5, "{firsts:?}");
    let (_, body) = &r.frames_of(0x60D, ms(0), ms(2000))[3];
    assert_eq!(r.signal(body, "BODY_STATUS", "IGNITION_STATE"), 3.0);
    assert_eq!(r.signal(body, "BODY_STATUS", "HEADLIGHTS_ON"), 0.0);
    let (_, ipdm) = &r.frames_of(0x625, ms(0), ms(2000))[5];
    assert_eq!(r.signal(ipdm, "IPDM_STATUS", "BATTERY_VOLTAGE"), 12.625);
    assert_eq!(r.signal(ipdm, "IPDM_STATUS", "READY_TO_START"), 3.0);
    let (_, odo) = &r.frames_of(0x5C5, ms(0), ms(2000))[0];
    assert_eq!(r.signal(odo, "METER_ODOMETER", "ODOMETER"), 84213.0);
    let (_, av) = &r.frames_of(0x35D, ms(0), ms(2000))[0];
    assert_eq!(r.signal(av, "AV_STATUS", "IGNITION_ON"), 1.0);
    assert_eq!(r.signal(av, "AV_STATUS", "DASH_POWER"), 3.0);
}

#[test]
fn test_triangle_and_counter_behaviours() {
    let mut r = Rig::bcm(&[]);
    r.run_until(ms(30_000));
    let start = r.v.start().unwrap();
    // STEERING_ANGLE: triangle -30..30 over 8 s.
    let steering = r.frames_of(0x002, ms(0), ms(30_000));
    let mut lo = f64::MAX;
    let mut hi = f64::MIN;
    for (t, f) in &steering {
        let v = r.signal(f, "STEERING_ANGLE", "STEERING_ANGLE");
        let x = (t.saturating_duration_since(start).as_secs_f64() % 8.0) / 8.0;
        let expect = if x < 0.5 {
            -30.0 + 120.0 * x
        } else {
            30.0 - 120.0 * (x - 0.5)
        };
        assert!((v - expect).abs() <= 0.051, "at {t}: {v} vs {expect}");
        lo = lo.min(v);
        hi = hi.max(v);
    }
    assert_eq!((lo, hi), (-30.0, 30.0));
    // STEERING_RATE: counter 0..255 step 3, wrapping 255 -> 0.
    let rates: Vec<f64> = steering
        .iter()
        .map(|(_, f)| r.signal(f, "STEERING_ANGLE", "STEERING_RATE"))
        .collect();
    assert_eq!(&rates[..4], [0.0, 3.0, 6.0, 9.0]);
    assert_eq!(&rates[84..88], [252.0, 255.0, 0.0, 3.0]);
    // ENGINE_COUNTER: 0..255 step 1 every 100 ms frame.
    let counters: Vec<f64> = r
        .frames_of(0x551, ms(0), ms(30_000))
        .iter()
        .map(|(_, f)| r.signal(f, "ENGINE_STATUS", "ENGINE_COUNTER"))
        .collect();
    assert_eq!(counters[0], 0.0);
    assert_eq!(counters[255], 255.0);
    assert_eq!(counters[256], 0.0);
    assert_eq!(counters[257], 1.0);
    // COOLANT_TEMP: triangle 18..24 over 600 s; 18 at the start.
    let (_, first) = &r.frames_of(0x551, ms(0), ms(30_000))[0];
    assert_eq!(r.signal(first, "ENGINE_STATUS", "COOLANT_TEMP"), 18.0);
}

/// The audio unit registration as the bundled script does it: `10 C0`, `31 90`, keep-alive
/// `3E 80` every 2 s, `21 91` polled every 10 s until `61 91 01`.
fn register_audio_unit(r: &mut Rig) {
    assert_eq!(r.ask1(&[0x10, 0xC0]), [0x50, 0xC0]);
    assert_eq!(r.ask1(&[0x21, 0x91]), [0x61, 0x91, 0xFF]);
    assert_eq!(r.ask1(&[0x31, 0x90]), [0x71, 0x90]);
    let mut polls = 0;
    loop {
        for _ in 0..5 {
            r.run_for(Duration::from_secs(2));
            r.tell(&[0x3E, 0x80]);
        }
        polls += 1;
        let status = r.ask1(&[0x21, 0x91]);
        if status == [0x61, 0x91, 0x01] {
            break;
        }
        assert_eq!(status, [0x61, 0x91, 0x00], "running");
        assert!(polls < 20, "the routine never completed");
    }
}

#[test]
fn test_audio_unit_unregistered_until_registration_through_diagnostics() {
    let mut r = Rig::bcm(&["audio-unit-unregistered"]);
    r.run_until(ms(5000));
    assert!(r.v.is_node_silent("AV"));
    for id in AV_IDS {
        assert!(r.frames_of(id, ms(0), ms(5000)).is_empty(), "{id:X} silent");
    }
    assert!(!r.frames_of(0x60D, ms(0), ms(5000)).is_empty(), "BCM sends");
    assert!(matches!(
        r.event_kinds()[0],
        EventKind::FaultApplied { fault, .. } if fault == "audio-unit-unregistered"
    ));
    // U1000 stored while unregistered.
    assert_eq!(
        r.ask1(&[0x18, 0x00, 0xFF, 0x00]),
        [0x58, 0x01, 0xD0, 0x00, 0x20]
    );
    register_audio_unit(&mut r);
    let flag_at = r
        .events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::FlagSet { flag, resumed, .. } if flag == "audio_unit_registered" => {
                assert_eq!(resumed, &["AV".to_string()]);
                Some(e.at)
            }
            _ => None,
        })
        .expect("flag set");
    assert_eq!(flag_at, ms(5000) + Duration::from_millis(15 * 3 + 120_000));
    assert!(r.v.flags().contains("audio_unit_registered"));
    assert!(!r.v.is_node_silent("AV"));
    let lines: Vec<String> = r.events.iter().map(|e| e.kind.to_string()).collect();
    for expected in [
        "BCM: session 0x81 -> 0xC0 (requested)",
        "BCM: routine 0x90 (audio unit registration) started",
        "BCM: routine 0x90 (audio unit registration) completed",
        "flag audio_unit_registered set by BCM: AV resumes sending",
    ] {
        assert!(
            lines.iter().any(|l| l == expected),
            "{expected} in {lines:#?}"
        );
    }
    let resume = r.now;
    r.run_for(Duration::from_secs(1));
    for id in AV_IDS {
        assert!(
            r.frames_of(id, ms(0), flag_at).is_empty(),
            "{id:X} silent before"
        );
        assert!(
            r.frames_of(id, resume, r.now).len() >= 9,
            "{id:X} back after the registration"
        );
    }
    assert_eq!(r.ask1(&[0x18, 0x00, 0xFF, 0x00]), [0x58, 0x00]);
}

#[test]
fn test_registration_without_keep_alive_aborts_on_s3() {
    let mut r = Rig::bcm(&["audio-unit-unregistered"]);
    assert_eq!(r.ask1(&[0x10, 0xC0]), [0x50, 0xC0]);
    assert_eq!(r.ask1(&[0x31, 0x90]), [0x71, 0x90]);
    r.run_for(Duration::from_secs(6));
    assert!(
        r.event_kinds().iter().any(|k| matches!(
            k,
            EventKind::RoutineAborted { module, id: 0x90, reason, .. }
                if module == "BCM" && reason.contains("S3")
        )),
        "{:#?}",
        r.events
    );
    assert_eq!(r.v.session("BCM"), Some(0x81));
    assert_eq!(r.ask1(&[0x21, 0x91]), [0x7F, 0x21, 0x80]);
    r.run_for(Duration::from_secs(130));
    assert!(r.v.is_node_silent("AV"));
    assert!(r.frames_of(0x35D, ms(0), r.now).is_empty());
}

#[test]
fn test_bcm_silent() {
    let mut r = Rig::bcm(&["bcm-silent"]);
    assert!(r.ask(&[0x10, 0xC0]).is_empty(), "no answer");
    r.run_until(ms(12_000));
    assert!(r.frames_of(0x60D, ms(0), r.now).is_empty());
    assert!(r.frames_of(0x358, ms(0), r.now).is_empty());
    assert!(
        !r.frames_of(0x625, ms(0), r.now).is_empty(),
        "IPDM still sends"
    );
    assert!(
        !r.frames_of(0x35D, ms(0), r.now).is_empty(),
        "AV still sends"
    );
    assert!(r.v.is_node_silent("BCM"));
    assert!(r.v.modules().iter().any(|m| m.name == "BCM" && m.silent));
    assert!(r.bus.iter().all(|(_, f)| f.id() != Some(sid(0x765))));
    // The IPDM E/R still answers.
    let mut ipdm = Rig::new(&["bcm-silent"], 0x74D, 0x76D);
    assert_eq!(ipdm.ask1(&[0x10, 0xC0]), [0x50, 0xC0]);
}

#[test]
fn test_drop_flow_control_stalls_multi_frame_requests() {
    let mut r = Rig::bcm(&["drop-flow-control"]);
    // A single-frame request still works, and a multi-frame response still goes out (the
    // tester's flow control is not affected).
    assert_eq!(r.ask1(&[0x10, 0xC0]), [0x50, 0xC0]);
    assert_eq!(r.ask1(&[0x1A, 0x81]), b"\x5A\x81284B2-4EA0A");
    let before = r.answers.len();
    r.tester
        .send(r.now, &[0x3B, 0x83, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
        .unwrap();
    r.run_for(Duration::from_secs(3));
    assert_eq!(r.answers.len(), before, "no answer");
    assert!(
        r.tester_events
            .iter()
            .any(|(_, e)| *e == isotp::ChannelEvent::SendFailed(SendFailure::TimeoutBs)),
        "{:?}",
        r.tester_events
    );
    assert!(
        r.event_kinds()
            .iter()
            .any(|k| matches!(k, EventKind::FlowControlDropped { module } if module == "BCM"))
    );
    // No flow control frame ever left the BCM.
    assert!(
        r.bus
            .iter()
            .all(|(_, f)| f.id() != Some(sid(0x765)) || f.data()[0] >> 4 != 3)
    );
}

#[test]
fn test_multi_frame_request_without_fault_is_answered() {
    let mut r = Rig::bcm(&[]);
    assert_eq!(r.ask1(&[0x10, 0xC0]), [0x50, 0xC0]);
    assert_eq!(
        r.ask1(&[0x3B, 0x83, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),
        [0x7F, 0x3B, 0x22]
    );
}

#[test]
fn test_nrc_conditions_not_correct() {
    let mut r = Rig::bcm(&["nrc-conditions-not-correct"]);
    assert_eq!(r.ask1(&[0x10, 0xC0]), [0x50, 0xC0]);
    assert_eq!(r.ask1(&[0x31, 0x90]), [0x7F, 0x31, 0x22]);
    assert_eq!(r.ask1(&[0x21, 0x91]), [0x61, 0x91, 0xFF], "never started");
    let mut ipdm = Rig::new(&["nrc-conditions-not-correct"], 0x74D, 0x76D);
    assert_eq!(ipdm.ask1(&[0x10, 0xC0]), [0x50, 0xC0]);
    assert_eq!(ipdm.ask1(&[0x31, 0x92, 70, 1]), [0x7F, 0x31, 0x22]);
}

#[test]
fn test_slow_responses() {
    let mut r = Rig::bcm(&["slow-responses"]);
    let t0 = r.now;
    let answers = r.ask(&[0x10, 0xC0]);
    assert_eq!(answers.len(), 21);
    assert!(answers[..20].iter().all(|a| a == &[0x7F, 0x10, 0x78]));
    assert_eq!(answers[20], [0x50, 0xC0]);
    let times: Vec<Timestamp> = r.answers.iter().map(|(t, _)| *t).collect();
    assert_eq!(times[0], t0 + Duration::from_millis(15));
    for w in times.windows(2) {
        assert_eq!(
            w[1].saturating_duration_since(w[0]),
            Duration::from_millis(300)
        );
    }
    assert_eq!(times[20], t0 + Duration::from_millis(6015));
}

#[test]
fn test_reset_mid_session() {
    let mut r = Rig::bcm(&["reset-mid-session"]);
    assert_eq!(r.ask1(&[0x10, 0xC0]), [0x50, 0xC0]);
    assert_eq!(r.ask1(&[0x31, 0x90]), [0x71, 0x90]);
    for _ in 0..14 {
        r.run_for(Duration::from_secs(2));
        r.tell(&[0x3E, 0x80]);
        assert_eq!(r.v.session("BCM"), Some(0xC0), "held by keep-alive");
    }
    assert!(r.now < ms(29_000));
    r.run_until(ms(30_500));
    assert_eq!(r.v.session("BCM"), Some(0x81));
    let kinds = r.event_kinds();
    assert!(kinds.iter().any(|k| matches!(
        k,
        EventKind::SessionChanged { module, from: 0xC0, to: 0x81, reason }
            if module == "BCM" && reason.contains("reset")
    )));
    assert!(
        kinds
            .iter()
            .any(|k| matches!(k, EventKind::RoutineAborted { id: 0x90, .. }))
    );
    assert_eq!(r.ask1(&[0x21, 0x83]), [0x7F, 0x21, 0x80]);
}

#[test]
fn test_bms_battery_registration_on_the_ipdm() {
    let mut r = Rig::new(&[], 0x74D, 0x76D);
    assert_eq!(r.ask1(&[0x21, 0x94]), [0x7F, 0x21, 0x80], "default session");
    assert_eq!(r.ask1(&[0x10, 0xC0]), [0x50, 0xC0]);
    assert_eq!(r.ask1(&[0x21, 0x94]), [0x61, 0x94, 0x02], "not learned");
    assert_eq!(
        r.ask1(&[0x31, 0x92, 10, 1]),
        [0x7F, 0x31, 0x31],
        "capacity range"
    );
    assert_eq!(
        r.ask1(&[0x31, 0x92, 70]),
        [0x7F, 0x31, 0x12],
        "missing type"
    );
    assert_eq!(r.ask1(&[0x31, 0x92, 70, 1]), [0x71, 0x92]);
    assert_eq!(r.ask1(&[0x21, 0x93]), [0x61, 0x93, 0x00], "running");
    r.run_for(Duration::from_secs(2));
    r.tell(&[0x3E, 0x80]);
    r.run_for(Duration::from_secs(2));
    assert_eq!(r.ask1(&[0x21, 0x93]), [0x61, 0x93, 0x01], "done");
    assert_eq!(r.ask1(&[0x21, 0x94]), [0x61, 0x94, 0x00], "learned");
    assert!(r.v.flags().contains("battery_registered"));
    assert!(
        r.events
            .iter()
            .any(|e| e.kind.to_string() == "flag battery_registered set by IPDM_ER")
    );
}

#[test]
fn test_requests_and_responses_are_events() {
    let mut r = Rig::bcm(&[]);
    r.run_until(ms(1000));
    r.ask1(&[0x10, 0xC0]);
    let lines: Vec<(Timestamp, String)> = r
        .events
        .iter()
        .map(|e| (e.at, e.kind.to_string()))
        .collect();
    assert_eq!(
        lines,
        [
            (ms(1000), "BCM: request 10 C0".to_string()),
            (
                ms(1000),
                "BCM: session 0x81 -> 0xC0 (requested)".to_string()
            ),
            (ms(1015), "BCM: response 50 C0".to_string()),
        ]
    );
}

mod driven_at_arbitrary_times {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// However irregularly a driver wakes up (here never later than the shortest cycle),
        /// every periodic message goes out once per slot of its grid, never twice per wake-up.
        #[test]
        fn prop_schedule_does_not_depend_on_wake_ups(gaps in prop::collection::vec(0u64..=10_000, 50..400)) {
            let p = Profile::from_toml(PROFILE, "j11").unwrap();
            let db = db();
            let mut v = Vehicle::new(&p, &db, &[]).unwrap();
            let mut now = Timestamp::ZERO;
            let mut counts: BTreeMap<u32, u64> = BTreeMap::new();
            for gap in gaps {
                v.handle_timeout(now);
                let mut this_wake = std::collections::BTreeSet::new();
                while let Some(f) = v.poll_transmit(now) {
                    let id = f.id().unwrap().raw();
                    prop_assert!(this_wake.insert(id), "{id:X} twice at {now}");
                    *counts.entry(id).or_default() += 1;
                }
                now += Duration::from_micros(gap);
            }
            // Slots at or before the last wake-up.
            let last = now.as_nanos();
            for info in v.periodic_messages() {
                let phase = info.phase.as_nanos() as u64;
                let cycle = info.cycle.as_nanos() as u64;
                let slots_until = |t: u64| if t < phase { 0 } else { (t - phase) / cycle + 1 };
                let got = counts.get(&info.id.raw()).copied().unwrap_or(0);
                // The last gap was not followed by a wake-up.
                let expected_max = slots_until(last);
                prop_assert!(got <= expected_max && got + 1 >= expected_max,
                    "{}: {got} frames, {expected_max} slots", info.name);
            }
        }
    }
}

#[test]
fn test_ignition_off_mid_run_changes_the_signal_at_its_time() {
    let mut r = Rig::bcm(&["ignition-off-mid-run"]);
    r.run_until(ms(25_000));
    let start = r.v.start().unwrap();
    let body = r.frames_of(0x60D, ms(0), ms(25_000));
    assert!(body.len() > 20);
    for (t, f) in &body {
        let after = t.saturating_duration_since(start) >= std::time::Duration::from_secs(20);
        let v = r.signal(f, "BODY_STATUS", "IGNITION_STATE");
        assert_eq!(v, if after { 0.0 } else { 3.0 }, "at {t}");
    }
    // Without the fault the ignition stays ON.
    let mut r = Rig::bcm(&[]);
    r.run_until(ms(25_000));
    let body = r.frames_of(0x60D, ms(0), ms(25_000));
    assert!(
        body.iter()
            .all(|(_, f)| r.signal(f, "BODY_STATUS", "IGNITION_STATE") == 3.0)
    );
}
