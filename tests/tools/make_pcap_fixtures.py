"""Makes the pcap/pcapng fixtures of tests/data/formats/pcap/ with real peers.

    /opt/peers/bin/python tests/tools/make_pcap_fixtures.py

From frames.txt (the frame list, in the line format of tests/tools/pcap_peer.py):
- scapy.pcapng: Scapy's PcapNgWriter (interface names, directions, microseconds, classic
  frames written as short as their payload, CAN FD padded to a valid length);
- text2pcap.pcapng: Wireshark's text2pcap from a hex dump of the frames as Linux captures
  them (16 / 72 bytes, CANFD_FDF set), interface `vcan7`, directions (`-` becomes inbound),
  nanosecond time stamps;
- text2pcap.pcap: the same through text2pcap's classic pcap output (microseconds).
Needs scapy in the Python that runs it and text2pcap (Debian package tshark) on PATH.
"""

import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data", "formats", "pcap")
sys.path.insert(0, HERE)

import pcap_peer  # noqa: E402


def linux_bytes(kind, ident, ext, length, flags, data):
    word = ident
    if ext == "1":
        word |= 0x80000000
    if kind == "R":
        word |= 0x40000000
        data = b""
    if kind == "E":
        word |= 0x20000000
    fd = kind == "F"
    head = word.to_bytes(4, "big") + bytes([length, (flags | 4) if fd else 0, 0, 0 if fd else flags])
    body = head + data
    return body + bytes((72 if fd else 16) - len(body))


def main():
    frames = os.path.join(DATA, "frames.txt")
    pcap_peer.main(frames, os.path.join(DATA, "scapy.pcapng"))
    with tempfile.TemporaryDirectory() as tmp:
        dump = os.path.join(tmp, "dump.txt")
        with open(frames) as f, open(dump, "w") as out:
            for line in f:
                if not line.strip():
                    continue
                secs, _iface, direction, kind, ident, ext, length, flags, data = line.split()
                payload = b"" if data == "-" else bytes.fromhex(data)
                raw = linux_bytes(kind, int(ident, 16), ext, int(length), int(flags), payload)
                out.write(f"{'O' if direction == 'T' else 'I'} {secs}123\n")
                out.write("0000  " + " ".join(f"{b:02x}" for b in raw) + "\n")
        for fmt, name in [("pcapng", "text2pcap.pcapng"), ("pcap", "text2pcap.pcap")]:
            args = ["text2pcap", "-q", "-D", "-F", fmt, "-t", "%s.%f", "-l", "227"]
            if fmt == "pcapng":
                args += ["-N", "vcan7"]
            subprocess.run(args + [dump, os.path.join(DATA, name)], check=True)


if __name__ == "__main__":
    main()
