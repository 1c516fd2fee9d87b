"""MF4 peer actions for tests/peers_mf4.rs and tests/tools/make_mf4_fixtures.py.

    python mf4_peer.py write FRAMES.txt OUT.mf4 COMPRESSION   python-can's MF4Writer
    python mf4_peer.py resave IN.mf4 OUT.mf4 COMPRESSION       asammdf MDF(IN).save(OUT)
    python mf4_peer.py read IN.mf4                             python-can's MF4Reader
    python mf4_peer.py raw IN.mf4                              asammdf's channel values

FRAMES.txt has one frame per line (the format of tests/tools/pcap_peer.py):
SECONDS INTERFACE DIRECTION KIND ID EXTENDED LENGTH FLAGS DATA, KIND C classic, R remote,
F CAN FD (FLAGS: 1 BRS, 2 ESI), E error (ID the SocketCAN class, DATA the 8 details).

`read` prints one line per message: TIMESTAMP CHANNEL RX KIND ID EXTENDED DLC BRS ESI DATA, with
KIND C, R, F or E. `raw` prints, for every channel group with bus logging channels, one line
per record: GROUP TIMESTAMP then NAME=VALUE for every channel of the group.
"""

import sys


def write(frames_path, out_path, compression):
    import can
    from can.io.mf4 import MF4Writer

    writer = MF4Writer(out_path, compression_level=int(compression))
    with open(frames_path) as f:
        for line in f:
            if not line.strip():
                continue
            secs, iface, direction, kind, ident, ext, length, flags, data = line.split()
            payload = b"" if data == "-" else bytes.fromhex(data)
            common = dict(
                timestamp=float(secs),
                arbitration_id=int(ident, 16),
                is_extended_id=ext == "1",
                channel=iface,
                is_rx=direction != "T",
            )
            if kind == "C":
                msg = can.Message(data=payload, **common)
            elif kind == "R":
                msg = can.Message(is_remote_frame=True, dlc=int(length), **common)
            elif kind == "F":
                flags = int(flags)
                msg = can.Message(data=payload, is_fd=True, bitrate_switch=bool(flags & 1),
                                  error_state_indicator=bool(flags & 2), **common)
            elif kind == "E":
                msg = can.Message(data=payload, is_error_frame=True, **common)
            else:
                raise SystemExit(f"unknown kind {kind!r}")
            writer.on_message_received(msg)
    writer.stop()


def resave(in_path, out_path, compression):
    from asammdf import MDF

    with MDF(in_path) as mdf:
        mdf.save(out_path, compression=int(compression), overwrite=True)


def read(in_path):
    from can.io.mf4 import MF4Reader

    with MF4Reader(in_path) as reader:
        for m in reader:
            kind = "E" if m.is_error_frame else "R" if m.is_remote_frame else "F" if m.is_fd else "C"
            print(f"{m.timestamp:.6f} {m.channel} {int(m.is_rx)} {kind} {m.arbitration_id:X} "
                  f"{int(m.is_extended_id)} {m.dlc} {int(m.bitrate_switch)} "
                  f"{int(m.error_state_indicator)} {bytes(m.data).hex() or '-'}")


def raw(in_path):
    from asammdf import MDF

    with MDF(in_path) as mdf:
        start = mdf.header.start_time.timestamp()
        for index, group in enumerate(mdf.groups):
            names = [ch.name for ch in group.channels]
            bus = [n for n in names if "." in n]
            if not bus:
                continue
            sigs = {n: mdf.get(n, index, raw=True) for n in bus}
            first = sigs[bus[0]]
            for i in range(len(first.timestamps)):
                values = []
                for n in bus:
                    v = sigs[n].samples[i]
                    if hasattr(v, "tobytes") and getattr(v, "ndim", 0) > 0:
                        v = v.tobytes().hex()
                    elif isinstance(v, bytes):
                        v = v.hex()
                    else:
                        v = int(v)
                    values.append(f"{n}={v}")
                print(f"{group.channel_group.acq_name or index} "
                      f"{start + float(first.timestamps[i]):.6f} " + " ".join(values))


if __name__ == "__main__":
    action, *args = sys.argv[1:]
    {"write": write, "resave": resave, "read": read, "raw": raw}[action](*args)
