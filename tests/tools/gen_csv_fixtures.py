#!/usr/bin/env python3
"""Write the python-can CSV fixtures of tests/data/formats/csv/ with python-can's CSVWriter.

For each fixture NAME.csv, NAME.expected lists the messages given to python-can, one per line:
`TIMESTAMP ID EXTENDED REMOTE ERROR FD BRS ESI DLC DATAHEX` (TIMESTAMP as Python's repr, ID hex,
flags 0/1, DATAHEX `-` when empty), so that tests/formats_csv.rs can check the reader without
Python. Deterministic.

usage: gen_csv_fixtures.py OUT_DIR     (python-can 4.6.1: /opt/peers/bin/python)
"""
import os
import sys

import can


def messages_mixed():
    """Every kind of message python-can's CSV can hold, on an epoch time line."""
    t = 1700000000.0
    step = 0.001011
    out = []

    def add(**kw):
        nonlocal t
        out.append(can.Message(timestamp=round(t, 6), **kw))
        t += step

    for n in range(9):
        add(arbitration_id=0x123, is_extended_id=False, data=bytes(range(0x10, 0x10 + n)))
    add(arbitration_id=0x18DAF110, is_extended_id=True, data=b"\x02\x10\x03")
    add(arbitration_id=0x1FFFFFFF, is_extended_id=True, data=b"\xff" * 8)
    add(arbitration_id=0x000, is_extended_id=False, data=b"")
    # A raw DLC, as python-can's BLF reader yields one (dlc 9-15 with 8 bytes).
    add(arbitration_id=0x100, is_extended_id=False, dlc=11, data=bytes(range(8)))
    for i, n in enumerate([12, 16, 20, 24, 32, 48, 64]):
        add(
            arbitration_id=0x7E8 if i % 2 else 0x1ABCDE0 + i,
            is_extended_id=not i % 2,
            is_fd=True,
            bitrate_switch=i % 3 != 0,
            error_state_indicator=i % 4 == 1,
            data=bytes((j * 7 + i) & 0xFF for j in range(n)),
        )
    # CAN FD frames of up to 8 bytes: python-can writes them like classic ones.
    add(arbitration_id=0x456, is_extended_id=False, is_fd=True, bitrate_switch=True, data=b"FD8bytes")
    add(arbitration_id=0x457, is_extended_id=False, is_fd=True, data=b"")
    for n in (0, 5, 8):
        add(arbitration_id=0x7FF, is_extended_id=False, is_remote_frame=True, dlc=n)
    add(arbitration_id=0x12345, is_extended_id=True, is_remote_frame=True, dlc=8)
    add(arbitration_id=0x321, is_extended_id=False, is_remote_frame=True, dlc=9)
    # Error frames as python-can's SocketCAN interface fills them: the class mask as the id.
    add(arbitration_id=0x004, is_extended_id=False, is_error_frame=True, data=bytes([0, 4, 0, 0, 0, 0, 0, 0]))
    add(arbitration_id=0x088, is_extended_id=False, is_error_frame=True, data=bytes([0, 0, 8, 0, 0, 0, 0, 0]))
    add(arbitration_id=0x200, is_extended_id=False, is_error_frame=True, data=bytes([0, 0, 0, 0, 0, 0, 127, 128]))
    add(arbitration_id=0x040, is_extended_id=False, is_error_frame=True, data=b"")
    return out


def messages_small_times():
    """Times python-can's repr writes in exponent notation or with many digits."""
    times = [0.0, 1e-05, 0.000123, 1.5e-07, 0.1, 1.0, 2.5, 12.000001, 1700000000.1234567]
    return [
        can.Message(timestamp=t, arbitration_id=0x10 + i, is_extended_id=False, data=bytes([i]))
        for i, t in enumerate(times)
    ]


def write(out_dir, name, msgs):
    path = os.path.join(out_dir, name + ".csv")
    with can.CSVWriter(path) as w:
        for m in msgs:
            w.on_message_received(m)
    with open(os.path.join(out_dir, name + ".expected"), "w") as f:
        for m in msgs:
            f.write(
                " ".join(
                    [
                        repr(m.timestamp),
                        format(m.arbitration_id, "x"),
                        str(int(m.is_extended_id)),
                        str(int(m.is_remote_frame)),
                        str(int(m.is_error_frame)),
                        str(int(m.is_fd)),
                        str(int(m.bitrate_switch)),
                        str(int(m.error_state_indicator)),
                        str(m.dlc),
                        bytes(m.data).hex() or "-",
                    ]
                )
                + "\n"
            )


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    write(out_dir, "mixed", messages_mixed())
    write(out_dir, "small-times", messages_small_times())


if __name__ == "__main__":
    main()
