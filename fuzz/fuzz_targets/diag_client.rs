//! Fuzzes the diagnostic client engine with an arbitrary stream of inputs. It must never
//! panic and must only transmit the bytes of an accepted request or the keep-alive PDU.
#![no_main]

use canrelearn::Timestamp;
use canrelearn::diag::{Client, ClientConfig, RequestOptions, TransmitKind};
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;

fuzz_target!(|data: &[u8]| {
    let Ok(mut c) = Client::new(ClientConfig::kwp2000()) else {
        return;
    };
    let keep_alive = vec![0x3E, 0x80];
    let mut accepted = HashMap::new();
    let mut now_ms: u64 = 0;
    let mut rest = data;
    while let [op, len, tail @ ..] = rest {
        let n = usize::from(*len % 8).min(tail.len());
        let (arg, tail) = tail.split_at(n);
        rest = tail;
        let now = Timestamp::from_nanos(now_ms * 1_000_000);
        match op % 7 {
            0 => {
                let opts = RequestOptions {
                    expect_response: len & 0x80 == 0,
                    ..RequestOptions::default()
                };
                if let Ok(id) = c.request(now, arg, opts) {
                    accepted.insert(id, arg.to_vec());
                }
            }
            1 => c.handle_pdu(now, arg),
            2 => now_ms += u64::from(*len) * 20,
            3 => c.handle_timeout(now),
            4 => {
                while let Some(tx) = c.poll_transmit(now) {
                    match tx.kind {
                        TransmitKind::KeepAlive => assert_eq!(tx.pdu, keep_alive),
                        TransmitKind::Request { id, .. } => {
                            assert_eq!(Some(&tx.pdu), accepted.get(&id))
                        }
                    }
                }
            }
            5 => {
                c.cancel();
            }
            _ => c.assume_session(now, *len),
        }
        while c.poll_event().is_some() {}
    }
});
