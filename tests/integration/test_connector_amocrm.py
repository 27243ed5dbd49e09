"""amoCRM connector against the local fake amoCRM over loopback, landed into DuckDB."""

from __future__ import annotations

import json
import stat
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from connectors.amocrm import AmoCrmConfig, AmoCrmConnector
from connectors.base import SourceError
from connectors.fakes.amocrm import SESSION_FIELD_ID, FakeAmoCrm
from pipelines import land, warehouse

ACCOUNT = "acme.amocrm.ru"
NOW = datetime.now(UTC).replace(microsecond=0)
T0 = NOW - timedelta(days=2)  # leads change after T0; pulls start from SINCE
SINCE = T0 - timedelta(hours=1)
DEALS_SQL = (
    "select deal_id, status, amount, currency, closed_at, contact_id, contact_phone,"
    " responsible_user_id, utm_source, utm_medium, utm_campaign, session_id"
    " from raw.crm_deals_amocrm order by deal_id"
)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


@pytest.fixture
def fake() -> FakeAmoCrm:
    return FakeAmoCrm()


@pytest.fixture
def base_url(fake) -> Iterator[str]:
    with fake.serve() as url:
        yield url


@pytest.fixture
def wh(settings):
    with warehouse.connect(settings) as conn:
        yield conn


