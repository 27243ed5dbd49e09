"""Load run of Mango webhooks (`POST /mango/events/{call,summary}`), every request a new event.

    uv run python benchmarks/bench_ingest.py --seconds 10 --connections 32

For each `CALLPATH_SQLITE_SYNCHRONOUS` mode it seeds a company in a fresh SQLite store,
pre-generates distinct signed events (for each call: seq 1..3, then the summary; numbers
as strings), writes one file per wrk thread, starts `uvicorn realtime.app:create_app` in
its own process and runs wrk against `GET /healthz` (the trivial baseline) and then the
webhooks on the same server. wrk's Lua script walks its thread's file, so no event is
sent twice (a wrap-around, were the bodies too few, is reported). After the run the store
file is counted read-only: the events stored must cover every completed request.

`--profile DIR` runs the service under cProfile (around `uvicorn.Server.run`) and prints
where the event-loop thread spent its time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._harness import (
    REPO,
    LoadResult,
    _ms,
    free_port,
    machine_notes,
    need_wrk,
    run_wrk,
    start_service,
    wait_until_healthy,
)
from benchmarks.durability_mango import COMPANY_ID, build_events, seed_company, service_env

GOAL_EVENTS_PER_S = 3_000
GOAL_P99_MS = 25.0

# Each wrk thread reads "<path> <form body>" lines from its own file and sends each once.
INGEST_LUA = """
local prefix = "{prefix}"
local made = 0
local threads = {{}}

function setup(thread)
  thread:set("id", made)
  made = made + 1
  table.insert(threads, thread)
end

