//! End-to-end use of the diagnostic codec through the public API, as `diag dtc` will use it:
//! hex text in, a request through the engine, a DTC-list response decoded to text.

use std::time::Duration;

use canrelearn::Timestamp;
use canrelearn::diag::dtc::{
    kwp_read_dtc_by_status_request, parse_kwp_dtc_by_status, parse_uds_dtc_by_status,
};
use canrelearn::diag::{
    Client, ClientConfig, ClientEvent, Dialect, Nrc, RequestOptions, ResponseClass,
    classify_response, format_hex, parse_hex,
};

#[test]
fn test_kwp_dtc_read_flow() {
    let req = parse_hex("18 02 FF 00").unwrap();
    assert_eq!(req, kwp_read_dtc_by_status_request(0x02, 0xFF00));
    let mut c = Client::new(ClientConfig::kwp2000()).unwrap();
    let t0 = Timestamp::from_secs_nanos(1_700_000_000, 0).unwrap();
    let id = c.request(t0, &req, RequestOptions::default()).unwrap();
    assert_eq!(c.poll_transmit(t0).map(|t| t.pdu), Some(req.clone()));
    let resp = parse_hex("58 03 D0 00 60 C1 40 20 C1 55 60").unwrap();
    c.handle_pdu(t0 + Duration::from_millis(35), &resp);
    let Some(ClientEvent::Positive {
        id: got,
        pdu,
        elapsed,
    }) = c.poll_event()
    else {
        panic!("expected a positive response");
    };
    assert_eq!((got, elapsed), (id, Duration::from_millis(35)));
    let records = parse_kwp_dtc_by_status(&pdu).unwrap();
    let lines: Vec<String> = records
        .iter()
        .map(|r| format!("{} {}", r.code_text(), r.status))
        .collect();
    assert_eq!(lines, vec!["U1000 0x60", "U0140 0x20", "U0155 0x60"]);
    assert!(records.iter().all(|r| r.code.known_text().is_some()));
}

#[test]
fn test_uds_dtc_response_fixture() {
    // 59 02, availability mask 0x09, U0100 failure type 0x00 status 0x09, B20BD 0x1C 0x08.
    let err = parse_hex("59 02 0 9").unwrap_err();
    assert!(err.to_string().contains("column 7"), "{err}");
    let pdu = parse_hex("0x59 0x02 0x09 C10000 09 A0BD1C 08").unwrap();
    let rep = parse_uds_dtc_by_status(&pdu).unwrap();
    assert_eq!(rep.availability_mask, 0x09);
    let texts: Vec<String> = rep.records.iter().map(|r| r.code_text()).collect();
    assert_eq!(texts, vec!["U010000", "B20BD1C"]);
    assert_eq!(
        rep.records[0].status.uds_flags(),
        vec!["testFailed", "confirmedDTC"]
    );
}

#[test]
fn test_negative_response_text() {
    let req = parse_hex("21 01").unwrap();
    let resp = parse_hex("7F 21 80").unwrap();
    let ResponseClass::Negative { nrc } = classify_response(&req, &resp) else {
        panic!("expected negative");
    };
    assert_eq!(nrc, Nrc(0x80));
    assert_eq!(
        format!(
            "{} {} {}",
            format_hex(&resp),
            nrc,
            nrc.name(Dialect::Kwp2000)
        ),
        "7F 21 80 0x80 serviceNotSupportedInActiveDiagnosticSession"
    );
}

/// The diagnostic layer is pure: no tokio, no sockets, no system clock.
#[test]
fn test_diag_modules_are_sans_io() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/diag");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            for banned in [
                "tokio",
                "socketcan",
                "SystemTime",
                "Instant::now",
                "println!",
            ] {
                assert!(!text.contains(banned), "{} uses {banned}", path.display());
            }
            checked += 1;
        }
    }
    assert!(checked >= 5);
}
