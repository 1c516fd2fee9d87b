//! Fuzz target: arbitrary text into the simulator profile loader; a profile that loads builds
//! a vehicle on the bundled J11 DBC, which then runs for a few simulated seconds answering
//! arbitrary frames (the input's bytes). Nothing may panic. Run with
//! `cargo fuzz run profile_load`.
#![no_main]

use core::time::Duration;

use canrelearn::dbc::Database;
use canrelearn::frame::{Frame, Id};
use canrelearn::sim::profile::Profile;
use canrelearn::sim::vehicle::Vehicle;
use canrelearn::time::Timestamp;
use libfuzzer_sys::fuzz_target;

const DBC: &str = include_str!("../../dbc/nissan_qashqai_j11.dbc");

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(profile) = Profile::from_toml(text, "fuzz.toml") else {
        return;
    };
    let Ok(db) = Database::from_bytes(DBC.as_bytes(), "j11.dbc") else {
        return;
    };
    let faults: Vec<String> = profile.faults.iter().map(|f| f.name.clone()).collect();
    let faults: Vec<&str> = faults.iter().map(String::as_str).collect();
    for chosen in [&[][..], &faults[..]] {
        let Ok(mut car) = Vehicle::new(&profile, &db, chosen) else {
            continue;
        };
        let ids: Vec<Id> = car.modules().iter().filter_map(|m| m.request_id).collect();
        let functional = Id::standard(0x7DF);
        let mut now = Timestamp::ZERO;
        let end = now + Duration::from_secs(3);
        let mut fed = data.chunks(9);
        let mut steps = 0;
        while now < end && steps < 20_000 {
            steps += 1;
            car.handle_timeout(now);
            while car.poll_transmit(now).is_some() {}
            while car.poll_event().is_some() {}
            // Arbitrary requests to every module's request id.
            if let Some(chunk) = fed.next() {
                let payload = chunk.get(..chunk.len().min(8)).unwrap_or(&[]);
                for id in ids.iter().copied().chain(functional) {
                    if let Ok(f) = Frame::classic(id, payload) {
                        car.handle_frame(now, &f);
                    }
                }
            }
            now = match car.poll_timeout() {
                Some(t) if t > now => t,
                _ => now + Duration::from_millis(1),
            };
        }
    }
});
