//! Golden vectors: our decoder against cantools on our own test DBCs.
//!
//! `tests/tools/golden_dbc.py` decoded random frames of every `tests/data/dbc/*.dbc` with cantools
//! and wrote `tests/data/golden/<stem>.jsonl`. Every vector must decode here to the same
//! result: the same set of signals, raw and physical values of the same type (int or float),
//! ints exactly equal, floats equal to within 1 ulp or 1e-12 relative (NaN equals NaN), the
//! same label; cantools' "wrong data size" must be our `ShortFrame` and its "expected
//! multiplexer id" must be a reported multiplexor miss.

use std::path::Path;

use canrelearn::dbc::{Decoded, PhysicalValue, RawValue};
use canrelearn::frame::Id;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Num {
    Int(i128),
    Float(f64),
}

fn parse_num(v: &Value) -> Num {
    if let Some(s) = v.get("int").and_then(Value::as_str) {
        return Num::Int(s.parse().expect("int"));
    }
    let s = v.get("float").and_then(Value::as_str).expect("float");
    Num::Float(s.parse().expect("float text"))
}

fn raw_num(r: RawValue) -> Num {
    match r {
        RawValue::Unsigned(u) => Num::Int(i128::from(u)),
        RawValue::Signed(i) => Num::Int(i128::from(i)),
        RawValue::F32(f) => Num::Float(f64::from(f)),
        RawValue::F64(f) => Num::Float(f),
    }
}

fn phys_num(p: PhysicalValue) -> Num {
    match p {
        PhysicalValue::Int(i) => Num::Int(i),
        PhysicalValue::Float(f) => Num::Float(f),
    }
}

fn floats_agree(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a == b {
        return true;
    }
    let ulp = (a.to_bits() as i64).abs_diff(b.to_bits() as i64) <= 1 && a.signum() == b.signum();
    ulp || (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
}

fn same(expected: Num, got: Num) -> bool {
    match (expected, got) {
        (Num::Int(a), Num::Int(b)) => a == b,
        (Num::Float(a), Num::Float(b)) => floats_agree(a, b),
        _ => false,
    }
}

fn run(stem: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let db = load_dbc_file(root.join("dbc").join(format!("{stem}.dbc"))).expect("load");
    let text = std::fs::read_to_string(root.join("golden").join(format!("{stem}.jsonl")))
        .expect("golden file");
    let mut out = Decoded::new();
    let mut count = 0;
    for (n, line) in text.lines().enumerate() {
        let v: Value = serde_json::from_str(line).expect("json");
        let raw_id = u32::try_from(v["id"].as_u64().expect("id")).expect("u32");
        let id = Id::new(raw_id, v["ext"].as_bool().expect("ext")).expect("id");
        let data = hex::decode(v["data"].as_str().expect("data")).expect("hex");
        let ctx = format!("{stem}.jsonl line {} ({id} {})", n + 1, v["data"]);
        let result = db.decode(id, &data, &mut out);
        match v["expect"].as_str().expect("expect") {
            "short" => assert!(result.is_err(), "{ctx}: expected a short-frame error"),
            "mux" => {
                assert!(matches!(result, Ok(Some(_))), "{ctx}: {result:?}");
                assert!(
                    !out.mux_misses().is_empty(),
                    "{ctx}: expected a multiplexor miss"
                );
            }
            "ok" => {
                let msg = result
                    .unwrap_or_else(|e| panic!("{ctx}: {e}"))
                    .unwrap_or_else(|| panic!("{ctx}: unknown id"));
                assert!(out.mux_misses().is_empty(), "{ctx}: unexpected mux miss");
                let expected = v["signals"].as_object().expect("signals");
                assert_eq!(
                    out.signals().len(),
                    expected.len(),
                    "{ctx}: signal count, got {:?}",
                    out.signals()
                        .iter()
                        .map(|s| msg.signals()[s.index].name())
                        .collect::<Vec<_>>()
                );
                for s in out.signals() {
                    let name = msg.signals()[s.index].name();
                    let e = expected
                        .get(name)
                        .unwrap_or_else(|| panic!("{ctx}: {name} not decoded by cantools"));
                    let (er, ep) = (parse_num(&e["raw"]), parse_num(&e["phys"]));
                    assert!(
                        same(er, raw_num(s.raw)),
                        "{ctx}: {name} raw {er:?} vs {:?}",
                        s.raw
                    );
                    assert!(
                        same(ep, phys_num(s.physical)),
                        "{ctx}: {name} physical {ep:?} vs {:?}",
                        s.physical
                    );
                    assert_eq!(e["label"].as_str(), s.label(msg), "{ctx}: {name} label");
                }
            }
            other => panic!("{ctx}: unknown expectation {other}"),
        }
        count += 1;
    }
    count
}

#[test]
fn test_golden_signals() {
    assert!(run("signals") > 500);
}

#[test]
fn test_golden_mux() {
    assert!(run("mux") > 150);
}

#[test]
fn test_golden_bench_body40() {
    assert!(run("bench_body40") > 500);
}

/// Reads and compiles a DBC file (the library takes bytes; reading is the caller's job).
fn load_dbc_file(
    path: impl AsRef<std::path::Path>,
) -> Result<canrelearn::dbc::Database, canrelearn::dbc::DbcError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).expect("read the DBC file");
    canrelearn::dbc::Database::from_bytes(&bytes, &path.display().to_string())
}
