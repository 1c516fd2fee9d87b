//! Model tests over synthetic timelines.

use super::view::{NameFilter, SortKey, ViewState, snapshot};
use super::*;
use crate::frame::ErrorFrame;

const DBC: &str = r#"VERSION ""
BU_: BCM AV
BO_ 1549 BODY_STATUS: 8 BCM
 SG_ IGNITION_STATE : 2|2@1+ (1,0) [0|3] "" Vector__XXX
 SG_ SPEEDISH : 8|8@1+ (0.5,0) [0|127] "km/h" Vector__XXX
BO_ 861 AV_STATUS: 8 AV
 SG_ IGNITION_ON : 0|1@1+ (1,0) [0|1] "" Vector__XXX
BO_ 1573 IPDM_STATUS: 8 BCM
 SG_ BATTERY_VOLTAGE : 0|8@1+ (0.0625,0) [0|16] "V" Vector__XXX
BA_DEF_ BO_ "GenMsgCycleTime" INT 0 65535;
BA_DEF_DEF_ "GenMsgCycleTime" 0;
BA_ "GenMsgCycleTime" BO_ 1549 100;
BA_ "GenMsgCycleTime" BO_ 861 100;
VAL_ 1549 IGNITION_STATE 0 "OFF" 1 "ACC" 2 "START" 3 "ON" ;
"#;

fn ms(v: u64) -> Timestamp {
    Timestamp::from_nanos(v * 1_000_000)
}
fn sid(v: u16) -> Id {
    Id::standard(v).unwrap()
}
fn frame(id: u16, data: &[u8]) -> Frame {
    Frame::classic(sid(id), data).unwrap()
}
fn monitor() -> Monitor {
    let db = Database::from_str_named(DBC, "test.dbc").unwrap();
    Monitor::new(MonitorConfig::default(), db).unwrap()
}
fn row(m: &Monitor, id: u16) -> &Row {
    m.rows().iter().find(|r| r.id() == sid(id)).unwrap()
}

/// Periodic frames of `id` from `from` to `to` (ms, exclusive).
fn feed(m: &mut Monitor, id: u16, from: u64, to: u64, period: u64, data: &[u8]) {
    let mut t = from;
    while t < to {
        m.handle_frame(ms(t), &frame(id, data));
        t += period;
    }
}

#[test]
fn test_cyclic_dbc_messages_have_rows_before_any_frame() {
    let m = monitor();
    let ids: Vec<u32> = m.rows().iter().map(|r| r.id().raw()).collect();
    assert_eq!(ids, vec![0x60D, 0x35D], "only the cyclic messages");
    assert_eq!(m.nodes().len(), 2);
    assert_eq!(m.row_state(row(&m, 0x60D), ms(0)), State::Waiting);
}

#[test]
fn test_rate_cycle_and_jitter_of_a_periodic_message() {
    let mut m = monitor();
    feed(&mut m, 0x60D, 0, 10_000, 100, &[0; 8]);
    let now = ms(9_950);
    let r = row(&m, 0x60D);
    assert_eq!(r.count(), 100);
    let rate = r.rate(now).unwrap();
    assert!((rate - 10.0).abs() < 0.3, "{rate}");
    let s = r.window_stats(now);
    assert_eq!(s.mean, Some(Duration::from_millis(100)));
    assert_eq!(s.std_dev, Some(Duration::ZERO));
    assert_eq!(r.dbc_cycle(), Some(Duration::from_millis(100)));
    assert_eq!(m.row_state(r, now), State::Ok);
}

#[test]
fn test_jitter_is_the_std_dev_of_the_intervals() {
    let mut m = monitor();
    // Intervals 90, 110, 90, 110, ...: mean 100 ms, std dev 10 ms, peak-to-peak 20 ms.
    let mut t = 0;
    for i in 0..200 {
        m.handle_frame(ms(t), &frame(0x60D, &[0; 8]));
        t += if i % 2 == 0 { 90 } else { 110 };
    }
    // At this instant the window holds an even number of each interval.
    let s = row(&m, 0x60D).window_stats(ms(t - 200));
    let mean = s.mean.unwrap().as_secs_f64() * 1000.0;
    let sd = s.std_dev.unwrap().as_secs_f64() * 1000.0;
    assert!((mean - 100.0).abs() < 1.0, "{mean}");
    assert!((sd - 10.0).abs() < 0.2, "{sd}");
    assert_eq!(s.peak_to_peak(), Some(Duration::from_millis(20)));
}

