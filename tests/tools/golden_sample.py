#!/usr/bin/env python3
"""Decode a candump log with cantools (the peer) and write one JSON object per frame:
{"id": int, "message": name|null, "signals": {...}} with decode_choices=False, scaling=True
(ints stay ints, floats are floats), or "error": "<cantools message>" when cantools refuses.
tests/cli_decode.rs compares `canrelearn decode --format jsonl` with it frame by frame.

usage: golden_sample.py DBC LOG OUT
"""
import json
import re
import sys

import cantools

dbc, log, out = sys.argv[1:4]
db = cantools.database.load_file(dbc)
line_re = re.compile(r"^\((\d+\.\d+)\)\s+(\S+)\s+([0-9A-Fa-f]+)#([0-9A-Fa-f]*)$")
with open(log) as f, open(out, "w") as o:
    for line in f:
        m = line_re.match(line.strip())
        if not m:
            continue
        ident, data = int(m.group(3), 16), bytes.fromhex(m.group(4))
        rec = {"id": ident}
        try:
            msg = db.get_message_by_frame_id(ident)
        except KeyError:
            rec["message"] = None
            o.write(json.dumps(rec) + "\n")
            continue
        rec["message"] = msg.name
        try:
            rec["signals"] = msg.decode(data, decode_choices=False, scaling=True)
        except Exception as e:  # noqa: BLE001 - record the peer's refusal
            rec["error"] = str(e)
        o.write(json.dumps(rec) + "\n")
