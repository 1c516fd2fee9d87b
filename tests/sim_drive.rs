//! The simulated J11 run by `drive::sim` on an in-process virtual bus, on tokio's paused time:
//! a second endpoint sees the periodic frames at their cycle times and gets diagnostic answers.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use canrelearn::Timestamp;
use canrelearn::bus::{Bus, TokioClock, VirtualBus};
use canrelearn::dbc::Database;
use canrelearn::drive::sim::{Ended, run};
use canrelearn::frame::{Frame, Id};
use canrelearn::sim::profile::Profile;
use canrelearn::sim::vehicle::{EventKind, Vehicle, VehicleEvent};

const PROFILE: &str = include_str!("../scripts/simulator/qashqai-j11.toml");
const DBC: &str = include_str!("../dbc/nissan_qashqai_j11.dbc");

fn vehicle(faults: &[&str]) -> Vehicle {
    let p = Profile::from_toml(PROFILE, "j11").unwrap();
    let db = Database::from_str_named(DBC, "j11.dbc").unwrap();
    Vehicle::new(&p, &db, faults).unwrap()
}

fn sid(raw: u16) -> Id {
    Id::standard(raw).unwrap()
}

#[tokio::test(start_paused = true)]
async fn test_vehicle_on_a_virtual_bus_sends_periodic_frames_and_answers() {
    let origin = Timestamp::from_secs_nanos(1000, 0).unwrap();
    let clock = Arc::new(TokioClock::new(origin));
    let bus = VirtualBus::with_clock("sim", 65536, clock.clone());
    let mut sim_end = bus.endpoint();
    let mut tester = bus.endpoint();
    let mut v = vehicle(&["audio-unit-unregistered"]);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut events: Vec<VehicleEvent> = Vec::new();

    let sim = run(
        &mut v,
        &mut sim_end,
        &*clock,
        async {
            let _ = stop_rx.await;
        },
        |e| {
            events.push(e.clone());
            ControlFlow::Continue(())
        },
    );
    let script = async {
        let mut seen: BTreeMap<u16, Vec<Timestamp>> = BTreeMap::new();
        let mut answer = None;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        let mut asked = false;
        while tokio::time::Instant::now() < deadline {
            if !asked && tokio::time::Instant::now() >= deadline - Duration::from_secs(1) {
                let req = Frame::classic(
                    sid(0x745),
                    &[0x02, 0x10, 0xC0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
                )
                .unwrap();
                tester.send(&req).await.unwrap();
                asked = true;
            }
            let Ok(r) = tokio::time::timeout(Duration::from_millis(50), tester.recv()).await else {
                continue;
            };
            let r = r.unwrap();
            let id = r.frame.id().unwrap().raw() as u16;
            if id == 0x765 {
                answer = Some((r.timestamp, r.frame));
            } else {
                seen.entry(id).or_default().push(r.timestamp);
            }
        }
        let _ = stop_tx.send(());
        (seen, answer)
    };
    let (result, (seen, answer)) = tokio::join!(sim, script);
    let (ended, stats) = result.unwrap();
    assert_eq!(ended, Ended::Shutdown);
    assert_eq!(stats.received, 1);
    // Body frames every 100 ms exactly, on the virtual time line starting at `origin`.
    let body = &seen[&0x60D];
    assert!(body.len() >= 19, "{}", body.len());
    assert!(body[0] >= origin);
    for w in body.windows(2) {
        assert_eq!(
            w[1].saturating_duration_since(w[0]),
            Duration::from_millis(100)
        );
    }
    let steering = &seen[&0x002];
    assert!(steering.len() >= 190, "{}", steering.len());
    // The AV unit is silent (fault), every other node sends.
    for id in [0x35D, 0x540, 0x541] {
        assert!(!seen.contains_key(&id), "{id:X}");
    }
    for id in [
        0x002, 0x180, 0x284, 0x354, 0x358, 0x551, 0x5C5, 0x60D, 0x625,
    ] {
        assert!(seen.contains_key(&id), "{id:X}");
    }
    let (at, frame) = answer.expect("an answer from the BCM");
    assert_eq!(
        frame.data(),
        [0x02, 0x50, 0xC0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
    );
    assert_eq!(at, origin + Duration::from_millis(1015));
    assert!(matches!(
        &events[0].kind,
        EventKind::FaultApplied { fault, .. } if fault == "audio-unit-unregistered"
    ));
    assert!(events.iter().any(|e| matches!(
        &e.kind,
        EventKind::SessionChanged { module, to: 0xC0, .. } if module == "BCM"
    )));
    assert_eq!(v.session("BCM"), Some(0xC0));
}

#[tokio::test(start_paused = true)]
async fn test_the_event_callback_can_stop_the_run() {
    let clock = Arc::new(TokioClock::new(Timestamp::ZERO));
    let bus = VirtualBus::with_clock("sim", 1024, clock.clone());
    let mut sim_end = bus.endpoint();
    let mut v = vehicle(&["bcm-silent", "slow-responses"]);
    let mut n = 0;
    let (ended, stats) = run(&mut v, &mut sim_end, &*clock, std::future::pending(), |e| {
        n += 1;
        assert!(matches!(e.kind, EventKind::FaultApplied { .. }));
        if n == 2 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .await
    .unwrap();
    assert_eq!(ended, Ended::Stopped);
    assert_eq!(stats.events, 2);
}