#[test]
fn test_rate_of_a_message_that_just_started_counts_intervals() {
    let mut m = monitor();
    feed(&mut m, 0x60D, 0, 10_000, 100, &[0; 8]);
    feed(&mut m, 0x123, 9_000, 10_000, 20, &[1]);
    let rate = row(&m, 0x123).rate(ms(9_980)).unwrap();
    assert!((rate - 50.0).abs() < 0.5, "{rate}");
    // And decays to zero once it stops.
    assert_eq!(row(&m, 0x123).rate(ms(20_000)), Some(0.0));
}

#[test]
fn test_late_then_lost_then_ok_again() {
    let mut m = monitor();
    feed(&mut m, 0x60D, 0, 1_000, 100, &[0; 8]);
    let r = |m: &Monitor, t| m.row_state(row(m, 0x60D), ms(t));
    // Last frame at 900 ms; cycle 100 ms: late after 150 ms, lost after 2 s.
    assert_eq!(r(&m, 1_000), State::Ok);
    assert_eq!(r(&m, 1_050), State::Ok);
    assert_eq!(r(&m, 1_051), State::Late);
    assert_eq!(r(&m, 2_899), State::Late);
    assert_eq!(
        r(&m, 2_900),
        State::Lost,
        "a gap of exactly the timeout, as the watcher"
    );
    feed(&mut m, 0x60D, 3_000, 3_100, 100, &[0; 8]);
    assert_eq!(r(&m, 3_010), State::Ok);
}

#[test]
fn test_timeout_matches_the_watcher_rule() {
    let m = monitor();
    for cycle in [10, 100, 200, 500, 1000] {
        let c = Duration::from_millis(cycle);
        let w = crate::watch::Watcher::new(
            WatchConfig::default(),
            vec![Expectation {
                id: sid(1),
                name: None,
                node: "N".into(),
                cycle: c,
            }],
        )
        .unwrap();
        assert_eq!(Some(m.timeout_for(c)), w.message_timeout(0), "{cycle} ms");
    }
}

#[test]
fn test_never_seen_message_is_lost_after_the_first_reception_timeout() {
    let mut m = monitor();
    feed(&mut m, 0x60D, 0, 6_000, 100, &[0; 8]);
    let av = row(&m, 0x35D);
    assert_eq!(m.row_state(av, ms(3_999)), State::Waiting);
    assert_eq!(m.row_state(av, ms(4_000)), State::Lost);
}

#[test]
fn test_unknown_id_state_uses_the_measured_cycle() {
    let mut m = monitor();
    feed(&mut m, 0x100, 0, 2_000, 50, &[1]);
    let r = row(&m, 0x100);
    assert_eq!(r.dbc_cycle(), None);
    assert_eq!(r.cycle(), Some(Duration::from_millis(50)));
    assert_eq!(m.row_state(r, ms(1_960)), State::Ok);
    assert_eq!(m.row_state(r, ms(2_100)), State::Late);
    assert_eq!(m.row_state(r, ms(4_000)), State::Lost);
    // One frame only: no cycle, no state.
    m.handle_frame(ms(2_000), &frame(0x101, &[1]));
    assert_eq!(m.row_state(row(&m, 0x101), ms(5_000)), State::Unknown);
}

