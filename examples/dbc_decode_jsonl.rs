//! Decodes frames given as JSON lines with a DBC, printing one JSON line per frame.
//!
//! Used by `tests/tools/compare_corpus.py` to compare our decoder with cantools.
//!
//! Usage: `dbc_decode_jsonl FILE.dbc < frames.jsonl`
//! Input lines: `{"id": 256, "ext": false, "data": "0011AABB"}`.
//! Output: first `{"load": "ok"}` or `{"load_error": "..."}`, then per frame
//! `{"signals": {NAME: {"raw": V, "phys": V, "label": L}}, "mux_miss": bool}` or
//! `{"error": "short" | "unknown_id" | "bad_input"}` where V is `{"int": "123"}` or
//! `{"float": "1.5"}` (shortest round-trip text, `nan`, `inf`, `-inf`).

use std::io::{BufRead, Write};

use canrelearn::dbc::{Database, Decoded, PhysicalValue, RawValue};
use canrelearn::frame::Id;
use serde_json::{Map, Value, json};

fn float_text(f: f64) -> String {
    if f.is_nan() {
        "nan".to_string()
    } else if f.is_infinite() {
        if f > 0.0 { "inf" } else { "-inf" }.to_string()
    } else {
        format!("{f:?}")
    }
}

fn raw_json(r: RawValue) -> Value {
    match r {
        RawValue::Unsigned(u) => json!({ "int": u.to_string() }),
        RawValue::Signed(i) => json!({ "int": i.to_string() }),
        RawValue::F32(f) => json!({ "float": float_text(f64::from(f)) }),
        RawValue::F64(f) => json!({ "float": float_text(f) }),
    }
}

fn phys_json(p: PhysicalValue) -> Value {
    match p {
        PhysicalValue::Int(i) => json!({ "int": i.to_string() }),
        PhysicalValue::Float(f) => json!({ "float": float_text(f) }),
    }
}

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: dbc_decode_jsonl FILE.dbc < frames.jsonl"))?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let db = match std::fs::read(&path)
        .map_err(|e| e.to_string())
        .and_then(|b| Database::from_bytes(&b, &path).map_err(|e| e.to_string()))
    {
        Ok(db) => {
            writeln!(out, "{}", json!({ "load": "ok" }))?;
            db
        }
        Err(e) => {
            writeln!(out, "{}", json!({ "load_error": e.to_string() }))?;
            return Ok(());
        }
    };
    let mut decoded = Decoded::new();
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(&line)?;
        let id = v["id"].as_u64().and_then(|i| u32::try_from(i).ok());
        let ext = v["ext"].as_bool().unwrap_or(false);
        let data = v["data"].as_str().and_then(|d| hex::decode(d).ok());
        let (Some(id), Some(data)) = (id.and_then(|i| Id::new(i, ext)), data) else {
            writeln!(out, "{}", json!({ "error": "bad_input" }))?;
            continue;
        };
        let result = match db.decode(id, &data, &mut decoded) {
            Ok(None) => json!({ "error": "unknown_id" }),
            Err(_) => json!({ "error": "short" }),
            Ok(Some(msg)) => {
                let mut signals = Map::new();
                for s in decoded.signals() {
                    let name = msg.signals().get(s.index).map_or("?", |x| x.name());
                    signals.insert(
                        name.to_string(),
                        json!({
                            "raw": raw_json(s.raw),
                            "phys": phys_json(s.physical),
                            "label": s.label(msg),
                        }),
                    );
                }
                json!({ "signals": signals, "mux_miss": !decoded.mux_misses().is_empty() })
            }
        };
        writeln!(out, "{result}")?;
    }
    Ok(())
}
