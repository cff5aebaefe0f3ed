#!/usr/bin/env python3
"""The load benchmark: the release binary, per strategy, driven by wrk.

For each strategy it starts `latchkey serve` pinned to one core, drives it
from another with wrk, and measures in interleaved rounds:

- GET /healthz        the floor: the same server, no authentication
- GET /auth/verify    forward-auth with a bearer token
- GET /auth/me        a browser's request with the session cookie
- POST /auth/login    login throughput (Argon2-bound)

then a login flood (several times the Argon2 capacity) while /auth/verify is
measured again at a light, fixed concurrency. It reads the server's own CPU
time (/proc/PID/stat) around every measurement and prints requests/s,
p50/p99 latency, server CPU per request (all of it, and the user-space
part), each figure's ratio to the /healthz measured around it, and the CPU
price of authentication (CPU per request minus /healthz's). Raw results go
to a JSON file. Absolute numbers drift on shared machines; the ratios
within one run are what counts.

Usage: bench/run.sh [--strategies a,b] [--rounds N] [--seconds S]
                    [--sessions N] [--smoke] [--json FILE]
"""

import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "latchkey")
STRATEGIES = ["session", "stateful-jwt", "access-refresh", "auto-refresh"]
AGENT = "latchkey-bench/1.0"
PASSWORD = "correct horse battery staple"
TICK = os.sysconf("SC_CLK_TCK")
# The login flood offers this many times the measured Argon2 capacity.
FLOOD_TIMES = 5
# Seconds of /auth/verify alone and under the flood (at least).
FLOOD_SECONDS = 3


def cores():
    """The server's core and the load generator's: different ones."""
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        sys.exit("the benchmark needs two cores: one for latchkey, one for wrk")
    return str(allowed[0]), ",".join(str(c) for c in allowed[1:])


def cpu_seconds(pid):
    """User and system CPU of the whole process (every thread, live or
    gone)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICK, int(fields[12]) / TICK


def memory_kib(pid):
    """Resident set now and at its peak."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


class Server:
    def __init__(self, strategy, server_core, db_url, env_extra=None, wrapper=None):
        self.dir = tempfile.mkdtemp(prefix="latchkey-bench-")
        env = {k: v for k, v in os.environ.items() if not k.startswith("LATCHKEY_")}
        env.update(
            {
                "LATCHKEY_LOG": "warn",
                # The flood must reach the Argon2 bound, not the rate limits.
                "LATCHKEY_RATE_LIMIT_LOGIN_PER_IP": "off",
                "LATCHKEY_RATE_LIMIT_LOGIN_PER_USER_IP": "off",
                "LATCHKEY_RATE_LIMIT_LOGIN_PER_USER": "off",
            }
        )
        env.update(env_extra or {})
        db = db_url or f"sqlite://{self.dir}/bench.db?mode=rwc"
        self.db = db
        # Pinned to its core, or run under `wrapper` (bench/instructions.py).
        prefix = wrapper if wrapper is not None else ["taskset", "-c", server_core]
        self.proc = subprocess.Popen(
            prefix + [BINARY, "serve", "--bind", "127.0.0.1:0", "--database", db,
                      "--strategy", strategy],
            stdout=subprocess.PIPE, stderr=open(os.path.join(self.dir, "log"), "w"),
            env=env, text=True, cwd=self.dir,
        )
        line = self.proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            self.stop()
            sys.exit(f"latchkey did not start: {line!r}; see {self.dir}/log")
        self.base = line.removeprefix("listening on ")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def call(base, path, body=None, headers=None):
    req = urllib.request.Request(base + path, method="POST" if body else "GET")
    req.add_header("User-Agent", AGENT)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    if body is not None:
        req.add_header("Content-Type", "application/json")
        req.data = json.dumps(body).encode()
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, dict(r.headers), json.loads(r.read() or b"null"), r.headers.get_all("Set-Cookie") or []


def sign_in(base):
    call(base, "/auth/register", {"username": "bench", "password": PASSWORD})
    _, _, mobile, _ = call(base, "/auth/login", {"username": "bench", "password": PASSWORD, "client": "mobile"})
    _, _, _, cookies = call(base, "/auth/login", {"username": "bench", "password": PASSWORD})
    cookie = next(c.split(";")[0] for c in cookies if "latchkey_session=" in c)
    return mobile["access_token"], cookie


