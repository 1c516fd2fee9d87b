//! Scenario tests of the diagnostic client engine on a virtual clock, with hand-fed responses.

use std::collections::HashMap;
use std::time::Duration;

use canrelearn::Timestamp;
use canrelearn::diag::codec::Unrelated;
use canrelearn::diag::{
    BusyRetry, Client, ClientConfig, ClientError, ClientEvent, KeepAlive, MismatchReason, Nrc,
    RequestId, RequestOptions, TimeoutReason, Transmit, TransmitKind,
};
use proptest::prelude::*;

fn ms(n: u64) -> Timestamp {
    Timestamp::from_nanos(n * 1_000_000)
}

fn kwp() -> Client {
    Client::new(ClientConfig::kwp2000()).unwrap()
}

fn events(c: &mut Client) -> Vec<ClientEvent> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

/// Sends `pdu` at `t` and returns its id, checking the exact bytes went out.
fn send(c: &mut Client, t: u64, pdu: &[u8]) -> RequestId {
    let id = c.request(ms(t), pdu, RequestOptions::default()).unwrap();
    let tx = c.poll_transmit(ms(t)).unwrap();
    assert_eq!(
        tx,
        Transmit {
            pdu: pdu.to_vec(),
            kind: TransmitKind::Request { id, attempt: 1 }
        }
    );
    assert_eq!(c.poll_transmit(ms(t)), None);
    id
}

/// Opens KWP session 0xC0 with `10 C0` at 0 ms answered at 50 ms.
fn open_c0(c: &mut Client) {
    let id = send(c, 0, &[0x10, 0xC0]);
    c.handle_pdu(ms(50), &[0x50, 0xC0]);
    assert_eq!(
        events(c),
        vec![
            ClientEvent::Positive {
                id,
                pdu: vec![0x50, 0xC0],
                elapsed: Duration::from_millis(50)
            },
            ClientEvent::SessionChanged {
                session: 0xC0,
                is_default: false
            }
        ]
    );
}

#[test]
fn test_positive_response() {
    let mut c = kwp();
    let id = send(&mut c, 0, &[0x21, 0x01]);
    assert_eq!(c.in_flight(), Some(id));
    assert_eq!(c.poll_timeout(), Some(ms(1000)));
    c.handle_pdu(ms(30), &[0x61, 0x01, 0xAA]);
    assert_eq!(
        events(&mut c),
        vec![ClientEvent::Positive {
            id,
            pdu: vec![0x61, 0x01, 0xAA],
            elapsed: Duration::from_millis(30)
        }]
    );
    assert_eq!(c.in_flight(), None);
    assert_eq!(c.poll_timeout(), None);
    assert_eq!(c.session(), None);
}

#[test]
fn test_negative_response() {
    let mut c = kwp();
    let id = send(&mut c, 0, &[0x21, 0x01]);
    c.handle_pdu(ms(20), &[0x7F, 0x21, 0x80]);
    assert_eq!(
        events(&mut c),
        vec![ClientEvent::Negative {
            id,
            sid: 0x21,
            nrc: Nrc(0x80),
            pdu: vec![0x7F, 0x21, 0x80],
            elapsed: Duration::from_millis(20)
        }]
    );
    assert_eq!(c.in_flight(), None);
}

#[test]
fn test_timeout_at_exactly_p2() {
    let mut c = kwp();
    let id = send(&mut c, 100, &[0x21, 0x01]);
    c.handle_timeout(Timestamp::from_nanos(1_099_999_999));
    assert_eq!(events(&mut c), vec![]);
    c.handle_timeout(ms(1100));
    assert_eq!(
        events(&mut c),
        vec![ClientEvent::Timeout {
            id,
            waited: Duration::from_secs(1),
            after_pending: false,
            pending_count: 0,
            reason: TimeoutReason::P2
        }]
    );
    // A late answer is now unsolicited.
    c.handle_pdu(ms(1200), &[0x61, 0x01]);
    assert_eq!(
        events(&mut c),
        vec![ClientEvent::Unsolicited {
            pdu: vec![0x61, 0x01]
        }]
    );
}

