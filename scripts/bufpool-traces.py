#!/usr/bin/env python3
"""Held-out page traces for the buffer-pool policy, and a side-by-side replay.

The suite in `rustymem-bench bufpool` draws each shape from one fixed seed, so
a policy change that moves one case by 0.001 may only have moved that seed's
luck. This script writes other seeds of the suite's shifting hot set and the
other shapes of ADR 0004 (one page number per line), then replays every file
with `rustymem-bench bufpool --json --trace FILE` (caches of 1/5/10 % of the
distinct pages) and prints rustymem - ARC and rustymem - LRU per case.

  scripts/bufpool-traces.py gen DIR          write the traces (about 1 min)
  scripts/bufpool-traces.py compare DIR      replay them (BENCH= the bench binary)

Judge a change by the whole table, not by the suite's one seed.
"""
import bisect
import glob
import json
import os
import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

L = 1_000_000  # accesses per trace


def shifting(r):
    # the suite's shape: 90 % uniform over a 5 % hot set that moves every 2N accesses
    n, hot = 50_000, 2_500
    perm = list(range(n))
    r.shuffle(perm)
    out = []
    while len(out) < L:
        off = r.randrange(n - hot)
        for _ in range(2 * n):
            out.append(perm[off + r.randrange(hot)] if r.random() < 0.9 else r.randrange(n))
    return out[:L]


def shift_b(r):
    # 20 000 pages, a 600-page hot set (85 %) drawn afresh every 30 000 accesses
    out = []
    while len(out) < L:
        hs = r.sample(range(20_000), 600)
        for _ in range(30_000):
            out.append(r.choice(hs) if r.random() < 0.85 else r.randrange(20_000))
    return out[:L]


def _zipf_cdf(n, s):
    w = [1 / (i + 1) ** s for i in range(n)]
    tot, acc, cdf = sum(w), 0.0, []
    for x in w:
        acc += x / tot
        cdf.append(acc)
    return cdf


def zipf_scan(r):
    # Zipf 0.9 over 40 000 pages plus an 8 000-page scan every 80 000 accesses
    n = 40_000
    cdf = _zipf_cdf(n, 0.9)
    perm = list(range(n))
    r.shuffle(perm)
    out = []
    while len(out) < L:
        out.extend(perm[min(bisect.bisect_left(cdf, r.random()), n - 1)] for _ in range(80_000))
        start = r.randrange(n - 8_000)
        out.extend(range(start, start + 8_000))
    return out[:L]


def drift(r):
    # a 1 000-page window (90 %) sliding one page per 200 accesses over 30 000 pages
    out, base = [], 0
    for i in range(L):
        if i % 200 == 0:
            base = (base + 1) % 30_000
        out.append((base + r.randrange(1_000)) % 30_000 if r.random() < 0.9 else r.randrange(30_000))
    return out


def alt_ab(r):
    # two 1 500-page sets (Zipf 0.7 inside, 85 %) alternating every 120 000 accesses
    a, b = r.sample(range(40_000), 1_500), r.sample(range(40_000), 1_500)
    cdf = _zipf_cdf(1_500, 0.7)
    out, cur = [], a
    while len(out) < L:
        for _ in range(120_000):
            if r.random() < 0.85:
                out.append(cur[min(bisect.bisect_left(cdf, r.random()), 1_499)])
            else:
                out.append(r.randrange(40_000))
        cur = b if cur is a else a
    return out[:L]


TRACES = [("shifting_s1", shifting, 1), ("shifting_s2", shifting, 2), ("shifting_s3", shifting, 3),
          ("shift_b", shift_b, 5), ("zipf_scan", zipf_scan, 6), ("drift", drift, 7), ("alt_ab", alt_ab, 23)]


def gen(d):
    os.makedirs(d, exist_ok=True)
    for name, fn, seed in TRACES:
        with open(os.path.join(d, name + ".txt"), "w") as f:
            f.write("\n".join(map(str, fn(random.Random(seed)))) + "\n")
        print("wrote", os.path.join(d, name + ".txt"))


def compare(d):
    here = os.path.dirname(os.path.abspath(__file__))
    bench = os.environ.get("BENCH", os.path.join(here, "..", "build", "tests", "bench", "rustymem-bench"))
    files = sorted(glob.glob(os.path.join(d, "*.txt")))
    if not files:
        sys.exit("bufpool-traces: no *.txt in %s (run 'gen %s' first)" % (d, d))

    def run(f):
        p = subprocess.run([bench, "bufpool", "--json", "--trace", f], capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit("bufpool-traces: %s failed on %s: %s" % (bench, f, p.stderr.strip()))
        return f, json.loads(p.stdout)["trace_results"]

    worst, total, n = None, 0.0, 0
    print("%-12s %7s %9s %9s %9s" % ("trace", "frames", "rustymem", "-ARC", "-LRU"))
    with ThreadPoolExecutor(2) as ex:
        for f, res in ex.map(run, files):
            name = os.path.basename(f)[:-4]
            for r in res:
                da, dl = r["rustymem"] - r["arc"], r["rustymem"] - r["lru"]
                total, n = total + da, n + 1
                if worst is None or min(da, dl) < worst[0]:
                    worst = (min(da, dl), "%s@%d" % (name, r["frames"]))
                print("%-12s %7d %9.4f %+9.4f %+9.4f" % (name, r["frames"], r["rustymem"], da, dl))
    print("mean rustymem - ARC %+.5f; worst margin %+.4f (%s)" % (total / n, worst[0], worst[1]))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("gen", "compare"):
        sys.exit("usage: bufpool-traces.py gen|compare DIR")
    (gen if sys.argv[1] == "gen" else compare)(sys.argv[2])