#[test]
fn test_node_lost_and_restored_events() {
    let mut m = monitor();
    // Both send until 8 s, the AV unit is silent from 8 s to 14 s, then both again.
    for t in (0..20_000).step_by(100) {
        m.handle_frame(ms(t), &frame(0x60D, &[0; 8]));
        if !(8_000..14_000).contains(&t) {
            m.handle_frame(ms(t), &frame(0x35D, &[1; 8]));
        }
        m.handle_timeout(ms(t));
        if t == 12_000 {
            let av = m.nodes().iter().find(|n| n.name == "AV").unwrap();
            assert_eq!(av.state, State::Lost);
            assert_eq!(av.since, Some(ms(9_900)));
            assert_eq!(m.row_state(row(&m, 0x35D), ms(t)), State::Lost);
        }
    }
    let av = m.nodes().iter().find(|n| n.name == "AV").unwrap();
    assert_eq!(
        (av.state, av.since, av.losses),
        (State::Ok, Some(ms(14_000)), 1)
    );
    let events: Vec<_> = m.events().copied().collect();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events[0].lost && events[0].at == ms(9_900));
    assert_eq!(events[1].downtime, Some(Duration::from_millis(4_100)));
    let bcm = m.nodes().iter().find(|n| n.name == "BCM").unwrap();
    assert_eq!((bcm.state, bcm.losses), (State::Ok, 0));
}

#[test]
fn test_changed_bytes_are_marked_and_decay() {
    let mut m = monitor();
    m.handle_frame(ms(0), &frame(0x60D, &[0, 0, 0, 0]));
    let hold = m.config().changed_hold;
    assert_eq!(
        row(&m, 0x60D).changed_mask(ms(0), hold),
        0,
        "first frame: nothing"
    );
    m.handle_frame(ms(100), &frame(0x60D, &[0, 5, 0, 0]));
    m.handle_frame(ms(600), &frame(0x60D, &[0, 5, 0, 7]));
    let r = row(&m, 0x60D);
    assert_eq!(r.changed_mask(ms(600), hold), 0b1010);
    assert_eq!(r.changed_mask(ms(1_099), hold), 0b1010);
    assert_eq!(r.changed_mask(ms(1_100), hold), 0b1000, "byte 1 decayed");
    assert_eq!(r.changed_mask(ms(1_600), hold), 0);
    // A longer payload marks the new bytes.
    m.handle_frame(ms(700), &frame(0x60D, &[0, 5, 0, 7, 9]));
    assert_eq!(row(&m, 0x60D).changed_mask(ms(700), hold), 0b11010);
}

#[test]
fn test_decoding_happens_on_timeout_and_only_for_changed_data() {
    let mut m = monitor();
    m.handle_frame(ms(0), &frame(0x60D, &[0x0C, 20, 0, 0, 0, 0, 0, 0]));
    assert!(row(&m, 0x60D).decoded().signals().is_empty(), "deferred");
    m.handle_timeout(ms(0));
    let screen = snapshot(&m, &ViewState::default(), ms(0));
    let body = screen
        .rows
        .iter()
        .find(|r| r.name == "BODY_STATUS")
        .unwrap();
    assert_eq!(body.signals, "IGNITION_STATE=ON SPEEDISH=10 km/h");
    // Same data again: nothing queued.
    m.handle_frame(ms(100), &frame(0x60D, &[0x0C, 20, 0, 0, 0, 0, 0, 0]));
    assert!(m.dirty.is_empty());
    // Many changes between two timeouts: one decode, of the latest data.
    for i in 0..100u8 {
        m.handle_frame(
            ms(200 + u64::from(i)),
            &frame(0x60D, &[0x04, i, 0, 0, 0, 0, 0, 0]),
        );
    }
    assert_eq!(m.dirty.len(), 1);
    m.handle_timeout(ms(300));
    let screen = snapshot(&m, &ViewState::default(), ms(300));
    let body = screen
        .rows
        .iter()
        .find(|r| r.name == "BODY_STATUS")
        .unwrap();
    assert_eq!(body.signals, "IGNITION_STATE=ACC SPEEDISH=49.5 km/h");
    // A short frame reports the decode error.
    m.handle_frame(ms(400), &frame(0x60D, &[1]));
    m.handle_timeout(ms(400));
    assert!(row(&m, 0x60D).decode_error().is_some());
}