#[test]
fn test_response_at_deadline_wins_over_timeout() {
    let mut c = kwp();
    let id = send(&mut c, 0, &[0x21, 0x01]);
    c.handle_pdu(ms(1000), &[0x61, 0x01]);
    c.handle_timeout(ms(1000));
    assert!(matches!(&events(&mut c)[..], [ClientEvent::Positive { id: i, .. }] if *i == id));
}

#[test]
fn test_p2_override_per_request() {
    let mut c = kwp();
    let opts = RequestOptions {
        p2_timeout: Some(Duration::from_millis(250)),
        ..RequestOptions::default()
    };
    c.request(ms(0), &[0x21, 0x01], opts).unwrap();
    c.poll_transmit(ms(0)).unwrap();
    assert_eq!(c.poll_timeout(), Some(ms(250)));
}

/// udsoncan ends a request 5 s after it was sent even while the ECU keeps answering 0x78
/// (udsoncan#20, #73, #232, #255). Here each 0x78 restarts P2*, so a 22 s exchange succeeds.
#[test]
fn test_regression_udsoncan_overall_timeout_during_pending() {
    let mut c = kwp();
    let id = send(&mut c, 0, &[0x31, 0x01, 0x02]);
    let mut t = 500;
    for count in 1..=6u32 {
        c.handle_pdu(ms(t), &[0x7F, 0x31, 0x78]);
        assert_eq!(events(&mut c), vec![ClientEvent::Pending { id, count }]);
        assert_eq!(c.poll_timeout(), Some(ms(t + 5000)));
        // Just before P2* expires nothing happens.
        c.handle_timeout(ms(t + 4999));
        assert_eq!(events(&mut c), vec![]);
        t += 3900;
    }
    assert!(t > 20_000);
    c.handle_pdu(ms(t), &[0x71, 0x01, 0x02]);
    assert_eq!(
        events(&mut c),
        vec![ClientEvent::Positive {
            id,
            pdu: vec![0x71, 0x01, 0x02],
            elapsed: Duration::from_millis(t)
        }]
    );
}

#[test]
fn test_p2_star_expires_after_pending() {
    let mut c = kwp();
    let id = send(&mut c, 0, &[0x31, 0x01]);
    c.handle_pdu(ms(200), &[0x7F, 0x31, 0x78]);
    let _ = events(&mut c);
    c.handle_timeout(ms(5199));
    assert_eq!(events(&mut c), vec![]);
    c.handle_timeout(ms(5200));
    assert_eq!(
        events(&mut c),
        vec![ClientEvent::Timeout {
            id,
            waited: Duration::from_millis(5200),
            after_pending: true,
            pending_count: 1,
            reason: TimeoutReason::P2Star
        }]
    );
}

#[test]
fn test_pending_storm_exceeds_max_count() {
    let mut cfg = ClientConfig::kwp2000();
    cfg.max_pending = 3;
    let mut c = Client::new(cfg).unwrap();
    let id = send(&mut c, 0, &[0x31, 0x01]);
    for i in 1..=3u64 {
        c.handle_pdu(ms(i * 10), &[0x7F, 0x31, 0x78]);
    }
    assert_eq!(events(&mut c).len(), 3);
    c.handle_pdu(ms(40), &[0x7F, 0x31, 0x78]);
    assert_eq!(
        events(&mut c),
        vec![ClientEvent::Timeout {
            id,
            waited: Duration::from_millis(40),
            after_pending: true,
            pending_count: 3,
            reason: TimeoutReason::PendingLimit
        }]
    );
    assert_eq!(c.in_flight(), None);
}

#[test]
fn test_overall_cap_bounds_pending_chain() {
    let mut cfg = ClientConfig::kwp2000();
    cfg.overall_timeout = Some(Duration::from_secs(3));
    let mut c = Client::new(cfg).unwrap();
    let id = send(&mut c, 0, &[0x31, 0x01]);
    c.handle_pdu(ms(100), &[0x7F, 0x31, 0x78]);
    c.handle_pdu(ms(2000), &[0x7F, 0x31, 0x78]);
    let _ = events(&mut c);
    assert_eq!(c.poll_timeout(), Some(ms(3000)));
    c.handle_timeout(ms(3000));
    assert_eq!(
        events(&mut c),
        vec![ClientEvent::Timeout {
            id,
            waited: Duration::from_secs(3),
            after_pending: true,
            pending_count: 2,
            reason: TimeoutReason::OverallCap
        }]
    );
}

