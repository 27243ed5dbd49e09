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
from realtime.domain import Company, Site, TrackingNumber
from realtime.mango.signing import sign
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
        warehouse_path=tmp_path / "warehouse.duckdb",
        fixtures_dir=tmp_path / "fixtures",
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


def seed_tenants(store) -> None:
    """Two companies with a site and numbers each: every test can check tenant isolation."""
    for company, site_key, prefix in (
        (ACME, "acme-site", "+7495555"),
        (GLOBEX, "globex-site", "+7812555"),
    ):
        store.create_company(company)
        store.create_site(
            Site(
                id=f"site_{company.id}",
                company_id=company.id,
                site_key=site_key,
                domain=f"{company.id}.example",
            )
        )
        store.add_numbers(
            [TrackingNumber(number=f"{prefix}{i:04d}", company_id=company.id) for i in range(3)]
            + [
                TrackingNumber(
                    number=f"{prefix}9999",
                    company_id=company.id,
                    kind="static",
                    channel="offline/billboard",
                )
            ]
        )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def api(settings, clock) -> Iterator[tuple[TestClient, SQLiteEventStore]]:
    store = SQLiteEventStore(settings.sqlite_path())
    seed_tenants(store)
    with TestClient(create_app(settings, store=store, clock=clock)) as client:
        yield client, store
    store.close()


def mango_form(payload: dict | str, key: str = "acme-key", salt: str = "acme-salt") -> dict:
    body = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return {"vpbx_api_key": key, "sign": sign(key, body, salt), "json": body}
