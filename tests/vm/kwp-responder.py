#!/usr/bin/env python3
"""A small KWP2000 module on the kernel's ISO-TP (python can-isotp sockets), the peer of
tests/vcan_diag.rs. It answers on TXID the requests received on RXID:

  10 81 / 10 C0      -> 50 xx (session), other sessions -> 7F 10 12
  1A 81              -> 5A 81 "284B2-4EA0A"                    (multi-frame response)
  21 83              -> 61 83 "284B2-4EA0A" in session C0, else 7F 21 80
  21 F0              -> 61 F0 + 200 bytes 00 01 02 ...          (long multi-frame response)
  3B id data...      -> 7B id                                   (multi-frame requests welcome)
  31 90              -> 7F 31 78 three times, 1 s apart, then 71 90
  18 ...             -> 58 01 D0 00 20                           (U1000, status 0x20)
  14 ...             -> 54 + the group bytes
  3E 80              -> nothing; 3E 00 -> 7E 00
  anything else      -> 7F sid 11
Each request is printed on stdout as hex (`REQ 10 C0`); `ready` once the socket is bound.

usage: kwp-responder.py IFACE RXID TXID [--fd] [--pad XX]
"""
import sys
import time

import isotp


def main():
    iface, rxid, txid = sys.argv[1], int(sys.argv[2], 16), int(sys.argv[3], 16)
    fd = "--fd" in sys.argv
    pad = 0xFF
    if "--pad" in sys.argv:
        pad = int(sys.argv[sys.argv.index("--pad") + 1], 16)
    extended = len(sys.argv[2]) == 8
    mode = isotp.AddressingMode.Normal_29bits if extended else isotp.AddressingMode.Normal_11bits
    s = isotp.socket()
    s.set_opts(txpad=pad)
    s.set_fc_opts(bs=0, stmin=0)
    if fd:
        s.set_ll_opts(mtu=isotp.socket.LinkLayerProtocol.CAN_FD, tx_dl=64, tx_flags=1)
    s.bind(iface, isotp.Address(mode, rxid=rxid, txid=txid))
    print("ready", flush=True)
    session = 0x81
    ident = b"284B2-4EA0A"
    while True:
        req = s.recv()
        if not req:
            time.sleep(0.001)
            continue
        print("REQ " + " ".join("%02X" % b for b in req), flush=True)
        sid = req[0]
        resp = None
        if sid == 0x10 and len(req) == 2:
            if req[1] in (0x81, 0xC0):
                session = req[1]
                resp = bytes([0x50, req[1]])
            else:
                resp = bytes([0x7F, 0x10, 0x12])
        elif req == b"\x1a\x81":
            resp = b"\x5a\x81" + ident
        elif req == b"\x21\x83":
            resp = b"\x61\x83" + ident if session == 0xC0 else b"\x7f\x21\x80"
        elif req == b"\x21\xf0":
            resp = b"\x61\xf0" + bytes(i & 0xFF for i in range(200))
        elif sid == 0x3B and len(req) >= 3:
            resp = bytes([0x7B, req[1]])
        elif req == b"\x31\x90":
            for _ in range(3):
                s.send(b"\x7f\x31\x78")
                time.sleep(1.0)
            resp = b"\x71\x90"
        elif sid == 0x18:
            resp = b"\x58\x01\xd0\x00\x20"
        elif sid == 0x14:
            resp = b"\x54" + req[1:]
        elif req == b"\x3e\x80":
            resp = None
        elif req == b"\x3e\x00":
            resp = b"\x7e\x00"
        else:
            resp = bytes([0x7F, sid, 0x11])
        if resp is not None:
            s.send(resp)


if __name__ == "__main__":
    main()