#[test]
fn test_rows_are_capped_and_overflow_counted() {
    let db = Database::from_str_named(DBC, "test.dbc").unwrap();
    let mut m = Monitor::new(
        MonitorConfig {
            max_rows: 5,
            ..MonitorConfig::default()
        },
        db,
    )
    .unwrap();
    for id in 0..100u16 {
        m.handle_frame(ms(u64::from(id)), &frame(id, &[1]));
    }
    m.handle_frame(
        ms(200),
        &Frame::classic(Id::extended(0x1234).unwrap(), &[]).unwrap(),
    );
    assert_eq!(m.rows().len(), 5);
    assert_eq!(m.bus().overflow_frames, 98);
    assert_eq!(m.bus().frames, 101);
    // Known ids keep counting.
    m.handle_frame(ms(300), &frame(0, &[2]));
    assert_eq!(row(&m, 0).count(), 2);
}

#[test]
fn test_error_frames_counted_by_class_and_not_as_rows() {
    let mut m = monitor();
    let e = Frame::Error(ErrorFrame::new(0x080 | 0x004, [0; 8]).unwrap());
    m.handle_frame(ms(0), &e);
    m.handle_frame(ms(1), &e);
    assert_eq!(m.bus().error_frames, 2);
    assert_eq!(m.bus().error_classes[2], 2, "controller");
    assert_eq!(m.bus().error_classes[7], 2, "bus-error");
    assert_eq!(m.rows().len(), 2);
    let screen = snapshot(&m, &ViewState::default(), ms(1));
    assert_eq!(screen.error_classes, "controller 2, bus-error 2");
}

#[test]
fn test_bus_load_of_a_saturating_stream() {
    let mut m = monitor();
    // 8-byte standard frames back to back at 500 kbit/s: 270 us each, so 100 % load.
    let mut t = 0u64;
    while t < 3_000_000_000 {
        m.handle_frame(Timestamp::from_nanos(t), &frame(0x100, &[0; 8]));
        t += 270_000;
    }
    let load = m.bus_load(Timestamp::from_nanos(t));
    assert!((load.load - 1.0).abs() < 0.01, "{load:?}");
    assert!((load.frames_per_sec - 3703.7).abs() < 40.0, "{load:?}");
}

#[test]
fn test_filter_matches_message_signal_and_id() {
    let mut m = monitor();
    m.handle_frame(ms(0), &frame(0x625, &[0; 8]));
    m.handle_frame(ms(0), &frame(0x7DF, &[0; 8]));
    let names = |filter: &str| -> Vec<String> {
        let view = ViewState {
            filter: Some(NameFilter::new(filter).unwrap()),
            ..ViewState::default()
        };
        snapshot(&m, &view, ms(0))
            .rows
            .iter()
            .map(|r| r.id.clone())
            .collect()
    };
    assert_eq!(names("ipdm"), vec!["625"]);
    assert_eq!(names("^IGNITION"), vec!["35D", "60D"], "signal names");
    assert_eq!(names("7df"), vec!["7DF"], "raw id");
    assert_eq!(names(""), vec!["35D", "60D", "625", "7DF"]);
    assert!(NameFilter::new("(").is_err());
}

#[test]
fn test_sort_keys() {
    let mut m = monitor();
    feed(&mut m, 0x60D, 0, 1_000, 100, &[0; 8]);
    feed(&mut m, 0x100, 0, 1_000, 10, &[0; 8]);
    feed(&mut m, 0x7DF, 0, 1_000, 500, &[0; 8]);
    let order = |sort: SortKey, t: u64| -> Vec<String> {
        let view = ViewState {
            sort,
            ..ViewState::default()
        };
        snapshot(&m, &view, ms(t))
            .rows
            .iter()
            .map(|r| r.id.clone())
            .collect()
    };
    assert_eq!(order(SortKey::Id, 990), ["100", "35D", "60D", "7DF"]);
    assert_eq!(order(SortKey::Name, 990), ["35D", "60D", "100", "7DF"]);
    assert_eq!(order(SortKey::Rate, 990), ["100", "60D", "7DF", "35D"]);
    assert_eq!(order(SortKey::Count, 990), ["100", "60D", "7DF", "35D"]);
    // At 1.2 s 0x100 and 0x60D are late, the AV message still waiting, 0x7DF on time.
    assert_eq!(order(SortKey::State, 1_200), ["100", "60D", "35D", "7DF"]);
    assert_eq!(SortKey::State.next(), SortKey::Id);
}

