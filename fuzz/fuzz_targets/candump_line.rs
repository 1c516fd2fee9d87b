//! Fuzzes the candump line parser: it must never panic, and a parsed record written back by
//! the writer must parse to the same record (the writer is the parser's inverse on its image).
#![no_main]

use canrelearn::log::candump::{Line, WriteOptions, format_record, parse_line};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(Line::Record(record)) = parse_line(data) else {
        return;
    };
    let mut out = Vec::new();
    format_record(&mut out, &record, &WriteOptions::default());
    match parse_line(&out) {
        Ok(Line::Record(again)) => assert_eq!(again, record),
        other => panic!("{:?} re-parsed as {other:?}", String::from_utf8_lossy(&out)),
    }
});