class Sleeps(list):
    """Records the waits the retries chose, and waits them (they are short here)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        time.sleep(seconds)


def config(base_url: str, **overrides) -> AmoCrmConfig:
    values = {
        "base_url": base_url,
        "account": ACCOUNT,
        "company_id": "acme",
        "retry_base_delay": 0.01,
        "retry_max_delay": 0.05,
        "timeout_seconds": 2.0,
        **overrides,
    }
    return AmoCrmConfig(**values)


def long_lived(fake: FakeAmoCrm, base_url: str, **overrides) -> AmoCrmConnector:
    return AmoCrmConnector(config(base_url, long_lived_token=fake.long_lived_token, **overrides))


def oauth_config(fake: FakeAmoCrm, base_url: str, tmp_path: Path, **overrides) -> AmoCrmConfig:
    access, refresh = fake.issue_pair()
    return config(
        base_url,
        client_id=fake.client_id,
        client_secret=fake.client_secret,
        redirect_uri=fake.redirect_uri,
        access_token=access,
        refresh_token=refresh,
        token_path=tmp_path / "secrets" / "amocrm.json",
        **overrides,
    )


def seed_four_leads(fake: FakeAmoCrm) -> None:
    fake.add_contact(7, phones=["+7 916 111-11-11"], updated_at=at(0))
    for n in range(1, 5):
        fake.add_lead(n, updated_at=at(n), price=1000 * n, contacts=[7])


# ---- pages, statuses, fields, contacts ----------------------------------------------


def test_leads_across_pages_follow_next_links_until_a_final_204(fake, base_url, wh):
    seed_four_leads(fake)
    with long_lived(fake, base_url, page_size=2) as amo:
        assert land.land_crm_deals(wh, amo, SINCE) == 4

    pages = [dict(r.query)["page"] for r in fake.requests_to("/api/v4/leads")]
    assert pages == ["1", "2", "3"]  # page 2 was full, so it offered page 3: a 204
    rows = wh.fetchall("select deal_id, amount, contact_phone from raw.crm_deals_amocrm")
    assert sorted(rows) == [(str(n), Decimal(1000 * n), "+79161111111") for n in range(1, 5)]
    first = dict(fake.requests_to("/api/v4/leads")[0].query)
    assert first["with"] == "contacts" and first["order[updated_at]"] == "asc"
    assert int(first["filter[updated_at][from]"]) == int((SINCE - timedelta(hours=2)).timestamp())


def test_won_lost_and_open_map_from_status_ids_with_closed_at_only_when_closed(fake, base_url, wh):
    fake.add_lead(1, updated_at=at(1), status="won", closed_at=at(0.5), price=5000)
    fake.add_lead(2, updated_at=at(2), status=143, closed_at=at(1.5))
    # reopened after a loss: amoCRM keeps the old closed_at
    fake.add_lead(3, updated_at=at(3), status="open", closed_at=at(2.5))
    fake.add_lead(4, updated_at=at(4), status="won", closed_at=None, price="120000")
    with long_lived(fake, base_url, currency="KZT") as amo:
        land.land_crm_deals(wh, amo, SINCE)

    got = [row[:5] for row in wh.fetchall(DEALS_SQL)]
    assert got == [
        ("1", "won", Decimal("5000.00"), "KZT", naive(at(0.5))),
        ("2", "lost", Decimal("0.00"), "KZT", naive(at(1.5))),
        ("3", "open", Decimal("0.00"), "KZT", None),
        ("4", "won", Decimal("120000.00"), "KZT", naive(at(4))),  # no closed_at: last change
    ]


def test_utm_fields_map_by_stock_code_and_by_a_configured_field_id(fake, base_url, wh):
    utm = {"utm_source": "yandex", "utm_medium": "cpc", "utm_campaign": "brand"}
    fake.add_lead(1, updated_at=at(1), utm=utm, session_id="s-42")
    fake.add_lead(2, updated_at=at(2))
    field_map = {
        "UTM_SOURCE": "utm_source",
        "UTM_MEDIUM": "utm_medium",
        "850005": "utm_campaign",  # by id, as for an account's own field
        str(SESSION_FIELD_ID): "session_id",
    }
    with long_lived(fake, base_url, field_map=field_map) as amo:
        land.land_crm_deals(wh, amo, SINCE)

    got = [row[8:] for row in wh.fetchall(DEALS_SQL)]
    assert got == [("yandex", "cpc", "brand", "s-42"), (None, None, None, None)]


def test_default_field_map_reads_amocrms_stock_utm_codes(fake, base_url):
    fake.add_lead(1, updated_at=at(1), utm={"utm_source": "google", "utm_campaign": "x"})
    with long_lived(fake, base_url) as amo:
        [deal] = amo.fetch(SINCE)
    assert (deal.utm_source, deal.utm_medium, deal.utm_campaign) == ("google", None, "x")


def test_contacts_with_several_phones_land_one_row_per_valid_phone(fake, base_url, wh):
    fake.add_contact(
        7,
        phones=["8 (916) 111-11-11", "+7 916 222-22-22", "not a phone", "79161111111"],
        name="Ivan",
        responsible_user_id=77,
        updated_at=at(1),
    )
    fake.add_contact(8, phones=["+7 495 123-45-67"], updated_at=at(2))
    fake.add_contact(9, phones=["+7 495 000-00-01"], updated_at=SINCE - timedelta(days=3))
    # the main contact is not the first one linked
    fake.add_lead(1, updated_at=at(3), contacts=[8, 7], main_contact=7, responsible_user_id=55)
    with long_lived(fake, base_url) as amo:
        assert land.land_crm_contacts(wh, amo, SINCE) == 3
        land.land_crm_deals(wh, amo, SINCE)

    contacts = wh.fetchall(
        "select contact_id, phone, name, responsible_user_id from raw.crm_contacts_amocrm"
        " order by 1, 2"
    )
    assert contacts == [
        ("7", "+79161111111", "Ivan", "77"),
        ("7", "+79162222222", "Ivan", "77"),
        ("8", "+74951234567", "Contact 8", "501"),
    ]
    [deal] = wh.fetchall(DEALS_SQL)
    assert deal[5:8] == ("7", "+79161111111", "55")


# ---- retries and failures ----------------------------------------------------------


def test_rate_limited_429_is_retried_after_the_hinted_wait(fake, base_url, wh):
    seed_four_leads(fake)
    fake.fail(429, retry_after=0.2, path="/api/v4/leads")
    sleeps = Sleeps()
    with AmoCrmConnector(
        config(base_url, long_lived_token=fake.long_lived_token), sleep=sleeps
    ) as amo:
        assert land.land_crm_deals(wh, amo, SINCE) == 4
    assert sleeps == [0.2]
    assert len(fake.requests_to("/api/v4/leads")) == 2


def test_server_errors_are_retried_and_the_pull_completes(fake, base_url, wh):
    seed_four_leads(fake)
    fake.fail(503, path="/api/v4/leads")
    fake.fail(502, path="/api/v4/leads", body="<html><body>502 Bad Gateway</body></html>")
    fake.fail(500, path="/api/v4/contacts")
    with long_lived(fake, base_url, page_size=2) as amo:
        assert land.land_crm_deals(wh, amo, SINCE) == 4
    assert wh.fetchone("select count(distinct deal_id) from raw.crm_deals_amocrm") == (4,)


def test_a_request_that_times_out_is_retried(fake, base_url, wh):
    seed_four_leads(fake)
    fake.fail(None, delay=1.0, path="/api/v4/leads")  # answers, but after the timeout
    with long_lived(fake, base_url, timeout_seconds=0.3) as amo:
        assert land.land_crm_deals(wh, amo, SINCE) == 4
    assert len(fake.requests_to("/api/v4/leads")) == 2


def test_an_outage_fails_naming_source_and_account_and_keeps_landed_rows(fake, base_url, wh):
    seed_four_leads(fake)
    with long_lived(fake, base_url, retry_attempts=3) as amo:
        land.land_crm_deals(wh, amo, SINCE)
        before = wh.fetchall(DEALS_SQL)
        fake.add_lead(1, updated_at=at(10), status="won", price=99)
        fake.fail(503, path="/api/v4/leads", times=3)
        with pytest.raises(SourceError) as failure:
            land.land_crm_deals(wh, amo, SINCE)

    message = str(failure.value)
    assert message.startswith(f"amocrm [{ACCOUNT}]: gave up after 3 attempts")
    assert "try again later" in message
    assert wh.fetchall(DEALS_SQL) == before


def test_an_ip_block_fails_at_once_with_what_to_do(fake, base_url, wh):
    seed_four_leads(fake)
    fake.fail(403, path="/api/v4/leads", body={"title": "Forbidden", "detail": "IP blocked"})
    with long_lived(fake, base_url) as amo, pytest.raises(SourceError) as failure:
        land.land_crm_deals(wh, amo, SINCE)
    message = str(failure.value)
    assert f"amocrm [{ACCOUNT}]: 403" in message and "IP blocked" in message
    assert "whitelist" in message and "pause scheduled runs" in message
    assert len(fake.requests_to("/api/v4/leads")) == 1  # retrying would extend a block
    assert wh.fetchone("select count(*) from raw.crm_deals_amocrm") == (0,)


def test_a_malformed_lead_fails_naming_it_and_lands_nothing(fake, base_url, wh):
    seed_four_leads(fake)
    fake.add_lead(5, updated_at=at(5), price="abc")
    with long_lived(fake, base_url, page_size=2) as amo, pytest.raises(SourceError) as failure:
        land.land_crm_deals(wh, amo, SINCE)
    message = str(failure.value)
    assert message.startswith(f"amocrm [{ACCOUNT}]: lead 5: price 'abc' is not an amount")
    assert "Nothing from this run was landed" in message
    assert wh.fetchone("select count(*) from raw.crm_deals_amocrm") == (0,)


def test_a_lead_in_an_unknown_status_fails_after_looking_at_the_pipelines_again(fake, base_url):
    fake.add_lead(1, updated_at=at(1), status=999)
    with long_lived(fake, base_url) as amo, pytest.raises(SourceError, match="lead 1: status 999"):
        list(amo.fetch(SINCE))
    assert len(fake.requests_to("/api/v4/leads/pipelines")) == 2


def test_a_refused_long_lived_token_says_to_issue_a_new_one(fake, base_url):
    refused = pytest.raises(SourceError, match="CALLPATH_AMOCRM_LONG_LIVED_TOKEN")
    with AmoCrmConnector(config(base_url, long_lived_token="revoked")) as amo, refused as failure:
        list(amo.fetch(SINCE))
    assert "revoked" not in str(failure.value)


# ---- OAuth ---------------------------------------------------------------------------


def test_expired_access_token_is_refreshed_and_the_new_pair_stored_before_use(
    fake, base_url, tmp_path, wh
):
    seed_four_leads(fake)
    cfg = oauth_config(fake, base_url, tmp_path, retry_attempts=2)
    old_refresh = cfg.refresh_token.get_secret_value()
    fake.expire_access_tokens()
    # The first call with the new token fails for good: the pair must be on disk anyway.
    fake.fail(None, path="/api/v4/leads/pipelines")  # the first passes: 401, expired
    fake.fail(503, path="/api/v4/leads/pipelines", times=2)
    with AmoCrmConnector(cfg) as amo, pytest.raises(SourceError):
        land.land_crm_deals(wh, amo, SINCE)

    assert fake.refreshes == 1
    stored = json.loads(cfg.token_path.read_text())
    assert stored["refresh_token"] != old_refresh
    assert stat.S_IMODE(cfg.token_path.stat().st_mode) == 0o600
    assert sorted(p.name for p in cfg.token_path.parent.iterdir()) == [
        "amocrm.json",
        "amocrm.json.lock",
    ]  # no temp file left behind
    # the old refresh token is spent: reusing it is refused
    reused = httpx.post(
        f"{base_url}/oauth2/access_token",
        json={
            "client_id": fake.client_id,
            "client_secret": fake.client_secret,
            "grant_type": "refresh_token",
            "refresh_token": old_refresh,
            "redirect_uri": fake.redirect_uri,
        },
    )
    assert reused.status_code == 400
    assert reused.headers["content-type"] == "application/problem+json"

    # A later run (same environment, old pair in it) picks the stored pair up.
    with AmoCrmConnector(cfg) as amo:
        assert land.land_crm_deals(wh, amo, SINCE) == 4
    assert fake.refreshes == 1


def test_a_new_pair_in_the_environment_wins_over_an_older_stored_one(fake, base_url, tmp_path):
    seed_four_leads(fake)
    first = oauth_config(fake, base_url, tmp_path)
    fake.expire_access_tokens()
    with AmoCrmConnector(first) as amo:
        assert len(list(amo.fetch(SINCE))) == 4
    fake.revoke_refresh_tokens()  # the integration was re-authorised
    fake.expire_access_tokens()
    again = oauth_config(fake, base_url, tmp_path)
    with AmoCrmConnector(again) as amo:
        assert len(list(amo.fetch(SINCE))) == 4
    assert fake.refreshes == 1


def test_two_runs_refreshing_at_once_spend_the_refresh_token_once(fake, base_url, tmp_path):
    seed_four_leads(fake)
    cfg = oauth_config(fake, base_url, tmp_path)
    fake.expire_access_tokens()
    runs = [AmoCrmConnector(cfg), AmoCrmConnector(cfg)]  # as two scheduled tasks would
    with ThreadPoolExecutor(2) as pool:
        counts = list(pool.map(lambda amo: len(list(amo.fetch(SINCE))), runs))
    for amo in runs:
        amo.close()
    # one refreshed; the other found the new pair on disk instead of spending the
    # (already spent) refresh token again
    assert counts == [4, 4] and fake.refreshes == 1


def test_only_a_refresh_token_is_enough_to_start(fake, base_url, tmp_path):
    seed_four_leads(fake)
    cfg = oauth_config(fake, base_url, tmp_path).model_copy(update={"access_token": None})
    with AmoCrmConnector(cfg) as amo:
        assert len(list(amo.fetch(SINCE))) == 4
    assert fake.refreshes == 1


def test_a_refused_refresh_fails_with_re_authorise_and_lands_nothing(fake, base_url, tmp_path, wh):
    seed_four_leads(fake)
    cfg = oauth_config(fake, base_url, tmp_path)
    fake.expire_access_tokens()
    fake.revoke_refresh_tokens()
    with AmoCrmConnector(cfg) as amo, pytest.raises(SourceError) as failure:
        land.land_crm_deals(wh, amo, SINCE)

    message = str(failure.value)
    assert message.startswith(f"amocrm [{ACCOUNT}]: amoCRM refused to refresh the access token")
    assert "Token has been revoked" in message and "Re-authorise the integration" in message
    secrets = [fake.client_secret, cfg.refresh_token.get_secret_value()]
    assert not any(s in message for s in secrets)
    assert not cfg.token_path.exists()
    assert wh.fetchone("select count(*) from raw.crm_deals_amocrm") == (0,)


def test_a_second_401_after_refreshing_fails_with_re_authorise(fake, base_url, tmp_path):
    seed_four_leads(fake)
    fake.fail(401, path="/api/v4/leads/pipelines", times=2)
    refused = pytest.raises(SourceError, match="Re-authorise the integration")
    with AmoCrmConnector(oauth_config(fake, base_url, tmp_path)) as amo, refused:
        list(amo.fetch(SINCE))
    assert fake.refreshes == 1


# ---- windows, lookback, idempotency, pace ---------------------------------------------


def test_landing_the_same_interval_twice_gives_the_same_rows(fake, base_url, wh):
    seed_four_leads(fake)
    with long_lived(fake, base_url, page_size=3) as amo:
        land.land_crm_deals(wh, amo, SINCE)
        land.land_crm_contacts(wh, amo, SINCE)
        first = (
            wh.fetchall(DEALS_SQL),
            wh.fetchall("select * exclude (_loaded_at) from raw.crm_contacts_amocrm"),
        )
        land.land_crm_deals(wh, amo, SINCE)
        land.land_crm_contacts(wh, amo, SINCE)
        second = (
            wh.fetchall(DEALS_SQL),
            wh.fetchall("select * exclude (_loaded_at) from raw.crm_contacts_amocrm"),
        )
    assert first == second and len(first[0]) == 4 and len(first[1]) == 1


def test_a_lookback_re_pull_updates_in_place_without_duplicates(fake, base_url, wh):
    seed_four_leads(fake)
    with long_lived(fake, base_url, lookback=timedelta(hours=3)) as amo:
        land.land_crm_deals(wh, amo, SINCE)
        fake.add_lead(4, updated_at=at(6), status="won", price=7000, contacts=[7])
        # the next run starts after the last; the lookback re-reads leads 2 and 3
        assert land.land_crm_deals(wh, amo, at(5)) == 3
        assert len(fake.requests_to("/api/v4/leads")) == 2

    rows = wh.fetchall("select deal_id, status, amount from raw.crm_deals_amocrm order by 1")
    assert rows == [
        ("1", "open", Decimal("1000.00")),
        ("2", "open", Decimal("2000.00")),
        ("3", "open", Decimal("3000.00")),
        ("4", "won", Decimal("7000.00")),
    ]


def test_an_account_that_ignores_the_filter_is_filtered_client_side():
    fake = FakeAmoCrm(ignore_updated_at_filter=True)
    seed_four_leads(fake)
    fake.add_lead(99, updated_at=SINCE - timedelta(days=30), price="not looked at")
    with fake.serve() as url, long_lived(fake, url) as amo:
        assert [d.deal_id for d in amo.fetch(SINCE)] == ["1", "2", "3", "4"]


def test_requests_keep_to_seven_per_second(fake, base_url):
    for n in range(1, 16):
        fake.add_lead(n, updated_at=at(n))
    with long_lived(fake, base_url, page_size=1) as amo:
        assert len(list(amo.fetch(SINCE))) == 15
    times = [r.at for r in fake.requests]
    # 1 pipelines + 15 pages + a 204: the first 7 may go at once, the rest at 7/s
    assert len(times) == 17
    assert times[-1] - times[0] >= (len(times) - 7) / 7 - 0.05


# ---- configuration -----------------------------------------------------------------


def test_from_env_is_none_until_an_account_is_configured(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no .env here
    for name in ("SUBDOMAIN", "BASE_URL"):
        monkeypatch.delenv(f"CALLPATH_AMOCRM_{name}", raising=False)
    assert AmoCrmConfig.from_env() is None

    monkeypatch.setenv("CALLPATH_AMOCRM_SUBDOMAIN", "acme")
    monkeypatch.setenv("CALLPATH_AMOCRM_COMPANY_ID", "acme")
    monkeypatch.setenv("CALLPATH_AMOCRM_CLIENT_SECRET", "top-secret-value")
    with pytest.raises(SourceError) as failure:
        AmoCrmConfig.from_env()
    assert "amocrm [acme]: incomplete configuration" in str(failure.value)
    assert "top-secret-value" not in str(failure.value)

    monkeypatch.setenv("CALLPATH_AMOCRM_LONG_LIVED_TOKEN", "llt")
    monkeypatch.delenv("CALLPATH_AMOCRM_CLIENT_SECRET")
    monkeypatch.setenv("CALLPATH_AMOCRM_FIELD_MAP", '{"123": "utm_source"}')
    monkeypatch.setenv("CALLPATH_AMOCRM_LOOKBACK", "PT6H")
    cfg = AmoCrmConfig.from_env()
    assert cfg is not None
    assert (cfg.url, cfg.account_name) == ("https://acme.amocrm.ru", "acme.amocrm.ru")
    assert cfg.field_map == {"123": "utm_source"} and cfg.lookback == timedelta(hours=6)
    assert "llt" not in repr(cfg)
