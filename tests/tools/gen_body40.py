#!/usr/bin/env python3
"""Writes tests/data/dbc/bench_body40.dbc: a realistic 40-message body-network DBC.

Deterministic (fixed seed). Messages get a cycle time of 10 to 1000 ms, a sender, signals
packed without overlap (Intel and Motorola, 1 to 32 bits, signed, scaled), value tables on
status signals, and a few multiplexed messages. Run from the repository root.
"""

import random

NODES = ["BCM", "DOOR_FL", "DOOR_FR", "DOOR_RL", "DOOR_RR", "CLUSTER", "HVAC", "GW", "SEAT_DRV", "TPMS"]
MESSAGES = [
    ("BCM_STATUS", "BCM", 100), ("BCM_LIGHTS", "BCM", 50), ("BCM_WIPERS", "BCM", 100),
    ("BCM_LOCKS", "BCM", 200), ("BCM_ALARM", "BCM", 500), ("BCM_KEY", "BCM", 100),
    ("DOOR_FL_STATUS", "DOOR_FL", 100), ("DOOR_FR_STATUS", "DOOR_FR", 100),
    ("DOOR_RL_STATUS", "DOOR_RL", 100), ("DOOR_RR_STATUS", "DOOR_RR", 100),
    ("WINDOW_FL", "DOOR_FL", 50), ("WINDOW_FR", "DOOR_FR", 50), ("WINDOW_RL", "DOOR_RL", 50),
    ("WINDOW_RR", "DOOR_RR", 50), ("MIRROR_POS", "DOOR_FL", 200),
    ("CLUSTER_SPEED", "CLUSTER", 20), ("CLUSTER_ODO", "CLUSTER", 1000), ("CLUSTER_WARN", "CLUSTER", 100),
    ("CLUSTER_FUEL", "CLUSTER", 500), ("CLUSTER_TEMP", "CLUSTER", 1000),
    ("HVAC_CMD", "HVAC", 100), ("HVAC_STATUS", "HVAC", 200), ("HVAC_TEMPS", "HVAC", 500),
    ("HVAC_BLOWER", "HVAC", 100), ("GW_VEHICLE_SPEED", "GW", 10), ("GW_ENGINE", "GW", 10),
    ("GW_GEAR", "GW", 20), ("GW_BRAKE", "GW", 10), ("GW_STEERING", "GW", 10),
    ("GW_TIME", "GW", 1000), ("GW_POWER_MODE", "GW", 100), ("SEAT_DRV_POS", "SEAT_DRV", 200),
    ("SEAT_DRV_HEAT", "SEAT_DRV", 500), ("SEAT_DRV_MEMORY", "SEAT_DRV", 1000),
    ("TPMS_PRESSURE", "TPMS", 1000), ("TPMS_STATUS", "TPMS", 1000),
    ("BCM_DIAG_MUX", "BCM", 100), ("HVAC_MUX", "HVAC", 200), ("CLUSTER_MUX", "CLUSTER", 100),
    ("GW_EXT_STATUS", "GW", 50),
]
MUXED = {"BCM_DIAG_MUX", "HVAC_MUX", "CLUSTER_MUX"}
TABLES = {
    "State": [(0, "Off"), (1, "On"), (2, "Error"), (3, "SNA")],
    "Door": [(0, "Closed"), (1, "Ajar"), (2, "Open"), (3, "Unknown")],
    "Lock": [(0, "Unlocked"), (1, "Locked"), (2, "DoubleLocked"), (7, "Invalid")],
}
KINDS = ["flag", "state", "counter", "scaled", "signed", "temp", "wide"]


