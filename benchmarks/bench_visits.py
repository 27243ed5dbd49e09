"""Load run of `POST /v1/visits` (a new session and a new lease each) on each pool backend.

    uv run python benchmarks/bench_visits.py --seconds 10 --connections 32

For each backend it starts `uvicorn realtime.app:create_app` in its own process,
loads 40,000 numbers, then runs wrk against `GET /healthz` (the trivial baseline) and
`POST /v1/visits` on the same server, and prints throughput, p50/p99 and the ratio.
Needs wrk (`apt-get install -y wrk`) and, for the Redis backend, Redis on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._harness import free_port, report, run_wrk, start_service

NUMBERS = 40_000
# Each request opens a new session: no visitor id, so every visit needs a fresh lease.
VISIT_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"site_key":"bench-site","page_url":"https://b.example/?utm_source=yandex&utm_medium=cpc&utm_campaign=1"}'
"""


def seed(env: dict[str, str]) -> None:
    os.environ.update(env)
    from realtime.domain import Company, Site
    from realtime.pool import open_pool_store
    from realtime.pool.models import InventoryNumber
    from realtime.settings import Settings
    from realtime.store import open_event_store

    settings = Settings()
    store = open_event_store(settings)
    store.create_company(Company(id="bench", name="Bench"))
    # hold_minutes=1 keeps the run inside the inventory; the pool path is the same.
    store.create_site(
        Site(
            id="site_bench",
            company_id="bench",
            site_key="bench-site",
            domain="b.example",
            hold_minutes=1,
        )
    )
    store.close()
    pool = open_pool_store(settings)
    pool.import_numbers(
        [InventoryNumber(number=f"+7495{1000000 + i:07d}", region="RU-MOW") for i in range(NUMBERS)]
    )
    pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--backends", default="sqlite,redis")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--sqlite-synchronous", default="full", choices=["full", "normal"])
    args = parser.parse_args()

    results = []
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            env = {
                "CALLPATH_EVENT_STORE_URL": f"sqlite:///{tmp}/events.sqlite3",
                "CALLPATH_POOL_STORE_URL": f"sqlite:///{tmp}/pool.sqlite3"
                if backend == "sqlite"
                else args.redis_url,
                "CALLPATH_NEW_SESSIONS_PER_IP_PER_MINUTE": "0",
                "CALLPATH_SQLITE_SYNCHRONOUS": args.sqlite_synchronous,
            }
            if backend == "redis":
                import redis

                redis.Redis.from_url(args.redis_url).flushdb()
            seed(env)
            port = free_port()
            proc = start_service(env, port)
            try:
                base = f"http://127.0.0.1:{port}"
                trivial = run_wrk(
                    f"{backend}: GET /healthz", f"{base}/healthz", args.seconds, args.connections
                )
                visits = run_wrk(
                    f"{backend}: POST /v1/visits",
                    f"{base}/v1/visits",
                    args.seconds,
                    args.connections,
                    lua=VISIT_LUA,
                )
            finally:
                proc.terminate()
                proc.wait(timeout=10)
            results += [trivial, visits]
            print(
                f"{backend}: visits/trivial throughput ratio "
                f"{visits.requests_per_s / trivial.requests_per_s:.2f}"
            )
    report(results, args.json)


if __name__ == "__main__":
    main()
