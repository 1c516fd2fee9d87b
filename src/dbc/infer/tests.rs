use super::*;
use crate::baseline::Learner;
use crate::dbc::{Database, Severity};
use crate::frame::Frame;
use crate::time::Timestamp;

fn at_ms(ms: u64) -> Timestamp {
    Timestamp::from_nanos(ms * 1_000_000)
}

fn std_id(id: u16) -> Id {
    Id::standard(id).unwrap()
}

/// A healthy bus: 0x100 (counter, constant, changing byte) every 100 ms, 0x35D every 110 ms,
/// an extended FD id every 20 ms, a diagnostic answer twice; `without` leaves ids out.
fn capture(name: &str, without: &[u32]) -> Capture {
    let mut frames: Vec<(u64, Frame)> = Vec::new();
    for i in 0..100u64 {
        frames.push((
            i * 100,
            Frame::classic(
                std_id(0x100),
                &[0xAA, i as u8, (i % 7) as u8, 0, 0, 0, 0, 0],
            )
            .unwrap(),
        ));
    }
    for i in 0..90u64 {
        frames.push((
            i * 110 + 3,
            Frame::classic(std_id(0x35D), &[0x80, 3]).unwrap(),
        ));
    }
    for i in 0..500u64 {
        frames.push((
            i * 20 + 1,
            Frame::fd(Id::extended(0x18DA_F110).unwrap(), &[i as u8; 12], true).unwrap(),
        ));
    }
    frames.push((
        5000,
        Frame::classic(std_id(0x7E8), &[2, 0x50, 0x81]).unwrap(),
    ));
    frames.push((
        6000,
        Frame::classic(std_id(0x7E8), &[2, 0x50, 0x81]).unwrap(),
    ));
    frames.retain(|(_, f)| !without.contains(&f.id().unwrap().raw()));
    frames.sort_by_key(|(t, _)| *t);
    let mut l = Learner::default();
    for (t, f) in &frames {
        l.add(at_ms(*t), f);
    }
    Capture {
        name: name.to_string(),
        baseline: l.finish(),
    }
}

fn load(text: &str) -> Database {
    for d in crate::dbc::check(text.as_bytes(), "skeleton.dbc") {
        assert_ne!(d.severity, Severity::Error, "{d}\n{text}");
        // The ids that are not periodic have no cycle time, on purpose.
        if !d.to_string().contains("ID_7E8: no cycle time") {
            assert_ne!(d.severity, Severity::Warning, "{d}\n{text}");
        }
    }
    Database::from_str_named(text, "skeleton.dbc").unwrap()
}

#[test]
fn test_one_capture_gives_a_message_per_id_with_measured_cycle_times() {
    let text = skeleton(&[capture("healthy.log", &[])]);
    let db = load(&text);
    let m = db.message_by_id(std_id(0x100)).unwrap();
    assert_eq!(m.name(), "ID_100");
    assert_eq!(m.size(), 8);
    assert_eq!(m.cycle_time_ms(), Some(100));
    assert_eq!(m.transmitter(), Some(UNASSIGNED));
    let names: Vec<&str> = m.signals().iter().map(|s| s.name()).collect();
    assert_eq!(names, ["COUNTER_B1", "B2"]);
    let comment = m.comment().unwrap();
    assert!(
        comment.starts_with("Measured by canrelearn dbc infer in healthy.log: 100 frames, median period 100.0 ms, jitter +-0.0 ms, longest gap 100.0 ms; bytes: 0 constant (AA), 1 counter, 2 changes (up to 7 values), 3-7 constant (00 00 00 00 00)."),
        "{comment}"
    );
    assert_eq!(
        db.message_by_id(std_id(0x35D)).unwrap().cycle_time_ms(),
        Some(110)
    );
    // Too few frames: described, not watched (no cycle time).
    let diag = db.message_by_id(std_id(0x7E8)).unwrap();
    assert_eq!(diag.cycle_time_ms(), None);
    assert!(
        diag.comment()
            .unwrap()
            .contains("not periodic, not watched: too few frames (2)")
    );
    let fd = db
        .message_by_id(Id::extended(0x18DA_F110).unwrap())
        .unwrap();
    assert_eq!(fd.name(), "ID_18DAF110X");
    assert_eq!(fd.size(), 12);
    assert_eq!(fd.cycle_time_ms(), Some(20));
    assert_eq!(fd.signals().len(), 12);
    // The watcher takes exactly the periodic ids from it.
    let expected = crate::watch::expectations_from_dbc(&db);
    assert_eq!(expected.len(), 3);
}

#[test]
fn test_a_second_capture_without_a_module_names_its_ids_as_a_node() {
    let text = skeleton(&[
        capture("healthy.log", &[]),
        capture("head unit out.log", &[0x35D]),
    ]);
    let db = load(&text);
    let av = db.message_by_id(std_id(0x35D)).unwrap();
    assert_eq!(av.transmitter(), Some("ABSENT_IN_head_unit_out"));
    assert!(
        av.comment()
            .unwrap()
            .ends_with("Never seen in head unit out.log.")
    );
    assert_eq!(
        db.message_by_id(std_id(0x100)).unwrap().transmitter(),
        Some(UNASSIGNED)
    );
    let node = db
        .nodes()
        .iter()
        .find(|n| n.name() == "ABSENT_IN_head_unit_out")
        .unwrap();
    assert_eq!(
        node.comment(),
        Some(
            "Periodic in healthy.log and never seen in head unit out.log: the frames of the module missing there."
        )
    );
    // A sporadic id absent in the second capture is not blamed on the missing module.
    let text = skeleton(&[capture("a.log", &[]), capture("b.log", &[0x7E8])]);
    assert_eq!(
        load(&text)
            .message_by_id(std_id(0x7E8))
            .unwrap()
            .transmitter(),
        Some(UNASSIGNED)
    );
}

#[test]
fn test_ids_only_a_later_capture_carried_get_their_own_node() {
    let text = skeleton(&[
        capture("without.log", &[0x35D]),
        capture("with.log", &[]),
        capture("with-again.log", &[]),
    ]);
    let db = load(&text);
    let m = db.message_by_id(std_id(0x35D)).unwrap();
    assert_eq!(m.transmitter(), Some("ONLY_IN_with"));
    assert_eq!(m.cycle_time_ms(), Some(110));
    assert_eq!(db.messages().len(), 4);
}

#[test]
fn test_node_names_stay_unique_and_short() {
    let long = "a-very-long-capture-file-name-for-a-silent-head-unit.log";
    let text = skeleton(&[
        capture("healthy.log", &[]),
        capture(long, &[0x35D]),
        capture(&format!("x/{long}"), &[0x100]),
    ]);
    let db = load(&text);
    let a = db
        .message_by_id(std_id(0x35D))
        .unwrap()
        .transmitter()
        .unwrap();
    let b = db
        .message_by_id(std_id(0x100))
        .unwrap()
        .transmitter()
        .unwrap();
    assert_ne!(a, b);
    assert!(a.len() <= 32 && b.len() <= 32, "{a} {b}");
}

#[test]
fn test_no_capture_no_text() {
    assert_eq!(skeleton(&[]), "");
}