def layout(rng, bits, prefix, count):
    """Packs signals left to right in Intel order; some become Motorola within a byte run."""
    sigs = []
    pos = 0
    for i in range(count):
        kind = rng.choice(KINDS)
        size = {"flag": 1, "state": 2, "counter": 4, "scaled": rng.choice([8, 10, 12, 16]),
                "signed": rng.choice([8, 12, 16]), "temp": 8, "wide": rng.choice([16, 24, 32])}[kind]
        if pos + size > bits:
            break
        motorola = size % 8 == 0 and pos % 8 == 0 and rng.random() < 0.4
        if motorola:
            # MSB in sawtooth numbering for a signal starting at network bit pos.
            start = 8 * (pos // 8) + 7 - (pos % 8)
            order = "0"
        else:
            start = pos
            order = "1"
        sign = "-" if kind in ("signed", "temp") else "+"
        factor, offset, unit = {
            "flag": ("1", "0", ""), "state": ("1", "0", ""), "counter": ("1", "0", ""),
            "scaled": (rng.choice(["0.1", "0.5", "0.01", "2"]), "0", rng.choice(["km/h", "%", "V", "A"])),
            "signed": ("1", "0", "Nm"), "temp": ("0.5", "-40", "degC"), "wide": ("1", "0", ""),
        }[kind]
        name = f"{prefix}_{kind.capitalize()}{i}"
        sigs.append((name, start, size, order, sign, factor, offset, unit, kind))
        pos += size
        if rng.random() < 0.2:
            pos += rng.choice([1, 2, 3])
    return sigs


def main():
    rng = random.Random(40)
    out = ['VERSION "canrelearn bench: 40-message body network"', "", "",
           "NS_ :", "\tCM_", "\tBA_DEF_", "\tBA_", "\tVAL_", "\tBA_DEF_DEF_", "",
           "BS_:", "", "BU_: " + " ".join(NODES), "", ""]
    vals = []
    attrs = []
    comments = []
    ids = rng.sample(range(0x100, 0x700), len(MESSAGES))
    ids.sort()
    for (name, sender, cycle), mid in zip(MESSAGES, ids):
        prefix = "".join(w[0] for w in name.split("_")) + name.split("_")[-1].capitalize()[:3]
        receivers = ",".join(rng.sample([n for n in NODES if n != sender], 2))
        if name == "GW_EXT_STATUS":
            mid = 0x80000000 | 0x18FF1020
        out.append(f"BO_ {mid} {name}: 8 {sender}")
        if name in MUXED:
            out.append(f' SG_ {prefix}_Page M : 0|4@1+ (1,0) [0|15] "" {receivers}')
            out.append(f' SG_ {prefix}_Seq : 4|4@1+ (1,0) [0|15] "" {receivers}')
            for page in range(4):
                for (sn, start, size, order, sign, f, o, u, kind) in layout(rng, 56, f"{prefix}P{page}", 6):
                    start = start + 8 if order == "1" else start + 8
                    out.append(f' SG_ {sn} m{page} : {start}|{size}@{order}{sign} ({f},{o}) [0|0] "{u}" {receivers}')
                    if kind == "state":
                        vals.append((mid, sn, TABLES[rng.choice(list(TABLES))]))
            vals.append((mid, f"{prefix}_Page", [(0, "Page0"), (1, "Page1"), (2, "Page2"), (3, "Page3")]))
        else:
            for (sn, start, size, order, sign, f, o, u, kind) in layout(rng, 64, prefix, 12):
                out.append(f' SG_ {sn} : {start}|{size}@{order}{sign} ({f},{o}) [0|0] "{u}" {receivers}')
                if kind in ("state", "counter") and rng.random() < 0.7:
                    vals.append((mid, sn, TABLES[rng.choice(list(TABLES))]))
        out.append("")
        attrs.append(f'BA_ "GenMsgCycleTime" BO_ {mid} {cycle};')
        comments.append(f'CM_ BO_ {mid} "{name.replace("_", " ").lower()}, sent by {sender} every {cycle} ms";')
    out.append("")
    out.extend(comments)
    out.append('BA_DEF_ BO_ "GenMsgCycleTime" INT 0 65535;')
    out.append('BA_DEF_DEF_ "GenMsgCycleTime" 0;')
    out.extend(attrs)
    for mid, sn, table in vals:
        out.append(f"VAL_ {mid} {sn} " + " ".join(f'{v} "{t}"' for v, t in table) + " ;")
    with open("tests/data/dbc/bench_body40.dbc", "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
