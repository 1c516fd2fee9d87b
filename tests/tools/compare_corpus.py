#!/usr/bin/env python3
"""Compares our DBC decoder with cantools on every DBC of a directory.

For each *.dbc: load with cantools (strict; if that fails, non-strict, and say so), generate
random frames per message (tests/tools/dbc_vectors.py), decode them with cantools and with our
decoder (examples/dbc_decode_jsonl.rs, built in release mode), and report per file:
  OK, LOAD (ours or cantools' load failure and why), or DIFF (first differences and why).
With --cli PATH (the canrelearn binary), the product itself is compared instead: the frames
go into a candump log, `canrelearn decode --dbc FILE --format jsonl` decodes it, and each
object must agree with cantools: the same physical values and labels where cantools decodes,
an "error" where cantools refuses the frame, and "partial": true (never a silent decode) where
cantools refuses it because a multiplexor selects no branch or a signal lies beyond the
message's length. Messages with overlapping signals (cantools cannot unpack them) count apart when our decode
warned of the overlap. Frames that CAN cannot carry (an FD length that is not a DLC length) are
left out and counted.
Usage: python3 tests/tools/compare_corpus.py DIR [--count N] [--bin PATH | --cli PATH]
Never run from the tests: the corpus is not ours.
"""

import argparse
import json
import math
import pathlib
import random
import re
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


FD_LENGTHS = {12, 16, 20, 24, 32, 48, 64}


def cp1252_reading(text):
    """How cantools (cp1252 by default) reads the UTF-8 bytes of `text`."""
    if text is None:
        return None
    raw = text.encode("utf-8")
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError:
        # cp1252 leaves 0x81, 0x8D, 0x8F, 0x90, 0x9D undefined; Python's reader maps them through.
        return "".join(raw[i:i + 1].decode("cp1252", errors="strict") if raw[i] not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)
                       else chr(raw[i]) for i in range(len(raw)))


def candump_line(i, msg, data):
    ident = f"{msg.frame_id:08X}" if msg.is_extended_frame else f"{msg.frame_id:03X}"
    sep = "##0" if len(data) > 8 else "#"
    return f"({i // 1000000}.{i % 1000000:06d}) can0 {ident}{sep}{data.hex().upper()}\n"


