#!/usr/bin/env python3
"""python-can as the BLF peer of canrelearn's tests (tests/peers_blf.rs, make_blf_fixtures.py).

usage:
  blf_peer.py write OUT.blf EXPECTED.log N SEED LEVEL CONTAINER
      python-can's BLFWriter writes N mixed messages (classic 0-8 bytes and raw DLCs 9-15,
      extended ids, remote frames with lengths, CAN FD 0-64 bytes with BRS/ESI, error frames;
      channels 0 and 1, Rx and Tx) with compression_level LEVEL (0 = uncompressed containers)
      and max_container_size CONTAINER. EXPECTED.log gets, as candump -L lines with
      nanoseconds and R/T suffixes, what a correct BLF reader must read back: the timestamps as
      python-can stores them (nanoseconds after the start time, which is the first timestamp
      truncated to the millisecond), error frames without a direction (python-can writes
      none), FD frames with the FDF flag.
  blf_peer.py read FILE.blf
      python-can's BLFReader reads FILE; one JSON object per message on stdout.
  blf_peer.py count FILE.blf
      the number of messages python-can's BLFReader reads.
"""
import json
import random
import sys

import can
from can.io.blf import BLFReader, BLFWriter

FD_LENGTHS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64]


def messages(n, seed):
    rnd = random.Random(seed)
    t = 1700000000.0 + rnd.random()
    out = []
    for i in range(n):
        t += rnd.choice([0.0001, 0.00025, 0.0007, 0.0013, 0.02])
        channel = i % 2
        is_rx = rnd.random() < 0.7
        kind = rnd.choice(["classic"] * 5 + ["extended", "remote", "fd", "fd", "error", "rawdlc"])
        if kind == "classic":
            data = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 8)))
            m = can.Message(timestamp=t, arbitration_id=rnd.randint(0, 0x7FF), is_extended_id=False,
                            data=data, channel=channel, is_rx=is_rx)
        elif kind == "extended":
            data = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 8)))
            m = can.Message(timestamp=t, arbitration_id=rnd.randint(0, 0x1FFFFFFF), is_extended_id=True,
                            data=data, channel=channel, is_rx=is_rx)
        elif kind == "remote":
            m = can.Message(timestamp=t, arbitration_id=rnd.randint(0, 0x7FF), is_extended_id=rnd.random() < 0.3,
                            is_remote_frame=True, dlc=rnd.randint(0, 8), channel=channel, is_rx=is_rx)
        elif kind == "fd":
            length = rnd.choice(FD_LENGTHS)
            data = bytes(rnd.getrandbits(8) for _ in range(length))
            m = can.Message(timestamp=t, arbitration_id=rnd.randint(0, 0x7FF), is_extended_id=rnd.random() < 0.3,
                            is_fd=True, bitrate_switch=rnd.random() < 0.5,
                            error_state_indicator=rnd.random() < 0.3, data=data, channel=channel, is_rx=is_rx)
        elif kind == "error":
            # A SocketCAN error frame as python-can's socketcan interface delivers it: the class
            # bits in the arbitration id, eight detail bytes.
            data = bytes([0, rnd.choice([0, 4, 8, 0x10]), rnd.choice([0, 1, 2, 4]), rnd.choice([0, 8, 0x19]),
                          0, 0, rnd.randint(0, 255), rnd.randint(0, 255)])
            m = can.Message(timestamp=t, arbitration_id=rnd.choice([0x4, 0x8 | 0x80, 0x20, 0x40, 0x4 | 0x200]),
                            is_error_frame=True, data=data, dlc=8, channel=channel, is_rx=True)
        else:
            # A classic frame with a raw DLC of 9 to 15 (8 bytes on the wire).
            data = bytes(rnd.getrandbits(8) for _ in range(8))
            m = can.Message(timestamp=t, arbitration_id=rnd.randint(0, 0x7FF), data=data,
                            dlc=rnd.randint(9, 15), channel=channel, is_rx=is_rx, check=False)
        out.append(m)
    return out


def stored_nanos(msgs):
    """The absolute nanoseconds python-can's BLFWriter stores for each message."""
    start = int(msgs[0].timestamp * 1000) / 1000
    start_ns = int(msgs[0].timestamp * 1000) * 1_000_000
    return [start_ns + max(int((m.timestamp - start) * 1e9), 0) for m in msgs]


def candump_line(m, ns):
    ident = ("%08X" if m.is_extended_id else "%03X") % m.arbitration_id
    if m.is_error_frame:
        frame = "%08X#%s" % (0x20000000 | m.arbitration_id, bytes(m.data).hex().upper())
    elif m.is_remote_frame:
        frame = "%s#R%s" % (ident, str(m.dlc) if m.dlc else "")
    elif m.is_fd:
        flags = 4 | (1 if m.bitrate_switch else 0) | (2 if m.error_state_indicator else 0)
        frame = "%s##%X%s" % (ident, flags, bytes(m.data).hex().upper())
    elif m.dlc > 8:
        frame = "%s#%s_%X" % (ident, bytes(m.data).hex().upper(), m.dlc)
    else:
        frame = "%s#%s" % (ident, bytes(m.data).hex().upper())
    direction = "" if m.is_error_frame else (" R" if m.is_rx else " T")
    return "(%d.%09d) can%d %s%s" % (ns // 10**9, ns % 10**9, m.channel, frame, direction)


def write(out, expected, n, seed, level, container):
    msgs = messages(n, seed)
    with BLFWriter(out, compression_level=level, max_container_size=container) as w:
        for m in msgs:
            w.on_message_received(m)
    with open(expected, "w") as f:
        for m, ns in zip(msgs, stored_nanos(msgs)):
            f.write(candump_line(m, ns) + "\n")


def read(path):
    with BLFReader(path) as r:
        for m in r:
            print(json.dumps({
                "t": repr(m.timestamp), "ch": m.channel, "id": m.arbitration_id,
                "ext": m.is_extended_id, "rtr": m.is_remote_frame, "err": m.is_error_frame,
                "fd": m.is_fd, "brs": m.bitrate_switch, "esi": m.error_state_indicator,
                "dlc": m.dlc, "data": bytes(m.data).hex(), "rx": m.is_rx,
            }))


def count(path):
    with BLFReader(path) as r:
        print(sum(1 for _ in r))


def main(argv):
    if argv[1] == "write":
        write(argv[2], argv[3], int(argv[4]), int(argv[5]), int(argv[6]), int(argv[7]))
    elif argv[1] == "read":
        read(argv[2])
    elif argv[1] == "count":
        count(argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