#[test]
fn test_busy_retries_with_exact_backoff() {
    let mut c = kwp();
    let pdu = [0x3B, 0x05, 0x01];
    let id = send(&mut c, 0, &pdu);
    let mut t = 10;
    let delays = [100, 200, 400, 800, 1000];
    for (i, &d) in delays.iter().enumerate() {
        let attempt = i as u32 + 1;
        c.handle_pdu(ms(t), &[0x7F, 0x3B, 0x21]);
        assert_eq!(
            events(&mut c),
            vec![ClientEvent::Retrying {
                id,
                attempt,
                after: Duration::from_millis(d)
            }]
        );
        assert_eq!(c.poll_timeout(), Some(ms(t + d)));
        assert_eq!(c.poll_transmit(ms(t + d - 1)), None);
        c.handle_timeout(ms(t + d));
        assert_eq!(
            c.poll_transmit(ms(t + d)),
            Some(Transmit {
                pdu: pdu.to_vec(),
                kind: TransmitKind::Request {
                    id,
                    attempt: attempt + 1
                }
            })
        );
        // P2 restarts from the retransmission.
        assert_eq!(c.poll_timeout(), Some(ms(t + d + 1000)));
        t += d + 5;
    }
    c.handle_pdu(ms(t), &[0x7F, 0x3B, 0x21]);
    assert_eq!(
        events(&mut c),
        vec![ClientEvent::Negative {
            id,
            sid: 0x3B,
            nrc: Nrc::BUSY_REPEAT_REQUEST,
            pdu: vec![0x7F, 0x3B, 0x21],
            elapsed: Duration::from_millis(t)
        }]
    );
}

#[test]
fn test_busy_then_positive() {
    let mut c = kwp();
    let id = send(&mut c, 0, &[0x21, 0x01]);
    c.handle_pdu(ms(10), &[0x7F, 0x21, 0x21]);
    // An answer during the back-off is not taken.
    c.handle_pdu(ms(20), &[0x61, 0x01]);
    let ev = events(&mut c);
    assert_eq!(
        ev.get(1),
        Some(&ClientEvent::Mismatched {
            id,
            pdu: vec![0x61, 0x01],
            reason: MismatchReason::NotAwaiting
        })
    );
    c.poll_transmit(ms(110)).unwrap();
    c.handle_pdu(ms(150), &[0x61, 0x01]);
    assert!(matches!(
        &events(&mut c)[..],
        [ClientEvent::Positive { elapsed, .. }] if *elapsed == Duration::from_millis(150)
    ));
}

#[test]
fn test_keep_alive_cadence_in_session_c0() {
    let mut c = kwp();
    open_c0(&mut c);
    assert_eq!(c.poll_timeout(), Some(ms(2050)));
    assert_eq!(c.poll_transmit(ms(2049)), None);
    let mut sent_at = Vec::new();
    let mut t = 2000;
    while t <= 7000 {
        c.handle_timeout(ms(t));
        while let Some(tx) = c.poll_transmit(ms(t)) {
            assert_eq!(
                tx,
                Transmit {
                    pdu: vec![0x3E, 0x80],
                    kind: TransmitKind::KeepAlive
                }
            );
            sent_at.push(t);
        }
        t += 1;
    }
    assert_eq!(sent_at, vec![2050, 4050, 6050]);
    assert_eq!(events(&mut c), vec![ClientEvent::KeepAliveSent; 3]);
    // A request resets the idle time: next keep-alive 2 s after its answer.
    send(&mut c, 6500, &[0x21, 0x01]);
    c.handle_pdu(ms(6600), &[0x61, 0x01]);
    assert_eq!(c.poll_timeout(), Some(ms(8600)));
}