LUA_POST = """
wrk.method = "POST"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "application/json"
"""

# Paces each connection: a request, then this many milliseconds of rest,
# so a run offers a chosen rate instead of all the server can take.
LUA_PACE = """
function delay()
  return {ms}
end
"""


def wrk(load_cores, url, seconds, connections, headers=(), lua=None, tmpdir=None):
    """Runs wrk and returns requests/s, latency percentiles (µs), counts."""
    cmd = ["taskset", "-c", load_cores, "wrk", "-t", "1", "-c", str(connections),
           "-d", f"{seconds}s", "--latency", "-H", f"User-Agent: {AGENT}"]
    for h in headers:
        cmd += ["-H", h]
    if lua:
        script = os.path.join(tmpdir, f"{uuid.uuid4().hex}.lua")
        with open(script, "w") as f:
            f.write(lua)
        cmd += ["-s", script]
    cmd.append(url)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return parse_wrk(out)


UNITS = {"us": 1, "ms": 1000, "s": 1_000_000}


def parse_wrk(out):
    def latency(pct):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        return float(m.group(1)) * UNITS[m.group(2)] if m else None

    requests = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "requests": requests,
        "non_2xx": int(errors.group(1)) if errors else 0,
        "p50_us": latency(50),
        "p99_us": latency(99),
        "raw": out,
    }


def measure(server, load_cores, url, seconds, connections, **kw):
    user0, sys0 = cpu_seconds(server.proc.pid)
    result = wrk(load_cores, url, seconds, connections, tmpdir=server.dir, **kw)
    user1, sys1 = cpu_seconds(server.proc.pid)
    per_request = 1e6 / max(result["requests"], 1)
    result["cpu_us_per_request"] = (user1 - user0 + sys1 - sys0) * per_request
    # The user-space part: what latchkey's own code costs, without the
    # kernel's share (the network, and waking the load generator).
    result["user_us_per_request"] = (user1 - user0) * per_request
    return result


