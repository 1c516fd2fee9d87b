#!/usr/bin/env python3
"""Measure `canrelearn decode` against `cantools decode` on the same log and DBC, in one run.

Generates a candump log (default 200k frames) for a DBC of about 40 messages, then times, with
output to /dev/null:
  cantools:   cantools decode --single-line DBC < LOG
  canrelearn: canrelearn decode --dbc DBC LOG            (text, jsonl, csv, and parquet into
              a new folder each run)
Parquet writes files, so it is timed twice: into a folder in memory (/dev/shm, a tmpfs: the
counterpart of /dev/null, what the tool does), and into a folder on the disk of the temporary
directory (what the tool and the file system do: each file is flushed to disk before it is
published). Each run writes a folder of its own and all are removed after the runs: removing
one before the next run would time the file system's reuse of just-deleted inodes (slow on an
ext4 without a journal, as on some VMs), not the tool.
Each command runs several times; the median wall time is reported with frames/s, the ratio, and
the peak RSS. A second, 10x longer log checks that memory stays flat (streaming).

usage: benches/compare_cantools.py [--frames N] [--runs R] [--dbc DBC] [--gen GEN_LOG_PY]
                                   [--cantools-python PY]
Needs: python3 with cantools (pip install cantools), a release build (cargo build --release).
Run cantools from a virtual environment of its own (--cantools-python): with asammdf installed
beside it, python-can imports it and cantools starts about 1 s slower, which would flatter us.
The load average is printed before and after: a busy machine slows both sides unequally.
The log generator defaults to ../shared/bench/gen_log.py when present (the team's common
generator), else a built-in one with the same shape (cycle-time schedule, random payloads, one
unknown frame in 50).
"""
import argparse
import heapq
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def gen_builtin(dbc, n, out, seed=1):
    import cantools

    rnd = random.Random(seed)
    db = cantools.database.load_file(dbc, strict=False)
    msgs = [m for m in db.messages if m.length <= 8]
    heap = []
    for i, m in enumerate(msgs):
        heap.append((rnd.random() * (m.cycle_time or 100) / 1000.0, i))
    heapq.heapify(heap)
    with open(out, "w") as f:
        for k in range(n):
            t, i = heapq.heappop(heap)
            m = msgs[i]
            heapq.heappush(heap, (t + (m.cycle_time or 100) / 1000.0, i))
            if k % 50 == 49:
                ids, data = "7DF", bytes([2, 1, 0, 0, 0, 0, 0, 0])
            else:
                data = bytes(rnd.getrandbits(8) for _ in range(m.length))
                ids = ("%08X" % m.frame_id) if m.is_extended_frame else ("%03X" % m.frame_id)
            f.write("(%.6f) vcan0 %s#%s\n" % (1700000000.0 + t, ids, data.hex().upper()))


def gen(args, n, out):
    if args.gen and os.path.exists(args.gen):
        subprocess.run([sys.executable, args.gen, args.dbc, str(n), out], check=True)
    else:
        gen_builtin(args.dbc, n, out)


def run_timed(cmd, stdin_path=None, runs=5, fresh=None):
    """Median and best wall time of `runs` runs of `cmd`; with `fresh` (a folder), each run
    gets `-o fresh/run-N`, a new folder, and `fresh` is removed after the runs."""
    times = []
    for i in range(runs):
        full = cmd + ["-o", os.path.join(fresh, "run-%d" % i)] if fresh else cmd
        stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
        t0 = time.perf_counter()
        p = subprocess.run(full, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        dt = time.perf_counter() - t0
        if stdin_path:
            stdin.close()
        if p.returncode != 0:
            sys.exit("command failed (%d): %s\n%s" % (p.returncode, " ".join(full), p.stderr.decode()))
        times.append(dt)
    if fresh:
        shutil.rmtree(fresh, ignore_errors=True)
    return statistics.median(times), min(times)


def peak_rss_kib(cmd):
    p = subprocess.run(["/usr/bin/env", "python3", "-c",
                        "import resource,subprocess,sys;"
                        "subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,check=True);"
                        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"] + cmd,
                       capture_output=True, text=True, check=True)
    return int(p.stdout.strip())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--dbc", default=os.path.join(ROOT, "tests/data/dbc/bench_body40.dbc"))
    ap.add_argument("--gen", default=os.path.join(ROOT, "..", "shared", "bench", "gen_log.py"))
    ap.add_argument("--bin", default=os.path.join(ROOT, "target/release/canrelearn"))
    ap.add_argument("--cantools-python", default=sys.executable)
    args = ap.parse_args()
    if not os.path.exists(args.bin):
        subprocess.run(["cargo", "build", "--release", "--locked"], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "bench.log")
        gen(args, args.frames, log)
        n = sum(1 for _ in open(log))
        print("log: %d frames, %.1f MB; DBC: %s" % (n, os.path.getsize(log) / 1e6, args.dbc))
        print("load average: %.2f %.2f %.2f" % os.getloadavg())
        cantools_cmd = [args.cantools_python, "-m", "cantools", "decode", "--single-line", args.dbc]
        t_ct, _ = run_timed(cantools_cmd, stdin_path=log, runs=max(1, args.runs // 2))
        print("cantools decode --single-line: %.3f s  (%.0f frames/s)" % (t_ct, n / t_ct))
        times = {}
        runs = [(fmt, None) for fmt in ["text", "jsonl", "csv"]]
        if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
            runs.append(("parquet", ("memory", tempfile.mkdtemp(dir="/dev/shm"))))
        runs.append(("parquet", ("disk", os.path.join(tmp, "datasets"))))
        for fmt, where in runs:
            cmd = [args.bin, "decode", "--dbc", args.dbc, "--format", fmt, log]
            t, best = run_timed(cmd, runs=args.runs, fresh=where and where[1])
            name = "%s (%s)" % (fmt, where[0]) if where else fmt
            times[name] = t
            print("canrelearn decode --format %-16s: %.4f s median, %.4f s best  (%.2fM frames/s)  "
                  "ratio vs cantools: %.0fx" % (name, t, best, n / t / 1e6, t_ct / t))
        for name in times:
            if name.startswith("parquet"):
                print("%s / jsonl time: %.2f" % (name, times[name] / times["jsonl"]))
        print("load average: %.2f %.2f %.2f" % os.getloadavg())
        # memory stays flat: 10x the frames, same peak RSS (streaming)
        big = os.path.join(tmp, "big.log")
        with open(big, "w") as f:
            for _ in range(10):
                with open(log) as src:
                    f.write(src.read())
        small_rss = peak_rss_kib([args.bin, "decode", "--dbc", args.dbc, log])
        big_rss = peak_rss_kib([args.bin, "decode", "--dbc", args.dbc, big])
        print("peak RSS: %d KiB for %d frames, %d KiB for %d frames" % (small_rss, n, big_rss, 10 * n))


if __name__ == "__main__":
    main()