#[test]
fn test_reset_zeroes_counters_but_keeps_rows_and_data() {
    let mut m = monitor();
    feed(&mut m, 0x60D, 0, 1_000, 100, &[3; 8]);
    m.handle_frame(
        ms(1_000),
        &Frame::Error(ErrorFrame::new(0x080, [0; 8]).unwrap()),
    );
    m.reset(ms(1_000));
    assert_eq!(row(&m, 0x60D).count(), 0);
    assert_eq!(row(&m, 0x60D).data(), &[3; 8]);
    assert_eq!(m.bus().frames, 0);
    assert_eq!(m.bus().error_frames, 0);
    assert_eq!(m.bus_load(ms(1_050)).frames_per_sec, 0.0);
    assert!(m.nodes().iter().all(|n| n.state == State::Waiting));
    feed(&mut m, 0x60D, 1_100, 1_500, 100, &[3; 8]);
    assert_eq!(row(&m, 0x60D).count(), 4);
}

#[test]
fn test_remote_and_fd_frames() {
    let mut m = monitor();
    m.handle_frame(
        ms(0),
        &Frame::Remote(crate::frame::RemoteFrame::new(sid(0x60D), 8).unwrap()),
    );
    assert_eq!(row(&m, 0x60D).remote_count(), 1);
    assert_eq!(row(&m, 0x60D).data(), &[] as &[u8]);
    m.handle_frame(ms(1), &Frame::fd(sid(0x200), &[7; 64], true).unwrap());
    let r = row(&m, 0x200);
    assert!(r.is_fd());
    assert_eq!(r.data().len(), 64);
    assert_eq!(m.bus().fd_frames, 1);
    let screen = snapshot(&m, &ViewState::default(), ms(1));
    assert_eq!(screen.data_bitrate, Some(2_000_000), "FD load is flagged");
}

#[test]
fn test_bad_config_is_refused() {
    let db = Database::from_str_named(DBC, "test.dbc").unwrap();
    let bad = MonitorConfig {
        late_factor: f64::NAN,
        ..MonitorConfig::default()
    };
    assert!(Monitor::new(bad, db.clone()).is_err());
    let bad = MonitorConfig {
        timing: BusTiming {
            bitrate: 0,
            data_bitrate: 1,
        },
        ..MonitorConfig::default()
    };
    assert!(Monitor::new(bad, db).is_err());
}

#[test]
fn test_rate_after_a_gap_is_the_current_rate_not_the_average_over_the_gap() {
    let mut m = monitor();
    feed(&mut m, 0x35D, 0, 8_000, 100, &[0; 8]);
    feed(&mut m, 0x35D, 14_000, 15_000, 100, &[0; 8]);
    let r = row(&m, 0x35D);
    let rate = r.rate(ms(14_950)).unwrap();
    assert!((rate - 10.0).abs() < 0.01, "{rate}");
    // The cycle statistics do show the gap (one 6.1 s interval in the window).
    let s = r.window_stats(ms(14_950));
    assert_eq!(s.max, Some(Duration::from_millis(6_100)));
    // While stopped the rate decays.
    let rate = r.rate(ms(15_500)).unwrap();
    assert!(rate < 9.0, "{rate}");
}

#[test]
fn test_rate_of_a_cycle_longer_than_the_window() {
    let mut m = monitor();
    feed(&mut m, 0x745, 0, 10_001, 2_500, &[2, 0x3E, 0x80]);
    let r = row(&m, 0x745);
    let rate = r.rate(ms(10_100)).unwrap();
    assert!((rate - 0.4).abs() < 1e-9, "{rate}");
    assert_eq!(r.rate(ms(20_000)), Some(0.0));
    assert_eq!(m.row_state(r, ms(10_100)), State::Ok);
}