def add_sessions(server, count):
    """Fills the store with `count` live sessions of other users, written
    straight into SQLite (the fastest way to a million)."""
    path = server.db.removeprefix("sqlite://").split("?")[0]
    now = int(time.time() * 1000)
    con = sqlite3.connect(path)
    with con:
        con.execute(
            "INSERT INTO users (id, username, username_key, password_hash, created_at) "
            "VALUES (?, 'filler', 'filler', 'x', ?)", (str(uuid.uuid4()), now))
        uid = con.execute("SELECT id FROM users WHERE username_key = 'filler'").fetchone()[0]
        rows = ((str(uuid.uuid4()), uid, os.urandom(32), "mobile", now, now, now + 86_400_000,
                 "203.0.113.7", AGENT, "x", 0, "203.0.113.7", AGENT) for _ in range(count))
        con.executemany(
            "INSERT INTO sessions (id, user_id, token_hash, client, created_at, last_seen_at, "
            "expires_at, ip, user_agent, csrf_token, generation, last_ip, last_user_agent) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    con.close()


def bench_strategy(strategy, args, server_core, load_cores):
    server = Server(strategy, server_core, None)
    try:
        token, cookie = sign_in(server.base)
        if args.sessions:
            add_sessions(server, args.sessions)
        targets = {
            "/healthz": dict(url=server.base + "/healthz"),
            "/auth/verify": dict(url=server.base + "/auth/verify",
                                 headers=[f"Authorization: Bearer {token}"]),
            "/auth/me": dict(url=server.base + "/auth/me", headers=[f"Cookie: {cookie}"]),
        }
        runs = {name: [] for name in targets}
        for _ in range(args.rounds):
            for name, target in targets.items():
                runs[name].append(measure(server, load_cores, target["url"], args.seconds,
                                          args.connections, headers=target.get("headers", ())))
        # A closing /healthz, so every round's endpoints sit between two
        # floors (see median_run).
        runs["/healthz"].append(measure(server, load_cores, targets["/healthz"]["url"],
                                        args.seconds, args.connections))
        login_body = json.dumps({"username": "bench", "password": PASSWORD, "client": "mobile"})
        login = measure(server, load_cores, server.base + "/auth/login", args.seconds, 8,
                        lua=LUA_POST.format(body=login_body))
        flood = login_flood(server, load_cores, token, args, login["rps"])
        memory = memory_kib(server.proc.pid)
    finally:
        server.stop()
    rows = {}
    for name, results in runs.items():
        if name == "/healthz":
            rows[name] = median_run(results[:-1], results)
            # The floor is its own reference; its spread shows in "rounds".
            rows[name]["rps_ratio"], rows[name]["auth_cpu_us"] = 1.0, 0.0
            rows[name]["auth_user_us"] = 0.0
        else:
            rows[name] = median_run(results, runs["/healthz"])
    rows["login"] = login
    login["rps_ratio"] = login["rps"] / rows["/healthz"]["rps"]
    login["auth_cpu_us"] = login["cpu_us_per_request"] - rows["/healthz"]["cpu_us_per_request"]
    login["auth_user_us"] = login["user_us_per_request"] - rows["/healthz"]["user_us_per_request"]
    for results in runs.values():
        for r in results:
            r.pop("raw", None)
    return {"strategy": strategy, "endpoints": rows, "flood": flood, "memory_kib": memory}


def median(values):
    ordered = sorted(values)
    n = len(ordered)
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


def median_run(results, floors):
    """Medians over the rounds; the ratio to /healthz and the CPU price of
    authentication are taken within each round, against the mean of the
    /healthz measured just before the round and the one just after it (the
    next round's, or the closing one), so a machine that drifts during a
    round does not tilt it; then the median of those."""
    keys = ("rps", "p50_us", "p99_us", "cpu_us_per_request", "user_us_per_request")
    out = {k: median([r[k] for r in results]) for k in keys}
    out["requests"] = sum(r["requests"] for r in results)
    out["non_2xx"] = sum(r["non_2xx"] for r in results)
    brackets = [{k: (a[k] + b[k]) / 2 for k in ("rps", "cpu_us_per_request", "user_us_per_request")}
                for a, b in zip(floors, floors[1:])]
    out["rps_ratio"] = median([r["rps"] / f["rps"] for r, f in zip(results, brackets)])
    out["auth_cpu_us"] = median([r["cpu_us_per_request"] - f["cpu_us_per_request"]
                                 for r, f in zip(results, brackets)])
    out["auth_user_us"] = median([r["user_us_per_request"] - f["user_us_per_request"]
                                  for r, f in zip(results, brackets)])
    out["rounds"] = [{k: r[k] for k in keys} for r in results]
    return out


def login_flood(server, load_cores, token, args, capacity):
    """/auth/verify at a light, paced load (8 connections, 2 ms apart),
    alone and then while /auth/login is offered FLOOD_TIMES its measured
    Argon2 capacity in wrong passwords."""
    verify_url = server.base + "/auth/verify"
    verify_headers = [f"Authorization: Bearer {token}"]
    paced = LUA_PACE.format(ms=2)
    # Longer than a round: a p99 needs a few thousand requests.
    seconds = max(args.seconds, FLOOD_SECONDS)
    quiet = measure(server, load_cores, verify_url, seconds, 8, headers=verify_headers, lua=paced)
    body = json.dumps({"username": "bench", "password": "not the password", "client": "mobile"})
    connections = 32
    rate = FLOOD_TIMES * max(capacity, 1)
    script = os.path.join(server.dir, "flood.lua")
    with open(script, "w") as f:
        f.write(LUA_POST.format(body=body) + LUA_PACE.format(ms=int(connections * 1000 / rate)))
    flood = subprocess.Popen(
        ["taskset", "-c", load_cores, "wrk", "-t", "1", "-c", str(connections), "-d",
         f"{seconds + 2}s", "--latency", "-H", f"User-Agent: {AGENT}", "-s", script,
         server.base + "/auth/login"],
        stdout=subprocess.PIPE, text=True)
    time.sleep(1)
    loaded = measure(server, load_cores, verify_url, seconds, 8, headers=verify_headers, lua=paced)
    flood_out = parse_wrk(flood.communicate()[0])
    return {
        "verify_quiet": quiet,
        "verify_under_flood": loaded,
        "p99_ratio": loaded["p99_us"] / quiet["p99_us"],
        "offered_logins_per_s": rate,
        "logins": flood_out,
        "memory_kib": memory_kib(server.proc.pid),
    }


def fmt_table(results):
    lines = []
    head = (f"{'strategy':<15}{'endpoint':<14}{'req/s':>10}{'×healthz':>10}{'p50 µs':>9}"
            f"{'p99 µs':>9}{'CPU µs/req':>12}{'auth CPU µs':>13}{'user µs/req':>13}{'auth user µs':>14}")
    lines.append(head)
    lines.append("-" * len(head))
    for r in results:
        for name in ["/healthz", "/auth/verify", "/auth/me", "login"]:
            e = r["endpoints"][name]
            ratio = e.get("rps_ratio", 1.0)
            auth = e.get("auth_cpu_us", 0.0)
            auth_user = e.get("auth_user_us", 0.0)
            floor = name == "/healthz"
            lines.append(
                f"{r['strategy']:<15}{name:<14}{e['rps']:>10.0f}{ratio:>10.2f}"
                f"{e['p50_us'] or 0:>9.0f}{e['p99_us'] or 0:>9.0f}"
                f"{e['cpu_us_per_request']:>12.1f}{'' if floor else f'{auth:.1f}':>13}"
                f"{e['user_us_per_request']:>13.1f}{'' if floor else f'{auth_user:.1f}':>14}")
        f = r["flood"]
        lines.append(
            f"{'':<15}{'flood':<14}verify p99 {f['verify_quiet']['p99_us']:.0f} µs alone, "
            f"{f['verify_under_flood']['p99_us']:.0f} µs under {f['logins']['rps']:.0f} logins/s "
            f"(offered {f['offered_logins_per_s']:.0f}/s) "
            f"({f['logins']['non_2xx']} of {f['logins']['requests']} refused or failed): "
            f"×{f['p99_ratio']:.2f}; RSS {f['memory_kib']['VmRSS'] / 1024:.0f} MiB, "
            f"peak {f['memory_kib']['VmHWM'] / 1024:.0f} MiB")
    return "\n".join(lines)


def verdict(results):
    """The issue's bar: ≥ 0.85 of /healthz, ≤ 5 µs of auth CPU, flood p99 ≤ 2×."""
    failures = []
    for r in results:
        for name in ["/auth/verify", "/auth/me"]:
            e = r["endpoints"][name]
            ratio = e["rps_ratio"]
            auth = e["auth_cpu_us"]
            if ratio < 0.85:
                failures.append(f"{r['strategy']} {name}: {ratio:.2f} of /healthz")
            if auth > 5:
                failures.append(f"{r['strategy']} {name}: {auth:.1f} µs of auth CPU")
        if r["flood"]["p99_ratio"] > 2:
            failures.append(f"{r['strategy']}: verify p99 ×{r['flood']['p99_ratio']:.2f} under flood")
    return failures


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--strategies", default=",".join(STRATEGIES))
    p.add_argument("--rounds", type=int, default=25)
    p.add_argument("--seconds", type=int, default=1)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--sessions", type=int, default=0,
                   help="live sessions of another user to add to the store first")
    p.add_argument("--smoke", action="store_true", help="one short round, no verdict")
    p.add_argument("--json", default=os.path.join(ROOT, "target", "bench", "results.json"))
    args = p.parse_args()
    if args.smoke:
        args.rounds, args.seconds = 1, 1
    server_core, load_cores = cores()
    results = []
    for strategy in args.strategies.split(","):
        print(f"# {strategy} ...", file=sys.stderr, flush=True)
        results.append(bench_strategy(strategy, args, server_core, load_cores))
    print(fmt_table(results))
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                   "machine": dict(zip(("sysname", "nodename", "release", "version", "machine"), os.uname())), "cores": {"server": server_core, "load": load_cores},
                   "args": vars(args), "results": results}, f, indent=1)
    print(f"raw results: {args.json}")
    if not args.smoke:
        failures = verdict(results)
        for f in failures:
            print(f"below target: {f}")
        print("all targets met" if not failures else f"{len(failures)} target(s) missed")


if __name__ == "__main__":
    main()
