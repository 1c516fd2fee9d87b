//! Fuzz target: the people-facing renderers. The first byte picks one: `dbc show` of any DBC
//! that loads, `script check`'s review of any script that loads, or `diag sniff`'s text and
//! JSON for arbitrary frames (id, length, data, repeated) through the passive ISO-TP
//! reassembler. Nothing may panic, whatever the names, lengths or bytes. Run with
//! `cargo fuzz run renderers`.
#![no_main]

use canrelearn::Timestamp;
use canrelearn::dbc::{Database, show};
use canrelearn::diag::Dialect;
use canrelearn::diag::sniff::Sniffer;
use canrelearn::frame::{Frame, Id};
use canrelearn::isotp::{ObserverConfig, Reassembler};
use canrelearn::procedure::Script;
use canrelearn::procedure::review::review;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => {
            if let Ok(db) = Database::from_bytes(rest, "fuzz.dbc") {
                let text = show::database(&db, "fuzz.dbc", true);
                for m in db.messages() {
                    let one = show::one_message(m, true);
                    assert!(text.contains(one.trim_start_matches('\n').lines().next().unwrap_or("")));
                }
            }
        }
        1 => {
            if let Ok(text) = std::str::from_utf8(rest)
                && let Ok(script) = Script::from_toml(text, "fuzz.toml")
            {
                let r = review(&script, "fuzz.toml");
                assert!(r.starts_with("fuzz.toml: procedure"));
            }
        }
        _ => {
            let mut reasm = Reassembler::new(ObserverConfig::default());
            let mut sniffer = Sniffer::new(if which & 4 == 0 {
                Dialect::Kwp2000
            } else {
                Dialect::Uds
            });
            let mut at = 0u64;
            let mut bytes = rest;
            while let [hi, lo, len, tail @ ..] = bytes {
                let n = usize::from(*len % 9).min(tail.len());
                let (payload, next) = tail.split_at(n);
                bytes = next;
                at += 1_000_000;
                let raw = u32::from(*hi) << 8 | u32::from(*lo);
                let Some(id) = Id::new(raw & 0x7FF, false) else {
                    continue;
                };
                let Ok(frame) = Frame::classic(id, payload) else {
                    continue;
                };
                reasm.handle_frame(Timestamp::from_nanos(at), &frame);
                while let Some(o) = reasm.poll_event() {
                    if let Some(r) = sniffer.observe(o) {
                        let _ = r.text_line();
                        let _ = r.json_line();
                    }
                }
            }
            reasm.flush();
            while let Some(o) = reasm.poll_event() {
                if let Some(r) = sniffer.observe(o) {
                    let _ = r.text_line();
                }
            }
        }
    }
});
