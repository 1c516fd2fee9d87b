#!/usr/bin/env python3
"""Measure canrelearn's BLF reader against python-can's BLFReader on the same file, in one run.

python-can's BLFWriter writes a BLF capture (default 2M frames: classic frames of 0-8 bytes on
standard and extended ids, 5% CAN FD frames of 12-64 bytes, two channels, Rx and Tx; zlib
containers of 128 KiB, python-can's defaults). Then, each several times, with the median wall
time reported:
  python-can:  sum(1 for _ in can.BLFReader(FILE))           (every message built, nothing else)
  canrelearn:  target/release/examples/read_capture blf FILE  (every record built, counted)
with frames/s, the ratio, and canrelearn's peak RSS (flat: the reader holds one container).

usage: benches/compare_blf.py [--frames N] [--runs R] [--python PY] [--keep FILE]
Needs: a Python with python-can (default: $CANRELEARN_PEER_PYTHON, else python3), and
`cargo build --release --example read_capture` (built when missing).
"""
import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

GENERATE = r"""
import random, sys
import can
from can.io.blf import BLFWriter
path, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(2026)
t = 1700000000.0
with BLFWriter(path) as w:
    for i in range(n):
        t += 0.0001 + rnd.random() * 0.0005
        r = rnd.random()
        if r < 0.05:
            size = rnd.choice([12, 16, 32, 64])
            m = can.Message(timestamp=t, arbitration_id=rnd.randrange(0x800), is_extended_id=False,
                            is_fd=True, bitrate_switch=True, data=rnd.randbytes(size),
                            channel=i % 2, is_rx=r > 0.01)
        else:
            ext = r > 0.8
            m = can.Message(timestamp=t, arbitration_id=rnd.randrange(0x20000000 if ext else 0x800),
                            is_extended_id=ext, data=rnd.randbytes(rnd.randrange(9)),
                            channel=i % 2, is_rx=r > 0.1)
        w.on_message_received(m)
"""

PYTHON_READ = r"""
import sys
from can.io.blf import BLFReader
with BLFReader(sys.argv[1]) as r:
    print(sum(1 for _ in r))
"""


def timed(cmd, runs):
    times, out = [], ""
    for _ in range(runs):
        t0 = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        if p.returncode != 0:
            sys.exit("failed (%d): %s\n%s" % (p.returncode, " ".join(cmd), p.stderr))
        out = p.stdout
    return statistics.median(times), min(times), out


def peak_rss_kib(cmd):
    """The peak RSS of `cmd` alone (measured in a fresh process: RUSAGE_CHILDREN keeps the
    largest child so far, python-can's included)."""
    p = subprocess.run([sys.executable, "-c",
                        "import resource,subprocess,sys;"
                        "subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,check=True);"
                        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"] + cmd,
                       capture_output=True, text=True, check=True)
    return int(p.stdout.strip())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=2_000_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--python", default=os.environ.get("CANRELEARN_PEER_PYTHON", "python3"))
    ap.add_argument("--keep", help="write the capture here and keep it")
    ap.add_argument("--bin", default=os.path.join(ROOT, "target/release/examples/read_capture"))
    args = ap.parse_args()
    if not os.path.exists(args.bin):
        subprocess.run(["cargo", "build", "--release", "--locked", "--example", "read_capture"],
                       cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or os.path.join(tmp, "bench.blf")
        if not os.path.exists(path):
            t0 = time.perf_counter()
            subprocess.run([args.python, "-c", GENERATE, path, str(args.frames)], check=True)
            print("python-can wrote %d frames in %.1f s" % (args.frames, time.perf_counter() - t0))
        size = os.path.getsize(path)
        print("file: %s, %.1f MB" % (path, size / 1e6))
        t_py, best_py, out = timed([args.python, "-c", PYTHON_READ, path], max(1, args.runs // 2))
        n_py = int(out.strip())
        print("python-can BLFReader: %d frames, %.3f s median, %.3f s best (%.0f frames/s)"
              % (n_py, t_py, best_py, n_py / t_py))
        t_us, best_us, out = timed([args.bin, "blf", path], args.runs)
        n_us = int(out.split()[0])
        print("canrelearn blf::Reader: %d frames, %.3f s median, %.3f s best (%.2fM frames/s, %.0f MB/s of file)"
              % (n_us, t_us, best_us, n_us / t_us / 1e6, size / t_us / 1e6))
        print("ratio: %.1fx python-can (median), %.1fx (best)" % (t_py / t_us, best_py / best_us))
        if n_us != n_py:
            print("note: frame counts differ (%d vs %d)" % (n_us, n_py))
        print("canrelearn peak RSS: %d KiB" % peak_rss_kib([args.bin, "blf", path]))


if __name__ == "__main__":
    main()
