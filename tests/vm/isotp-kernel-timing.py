#!/usr/bin/env python3
"""Times one PDU of LEN bytes between two kernel ISO-TP sockets on IFACE (BS 0, STmin 0):
prints `kernel-sockets <ms>` (send call to complete reception).

usage: isotp-kernel-timing.py IFACE LEN
"""
import sys
import time

import isotp


def main():
    iface, n = sys.argv[1], int(sys.argv[2])
    a = isotp.socket()
    b = isotp.socket(timeout=10)
    b.set_fc_opts(bs=0, stmin=0)
    a.bind(iface, isotp.Address(rxid=0x6F8, txid=0x6F0))
    b.bind(iface, isotp.Address(rxid=0x6F0, txid=0x6F8))
    data = bytes(i & 0xFF for i in range(n))
    t0 = time.perf_counter()
    a.send(data)
    got = b.recv()
    dt = (time.perf_counter() - t0) * 1000.0
    if got != data:
        print("mismatch", flush=True)
        sys.exit(1)
    print("kernel-sockets %.3f" % dt, flush=True)


if __name__ == "__main__":
    main()
