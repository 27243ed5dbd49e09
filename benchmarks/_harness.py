"""Shared benchmark plumbing: a service in its own process, wrk as the load generator.

Targets are quoted as ratios against a trivial endpoint (`GET /healthz`) of the same
server in the same run, because absolute figures on shared 2-core machines are noisy.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent


@dataclass
class LoadResult:
    name: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int


def need_wrk() -> str:
    wrk = shutil.which("wrk")
    if not wrk:
        sys.exit("wrk is required: apt-get install -y wrk")
    return wrk


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_service(env: dict[str, str], port: int) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "realtime.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    return wait_until_healthy(subprocess.Popen(cmd, cwd=REPO, env={**os.environ, **env}), port)


def wait_until_healthy(proc: subprocess.Popen, port: int, seconds: float = 30) -> subprocess.Popen:
    """The started service, once `/healthz` answers; killed and an error if it never does."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"service on port {port} did not start")


def _ms(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise RuntimeError(f"wrk latency {text!r} not understood")
    value, unit = match.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def run_wrk(
    name: str, url: str, seconds: int, connections: int, threads: int = 2, lua: str | None = None
) -> LoadResult:
    cmd = [need_wrk(), f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    script = None
    if lua:
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(lua)
        cmd += ["-s", script.name]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    if "Requests/sec" not in out or "99%" not in out:
        raise RuntimeError(f"wrk output not understood:\n{out}")
    if script:
        os.unlink(script.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    try:
        p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE).group(1))
    except RuntimeError as exc:
        raise RuntimeError(f"{exc}\n{out}") from None
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE).group(1))
    errors = 0
    for pattern in (r"Non-2xx or 3xx responses: (\d+)", r"Socket errors: .*?timeout (\d+)"):
        m = re.search(pattern, out)
        errors += int(m.group(1)) if m else 0
    return LoadResult(name, rps, p50, p99, errors)


def machine_notes() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {sys.version.split()[0]}"


def report(results: list[LoadResult], out: Path | None) -> None:
    print(f"machine: {machine_notes()}")
    print("| run | req/s | p50 ms | p99 ms | errors |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for r in results:
        print(
            f"| {r.name} | {r.requests_per_s:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.errors} |"
        )
    if out:
        out.write_text(json.dumps([asdict(r) for r in results], indent=2))
