"""Writes a pcapng capture of SocketCAN frames with Scapy's PcapNgWriter (an independent writer).

    python pcap_peer.py FRAMES.txt OUT.pcapng

FRAMES.txt has one frame per line, fields separated by blanks:

    SECONDS INTERFACE DIRECTION KIND ID EXTENDED LENGTH FLAGS DATA

SECONDS a decimal time (exact in binary, Scapy multiplies it by 1e6), DIRECTION `R`, `T` or
`-`, KIND `C` classic, `R` remote, `F` CAN FD, `E` error frame (ID is then the class mask),
EXTENDED 0 or 1, LENGTH the payload (or requested) length, FLAGS the CAN FD flags byte (0-7)
or, for classic frames, the len8_dlc byte, DATA hex (`-` for none).

Used by tests/peers_pcap.rs and by tests/tools/make_pcap_fixtures.sh.
"""

import sys

from scapy.layers.can import CAN, CANFD
from scapy.utils import PcapNgWriter


def main(frames_path, out_path):
    writer = PcapNgWriter(out_path)
    with open(frames_path) as f:
        for line in f:
            if not line.strip():
                continue
            secs, iface, direction, kind, ident, ext, length, flags, data = line.split()
            ident, length, flags = int(ident, 16), int(length), int(flags)
            payload = b"" if data == "-" else bytes.fromhex(data)
            can_flags = "extended" if ext == "1" else 0
            if kind == "C":
                pkt = CAN(flags=can_flags, identifier=ident, length=length,
                          reserved=flags, data=payload)
            elif kind == "R":
                bits = ["remote_transmission_request"] + (["extended"] if ext == "1" else [])
                pkt = CAN(flags="+".join(bits), identifier=ident, length=length,
                          reserved=flags, data=b"")
            elif kind == "E":
                pkt = CAN(flags="error", identifier=ident, length=length, data=payload)
            elif kind == "F":
                pkt = CANFD(flags=can_flags, identifier=ident, length=length,
                            fd_flags=flags, data=payload)
            else:
                raise SystemExit(f"unknown kind {kind!r}")
            pkt.time = float(secs)
            pkt.sniffed_on = iface
            pkt.direction = {"R": 1, "T": 2}.get(direction)
            writer.write(pkt)
    writer.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
