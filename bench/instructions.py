#!/usr/bin/env python3
"""Instructions per request, counted by valgrind's callgrind.

Wall-clock figures on a shared machine move by a sixth between two-second
windows; instruction counts do not: the same binary, requests and
environment give the same count whatever else the machine is doing. This
is the tool for deciding whether a change to the per-request path is worth
keeping; bench/run.sh is the one for what it buys under load.

Per strategy it starts the release binary under callgrind (not counting),
signs in as bench/run.py does, and for each endpoint starts counting, sends
a warm-up, zeroes the counters, sends N requests over one keep-alive connection,
and dumps them. It prints user-space instructions per request, the price of
authentication (minus /healthz's) and the share of the floor.

valgrind does not emulate the CPU's SHA extensions, so SHA-256 runs in
software under it at several times its real cost; the hashing functions'
own instructions are counted apart and left out of the "without SHA-256"
column, which is the one to compare with the real machine.

With --cache it also simulates the caches and prints first-level
instruction and data misses per request. On the shared build machine the
per-request path is bound by instruction-cache misses rather than by
instructions: about 2 000 of /healthz's 40 000 instructions miss, and an
authenticated request's extra misses, not its extra instructions, are
what its extra time follows.

Usage: bench/instructions.sh [--strategies a,b] [--requests N] [--cache]
"""

import argparse
import glob
import http.client
import os
import re
import subprocess
import sys

import run

ENDPOINTS = ["/healthz", "/auth/verify", "/auth/me"]


def requests(base, path, headers, count):
    host, port = base.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    for _ in range(count):
        conn.request("GET", path, headers={"User-Agent": run.AGENT, **headers})
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            sys.exit(f"{path} answered {response.status}")
    conn.close()


def control(pid, flag):
    subprocess.run(["callgrind_control", flag, str(pid)], check=True, capture_output=True)


def dump(server, pid, label):
    """Dumps the counters since the last zeroing; returns (total, sha,
    misses), misses being the simulated cache's first-level instruction
    and data misses when it runs."""
    before = set(glob.glob(os.path.join(server.dir, "callgrind.out.*")))
    control(pid, "--dump=" + label)
    new = sorted(set(glob.glob(os.path.join(server.dir, "callgrind.out.*"))) - before)
    total, sha, misses = 0, 0, {"I1mr": 0, "D1mr": 0, "D1mw": 0}
    for path in new:
        with open(path) as f:
            text = f.read()
        events = re.search(r"^events:\s+(.*)$", text, re.M).group(1).split()
        m = re.search(r"^(?:summary|totals):\s+([\d ]+)$", text, re.M)
        counts = dict(zip(events, map(int, m.group(1).split()))) if m else {}
        total += counts.get("Ir", 0)
        for k in misses:
            misses[k] += counts.get(k, 0)
        annotated = subprocess.run(["callgrind_annotate", "--threshold=100", path],
                                   capture_output=True, text=True, check=True).stdout
        for line in annotated.splitlines():
            m = re.match(r"^\s*([\d,]+)\s.*sha2::sha256", line)
            if m:
                sha += int(m.group(1).replace(",", ""))
    return total, sha, misses


def bench_strategy(strategy, count, cache=False):
    wrapper = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
               "--callgrind-out-file=callgrind.out.%p"]
    if cache:
        # A Zen-like first level (32 KiB, 8-way, 64-byte lines each) and
        # a 1 MiB last level: valgrind's defaults are the host's, which a
        # VM may misreport.
        wrapper += ["--cache-sim=yes", "--I1=32768,8,64", "--D1=32768,8,64",
                    "--LL=1048576,16,64"]
    server = run.Server(strategy, None, None, wrapper=wrapper)
    try:
        token, cookie = run.sign_in(server.base)
        headers = {
            "/healthz": {},
            "/auth/verify": {"Authorization": f"Bearer {token}"},
            "/auth/me": {"Cookie": cookie},
        }
        pid = server.proc.pid
        rows = {}
        for path in ENDPOINTS:
            control(pid, "--instr=on")
            requests(server.base, path, headers[path], 50)
            control(pid, "--zero")
            requests(server.base, path, headers[path], count)
            total, sha, misses = dump(server, pid, path)
            control(pid, "--instr=off")
            rows[path] = (total / count, sha / count,
                          {k: v / count for k, v in misses.items()})
    finally:
        server.stop()
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--strategies", default=",".join(run.STRATEGIES))
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--cache", action="store_true",
                   help="also simulate the caches: first-level misses per request")
    args = p.parse_args()
    head = (f"{'strategy':<15}{'endpoint':<14}{'instr/req':>11}{'SHA-256':>9}"
            f"{'without':>9}{'auth':>8}{'×healthz':>10}")
    if args.cache:
        head += f"{'I1 miss':>9}{'D1 miss':>9}"
    print(head)
    print("-" * len(head))
    for strategy in args.strategies.split(","):
        print(f"# {strategy} ...", file=sys.stderr, flush=True)
        rows = bench_strategy(strategy, args.requests, args.cache)
        floor = rows["/healthz"][0] - rows["/healthz"][1]
        for path, (total, sha, misses) in rows.items():
            without = total - sha
            auth = "" if path == "/healthz" else f"{without - floor:.0f}"
            line = (f"{strategy:<15}{path:<14}{total:>11.0f}{sha:>9.0f}{without:>9.0f}"
                    f"{auth:>8}{floor / without:>10.2f}")
            if args.cache:
                line += f"{misses['I1mr']:>9.0f}{misses['D1mr'] + misses['D1mw']:>9.0f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