#[test]
fn test_no_keep_alive_in_default_or_unknown_session() {
    let mut c = kwp();
    assert_eq!(c.poll_timeout(), None);
    assert_eq!(c.poll_transmit(ms(60_000)), None);
    let id = send(&mut c, 60_000, &[0x10, 0x81]);
    c.handle_pdu(ms(60_020), &[0x50, 0x81]);
    assert_eq!(
        events(&mut c),
        vec![
            ClientEvent::Positive {
                id,
                pdu: vec![0x50, 0x81],
                elapsed: Duration::from_millis(20)
            },
            ClientEvent::SessionChanged {
                session: 0x81,
                is_default: true
            }
        ]
    );
    assert_eq!(c.poll_timeout(), None);
    assert_eq!(c.poll_transmit(ms(120_000)), None);
}

#[test]
fn test_keep_alive_stops_on_return_to_default() {
    let mut c = kwp();
    open_c0(&mut c);
    send(&mut c, 1000, &[0x10, 0x81]);
    c.handle_pdu(ms(1010), &[0x50, 0x81]);
    assert_eq!(c.poll_timeout(), None);
    for t in (1000..10_000).step_by(100) {
        assert_eq!(c.poll_transmit(ms(t)), None);
    }
}

#[test]
fn test_keep_alive_suppressed_during_request() {
    let mut c = kwp();
    open_c0(&mut c);
    let id = send(&mut c, 1900, &[0x31, 0x01]);
    let mut t = 1900;
    for pending_at in [2000, 4000] {
        while t < pending_at {
            c.handle_timeout(ms(t));
            assert_eq!(c.poll_transmit(ms(t)), None, "at {t} ms");
            t += 10;
        }
        c.handle_pdu(ms(pending_at), &[0x7F, 0x31, 0x78]);
    }
    while t < 6000 {
        c.handle_timeout(ms(t));
        assert_eq!(c.poll_transmit(ms(t)), None, "at {t} ms");
        t += 10;
    }
    c.handle_pdu(ms(6000), &[0x71, 0x01]);
    let ev = events(&mut c);
    assert!(matches!(ev.last(), Some(ClientEvent::Positive { id: i, .. }) if *i == id));
    assert!(!ev.contains(&ClientEvent::KeepAliveSent));
    assert_eq!(c.poll_timeout(), Some(ms(8000)));
    assert_eq!(
        c.poll_transmit(ms(8000)).map(|t| t.kind),
        Some(TransmitKind::KeepAlive)
    );
}

#[test]
fn test_keep_alive_with_reply_queues_caller_request() {
    let mut cfg = ClientConfig::kwp2000();
    cfg.keep_alive = Some(KeepAlive {
        pdu: vec![0x3E, 0x01],
        period: Duration::from_millis(2000),
        expect_response: true,
    });
    let mut c = Client::new(cfg).unwrap();
    open_c0(&mut c);
    assert_eq!(
        c.poll_transmit(ms(2050)).map(|t| t.pdu),
        Some(vec![0x3E, 0x01])
    );
    let id = c
        .request(ms(2060), &[0x21, 0x01], RequestOptions::default())
        .unwrap();
    assert_eq!(
        c.request(ms(2060), &[0x21, 0x02], RequestOptions::default()),
        Err(ClientError::Busy { in_flight: id })
    );
    assert_eq!(c.poll_transmit(ms(2060)), None);
    c.handle_pdu(ms(2070), &[0x7E, 0x01]);
    assert_eq!(
        c.poll_transmit(ms(2070)),
        Some(Transmit {
            pdu: vec![0x21, 0x01],
            kind: TransmitKind::Request { id, attempt: 1 }
        })
    );
    assert_eq!(
        events(&mut c),
        vec![
            ClientEvent::KeepAliveSent,
            ClientEvent::KeepAliveReply {
                pdu: vec![0x7E, 0x01],
                nrc: None
            }
        ]
    );
}

#[test]
fn test_keep_alive_reply_timeout() {
    let mut cfg = ClientConfig::kwp2000();
    if let Some(ka) = cfg.keep_alive.as_mut() {
        ka.expect_response = true;
    }
    let mut c = Client::new(cfg).unwrap();
    open_c0(&mut c);
    c.poll_transmit(ms(2050)).unwrap();
    c.handle_timeout(ms(3050));
    assert_eq!(
        events(&mut c),
        vec![
            ClientEvent::KeepAliveSent,
            ClientEvent::KeepAliveTimeout {
                waited: Duration::from_secs(1)
            }
        ]
    );
}

