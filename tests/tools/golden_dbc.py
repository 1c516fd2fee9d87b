#!/usr/bin/env python3
"""Generates golden decoding vectors for our test DBCs with cantools (the reference).

For every tests/data/dbc/*.dbc: random frames per message (seeded, reproducible), decoded by
cantools with decode(decode_choices=False, scaling=True) (physical values, int/float typed
as cantools types them), scaling=False (raw values) and decode_choices=True (labels).
Writes tests/data/golden/<stem>.jsonl, one vector per line:
  {"id": 256, "ext": false, "data": "hex", "expect": "ok"|"short"|"mux",
   "signals": {NAME: {"raw": V, "phys": V, "label": str|null}}}
Run from the repository root: python3 tests/tools/golden_dbc.py [--count N]
"""

import argparse
import json
import pathlib
import random
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import dbc_vectors  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=40, help="random frames per message")
    ap.add_argument("--root", default=".")
    args = ap.parse_args()
    root = pathlib.Path(args.root)
    out_dir = root / "tests/data/golden"
    out_dir.mkdir(parents=True, exist_ok=True)
    for dbc in sorted((root / "tests/data/dbc").glob("*.dbc")):
        try:
            db = dbc_vectors.load(dbc)
        except Exception as e:  # noqa: BLE001
            print(f"skip {dbc.name}: cantools cannot load it: {e}")
            continue
        rng = random.Random(dbc.stem)
        # The 40-message benchmark DBC gets fewer frames per message to keep the file small.
        count = max(8, args.count // 4) if dbc.stem.startswith("bench") else args.count
        lines = []
        kinds = {}
        for msg in db.messages:
            for data in dbc_vectors.random_frames(msg, rng, count):
                kind, signals = dbc_vectors.cantools_decode(msg, data)
                if kind.startswith("other"):
                    raise SystemExit(f"{dbc.name} {msg.name}: unexpected cantools error {kind}")
                kinds[kind] = kinds.get(kind, 0) + 1
                lines.append(json.dumps({
                    "id": msg.frame_id,
                    "ext": msg.is_extended_frame,
                    "data": data.hex().upper(),
                    "expect": kind,
                    "signals": signals,
                }, sort_keys=True))
        path = out_dir / (dbc.stem + ".jsonl")
        path.write_text("\n".join(lines) + "\n")
        print(f"{path}: {len(lines)} vectors {kinds}")


if __name__ == "__main__":
    main()
