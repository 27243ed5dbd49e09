"""Event store → DuckDB raw, and connector records → DuckDB raw: idempotent, all-or-nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal

import duckdb
import pytest

from connectors.base import DealRecord, SourceError, SpendRecord
from pipelines import land, warehouse
from pipelines.extract import extract_events
from realtime.domain import Call, Lease, Session
from realtime.store.sqlite import SQLiteEventStore
from tests.conftest import ACME, seed_tenants

MSK_DAY = date(2026, 11, 18)
UTC_BOUNDARY = datetime.fromisoformat("2026-11-17T21:00:00+00:00")  # midnight in Moscow


@pytest.fixture
def store(settings) -> Iterator[SQLiteEventStore]:
    s = SQLiteEventStore(settings.sqlite_path())
    seed_tenants(s)
    yield s
    s.close()


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


def rows(conn, table):
    return sorted(conn.execute(f"select * exclude (_day) from raw.{table}").fetchall(), key=str)


def test_extract_takes_the_local_day_and_twice_gives_the_same_rows(store, settings):
    store.save_session(_session("before", UTC_BOUNDARY - timedelta(seconds=1)))
    store.save_session(_session("first", UTC_BOUNDARY))
    store.save_session(_session("last", UTC_BOUNDARY + timedelta(hours=23, minutes=59)))
    store.save_session(_session("next-day", UTC_BOUNDARY + timedelta(days=1)))
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
            company_id="acme", entry_id="E1", started_at=UTC_BOUNDARY, attribution_reason="no_lease"
        )
    )
    with warehouse.connect(settings) as conn:
        counts = extract_events(store, conn, ACME, MSK_DAY)
        first = {t: rows(conn, t) for t in ("sessions", "number_leases", "calls")}
        assert extract_events(store, conn, ACME, MSK_DAY) == counts
        second = {t: rows(conn, t) for t in ("sessions", "number_leases", "calls")}
        ids = [
            r[0] for r in conn.execute("select session_id from raw.sessions order by 1").fetchall()
        ]
    assert counts == {"sessions": 2, "number_leases": 1, "calls": 1}
    assert first == second
    assert ids == ["first", "last"]


def test_extract_of_a_day_with_new_events_replaces_only_that_day(store, settings):
    store.save_session(_session("d1", UTC_BOUNDARY))
    store.save_session(_session("d2", UTC_BOUNDARY + timedelta(days=1)))
    with warehouse.connect(settings) as conn:
        extract_events(store, conn, ACME, MSK_DAY)
        extract_events(store, conn, ACME, MSK_DAY + timedelta(days=1))
        store.save_session(_session("d2-late", UTC_BOUNDARY + timedelta(days=1, hours=5)))
        extract_events(store, conn, ACME, MSK_DAY + timedelta(days=1))
        got = conn.execute(
            "select _day, count(*) from raw.sessions group by 1 order by 1"
        ).fetchall()
    assert got == [(MSK_DAY, 1), (MSK_DAY + timedelta(days=1), 2)]


class ListSpend:
    source, account = "test_spend", "acct-1"

    def __init__(self, records, fail_after: int | None = None):
        self.records, self.fail_after = records, fail_after

    def fetch(self, start, end) -> Iterator[SpendRecord]:
        for i, r in enumerate(self.records):
            if self.fail_after is not None and i == self.fail_after:
                raise SourceError(self.source, self.account, "HTTP 503", "Retry later.")
            if start <= r.date_day <= end:
                yield r


def spend(day: date, amount: str, campaign: str = "c1") -> SpendRecord:
    return SpendRecord(
        date_day=day,
        platform="yandex_direct",
        account_id="acct-1",
        campaign_id=campaign,
        campaign_name="C",
        clicks=10,
        impressions=100,
        spend=Decimal(amount),
        currency="RUB",
    )


def test_spend_restated_for_a_day_replaces_that_day_and_keeps_older_days(settings):
    d0, d1 = MSK_DAY, MSK_DAY + timedelta(days=1)
    with warehouse.connect(settings) as conn:
        land.land_ad_spend(conn, ListSpend([spend(d0, "100.00"), spend(d1, "50.00")]), d0, d1)
        land.land_ad_spend(conn, ListSpend([spend(d1, "75.50")]), d1, d1)
        land.land_ad_spend(conn, ListSpend([spend(d1, "75.50")]), d1, d1)
        got = conn.execute("select date_day, spend from raw.ad_spend order by 1").fetchall()
    assert got == [(d0, Decimal("100.00")), (d1, Decimal("75.50"))]


def test_failing_spend_source_leaves_landed_data_untouched(settings):
    d0 = MSK_DAY
    with warehouse.connect(settings) as conn:
        land.land_ad_spend(conn, ListSpend([spend(d0, "100.00")]), d0, d0)
        with pytest.raises(SourceError, match=r"test_spend \[acct-1\]: HTTP 503"):
            land.land_ad_spend(
                conn, ListSpend([spend(d0, "1.00"), spend(d0, "2.00", "c2")], fail_after=1), d0, d0
            )
        got = conn.execute("select spend from raw.ad_spend").fetchall()
    assert got == [(Decimal("100.00"),)]


class ListDeals:
    source, account = "test_crm", "crm-1"

    def __init__(self, records):
        self.records = records

    def fetch(self, updated_since) -> Iterator[DealRecord]:
        yield from (r for r in self.records if r.updated_at >= updated_since)


def deal(deal_id: str, updated: str, status: str = "open", amount: str = "1000") -> DealRecord:
    at = datetime.fromisoformat(updated)
    return DealRecord(
        crm="amocrm",
        deal_id=deal_id,
        company_id="acme",
        created_at=at,
        updated_at=at,
        status=status,
        amount=Decimal(amount),
        currency="RUB",
    )


def test_deals_upsert_by_id_and_an_older_version_never_wins(settings):
    since = datetime.fromisoformat("2026-11-01T00:00:00+00:00")
    with warehouse.connect(settings) as conn:
        land.land_crm_deals(
            conn,
            ListDeals(
                [deal("1", "2026-11-10T10:00:00+00:00"), deal("2", "2026-11-10T10:00:00+00:00")]
            ),
            since,
        )
        land.land_crm_deals(
            conn, ListDeals([deal("1", "2026-11-12T10:00:00+00:00", "won", "5000")]), since
        )
        land.land_crm_deals(
            conn, ListDeals([deal("1", "2026-11-11T10:00:00+00:00", "lost")]), since
        )
        land.land_crm_deals(
            conn, ListDeals([deal("1", "2026-11-12T10:00:00+00:00", "won", "5000")]), since
        )
        got = conn.execute(
            "select deal_id, status, amount from raw.crm_deals order by 1"
        ).fetchall()
    assert got == [("1", "won", Decimal("5000.00")), ("2", "open", Decimal("1000.00"))]


def test_raw_timestamps_land_as_naive_utc(settings):
    since = datetime.fromisoformat("2026-11-01T00:00:00+00:00")
    with warehouse.connect(settings) as conn:
        land.land_crm_deals(conn, ListDeals([deal("1", "2026-11-10T13:00:00+03:00")]), since)
        (updated,) = conn.execute("select updated_at from raw.crm_deals").fetchone()
    assert updated == datetime(2026, 11, 10, 10, 0)


def test_a_warehouse_file_opens_for_analysts_read_only(settings):
    with warehouse.connect(settings):
        pass
    conn = duckdb.connect(str(settings.warehouse_path), read_only=True)
    assert conn.execute("select count(*) from raw.sessions").fetchone() == (0,)
    conn.close()