#[test]
fn test_mismatched_sid_ignored() {
    let mut c = kwp();
    let id = send(&mut c, 0, &[0x21, 0x01]);
    c.handle_pdu(ms(10), &[0x62, 0xF1, 0x90]);
    c.handle_pdu(ms(20), &[0x7F, 0x22, 0x78]);
    c.handle_pdu(ms(30), &[]);
    assert_eq!(
        events(&mut c),
        vec![
            ClientEvent::Mismatched {
                id,
                pdu: vec![0x62, 0xF1, 0x90],
                reason: MismatchReason::Unrelated(Unrelated::OtherService { response_sid: 0x62 })
            },
            ClientEvent::Mismatched {
                id,
                pdu: vec![0x7F, 0x22, 0x78],
                reason: MismatchReason::Unrelated(Unrelated::NegativeForOtherService {
                    sid: 0x22,
                    nrc: Nrc(0x78)
                })
            },
            ClientEvent::Mismatched {
                id,
                pdu: vec![],
                reason: MismatchReason::Unrelated(Unrelated::Empty)
            },
        ]
    );
    // A 0x78 for another service did not extend the timer.
    assert_eq!(c.poll_timeout(), Some(ms(1000)));
    c.handle_pdu(ms(40), &[0x61, 0x01]);
    assert!(matches!(
        &events(&mut c)[..],
        [ClientEvent::Positive { .. }]
    ));
}

#[test]
fn test_unsolicited_reported() {
    let mut c = kwp();
    c.handle_pdu(ms(5), &[0x61, 0x01]);
    assert_eq!(
        events(&mut c),
        vec![ClientEvent::Unsolicited {
            pdu: vec![0x61, 0x01]
        }]
    );
}

#[test]
fn test_one_request_at_a_time() {
    let mut c = kwp();
    let id = send(&mut c, 0, &[0x21, 0x01]);
    assert_eq!(
        c.request(ms(1), &[0x21, 0x02], RequestOptions::default()),
        Err(ClientError::Busy { in_flight: id })
    );
    assert_eq!(
        c.request(ms(1), &[], RequestOptions::default()),
        Err(ClientError::Busy { in_flight: id })
    );
    c.handle_pdu(ms(2), &[0x61, 0x01]);
    assert_eq!(
        c.request(ms(3), &[], RequestOptions::default()),
        Err(ClientError::EmptyPdu)
    );
    let id2 = c
        .request(ms(3), &[0x21, 0x02], RequestOptions::default())
        .unwrap();
    assert!(id2 > id);
}

#[test]
fn test_no_response_request_completes_on_send() {
    let mut c = kwp();
    let id = c
        .request(ms(0), &[0x3E, 0x80], RequestOptions::no_response())
        .unwrap();
    assert_eq!(
        c.poll_transmit(ms(0)).map(|t| t.pdu),
        Some(vec![0x3E, 0x80])
    );
    assert_eq!(events(&mut c), vec![ClientEvent::SentNoResponse { id }]);
    assert_eq!(c.in_flight(), None);
    assert_eq!(c.poll_timeout(), None);
}

/// `10 C0` is a KWP2000 session id, not a UDS sub-function with the suppress bit: it goes out
/// unchanged and the client waits for the reply (also when the dialect is UDS).
#[test]
fn test_regression_kwp_10_c0_not_uds_suppress_bit() {
    for cfg in [ClientConfig::kwp2000(), ClientConfig::uds()] {
        let mut c = Client::new(cfg).unwrap();
        let id = send(&mut c, 0, &[0x10, 0xC0]);
        assert_eq!(c.in_flight(), Some(id));
        assert_eq!(c.poll_timeout(), Some(ms(1000)));
        c.handle_pdu(ms(40), &[0x50, 0xC0]);
        assert_eq!(c.session(), Some(0xC0));
    }
}

