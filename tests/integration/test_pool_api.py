"""The pool through the HTTP API: regions, bots, floods, policies, the advisor endpoint."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from realtime.app import create_app
from realtime.auth.service import create_key
from realtime.domain import Site
from realtime.pool.geo import build_mmdb
from realtime.store.sqlite import SQLiteEventStore
from tests.conftest import MOW_NUMBERS, SPE_NUMBERS, mango_form, seed_tenants

URL = "https://acme.example/?utm_source=google&utm_medium=cpc"
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"


@pytest.fixture
def geo_api(settings, clock, pool_store, tmp_path):
    """Visitors arrive through a trusted proxy that forwards their real IP."""
    mmdb = build_mmdb(
        tmp_path / "geo.mmdb",
        {"10.1.0.0/16": "RU-MOW", "10.2.0.0/16": "RU-SPE", "10.3.0.0/16": "RU-NVS"},
    )
    settings = settings.model_copy(
        update={
            "geoip_path": mmdb,
            "trusted_proxies": ["127.0.0.1"],
            "new_sessions_per_ip_per_minute": 5,
        }
    )
    store = SQLiteEventStore(settings.sqlite_path())
    seed_tenants(store, pool_store)
    app = create_app(settings, store=store, clock=clock, pool=pool_store)
    with TestClient(app, client=("127.0.0.1", 5000)) as client:
        yield client, store
    store.close()


def visit(client, ip, site_key="acme-site", ua=CHROME, **extra):
    return client.post(
        "/v1/visits",
        json={"site_key": site_key, "page_url": URL, **extra},
        headers={"X-Forwarded-For": ip, "User-Agent": ua},
    )


def test_visitor_gets_a_number_of_their_own_region(geo_api):
    client, store = geo_api
    body = visit(client, "10.2.0.7").json()
    assert body["number"] in SPE_NUMBERS
    assert store.get_session("acme", body["session_id"]).region == "RU-SPE"


def test_a_region_without_numbers_falls_back_to_the_site_default(geo_api):
    client, _ = geo_api
    assert visit(client, "10.3.0.7").json()["number"] in MOW_NUMBERS  # RU-NVS has none
    assert visit(client, "192.0.2.1").json()["number"] in MOW_NUMBERS  # unknown IP


def test_home_region_overrides_the_visitors_region(geo_api):
    client, store = geo_api
    store.create_site(
        Site(
            id="site_home",
            company_id="acme",
            site_key="acme-home",
            domain="h.example",
            home_region="RU-SPE",
        )
    )
    assert visit(client, "10.1.0.7", site_key="acme-home").json()["number"] in SPE_NUMBERS


def test_bots_get_the_fallback_number_and_drain_nothing(geo_api, pool_store):
    client, _ = geo_api
    body = visit(client, "10.1.0.9", ua="Mozilla/5.0 (compatible; YandexBot/3.0)").json()
    assert body["number"] == "+74950000000"
    assert body["lease_expires_at"] is None
    assert all(s.company_id is None for s in pool_store.list_states() if s.kind == "dynamic")


def test_an_ip_opening_too_many_sessions_gets_the_fallback_number(geo_api):
    client, _ = geo_api
    numbers = [visit(client, "10.1.0.50").json()["number"] for _ in range(7)]
    assert numbers[-1] == "+74950000000"
    assert numbers[:3] == sorted(set(numbers[:3]))  # three real, distinct numbers first
    assert visit(client, "10.1.0.51").json()["number"] != "+74950000000"


def test_the_same_visitor_keeps_the_same_live_lease(geo_api):
    client, _ = geo_api
    first = visit(client, "10.1.0.60", visitor_id="v1").json()
    again = [visit(client, "10.1.0.60", visitor_id="v1").json() for _ in range(10)]
    assert {b["number"] for b in again} == {first["number"]}
    assert {b["session_id"] for b in again} == {first["session_id"]}


def test_fallback_policy_shows_the_static_fallback_when_exhausted(geo_api, clock, pool_store):
    client, store = geo_api
    store.create_site(
        Site(
            id="site_fb",
            company_id="acme",
            site_key="acme-fb",
            domain="f.example",
            exhaustion_policy="fallback",
            fallback_number="+74951112233",
        )
    )
    numbers = [visit(client, f"10.1.0.{i}", site_key="acme-fb").json()["number"] for i in range(4)]
    assert sorted(numbers[:3]) == MOW_NUMBERS
    assert numbers[3] == "+74951112233"
    stats = pool_store.stats("acme", clock.now(), clock.now() - timedelta(days=1))
    assert stats.exhaustion_events == 1


def test_ping_keeps_the_number_past_the_hold(geo_api, clock):
    client, _ = geo_api
    body = visit(client, "10.1.0.70").json()
    for _ in range(3):
        clock.advance(timedelta(minutes=15))
        ping = client.post(f"/v1/visits/{body['session_id']}/ping", json={"site_key": "acme-site"})
        assert ping.status_code == 200
        assert ping.json()["number"] == body["number"]
    assert ping.json()["lease_expires_at"] > body["lease_expires_at"]


def test_ping_of_an_unknown_or_foreign_session_is_404(geo_api):
    client, _ = geo_api
    theirs = visit(client, "10.2.0.80", site_key="globex-site").json()
    r = client.post(f"/v1/visits/{theirs['session_id']}/ping", json={"site_key": "acme-site"})
    assert r.status_code == 404
    r = client.post("/v1/visits/nope/ping", json={"site_key": "acme-site"})
    assert r.status_code == 404


def test_a_call_to_a_quarantined_number_is_a_stray_call_for_its_former_company(
    geo_api, clock, pool_store, settings
):
    client, store = geo_api
    number = visit(client, "10.1.0.90").json()["number"]
    clock.advance(timedelta(days=15))
    (released,) = pool_store.sweep(clock.now(), settings.pool_policy())
    assert released.number == number
    clock.advance(timedelta(days=1))
    ts = int(clock.now().timestamp())
    event = {
        "entry_id": "S1",
        "call_id": "S1-1",
        "timestamp": str(ts),
        "seq": "1",
        "call_state": "Appeared",
        "from": {"number": "79161234567"},
        "to": {"line_number": number.lstrip("+")},
    }
    assert client.post("/mango/events/call", data=mango_form(event)).status_code == 200
    call = store.get_call("acme", "S1")
    assert (call.attribution_reason, call.session_id) == ("stray", None)


def test_pool_endpoint_reports_size_use_and_a_recommendation(geo_api, clock):
    client, store = geo_api
    _, key = create_key(store, "acme")
    for i in range(3):
        visit(client, f"10.1.1.{i}")
    r = client.get("/v1/sites/site_acme/pool", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    body = r.json()
    mow = {x["region"]: x for x in body["regions"]}["RU-MOW"]
    assert (mow["size"], mow["leased_now"], mow["utilisation"]) == (3, 3, 1.0)
    assert mow["peak_arrivals_per_hour"] == 3 and mow["mean_hold_minutes"] == 20
    assert body["recommended_size"] >= 1


def test_pool_endpoint_needs_a_key_and_hides_other_companies_sites(geo_api):
    client, store = geo_api
    _, acme_key = create_key(store, "acme")
    assert client.get("/v1/sites/site_acme/pool").status_code == 401
    assert (
        client.get(
            "/v1/sites/site_acme/pool", headers={"Authorization": "Bearer cp_forged"}
        ).status_code
        == 401
    )
    r = client.get("/v1/sites/site_globex/pool", headers={"X-Api-Key": acme_key})
    assert r.status_code == 404
    assert "globex" not in r.text.replace("site_globex", "")
