#!/usr/bin/env python3
"""Measure canrelearn's ASC reader against python-can's ASCReader on the same file, in one run.

python-can (the peer Python: CANRELEARN_PEER_PYTHON, or --python) writes a 2M-frame ASC with its
ASCWriter (tests/tools/asc_peer.py bench: 8-byte classic frames on two channels, every 25th a
32-byte CAN FD frame). Then, reading every frame:
  python-can:  sum(1 for _ in can.ASCReader(FILE))
  canrelearn:  target/release/examples/read_capture asc FILE
python-can runs --py-runs times (default 1; it is slow), canrelearn --runs times (default 5);
the median wall time is reported with frames/s, MB/s, the ratio and canrelearn's peak RSS.

usage: benches/compare_asc.py [--frames N] [--runs R] [--py-runs R] [--python PY] [--keep FILE]
Needs: python-can in the peer Python; builds the example in release mode when missing.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEER = os.path.join(ROOT, "tests", "tools", "asc_peer.py")


def timed(cmd, runs):
    times = []
    out = None
    for _ in range(runs):
        t0 = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        if p.returncode != 0:
            sys.exit("command failed (%d): %s\n%s" % (p.returncode, " ".join(cmd), p.stderr))
        out = p.stdout.strip()
    return statistics.median(times), min(times), out


def peak_rss_kib(cmd):
    """Peak RSS of `cmd` by GNU time (a Python wrapper would count its own fork's pages)."""
    if os.path.exists("/usr/bin/time"):
        p = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True, check=True)
        return int(p.stderr.strip().splitlines()[-1])
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
    ap.add_argument("--py-runs", type=int, default=1)
    ap.add_argument("--python", default=os.environ.get("CANRELEARN_PEER_PYTHON", "python3"))
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "examples",
                                                  "read_capture"))
    ap.add_argument("--keep", help="write the ASC here and keep it (reused when it exists)")
    args = ap.parse_args()
    if not os.path.exists(args.bin):
        subprocess.run(["cargo", "build", "--release", "--locked", "--example", "read_capture"],
                       cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory() as tmp:
        asc = args.keep or os.path.join(tmp, "bench.asc")
        if not os.path.exists(asc):
            t0 = time.perf_counter()
            subprocess.run([args.python, PEER, "bench", asc, str(args.frames)], check=True)
            print("python-can ASCWriter wrote %d frames in %.1f s" %
                  (args.frames, time.perf_counter() - t0))
        mb = os.path.getsize(asc) / 1e6
        print("file: %s, %.1f MB" % (asc, mb))
        py_cmd = [args.python, "-c",
                  "import sys, can; print(sum(1 for _ in can.ASCReader(sys.argv[1])))", asc]
        t_py, _, n_py = timed(py_cmd, args.py_runs)
        n = int(n_py)
        print("python-can ASCReader: %d frames, %.2f s  (%.0f frames/s, %.1f MB/s)" %
              (n, t_py, n / t_py, mb / t_py))
        ours_cmd = [args.bin, "asc", asc]
        t, best, out = timed(ours_cmd, args.runs)
        print("canrelearn asc::Reader: %s" % out)
        print("canrelearn asc::Reader: %.3f s median, %.3f s best  (%.2fM frames/s, %.0f MB/s)"
              "  ratio vs python-can: %.0fx" % (t, best, n / t / 1e6, mb / t, t_py / t))
        print("canrelearn peak RSS: %d KiB" % peak_rss_kib(ours_cmd))


if __name__ == "__main__":
    main()