/// Regression: with the ignition OFF the node panel showed the sleeping AV unit LOST where
/// `watch` (armed only while the DBC's condition holds) said nothing was lost. The panel now
/// runs the same armed watch.
#[test]
fn test_node_panel_follows_the_watch_arming() {
    let db = Database::from_str_named(
        &format!("{DBC}BA_DEF_ \"CanrelearnWatchArm\" STRING;\nBA_ \"CanrelearnWatchArm\" \"BODY_STATUS.IGNITION_STATE=3\";\n"),
        "test.dbc",
    )
    .unwrap();
    let mut m = Monitor::new(MonitorConfig::default(), db).unwrap();
    assert_eq!(
        m.arming().map(|(c, _)| c),
        Some("BODY_STATUS.IGNITION_STATE=3")
    );
    // Ignition OFF (0) for 20 s, the AV unit silent: nothing is lost.
    feed(&mut m, 0x60D, 0, 20_000, 100, &[0, 0, 0, 0, 0, 0, 0, 0]);
    m.handle_timeout(ms(20_000));
    let av = m.nodes().iter().find(|n| n.name == "AV").unwrap();
    assert_ne!(
        av.state,
        State::Lost,
        "disarmed: the sleeping AV unit is not lost"
    );
    assert_eq!(m.arming().map(|(_, armed)| armed), Some(false));
    // Ignition ON (3 in bits 2-3): armed; the AV unit stays silent past grace + timeout.
    feed(
        &mut m,
        0x60D,
        20_000,
        30_000,
        100,
        &[0x0C, 0, 0, 0, 0, 0, 0, 0],
    );
    m.handle_timeout(ms(30_000));
    let av = m.nodes().iter().find(|n| n.name == "AV").unwrap();
    assert_eq!(av.state, State::Lost);
}

#[test]
fn test_keys_edit_the_view_and_ask_the_driver() {
    use super::view::KeyAction;
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let k = |c| KeyEvent::new(c, KeyModifiers::NONE);
    let mut v = ViewState::default();
    assert_eq!(v.key(k(KeyCode::Char(' ')), 20), KeyAction::None);
    assert!(v.paused);
    assert_eq!(v.key(k(KeyCode::PageDown), 20), KeyAction::None);
    assert_eq!(v.key(k(KeyCode::Up), 20), KeyAction::None);
    assert_eq!(v.scroll, 19);
    assert_eq!(v.key(k(KeyCode::Char('s')), 20), KeyAction::Rebuild);
    assert_ne!(v.sort, SortKey::default());
    assert_eq!(v.key(k(KeyCode::Char('r')), 20), KeyAction::Reset);

    // A filter typed after `/`: `q` is text there, Enter applies it and goes back to the top.
    v.key(k(KeyCode::Char('/')), 20);
    for c in "BODY|q".chars() {
        assert_eq!(v.key(k(KeyCode::Char(c)), 20), KeyAction::None);
    }
    v.key(k(KeyCode::Backspace), 20);
    v.key(k(KeyCode::Backspace), 20);
    assert_eq!(v.key(k(KeyCode::Enter), 20), KeyAction::Rebuild);
    assert!(v.filter.is_some() && v.input.is_none() && v.scroll == 0);
    // A bad expression is said in the status line and the filter before it stays.
    v.key(k(KeyCode::Char('/')), 20);
    v.key(k(KeyCode::Char('(')), 20);
    v.key(k(KeyCode::Enter), 20);
    assert!(
        v.notice
            .as_deref()
            .is_some_and(|n| n.starts_with("bad regular expression /(/"))
    );
    assert!(v.filter.is_some());

    // Help and the expanded row close before anything else happens.
    v.key(k(KeyCode::Char('?')), 20);
    assert_eq!(v.key(k(KeyCode::Char('q')), 20), KeyAction::None);
    v.key(k(KeyCode::Enter), 20);
    assert!(v.expanded);
    assert_eq!(v.key(k(KeyCode::Esc), 20), KeyAction::None);
    assert!(!v.expanded);
    assert_eq!(v.key(k(KeyCode::Char('q')), 20), KeyAction::Quit);
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    v.key(k(KeyCode::Char('/')), 20);
    assert_eq!(
        v.key(ctrl_c, 20),
        KeyAction::Quit,
        "Ctrl-C quits even while typing"
    );
}
