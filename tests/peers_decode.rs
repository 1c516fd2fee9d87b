//! `decode` and `dbc infer` against cantools 45. Partial decodes: frames cantools refuses (a multiplexor value that selects
//! no branch and signals beyond the message's declared length (real-world DBCs have both;
//! cantools loads such a file only with `strict=False`). Every frame cantools refuses must
//! carry an `"error"` with `"partial": true` in our jsonl (never a silent decode), every frame
//! it decodes must decode here to the same values, with no error.
//!
//! Run: `CANRELEARN_PEER_PYTHON=/opt/peers/bin/python cargo test --features peer-tests --test peers_decode`.

#[path = "common/peer.rs"]
mod peer;

use std::process::Command;

use peer::{run_python, s};
use serde_json::Value;

const DBC: &str = r#"VERSION ""
NS_ :
BS_:
BU_: ECU
BO_ 976 SHORT_DECL: 2 ECU
 SG_ LOW : 0|8@1+ (1,0) [0|255] "" Vector__XXX
 SG_ MID : 8|8@1+ (0.5,0) [0|127.5] "" Vector__XXX
 SG_ HIGH : 40|8@1+ (1,0) [0|255] "" Vector__XXX
BO_ 1024 MUXED: 8 ECU
 SG_ SEL M : 0|8@1+ (1,0) [0|255] "" Vector__XXX
 SG_ ALWAYS : 8|8@1- (1,-10) [0|255] "" Vector__XXX
 SG_ A m0 : 16|8@1+ (1,0) [0|255] "" Vector__XXX
 SG_ B m1 : 23|16@0+ (0.25,0) [0|65535] "" Vector__XXX
 SG_ C m7 : 16|32@1- (1,0) [0|1] "" Vector__XXX
BO_ 2147484160 WHOLE: 8 ECU
 SG_ W : 0|12@1+ (0.1,0) [0|409.5] "km/h" Vector__XXX
 SG_ X : 12|20@1- (1,0) [0|1] "" Vector__XXX
"#;

/// Decodes each `id#hex` argument with cantools (non-strict): one JSON object per frame,
/// `{"refused": why}` or `{"signals": {...}}`.
const CANTOOLS: &str = r##"
import json, sys, cantools
db = cantools.database.load_file(sys.argv[1], strict=False)
for arg in sys.argv[2:]:
    ident, data = arg.split("#")
    msg = db.get_message_by_frame_id(int(ident, 16))
    try:
        print(json.dumps({"signals": msg.decode(bytes.fromhex(data), decode_choices=False)}))
    except Exception as e:
        print(json.dumps({"refused": str(e)}))
"##;

/// A deterministic spread of payloads: every multiplexor value 0..=9, random bytes, and
/// lengths from the declared one to 8.
fn frames() -> Vec<(u32, Vec<u8>)> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut out = Vec::new();
    for i in 0..60u8 {
        let mut data: Vec<u8> = next().to_le_bytes().to_vec();
        match i % 3 {
            0 => {
                data.truncate(2 + usize::from(i % 7));
                out.push((0x3D0, data));
            }
            1 => {
                data[0] = i % 10;
                out.push((0x400, data));
            }
            _ => out.push((0x80000200, data)),
        }
    }
    out
}