#[test]
fn test_uds_session_and_ecu_reset() {
    let mut c = Client::new(ClientConfig::uds()).unwrap();
    send(&mut c, 0, &[0x10, 0x03]);
    c.handle_pdu(ms(10), &[0x50, 0x03, 0x00, 0x32, 0x01, 0xF4]);
    assert!(c.in_non_default_session());
    send(&mut c, 100, &[0x11, 0x01]);
    c.handle_pdu(ms(110), &[0x51, 0x01]);
    assert_eq!(c.session(), Some(0x01));
    assert!(events(&mut c).contains(&ClientEvent::SessionChanged {
        session: 0x01,
        is_default: true
    }));
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn test_reset_session_tracking_stops_keep_alive() {
    let mut c = kwp();
    open_c0(&mut c);
    c.reset_session_tracking();
    assert_eq!(c.session(), None);
    assert_eq!(c.poll_timeout(), None);
    assert_eq!(c.poll_transmit(ms(5000)), None);
}

#[test]
fn test_assume_session_starts_keep_alive() {
    let mut c = kwp();
    c.assume_session(ms(100), 0xC0);
    assert_eq!(
        events(&mut c),
        vec![ClientEvent::SessionChanged {
            session: 0xC0,
            is_default: false
        }]
    );
    assert_eq!(c.poll_timeout(), Some(ms(2100)));
}

#[test]
fn test_close_cancels_and_stops() {
    let mut c = kwp();
    open_c0(&mut c);
    let id = send(&mut c, 100, &[0x21, 0x01]);
    c.close();
    assert_eq!(events(&mut c), vec![ClientEvent::Cancelled { id }]);
    assert!(c.is_closed());
    assert_eq!(c.poll_timeout(), None);
    assert_eq!(c.poll_transmit(ms(10_000)), None);
    assert_eq!(
        c.request(ms(10_000), &[0x21, 0x01], RequestOptions::default()),
        Err(ClientError::Closed)
    );
}

#[test]
fn test_cancel_then_late_answer_is_unsolicited() {
    let mut c = kwp();
    let id = send(&mut c, 0, &[0x21, 0x01]);
    assert_eq!(c.cancel(), Some(id));
    c.handle_pdu(ms(10), &[0x61, 0x01]);
    assert_eq!(
        events(&mut c),
        vec![
            ClientEvent::Cancelled { id },
            ClientEvent::Unsolicited {
                pdu: vec![0x61, 0x01]
            }
        ]
    );
    assert_eq!(c.cancel(), None);
}

#[test]
fn test_tx_complete_restarts_p2() {
    let mut c = kwp();
    send(&mut c, 0, &[0x3B, 0x01, 0x02]);
    c.tx_complete(ms(300));
    assert_eq!(c.poll_timeout(), Some(ms(1300)));
}

#[test]
fn test_config_validation() {
    let mut cfg = ClientConfig::kwp2000();
    cfg.p2_timeout = Duration::ZERO;
    assert!(Client::new(cfg).is_err());
    let mut cfg = ClientConfig::kwp2000();
    cfg.keep_alive = Some(KeepAlive {
        pdu: vec![],
        ..KeepAlive::default()
    });
    assert!(Client::new(cfg).is_err());
    let mut cfg = ClientConfig::kwp2000();
    cfg.keep_alive = Some(KeepAlive {
        period: Duration::ZERO,
        ..KeepAlive::default()
    });
    assert!(Client::new(cfg).is_err());
    assert_eq!(
        BusyRetry::default().delay(40),
        Duration::from_secs(1),
        "no overflow on large attempts"
    );
}

#[derive(Debug, Clone)]
enum Op {
    Request(Vec<u8>, bool),
    Pdu(Vec<u8>),
    Advance(u16),
    Timeout,
    Transmit,
    Cancel,
    ResetSession,
    AssumeSession(u8),
}

fn plausible_pdu() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..6),
        (
            prop_oneof![Just(0x10u8), Just(0x21), Just(0x31), Just(0x11)],
            prop_oneof![Just(0x78u8), Just(0x21), Just(0x31), Just(0x80)]
        )
            .prop_map(|(s, n)| vec![0x7F, s, n]),
        (
            prop_oneof![Just(0x50u8), Just(0x61), Just(0x71), Just(0x51), Just(0x7E)],
            any::<u8>()
        )
            .prop_map(|(s, b)| vec![s, b]),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..5),
                prop_oneof![Just(0x10u8), Just(0x21), Just(0x31), Just(0x11)]
                    .prop_flat_map(|s| any::<u8>().prop_map(move |b| vec![s, b])),
            ],
            any::<bool>()
        )
            .prop_map(|(p, e)| Op::Request(p, e)),
        plausible_pdu().prop_map(Op::Pdu),
        (0u16..3000).prop_map(Op::Advance),
        Just(Op::Timeout),
        Just(Op::Transmit),
        Just(Op::Cancel),
        Just(Op::ResetSession),
        any::<u8>().prop_map(Op::AssumeSession),
    ]
}

