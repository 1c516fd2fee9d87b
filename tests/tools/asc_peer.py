#!/usr/bin/env python3
"""python-can as the ASC peer of canrelearn's `log::asc` (tests/peers_asc.rs, the fixtures in
tests/data/formats/asc/ and benches/compare_asc.py).

usage:
  asc_peer.py write OUT.asc OUT.json [--small]
                                       python-can's ASCWriter writes the mixed frame set to
                                       OUT.asc; OUT.json lists the messages it was given
                                       (--small: one BRS/ESI combination per FD length and no
                                       tail of ordinary traffic, for committed fixtures)
  asc_peer.py read IN.asc OUT.json     python-can's ASCReader (absolute times) reads IN.asc;
                                       OUT.json lists the messages it gave
  asc_peer.py bench OUT.asc N          python-can writes N frames (a bus-like mix) to OUT.asc

The mixed set: classic frames with standard and extended ids and 0 to 8 bytes, classic frames
with a raw DLC of 9 to 15 (8 bytes), remote frames requesting 0 to 8 bytes, CAN FD frames of
every length with every BRS/ESI combination, error frames, on channels 0 and 1 (ASC channels 1
and 2), received and sent. The first time has 5 ms after the second (python-can writes the
milliseconds of its trigger block date unpadded: `.5`). Times are read and written in UTC
(TZ=UTC): ASC dates carry no time zone.
"""
import json
import os
import random
import sys
import time

os.environ["TZ"] = "UTC"
time.tzset()

import can  # noqa: E402

FD_LENGTHS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64]
T0 = 1795290005.005


def mixed_messages(seed=7, small=False):
    rnd = random.Random(seed)
    msgs = []
    t = T0

    def add(**kw):
        nonlocal t
        kw.setdefault("channel", rnd.randrange(2))
        kw.setdefault("is_rx", rnd.random() < 0.7)
        msgs.append(can.Message(timestamp=t, **kw))
        t += rnd.randrange(1, 5000) / 1e6

    def rid(ext):
        return rnd.randrange(0x20000000) if ext else rnd.randrange(0x800)

    for n in range(9):
        for ext in (False, True):
            add(arbitration_id=rid(ext), is_extended_id=ext,
                data=bytes(rnd.randrange(256) for _ in range(n)))
    for dlc in range(9, 16):
        add(arbitration_id=rid(dlc % 2 == 0), is_extended_id=dlc % 2 == 0, dlc=dlc,
            data=bytes(rnd.randrange(256) for _ in range(8)))
    for n in (0, 1, 5, 8):
        for ext in (False, True):
            add(arbitration_id=rid(ext), is_extended_id=ext, is_remote_frame=True, dlc=n)
    for i, n in enumerate(FD_LENGTHS):
        for brs, esi in [(False, False), (False, True), (True, False), (True, True)]:
            if small and (brs, esi) != (i % 2 == 1, i % 4 >= 2):
                continue
            ext = rnd.random() < 0.5
            add(arbitration_id=rid(ext), is_extended_id=ext, is_fd=True,
                bitrate_switch=brs, error_state_indicator=esi,
                data=bytes(rnd.randrange(256) for _ in range(n)))
    for _ in range(3):
        add(arbitration_id=0, is_error_frame=True)
    # A tail of ordinary traffic.
    for _ in range(0 if small else 120):
        kind = rnd.randrange(10)
        ext = rnd.random() < 0.3
        if kind < 7:
            add(arbitration_id=rid(ext), is_extended_id=ext,
                data=bytes(rnd.randrange(256) for _ in range(rnd.randrange(9))))
        elif kind < 9:
            add(arbitration_id=rid(ext), is_extended_id=ext, is_fd=True,
                bitrate_switch=rnd.random() < 0.5,
                data=bytes(rnd.randrange(256) for _ in range(rnd.choice(FD_LENGTHS))))
        else:
            add(arbitration_id=rid(ext), is_extended_id=ext, is_remote_frame=True,
                dlc=rnd.randrange(9))
    return msgs


def as_json(m):
    return {
        "t": repr(m.timestamp),
        "id": m.arbitration_id,
        "ext": m.is_extended_id,
        "rtr": m.is_remote_frame,
        "err": m.is_error_frame,
        "fd": m.is_fd,
        "brs": m.bitrate_switch,
        "esi": m.error_state_indicator,
        "dlc": m.dlc,
        "data": bytes(m.data).hex(),
        "ch": m.channel,
        "rx": m.is_rx,
    }


def write(out_asc, out_json, small=False):
    msgs = mixed_messages(small=small)
    with can.ASCWriter(out_asc) as w:
        for m in msgs:
            w.on_message_received(m)
    with open(out_json, "w") as f:
        json.dump([as_json(m) for m in msgs], f)


def read(in_asc, out_json):
    with can.ASCReader(in_asc, relative_timestamp=False) as r:
        msgs = list(r)
    with open(out_json, "w") as f:
        json.dump([as_json(m) for m in msgs], f)


def bench(out_asc, n):
    rnd = random.Random(3)
    ids = [(rnd.randrange(0x800), False) for _ in range(40)] + [
        (rnd.randrange(0x20000000), True) for _ in range(10)]
    t = T0
    with can.ASCWriter(out_asc) as w:
        for i in range(n):
            t += rnd.randrange(50, 500) / 1e6
            arb, ext = ids[rnd.randrange(len(ids))]
            if i % 25 == 24:
                m = can.Message(timestamp=t, arbitration_id=arb, is_extended_id=ext, is_fd=True,
                                bitrate_switch=True, channel=1,
                                data=bytes(rnd.randrange(256) for _ in range(32)))
            else:
                m = can.Message(timestamp=t, arbitration_id=arb, is_extended_id=ext,
                                channel=i % 2, data=rnd.randbytes(8))
            w.on_message_received(m)


def main(argv):
    if len(argv) in (4, 5) and argv[1] == "write":
        write(argv[2], argv[3], small=argv[4:] == ["--small"])
    elif len(argv) == 4 and argv[1] == "read":
        read(argv[2], argv[3])
    elif len(argv) == 4 and argv[1] == "bench":
        bench(argv[2], int(argv[3]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