#[test]
fn frames_cantools_refuses_are_marked_partial_and_the_rest_agree() {
    let dir = std::env::temp_dir().join(format!("canrelearn-peers-decode-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dbc = dir.join("partial.dbc");
    std::fs::write(&dbc, DBC).unwrap();
    let frames = frames();
    let log: String = frames
        .iter()
        .enumerate()
        .map(|(i, (id, data))| {
            let ident = if *id & 0x8000_0000 != 0 {
                format!("{:08X}", id & 0x1FFF_FFFF)
            } else {
                format!("{id:03X}")
            };
            format!("(1.{i:06}) can0 {ident}#{}\n", hex::encode_upper(data))
        })
        .collect();
    let log_path = dir.join("frames.log");
    std::fs::write(&log_path, &log).unwrap();
    let ours = Command::new(env!("CARGO_BIN_EXE_canrelearn"))
        .args([
            "decode",
            "--format",
            "jsonl",
            "--dbc",
            s(&dbc),
            s(&log_path),
        ])
        .output()
        .unwrap();
    assert_eq!(
        ours.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ours.stderr)
    );
    let args: Vec<String> = frames
        .iter()
        .map(|(id, data)| format!("{id:X}#{}", hex::encode(data)))
        .collect();
    let mut py_args = vec![s(&dbc)];
    py_args.extend(args.iter().map(String::as_str));
    let theirs = run_python(CANTOOLS, &py_args);
    let ours: Vec<Value> = String::from_utf8(ours.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let theirs: Vec<Value> = String::from_utf8(theirs.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(ours.len(), frames.len());
    assert_eq!(theirs.len(), frames.len());
    let (mut refused, mut agreed) = (0, 0);
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        let frame = &args[i];
        if let Some(why) = b.get("refused") {
            refused += 1;
            assert!(
                a.get("error").is_some(),
                "{frame}: cantools refuses it ({why}), ours decoded it silently: {a}"
            );
            // A short frame is an error of its own kind; the other refusals are partial.
            if !why.as_str().unwrap().contains("Wrong data size") {
                assert_eq!(a["partial"], Value::Bool(true), "{frame}: {a}");
            }
        } else {
            agreed += 1;
            assert!(
                a.get("error").is_none(),
                "{frame}: cantools decodes it, ours: {a}"
            );
            let (ours, theirs) = (
                a["signals"].as_object().unwrap(),
                b["signals"].as_object().unwrap(),
            );
            assert_eq!(
                ours.keys().collect::<Vec<_>>().len(),
                theirs.len(),
                "{frame}: {a} vs {b}"
            );
            for (name, v) in theirs {
                let o = &ours[name];
                let close = (o.as_f64().unwrap() - v.as_f64().unwrap()).abs() <= 1e-9;
                assert!(close, "{frame}.{name}: ours {o}, cantools {v}");
            }
        }
    }
    // Both sides of the comparison are exercised.
    assert!(refused >= 20, "{refused} refused");
    assert!(agreed >= 20, "{agreed} agreed");
    std::fs::remove_dir_all(&dir).ok();
}

/// Loads a DBC strictly with cantools and prints, per message: id, name, length, sender,
/// cycle time and signal names; then decodes each `id#hex` argument.
const CANTOOLS_SKELETON: &str = r##"
import json, sys, cantools
db = cantools.database.load_file(sys.argv[1], strict=True)
for m in sorted(db.messages, key=lambda m: m.frame_id):
    print(json.dumps({"id": m.frame_id, "extended": m.is_extended_frame, "name": m.name,
                      "length": m.length, "senders": m.senders, "cycle": m.cycle_time,
                      "signals": [s.name for s in m.signals]}))
for arg in sys.argv[2:]:
    ident, data = arg.split("#")
    msg = db.get_message_by_frame_id(int(ident, 16))
    print(json.dumps({"decoded": msg.decode(bytes.fromhex(data), decode_choices=False)}))
"##;

/// `dbc infer` writes a skeleton that cantools loads strictly, with the same messages,
/// senders and cycle times as our own reading of it, and decodes the same values.
#[test]
fn the_inferred_dbc_skeleton_loads_strictly_in_cantools_and_decodes_alike() {
    let dir = std::env::temp_dir().join(format!("canrelearn-peers-infer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/j11-sample.log");
    let silent = dir.join("no-3b0.log");
    let mut frames_used = Vec::new();
    let text: String = std::fs::read_to_string(&sample)
        .unwrap()
        .lines()
        .filter(|l| !l.contains(" 284#"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&silent, text).unwrap();
    let dbc = dir.join("skeleton.dbc");
    let o = Command::new(env!("CARGO_BIN_EXE_canrelearn"))
        .args([
            "dbc",
            "infer",
            "--force",
            "-o",
            s(&dbc),
            s(&sample),
            s(&silent),
        ])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for line in std::fs::read_to_string(&sample)
        .unwrap()
        .lines()
        .step_by(97)
    {
        frames_used.push(line.split_whitespace().nth(2).unwrap().to_string());
    }
    let mut args = vec![s(&dbc)];
    args.extend(frames_used.iter().map(String::as_str));
    let out = String::from_utf8(run_python(CANTOOLS_SKELETON, &args).stdout).unwrap();
    let rows: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (messages, decoded) = rows.split_at(rows.len() - frames_used.len());
    let db = canrelearn::dbc::Database::from_bytes(&std::fs::read(&dbc).unwrap(), "skeleton.dbc")
        .unwrap();
    assert_eq!(messages.len(), db.messages().len());
    for m in messages {
        let id = m["id"].as_u64().unwrap() as u32;
        let ours = db
            .messages()
            .iter()
            .find(|x| {
                x.id().raw() == id && x.id().is_extended() == m["extended"].as_bool().unwrap()
            })
            .unwrap();
        assert_eq!(m["name"], ours.name());
        assert_eq!(m["length"], ours.size());
        assert_eq!(m["senders"][0], ours.transmitter().unwrap());
        assert_eq!(
            m["cycle"].as_u64().map(|c| c as u32),
            ours.cycle_time_ms(),
            "{m}"
        );
        let names: Vec<&str> = ours.signals().iter().map(|s| s.name()).collect();
        assert_eq!(m["signals"], serde_json::json!(names));
    }
    // The id left out of the second capture is the absent module's.
    let absent = messages.iter().find(|m| m["id"] == 0x284).unwrap();
    assert_eq!(absent["senders"][0], "ABSENT_IN_no_3b0", "{absent}");
    // Decoding agrees with ours, frame by frame.
    let log_path = dir.join("sampled.log");
    let log: String = frames_used
        .iter()
        .enumerate()
        .map(|(i, f)| format!("(1.{i:06}) can0 {f}\n"))
        .collect();
    std::fs::write(&log_path, log).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_canrelearn"))
        .args([
            "decode",
            "--format",
            "jsonl",
            "--dbc",
            s(&dbc),
            s(&log_path),
        ])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let ours: Vec<Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(ours.len(), decoded.len());
    for (a, b) in ours.iter().zip(decoded) {
        assert_eq!(a["signals"], b["decoded"], "{a} vs {b}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
