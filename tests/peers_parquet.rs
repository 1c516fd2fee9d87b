//! `decode --format parquet` read by DuckDB and pyarrow (duckdb 2.0.1, pyarrow 26.0.1 as the
//! peers), against `decode --format jsonl` of the same capture, value for value.
//!
//! The capture is generated: every message of two test DBCs (plain, scaled, float, 64-bit,
//! big-endian, multiplexed signals), with random payloads, frames too short for their message
//! (partial decodes), CAN FD, remote and error frames, unknown ids, two interfaces, over two
//! logs decoded in one parallel run, then a third log appended by a second run.
//! 1. pyarrow reads every table; each row equals the jsonl object of the same frame: time to
//!    the microsecond, interface, id, flags, data, message, and every signal (a signal the
//!    frame does not carry is null; a float jsonl writes as null is NaN or infinite here).
//! 2. DuckDB: frame counts per message, non-null counts and exact sums of every integer
//!    signal, and an ASOF join of two message tables agree with the same figures computed
//!    from jsonl.

#[path = "common/peer.rs"]
mod peer;

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use canrelearn::dbc::Database;

const BIN: &str = env!("CARGO_BIN_EXE_canrelearn");

fn dbc(name: &str) -> String {
    format!("{}/tests/data/dbc/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A deterministic generator (xorshift).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A candump `-l` log of `n` frames starting at `t0` µs.
fn capture(db: &Database, seed: u64, t0: u64, n: usize) -> String {
    let mut rng = Rng(seed);
    let mut out = String::new();
    let fd_lengths = [12usize, 16, 20, 24, 32, 48, 64];
    for i in 0..n {
        let t = t0 + i as u64 * 997 + rng.below(50);
        let iface = if rng.below(3) == 0 { "vcan1" } else { "can0" };
        let _ = write!(out, "({}.{:06}) {iface} ", t / 1_000_000, t % 1_000_000);
        let pick = rng.below(100);
        let m = &db.messages()[rng.below(db.messages().len() as u64) as usize];
        let id = m.id();
        let id_text = if id.is_extended() {
            format!("{:08X}", id.raw())
        } else {
            format!("{:03X}", id.raw())
        };
        let bytes = |rng: &mut Rng, len: usize| -> String {
            (0..len)
                .map(|_| format!("{:02X}", rng.below(256)))
                .collect()
        };
        match pick {
            0..=2 => out.push_str("20000004#0010000000000000"), // an error frame
            3..=5 => {
                let _ = write!(out, "{id_text}#R");
            }
            6..=9 => {
                // Too short for its message (partial), or unknown.
                let len = rng.below(m.size().clamp(1, 8) as u64) as usize;
                let _ = write!(out, "{id_text}#{}", bytes(&mut rng, len));
            }
            10..=14 => {
                let _ = write!(out, "7{:02X}#{}", rng.below(256), bytes(&mut rng, 8));
            }
            _ if m.size() > 8 => {
                let len = *fd_lengths.iter().find(|&&l| l >= m.size()).unwrap_or(&64);
                let flags = rng.below(4);
                let _ = write!(out, "{id_text}##{flags:X}{}", bytes(&mut rng, len));
            }
            _ => {
                let _ = write!(out, "{id_text}#{}", bytes(&mut rng, m.size().min(8)));
            }
        }
        out.push('\n');
    }
    out
}

const CHECK_PY: &str = r#"
import sys, json, glob, os, decimal, math, datetime
import duckdb, pyarrow.parquet as pq
root, jsonls = sys.argv[1], sys.argv[2:]
recs = []
for path in jsonls:
    recs += [json.loads(l, parse_float=decimal.Decimal) for l in open(path)]

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

def micros(d):
    return int(d * 1000000)

# 1. pyarrow: the frames table, file by file in name order (one capture per file).
files = sorted(glob.glob(os.path.join(root, "frames", "*.parquet")))
assert not glob.glob(os.path.join(root, "**", ".*"), recursive=True), "temporary files left"
rows = []
for f in files:
    rows += pq.read_table(f).to_pylist()
assert len(rows) == len(recs), (len(rows), len(recs))
for r, j in zip(rows, recs):
    us = (r["timestamp"] - EPOCH) // datetime.timedelta(microseconds=1)
    assert us == micros(j["timestamp"]), (r, j)
    assert r["interface"] == j["interface"], (r, j)
    assert r["id"] == j["id"] and r["extended"] == j["extended"], (r, j)
    assert r["message"] == j["message"], (r, j)
    if "error_frame" in j:
        assert r["error"] and r["data"].hex().upper() == j["error_frame"]["data"].upper(), (r, j)
    elif j.get("remote"):
        assert r["remote"] and r["dlc"] == j["dlc"] and r["data"] == b"", (r, j)
    else:
        assert r["data"].hex().upper() == j["data"].upper(), (r, j)
        assert r["fd"] == bool(j.get("fd")) and r["brs"] == bool(j.get("brs")), (r, j)

def same(p, v):
    if v is None:                      # jsonl: a NaN or infinity
        return isinstance(p, float) and not math.isfinite(p)
    if isinstance(v, int) and isinstance(p, float):   # a 64-bit range scaled past INT64
        return p == float(v)
    if isinstance(v, decimal.Decimal):
        return isinstance(p, float) and math.isfinite(p) and decimal.Decimal(repr(p)) == v
    return type(p) is int and p == v

# Every message table, row by row against the jsonl frames of that message.
checked = 0
by_message = {}
for j in recs:
    if j["message"] is not None and not j.get("remote"):
        by_message.setdefault(j["message"], []).append(j)
for name, js in by_message.items():
    rows = []
    for f in sorted(glob.glob(os.path.join(root, "messages", name, "*.parquet"))):
        rows += pq.read_table(f).to_pylist()
    assert len(rows) == len(js), (name, len(rows), len(js))
    for r, j in zip(rows, js):
        assert r["interface"] == j["interface"]
        sig = j.get("signals", {})
        for col, p in r.items():
            if col in ("timestamp", "interface", "partial", "error"):
                continue
            key = col[len("signal_"):] if col.startswith("signal_") and col[len("signal_"):] in ("timestamp", "interface", "partial", "error") else col
            if key in sig:
                assert same(p, sig[key]), (name, col, p, sig[key])
                checked += 1
            else:
                assert p is None, (name, col, p, j)
        assert r["partial"] == ("error" in j), (name, r, j)
        assert (r["error"] is None) == ("error" not in j), (name, r, j)

# 2. DuckDB: counts, sums, a join.
con = duckdb.connect()
got = dict(con.sql(f"select coalesce(message, '-'), count(*) from '{root}/frames/*.parquet' group by 1").fetchall())
want = {}
for j in recs:
    want[j["message"] or "-"] = want.get(j["message"] or "-", 0) + 1
assert got == want, (got, want)
sums = 0
for name, js in by_message.items():
    cols = con.sql(f"describe select * from '{root}/messages/{name}/*.parquet'").fetchall()
    for col, kind, *_ in cols:
        if kind not in ("BIGINT", "UBIGINT"):
            continue
        if col in ("timestamp", "interface", "partial", "error"):
            continue
        n, total = con.sql(f'select count("{col}"), sum("{col}") from \'{root}/messages/{name}/*.parquet\'').fetchall()[0]
        vals = [j["signals"][col] for j in js if col in j.get("signals", {})]
        assert n == len(vals), (name, col, n, len(vals))
        assert (total if total is not None else 0) == sum(vals), (name, col, total, sum(vals))
        sums += 1

a, b = "INTEL_MIX", "MOTO_MIX"
n, total = con.sql(f"""
    select count(*), sum(b.M_Twelve)
    from (select * from '{root}/messages/{a}/*.parquet' where not partial) a
    asof join (select * from '{root}/messages/{b}/*.parquet' where not partial) b
    on a.interface = b.interface and a.timestamp >= b.timestamp""").fetchall()[0]
bs = {}
for j in by_message[b]:
    if "error" not in j:
        bs.setdefault(j["interface"], []).append((micros(j["timestamp"]), j["signals"]["M_Twelve"]))
wn, wt = 0, 0
for j in by_message[a]:
    if "error" in j:
        continue
    t = micros(j["timestamp"])
    before = [v for (u, v) in bs.get(j["interface"], []) if u <= t]
    if before:
        # The latest at or before; ties: DuckDB takes one of equal times (none here).
        latest = max((u, i) for i, (u, v) in enumerate(bs[j["interface"]]) if u <= t)
        wn += 1
        wt += bs[j["interface"]][latest[1]][1]
assert (n, total or 0) == (wn, wt), ((n, total), (wn, wt))
print(f"frames {len(recs)} values {checked} sums {sums} join {n}")
"#;

fn run(args: &[&str]) -> std::process::Output {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "canrelearn {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn parquet_agrees_with_jsonl_in_duckdb_and_pyarrow() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dbc("signals.dbc"), dbc("mux.dbc"));
    let db = Database::from_str_named(&std::fs::read_to_string(&a).unwrap(), "a")
        .unwrap()
        .merge(Database::from_str_named(&std::fs::read_to_string(&b).unwrap(), "b").unwrap())
        .unwrap();
    let logs: Vec<_> = (0..3)
        .map(|i| {
            let p = dir.path().join(format!("capture-{i}.log"));
            std::fs::write(
                &p,
                capture(
                    &db,
                    0x9E37_79B9 + i,
                    1_700_000_000_000_000 + i * 10_000_000,
                    4000,
                ),
            )
            .unwrap();
            p
        })
        .collect();
    let root = dir.path().join("dataset");
    let s = |p: &Path| peer::s(p).to_string();
    let (l0, l1, l2, r) = (s(&logs[0]), s(&logs[1]), s(&logs[2]), s(&root));
    // Two logs in one parallel run, a third appended by a second run.
    run(&[
        "decode", "--dbc", &a, "--dbc", &b, "--format", "parquet", "-o", &r, "-j", "2", &l0, &l1,
    ]);
    run(&[
        "decode", "--dbc", &a, "--dbc", &b, "--format", "parquet", "-o", &r, &l2,
    ]);
    let mut jsonls = Vec::new();
    for (i, l) in [&l0, &l1, &l2].iter().enumerate() {
        let out = run(&["decode", "--dbc", &a, "--dbc", &b, "--format", "jsonl", l]);
        let p = dir.path().join(format!("capture-{i}.jsonl"));
        std::fs::write(&p, out.stdout).unwrap();
        jsonls.push(s(&p));
    }
    let mut args = vec![r.as_str()];
    args.extend(jsonls.iter().map(String::as_str));
    let out = peer::run_python(CHECK_PY, &args);
    let said = String::from_utf8_lossy(&out.stdout);
    eprintln!("{said}");
    // The comparison covered a real number of values, not an empty data set.
    let values: u64 = said
        .split_whitespace()
        .nth(3)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(values > 10_000, "{said}");
}
