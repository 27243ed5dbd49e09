"""The pipelines on a PostgreSQL warehouse: same semantics as on DuckDB, same report.

Each test gets a throwaway database (`cp_test_<hex>`) on the local server, dropped
afterwards, so the fixed `raw` / `analytics` / `published` schemas never collide
between tests or concurrent runs. PostgreSQL is required: when it is down these
tests fail (start it with `make services`); they never skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal

import pandas as pd
import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from connectors.base import SourceError
from pipelines import daily, land, publish, warehouse
from pipelines.extract import extract_events
from realtime.domain import Call, CallbackTask, Changes, Lead, LeadTouch, Lease, Session
from realtime.settings import Settings
from realtime.store.sqlite import SQLiteEventStore
from tests.conftest import ACME, seed_tenants
from tests.integration.test_extract_and_land import (
    ListDeals,
    ListSpend,
    assert_contacts_story,
    deal,
    land_contacts_story,
    spend,
)

SERVER_DSN = os.environ.get(
    "CALLPATH_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
)
MSK_DAY = date(2026, 11, 18)
UTC_BOUNDARY = datetime.fromisoformat("2026-11-17T21:00:00+00:00")  # midnight in Moscow
E2E_COLUMNS = (
    "report_date, channel, utm_source, utm_medium, utm_campaign,"
    " sessions, calls, leads, deals, revenue, cost, cpl, roi"
)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    try:
        with psycopg.connect(SERVER_DSN, connect_timeout=3):
            pass
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {SERVER_DSN} ({exc}).\n"
            "These tests need it: start it with `make services`.",
            pytrace=False,
        )
    return SERVER_DSN


@pytest.fixture
def pg_settings(postgres_server: str, settings: Settings) -> Iterator[Settings]:
    """`settings` pointed at a fresh database of its own."""
    name = f"cp_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f"create database {name}")
    try:
        yield settings.model_copy(
            update={
                "warehouse": "postgres",
                "warehouse_postgres_dsn": make_conninfo(postgres_server, dbname=name),
            }
        )
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as admin:
            admin.execute(f"drop database if exists {name} with (force)")


@pytest.fixture
def store(settings: Settings) -> Iterator[SQLiteEventStore]:
    s = SQLiteEventStore(settings.sqlite_path())
    seed_tenants(s)
    yield s
    s.close()


def _rows(wh: warehouse.Warehouse, table: str) -> list[tuple]:
    columns = [c for c in wh.columns(f"raw.{table}") if c != "_day"]
    return sorted(wh.fetchall(f"select {', '.join(columns)} from raw.{table}"), key=str)


def test_connect_picks_postgres_and_creates_the_raw_schema(pg_settings):
    with warehouse.connect(pg_settings) as wh:
        assert isinstance(wh, warehouse.PostgresWarehouse)
        tables = wh.fetchall(
            "select table_name from information_schema.tables where table_schema = %s order by 1",
            ["raw"],
        )
    assert tables == [
        ("ad_spend_google_ads",),
        ("ad_spend_yandex_direct",),
        ("callback_tasks",),
        ("calls",),
        ("crm_contacts_amocrm",),
        ("crm_contacts_bitrix24",),
        ("crm_deals_amocrm",),
        ("crm_deals_bitrix24",),
        ("lead_touches",),
        ("number_leases",),
        ("pool_snapshots",),
        ("sessions",),
        ("tracking_numbers",),
    ]
    with warehouse.connect(pg_settings):  # a second open finds everything in place
        pass
    assert warehouse.dbt_build_schema(pg_settings) == "analytics"


def test_frames_land_typed_with_pandas_nulls_as_null(pg_settings):
    frame = pd.DataFrame(
        [
            {
                "crm": "amocrm",
                "deal_id": "1",
                "company_id": "acme",
                "created_at": pd.Timestamp("2026-11-10T13:00:00+03:00"),  # aware: to naive UTC
                "updated_at": datetime(2026, 11, 10, 10, 0),
                "closed_at": pd.NaT,
                "status": "won",
                "amount": 1234.5,  # a float into numeric(18,2)
                "currency": "RUB",
                "contact_phone": None,
                "session_id": float("nan"),
                "_account": "crm-1",
                "_loaded_at": datetime(2026, 11, 11),
            }
        ]
    )
    calls = pd.DataFrame(
        {
            "company_id": ["acme", "acme"],
            "entry_id": ["E1", "E2"],
            "direction": ["inbound", "inbound"],
            "started_at": [datetime(2026, 11, 18, 9), datetime(2026, 11, 18, 10)],
            "wait_seconds": [12, None],  # pandas makes this float64 with NaN
            "attribution_reason": ["no_lease", "no_lease"],
            "is_first_call": [True, False],
            "is_target": pd.Series([True, False], dtype="bool"),
            "is_missed": [False, True],
            "_day": [MSK_DAY, MSK_DAY],
        }
    )
    with warehouse.connect(pg_settings) as wh:
        assert wh.insert_frame("crm_deals_amocrm", frame) == 1
        assert wh.insert_frame("calls", calls) == 2
        deals = wh.fetchall(
            "select created_at, closed_at, amount, contact_phone, session_id, utm_source"
            " from raw.crm_deals_amocrm"
        )
        landed_calls = wh.fetchall(
            "select entry_id, wait_seconds, is_target, is_missed, _day, answered_at"
            " from raw.calls order by 1"
        )
    assert deals == [(datetime(2026, 11, 10, 10, 0), None, Decimal("1234.50"), None, None, None)]
    assert landed_calls == [
        ("E1", 12, True, False, MSK_DAY, None),
        ("E2", None, False, True, MSK_DAY, None),
    ]


def _session(sid: str, at: datetime, company: str = "acme") -> Session:
    return Session(
        id=sid,
        company_id=company,
        site_id=f"site_{company}",
        visitor_id="v",
        started_at=at,
        last_seen_at=at,
        landing_url="https://x.example/",
    )


def test_extract_twice_gives_the_same_rows_on_postgres(store, pg_settings):
    store.save_session(_session("before", UTC_BOUNDARY - timedelta(seconds=1)))
    store.save_session(_session("first", UTC_BOUNDARY))
    store.save_session(_session("last", UTC_BOUNDARY + timedelta(hours=23, minutes=59)))
    store.save_session(_session("other-tenant", UTC_BOUNDARY, company="globex"))
    store.save_lease(
        Lease(
            id="ls1",
            company_id="acme",
            number="+74955550000",
            session_id="first",
            leased_from=UTC_BOUNDARY,
            last_seen_at=UTC_BOUNDARY,
            leased_until=UTC_BOUNDARY + timedelta(minutes=20),
        )
    )
    store.save_call(
        Call(
            company_id="acme",
            entry_id="E1",
            started_at=UTC_BOUNDARY,
            attribution_reason="no_lease",
            wait_seconds=7,
        )
    )
    touch = LeadTouch(type="callback", ref="r1", at=UTC_BOUNDARY, session_id="first")
    store.save_changes(
        Changes(
            leads=[
                Lead(
                    id="ld1",
                    company_id="acme",
                    phone="+79161234567",
                    created_at=UTC_BOUNDARY,
                    last_touch_at=UTC_BOUNDARY,
                    first_touch_type="callback",
                    touches=[touch],
                )
            ],
            callbacks=[
                CallbackTask(
                    id="cb1",
                    company_id="acme",
                    phone="+79161234567",
                    reason="callback_request",
                    lead_id="ld1",
                    ref="r1",
                    created_at=UTC_BOUNDARY,
                )
            ],
        )
    )
    tables = ("sessions", "number_leases", "calls", "lead_touches", "callback_tasks")
    with warehouse.connect(pg_settings) as wh:
        counts = extract_events(store, wh, ACME, MSK_DAY)
        first = {t: _rows(wh, t) for t in tables}
        assert extract_events(store, wh, ACME, MSK_DAY) == counts
        second = {t: _rows(wh, t) for t in tables}
        ids = wh.fetchall("select session_id from raw.sessions order by 1")
        days = wh.fetchall("select distinct _day from raw.sessions")
        call = wh.fetchone("select started_at, wait_seconds, is_missed from raw.calls")
        task = wh.fetchone("select task_id, status, done_at, _day from raw.callback_tasks")
    assert counts == {
        "sessions": 2,
        "number_leases": 1,
        "calls": 1,
        "lead_touches": 1,
        "callback_tasks": 1,
    }
    assert task == ("cb1", "pending", None, MSK_DAY)
    assert first == second
    assert ids == [("first",), ("last",)]
    assert days == [(MSK_DAY,)]
    assert call == (datetime(2026, 11, 17, 21, 0), 7, False)  # naive UTC


def test_spend_restatement_and_failing_source_on_postgres(pg_settings):
    d0, d1 = MSK_DAY, MSK_DAY + timedelta(days=1)
    with warehouse.connect(pg_settings) as wh:
        land.land_ad_spend(wh, ListSpend([spend(d0, "100.00"), spend(d1, "50.00")]), d0, d1)
        land.land_ad_spend(wh, ListSpend([spend(d1, "75.50")]), d1, d1)
        land.land_ad_spend(wh, ListSpend([spend(d1, "75.50")]), d1, d1)
        with pytest.raises(SourceError, match="HTTP 503"):
            land.land_ad_spend(
                wh, ListSpend([spend(d0, "1.00"), spend(d0, "2.00", "c2")], fail_after=1), d0, d0
            )
        got = wh.fetchall("select date_day, spend from raw.ad_spend_yandex_direct order by 1")
    assert got == [(d0, Decimal("100.00")), (d1, Decimal("75.50"))]


def test_deals_upsert_keeps_the_latest_version_on_postgres(pg_settings):
    since = datetime.fromisoformat("2026-11-01T00:00:00+00:00")
    with warehouse.connect(pg_settings) as wh:
        land.land_crm_deals(
            wh,
            ListDeals(
                [deal("1", "2026-11-10T10:00:00+00:00"), deal("2", "2026-11-10T13:00:00+03:00")]
            ),
            since,
        )
        newer = ListDeals([deal("1", "2026-11-12T10:00:00+00:00", "won", "5000")])
        assert land.land_crm_deals(wh, newer, since) == 1
        older = ListDeals([deal("1", "2026-11-11T10:00:00+00:00", "lost")])
        assert land.land_crm_deals(wh, older, since) == 0
        assert land.land_crm_deals(wh, newer, since) == 1
        got = wh.fetchall(
            "select deal_id, status, amount, updated_at from raw.crm_deals_amocrm order by 1"
        )
        leftovers = wh.fetchall(
            "select relname from pg_class where relname like %s", ["\\_staged\\_%"]
        )
    assert got == [
        ("1", "won", Decimal("5000.00"), datetime(2026, 11, 12, 10, 0)),
        ("2", "open", Decimal("1000.00"), datetime(2026, 11, 10, 10, 0)),
    ]
    assert leftovers == []


def test_contacts_upsert_replaces_phones_and_ignores_older_versions_on_postgres(pg_settings):
    with warehouse.connect(pg_settings) as wh:
        assert_contacts_story(*land_contacts_story(wh))
        leftovers = wh.fetchall(
            "select relname from pg_class where relname like %s", ["\\_staged\\_%"]
        )
    assert leftovers == []


# --- a whole day, PostgreSQL against DuckDB ------------------------------------------

DAY = date(2025, 3, 10)


def _run_day(settings: Settings) -> dict[str, int]:
    for company_id in daily.list_company_ids(settings):
        daily.run_extract(company_id, DAY, settings)
    daily.run_land_ad_spend(DAY, settings)
    daily.run_land_crm_deals(DAY, settings)
    daily.run_dbt_build(settings)
    return daily.run_publish(DAY, settings)


def _published(settings: Settings) -> list[tuple]:
    with warehouse.connect(settings) as wh:
        rows = wh.fetchall(f"select {E2E_COLUMNS} from published.e2e_daily")
    return sorted(rows, key=lambda row: [(value is None, str(value)) for value in row[:5]])


def _assert_same_report(actual: list[tuple], expected: list[tuple]) -> None:
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        assert got[:9] == want[:9]  # grain and counts: exact
        for g, w in zip(got[9:], want[9:], strict=True):  # money and ratios
            assert (g is None) == (w is None), (got, want)
            if g is not None:
                assert float(g) == pytest.approx(float(w), abs=0.01), (got, want)


def test_a_day_through_pipelines_daily_on_postgres_matches_duckdb(settings, pg_settings):
    from realtime import demo

    demo.seed(settings)
    week = demo.simulate_week(settings, [DAY])

    # Spend and deals come from the fakes of the four sources, through the connectors.
    with demo.serve_demo_sources(settings, week):
        duck_counts = _run_day(settings)
        pg_counts = _run_day(pg_settings)

    assert duck_counts == pg_counts
    assert pg_counts["e2e_daily"] > 0
    on_duckdb, on_postgres = _published(settings), _published(pg_settings)
    assert any(row[5] for row in on_postgres) and any(row[6] for row in on_postgres)
    _assert_same_report(on_postgres, on_duckdb)

    with warehouse.connect(pg_settings) as wh:
        log = wh.fetchall("select run_day, mart, row_count from published.publish_log")
        # a publish with nothing built leaves the published marts and the log as they were
        with pytest.raises(LookupError, match="e2e_daily not built"):
            publish.publish_marts(wh, "no_such_schema", DAY + timedelta(days=1))
        assert wh.fetchall("select run_day, mart, row_count from published.publish_log") == log
        (count,) = wh.fetchone("select count(*) from published.e2e_daily")
    assert (DAY, "e2e_daily", pg_counts["e2e_daily"]) in log
    assert {run_day for run_day, _, _ in log} == {DAY}
    assert count == pg_counts["e2e_daily"]
