use super::*;

fn at_ms(ms: u64) -> Timestamp {
    Timestamp::from_nanos(ms * 1_000_000)
}

fn classic(id: u32, data: &[u8]) -> Frame {
    Frame::classic(Id::standard(id as u16).unwrap(), data).unwrap()
}

/// A deterministic jitter in [-2, +2] ms.
fn jitter(i: u64) -> i64 {
    ((i * 7919) % 5) as i64 - 2
}

/// 0x100 every 100 ms +- 2 ms for 20 s, 0x200 every 10 ms for 20 s: a healthy capture.
fn healthy() -> Learner {
    let mut l = Learner::default();
    let mut frames = healthy_frames();
    frames.sort_by_key(|(t, _)| *t);
    for (t, f) in &frames {
        l.add(at_ms(*t), f);
    }
    l
}

#[test]
fn test_periodic_ids_are_learnt_with_median_and_jitter() {
    let b = healthy().finish();
    assert_eq!(b.frames, 2200);
    let a = b.get(Id::standard(0x100).unwrap()).unwrap();
    assert!(a.is_periodic(), "{:?}", a.not_watched);
    let t = a.timing.unwrap();
    let median_ms = t.median.as_secs_f64() * 1e3;
    assert!((99.0..=101.0).contains(&median_ms), "{median_ms}");
    assert!(t.jitter() <= Duration::from_millis(5), "{:?}", t.jitter());
    assert_eq!(a.length(), 4);
    let fast = b.get(Id::standard(0x200).unwrap()).unwrap();
    assert_eq!(fast.period(), Some(Duration::from_millis(10)));
    assert_eq!(fast.timing.unwrap().jitter(), Duration::ZERO);
    assert_eq!(b.periodic().count(), 2);
}

#[test]
fn test_bytes_are_told_constant_counter_nibble_counter_and_changing() {
    let b = healthy().finish();
    let a = b.get(Id::standard(0x100).unwrap()).unwrap();
    assert_eq!(
        a.bytes,
        vec![
            ByteKind::Constant(0x12),
            ByteKind::Counter(CounterBits::Byte),
            ByteKind::Counter(CounterBits::LowNibble),
            ByteKind::Constant(7),
        ]
    );
    let fast = b.get(Id::standard(0x200).unwrap()).unwrap();
    assert_eq!(fast.bytes[0], ByteKind::Changes { distinct: 3 });
    assert_eq!(
        fast.describe_bytes(),
        "0 changes (up to 3 values), 1-7 constant (00 00 00 00 00 00 00)"
    );
    assert_eq!(
        a.describe_bytes(),
        "0 constant (12), 1 counter, 2 counter in the low 4 bits, 3 constant (07)"
    );
}

#[test]
fn test_high_nibble_counter_under_changing_low_bits() {
    let mut l = Learner::default();
    for i in 0..100u64 {
        let v = ((i as u8 & 0x0F) << 4) | ((i * 5) % 11) as u8 & 0x0F;
        l.add(at_ms(i * 20), &classic(0x10, &[v]));
    }
    let b = l.finish();
    assert_eq!(
        b.ids[0].bytes,
        vec![ByteKind::Counter(CounterBits::HighNibble)]
    );
}

#[test]
fn test_sparse_irregular_and_partial_ids_are_listed_not_watched() {
    let mut l = healthy();
    // A diagnostic answer: four frames.
    for i in 0..4 {
        l.add(at_ms(19_990 + i), &classic(0x7E8, &[0x02, 0x50, 0x81]));
    }
    let mut rows: Vec<(u64, Frame)> = Vec::new();
    // Event-driven: bursts of 3 frames 5 ms apart every ~1 s.
    for i in 0..20u64 {
        for k in 0..3 {
            rows.push((i * 997 + k * 5, classic(0x300, &[1])));
        }
    }
    // Sent every 50 ms but only in the first 5 s of a 20 s capture.
    for i in 0..100u64 {
        rows.push((i * 50, classic(0x400, &[2])));
    }
    rows.sort_by_key(|(t, _)| *t);
    // Feed them merged in time order with the healthy frames' span already set: the learner
    // takes earlier frames at the latest time, so build a fresh learner instead.
    let mut fresh = healthy_frames();
    fresh.extend(rows);
    fresh.sort_by_key(|(t, _)| *t);
    let mut l2 = Learner::default();
    for (t, f) in &fresh {
        l2.add(at_ms(*t), f);
    }
    let b = l2.finish();
    let why = |id: u16| b.get(Id::standard(id).unwrap()).unwrap().not_watched;
    assert!(
        matches!(why(0x300), Some(NotWatched::Irregular { .. })),
        "{:?}",
        why(0x300)
    );
    assert!(
        matches!(why(0x400), Some(NotWatched::NotThroughout { .. })),
        "{:?}",
        why(0x400)
    );
    assert_eq!(why(0x100), None);
    // The first learner also got the late 0x7E8 answers, in order.
    let b1 = l.finish();
    assert_eq!(
        b1.get(Id::standard(0x7E8).unwrap()).unwrap().not_watched,
        Some(NotWatched::TooFew { frames: 4 })
    );
    assert_eq!(b1.not_watched().count(), 1);
    assert!(
        why(0x300)
            .unwrap()
            .to_string()
            .starts_with("irregular (median interval 5.0 ms")
    );
}

