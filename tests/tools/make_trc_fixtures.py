#!/usr/bin/env python3
"""Writes the TRC fixtures of tests/data/formats/trc/ that python-can makes.

Run with the peer environment (python-can 4.6.1):
    /opt/peers/bin/python tests/tools/make_trc_fixtures.py
The frames are those of frames.txt (time, channel, Rx/Tx, id, data), classic CAN only: python-can's
TRCWriter drops remote, CAN FD and error frames.
"""
import os

import can
from can.io.trc import TRCFileVersion

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "formats", "trc")


def messages():
    for line in open(os.path.join(HERE, "frames.txt")):
        ts, ch, direction, ident, data = line.split()
        yield can.Message(
            timestamp=float(ts),
            channel=int(ch),
            is_rx=direction == "Rx",
            arbitration_id=int(ident, 16),
            is_extended_id=len(ident) > 3,
            data=b"" if data == "-" else bytes.fromhex(data),
        )


for version, name in [(TRCFileVersion.V2_1, "python-can-2.1.trc"), (TRCFileVersion.V1_0, "python-can-1.0.trc")]:
    path = os.path.join(HERE, name)
    with can.TRCWriter(path) as w:
        w.file_version = version
        for m in messages():
            w.on_message_received(m)
    # The header names the absolute path it was written to: keep it free of this machine.
    text = open(path, newline="").read().replace(os.path.abspath(path), name)
    open(path, "w", newline="").write(text)
