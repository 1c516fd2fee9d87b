#!/usr/bin/env python3
"""Echoes every ISO-TP message received on RXID back on TXID, through the kernel's ISO-TP
(python can-isotp sockets): the peer of tests/vcan_isotp.rs for round trips.

usage: isotp-echo-responder.py IFACE RXID TXID [--bs N] [--stmin RAW] [--pad XX] [--fd]
Prints `ready` once bound, then `ECHO <len>` for each message.
"""
import sys
import time

import isotp


def arg(name, default):
    if name in sys.argv:
        return int(sys.argv[sys.argv.index(name) + 1], 0)
    return default


def main():
    iface, rxid, txid = sys.argv[1], int(sys.argv[2], 16), int(sys.argv[3], 16)
    s = isotp.socket()
    pad = arg("--pad", None)
    if pad is not None:
        s.set_opts(txpad=pad)
    s.set_fc_opts(bs=arg("--bs", 0), stmin=arg("--stmin", 0))
    if "--fd" in sys.argv:
        s.set_ll_opts(mtu=isotp.socket.LinkLayerProtocol.CAN_FD, tx_dl=64, tx_flags=1)
    s.bind(iface, isotp.Address(rxid=rxid, txid=txid))
    print("ready", flush=True)
    while True:
        msg = s.recv()
        if not msg:
            time.sleep(0.001)
            continue
        print("ECHO %d" % len(msg), flush=True)
        s.send(msg)


if __name__ == "__main__":
    main()