def compare_cli(path, cli, count):
    """Compares `canrelearn decode --format jsonl` with cantools on one DBC."""
    notes = []
    try:
        db = dbc_vectors.load(path)
    except Exception as e:  # noqa: BLE001
        try:
            db = dbc_vectors.load(path, strict=False)
            notes.append(f"cantools strict load fails ({str(e).strip()[:160]}); compared non-strict")
        except Exception as e2:  # noqa: BLE001
            return "LOAD", notes + [f"cantools cannot load: {str(e2).strip()[:200]}"]
    rng = random.Random(path.name)
    frames, skipped = [], 0
    for msg in db.messages:
        if msg.is_container:
            continue
        for data in dbc_vectors.random_frames(msg, rng, count):
            if len(data) > 8 and len(data) not in FD_LENGTHS:
                skipped += 1
                continue
            frames.append((msg, data))
    if skipped:
        notes.append(f"{skipped} frames with a length CAN cannot carry left out")
    if not frames:
        return "EMPTY", notes + ["no messages to decode"]
    log = "".join(candump_line(i, m, d) for i, (m, d) in enumerate(frames))
    proc = subprocess.run([cli, "decode", "--dbc", str(path), "--format", "jsonl", "-"],
                          input=log, capture_output=True, text=True)
    lines = proc.stdout.splitlines()
    if proc.returncode != 0 and not lines:
        return "LOAD", notes + [f"ours: exit {proc.returncode}: {proc.stderr.strip()[:300]}"]
    if proc.returncode != 0 or len(lines) != len(frames):
        return "CRASH", notes + [f"exit {proc.returncode}, {len(lines)}/{len(frames)} lines, stderr: {proc.stderr.strip()[:300]}"]
    check = subprocess.run([cli, "dbc", "check", str(path)], capture_output=True, text=True)
    overlapping = set(re.findall(r"error: message (\S+): signals .* overlap", check.stdout + check.stderr))
    diffs = {}
    partial = 0
    overlap = 0
    encoding = 0
    for (msg, data), line in zip(frames, lines):
        ours = json.loads(line)
        kind, expected = dbc_vectors.cantools_decode(msg, data)
        key = None
        if ours.get("partial"):
            partial += 1
        if kind == "ok":
            if "error" in ours:
                key = f"{msg.name}: ours error {ours['error'][:100]!r}, cantools decoded"
            elif ours.get("message") != msg.name:
                key = f"{msg.name}: ours decoded it as {ours.get('message')!r}"
            else:
                got, labels = ours.get("signals", {}), ours.get("labels", {})
                if set(got) != set(expected):
                    key = (f"{msg.name}: signal sets differ: only cantools {sorted(set(expected) - set(got))}, "
                           f"only ours {sorted(set(got) - set(expected))}")
                else:
                    for name, e in expected.items():
                        g, want = got[name], num(e["phys"])
                        if g is None:
                            # JSON has no NaN or infinity: ours writes null for them.
                            if want[0] == "float" and not math.isfinite(want[1]):
                                continue
                            g = ("null", None)
                        else:
                            g = ("float", float(g)) if isinstance(g, float) else ("int", int(g))
                        if not same(want, g):
                            key = f"{msg.name}.{name}: physical cantools {e['phys']} ours {got[name]}"
                            break
                        if e["label"] != labels.get(name):
                            if cp1252_reading(labels.get(name)) == e["label"]:
                                # The file is valid UTF-8: ours reads it so, cantools always
                                # as cp1252 (its default encoding).
                                encoding += 1
                                continue
                            key = f"{msg.name}.{name}: label cantools {e['label']!r} ours {labels.get(name)!r}"
                            break
        elif "error" not in ours and msg.name in overlapping and "layout error" in proc.stderr:
            # cantools (non-strict) cannot unpack overlapping signals; ours decodes each from
            # its own bits and said so at load (the DBC's layout error).
            overlap += 1
        elif "error" not in ours:
            key = f"{msg.name}: cantools refuses it ({kind[:100]}), ours decoded it silently"
        elif kind == "short" and ours.get("partial"):
            key = f"{msg.name}: cantools short-frame error, ours a partial decode"
        elif kind != "short" and not ours.get("partial") and "short" not in ours["error"]:
            key = f"{msg.name}: cantools {kind[:80]}, ours error {ours['error'][:80]!r} (not marked partial)"
        if key is not None:
            diffs.setdefault(key, [0, data.hex()])[0] += 1
    if encoding:
        notes.append(f"{encoding} labels read as UTF-8 (the file is valid UTF-8) where cantools reads cp1252")
    if overlap:
        notes.append(f"{overlap} frames of messages with overlapping signals: cantools refuses them, "
                     "ours decodes each signal from its own bits and warned of the overlap at load")
    if partial:
        notes.append(f"{partial} frames marked partial (cantools refuses them)")
    if diffs:
        return "DIFF", notes + [f"{k} (x{n}, e.g. {d})" for k, (n, d) in list(diffs.items())[:8]]
    return "OK", notes + [f"{len(frames)} frames agree"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--bin", default="target/release/examples/dbc_decode_jsonl")
    ap.add_argument("--cli", help="compare `canrelearn decode --format jsonl` (this binary) instead")
    args = ap.parse_args()
    if args.cli is None:
        subprocess.run(["cargo", "build", "--release", "--example", "dbc_decode_jsonl"], check=True)
    summary = {}
    for path in sorted(pathlib.Path(args.dir).glob("*.dbc")):
        if args.cli is not None:
            status, notes = compare_cli(path, args.cli, args.count)
        else:
            status, notes = compare_file(path, args.bin, args.count)
        summary[status] = summary.get(status, 0) + 1
        print(f"{status:5} {path.name}")
        for n in notes:
            print(f"      {n}")
    print("summary:", summary)


if __name__ == "__main__":
    main()
