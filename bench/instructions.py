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

With --lines N (which builds the `profiling` profile: the release build
with line tables) it also prints, per endpoint, the N source lines whose
first-level instruction misses grew most over /healthz's: where the
added time goes, when it is spread over many small pieces.

Usage: bench/instructions.sh [--strategies a,b] [--requests N] [--cache]
                             [--lines N]
"""

import argparse
import collections
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
    """Dumps the counters since the last zeroing; returns the dumps'
    paths."""
    before = set(glob.glob(os.path.join(server.dir, "callgrind.out.*")))
    control(pid, "--dump=" + label)
    return sorted(set(glob.glob(os.path.join(server.dir, "callgrind.out.*"))) - before)


EVENTS = ("Ir", "I1mr", "D1mr", "D1mw")


def parse(paths):
    """Self cost by function and by source line (file, line) from callgrind
    dumps, read directly: callgrind_annotate lists a function once per
    source file when there are line tables, which would count some
    twice."""
    functions = collections.defaultdict(lambda: [0] * len(EVENTS))
    lines = collections.defaultdict(lambda: [0] * len(EVENTS))
    for path in paths:
        names, events = {}, []
        fl = file = fn = None
        last, skip = 0, False

        def name(value):
            m = re.match(r"\((\d+)\)(?:\s+(.*))?", value)
            if not m:
                return value
            if m.group(2):
                names[m.group(1)] = m.group(2)
            return names.get(m.group(1), "?")

        with open(path) as f:
            for line in f:
                line = line.rstrip("\n")
                if not line:
                    continue
                if line[0].isdigit() or line[0] in "+-*":
                    parts = line.split()
                    pos = parts[0]
                    last = last if pos == "*" else last + int(pos) if pos[0] in "+-" else int(pos)
                    if skip:  # the inclusive cost of a call: not this line's own
                        skip = False
                        continue
                    counts = dict(zip(events, map(int, parts[1:])))
                    for target in (functions[fn], lines[(file, last)]):
                        for i, event in enumerate(EVENTS):
                            target[i] += counts.get(event, 0)
                elif line.startswith("events:"):
                    events = line.split()[1:]
                elif line.startswith("fl="):
                    fl = file = name(line[3:])
                elif line.startswith(("fi=", "fe=")):
                    file = name(line[3:])
                elif line.startswith("fn="):
                    fn, file = name(line[3:]), fl
                elif line.startswith("calls="):
                    skip = True
                elif line.startswith(("cfl=", "cfi=", "cfn=", "cob=", "ob=")):
                    name(line.split("=", 1)[1])
    return functions, lines


def totals(functions):
    """(instructions, SHA-256's instructions, misses)."""
    total = [sum(c[i] for c in functions.values()) for i in range(len(EVENTS))]
    sha = sum(c[0] for fn, c in functions.items() if "sha2::sha256" in (fn or ""))
    return total[0], sha, {e: total[i] for i, e in enumerate(EVENTS) if e != "Ir"}


def short(path):
    """A source path without the registry's or toolchain's prefix."""
    return re.sub(r".*/(registry/src/[^/]+/|rustc/[^/]+/library/|crates/)", "", path or "?")


def bench_strategy(strategy, count, cache=False, binary=None):
    wrapper = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
               "--callgrind-out-file=callgrind.out.%p"]
    if cache:
        # A Zen-like first level (32 KiB, 8-way, 64-byte lines each) and
        # a 1 MiB last level: valgrind's defaults are the host's, which a
        # VM may misreport.
        wrapper += ["--cache-sim=yes", "--I1=32768,8,64", "--D1=32768,8,64",
                    "--LL=1048576,16,64"]
    if binary:
        run.BINARY = os.path.abspath(binary)
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
            functions, lines = parse(dump(server, pid, path))
            control(pid, "--instr=off")
            total, sha, misses = totals(functions)
            rows[path] = (total / count, sha / count,
                          {k: v / count for k, v in misses.items()}, lines)
    finally:
        server.stop()
    return rows


def top_lines(rows, path, count, requests):
    """The source lines whose instruction misses grew most over /healthz's."""
    floor, lines = rows["/healthz"][3], rows[path][3]
    zero = [0] * len(EVENTS)
    grown = sorted(((lines.get(k, zero)[1] - floor.get(k, zero)[1]) / requests,
                    (lines.get(k, zero)[0] - floor.get(k, zero)[0]) / requests, k)
                   for k in set(lines) | set(floor))
    for misses, instructions, (file, line) in reversed(grown[-count:]):
        print(f"    {misses:6.1f} I1 {instructions:7.0f} instr  {short(file)}:{line}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--strategies", default=",".join(run.STRATEGIES))
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--cache", action="store_true",
                   help="also simulate the caches: first-level misses per request")
    p.add_argument("--lines", type=int, default=0, metavar="N",
                   help="with line tables (the profiling build), the N source lines "
                        "that add the most instruction misses (implies --cache)")
    p.add_argument("--binary", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    args.cache = args.cache or args.lines > 0
    head = (f"{'strategy':<15}{'endpoint':<14}{'instr/req':>11}{'SHA-256':>9}"
            f"{'without':>9}{'auth':>8}{'×healthz':>10}")
    if args.cache:
        head += f"{'I1 miss':>9}{'D1 miss':>9}"
    print(head)
    print("-" * len(head))
    for strategy in args.strategies.split(","):
        print(f"# {strategy} ...", file=sys.stderr, flush=True)
        rows = bench_strategy(strategy, args.requests, args.cache, args.binary)
        floor = rows["/healthz"][0] - rows["/healthz"][1]
        for path, (total, sha, misses, _) in rows.items():
            without = total - sha
            auth = "" if path == "/healthz" else f"{without - floor:.0f}"
            line = (f"{strategy:<15}{path:<14}{total:>11.0f}{sha:>9.0f}{without:>9.0f}"
                    f"{auth:>8}{floor / without:>10.2f}")
            if args.cache:
                line += f"{misses['I1mr']:>9.0f}{misses['D1mr'] + misses['D1mw']:>9.0f}"
            print(line, flush=True)
            if args.lines and path != "/healthz":
                top_lines(rows, path, args.lines, args.requests)


if __name__ == "__main__":
    main()