fn healthy_frames() -> Vec<(u64, Frame)> {
    let mut frames: Vec<(u64, Frame)> = Vec::new();
    for i in 0..200u64 {
        let t = (i * 100) as i64 + jitter(i) + 5;
        frames.push((
            t as u64,
            classic(0x100, &[0x12, i as u8, 0x30 | (i as u8 & 0x0F), 7]),
        ));
    }
    for i in 0..2000u64 {
        frames.push((
            i * 10,
            classic(0x200, &[(i % 3) as u8, 0, 0, 0, 0, 0, 0, 0]),
        ));
    }
    frames
}

#[test]
fn test_missing_in_names_the_ids_a_second_capture_never_carried() {
    let healthy = healthy().finish();
    let mut l = Learner::default();
    for i in 0..2000u64 {
        l.add(at_ms(i * 10), &classic(0x200, &[0; 8]));
    }
    let silent = l.finish();
    assert_eq!(
        healthy.missing_in(&silent),
        vec![Id::standard(0x100).unwrap()]
    );
    assert!(silent.missing_in(&healthy).is_empty());
}

#[test]
fn test_expectations_take_names_and_senders_from_the_dbc_where_known() {
    let db = Database::from_str_named(
        "VERSION \"\"\nBU_: BCM\nBO_ 256 BODY: 4 BCM\n SG_ A : 0|8@1+ (1,0) [0|255] \"\" Vector__XXX\n",
        "t.dbc",
    )
    .unwrap();
    let b = healthy().finish();
    let with = b.expectations(Some(&db));
    assert_eq!(with.len(), 2);
    assert_eq!(with[0].name.as_deref(), Some("BODY"));
    assert_eq!(with[0].node, "BCM");
    assert_eq!(with[1].name, None);
    assert_eq!(with[1].node, "id 200");
    assert_eq!(with[1].cycle, Duration::from_millis(10));
    let without = b.expectations(None);
    assert_eq!(without[0].node, "id 100");
}

#[test]
fn test_long_captures_learn_from_a_bounded_sample_deterministically() {
    let learn = || {
        let mut l = Learner::default();
        for i in 0..50_000u64 {
            let t = i * 20 + (i * 31 % 3);
            l.add(at_ms(t), &classic(0x123, &[i as u8]));
        }
        l.finish()
    };
    let (a, b) = (learn(), learn());
    assert_eq!(a, b);
    let t = a.ids[0].timing.unwrap();
    let median_ms = t.median.as_secs_f64() * 1e3;
    assert!((18.0..=22.0).contains(&median_ms), "{median_ms}");
    assert_eq!(a.ids[0].frames, 50_000);
}

#[test]
fn test_out_of_order_and_error_frames_are_counted_not_learnt() {
    let mut l = Learner::default();
    l.add(at_ms(100), &classic(0x1, &[1]));
    l.add(at_ms(50), &classic(0x1, &[1]));
    l.add(
        at_ms(120),
        &Frame::Error(crate::frame::ErrorFrame::new(0x4, [0; 8]).unwrap()),
    );
    let b = l.finish();
    assert_eq!(b.out_of_order, 1);
    assert_eq!(b.error_frames, 1);
    assert_eq!(b.ids.len(), 1);
    assert_eq!(b.ids[0].timing.unwrap().max_gap, Duration::ZERO);
    assert_eq!(b.span, Some((at_ms(100), at_ms(120))));
}

#[test]
fn test_fd_lengths_are_kept_most_common_first() {
    let mut l = Learner::default();
    for i in 0..30u64 {
        let len = if i % 10 == 0 { 12 } else { 64 };
        let f = Frame::fd(Id::extended(0x18DA_F110).unwrap(), &vec![0u8; len], true).unwrap();
        l.add(at_ms(i * 10), &f);
    }
    let b = l.finish();
    let x = &b.ids[0];
    assert!(x.fd);
    assert_eq!(x.lengths, vec![(64, 27), (12, 3)]);
    assert_eq!(x.length(), 64);
    assert_eq!(x.bytes.len(), 64);
}

#[test]
fn test_an_empty_capture_learns_nothing() {
    let b = Learner::default().finish();
    assert_eq!(b.span, None);
    assert!(b.ids.is_empty());
    assert!(b.expectations(None).is_empty());
}

#[test]
fn test_describe_and_require_periodic() {
    let b = healthy().finish();
    let text = b.describe("healthy.log", 20);
    let first = text.lines().next().unwrap();
    let periodic = b.periodic().count();
    assert!(periodic > 0);
    assert!(
        first.starts_with(&format!("healthy.log: {} frames over ", b.frames)),
        "{text}"
    );
    assert!(
        first.ends_with(&format!(
            "{} ids: {periodic} periodic, {} not watched",
            b.ids.len(),
            b.ids.len() - periodic
        )),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1 + b.not_watched().count().min(20));
    assert!(b.require_periodic("healthy.log").is_ok());

    let mut few = Learner::default();
    for i in 0..3 {
        few.add(at_ms(i * 100), &classic(0x123, &[1]));
    }
    let few = few.finish();
    let e = few.require_periodic("short.log").unwrap_err();
    assert!(
        e.to_string().starts_with("short.log: no periodic id"),
        "{e}"
    );
    let text = few.describe("short.log", 0);
    assert!(text.ends_with("\n  ... and 1 more"), "{text}");
}
