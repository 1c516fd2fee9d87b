use super::*;
use crate::frame::{Frame, Id};
use crate::output::FrameDecoder;

const DBC: &str = r#"VERSION ""
NS_ :
BS_:
BU_: A B
BO_ 256 ENGINE: 8 A
 SG_ RPM : 0|16@1+ (0.25,0) [0|16383] "rpm" B
 SG_ COOLANT : 16|8@1+ (1,-40) [-40|215] "degC" B
BO_ 257 BODY: 8 A
 SG_ GEAR : 0|8@1+ (1,0) [0|3] "" B
 SG_ DOOR_FL : 8|1@1+ (1,0) [0|1] "" B
BO_ 258 MUXED: 8 A
 SG_ SEL M : 0|8@1+ (1,0) [0|0] "" B
 SG_ V0 m0 : 8|8@1+ (1,0) [0|0] "V" B
 SG_ V1 m1 : 8|8@1+ (1,0) [0|0] "V" B
VAL_ 257 GEAR 0 "P" 1 "R" 2 "N" 3 "D" ;
"#;

fn db() -> Database {
    Database::from_str_named(DBC, "t.dbc").unwrap()
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// Feeds `frames` (time in ms, id, data) to a collector for `patterns`.
fn collect(
    patterns: &[&str],
    frames: &[(u64, u16, [u8; 8])],
    start: Option<Limit>,
    end: Option<Limit>,
) -> Chart {
    let db = db();
    let layout = Layout::parse(&args(patterns), false, false).unwrap();
    let mut c = Collector::new(&db, &layout, start, end).unwrap();
    let mut decoder = FrameDecoder::new(&db);
    for (ms, id, data) in frames {
        let f = Frame::classic(Id::standard(*id).unwrap(), data).unwrap();
        let m = decoder.decode(&f);
        c.push(
            Timestamp::from_nanos(1_700_000_000_000_000_000 + ms * 1_000_000),
            &m,
        );
    }
    c.finish(None, 10_000)
}

fn names(chart: &Chart) -> Vec<Vec<Vec<String>>> {
    chart
        .panels
        .iter()
        .map(|p| {
            p.axes
                .iter()
                .map(|a| a.series.iter().map(|s| s.name.clone()).collect())
                .collect()
        })
        .collect()
}

#[test]
fn test_patterns_subplots_and_second_axis() {
    let frames = [(0, 0x100, [0; 8])];
    let chart = collect(&["RPM", ",", "COOLANT", "-", "BODY.*"], &frames, None, None);
    assert_eq!(
        names(&chart),
        vec![
            vec![
                vec!["ENGINE.RPM".to_string()],
                vec!["ENGINE.COOLANT".to_string()]
            ],
            vec![
                vec!["BODY.GEAR".to_string(), "BODY.DOOR_FL".to_string()],
                vec![]
            ],
        ]
    );
    // `?`, and a qualified glob across messages.
    let chart = collect(&["V?"], &frames, None, None);
    assert_eq!(names(&chart)[0][0], vec!["MUXED.V0", "MUXED.V1"]);
    let chart = collect(&["*.DOOR_??"], &frames, None, None);
    assert_eq!(names(&chart)[0][0], vec!["BODY.DOOR_FL"]);
    // No pattern: every signal.
    let chart = collect(&[], &frames, None, None);
    assert_eq!(chart.series().count(), 7);
}

#[test]
fn test_a_pattern_matching_nothing_is_an_error() {
    let db = db();
    let layout = Layout::parse(&args(&["RPM", "SPEED*"]), false, false).unwrap();
    let e = Collector::new(&db, &layout, None, None).unwrap_err();
    assert_eq!(e, PlotError::NoMatch("SPEED*".to_string()));
    assert!(matches!(
        Layout::parse(&args(&["RPM", ",", "A", ",", "B"]), false, false),
        Err(PlotError::ThirdAxis)
    ));
    assert!(matches!(
        Layout::parse(&args(&["(unclosed"]), true, false),
        Err(PlotError::Pattern { .. })
    ));
    // Regular expressions and case.
    let layout = Layout::parse(&args(&["r.m"]), true, true).unwrap();
    assert!(Collector::new(&db, &layout, None, None).is_ok());
    let layout = Layout::parse(&args(&["rpm"]), false, false).unwrap();
    assert!(Collector::new(&db, &layout, None, None).is_err());
}

#[test]
fn test_values_units_labels_and_multiplexed_signals() {
    let frames = [
        (0, 0x100, [0x10, 0x00, 60, 0, 0, 0, 0, 0]),
        (10, 0x101, [3, 1, 0, 0, 0, 0, 0, 0]),
        (20, 0x102, [1, 7, 0, 0, 0, 0, 0, 0]),
        (30, 0x102, [0, 9, 0, 0, 0, 0, 0, 0]),
    ];
    let chart = collect(
        &["RPM", "COOLANT", "-", "GEAR", "-", "V0", "V1"],
        &frames,
        None,
        None,
    );
    let p = &chart.panels;
    assert_eq!(p[0].axes[0].series[0].segments, vec![vec![(0.0, 4.0)]]);
    assert_eq!(p[0].axes[0].series[1].segments, vec![vec![(0.0, 20.0)]]);
    assert_eq!(p[0].axes[0].title(), "RPM [rpm], COOLANT [degC]");
    assert_eq!(p[1].axes[0].title(), "GEAR");
    assert_eq!(p[1].axes[0].labels().unwrap()[3], (3.0, "D".to_string()));
    // Each multiplexed signal only from frames of its branch.
    assert_eq!(p[2].axes[0].series[0].segments, vec![vec![(0.03, 9.0)]]);
    assert_eq!(p[2].axes[0].series[1].segments, vec![vec![(0.02, 7.0)]]);
    assert_eq!(p[2].axes[0].title(), "V");
    assert_eq!(chart.span, (0.0, 0.03));
}

#[test]
fn test_start_and_end_cut_the_time_axis() {
    let frames: Vec<(u64, u16, [u8; 8])> = (0..100)
        .map(|i| (i * 100, 0x101, [(i % 4) as u8; 8]))
        .collect();
    let chart = collect(
        &["GEAR"],
        &frames,
        Some(Limit::Relative(Duration::from_secs(2))),
        Some(Limit::Absolute(Timestamp::from_nanos(
            1_700_000_000_000_000_000 + 5_000_000_000,
        ))),
    );
    let seg = &chart.panels[0].axes[0].series[0].segments;
    assert_eq!(seg.len(), 1);
    assert_eq!(seg[0].first().unwrap().0, 2.0);
    assert_eq!(seg[0].last().unwrap().0, 5.0);
    assert_eq!(chart.span, (2.0, 5.0));
}

#[test]
fn test_gaps_break_the_line() {
    // 10 ms cycle, then silence for a second, then again.
    let mut frames: Vec<(u64, u16, [u8; 8])> = (0..50).map(|i| (i * 10, 0x100, [1; 8])).collect();
    frames.extend((0..50).map(|i| (1500 + i * 10, 0x100, [2; 8])));
    let chart = collect(&["RPM"], &frames, None, None);
    let s = &chart.panels[0].axes[0].series[0];
    assert_eq!(s.segments.len(), 2);
    assert_eq!((s.segments[0].len(), s.segments[1].len()), (50, 50));
    assert_eq!(s.points, 100);
}

#[test]
fn test_thinning_keeps_the_extremes() {
    let points: Vec<(f64, f64)> = (0..100_000)
        .map(|i| {
            (
                i as f64 * 0.001,
                if i == 54_321 {
                    1000.0
                } else if i == 7 {
                    -5.0
                } else {
                    (i % 10) as f64
                },
            )
        })
        .collect();
    let thinned = thin(vec![points], 2000);
    let n: usize = thinned.iter().map(Vec::len).sum();
    assert!(n <= 2000 + 8, "{n}");
    let all: Vec<f64> = thinned.iter().flatten().map(|p| p.1).collect();
    assert!(all.contains(&1000.0) && all.contains(&-5.0));
    // Time order is kept.
    assert!(thinned[0].windows(2).all(|w| w[0].0 <= w[1].0));
}

#[test]
fn test_limits_parse() {
    assert_eq!(
        Limit::parse("12.5"),
        Ok(Limit::Relative(Duration::from_millis(12_500)))
    );
    // `date -u -d @1700000000`: 2023-11-14T22:13:20Z.
    assert_eq!(
        Limit::parse("2023-11-14T22:13:20.25Z"),
        Ok(Limit::Absolute(Timestamp::from_nanos(
            1_700_000_000_250_000_000
        )))
    );
    assert_eq!(
        Limit::parse("2023-11-14 22:13:20"),
        Ok(Limit::Absolute(Timestamp::from_nanos(
            1_700_000_000_000_000_000
        )))
    );
    assert!(Limit::parse("-1").is_err());
    assert!(Limit::parse("2023-13-01T00:00:00").is_err());
    assert!(Limit::parse("yesterday").is_err());
}

#[test]
fn test_text_chart_shows_the_series() {
    let frames: Vec<(u64, u16, [u8; 8])> = (0..200)
        .map(|i| (i * 10, 0x101, [(i / 50) as u8; 8]))
        .collect();
    let chart = collect(&["GEAR"], &frames, None, None);
    let text = text::render(&chart, 80, 20, false);
    assert_eq!(text.lines().count(), 20);
    assert!(text.contains("GEAR"), "{text}");
    // The enumeration's labels on the y-axis, the time axis titled.
    assert!(text.contains('P') && text.contains('D'), "{text}");
    assert!(text.contains("seconds from 2023-11-14T22:13:20Z"), "{text}");
    // Braille dots were drawn.
    assert!(
        text.chars().any(|c| ('\u{2801}'..='\u{28FF}').contains(&c)),
        "{text}"
    );
}

#[test]
fn test_lanes_follow_the_watch_events() {
    use crate::watch::{ArmedEvent, Event, Subject};
    let t = |s: u64| Timestamp::from_nanos(s * 1_000_000_000);
    let mut r = nodes::LaneRecorder::new(vec!["AV".into(), "BCM".into()], false);
    r.frame(t(1));
    r.event(&ArmedEvent::Armed { at: t(2) });
    // A message-level loss is not a node loss.
    r.event(&ArmedEvent::Watch(Event::Lost {
        node: 0,
        subject: Subject::Message(0),
        at: t(3),
        last_seen: None,
    }));
    r.event(&ArmedEvent::Watch(Event::Lost {
        node: 0,
        subject: Subject::Node,
        at: t(4),
        last_seen: Some(t(2)),
    }));
    r.event(&ArmedEvent::Watch(Event::Restored {
        node: 0,
        subject: Subject::Node,
        at: t(6),
        last_seen: Some(t(2)),
        lost_at: t(4),
    }));
    r.event(&ArmedEvent::Watch(Event::Lost {
        node: 1,
        subject: Subject::Node,
        at: t(7),
        last_seen: Some(t(5)),
    }));
    // Disarming ends the open loss; arming again, a loss still open at the end runs to it.
    r.event(&ArmedEvent::Disarmed { at: t(8) });
    r.event(&ArmedEvent::Armed { at: t(9) });
    r.event(&ArmedEvent::Watch(Event::Lost {
        node: 0,
        subject: Subject::Node,
        at: t(10),
        last_seen: Some(t(8)),
    }));
    r.frame(t(12));
    let lanes = r.finish(t(12));
    assert_eq!((lanes.start, lanes.end), (t(1), t(12)));
    assert_eq!(lanes.armed, vec![(t(2), t(8)), (t(9), t(12))]);
    assert_eq!(lanes.lost[0], vec![(t(4), t(6)), (t(10), t(12))]);
    assert_eq!(lanes.lost[1], vec![(t(7), t(8))]);
    assert_eq!(lanes.losses(), 3);
    let text = text::render_lanes(&lanes, 40);
    let rows: Vec<&str> = text.lines().collect();
    assert!(
        rows[0].starts_with("AV  |.") && rows[0].contains("#X"),
        "{text}"
    );
    assert!(
        rows[1].starts_with("BCM |.") && rows[1].contains('X'),
        "{text}"
    );
}

#[test]
fn test_coverage_names_signals_that_never_appear() {
    let frames = [
        (0, 0x100, [0x10, 0x00, 60, 0, 0, 0, 0, 0]),
        (10, 0x100, [0x20, 0x00, 61, 0, 0, 0, 0, 0]),
    ];
    let chart = collect(&["RPM", "GEAR"], &frames, None, None);
    let c = chart.coverage(7, "a.log").unwrap();
    assert_eq!(c.note, "1 signal (2 values from 7 frames)");
    assert_eq!(
        c.warning.as_deref(),
        Some("1 selected signal never appears in the logs: BODY.GEAR")
    );
    let both = collect(&["RPM", "COOLANT"], &frames, None, None);
    let c = both.coverage(2, "a.log").unwrap();
    assert_eq!(
        (c.note.as_str(), c.warning),
        ("2 signals (4 values from 2 frames)", None)
    );
    let none = collect(&["GEAR", "DOOR_FL"], &frames, None, None);
    let e = none.coverage(2, "a.log and b.log").unwrap_err().to_string();
    assert!(
        e.starts_with("none of the 2 selected signals appears in 2 frames of a.log and b.log"),
        "{e}"
    );
}

#[test]
fn collect_takes_a_capture_counts_its_frames_and_warns_of_bad_lines() {
    let db = db();
    let layout = Layout::parse(&args(&["RPM"]), false, false).unwrap();
    let mut c = Collector::new(&db, &layout, None, None).unwrap();
    let log = "(1700000000.000000) can0 100#1000000000000000\n\
               (1700000000.050000) can0 100#ZZ\n\
               (1700000000.100000) can0 100#2000000000000000\n\
               (1700000000.200000) can0 7FF#00\n";
    let mut reader = crate::log::candump::Reader::new(std::io::Cursor::new(log));
    let mut warnings = Vec::new();
    let frames = c
        .collect(&db, &mut reader, || false, &mut |w| warnings.push(w))
        .unwrap();
    assert_eq!(frames, 3);
    assert_eq!(
        warnings,
        [
            "line 2, column 30: invalid hex digit 'Z' in the data (skipped)",
            "1 malformed line skipped"
        ]
    );
    let chart = c.finish(None, 10_000);
    let points: Vec<u64> = chart.series().map(|s| s.points).collect();
    assert_eq!(points, [2]);

    // Stopped before the first record: nothing taken.
    let mut c = Collector::new(&db, &layout, None, None).unwrap();
    let mut reader = crate::log::candump::Reader::new(std::io::Cursor::new(log));
    let frames = c.collect(&db, &mut reader, || true, &mut |_| {}).unwrap();
    assert_eq!(frames, 0);
}
