"""Shared helpers: random frames for a cantools message, and cantools' decoding as JSON.

Value encoding (shared with tests/dbc_golden.rs and examples/dbc_decode_jsonl.rs):
``{"int": "123"}`` for Python ints, ``{"float": repr(f)}`` for floats (``nan``, ``inf``,
``-inf`` included), so no precision is lost and ints of any size survive JSON.
"""

import random

import cantools
from cantools.database.errors import DecodeError


def value_json(v):
    if isinstance(v, bool):
        return {"int": str(int(v))}
    if isinstance(v, int):
        return {"int": str(v)}
    if isinstance(v, float):
        return {"float": repr(v)}
    # NamedSignalValue or anything else: should not happen with decode_choices=False.
    return {"other": str(v)}


def _network_start(signal):
    if signal.byte_order == "big_endian":
        return 8 * (signal.start // 8) + (7 - signal.start % 8)
    return signal.start


def set_raw_bits(data, signal, raw):
    """Writes an unsigned raw integer into the signal's bits (LE/BE) of bytearray data."""
    raw &= (1 << signal.length) - 1
    if signal.byte_order == "little_endian":
        for i in range(signal.length):
            bit = signal.start + i
            if bit // 8 >= len(data):
                return
            if (raw >> i) & 1:
                data[bit // 8] |= 1 << (bit % 8)
            else:
                data[bit // 8] &= ~(1 << (bit % 8)) & 0xFF
    else:
        msb = _network_start(signal)
        for i in range(signal.length):
            bit = msb + i  # network order: bit 0 = MSB of byte 0
            if bit // 8 >= len(data):
                return
            val = (raw >> (signal.length - 1 - i)) & 1
            mask = 1 << (7 - bit % 8)
            if val:
                data[bit // 8] |= mask
            else:
                data[bit // 8] &= ~mask & 0xFF


def mux_values(tree, out=None):
    """{multiplexer name: [ids]} from a cantools signal tree."""
    if out is None:
        out = {}
    for node in tree:
        if isinstance(node, dict):
            for name, children in node.items():
                out.setdefault(name, set()).update(children.keys())
                for sub in children.values():
                    mux_values(sub, out)
    return {k: sorted(v) for k, v in out.items()}


def random_frames(msg, rng, count):
    """Random payloads of the message's length, multiplexors mostly set to valid values,
    plus all-zero/all-one payloads, a short frame and a long frame when possible."""
    length = msg.length
    frames = []
    muxes = mux_values(msg.signal_tree)
    for _ in range(count):
        data = bytearray(rng.getrandbits(8) for _ in range(length))
        for name, ids in muxes.items():
            if ids and rng.random() < 0.85:
                set_raw_bits(data, msg.get_signal_by_name(name), rng.choice(ids))
        frames.append(bytes(data))
    frames.append(bytes(length))
    frames.append(b"\xff" * length)
    if length > 0:
        frames.append(bytes(rng.getrandbits(8) for _ in range(rng.randrange(length))))
    if length < 8:
        frames.append(bytes(rng.getrandbits(8) for _ in range(length + rng.randrange(1, 9 - length))))
    return frames


def cantools_decode(msg, data):
    """(kind, signals): kind is "ok", "short", "mux" or "other:<text>"."""
    try:
        phys = msg.decode(data, decode_choices=False, scaling=True)
    except DecodeError as e:
        text = str(e)
        if "Wrong data size" in text:
            return "short", None
        if "expected multiplexer id" in text:
            return "mux", None
        return "other:" + text, None
    except Exception as e:  # noqa: BLE001 - cantools bugs are data here
        return "other:" + type(e).__name__ + ": " + str(e), None
    try:
        raw = msg.decode(data, decode_choices=False, scaling=False)
    except Exception:  # noqa: BLE001
        raw = {}
    try:
        labelled = msg.decode(data, decode_choices=True, scaling=True)
    except Exception:  # noqa: BLE001
        labelled = {}
    signals = {}
    for name, value in phys.items():
        lab = labelled.get(name)
        label = lab.name if hasattr(lab, "name") and not isinstance(lab, (int, float)) else None
        signals[name] = {
            "raw": value_json(raw[name]) if name in raw else None,
            "phys": value_json(value),
            "label": label,
        }
    return "ok", signals


def load(path, strict=True):
    return cantools.database.load_file(str(path), database_format="dbc", strict=strict)
