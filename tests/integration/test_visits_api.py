from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from realtime.app import create_app

URL = "https://acme.example/?utm_source=yandex&utm_medium=cpc&utm_campaign=70112233&yclid=99"


def visit(client, **body):
    return client.post("/v1/visits", json={"site_key": "acme-site", "page_url": URL, **body})


def test_a_visit_gets_a_session_a_visitor_and_a_displayable_number(api):
    client, store = api
    r = visit(client, referrer="https://yandex.ru/")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["number"].startswith("+7495555")
    assert body["number_display"].startswith("+7 (495) 555-")
    session = store.get_session("acme", body["session_id"])
    assert (session.utm_source, session.utm_medium, session.utm_campaign, session.yclid) == (
        "yandex",
        "cpc",
        "70112233",
        "99",
    )
    assert session.visitor_id == body["visitor_id"]


def test_a_returning_visitor_with_a_live_lease_keeps_session_and_number(api, clock):
    client, _ = api
    first = visit(client, visitor_id="v1").json()
    clock.advance(timedelta(minutes=15))  # inside the 20-minute hold
    again = visit(client, visitor_id="v1").json()
    assert again["session_id"] == first["session_id"]
    assert again["number"] == first["number"]
    assert again["lease_expires_at"] > first["lease_expires_at"]


def test_a_visitor_back_after_29_minutes_continues_the_session(api, clock):
    client, _ = api
    first = visit(client, visitor_id="v1").json()
    clock.advance(timedelta(minutes=29))
    assert visit(client, visitor_id="v1").json()["session_id"] == first["session_id"]


def test_thirty_minutes_of_silence_starts_a_new_session(api, clock):
    client, _ = api
    first = visit(client, visitor_id="v1").json()
    clock.advance(timedelta(minutes=31))
    assert visit(client, visitor_id="v1").json()["session_id"] != first["session_id"]


def test_two_live_visitors_never_share_a_number_while_free_ones_remain(api):
    client, _ = api
    numbers = [visit(client).json()["number"] for _ in range(3)]
    assert len(set(numbers)) == 3


def test_another_companys_session_id_starts_a_fresh_session(api):
    client, _ = api
    theirs = client.post("/v1/visits", json={"site_key": "globex-site", "page_url": URL}).json()
    ours = visit(client, session_id=theirs["session_id"]).json()
    assert ours["session_id"] != theirs["session_id"]
    assert ours["number"].startswith("+7495")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"page_url": URL}, "site_key"),
        ({"site_key": "acme-site"}, "page_url"),
        ({"site_key": "acme-site", "page_url": "not a url"}, "page_url"),
        ({"site_key": "acme-site", "page_url": URL, "visitor_id": "bad id!"}, "visitor_id"),
        ({"site_key": "acme-site", "page_url": URL, "surprise": 1}, "surprise"),
        ({"site_key": 5, "page_url": URL}, "site_key"),
    ],
)
def test_bad_visit_input_gets_422_naming_the_field(api, body, fragment):
    client, _ = api
    r = client.post("/v1/visits", json=body)
    assert r.status_code == 422
    assert fragment in r.text


def test_unknown_site_key_gets_404(api):
    client, _ = api
    r = client.post("/v1/visits", json={"site_key": "nope", "page_url": URL})
    assert r.status_code == 404
    assert "nope" in r.json()["message"]


def test_oversized_body_gets_413(api):
    client, _ = api
    r = client.post(
        "/v1/visits", json={"site_key": "acme-site", "page_url": URL, "referrer": "x" * 70_000}
    )
    assert r.status_code == 413


def _ip_seen(settings, store, clock, headers, client_addr):
    app = create_app(settings, store=store, clock=clock)
    with TestClient(app, client=(client_addr, 5000)) as client:
        body = client.post(
            "/v1/visits", json={"site_key": "acme-site", "page_url": URL}, headers=headers
        ).json()
    return store.get_session("acme", body["session_id"]).client_ip


def test_forwarded_for_is_believed_only_from_a_trusted_proxy(api, settings, clock):
    _, store = api
    headers = {"X-Forwarded-For": "1.2.3.4, 203.0.113.7"}
    assert _ip_seen(settings, store, clock, headers, "198.51.100.1") == "198.51.100.1"
    trusted = settings.model_copy(update={"trusted_proxies": ["10.0.0.0/8"]})
    assert _ip_seen(trusted, store, clock, headers, "10.1.2.3") == "203.0.113.7"
    spoof = {"X-Forwarded-For": "1.2.3.4, 10.0.0.9"}
    assert _ip_seen(trusted, store, clock, spoof, "10.1.2.3") == "1.2.3.4"