fn is_terminal(e: &ClientEvent) -> Option<RequestId> {
    if e.is_outcome() { e.request_id() } else { None }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any sequence of inputs never panics; only requested bytes or the keep-alive go out;
    /// every accepted request ends with exactly one terminal event once time runs on.
    #[test]
    fn test_engine_never_panics_and_sends_only_requested(
        ops in proptest::collection::vec(op(), 0..60),
        ka_reply in any::<bool>(),
    ) {
        let mut cfg = ClientConfig::kwp2000();
        cfg.max_pending = 4;
        cfg.overall_timeout = None;
        if let Some(ka) = cfg.keep_alive.as_mut() { ka.expect_response = ka_reply; }
        let ka_pdu = cfg.keep_alive.as_ref().map(|k| k.pdu.clone()).unwrap_or_default();
        let mut c = Client::new(cfg).unwrap();
        let mut now = 0u64;
        let mut accepted: HashMap<RequestId, Vec<u8>> = HashMap::new();
        let mut terminal: HashMap<RequestId, u32> = HashMap::new();
        let check = |tx: Option<Transmit>, accepted: &HashMap<RequestId, Vec<u8>>| -> Result<bool, TestCaseError> {
            let Some(tx) = tx else { return Ok(false) };
            match tx.kind {
                TransmitKind::KeepAlive => prop_assert_eq!(&tx.pdu, &ka_pdu),
                TransmitKind::Request { id, .. } => prop_assert_eq!(Some(&tx.pdu), accepted.get(&id)),
            }
            Ok(true)
        };
        for op in ops {
            let t = ms(now);
            match op {
                Op::Request(p, e) => {
                    let before = c.in_flight();
                    let opts = RequestOptions { expect_response: e, ..RequestOptions::default() };
                    match c.request(t, &p, opts) {
                        Ok(id) => { prop_assert!(before.is_none()); accepted.insert(id, p); }
                        Err(ClientError::Busy { in_flight }) => prop_assert_eq!(Some(in_flight), before),
                        Err(ClientError::EmptyPdu) => prop_assert!(p.is_empty()),
                        Err(other) => prop_assert!(false, "unexpected {:?}", other),
                    }
                }
                Op::Pdu(p) => c.handle_pdu(t, &p),
                Op::Advance(d) => now += u64::from(d),
                Op::Timeout => c.handle_timeout(t),
                Op::Transmit => { while check(c.poll_transmit(t), &accepted)? {} }
                Op::Cancel => { c.cancel(); }
                Op::ResetSession => c.reset_session_tracking(),
                Op::AssumeSession(s) => c.assume_session(t, s),
            }
            while let Some(e) = c.poll_event() {
                if let Some(id) = is_terminal(&e) { *terminal.entry(id).or_default() += 1; }
            }
        }
        // Let time run until nothing is in flight.
        for _ in 0..1000 {
            if c.in_flight().is_none() { break; }
            if let Some(d) = c.poll_timeout() { now = now.max(d.as_nanos() / 1_000_000 + 1); }
            c.handle_timeout(ms(now));
            while check(c.poll_transmit(ms(now)), &accepted)? {}
            while let Some(e) = c.poll_event() {
                if let Some(id) = is_terminal(&e) { *terminal.entry(id).or_default() += 1; }
            }
        }
        prop_assert_eq!(c.in_flight(), None);
        for id in accepted.keys() {
            prop_assert_eq!(terminal.get(id).copied(), Some(1), "request {} terminal events", id);
        }
    }
}
