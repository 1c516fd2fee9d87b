#!/usr/bin/env python3
"""Writes tests/data/capture/dealer-session.log: a SYNTHETIC candump log shaped like a dealer
tool running "audio unit registration" on a Nissan Qashqai J11 BCM (0x745 -> 0x765).

It is not a recording of a real car or of a real dealer tool: nothing public describes those
bytes. The module's answers are the ones the bundled simulator profile gives
(scripts/simulator/qashqai-j11.toml: identification, part number, routine 0x90 with status
local id 0x91 taking 120 s), so the script `canrelearn script from-capture` makes from this log
can be run against the simulator. The tester side follows the dealer pattern (domain notes):
identification, a read refused in the default session (NRC 0x80), `10 C0`, TesterPresent
`3E 80` every 2 s, the routine start answered after one response-pending (0x78) while a
keep-alive goes out, status polled every 2 s until done, then `10 81`.

Also in the log, as on a real bus: periodic body frames (0x60D every 100 ms, 0x5C5 every
1 s), a functional TesterPresent on 0x7DF, and an exchange with another module (meter,
0x743 -> 0x763) that the capture must ignore. ISO-TP (ISO 15765-2) framing: single frames
padded with FF, first frame + flow control (30 00 00, padded) + consecutive frames.
Deterministic (fixed jitter pattern): run it again and the file is the same.

Usage: python3 tests/tools/make_dealer_capture.py > tests/data/capture/dealer-session.log
"""

import sys

BASE = 1763740000  # 2025-11-21 15:46:40 UTC
TX, RX = 0x745, 0x765
METER_TX, METER_RX = 0x743, 0x763

frames = []  # (time in microseconds from BASE, id, data bytes)


def put(t_us, can_id, data):
    frames.append((t_us, can_id, bytes(data)))


def pad(data):
    return list(data) + [0xFF] * (8 - len(data))


def isotp(t_us, sender, receiver, pdu):
    """Frames of one message sent at t_us; returns the time of its last frame."""
    if len(pdu) <= 7:
        put(t_us, sender, pad([len(pdu)] + list(pdu)))
        return t_us
    n = len(pdu)
    put(t_us, sender, [0x10 | (n >> 8), n & 0xFF] + list(pdu[:6]))
    t = t_us + 900
    put(t, receiver, pad([0x30, 0x00, 0x00]))  # flow control: CTS, BS 0, STmin 0
    rest, sn = pdu[6:], 1
    while rest:
        t += 600
        put(t, sender, pad([0x20 | sn] + list(rest[:7])))
        rest, sn = rest[7:], (sn + 1) & 0xF
    return t


def jitter(k):
    return (k * 7919) % 9000  # 0-9 ms, deterministic


def exchange(t_ms, request, *answers, tester=TX, module=RX):
    """Request at t_ms; answers as (delay after the request's last frame in ms, pdu)."""
    end = isotp(t_ms * 1000, tester, module, request)
    for delay_ms, pdu in answers:
        end_answer = isotp(end + delay_ms * 1000, module, tester, pdu)
    return end


PART = list(b"284B2-4EA0A")

# Background traffic for the whole session (about 132 s).
END_MS = 132_000
for k in range(END_MS // 100):
    put(k * 100_000 + 4_226, 0x60D, [0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00])
for k in range(END_MS // 1000):
    put(k * 1_000_000 + 34_917, 0x5C5, [0x04, 0x01, 0x48, 0xF5, 0x00, 0x00, 0x00, 0x00])
for k in range(3):
    put(500_000 + k * 2_000_000, 0x7DF, pad([0x02, 0x3E, 0x80]))

# Another module first (the tool scans): must not end up in the script.
exchange(1_000, [0x1A, 0x81], (14, [0x5A, 0x81] + list(b"24810-4EA0A")),
         tester=METER_TX, module=METER_RX)

# The BCM session.
exchange(2_000, [0x1A, 0x81], (13, [0x5A, 0x81] + PART))
exchange(2_500, [0x21, 0x83], (11, [0x7F, 0x21, 0x80]))
exchange(3_000, [0x10, 0xC0], (12, [0x50, 0xC0]))
exchange(3_500, [0x21, 0x83], (13, [0x61, 0x83] + PART))
exchange(4_000, [0x21, 0x91], (12, [0x61, 0x91, 0xFF]))
# Routine start: response pending at +15 ms, a keep-alive at 7.000 s, the answer at 7.320 s.
isotp(6_500_000, TX, RX, [0x31, 0x90])
isotp(6_515_000, RX, TX, [0x7F, 0x31, 0x78])
isotp(7_320_000, RX, TX, [0x71, 0x90])
ROUTINE_DONE_MS = 7_320 + 120_000
# Keep-alive every 2 s from 5 s while the extended session is open.
k = 0
while 5_000 + k * 2_000 < 129_000:
    put((5_000 + k * 2_000) * 1000 + jitter(k), TX, pad([0x02, 0x3E, 0x80]))
    k += 1
# Status polled every 2 s until done.
k = 0
while True:
    t_ms = 8_000 + k * 2_000
    status = 0x01 if t_ms >= ROUTINE_DONE_MS else 0x00
    start = t_ms * 1000 + jitter(k + 3)
    isotp(start, TX, RX, [0x21, 0x91])
    isotp(start + 12_000, RX, TX, [0x61, 0x91, status])
    k += 1
    if status == 0x01:
        break
exchange(129_000, [0x10, 0x81], (12, [0x50, 0x81]))

out = sys.stdout
for t_us, can_id, data in sorted(frames, key=lambda f: f[0]):
    secs, us = divmod(t_us, 1_000_000)
    out.write(f"({BASE + secs}.{us:06d}) can0 {can_id:03X}#{data.hex().upper()}\n")
