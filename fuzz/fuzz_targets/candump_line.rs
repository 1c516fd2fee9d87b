//! Fuzzes the candump line parser: it must never panic, and a parsed record written back by
//! the writer must parse to the same record (the writer is the parser's inverse on its image).
//! The fast scanners `decode` uses must agree with the parser wherever they answer, and the
//! fused paths of `decode` (text, JSON Lines, CSV, Parquet rows; with the bundled DBC) must write
//! exactly what the general path writes for every line they take.
#![no_main]

use std::sync::OnceLock;

use canrelearn::dbc::Database;
use canrelearn::frame::Frame;
use canrelearn::log::candump::{
    Line, WriteOptions, format_record, parse_line, scan_data_frame, scan_data_frame_in,
};
use canrelearn::output::parquet::{FusedRows, fused_agrees as rows_agree};
use canrelearn::output::{self, Format, Formatter, FrameDecoder};
use libfuzzer_sys::fuzz_target;

/// The bundled DBC, a formatter per format and the Parquet rows' fused plans.
fn formatters() -> &'static (Database, Vec<Formatter>, FusedRows) {
    static F: OnceLock<(Database, Vec<Formatter>, FusedRows)> = OnceLock::new();
    F.get_or_init(|| {
        let db = canrelearn::bundled::database().expect("the bundled DBC loads");
        let formatters = [Format::Text, Format::Jsonl, Format::Csv]
            .into_iter()
            .map(|f| Formatter::new(f, &db))
            .collect();
        let rows = FusedRows::new(&db);
        (db, formatters, rows)
    })
}

/// For a line `scan_data_frame_in` takes (`data[..len]`, `data` may go on): each fused path
/// that takes it writes what the general path writes.
fn fused_agrees(data: &[u8], len: usize, scan: &canrelearn::log::candump::DataFrameScan) {
    let line = data.get(..len).unwrap_or_default();
    let Ok(Line::Record(record)) = parse_line(line) else {
        panic!("the scanner took a line the parser declines");
    };
    let (db, formatters, rows) = formatters();
    assert!(
        rows_agree(db, rows, line, scan),
        "the Parquet rows' fused path disagrees with the general path"
    );
    for formatter in formatters {
        let mut out = vec![0u8; 16];
        let mut pos = 5;
        if formatter
            .fused()
            .line(db, data, len, scan, &mut out, &mut pos)
            .is_none()
        {
            assert_eq!(pos, 5, "the fused path moved without writing");
            continue;
        }
        let mut decoder = FrameDecoder::new(db);
        let mut want = Vec::new();
        formatter.format(
            &output::Line {
                raw: Some(line.trim_ascii_end()),
                ..output::Line::of_record(&record, decoder.decode(&record.frame))
            },
            &mut want,
        );
        assert_eq!(
            String::from_utf8_lossy(out.get(5..pos).unwrap_or_default()),
            String::from_utf8_lossy(&want)
        );
    }
}

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
        fused_agrees(data, len, &scan);
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
