#!/usr/bin/env python3
"""Regenerates the ASC fixtures in tests/data/formats/asc/ from the real peers.

usage: CANRELEARN_PEER_PYTHON=/opt/peers/bin/python tests/tools/make_asc_fixtures.py

  python-can-mixed.asc / .json  python-can's ASCWriter on the mixed frame set of
                                tests/tools/asc_peer.py (--small); the JSON lists the messages
  log2asc-source.log            a candump log (written here) with every frame kind log2asc
                                converts, on can0 and can1, with directions
  log2asc-mixed.asc             `log2asc -I log2asc-source.log can0 can1`
  log2asc-fd-lines.asc          `log2asc -f ...`: classic frames in CANFD lines too

Every peer runs with TZ=UTC (ASC dates carry no time zone). tests/asc_logs.rs reads them.
"""
import os
import random
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "formats", "asc")
PY = os.environ.get("CANRELEARN_PEER_PYTHON", sys.executable)
ENV = dict(os.environ, TZ="UTC")


def candump_source(path):
    rnd = random.Random(11)
    micros = 1795290005 * 1_000_000  # a whole second: log2asc's date has no fraction
    lines = []

    def add(iface, frame, direction):
        nonlocal micros
        suffix = " " + direction if direction else ""
        lines.append("(%d.%06d) %s %s%s" % (micros // 1_000_000, micros % 1_000_000, iface,
                                              frame, suffix))
        micros += rnd.randrange(1, 3000)

    def hexdata(n):
        return "".join("%02X" % rnd.randrange(256) for _ in range(n))

    for n in range(9):
        add("can0", "%03X#%s" % (rnd.randrange(0x800), hexdata(n)), "R")
        add("can1", "%08X#%s" % (rnd.randrange(0x20000000), hexdata(n)), "T")
    for n in (0, 3, 8):
        add("can0", "%03X#R%s" % (rnd.randrange(0x800), n if n else ""), "T")
        add("can1", "%08X#R%d" % (rnd.randrange(0x20000000), n), "R")
    for i, n in enumerate([0, 1, 7, 8, 12, 16, 20, 24, 32, 48, 64]):
        flags = 4 + (i % 4)  # FDF with every BRS/ESI combination
        iface = "can%d" % (i % 2)
        add(iface, "%03X##%X%s" % (rnd.randrange(0x800), flags, hexdata(n)), "RT"[i % 2])
    add("can0", "20000004#0004000000000000", "R")
    add("can1", "20000080#0000000000000000", None)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    subprocess.run([PY, os.path.join(HERE, "asc_peer.py"), "write",
                    os.path.join(OUT, "python-can-mixed.asc"),
                    os.path.join(OUT, "python-can-mixed.json"), "--small"],
                   check=True, env=ENV)
    src = os.path.join(OUT, "log2asc-source.log")
    candump_source(src)
    for name, opts in [("log2asc-mixed.asc", []), ("log2asc-fd-lines.asc", ["-f"])]:
        subprocess.run(["log2asc", "-I", src, "-O", os.path.join(OUT, name)] + opts +
                       ["can0", "can1"], check=True, env=ENV)


if __name__ == "__main__":
    main()
