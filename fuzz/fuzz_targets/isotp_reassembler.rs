//! Fuzz the passive ISO-TP Reassembler with arbitrary frames on a few ids: nothing may panic
//! and the number of partial messages stays within its bound.
#![no_main]

use std::time::Duration;

use canrelearn::frame::{Frame, Id, fd_round_up_len};
use canrelearn::isotp::{ObserverConfig, Reassembler};
use canrelearn::time::Timestamp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&flags, mut rest)) = input.split_first() else {
        return;
    };
    let max_partials = usize::from(flags & 7);
    let mut r = Reassembler::new(ObserverConfig {
        extended_addressing: flags & 8 != 0,
        max_partials,
        max_message_size: 2000,
        timeout: Duration::from_millis(100),
    });
    let mut now = Timestamp::ZERO;
    while let [meta, dt, tail @ ..] = rest {
        let n = usize::from(meta >> 3).min(tail.len());
        let (data, next) = tail.split_at(n);
        rest = next;
        now += Duration::from_micros(u64::from(*dt) * 1000);
        let Some(id) = Id::standard(0x700 + u16::from(meta & 3)) else {
            return;
        };
        let f = if meta & 4 != 0 {
            let mut d = data.to_vec();
            d.resize(fd_round_up_len(d.len()).unwrap_or(64), 0xCC);
            Frame::fd(id, &d, false)
        } else {
            Frame::classic(id, &data[..data.len().min(8)])
        };
        if let Ok(f) = f {
            r.handle_frame(now, &f);
        }
        assert!(r.partial_count() <= max_partials);
        while r.poll_event().is_some() {}
    }
    r.flush();
});
