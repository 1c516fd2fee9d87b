#!/usr/bin/env python3
"""Write tests/data/j11-sample.log, the bundled capture used by README's quick start and tests.

A synthetic but realistic 20-second `candump -L` capture of the bundled J11 DBC's messages at
their cycle times with a little jitter: ignition goes ON, the driver's door opens and closes,
the engine starts at 10 s, and the AV unit (head unit) falls silent from 8 s to 14 s, which is
what a communication-loss watch must find. A few diagnostic frames (BCM 0x745/0x765) that the
DBC does not describe are mixed in. Values are encoded with cantools from the DBC, so the file
is also an independent check of our decoder. Deterministic (fixed seed).

usage: make_sample_capture.py DBC OUT
"""
import heapq
import random
import sys

import cantools

dbc_path, out_path = sys.argv[1], sys.argv[2]
db = cantools.database.load_file(dbc_path)
rnd = random.Random(1549)
T0 = 1700000000.0
DURATION = 20.0
AV_SILENT = (8.0, 14.0)
AV_IDS = {0x35D, 0x540, 0x541}


def state(t):
    engine = t >= 10.0
    rpm = 0.0 if not engine else (1400.0 if t < 11.0 else 780.0 + 20.0 * rnd.random())
    return {
        "ign": 3 if t >= 0.5 else 1,
        "door": 1 if 3.0 <= t < 5.0 else 0,
        "engine": engine,
        "rpm": rpm,
        "volts": (14.1875 if engine else 12.4375) if t >= 0.5 else 12.5,
    }


def values(msg, t, s, counter):
    v = {sig.name: 0 for sig in msg.signals}
    n = msg.name
    if n == "STEERING_ANGLE":
        v["STEERING_ANGLE"] = round(-12.5 + 0.1 * (counter % 50), 1)
        v["STEERING_RATE"] = counter % 7
    elif n == "ENGINE_SPEED":
        v["ENGINE_RPM"] = round(s["rpm"] * 4) / 4
    elif n == "ENGINE_STATUS":
        v["COOLANT_TEMP"] = 18 + int(max(0.0, t - 10.0))
        v["ENGINE_COUNTER"] = counter % 256
        v["ENGINE_RUNNING"] = 1 if s["engine"] else 0
    elif n == "BODY_STATUS":
        v["IGNITION_STATE"] = s["ign"]
        v["DRIVER_DOOR_OPEN"] = s["door"]
        v["POSITION_LIGHTS_ON"] = 1 if t >= 12.0 else 0
        v["DOORS_LOCKED"] = 0
    elif n == "AV_STATUS":
        v["IGNITION_ON"] = 1 if s["ign"] == 3 else 0
        v["DASH_POWER"] = 3 if s["ign"] == 3 else 0
        v["BLOWER_FAN_ON"] = 1 if t >= 15.0 else 0
    elif n == "BCM_KEY_LOCKS":
        v["KEY_INSERTED"] = 1
    elif n == "METER_ODOMETER":
        v["ODOMETER"] = 84213
        v["PARKING_BRAKE"] = 1
    elif n == "IPDM_STATUS":
        v["BATTERY_VOLTAGE"] = s["volts"]
        v["POSITION_LIGHT_RELAY"] = 1 if t >= 12.0 else 0
        v["READY_TO_START"] = 3 if s["ign"] == 3 else 0
    return v


heap = []
for i, m in enumerate(db.messages):
    period = m.cycle_time / 1000.0
    heapq.heappush(heap, (rnd.random() * period, i, 0))
diag = [  # a tester opening the BCM's extended session, then the keep-alive
    (6.0, 0x745, "02 10 C0 FF FF FF FF FF"),
    (6.012, 0x765, "02 50 C0 FF FF FF FF FF"),
    (8.5, 0x745, "02 3E 80 FF FF FF FF FF"),
    (11.0, 0x745, "02 3E 80 FF FF FF FF FF"),
]
lines = []
while heap:
    t, i, k = heapq.heappop(heap)
    if t >= DURATION:
        continue
    m = db.messages[i]
    period = m.cycle_time / 1000.0
    heapq.heappush(heap, (t + period * (1.0 + rnd.uniform(-0.02, 0.03)), i, k + 1))
    if m.frame_id in AV_IDS and AV_SILENT[0] <= t < AV_SILENT[1]:
        continue
    data = m.encode(values(m, t, state(t), k), strict=True) if m.signals else bytes(
        rnd.getrandbits(8) for _ in range(m.length))
    lines.append((t, "%03X#%s" % (m.frame_id, data.hex().upper())))
for t, fid, hexdata in diag:
    lines.append((t, "%03X#%s" % (fid, hexdata.replace(" ", ""))))
lines.sort()
with open(out_path, "w") as f:
    for t, frame in lines:
        us = int(round((T0 + t) * 1e6))
        f.write("(%d.%06d) can0 %s\n" % (us // 1000000, us % 1000000, frame))
print("wrote %d frames to %s" % (len(lines), out_path))
