//! Fuzzes the candump line parser: it must never panic, and a parsed record written back by
//! the writer must parse to the same record (the writer is the parser's inverse on its image).
//! The fast scanners `decode` uses must agree with the parser wherever they answer.
#![no_main]

use canrelearn::frame::Frame;
use canrelearn::log::candump::{
    Line, WriteOptions, format_record, parse_line, scan_data_frame, scan_data_frame_in,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parsed = parse_line(data);
    if let Some(scan) = scan_data_frame(data) {
        match &parsed {
            Ok(Line::Record(r)) => match r.frame {
                Frame::Classic(f) => {
                    assert_eq!(f.id(), scan.id);
                    assert_eq!(f.data(), scan.payload());
                }
                other => panic!("the scanner took a {other:?} line"),
            },
            other => panic!("the scanner took a line the parser reads as {other:?}"),
        }
    }
    if let Some((scan, len)) = scan_data_frame_in(data) {
        let line = data.get(..len).unwrap_or_default();
        let again =
            scan_data_frame(line).expect("scan_data_frame_in took a line scan_data_frame declines");
        assert_eq!((again.id, again.payload()), (scan.id, scan.payload()));
    }
    let Ok(Line::Record(record)) = parsed else {
        return;
    };
    let mut out = Vec::new();
    format_record(&mut out, &record, &WriteOptions::default());
    match parse_line(&out) {
        Ok(Line::Record(again)) => assert_eq!(again, record),
        other => panic!("{:?} re-parsed as {other:?}", String::from_utf8_lossy(&out)),
    }
});
