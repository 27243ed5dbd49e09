"""Google Ads connector (official `google-ads` client, API v26) against the local
fake gRPC server over TLS on loopback, landed into DuckDB through `pipelines.land`:
transient and quota errors retried (honouring retry_delay), auth failures that name
what to do, manager accounts, currencies, multi-batch streams, restatement."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import grpc
import pytest
from google.auth.exceptions import RefreshError

from connectors.base import SourceError
from connectors.fakes.google_ads import FakeGoogleAds
from connectors.google_ads import (
    QUERY,
    GoogleAdsConfig,
    GoogleAdsConnector,
    build_client,
    url_template,
)
from pipelines import land, warehouse
from realtime.settings import Settings

DEV_TOKEN = "dev-token-123"
MANAGER = "9990001111"
CLIENT_A, CLIENT_B, DIRECT = "1112223333", "4445556666", "7778889999"
D1, D2, D3 = date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)
TEMPLATE = "{lpurl}?utm_source=google&utm_medium=cpc&utm_campaign={campaignid}"


@pytest.fixture
def fake() -> FakeGoogleAds:
    fake = FakeGoogleAds(DEV_TOKEN)
    fake.add_customer(CLIENT_A, currency="RUB", manager_id=MANAGER)
    fake.add_customer(CLIENT_B, currency="EUR", time_zone="Europe/Berlin", manager_id=MANAGER)
    fake.add_customer(DIRECT, currency="USD")  # no manager: read with its own id
    fake.set_stat(
        CLIENT_A, D1, 101, "Brand", 1000, 40, 1_200_000_000, tracking_url_template=TEMPLATE
    )
    fake.set_stat(CLIENT_A, D1, 102, "Generic", 500, 10, 300_605_000,
                  final_url_suffix="utm_source=google&utm_campaign={campaignid}")  # fmt: skip
    fake.set_stat(CLIENT_A, D2, 101, "Brand", 900, 30, 960_000_000, tracking_url_template=TEMPLATE)
    fake.set_stat(CLIENT_A, D3, 102, "Generic", 700, 20, 450_120_000)
    fake.set_stat(CLIENT_B, D1, 201, "DE Search", 300, 5, 12_345_678)
    fake.set_stat(DIRECT, D1, 301, "US", 10, 1, 5_000_000)
    return fake


@pytest.fixture
def endpoint(fake: FakeGoogleAds) -> Iterator[str]:
    with fake.serve() as endpoint:
        yield endpoint


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
def config(endpoint: str):
    def config(**overrides) -> GoogleAdsConfig:
        return GoogleAdsConfig(
            _env_file=None,
            **{
                "developer_token": DEV_TOKEN,
                "access_token": "test",  # built directly: no OAuth call
                "endpoint": endpoint,
                "login_customer_id": MANAGER,
                "customer_ids": f"{CLIENT_A[:3]}-{CLIENT_A[3:6]}-{CLIENT_A[6:]},{CLIENT_B}",
                "requests_per_second": 1000,
                "base_delay": 0.01,
                "timeout_seconds": 5,
                **overrides,
            },
        )

    return config


@pytest.fixture
def connectors(config, sleeps: list[float]) -> Iterator[list[GoogleAdsConnector]]:
    """One connector per customer of the config; waits are recorded, not slept."""
    made: list[GoogleAdsConnector] = []

    def connectors(**overrides) -> list[GoogleAdsConnector]:
        made.extend(GoogleAdsConnector.for_each_customer(config(**overrides), sleep=sleeps.append))
        return made[-len(config(**overrides).customer_ids) :]

    yield connectors
    for c in made:
        c.close()


def spend(wh: warehouse.Warehouse, account: str | None = None) -> list[tuple]:
    where = "where _account = %s" if account else ""
    return wh.fetchall(
        "select date_day, account_id, campaign_id, campaign_name, clicks, impressions, spend,"
        f" currency, url_template from raw.ad_spend_google_ads {where}"
        " order by account_id, date_day, campaign_id",
        [account] if account else None,
    )


def test_daily_campaign_spend_lands_per_customer_in_its_currency_through_the_manager(
    connectors, fake, wh
):
    client_a, client_b = connectors()
    assert (client_a.account, client_b.account) == (CLIENT_A, CLIENT_B)
    assert land.land_ad_spend(wh, client_a, D1, D3) == 4
    assert land.land_ad_spend(wh, client_b, D1, D3) == 1

    assert spend(wh) == [
        (D1, CLIENT_A, "101", "Brand", 40, 1000, Decimal("1200.00"), "RUB", TEMPLATE),
        (D1, CLIENT_A, "102", "Generic", 10, 500, Decimal("300.61"), "RUB",
         "{lpurl}?utm_source=google&utm_campaign={campaignid}"),
        (D2, CLIENT_A, "101", "Brand", 30, 900, Decimal("960.00"), "RUB", TEMPLATE),
        (D3, CLIENT_A, "102", "Generic", 20, 700, Decimal("450.12"), "RUB", None),
        (D1, CLIENT_B, "201", "DE Search", 5, 300, Decimal("12.35"), "EUR", None),
    ]  # fmt: skip
    # What went over the wire: one GAQL stream per customer, the manager as login
    # customer, the developer token in the metadata (masked in the fake's log).
    assert [(r.customer_id, r.query) for r in fake.requests] == [
        (CLIENT_A, QUERY.format(start=D1, end=D3)),
        (CLIENT_B, QUERY.format(start=D1, end=D3)),
    ]
    assert "segments.date BETWEEN '2026-11-01' AND '2026-11-03'" in fake.requests[0].query
    assert fake.requests[0].metadata["login-customer-id"] == MANAGER
    assert fake.requests[0].metadata["developer-token"] == "REDACTED"


def test_spend_is_exact_to_the_micro_before_the_warehouse_rounds(connectors):
    (client_b,) = connectors(customer_ids=CLIENT_B)
    (record,) = list(client_b.fetch(D1, D1))
    assert record.spend == Decimal("12.345678") and record.currency == "EUR"
    assert record.platform == "google_ads" and record.account_id == CLIENT_B


def test_account_without_manager_is_read_with_its_own_id(connectors, wh):
    (direct,) = connectors(customer_ids=DIRECT, login_customer_id=None)
    assert land.land_ad_spend(wh, direct, D1, D1) == 1
    assert spend(wh, DIRECT) == [(D1, DIRECT, "301", "US", 1, 10, Decimal("5.00"), "USD", None)]


def test_client_account_without_its_manager_fails_naming_the_login_customer_id(connectors, wh):
    (client_a,) = connectors(customer_ids=CLIENT_A, login_customer_id=None)
    with pytest.raises(SourceError) as failure:
        land.land_ad_spend(wh, client_a, D1, D3)
    message = str(failure.value)
    assert message.startswith(f"google_ads [{CLIENT_A}]: PERMISSION_DENIED")
    assert "USER_PERMISSION_DENIED" in message and "LOGIN_CUSTOMER_ID" in message
    assert spend(wh) == []


@pytest.mark.parametrize("code", [grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.INTERNAL])
def test_bare_transient_status_is_retried_and_the_day_lands_once(
    code, connectors, fake, wh, sleeps
):
    fake.fail(code, "Resource has been exhausted (e.g. check quota).")
    client_a, _ = connectors()
    assert land.land_ad_spend(wh, client_a, D1, D3) == 4
    assert len(fake.requests) == 2 and len(sleeps) == 1
    assert len(spend(wh)) == 4


def test_stream_failing_after_a_batch_is_read_again_from_the_start(connectors, fake, wh):
    fake.batch_rows = 2
    fake.fail(grpc.StatusCode.INTERNAL, after_batches=1)
    client_a, _ = connectors()
    assert land.land_ad_spend(wh, client_a, D1, D3) == 4
    assert len(fake.requests) == 2
    assert [r[2] for r in spend(wh)] == ["101", "102", "101", "102"]  # no duplicates


@pytest.mark.parametrize(
    "code",
    [
        # What Google sends: the library passes it on as a raw RpcError, the failure
        # (with retry_delay) only in the trailing metadata.
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        # Any other status: the library raises a GoogleAdsException.
        grpc.StatusCode.UNAVAILABLE,
    ],
)
def test_quota_error_waits_the_retry_delay_google_gives(code, connectors, fake, wh, sleeps):
    fake.quota(retry_delay=0.25, code=code)
    fake.quota(retry_delay=0.5, code=code)
    client_a, _ = connectors()
    assert land.land_ad_spend(wh, client_a, D1, D3) == 4
    assert sleeps == [0.25, 0.5]
    assert len(fake.requests) == 3


def test_quota_longer_than_we_wait_fails_at_once_naming_the_wait(connectors, fake, wh, sleeps):
    fake.quota(retry_delay=86_400, error="RESOURCE_EXHAUSTED")
    client_a, _ = connectors()
    with pytest.raises(SourceError) as failure:
        land.land_ad_spend(wh, client_a, D1, D3)
    assert "quota_error.RESOURCE_EXHAUSTED" in str(failure.value)
    assert "run the load again in 86400 s" in str(failure.value)
    assert sleeps == [] and len(fake.requests) == 1 and spend(wh) == []


def test_bad_developer_token_fails_clearly_and_lands_nothing(connectors, fake, wh):
    client_a, _ = connectors()
    land.land_ad_spend(wh, client_a, D1, D3)
    landed = spend(wh)

    (bad,) = connectors(customer_ids=CLIENT_A, developer_token="not-the-token")
    fake.set_stat(CLIENT_A, D1, 101, "Brand", 1, 1, 1)  # would change the day if landed
    with pytest.raises(SourceError) as failure:
        land.land_ad_spend(wh, bad, D1, D3)
    message = str(failure.value)
    assert message.startswith(f"google_ads [{CLIENT_A}]: UNAUTHENTICATED")
    assert "DEVELOPER_TOKEN_INVALID" in message and "API Center" in message
    assert "not-the-token" not in message
    assert len(fake.requests) == 2  # not retried
    assert spend(wh) == landed


def test_invalid_oauth_token_asks_for_a_new_refresh_token(connectors, fake, wh):
    (client_a,) = connectors(customer_ids=CLIENT_A, access_token="expired")
    with pytest.raises(SourceError) as failure:
        list(client_a.fetch(D1, D3))
    assert "OAUTH_TOKEN_INVALID" in str(failure.value)
    assert "REFRESH_TOKEN" in str(failure.value)


def test_revoked_refresh_token_fails_before_any_request(config, fake, wh):
    def revoked(_config: GoogleAdsConfig):
        # What load_from_dict raises when Google refuses the refresh token.
        raise RefreshError("invalid_grant: Token has been expired or revoked.")

    (client_a,) = GoogleAdsConnector.for_each_customer(
        config(customer_ids=CLIENT_A), client_factory=revoked
    )
    with pytest.raises(SourceError) as failure:
        land.land_ad_spend(wh, client_a, D1, D3)
    assert "invalid_grant" in str(failure.value) and "REFRESH_TOKEN" in str(failure.value)
    assert fake.requests == [] and spend(wh) == []


def test_a_hanging_stream_hits_the_deadline_and_is_retried(connectors, fake, wh):
    fake.hang(3)
    client_a, _ = connectors(timeout_seconds=0.5)
    assert land.land_ad_spend(wh, client_a, D1, D3) == 4
    assert len(fake.requests) == 2


def test_persistent_outage_gives_up_naming_the_customer_and_keeps_landed_rows(
    connectors, fake, wh, sleeps
):
    client_a, _ = connectors(max_attempts=3)
    land.land_ad_spend(wh, client_a, D1, D3)
    landed = spend(wh)
    for _ in range(3):
        fake.fail(grpc.StatusCode.INTERNAL)
    with pytest.raises(SourceError) as failure:
        land.land_ad_spend(wh, client_a, D1, D3)
    assert str(failure.value).startswith(f"google_ads [{CLIENT_A}]: gave up after 3 attempts")
    assert "run the load again later" in str(failure.value)
    assert spend(wh) == landed


def test_malformed_row_fails_the_customer_and_lands_none_of_it(connectors, fake, wh):
    fake.malform()
    client_a, _ = connectors()
    with pytest.raises(SourceError, match=r"row 1 of the stream"):
        land.land_ad_spend(wh, client_a, D1, D3)
    assert spend(wh) == []


def test_more_than_ten_thousand_rows_arrive_in_several_batches(connectors, fake, wh):
    start = date(2026, 1, 1)
    for day in range(101):
        for campaign in range(100):
            fake.set_stat(CLIENT_B, start + timedelta(days=day), 1000 + campaign, f"C{campaign}",
                          10, 1, 1_000_000)  # fmt: skip
    end = start + timedelta(days=100)
    _, client_b = connectors()
    assert land.land_ad_spend(wh, client_b, start, end) == 10_100
    (count, total) = wh.fetchone(
        "select count(*), sum(spend) from raw.ad_spend_google_ads where _account = %s", [CLIENT_B]
    )
    assert (count, total) == (10_100, Decimal("10100.00"))


def test_restated_spend_replaces_the_day_on_re_landing(connectors, fake, wh):
    client_a, _ = connectors()
    land.land_ad_spend(wh, client_a, D1, D3)
    fake.set_stat(CLIENT_A, D2, 101, "Brand", 950, 31, 990_500_000)  # settled higher
    fake.remove_stat(CLIENT_A, D3, 102)  # invalid clicks refunded to zero: no row
    land.land_ad_spend(wh, client_a, D2, D3)
    rows = spend(wh, CLIENT_A)
    assert [(r[0], r[2], r[6]) for r in rows] == [
        (D1, "101", Decimal("1200.00")),
        (D1, "102", Decimal("300.61")),
        (D2, "101", Decimal("990.50")),
    ]


def test_landing_the_same_interval_twice_gives_the_same_rows(connectors, wh):
    client_a, client_b = connectors()
    for connector in (client_a, client_b):
        land.land_ad_spend(wh, connector, D1, D3)
    first = spend(wh)
    for connector in (client_a, client_b):
        land.land_ad_spend(wh, connector, D1, D3)
    assert spend(wh) == first and len(first) == 5


def test_fake_refuses_gaql_without_a_date_range(config):
    client = build_client(config())
    service = client.get_service("GoogleAdsService")
    from google.ads.googleads.errors import GoogleAdsException

    with pytest.raises(GoogleAdsException) as failure:
        list(service.search_stream(
            customer_id=CLIENT_A, query="SELECT segments.date, campaign.id FROM campaign"
        ))  # fmt: skip
    (error,) = failure.value.failure.errors
    assert error.error_code.query_error.name == "EXPECTED_FILTERS_ON_DATE_RANGE"
    service.transport.close()


def test_url_template_joins_tracking_template_and_final_url_suffix():
    assert url_template("", "") is None
    assert url_template(TEMPLATE, "") == TEMPLATE
    assert url_template("", "?utm_source=google") == "{lpurl}?utm_source=google"
    assert url_template("{lpurl}?a=1", "b={campaignid}") == "{lpurl}?a=1&b={campaignid}"


def test_config_from_env_reads_the_customers_and_hides_secrets(monkeypatch):
    monkeypatch.chdir(Path(__file__).parent)  # no stray .env
    for name in ("DEVELOPER_TOKEN", "CUSTOMER_IDS", "LOGIN_CUSTOMER_ID", "CLIENT_ID",
                 "CLIENT_SECRET", "REFRESH_TOKEN", "ACCESS_TOKEN", "ENDPOINT"):  # fmt: skip
        monkeypatch.delenv(f"CALLPATH_GOOGLE_ADS_{name}", raising=False)
    assert GoogleAdsConfig.from_env() is None

    monkeypatch.setenv("CALLPATH_GOOGLE_ADS_DEVELOPER_TOKEN", "s3cret-dev")
    monkeypatch.setenv("CALLPATH_GOOGLE_ADS_CUSTOMER_IDS", "111-222-3333, 4445556666")
    with pytest.raises(SourceError) as failure:  # no OAuth credentials yet
        GoogleAdsConfig.from_env()
    assert "s3cret-dev" not in str(failure.value)

    monkeypatch.setenv("CALLPATH_GOOGLE_ADS_LOGIN_CUSTOMER_ID", "999-000-1111")
    monkeypatch.setenv("CALLPATH_GOOGLE_ADS_CLIENT_ID", "id.apps.googleusercontent.com")
    monkeypatch.setenv("CALLPATH_GOOGLE_ADS_CLIENT_SECRET", "s3cret-client")
    monkeypatch.setenv("CALLPATH_GOOGLE_ADS_REFRESH_TOKEN", "s3cret-refresh")
    config = GoogleAdsConfig.from_env()
    assert config is not None
    assert config.customer_ids == ["1112223333", "4445556666"]
    assert config.login_customer_id == "9990001111"
    assert "s3cret" not in repr(config)
