"""Event store → DuckDB raw, and connector records → DuckDB raw: idempotent, all-or-nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal

import duckdb
import pytest

from connectors.base import ContactRecord, DealRecord, SourceError, SpendRecord
from pipelines import daily, land, warehouse
from pipelines.extract import extract_events, extract_pool_snapshot
from realtime.domain import Call, CallbackTask, Changes, Lead, LeadTouch, Lease, Session
from realtime.pool.sqlite import SQLitePoolStore
from realtime.store.sqlite import SQLiteEventStore
from tests.conftest import ACME, inventory, seed_tenants

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
    assert counts == {
        "sessions": 2,
        "number_leases": 1,
        "calls": 1,
        "lead_touches": 0,
        "callback_tasks": 0,
    }
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


def _lead(lead_id: str, touches: list[LeadTouch], company: str = "acme") -> Lead:
    return Lead(
        id=lead_id,
        company_id=company,
        phone="+79161234567",
        email="a@b.example",
        created_at=touches[0].at,
        last_touch_at=touches[-1].at,
        first_touch_type=touches[0].type,
        session_id=touches[0].session_id,
        touches=touches,
    )


def test_lead_touches_and_callback_tasks_land_on_the_day_they_happened(store, settings):
    day_start = UTC_BOUNDARY
    # a lead created the day before, touched again today: only today's touch lands
    old = _lead(
        "ld_old",
        [
            LeadTouch(type="form", ref="f0", at=day_start - timedelta(hours=2)),
            LeadTouch(type="callback", ref="r1", at=day_start + timedelta(hours=3), page="/p"),
        ],
    )
    new = _lead("ld_new", [LeadTouch(type="call", ref="E9", at=day_start + timedelta(hours=5))])
    other = _lead(
        "ld_glx", [LeadTouch(type="form", ref="g1", at=day_start)], company="globex"
    )
    task = CallbackTask(
        id="cb1",
        company_id="acme",
        phone="+79161234567",
        reason="callback_request",
        lead_id="ld_old",
        ref="r1",
        created_at=day_start + timedelta(hours=3),
        status="done",
        done_at=day_start + timedelta(hours=4),
    )
    late_task = task.model_copy(update={"id": "cb2", "created_at": day_start + timedelta(days=1)})
    store.save_changes(Changes(leads=[old, new, other], callbacks=[task, late_task]))

    with warehouse.connect(settings) as conn:
        counts = extract_events(store, conn, ACME, MSK_DAY)
        assert extract_events(store, conn, ACME, MSK_DAY) == counts
        touches = conn.execute(
            "select lead_id, touch_type, touch_ref, phone, page from raw.lead_touches order by 3"
        ).fetchall()
        tasks = conn.execute(
            "select task_id, reason, status, done_at, _day from raw.callback_tasks"
        ).fetchall()
    assert touches == [
        ("ld_new", "call", "E9", "+79161234567", None),
        ("ld_old", "callback", "r1", "+79161234567", "/p"),
    ]
    assert tasks == [("cb1", "callback_request", "done", datetime(2026, 11, 18, 1, 0), MSK_DAY)]


def test_pool_snapshot_records_leases_shared_leases_and_the_advisors_size(store, settings):
    pool = SQLitePoolStore(":memory:")
    pool.import_numbers(inventory())
    leases = []
    for i in range(6):  # six visitors in one hour, 30 minutes each
        at = UTC_BOUNDARY + timedelta(hours=9, minutes=5 * i)
        grant = pool.acquire(
            "acme", f"s{i}", ["RU-MOW"], at, at + timedelta(minutes=30), share_when_exhausted=True
        )
        leases.append(
            Lease(
                id=f"l{i}",
                company_id="acme",
                number=grant.number,
                session_id=f"s{i}",
                leased_from=at,
                last_seen_at=at,
                leased_until=at + timedelta(minutes=30),
                is_shared=grant.is_shared,
            )
        )
    for lease in leases:
        store.save_lease(lease)
    taken_at = UTC_BOUNDARY + timedelta(days=1, hours=1)
    with warehouse.connect(settings) as conn:
        counts = extract_pool_snapshot(store, pool, conn, ACME, MSK_DAY, 0.01, taken_at)
        assert extract_pool_snapshot(store, pool, conn, ACME, MSK_DAY, 0.01, taken_at) == counts
        snapshot = conn.execute(
            "select region, size, leases, shared_leases, exhaustion_events,"
            " peak_arrivals_per_hour, recommended_size from raw.pool_snapshots"
        ).fetchall()
        numbers = conn.execute(
            "select number, kind, channel from raw.tracking_numbers order by 1"
        ).fetchall()
    shared = sum(lease.is_shared for lease in leases)
    # three Moscow numbers for six overlapping 30-minute visits: the pool ran out
    assert shared > 0
    # 6 arrivals/hour x 0.5 h = 3 Erlangs; Erlang B <= 1 % needs 8 numbers
    assert snapshot == [("RU-MOW", 3, 6, shared, shared, 6.0, 8)]
    assert ("+74955559999", "static", "offline/billboard") in numbers
    assert counts == {"pool_snapshots": 1, "tracking_numbers": len(numbers)}
    pool.close()


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


class PlatformSpend(ListSpend):
    """A connector of one platform, as the API connectors are: it owns that table only."""

    platform = "google_ads"


def spend(
    day: date, amount: str, campaign: str = "c1", platform: str = "yandex_direct"
) -> SpendRecord:
    return SpendRecord(
        date_day=day,
        platform=platform,
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
        got = conn.execute(
            "select date_day, spend from raw.ad_spend_yandex_direct order by 1"
        ).fetchall()
    assert got == [(d0, Decimal("100.00")), (d1, Decimal("75.50"))]


def test_failing_spend_source_leaves_landed_data_untouched(settings):
    d0 = MSK_DAY
    with warehouse.connect(settings) as conn:
        land.land_ad_spend(conn, ListSpend([spend(d0, "100.00")]), d0, d0)
        with pytest.raises(SourceError, match=r"test_spend \[acct-1\]: HTTP 503"):
            land.land_ad_spend(
                conn, ListSpend([spend(d0, "1.00"), spend(d0, "2.00", "c2")], fail_after=1), d0, d0
            )
        got = conn.execute("select spend from raw.ad_spend_yandex_direct").fetchall()
    assert got == [(Decimal("100.00"),)]


def _spend_rows(conn) -> dict[str, list[tuple]]:
    return {
        platform: conn.execute(
            f"select date_day, campaign_id, spend from raw.ad_spend_{platform} order by 1, 2"
        ).fetchall()
        for platform in ("yandex_direct", "google_ads")
    }


def test_spend_lands_in_the_table_of_its_platform(settings):
    d0, d1 = MSK_DAY, MSK_DAY + timedelta(days=1)
    mixed = [spend(d0, "100.00"), spend(d0, "7.00", "g1", "google_ads")]
    with warehouse.connect(settings) as conn:
        assert land.land_ad_spend(conn, ListSpend(mixed), d0, d0) == 2
        first = _spend_rows(conn)
        # without a declared platform the connector owns its window in every table
        land.land_ad_spend(conn, ListSpend([spend(d0, "90.00")]), d0, d0)
        second = _spend_rows(conn)
        # a google_ads connector replaces google_ads only
        land.land_ad_spend(conn, PlatformSpend([spend(d1, "8.00", "g1", "google_ads")]), d0, d1)
        third = _spend_rows(conn)
    assert first == {
        "yandex_direct": [(d0, "c1", Decimal("100.00"))],
        "google_ads": [(d0, "g1", Decimal("7.00"))],
    }
    assert second == {"yandex_direct": [(d0, "c1", Decimal("90.00"))], "google_ads": []}
    assert third == {
        "yandex_direct": [(d0, "c1", Decimal("90.00"))],
        "google_ads": [(d1, "g1", Decimal("8.00"))],
    }


def test_a_record_of_another_platform_than_declared_lands_nothing(settings):
    d0 = MSK_DAY
    with warehouse.connect(settings) as conn:
        land.land_ad_spend(conn, PlatformSpend([spend(d0, "8.00", "g1", "google_ads")]), d0, d0)
        with pytest.raises(ValueError, match="declares platform 'google_ads'"):
            land.land_ad_spend(conn, PlatformSpend([spend(d0, "1.00")]), d0, d0)
        assert _spend_rows(conn)["google_ads"] == [(d0, "g1", Decimal("8.00"))]


class ListDeals:
    source, account = "test_crm", "crm-1"

    def __init__(self, records):
        self.records = records

    def fetch(self, updated_since) -> Iterator[DealRecord]:
        yield from (r for r in self.records if r.updated_at >= updated_since)


class ListContacts(ListDeals):
    def fetch(self, updated_since) -> Iterator[DealRecord]:
        return iter(())

    def fetch_contacts(self, updated_since) -> Iterator[ContactRecord]:
        yield from (r for r in self.records if r.updated_at >= updated_since)


def contact(
    contact_id: str, updated: str, *phones: str, name: str = "Ivan", crm: str = "amocrm"
) -> ContactRecord:
    return ContactRecord(
        crm=crm,
        contact_id=contact_id,
        company_id="acme",
        phones=list(phones),
        name=name,
        responsible_user_id="u1",
        updated_at=datetime.fromisoformat(updated),
    )


CONTACTS_SINCE = datetime.fromisoformat("2026-11-01T00:00:00+00:00")
CONTACTS_SQL = (
    "select contact_id, phone, name, updated_at from raw.crm_contacts_amocrm order by 1, 2"
)


def land_contacts_story(wh) -> tuple[list[int], list[tuple], list[tuple]]:
    """The contact upsert story both engines must tell the same way; returns the
    counts landed, the rows after the first landing, and the rows at the end."""
    t1, t2, t3 = (f"2026-11-1{d}T10:00:00+00:00" for d in (0, 1, 2))
    first = ListContacts(
        [
            contact("1", t1, "+79160000001", "+79160000002", "+79160000001"),
            contact("2", t1, "+79160000003"),
            # in Bitrix24: another table, untouched by amoCRM's contact 1
            contact("1", t1, "+79160000009", crm="bitrix24"),
        ]
    )
    counts = [land.land_crm_contacts(wh, first, CONTACTS_SINCE)]
    after_first = wh.fetchall(CONTACTS_SQL)
    newer = ListContacts([contact("1", t3, "+79160000005", name="Ivan P."), contact("2", t2)])
    older = ListContacts([contact("1", t2, "+79160000006")])
    counts += [
        land.land_crm_contacts(wh, newer, CONTACTS_SINCE),
        land.land_crm_contacts(wh, older, CONTACTS_SINCE),
        land.land_crm_contacts(wh, newer, CONTACTS_SINCE),  # the same versions again
    ]
    (bitrix,) = wh.fetchone("select count(*) from raw.crm_contacts_bitrix24")
    assert bitrix == 1
    return counts, after_first, wh.fetchall(CONTACTS_SQL)


def assert_contacts_story(counts, after_first, final) -> None:
    at = datetime(2026, 11, 10, 10, 0)
    assert after_first == [
        ("1", "+79160000001", "Ivan", at),
        ("1", "+79160000002", "Ivan", at),
        ("2", "+79160000003", "Ivan", at),
    ]
    # contact 1: its newer phones replace both stored ones; the older version is
    # ignored; contact 2 arrived without phones and has none left
    assert counts == [4, 1, 0, 1]
    assert final == [("1", "+79160000005", "Ivan P.", datetime(2026, 11, 12, 10, 0))]


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
            "select deal_id, status, amount from raw.crm_deals_amocrm order by 1"
        ).fetchall()
    assert got == [("1", "won", Decimal("5000.00")), ("2", "open", Decimal("1000.00"))]


def test_raw_timestamps_land_as_naive_utc(settings):
    since = datetime.fromisoformat("2026-11-01T00:00:00+00:00")
    with warehouse.connect(settings) as conn:
        land.land_crm_deals(conn, ListDeals([deal("1", "2026-11-10T13:00:00+03:00")]), since)
        (updated,) = conn.execute("select updated_at from raw.crm_deals_amocrm").fetchone()
    assert updated == datetime(2026, 11, 10, 10, 0)


def test_contacts_upsert_replaces_phones_ignores_older_versions_and_is_idempotent(settings):
    with warehouse.connect(settings) as wh:
        assert_contacts_story(*land_contacts_story(wh))
        # another account of the same CRM has contacts of its own with the same ids
        other = ListContacts([contact("1", "2026-11-01T10:00:00+00:00", "+79160000007")])
        other.account = "crm-2"
        assert land.land_crm_contacts(wh, other, CONTACTS_SINCE) == 1
        (count,) = wh.fetchone("select count(*) from raw.crm_contacts_amocrm")
    assert count == 2


def test_deals_of_two_accounts_with_the_same_id_are_two_deals(settings):
    since = datetime.fromisoformat("2026-11-01T00:00:00+00:00")
    other = ListDeals([deal("1", "2026-11-09T10:00:00+00:00", "lost")])
    other.account = "crm-2"
    with warehouse.connect(settings) as wh:
        land.land_crm_deals(wh, ListDeals([deal("1", "2026-11-10T10:00:00+00:00")]), since)
        land.land_crm_deals(wh, other, since)
        got = wh.fetchall("select _account, status from raw.crm_deals_amocrm order by 1")
    assert got == [("crm-1", "open"), ("crm-2", "lost")]


CONNECTOR_ENV_PREFIXES = (
    "CALLPATH_YANDEX_DIRECT_",
    "CALLPATH_GOOGLE_ADS_",
    "CALLPATH_AMOCRM_",
    "CALLPATH_BITRIX24_",
)


@pytest.fixture
def no_sources(monkeypatch, tmp_path):
    """No connector configured, whatever the outer environment holds."""
    import os

    for key in list(os.environ):
        if key.startswith(CONNECTOR_ENV_PREFIXES):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # and no `.env` for the connectors to read
    return monkeypatch


def test_daily_with_no_source_configured_warns_and_lands_nothing(settings, no_sources, caplog):
    with caplog.at_level("WARNING", logger="pipelines.daily"):
        assert daily.run_land_ad_spend(date(2025, 3, 10), settings) == 0
        assert daily.run_land_crm_deals(date(2025, 3, 10), settings) == 0
    assert sum("no source is configured" in r.message for r in caplog.records) == 2


def test_a_failing_crm_leaves_the_other_landing_and_the_error_names_it(
    settings, no_sources, tmp_path
):
    """amoCRM lands deals and contacts over HTTP; Bitrix24 refuses its webhook token.
    The task's error names bitrix24, amoCRM's rows are landed, and a later failure of
    amoCRM leaves them as they were."""
    from connectors.fakes.amocrm import FakeAmoCrm
    from connectors.fakes.bitrix24 import from_records

    t = datetime.fromisoformat("2025-03-10T09:00:00+00:00")
    amo = FakeAmoCrm()
    amo.add_contact(7, phones=["+7 916 000-00-01"], updated_at=t, responsible_user_id=502)
    amo.add_lead(1, updated_at=t, status="won", price=5000, contacts=[7])
    bitrix = from_records(
        [
            DealRecord(
                crm="bitrix24", deal_id="5", company_id="acme", created_at=t, updated_at=t,
                status="open", amount=Decimal(10), currency="RUB", contact_phone="+79160000002",
            )
        ]
    )  # fmt: skip
    with amo.serve() as amo_url, bitrix.start() as webhook:
        env = {
            "CALLPATH_AMOCRM_BASE_URL": amo_url,
            "CALLPATH_AMOCRM_COMPANY_ID": "acme",
            "CALLPATH_AMOCRM_ACCOUNT": "amo-1",
            "CALLPATH_AMOCRM_LONG_LIVED_TOKEN": amo.long_lived_token,
            "CALLPATH_AMOCRM_TOKEN_PATH": str(tmp_path / "amo.json"),
            "CALLPATH_BITRIX24_WEBHOOK_URL": webhook.replace(bitrix.token, "revoked-token"),
            "CALLPATH_BITRIX24_COMPANY_ID": "acme",
            "CALLPATH_BITRIX24_ACCOUNT": "b24-1",
        }
        for key, value in env.items():
            no_sources.setenv(key, value)

        with pytest.raises(daily.SourcesFailed, match="bitrix24") as excinfo:
            daily.run_land_crm_deals(date(2025, 3, 10), settings)
        assert [source for source, _ in excinfo.value.failures] == ["bitrix24"]
        assert "b24-1" in str(excinfo.value) and "revoked-token" not in str(excinfo.value)
        with warehouse.connect(settings) as wh:
            assert wh.fetchall("select deal_id, status from raw.crm_deals_amocrm") == [("1", "won")]
            assert wh.fetchall(
                "select contact_id, phone, responsible_user_id from raw.crm_contacts_amocrm"
            ) == [("7", "+79160000001", "502")]
            assert wh.fetchall("select count(*) from raw.crm_deals_bitrix24") == [(0,)]

        # Now amoCRM breaks too (403, not retried): both are named, nothing is lost.
        amo.fail(403)
        with pytest.raises(daily.SourcesFailed) as excinfo:
            daily.run_land_crm_deals(date(2025, 3, 10), settings)
        assert [source for source, _ in excinfo.value.failures] == ["amocrm", "bitrix24"]
        with warehouse.connect(settings) as wh:
            assert wh.fetchall("select deal_id from raw.crm_deals_amocrm") == [("1",)]


def test_a_warehouse_file_opens_for_analysts_read_only(settings):
    with warehouse.connect(settings):
        pass
    conn = duckdb.connect(str(settings.warehouse_path), read_only=True)
    assert conn.execute("select count(*) from raw.sessions").fetchone() == (0,)
    conn.close()
