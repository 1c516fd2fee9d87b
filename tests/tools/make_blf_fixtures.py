#!/usr/bin/env python3
"""Write the BLF fixtures of tests/data/formats/blf/ with python-can (see README.md there).

python-can's BLFWriter writes the same 200 mixed messages (blf_peer.py: classic, raw DLC,
extended, remote, CAN FD with BRS/ESI, error frames; two channels, Rx and Tx) twice: zlib
containers of at most 2048 bytes (python-can-mixed.blf) and uncompressed containers of at most
1500 bytes (python-can-mixed-raw.blf), so that objects straddle containers. python-can-mixed.log
is what a correct reader reads from both, as candump -L lines.

usage: make_blf_fixtures.py [OUT_DIR]    (default: tests/data/formats/blf)
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blf_peer  # noqa: E402

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "tests/data/formats/blf")
os.makedirs(out, exist_ok=True)
expected = os.path.join(out, "python-can-mixed.log")
blf_peer.write(os.path.join(out, "python-can-mixed.blf"), expected, 200, 2026, -1, 2048)
blf_peer.write(os.path.join(out, "python-can-mixed-raw.blf"), expected, 200, 2026, 0, 1500)
