#!/usr/bin/env python3
"""The phases of `docker run --rm` (create, start -a, rm), timed side by side for several sets of
Berth binaries, each daemon of its own, in alternating rounds. For telling which binary a
difference in the benchmark's run figures comes from: put one binary of another build into a copy
of a bin dir and compare.

    python3 bench/ab_phases.py NAME=DIR [NAME=DIR ...] [--n 15] [--rounds 2]
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from engines import Berth  # noqa: E402


def one_round(e, n):
    t = {"create": [], "start-a": [], "rm": []}
    for _ in range(n):
        a = time.monotonic()
        cid = subprocess.run(["docker", "create", "--network", "none", "bb", "true"], env=e.env(),
                             capture_output=True, text=True, check=True).stdout.strip()
        b = time.monotonic()
        subprocess.run(["docker", "start", "-a", cid], env=e.env(), capture_output=True, check=True)
        c = time.monotonic()
        subprocess.run(["docker", "rm", cid], env=e.env(), capture_output=True, check=True)
        t["create"].append(b - a)
        t["start-a"].append(c - b)
        t["rm"].append(time.monotonic() - c)
    return {k: round(statistics.median(v) * 1000, 1) for k, v in t.items()}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("sets", nargs="+", help="NAME=DIR: a directory with berthd, berth-shim, berth-runtime")
    p.add_argument("--n", type=int, default=15)
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    engines = {}
    try:
        for s in args.sets:
            name, _, d = s.partition("=")
            e = Berth(d)
            engines[name] = e
            e.start()
            e.import_busybox()
        for r in range(args.rounds):
            for name, e in engines.items():
                print(f"round {r} {name}: median ms {one_round(e, args.n)}", flush=True)
    finally:
        for e in engines.values():
            e.close()


if __name__ == "__main__":
    main()
