//! Fuzz the ISO-TP Channel: the input is a script of operations (frames on our receive id,
//! sends, polls, timeouts, confirmations) with time steps. Nothing may panic, and no timer may
//! stay overdue after it was handled.
#![no_main]

use std::time::Duration;

use canrelearn::frame::{Frame, Id, fd_round_up_len};
use canrelearn::isotp::{Addressing, Channel, Config, FrameFormat, StMin};
use canrelearn::time::Timestamp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&flags, mut rest)) = input.split_first() else {
        return;
    };
    let (Some(tx), Some(rx)) = (Id::standard(0x10), Id::standard(0x20)) else {
        return;
    };
    let mut cfg = Config::new(tx, rx);
    if flags & 1 != 0 {
        cfg.addressing = Addressing::Extended {
            tx_addr: 1,
            rx_addr: 2,
        };
    }
    if flags & 2 != 0 {
        cfg.format = FrameFormat::Fd {
            tx_dl: 64,
            brs: false,
        };
    }
    cfg.tx_confirmations = flags & 4 != 0;
    cfg.padding = (flags & 8 != 0).then_some(0xCC);
    cfg.block_size = flags >> 5;
    cfg.st_min = StMin::from_raw(flags);
    cfg.max_rx_size = 5000;
    let Ok(mut ch) = Channel::new(cfg) else {
        return;
    };
    let mut now = Timestamp::ZERO;
    let mut last: Option<Frame> = None;
    while let [op, dt, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len()).min(64);
        let (data, next) = tail.split_at(n);
        rest = next;
        now += Duration::from_micros(u64::from(*dt) * 97);
        match op % 6 {
            0 | 1 => {
                let mut d = data.to_vec();
                d.resize(fd_round_up_len(d.len()).unwrap_or(64), 0);
                let f = if op % 6 == 0 && d.len() <= 8 {
                    Frame::classic(rx, &d)
                } else {
                    Frame::fd(rx, &d, false)
                };
                if let Ok(f) = f {
                    ch.handle_frame(now, &f);
                }
            }
            2 => {
                let _ = ch.send(now, &data.repeat(usize::from(*op >> 3) + 1));
            }
            3 => {
                while let Some(f) = ch.poll_transmit(now) {
                    last = Some(f);
                }
            }
            4 => {
                ch.handle_timeout(now);
                if let Some(f) = last {
                    ch.on_transmitted(now, &f);
                }
            }
            _ => while ch.poll_event().is_some() {},
        }
        if ch.poll_timeout().is_some_and(|t| t <= now) {
            ch.handle_timeout(now);
            while let Some(f) = ch.poll_transmit(now) {
                last = Some(f);
            }
            if let Some(f) = last {
                ch.on_transmitted(now, &f);
            }
            while let Some(f) = ch.poll_transmit(now) {
                last = Some(f);
            }
            assert!(ch.poll_timeout().is_none_or(|t| t > now));
        }
    }
});
