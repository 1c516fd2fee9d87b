#!/usr/bin/env python3
"""Compares our DBC decoder with cantools on every DBC of a directory.

For each *.dbc: load with cantools (strict; if that fails, non-strict, and say so), generate
random frames per message (tests/tools/dbc_vectors.py), decode them with cantools and with our
decoder (examples/dbc_decode_jsonl.rs, built in release mode), and report per file:
  OK, LOAD (ours or cantools' load failure and why), or DIFF (first differences and why).
Usage: python3 tests/tools/compare_corpus.py DIR [--count N] [--bin PATH]
Never run from the tests: the corpus is not ours.
"""

import argparse
import json
import math
import pathlib
import random
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import dbc_vectors  # noqa: E402


def num(v):
    if v is None:
        return None
    if "int" in v:
        return ("int", int(v["int"]))
    if "float" in v:
        return ("float", float(v["float"]))
    return ("other", v.get("other"))


def same(a, b):
    if a is None or b is None:
        return a == b
    if a[0] != b[0]:
        return False
    if a[0] == "int":
        return a[1] == b[1]
    x, y = a[1], b[1]
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    return x == y or abs(x - y) <= 1e-12 * max(abs(x), abs(y)) or math.nextafter(x, y) == y


def compare_file(path, bin_path, count):
    notes = []
    try:
        db = dbc_vectors.load(path)
    except Exception as e:  # noqa: BLE001
        try:
            db = dbc_vectors.load(path, strict=False)
            notes.append(f"cantools strict load fails ({str(e).strip()[:160]}); compared non-strict")
        except Exception as e2:  # noqa: BLE001
            db = None
            notes.append(f"cantools cannot load: {str(e2).strip()[:200]}")
    frames = []
    if db is not None:
        rng = random.Random(path.name)
        for msg in db.messages:
            if msg.is_container:
                continue
            for data in dbc_vectors.random_frames(msg, rng, count):
                frames.append((msg, data))
    stdin = "".join(json.dumps({"id": m.frame_id, "ext": m.is_extended_frame, "data": d.hex()}) + "\n"
                    for m, d in frames)
    proc = subprocess.run([bin_path, str(path)], input=stdin, capture_output=True, text=True)
    lines = proc.stdout.splitlines()
    if not lines:
        return "CRASH", notes + [f"no output, stderr: {proc.stderr.strip()[:300]}"]
    head = json.loads(lines[0])
    if "load_error" in head:
        return "LOAD", notes + [f"ours: {head['load_error']}"]
    if db is None:
        return "LOAD", notes + ["ours loads it"]
    if proc.returncode != 0 or len(lines) - 1 != len(frames):
        return "CRASH", notes + [f"exit {proc.returncode}, {len(lines) - 1}/{len(frames)} lines, stderr: {proc.stderr.strip()[:300]}"]
    diffs = {}
    for (msg, data), line in zip(frames, lines[1:]):
        ours = json.loads(line)
        kind, expected = dbc_vectors.cantools_decode(msg, data)
        key = None
        if kind == "short":
            if ours.get("error") != "short":
                key = f"{msg.name}: cantools short-frame error, ours {str(ours)[:80]}"
        elif kind == "mux":
            if not ours.get("mux_miss"):
                key = f"{msg.name}: cantools unknown-mux error, ours decoded without a miss"
        elif kind.startswith("other"):
            key = f"{msg.name}: cantools error {kind[:120]}; ours {('error ' + ours['error']) if 'error' in ours else 'decoded'}"
        else:
            if "error" in ours:
                key = f"{msg.name}: ours error {ours['error']}, cantools decoded"
            elif ours.get("mux_miss"):
                key = f"{msg.name}: ours reports a mux miss, cantools decoded"
            else:
                got = ours["signals"]
                if set(got) != set(expected):
                    key = (f"{msg.name}: signal sets differ: only cantools {sorted(set(expected) - set(got))}, "
                           f"only ours {sorted(set(got) - set(expected))}")
                else:
                    for name, e in expected.items():
                        g = got[name]
                        if not same(num(e["phys"]), num(g["phys"])):
                            key = f"{msg.name}.{name}: physical cantools {e['phys']} ours {g['phys']}"
                            break
                        if e["raw"] is not None and not same(num(e["raw"]), num(g["raw"])):
                            key = f"{msg.name}.{name}: raw cantools {e['raw']} ours {g['raw']}"
                            break
                        if e["label"] != g["label"]:
                            key = f"{msg.name}.{name}: label cantools {e['label']!r} ours {g['label']!r}"
                            break
        if key is not None:
            diffs.setdefault(key, [0, data.hex()])[0] += 1
    if diffs:
        return "DIFF", notes + [f"{k} (x{n}, e.g. {d})" for k, (n, d) in list(diffs.items())[:8]]
    return "OK", notes + [f"{len(frames)} frames agree"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--bin", default="target/release/examples/dbc_decode_jsonl")
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--example", "dbc_decode_jsonl"], check=True)
    summary = {}
    for path in sorted(pathlib.Path(args.dir).glob("*.dbc")):
        status, notes = compare_file(path, args.bin, args.count)
        summary[status] = summary.get(status, 0) + 1
        print(f"{status:5} {path.name}")
        for n in notes:
            print(f"      {n}")
    print("summary:", summary)


if __name__ == "__main__":
    main()
