"""Shared fixtures: isolated settings, every event-store backend, a signed Mango client."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from realtime.app import create_app
from realtime.clock import ManualClock
from realtime.domain import Company, Site
from realtime.mango.signing import sign
from realtime.pool.models import InventoryNumber
from realtime.pool.sqlite import SQLitePoolStore
from realtime.settings import Settings
from realtime.store.sqlite import SQLiteEventStore

MONGO_URI = os.environ.get("CALLPATH_TEST_MONGODB_URI")
T0 = datetime(2026, 11, 18, 9, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        var_dir=tmp_path,
        event_store_url=f"sqlite:///{tmp_path / 'events.sqlite3'}",
        pool_store_url=f"sqlite:///{tmp_path / 'pool.sqlite3'}",
        # Tests drive the webhook worker themselves (tests/integration/test_webhooks.py).
        webhooks_worker_enabled=False,
        warehouse_path=tmp_path / "warehouse.duckdb",
    )


def _mongomock_store():
    import mongomock

    from realtime.store.mongo import MongoEventStore

    return MongoEventStore(mongomock.MongoClient(tz_aware=True), "callpath_test")


def _real_mongo_store():
    import uuid

    from realtime.store.mongo import MongoEventStore

    store = MongoEventStore.from_url(MONGO_URI, f"callpath_test_{uuid.uuid4().hex[:8]}")
    return store


STORE_BACKENDS = [
    "sqlite",
    "mongomock",
    pytest.param(
        "mongodb",
        marks=pytest.mark.skipif(not MONGO_URI, reason="set CALLPATH_TEST_MONGODB_URI"),
    ),
]


@pytest.fixture(params=STORE_BACKENDS)
def store(request, tmp_path: Path) -> Iterator:
    if request.param == "sqlite":
        s = SQLiteEventStore(tmp_path / "contract.sqlite3")
    elif request.param == "mongomock":
        s = _mongomock_store()
    else:
        s = _real_mongo_store()
        yield s
        s._client.drop_database(s._db.name)
        s.close()
        return
    yield s
    s.close()


ACME = Company(id="acme", name="Acme", mango_api_key="acme-key", mango_api_salt="acme-salt")
GLOBEX = Company(
    id="globex", name="Globex", mango_api_key="globex-key", mango_api_salt="globex-salt"
)
MOW_NUMBERS = [f"+7495555{i:04d}" for i in range(3)]
SPE_NUMBERS = [f"+7812555{i:04d}" for i in range(3)]


def inventory() -> list[InventoryNumber]:
    """Three Moscow and three St Petersburg numbers, plus one static number per tenant."""
    return (
        [InventoryNumber(number=n, region="RU-MOW", city_code="495") for n in MOW_NUMBERS]
        + [InventoryNumber(number=n, region="RU-SPE", city_code="812") for n in SPE_NUMBERS]
        + [
            InventoryNumber(
                number="+74955559999",
                region="RU-MOW",
                kind="static",
                company_id="acme",
                channel="offline/billboard",
            ),
            InventoryNumber(
                number="+78125559999",
                region="RU-SPE",
                kind="static",
                company_id="globex",
                channel="offline/radio",
            ),
        ]
    )


def seed_tenants(store, pool=None) -> None:
    """Two companies with a site each (and the inventory, when a pool is given), so every
    test can check tenant isolation."""
    for company, site_key, region in (
        (ACME, "acme-site", "RU-MOW"),
        (GLOBEX, "globex-site", "RU-SPE"),
    ):
        store.create_company(company)
        store.create_site(
            Site(
                id=f"site_{company.id}",
                company_id=company.id,
                site_key=site_key,
                domain=f"{company.id}.example",
                default_region=region,
                fallback_number="+74950000000" if company is ACME else None,
            )
        )
    if pool is not None:
        pool.import_numbers(inventory())


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def pool_store(tmp_path: Path) -> Iterator[SQLitePoolStore]:
    pool = SQLitePoolStore(tmp_path / "pool.sqlite3")
    yield pool
    pool.close()


@pytest.fixture
def api(settings, clock, pool_store) -> Iterator[tuple[TestClient, SQLiteEventStore]]:
    store = SQLiteEventStore(settings.sqlite_path())
    seed_tenants(store, pool_store)
    app = create_app(settings, store=store, clock=clock, pool=pool_store)
    with TestClient(app) as client:
        yield client, store
    store.close()


def mango_form(payload: dict | str, key: str = "acme-key", salt: str = "acme-salt") -> dict:
    body = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return {"vpbx_api_key": key, "sign": sign(key, body, salt), "json": body}
