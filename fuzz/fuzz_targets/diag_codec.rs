//! Fuzzes the diagnostic codec parsers: hex text, DTC text, DTC-list responses and response
//! classification. None may panic; a parsed DTC must print back to text that parses to itself.
#![no_main]

use canrelearn::diag::codec::classify_response;
use canrelearn::diag::dtc::{parse_kwp_dtc_by_status, parse_uds_dtc_by_status};
use canrelearn::diag::{Dtc, UdsDtc, format_hex, parse_hex};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = core::str::from_utf8(data) {
        if let Ok(bytes) = parse_hex(text) {
            assert_eq!(parse_hex(&format_hex(&bytes)).as_ref(), Ok(&bytes));
        }
        if let Ok(d) = text.parse::<Dtc>() {
            assert_eq!(d.to_string().parse::<Dtc>(), Ok(d));
        }
        if let Ok(d) = text.parse::<UdsDtc>() {
            assert_eq!(d.to_string().parse::<UdsDtc>(), Ok(d));
        }
    }
    let _ = parse_uds_dtc_by_status(data);
    let _ = parse_kwp_dtc_by_status(data);
    let split = data
        .first()
        .map_or(0, |&b| usize::from(b) % (data.len() + 1));
    let (req, resp) = data.split_at(split);
    let _ = classify_response(req, resp);
});
