"""200 visitors at once must never be shown the same number (unless flagged shared)."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import redis

from realtime.app import create_app
from realtime.domain import Company, Site
from realtime.pool.models import InventoryNumber
from realtime.pool.redis import RedisPoolStore
from realtime.pool.sqlite import SQLitePoolStore
from realtime.store.sqlite import SQLiteEventStore
from tests.servers import serve_in_thread

CLIENTS = 200
NUMBERS = 150  # fewer numbers than clients: the last 50 must be flagged shared


def inventory() -> list[InventoryNumber]:
    return [InventoryNumber(number=f"+7495700{i:04d}", region="RU-MOW") for i in range(NUMBERS)]


@pytest.fixture(params=["sqlite", "redis"])
def pools(request, tmp_path):
    """Two pool-store handles on one state, as two service replicas would hold."""
    if request.param == "sqlite":
        handles = [SQLitePoolStore(tmp_path / "pool.sqlite3") for _ in range(2)]
        yield handles
        for h in handles:
            h.close()
        return
    prefix = f"cpconc:{uuid.uuid4().hex[:8]}:"
    clients = [redis.Redis(host="127.0.0.1", decode_responses=True) for _ in range(2)]
    yield [RedisPoolStore(c, prefix) for c in clients]
    keys = list(clients[0].scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        clients[0].delete(*keys)
    for c in clients:
        c.close()


def test_parallel_visitors_through_two_replicas_get_no_double_leases(pools, settings, tmp_path):
    events = SQLiteEventStore(settings.sqlite_path())
    events.create_company(Company(id="acme", name="Acme"))
    events.create_site(
        Site(id="site_acme", company_id="acme", site_key="acme-site", domain="acme.example")
    )
    pools[0].import_numbers(inventory())
    relaxed = settings.model_copy(update={"new_sessions_per_ip_per_minute": 0})
    apps = [create_app(relaxed, store=events, pool=p) for p in pools]
    barrier = threading.Barrier(CLIENTS)

    with serve_in_thread(apps[0]) as url_a, serve_in_thread(apps[1]) as url_b:

        def one_visitor(i: int) -> dict:
            url = url_a if i % 2 else url_b
            with httpx.Client(base_url=url, timeout=30) as client:
                barrier.wait()
                r = client.post(
                    "/v1/visits",
                    json={"site_key": "acme-site", "page_url": f"https://acme.example/?v={i}"},
                )
                r.raise_for_status()
                return r.json()

        with ThreadPoolExecutor(max_workers=CLIENTS) as executor:
            bodies = list(executor.map(one_visitor, range(CLIENTS)))

    leases = [
        events.get_lease("acme", events.get_session("acme", b["session_id"]).lease_id)
        for b in bodies
    ]
    exclusive = Counter(lease.number for lease in leases if not lease.is_shared)
    assert max(exclusive.values()) == 1, "a number was leased to two live sessions"
    assert len(exclusive) == NUMBERS
    assert sum(lease.is_shared for lease in leases) == CLIENTS - NUMBERS
    events.close()
