"""Yandex.Direct Reports connector against the local fake over loopback, landed into
DuckDB through `pipelines.land`: the offline queue, retries, failures that name what to
do, every TSV layout, and restatement."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from connectors.base import SourceError
from connectors.fakes.yandex_direct import FakeYandexDirect
from connectors.yandex_direct import YandexDirectConfig, YandexDirectConnector, parse_report
from pipelines import land, warehouse
from realtime.settings import Settings

TOKEN = "agency-token"
OTHER_AGENCY = "other-agency-token"
D1, D2, D3 = date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)
PULL_DAY = date(2026, 11, 4)


@pytest.fixture
def fake() -> FakeYandexDirect:
    fake = FakeYandexDirect({TOKEN: ["client-a", "client-b"], OTHER_AGENCY: ["client-c"]})
    fake.set_stat("client-a", D1, 101, "Brand", 1000, 40, Decimal("1200.00"))
    fake.set_stat("client-a", D1, 102, "Generic", 500, 10, Decimal("300.60"))
    fake.set_stat("client-a", D2, 101, "Brand", 900, 30, Decimal("960.00"))
    fake.set_stat("client-a", D3, 102, "Generic", 700, 20, Decimal("450.12"))
    fake.set_stat("client-b", D1, 201, "Б Поиск", 300, 5, Decimal("120.00"))
    fake.set_stat("client-c", D1, 301, "Not ours", 1, 1, Decimal("1.00"))
    return fake


@pytest.fixture
def base_url(fake: FakeYandexDirect) -> Iterator[str]:
    with fake.serve() as url:
        yield url


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[warehouse.Warehouse]:
    settings = Settings(
        _env_file=None,
        var_dir=tmp_path,
        warehouse_path=tmp_path / "w.duckdb",
        event_store_url=f"sqlite:///{tmp_path}/e.db",
        pool_store_url=f"sqlite:///{tmp_path}/p.db",
    )
    with warehouse.connect(settings) as wh:
        yield wh


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make(base_url: str, sleeps: list[float]):
    """A connector for `login` against the fake; waits are recorded, not slept."""

    def make(login: str = "client-a", today: date = PULL_DAY, **overrides) -> YandexDirectConnector:
        config = YandexDirectConfig(
            _env_file=None,
            **{
                "token": TOKEN,
                "client_logins": ["client-a", "client-b"],
                "base_url": base_url,
                "processing_mode": "online",
                "base_delay": 0.01,
                "timeout_seconds": 5,
                **overrides,
            },
        )
        return YandexDirectConnector(config, login, sleep=sleeps.append, today=lambda: today)

    return make


def landed(wh, account: str | None = None) -> list[tuple]:
    sql = (
        "select _account, date_day, campaign_id, campaign_name, impressions, clicks, spend,"
        " currency from raw.ad_spend_yandex_direct"
    )
    if account:
        return wh.fetchall(sql + " where _account = %s order by all", [account])
    return wh.fetchall(sql + " order by all")


CLIENT_A = [
    ("client-a", D1, "101", "Brand", 1000, 40, Decimal("1200.00"), "RUB"),
    ("client-a", D1, "102", "Generic", 500, 10, Decimal("300.60"), "RUB"),
    ("client-a", D2, "101", "Brand", 900, 30, Decimal("960.00"), "RUB"),
    ("client-a", D3, "102", "Generic", 700, 20, Decimal("450.12"), "RUB"),
]


# --- the happy path and what goes over the wire ------------------------------------------


def test_online_report_lands_every_campaign_day_and_sends_the_documented_request(fake, make, wh):
    assert land.land_ad_spend(wh, make(), D1, D3) == 4
    assert landed(wh) == CLIENT_A

    (sent,) = fake.requests
    headers, params = sent["headers"], sent["body"]["params"]
    assert headers["authorization"] == "Bearer ***"
    assert headers["client-login"] == "client-a"
    assert headers["processingmode"] == "online"
    assert headers["returnmoneyinmicros"] == "true"
    assert headers["accept-language"] == "en"
    assert headers["skipreportheader"] == "true"
    assert "skipcolumnheader" not in headers and "skipreportsummary" not in headers
    assert params == {
        "SelectionCriteria": {"DateFrom": "2026-11-01", "DateTo": "2026-11-03"},
        "FieldNames": ["Date", "CampaignId", "CampaignName", "Impressions", "Clicks", "Cost"],
        "ReportName": params["ReportName"],
        "ReportType": "CAMPAIGN_PERFORMANCE_REPORT",
        "DateRangeType": "CUSTOM_DATE",
        "Format": "TSV",
        "IncludeVAT": "YES",
        "IncludeDiscount": "NO",
    }


def test_landing_the_same_interval_twice_gives_the_same_rows(make, wh):
    connector = make()
    land.land_ad_spend(wh, connector, D1, D3)
    first = landed(wh)
    assert land.land_ad_spend(wh, connector, D1, D3) == 4
    assert landed(wh) == first == CLIENT_A


def test_report_name_is_the_same_for_an_identical_request_and_differs_otherwise(fake, make):
    list(make().fetch(D1, D3))
    list(make().fetch(D1, D3))
    list(make().fetch(D1, D2))
    list(make(include_vat=False).fetch(D1, D3))
    list(make(login="client-b").fetch(D1, D3))
    list(make(today=PULL_DAY + timedelta(days=1)).fetch(D1, D3))
    names = [r["body"]["params"]["ReportName"] for r in fake.requests]
    assert names[0] == names[1]
    assert len(set(names)) == 5


# --- the offline queue ---------------------------------------------------------------


def test_report_queued_then_building_is_polled_with_the_identical_request_until_ready(
    fake, make, wh, sleeps
):
    fake.offline_polls, fake.retry_in = 4, 3
    # more polls than error attempts: waiting in the queue is not an error
    connector = make(processing_mode="offline", max_attempts=2)

    assert land.land_ad_spend(wh, connector, D1, D3) == 4

    assert landed(wh) == CLIENT_A
    assert len(fake.requests) == 6  # 201, 202 × 4, 200
    assert all(r == fake.requests[0] for r in fake.requests)
    assert sleeps == [3.0] * 5  # retryIn honoured before every re-send


def test_auto_mode_handles_a_report_the_server_moved_offline(fake, make, wh):
    fake.auto_mode = "offline"
    assert land.land_ad_spend(wh, make(processing_mode="auto"), D1, D3) == 4
    assert landed(wh) == CLIENT_A
    assert fake.requests[0]["headers"]["processingmode"] == "auto"


def test_report_still_queued_after_the_poll_budget_fails_and_keeps_landed_rows(fake, make, wh):
    land.land_ad_spend(wh, make(), D1, D3)
    fake.offline_polls = 50
    with pytest.raises(SourceError) as failure:
        land.land_ad_spend(wh, make(processing_mode="offline", poll_attempts=3), D1, D3)
    message = str(failure.value)
    assert message.startswith("yandex_direct [client-a]: gave up after 3 attempts")
    assert "CALLPATH_YANDEX_DIRECT_POLL_ATTEMPTS" in message
    assert landed(wh) == CLIENT_A


# --- transient errors are retried --------------------------------------------------------


def test_full_report_queue_9000_is_retried_then_lands(fake, make, wh):
    fake.fail(400, 9000, "Report queue limit exceeded", "5 reports are queued")
    assert land.land_ad_spend(wh, make(), D1, D3) == 4
    assert landed(wh) == CLIENT_A
    assert len(fake.requests) == 2


def test_server_errors_500_and_502_are_retried_then_land(fake, make, wh):
    fake.fail(500, 1000, "Server temporarily unavailable")
    fake.fail(502, None)  # a gateway's HTML page, no Direct error body
    fake.fail(503, 1002, "Operation error")
    assert land.land_ad_spend(wh, make(), D1, D3) == 4
    assert landed(wh) == CLIENT_A
    assert len(fake.requests) == 4


@pytest.mark.parametrize("code", [52, 56, 152, 506, 1001])
def test_documented_transient_codes_are_retried(fake, make, code):
    fake.fail(400, code, "Transient")
    assert len(list(make().fetch(D1, D3))) == 4


def test_method_limit_56_and_http_429_wait_the_servers_hint(fake, make, sleeps):
    fake.fail(400, 56, "Method request limit exceeded", headers={"Retry-After": "7"})
    fake.fail(429, None, headers={"Retry-After": "2"})
    assert len(list(make().fetch(D1, D3))) == 4
    assert sleeps == [7.0, 2.0]


def test_a_request_that_times_out_is_sent_again(fake, make, wh):
    fake.hang(2.0)
    connector = make(timeout_seconds=0.5)
    assert land.land_ad_spend(wh, connector, D1, D3) == 4
    assert landed(wh) == CLIENT_A
    assert len(fake.requests) == 2


def test_errors_that_persist_give_up_with_a_source_error_and_land_nothing(fake, make, wh):
    land.land_ad_spend(wh, make(), D1, D3)
    for _ in range(3):
        fake.fail(500, 1000, "Server temporarily unavailable")
    with pytest.raises(SourceError) as failure:
        land.land_ad_spend(wh, make(max_attempts=3), D1, D3)
    message = str(failure.value)
    assert "yandex_direct [client-a]: gave up after 3 attempts" in message
    assert "1000 Server temporarily unavailable" in message
    assert "run the load again later" in message
    assert landed(wh) == CLIENT_A


# --- errors a person must act on ----------------------------------------------------------


def test_bad_token_fails_at_once_saying_renew_the_token(fake, make, wh):
    land.land_ad_spend(wh, make(), D1, D3)
    fake.requests.clear()
    with pytest.raises(SourceError) as failure:
        land.land_ad_spend(wh, make(token="revoked-token"), D1, D3)
    message = str(failure.value)
    assert message.startswith("yandex_direct [client-a]: HTTP 400, error 53 Authorization error")
    assert "Renew the OAuth token" in message and "CALLPATH_YANDEX_DIRECT_TOKEN" in message
    assert "revoked-token" not in message
    assert len(fake.requests) == 1  # not retried
    assert landed(wh) == CLIENT_A


@pytest.mark.parametrize(
    ("login", "code"),
    [("ghost", "error 8800 Object not found"), ("client-c", "error 54 No rights")],
)
def test_a_login_the_token_cannot_read_fails_naming_the_logins_setting(make, login, code):
    with pytest.raises(SourceError) as failure:
        list(make(login=login).fetch(D1, D3))
    message = str(failure.value)
    assert message.startswith(f"yandex_direct [{login}]: HTTP 400, {code}")
    assert "Check CALLPATH_YANDEX_DIRECT_CLIENT_LOGINS" in message


def test_a_refused_report_definition_fails_with_the_request_id(fake, make):
    fake.fail(400, 4000, "Invalid request parameters", "FieldNames: unknown field")
    with pytest.raises(SourceError) as failure:
        list(make().fetch(D1, D3))
    assert "error 4000 Invalid request parameters: FieldNames: unknown field" in str(failure.value)
    assert "request_id" in str(failure.value)


def test_a_malformed_row_fails_naming_the_line_and_lands_nothing(fake, make, wh):
    land.land_ad_spend(wh, make(), D1, D3)
    fake.set_stat("client-a", D2, 101, "Brand", 999, 99, Decimal("999.00"))
    fake.malform()
    with pytest.raises(SourceError) as failure:
        land.land_ad_spend(wh, make(), D1, D3)
    message = str(failure.value)
    assert message.startswith("yandex_direct [client-a]: report line 2: 5 fields, expected 6")
    assert "Nothing from this report was landed" in message
    assert landed(wh) == CLIENT_A


# --- TSV layouts and money ---------------------------------------------------------------


@pytest.mark.parametrize("skip_title", [True, False])
@pytest.mark.parametrize("skip_columns", [True, False])
@pytest.mark.parametrize("skip_total", [True, False])
def test_every_tsv_layout_gives_the_same_records(make, skip_title, skip_columns, skip_total):
    connector = make(
        skip_report_header=skip_title,
        skip_column_header=skip_columns,
        skip_report_summary=skip_total,
    )
    records = list(connector.fetch(D1, D3))
    assert [(r.date_day, r.campaign_id, r.spend) for r in records] == [
        (row[1], row[2], row[6]) for row in CLIENT_A
    ]


def test_title_column_and_total_lines_are_recognised_when_the_server_sends_them_anyway(
    fake, make, wh
):
    fake.honour_skip_headers = False
    connector = make(skip_report_header=True, skip_column_header=True, skip_report_summary=True)
    assert land.land_ad_spend(wh, connector, D1, D3) == 4
    assert landed(wh) == CLIENT_A


def test_an_empty_report_lands_nothing_and_empties_the_window(fake, make, wh):
    land.land_ad_spend(wh, make(), D1, D3)
    for day, campaign in [(D1, 101), (D1, 102), (D2, 101), (D3, 102)]:
        fake.remove_stat("client-a", day, campaign)
    assert land.land_ad_spend(wh, make(), D1, D3) == 0
    assert landed(wh) == []


def test_column_header_order_decides_the_columns_and_the_total_must_match():
    config = YandexDirectConfig(
        _env_file=None, token="t", client_logins=["a"], money_in_micros=False
    )
    tsv = (
        '"r (2026-11-01 - 2026-11-01)"\n'
        "CampaignId\tDate\tCost\tClicks\tImpressions\tCampaignName\n"
        "7\t2026-11-01\t10.50\t2\t30\tX\n"
        "Total rows: 1\n"
    )
    (record,) = parse_report(tsv, "a", D1, D1, config)
    assert (record.campaign_id, record.spend, record.clicks, record.impressions) == (
        "7",
        Decimal("10.50"),
        2,
        30,
    )
    with pytest.raises(SourceError, match="the report says 2 rows but has 1"):
        parse_report(tsv.replace("Total rows: 1", "Total rows: 2"), "a", D1, D1, config)


def test_micros_and_decimals_give_the_same_spend(fake, make):
    fake.set_stat("client-a", D1, 103, "Odd", 10, 1, Decimal("0.01"))
    micros = {(r.date_day, r.campaign_id): r.spend for r in make().fetch(D1, D3)}
    decimals = {
        (r.date_day, r.campaign_id): r.spend for r in make(money_in_micros=False).fetch(D1, D3)
    }
    assert micros == decimals
    assert micros[(D1, "103")] == Decimal("0.01")
    assert fake.requests[1]["headers"]["returnmoneyinmicros"] == "false"


def test_micros_mode_refuses_a_decimal_cost_as_a_malformed_row(make):
    config = YandexDirectConfig(_env_file=None, token="t", client_logins=["a"])
    with pytest.raises(SourceError, match=r"report line 1: Cost '10\.50' is not an integer"):
        parse_report("2026-11-01\t7\tX\t30\t2\t10.50\n", "a", D1, D1, config)


def test_vat_flag_is_sent_and_spend_excludes_vat_when_asked(fake, make):
    records = list(make(include_vat=False, currency="KZT").fetch(D1, D1))
    assert fake.requests[0]["body"]["params"]["IncludeVAT"] == "NO"
    assert [(r.campaign_id, r.spend, r.currency) for r in records] == [
        ("101", Decimal("1000"), "KZT"),
        ("102", Decimal("250.5"), "KZT"),
    ]


# --- agencies: several client logins --------------------------------------------------------


def test_two_client_logins_land_one_report_each_under_their_own_account(fake, base_url, wh):
    config = YandexDirectConfig(
        _env_file=None,
        token=TOKEN,
        client_logins="client-a, client-b",
        base_url=base_url,
        processing_mode="online",
    )
    connectors = YandexDirectConnector.for_each_login(config)
    try:
        assert [c.account for c in connectors] == ["client-a", "client-b"]
        assert connectors[0].client is connectors[1].client  # one per-user rate limiter
        for connector in connectors:
            land.land_ad_spend(wh, connector, D1, D3)
    finally:
        connectors[0].close()
    assert landed(wh, "client-a") == CLIENT_A
    assert landed(wh, "client-b") == [
        ("client-b", D1, "201", "Б Поиск", 300, 5, Decimal("120.00"), "RUB")
    ]
    assert [r["headers"]["client-login"] for r in fake.requests] == ["client-a", "client-b"]


def test_one_login_failing_leaves_the_other_logins_rows_alone(fake, make, wh):
    land.land_ad_spend(wh, make(login="client-b"), D1, D3)
    fake.fail(400, 54, "No rights", "client-a is not a client of this agency", login="client-a")
    with pytest.raises(SourceError, match=r"yandex_direct \[client-a\]"):
        land.land_ad_spend(wh, make(login="client-a"), D1, D3)
    assert landed(wh, "client-a") == []
    assert len(landed(wh, "client-b")) == 1


# --- restatement ---------------------------------------------------------------------


def test_restated_spend_replaces_the_day_on_relanding(fake, make, wh):
    land.land_ad_spend(wh, make(processing_mode="offline"), D1, D3)
    fake.set_stat("client-a", D2, 101, "Brand", 950, 31, Decimal("990.00"))  # restated
    fake.remove_stat("client-a", D3, 102)  # invalid clicks written off

    # The same pull day re-sends the same ReportName: Direct serves the report it built.
    land.land_ad_spend(wh, make(processing_mode="offline"), D1, D3)
    assert landed(wh) == CLIENT_A

    # The next day's pull is a new report and replaces the restated days.
    tomorrow = PULL_DAY + timedelta(days=1)
    assert land.land_ad_spend(wh, make(processing_mode="offline", today=tomorrow), D1, D3) == 3
    assert landed(wh) == [
        *CLIENT_A[:2],
        ("client-a", D2, "101", "Brand", 950, 31, Decimal("990.00"), "RUB"),
    ]


# --- configuration -------------------------------------------------------------------


def test_config_from_env_splits_logins_and_is_none_without_a_token(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no .env here
    for name in ("TOKEN", "CLIENT_LOGINS", "PROCESSING_MODE"):
        monkeypatch.delenv(f"CALLPATH_YANDEX_DIRECT_{name}", raising=False)
    assert YandexDirectConfig.from_env() is None

    monkeypatch.setenv("CALLPATH_YANDEX_DIRECT_TOKEN", "secret-token")
    monkeypatch.setenv("CALLPATH_YANDEX_DIRECT_CLIENT_LOGINS", "client-a, client-b")
    monkeypatch.setenv("CALLPATH_YANDEX_DIRECT_PROCESSING_MODE", "offline")
    config = YandexDirectConfig.from_env()
    assert config is not None
    assert config.client_logins == ["client-a", "client-b"]
    assert config.processing_mode == "offline"
    assert "secret-token" not in repr(config)

    monkeypatch.setenv("CALLPATH_YANDEX_DIRECT_CLIENT_LOGINS", "")
    with pytest.raises(SourceError, match="CALLPATH_YANDEX_DIRECT_CLIENT_LOGINS"):
        YandexDirectConfig.from_env()


# --- the fake itself -------------------------------------------------------------------


def test_the_fake_refuses_what_direct_refuses_in_directs_error_shape(base_url):
    url = base_url + "/json/v5/reports"
    good = {"Authorization": f"Bearer {TOKEN}", "Client-Login": "client-a"}
    body = {
        "params": {
            "SelectionCriteria": {"DateFrom": "2026-11-01", "DateTo": "2026-11-03"},
            "FieldNames": ["Date", "Cost"],
            "ReportName": "r",
            "ReportType": "CAMPAIGN_PERFORMANCE_REPORT",
            "DateRangeType": "CUSTOM_DATE",
            "Format": "TSV",
            "IncludeVAT": "YES",
        }
    }
    no_fields = {"params": {k: v for k, v in body["params"].items() if k != "FieldNames"}}
    xml = {"params": {**body["params"], "Format": "XML"}}
    cases = [
        ({"Client-Login": "client-a"}, body, 53),
        ({"Authorization": f"Bearer {TOKEN}"}, body, 8000),  # an agency must name the client
        (good, no_fields, 8000),
        (good, xml, 4000),
    ]
    for headers, payload, code in cases:
        response = httpx.post(url, headers=headers, json=payload)
        assert response.status_code == 400
        error = response.json()["error"]
        assert set(error) == {"request_id", "error_code", "error_string", "error_detail"}
        assert error["error_code"] == code
        assert response.headers["RequestId"] == error["request_id"]
    ok = httpx.post(url, headers={**good, "processingMode": "online"}, json=body)
    assert ok.status_code == 200
    assert ok.text.splitlines()[1:4] == [
        "Date\tCost",
        "2026-11-01\t1500600000",
        "2026-11-02\t960000000",
    ]


def test_demo_dataset_seeds_the_fake_from_plain_rows(wh):
    rows = [
        {"account_id": "demo", "date_day": "2026-11-01", "campaign_id": "5",
         "campaign_name": "Demo", "impressions": 10, "clicks": 2, "spend": "99.90"},
    ]  # fmt: skip
    fake = FakeYandexDirect.demo_dataset("demo-token", rows)
    with fake.serve() as url:
        config = YandexDirectConfig(
            _env_file=None, token="demo-token", client_logins=["demo"], base_url=url
        )
        (connector,) = YandexDirectConnector.for_each_login(config)
        assert land.land_ad_spend(wh, connector, D1, D1) == 1
        connector.close()
    assert landed(wh) == [("demo", D1, "5", "Demo", 10, 2, Decimal("99.90"), "RUB")]
