"""The Bitrix24 connector against the fake portal on loopback, landed into DuckDB:
keyset pages in ID order, the leaky bucket, retried faults, failures that name the
source, portal and what to do, and never a half-landed run.

Retries back off from 10 ms; the client timeout is 0.3 s, so timeouts are real but short.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from connectors.base import SourceError
from connectors.bitrix24 import Bitrix24Config, Bitrix24Connector
from connectors.fakes.bitrix24 import FakeBitrix24, Fault, contact_row, deal_row, from_records
from pipelines import land, warehouse

TOKEN = "s3cr3t-hook-token"
ACCOUNT = "acme.bitrix24.ru"
T0 = datetime.fromisoformat("2025-01-01T10:00:00+03:00")
SINCE = T0 - timedelta(days=1)
DEALS_SQL = (
    "select deal_id, status, amount, currency, contact_id, contact_phone, responsible_user_id,"
    " utm_source, utm_medium, utm_campaign, created_at, updated_at, closed_at"
    " from raw.crm_deals_bitrix24 order by deal_id::int"
)


def config(url: str, **overrides) -> Bitrix24Config:
    settings = {
        "webhook_url": url,
        "company_id": "acme",
        "account": ACCOUNT,
        "timeout_seconds": 0.3,
        "attempts": 4,
        "base_delay_seconds": 0.01,
        "max_delay_seconds": 0.05,
        **overrides,
    }
    return Bitrix24Config(_env_file=None, **settings)


def many_deals(n: int) -> list[dict]:
    return [
        deal_row(i, modified=T0 + timedelta(minutes=i), amount=f"{i}00.50", contact_id=7)
        for i in range(1, n + 1)
    ]


@pytest.fixture
def fake() -> FakeBitrix24:
    return FakeBitrix24(
        token=TOKEN, contacts=[contact_row(7, modified=T0, phones=["+74951234567"])]
    )


@pytest.fixture
def url(fake) -> Iterator[str]:
    with fake.start() as webhook_url:
        yield webhook_url


@pytest.fixture
def connector(url) -> Iterator[Bitrix24Connector]:
    with Bitrix24Connector(config(url)) as c:
        yield c


@pytest.fixture
def wh(settings):
    with warehouse.connect(settings) as w:
        yield w


def landed(wh) -> list[tuple]:
    return wh.fetchall(DEALS_SQL)


# -- pages and mapping ------------------------------------------------------------------------


def test_120_deals_arrive_in_id_order_over_three_keyset_pages(fake, connector, wh):
    for row in reversed(many_deals(120)):  # stored out of order; the portal sorts
        fake.put_deal(row)

    deals = list(connector.fetch(SINCE))

    assert [d.deal_id for d in deals] == [str(i) for i in range(1, 121)]
    pages = fake.calls("crm.deal.list")
    assert [p["filter"][">ID"] for p in pages] == [0, 50, 100]
    assert {p["start"] for p in pages} == {-1}
    assert all(p["order"] == {"ID": "ASC"} for p in pages)
    assert len(fake.calls("crm.contact.list")) == 1  # contact 7 looked up once, not per page
    assert land.land_crm_deals(wh, connector, SINCE) == 120
    assert wh.fetchone("select sum(amount) from raw.crm_deals_bitrix24") == (
        sum(Decimal(f"{i}00.50") for i in range(1, 121)),
    )


def test_exactly_50_deals_end_on_an_empty_page(fake, connector):
    for row in many_deals(50):
        fake.put_deal(row)
    assert len(list(connector.fetch(SINCE))) == 50
    assert [p["filter"][">ID"] for p in fake.calls("crm.deal.list")] == [0, 50]


def test_classic_offset_pagination_follows_next_until_it_is_gone(fake, url):
    for row in many_deals(120):
        fake.put_deal(row)
    with Bitrix24Connector(config(url, pagination="offset")) as connector:
        deals = list(connector.fetch(SINCE))
    assert [d.deal_id for d in deals] == [str(i) for i in range(1, 121)]
    assert [p["start"] for p in fake.calls("crm.deal.list")] == [0, 50, 100]


def test_keyset_paging_ignores_next_from_a_portal_that_counts_anyway(url, fake):
    fake.always_count = True  # answers next/total even for start=-1
    for row in many_deals(120):
        fake.put_deal(row)
    with Bitrix24Connector(config(url)) as connector:
        deals = list(connector.fetch(SINCE))
    assert [d.deal_id for d in deals] == [str(i) for i in range(1, 121)]
    assert [p["filter"][">ID"] for p in fake.calls("crm.deal.list")] == [0, 50, 100]


def test_string_amounts_and_semantic_stages_are_mapped(fake, connector, wh):
    closed = "2025-01-03T18:30:00+03:00"
    fake.put_contact(contact_row(8, modified=T0, phones=["8 (916) 555-44-33"]))
    fake.put_deal(
        deal_row(
            1,
            modified=T0,
            created="2024-12-30T09:00:00+03:00",
            amount="19999.99",
            stage="P",
            closed="2025-02-01T00:00:00+03:00",  # planned close of an open deal: not a close
            contact_id=8,
            assigned_by_id=15,
            utm_source="yandex",
            utm_medium="cpc",
            utm_campaign="123456",
        )
    )
    fake.put_deal(deal_row(2, modified=T0, amount="5000", currency="USD", stage="S", closed=closed))
    lost = deal_row(3, modified=T0, stage="F", closed=closed, contact_id=99)  # contact deleted
    fake.put_deal({**lost, "OPPORTUNITY": "", "ASSIGNED_BY_ID": None})

    land.land_crm_deals(wh, connector, SINCE)

    utc = lambda text: datetime.fromisoformat(text).replace(tzinfo=None) - timedelta(hours=3)  # noqa: E731
    assert landed(wh) == [
        ("1", "open", Decimal("19999.99"), "RUB", "8", "+79165554433", "15",
         "yandex", "cpc", "123456", utc("2024-12-30T09:00:00"), utc("2025-01-01T10:00:00"), None),
        ("2", "won", Decimal("5000.00"), "USD", None, None, "1",
         None, None, None, utc("2025-01-01T10:00:00"), utc("2025-01-01T10:00:00"),
         utc("2025-01-03T18:30:00")),
        ("3", "lost", Decimal("0.00"), "RUB", "99", None, None,
         None, None, None, utc("2025-01-01T10:00:00"), utc("2025-01-01T10:00:00"),
         utc("2025-01-03T18:30:00")),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("field", "value", "complaint"),
    [
        ("OPPORTUNITY", "19 999,99", "OPPORTUNITY '19 999,99' is not a number"),
        ("STAGE_SEMANTIC_ID", "X", "STAGE_SEMANTIC_ID 'X' is not P, S or F"),
        ("DATE_MODIFY", "01.01.2025 10:00:00", "'01.01.2025 10:00:00' is not an ISO 8601 time"),
        ("DATE_CREATE", "2025-01-01T10:00:00", "has no UTC offset"),
        ("CURRENCY_ID", "", "CURRENCY_ID '' is not an ISO 4217 code"),
        ("CONTACT_ID", "abc", "CONTACT_ID 'abc' is not an ID"),
    ],
)
def test_a_malformed_deal_is_named_and_nothing_is_landed(
    fake, connector, wh, field, value, complaint
):
    for row in many_deals(60):
        fake.put_deal(row)
    land.land_crm_deals(wh, connector, SINCE)
    before = landed(wh)
    fake.put_deal({**many_deals(60)[-1], "OPPORTUNITY": "1.00", "ID": "61"})  # would land
    fake.corrupt("deal", 55, **{field: value})

    with pytest.raises(SourceError) as failure:
        land.land_crm_deals(wh, connector, SINCE)

    message = str(failure.value)
    assert message.startswith(f"bitrix24 [{ACCOUNT}]: deal 55 is malformed")
    assert complaint in message
    assert "Correct deal 55 in Bitrix24" in message
    assert landed(wh) == before


# -- contacts ---------------------------------------------------------------------------------


def test_contacts_with_several_phones_land_one_row_per_e164_phone(fake, connector, wh):
    fake.put_contact(
        contact_row(
            21,
            modified=T0,
            name="Ivan",
            assigned_by_id=15,
            phones=[
                ("8 (916) 123-45-67", "MOBILE"),
                ("+7 495 765-43-21", "WORK"),
                ("79161234567", "HOME"),  # the mobile again, typed differently
                ("нет", "OTHER"),  # not a number: skipped, not fatal
            ],
        )
    )
    fake.put_contact(contact_row(22, modified=T0, name="No phone"))
    fake.put_contact(contact_row(23, modified=SINCE - timedelta(days=5), phones=["+74950000000"]))

    contacts = {c.contact_id: c for c in connector.fetch_contacts(SINCE)}
    assert contacts["21"].phones == ["+79161234567", "+74957654321"]
    assert contacts["21"].responsible_user_id == "15"
    assert contacts["22"].phones == []
    assert "23" not in contacts  # modified before the lookback window
    (query,) = fake.calls("crm.contact.list")
    assert query["select"] == ["ID", "NAME", "PHONE", "ASSIGNED_BY_ID", "DATE_MODIFY"]

    assert land.land_crm_contacts(wh, connector, SINCE) == 3  # contact 7 + two of Ivan's
    assert wh.fetchall(
        "select contact_id, phone, name from raw.crm_contacts_bitrix24 order by 1, 2"
    ) == [
        ("21", "+74957654321", "Ivan"),
        ("21", "+79161234567", "Ivan"),
        ("7", "+74951234567", None),
    ]


def test_a_contact_whose_phone_field_is_not_a_list_is_named(fake, connector):
    fake.corrupt("contact", 7, PHONE="+74951234567")
    with pytest.raises(SourceError, match=r"contact 7 is malformed: PHONE is not a list"):
        list(connector.fetch_contacts(SINCE))


# -- incremental landing ----------------------------------------------------------------------


def test_lookback_repull_lands_the_same_rows_twice(fake, connector, wh):
    for row in many_deals(3):  # modified at T0 + 1..3 minutes
        fake.put_deal(row)
    fake.put_deal(deal_row(4, modified=T0 - timedelta(hours=2)))  # before the lookback
    after_last_run = T0 + timedelta(minutes=30)  # within the 60-minute lookback of all three

    assert land.land_crm_deals(wh, connector, after_last_run) == 3
    first = landed(wh)
    assert land.land_crm_deals(wh, connector, after_last_run) == 3
    assert landed(wh) == first
    assert [row[0] for row in first] == ["1", "2", "3"]
    assert fake.calls("crm.deal.list")[0]["filter"][">=DATE_MODIFY"] == "2025-01-01T09:30:00+03:00"


def test_a_restated_deal_replaces_its_older_version(fake, connector, wh):
    fake.put_deal(deal_row(1, modified=T0, amount="1000.00", stage="P", contact_id=7))
    fake.put_deal(deal_row(2, modified=T0, amount="2000.00"))
    land.land_crm_deals(wh, connector, SINCE)

    later = T0 + timedelta(days=2)
    fake.put_deal(deal_row(1, modified=later, amount="1500.00", stage="S", contact_id=7))
    assert land.land_crm_deals(wh, connector, later - timedelta(minutes=5)) == 1

    rows = wh.fetchall(
        "select deal_id, status, amount, updated_at from raw.crm_deals_bitrix24 order by 1"
    )
    assert rows == [
        ("1", "won", Decimal("1500.00"), later.replace(tzinfo=None) - timedelta(hours=3)),
        ("2", "open", Decimal("2000.00"), T0.replace(tzinfo=None) - timedelta(hours=3)),
    ]


# -- limits and faults ------------------------------------------------------------------------


def test_query_limit_exceeded_then_success_is_retried(fake, connector, wh):
    for row in many_deals(3):
        fake.put_deal(row)
    fake.script(Fault.query_limit(), Fault.query_limit(method="crm.contact.list", retry_after=0))

    assert land.land_crm_deals(wh, connector, SINCE) == 3
    assert fake.pending_faults == 0
    assert [r["status"] for r in fake.requests] == [503, 200, 503, 200]
    assert {row[5] for row in landed(wh)} == {"+74951234567"}


def test_a_bursting_client_is_held_back_by_the_bucket_and_recovers(url, fake):
    fake.bucket.capacity, fake.bucket.drain = 2, 5.0  # a tiny portal bucket
    for row in many_deals(120):
        fake.put_deal(row)
    with Bitrix24Connector(
        config(url, attempts=8, base_delay_seconds=0.1, max_delay_seconds=0.4)
    ) as connector:
        deals = list(connector.fetch(SINCE))
    assert len(deals) == 120
    assert 503 in [r["status"] for r in fake.requests]


def test_a_client_set_to_the_bucket_never_overflows_it(url, fake):
    fake.bucket.capacity, fake.bucket.drain = 2, 10.0
    for row in many_deals(160):
        fake.put_deal(row)
    # The connector's limiter as configured for the portal (a touch under its drain).
    with Bitrix24Connector(config(url, burst=2, requests_per_second=8)) as connector:
        assert len(list(connector.fetch(SINCE))) == 160
    assert [r["status"] for r in fake.requests] == [200] * 5  # four deal pages, one lookup


@pytest.mark.parametrize("fault", [Fault.server_error(500), Fault.gateway_error(502)])
def test_a_server_error_then_success_is_retried(fake, connector, wh, fault):
    for row in many_deals(3):
        fake.put_deal(row)
    fake.script(fault, fault)
    assert land.land_crm_deals(wh, connector, SINCE) == 3
    assert [r["status"] for r in fake.requests][:3] == [fault.status, fault.status, 200]


def test_a_timeout_then_success_is_retried(fake, connector, wh):
    for row in many_deals(3):
        fake.put_deal(row)
    fake.script(Fault.timeout(0.8))
    assert land.land_crm_deals(wh, connector, SINCE) == 3
    assert [r["method"] for r in fake.requests].count("crm.deal.list") == 2


def test_a_portal_that_keeps_timing_out_gives_up_clearly_and_lands_nothing(fake, url, wh):
    for row in many_deals(3):
        fake.put_deal(row)
    with Bitrix24Connector(config(url, attempts=2)) as connector:
        fake.script(Fault.timeout(0.8), Fault.timeout(0.8))
        with pytest.raises(SourceError) as failure:
            land.land_crm_deals(wh, connector, SINCE)
    message = str(failure.value)
    assert message.startswith(f"bitrix24 [{ACCOUNT}]: gave up after 2 attempts")
    assert "ReadTimeout" in message
    assert "Try again later" in message
    assert TOKEN not in message
    assert landed(wh) == []


@pytest.mark.parametrize(
    "refusal",
    [
        None,  # the real portal: 401 INVALID_CREDENTIALS
        Fault.error(400, "INVALID_CREDENTIALS", "Invalid request credentials"),
        Fault.error(401, "NO_AUTH_FOUND", "Wrong authorization data"),
    ],
)
def test_a_refused_webhook_fails_clearly_and_leaves_landed_rows(fake, url, connector, wh, refusal):
    for row in many_deals(3):
        fake.put_deal(row)
    land.land_crm_deals(wh, connector, SINCE)
    before = landed(wh)
    wrong = "wrong-token-123"
    if refusal is None:
        bad_url = url.replace(TOKEN, wrong)
    else:
        bad_url = url
        fake.script(refusal)
    fake.put_deal(deal_row(9, modified=T0))

    with Bitrix24Connector(config(bad_url)) as bad, pytest.raises(SourceError) as failure:
        land.land_crm_deals(wh, bad, SINCE)

    message = str(failure.value)
    assert message.startswith(f"bitrix24 [{ACCOUNT}]: the webhook was refused: crm.deal.list")
    assert "Create a new incoming webhook in Bitrix24" in message
    assert "CALLPATH_BITRIX24_WEBHOOK_URL" in message
    assert wrong not in message and TOKEN not in message
    refused = 401 if refusal is None else refusal.status
    assert [r["status"] for r in fake.requests] == [200, 200, refused]  # refusal: not retried
    assert landed(wh) == before


def test_a_method_blocked_mid_run_fails_with_when_to_retry_and_lands_nothing(fake, connector, wh):
    for row in many_deals(75):
        fake.put_deal(row)
    fake.script(Fault.ok("crm.deal.list"), Fault.method_blocked("crm.deal.list"))

    with pytest.raises(SourceError) as failure:
        land.land_crm_deals(wh, connector, SINCE)

    message = str(failure.value)
    assert "crm.deal.list: HTTP 429 OPERATION_TIME_LIMIT" in message
    assert "480 s of run time in 10 minutes" in message
    assert "Run again in about 10 minutes" in message
    assert [r["status"] for r in fake.requests] == [200, 200, 429]  # page, lookup, block
    assert landed(wh) == []


def test_a_bad_request_fails_with_bitrix24s_description(fake, connector):
    fake.script(Fault.error(400, "INVALID_ARG_VALUE", "Invalid filter: field is not allowed"))
    with pytest.raises(SourceError) as failure:
        list(connector.fetch(SINCE))
    assert "HTTP 400 INVALID_ARG_VALUE (Invalid filter: field is not allowed)" in str(failure.value)
    assert "report this message" in str(failure.value)


# -- secrets and configuration ----------------------------------------------------------------


def test_the_token_never_reaches_logs_or_config_reprs(fake, url, caplog):
    # Airflow's logging setup (imported by other tests) quietens httpx to WARNING;
    # the point here is what httpx logs when it does log, so turn it up.
    caplog.set_level(logging.DEBUG, logger="httpx")
    fake.put_deal(deal_row(1, modified=T0))
    with caplog.at_level(logging.DEBUG), Bitrix24Connector(config(url)) as connector:
        list(connector.fetch(SINCE))
        assert TOKEN not in repr(connector.config)
    assert "crm.deal.list" in caplog.text  # httpx did log the request
    assert TOKEN not in caplog.text
    assert "/rest/1/***/crm.deal.list" in caplog.text


def test_a_url_that_is_not_a_webhook_is_refused_without_echoing_it():
    with pytest.raises(SourceError) as failure:
        Bitrix24Connector(config(f"https://acme.bitrix24.ru/crm/deal/?token={TOKEN}"))
    assert "is not an incoming webhook URL" in str(failure.value)
    assert TOKEN not in str(failure.value)


def test_from_env_reads_the_portal_or_says_it_is_not_configured(monkeypatch):
    for name in ("WEBHOOK_URL", "COMPANY_ID", "ACCOUNT"):
        monkeypatch.delenv(f"CALLPATH_BITRIX24_{name}", raising=False)
    assert Bitrix24Config.from_env(env_file=None) is None

    webhook = f"https://acme.bitrix24.ru/rest/1/{TOKEN}/"
    monkeypatch.setenv("CALLPATH_BITRIX24_WEBHOOK_URL", webhook)
    with pytest.raises(SourceError) as failure:
        Bitrix24Config.from_env(env_file=None)
    assert "CALLPATH_BITRIX24_COMPANY_ID: Field required" in str(failure.value)
    assert TOKEN not in str(failure.value)

    monkeypatch.setenv("CALLPATH_BITRIX24_COMPANY_ID", "acme")
    monkeypatch.setenv("CALLPATH_BITRIX24_LOOKBACK_MINUTES", "15")
    loaded = Bitrix24Config.from_env(env_file=None)
    assert loaded is not None
    assert (loaded.company_id, loaded.lookback_minutes) == ("acme", 15)
    with Bitrix24Connector(loaded) as connector:
        assert connector.account == "acme.bitrix24.ru"


# -- the fake itself --------------------------------------------------------------------------


def test_the_fake_refuses_what_a_portal_would_misread(fake, url):
    with httpx.Client(timeout=5) as http:
        no_offset = http.post(
            url + "crm.deal.list", json={"filter": {">=DATE_MODIFY": "2025-01-01T10:00:00"}}
        )
        unknown = http.post(url + "crm.deal.lst", json={})
        star = http.post(url + "crm.contact.list.json", json={"select": ["*"], "start": 0})
    assert no_offset.status_code == 400
    assert no_offset.json()["error"] == "INVALID_ARG_VALUE"
    assert (unknown.status_code, unknown.json()["error"]) == (404, "ERROR_METHOD_NOT_FOUND")
    assert star.status_code == 200
    assert "PHONE" not in star.json()["result"][0]  # multi-fields only when selected
    assert star.json()["total"] == 1 and "next" not in star.json()


def test_the_demo_can_seed_the_fake_from_records():
    from connectors.base import DealRecord

    deal = DealRecord(
        crm="bitrix24",
        deal_id="5",
        company_id="acme",
        created_at=T0,
        updated_at=T0,
        closed_at=T0,
        status="won",
        amount=Decimal("700.00"),
        currency="RUB",
        contact_phone="+79160001122",
        utm_source="google",
    )
    fake = from_records([deal], token=TOKEN)
    with fake.start() as url, Bitrix24Connector(config(url)) as connector:
        (fetched,) = connector.fetch(SINCE)
    assert fetched.model_dump(exclude={"contact_id"}) == deal.model_dump(exclude={"contact_id"})