function init(args)
  paths, bodies, i, wrapped = {{}}, {{}}, 0, 0
  for line in io.lines(prefix .. id) do
    local sp = line:find(" ", 1, true)
    paths[#paths + 1] = line:sub(1, sp - 1)
    bodies[#bodies + 1] = line:sub(sp + 1)
  end
  headers = {{["Content-Type"] = "application/x-www-form-urlencoded"}}
end

function request()
  i = i + 1
  if i > #bodies then
    i, wrapped = 1, wrapped + 1
  end
  return wrk.format("POST", paths[i], headers, bodies[i])
end

function done(summary, latency, requests)
  local w = 0
  for _, t in ipairs(threads) do
    w = w + t:get("wrapped")
  end
  io.write(string.format("wrapped: %d\\n", w))
end
"""

PROFILED_SERVICE = """
import cProfile, signal, uvicorn
# uvicorn re-raises the SIGTERM it caught once it has shut down: keep it from killing us
# before the profile is written.
signal.signal(signal.SIGTERM, lambda *_: None)
server = uvicorn.Server(uvicorn.Config(
    "realtime.app:create_app", factory=True, host="127.0.0.1", port={port},
    log_level="warning", access_log=False))
profile = cProfile.Profile()
profile.enable()
server.run()
profile.disable()
profile.dump_stats({out!r})
"""


@dataclass
class IngestResult:
    synchronous: str
    trivial: LoadResult
    ingest: LoadResult
    requests: int
    non_2xx: int
    socket_errors: dict
    wrapped: int
    rows_stored: int

    @property
    def ratio(self) -> float:
        return self.ingest.requests_per_s / self.trivial.requests_per_s

    @property
    def goal_met(self) -> bool:
        return (
            self.ingest.requests_per_s >= GOAL_EVENTS_PER_S
            and self.ingest.p99_ms <= GOAL_P99_MS
            and self.non_2xx == 0
        )


def write_bodies(workdir: Path, count: int, threads: int, seed: int) -> str:
    """`count` distinct signed events split over one file per wrk thread; returns the
    file prefix (files are `<prefix>0`, `<prefix>1`, …)."""
    events = build_events(count, seed=seed)
    prefix = str(workdir / "bodies.")
    files = [open(f"{prefix}{t}", "w") for t in range(threads)]  # noqa: SIM115
    try:
        # Consecutive events go to the same thread, so a call's events stay close together.
        per = -(-count // threads)
        for n, event in enumerate(events):
            files[n // per].write(f"{event.path} {event.body.decode()}\n")
    finally:
        for f in files:
            f.close()
    return prefix


def run_ingest_wrk(
    url: str, prefix: str, seconds: int, connections: int, threads: int
) -> tuple[LoadResult, int, int, dict, int]:
    """wrk over the pre-generated bodies; also returns completed requests, non-2xx,
    socket errors and how often a thread ran out of bodies."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(INGEST_LUA.format(prefix=prefix))
    try:
        cmd = [need_wrk(), f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
        out = subprocess.run(
            [*cmd, "-s", script.name, url], capture_output=True, text=True, check=True
        ).stdout
    finally:
        os.unlink(script.name)
    if "Requests/sec" not in out or "99%" not in out:
        raise RuntimeError(f"wrk output not understood:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE).group(1))
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    non_2xx = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    kinds = ("connect", "read", "write", "timeout")
    sockets = dict(zip(kinds, map(int, m.groups()), strict=True)) if m else {}
    wrapped = int(re.search(r"wrapped: (\d+)", out).group(1))
    result = LoadResult("", rps, p50, p99, non_2xx + sum(sockets.values()))
    return result, requests, non_2xx, sockets, wrapped


def start_profiled_service(env: dict[str, str], port: int, out: Path) -> subprocess.Popen:
    code = textwrap.dedent(PROFILED_SERVICE.format(port=port, out=str(out)))
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env={**os.environ, **env})
    return wait_until_healthy(proc, port)


def print_profile(path: Path, top: int = 30) -> None:
    import pstats

    stats = pstats.Stats(str(path))
    stats.sort_stats("cumulative").print_stats(r"realtime|sqlite3|fastapi/routing", top)
    stats.sort_stats("tottime").print_stats(top)


def run_mode(args: argparse.Namespace, synchronous: str) -> IngestResult:
    with tempfile.TemporaryDirectory(prefix="callpath-ingest-") as tmp:
        workdir = Path(tmp)
        db_path = seed_company(workdir, synchronous)
        prefix = write_bodies(workdir, args.bodies, args.threads, seed=args.seed)
        env = service_env(workdir, synchronous)
        port = free_port()
        profile_out = None
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
            profile_out = args.profile / f"ingest-{synchronous}.prof"
            proc = start_profiled_service(env, port, profile_out)
        else:
            proc = start_service(env, port)
        try:
            base = f"http://127.0.0.1:{port}"
            trivial = run_wrk(
                f"{synchronous}: GET /healthz",
                f"{base}/healthz",
                args.seconds,
                args.connections,
                args.threads,
            )
            ingest, requests, non_2xx, sockets, wrapped = run_ingest_wrk(
                f"{base}/mango/events/call", prefix, args.seconds, args.connections, args.threads
            )
            ingest.name = f"{synchronous}: POST /mango/events/*"
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            rows = conn.execute(
                "select count(*) from call_events where company_id = ?", (COMPANY_ID,)
            ).fetchone()[0]
        finally:
            conn.close()
    if profile_out is not None:
        print_profile(profile_out)
    return IngestResult(synchronous, trivial, ingest, requests, non_2xx, sockets, wrapped, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--bodies", type=int, default=200_000, help="distinct events per mode")
    parser.add_argument("--modes", default="full,normal", help="CALLPATH_SQLITE_SYNCHRONOUS")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", type=Path, help="run the service under cProfile; .prof here")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    results = [run_mode(args, mode) for mode in args.modes.split(",")]

    print(f"machine: {machine_notes()}")
    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.seconds}s; "
        f"goal: >= {GOAL_EVENTS_PER_S:,} events/s with p99 <= {GOAL_P99_MS:g} ms"
    )
    print(
        "| SQLite sync | events/s | p50 ms | p99 ms | `/healthz` req/s | `/healthz` p99 ms"
        " | ratio | requests | rows stored | non-2xx | socket errors | goal |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |")
    for r in results:
        errors = ", ".join(f"{k} {v}" for k, v in r.socket_errors.items() if v) or "0"
        print(
            f"| {r.synchronous} | {r.ingest.requests_per_s:,.0f} | {r.ingest.p50_ms:.1f}"
            f" | {r.ingest.p99_ms:.1f} | {r.trivial.requests_per_s:,.0f}"
            f" | {r.trivial.p99_ms:.1f} | {r.ratio:.3f} | {r.requests:,} | {r.rows_stored:,}"
            f" | {r.non_2xx} | {errors} | {'met' if r.goal_met else 'missed'} |"
        )
    for r in results:
        if r.wrapped:
            print(f"warning: {r.synchronous}: bodies ran out {r.wrapped}x; raise --bodies")
        if r.rows_stored < r.requests - r.non_2xx:
            print(
                f"warning: {r.synchronous}: {r.requests - r.non_2xx} requests completed"
                f" but only {r.rows_stored} events stored"
            )
    if args.json:
        args.json.write_text(
            json.dumps(
                [{**asdict(r), "ratio": r.ratio, "goal_met": r.goal_met} for r in results],
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
