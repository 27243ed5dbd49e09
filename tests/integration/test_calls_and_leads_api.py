"""Calls, leads, callbacks, live report and the generic PBX intake through the REST API."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from realtime.auth.service import create_key
from realtime.domain import WebhookSubscription
from tests.conftest import T0, mango_form

TS = int(T0.timestamp())
CALLER = "79161234567"


@pytest.fixture
def keys(api):
    _, store = api
    return {c: {"Authorization": f"Bearer {create_key(store, c)[1]}"} for c in ("acme", "globex")}


def visit(client, source="yandex", campaign="70112233"):
    url = f"https://acme.example/?utm_source={source}&utm_medium=cpc&utm_campaign={campaign}"
    r = client.post(
        "/v1/visits",
        json={"site_key": "acme-site", "page_url": url, "referrer": "https://yandex.ru/"},
    )
    assert r.status_code == 200, r.text
    return r.json()


def mango_call(client, entry, line, offset=60, caller=CALLER, talk=45, legs=1, key="acme"):
    """A whole inbound call: Appeared, (Connected,) Disconnected on each leg, then summary."""
    start = TS + offset
    for leg in range(1, legs + 1):
        base = {
            "entry_id": entry,
            "call_id": f"{entry}-{leg}",
            "from": {"number": caller},
            "to": {"line_number": line, "extension": str(100 + leg)},
        }
        t = start + (leg - 1) * 20
        states = [("Appeared", 1, t, "ivr")]
        if talk:
            states.append(("Connected", 2, t + 10, "abonent"))
        states.append(("Disconnected", 3, t + 10 + talk, "abonent"))
        for state, seq, at, location in states:
            event = {
                **base,
                "timestamp": str(at),
                "seq": str(seq),
                "call_state": state,
                "location": location,
            }
            r = client.post(
                "/mango/events/call", data=mango_form(event, f"{key}-key", f"{key}-salt")
            )
            assert r.status_code == 200, r.text
    summary = {
        "entry_id": entry,
        "call_direction": "1",
        "from": {"number": caller},
        "to": {"extension": "101"},
        "line_number": line,
        "create_time": str(start),
        "forward_time": str(start + 5) if talk else "0",
        "talk_time": str(start + 10) if talk else "0",
        "end_time": str(start + 10 + talk),
        "entry_result": "1" if talk else "0",
    }
    r = client.post("/mango/events/summary", data=mango_form(summary, f"{key}-key", f"{key}-salt"))
    assert r.status_code == 200, r.text


def test_a_person_who_calls_twice_and_fills_a_form_is_one_lead(api, keys, clock):
    client, store = api
    v = visit(client)
    line = v["number"].lstrip("+")
    mango_call(client, "E1", line, offset=60)
    mango_call(client, "E2", line, offset=3600)
    clock.advance(timedelta(hours=2))
    r = client.post(
        "/v1/leads",
        json={
            "type": "form",
            "site_key": "acme-site",
            "visitor_id": v["visitor_id"],
            "phone": "8 916 123-45-67",
            "name": "Anna",
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["created"] is False
    leads = client.get("/v1/leads", headers=keys["acme"]).json()["items"]
    assert len(leads) == 1
    lead = leads[0]
    assert [t["type"] for t in lead["touches"]] == ["call", "call", "form"]
    assert lead["first_touch_type"] == "call" and lead["session_id"] == v["session_id"]
    assert lead["name"] == "Anna"
    assert store.get_call("acme", "E2").lead_id == lead["id"]


def test_a_touch_after_the_dedupe_window_starts_a_new_lead(api, keys, clock):
    client, _ = api
    body = {"type": "form", "site_key": "acme-site", "phone": "+79161234567"}
    first = client.post("/v1/leads", json=body).json()
    clock.advance(timedelta(days=29, hours=23))
    assert client.post("/v1/leads", json=body).json()["lead_id"] == first["lead_id"]
    clock.advance(timedelta(days=30, minutes=1))  # 30 days after the last touch
    third = client.post("/v1/leads", json=body).json()
    assert third["created"] is True and third["lead_id"] != first["lead_id"]


def test_a_retried_form_with_the_same_idempotency_key_is_stored_once(api, keys):
    client, store = api
    body = {
        "type": "callback",
        "site_key": "acme-site",
        "phone": "+79161234567",
        "idempotency_key": "req-42",
    }
    a = client.post("/v1/leads", json=body).json()
    b = client.post("/v1/leads", json=body).json()
    assert a["lead_id"] == b["lead_id"] and a["callback_task_id"] == b["callback_task_id"]
    assert len(store.get_lead("acme", a["lead_id"]).touches) == 1
    assert len(client.get("/v1/callbacks", headers=keys["acme"]).json()) == 1


def test_a_callback_request_creates_a_task_that_can_be_closed(api, keys):
    client, _ = api
    r = client.post(
        "/v1/leads", json={"type": "callback", "site_key": "acme-site", "phone": "+7 916 765-43-21"}
    )
    task_id = r.json()["callback_task_id"]
    pending = client.get("/v1/callbacks?status=pending", headers=keys["acme"]).json()
    assert [t["id"] for t in pending] == [task_id]
    assert pending[0]["phone"] == "+79167654321"
    assert client.post(f"/v1/callbacks/{task_id}/done", headers=keys["globex"]).status_code == 404
    done = client.post(f"/v1/callbacks/{task_id}/done", headers=keys["acme"]).json()
    assert done["status"] == "done"
    assert client.get("/v1/callbacks?status=pending", headers=keys["acme"]).json() == []


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"type": "form", "site_key": "acme-site"}, 422, "phone or an email"),
        (
            {"type": "callback", "site_key": "acme-site", "email": "a@b.example"},
            422,
            "needs a phone",
        ),
        ({"type": "form", "site_key": "acme-site", "phone": "12"}, 400, "not a valid phone"),
        ({"type": "form", "site_key": "acme-site", "email": "not-an-email"}, 422, "email"),
        ({"type": "fax", "site_key": "acme-site", "phone": "+79161234567"}, 422, "type"),
        ({"type": "form", "site_key": "nope", "phone": "+79161234567"}, 404, "nope"),
    ],
)
def test_bad_lead_input_is_refused_with_a_reason(api, body, status, fragment):
    client, _ = api
    r = client.post("/v1/leads", json=body)
    assert r.status_code == status
    assert fragment in r.text


def test_calls_list_filters_paginates_and_exports_csv(api, keys):
    client, _ = api
    yandex = visit(client, "yandex", "70112233")["number"].lstrip("+")
    google = visit(client, "google", "555")["number"].lstrip("+")
    mango_call(client, "E1", yandex, offset=60, talk=45)
    mango_call(client, "E2", google, offset=120, talk=0, caller="79160000002")
    mango_call(client, "E3", yandex, offset=180, talk=10, caller="79160000003")
    h = keys["acme"]
    ids = lambda r: [c["entry_id"] for c in r.json()["items"]]  # noqa: E731
    assert ids(client.get("/v1/calls", headers=h)) == ["E1", "E2", "E3"]
    assert ids(client.get("/v1/calls?utm_source=yandex", headers=h)) == ["E1", "E3"]
    assert ids(client.get("/v1/calls?missed=true", headers=h)) == ["E2"]
    assert ids(client.get("/v1/calls?target=true", headers=h)) == ["E1"]
    assert ids(client.get("/v1/calls?utm_campaign=555", headers=h)) == ["E2"]
    seen, cursor = [], None
    while True:
        page = client.get("/v1/calls", params={"limit": 2, "cursor": cursor}, headers=h).json()
        seen += [c["entry_id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ["E1", "E2", "E3"]
    r = client.get("/v1/calls?format=csv", headers=h)
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["entry_id"] for row in rows] == ["E1", "E2", "E3"]
    assert rows[0]["utm_campaign"] == "70112233" and rows[0]["talk_seconds"] == "45"
    assert client.get("/v1/calls?cursor=garbage!", headers=h).status_code == 400


def test_calls_are_scoped_to_the_key_and_tags_replace(api, keys):
    client, _ = api
    mango_call(client, "E1", visit(client)["number"].lstrip("+"))
    assert client.get("/v1/calls/E1").status_code == 401
    assert client.get("/v1/calls/E1", headers=keys["globex"]).status_code == 404
    assert client.get("/v1/calls", headers=keys["globex"]).json()["items"] == []
    r = client.put(
        "/v1/calls/E1/tags", json={"tags": ["quality", "quality", "vip"]}, headers=keys["acme"]
    )
    assert r.json()["tags"] == ["quality", "vip"]
    mango_call(client, "E1", "74955550000")  # a late duplicate event keeps the tags
    assert client.get("/v1/calls/E1", headers=keys["acme"]).json()["tags"] == ["quality", "vip"]
    assert (
        client.put("/v1/calls/E1/tags", json={"tags": ["x" * 51]}, headers=keys["acme"]).status_code
        == 422
    )
    assert (
        client.put("/v1/calls/E1/tags", json={"tags": []}, headers=keys["globex"]).status_code
        == 404
    )


def test_transfers_are_one_call_and_ivr_only_calls_are_missed(api, keys):
    client, store = api
    line = visit(client)["number"].lstrip("+")
    mango_call(client, "T1", line, legs=3, talk=40)
    mango_call(client, "I1", line, offset=400, talk=0, caller="79160000009")
    transfer = store.get_call("acme", "T1")
    assert len({s["call_id"] for s in transfer.states}) == 3
    assert transfer.talk_seconds == 40 and not transfer.is_missed
    ivr = store.get_call("acme", "I1")
    assert ivr.is_missed and not ivr.is_target and ivr.answered_at is None


def test_first_call_depth_counts_only_recent_calls(api):
    client, store = api
    company = store.get_company("acme")
    store._conn.execute(
        "update companies set doc = ? where id = 'acme'",
        (company.model_copy(update={"first_call_depth_days": 7}).model_dump_json(),),
    )
    line = "74955550000"
    mango_call(client, "D1", line, offset=0)
    mango_call(client, "D2", line, offset=3 * 86400)
    mango_call(client, "D3", line, offset=20 * 86400)
    assert [store.get_call("acme", e).is_first_call for e in ("D1", "D2", "D3")] == [
        True,
        False,
        True,
    ]


def test_webhook_messages_are_queued_once_per_transition(api):
    client, store = api
    store.save_subscription(
        WebhookSubscription(
            id="W1",
            company_id="acme",
            url="https://hooks.example/cp",
            secret="s",
            created_at=T0,
            events=["call.started", "call.answered", "call.ended", "call.missed", "lead.created"],
        )
    )
    line = visit(client)["number"].lstrip("+")
    mango_call(client, "E1", line)
    mango_call(client, "E1", line)  # every event again: duplicates
    mango_call(client, "M1", line, offset=500, talk=0, caller="79160000007")
    events = sorted(
        (m.payload.get("entry_id", "lead"), m.event)
        for m in store.list_messages("acme", None, 100)
    )
    assert events == sorted(
        [
            ("E1", "call.started"),
            ("E1", "call.answered"),
            ("E1", "call.ended"),
            ("M1", "call.started"),
            ("M1", "call.ended"),
            ("M1", "call.missed"),
            ("lead", "lead.created"),
            ("lead", "lead.created"),
        ]
    )
    ended = next(
        m
        for m in store.list_messages("acme", None, 100)
        if m.event == "call.ended" and m.payload["entry_id"] == "E1"
    )
    assert ended.payload["utm_source"] == "yandex" and ended.payload["is_target"] is True
    assert ended.payload["talk_seconds"] == 45 and ended.payload["is_first_call"] is True
    assert ended.payload["landing_page"].startswith("https://acme.example/")


def test_recordings_attach_to_their_call(api):
    client, store = api
    mango_call(client, "R1", "74955550000")
    for state, seq in (("Started", 1), ("Completed", 2)):
        event = {
            "recording_id": "rec-9",
            "recording_state": state,
            "seq": str(seq),
            "entry_id": "R1",
            "call_id": "R1-1",
            "timestamp": str(TS + 70),
        }
        assert client.post("/mango/events/recording", data=mango_form(event)).status_code == 200
    added = {
        "entry_id": "R1",
        "recording_id": "rec-9",
        "timestamp": str(TS + 80),
        "product_id": "1",
        "user_id": "2",
    }
    assert client.post("/mango/events/record/added", data=mango_form(added)).status_code == 200
    assert store.get_call("acme", "R1").recording_ids == ["rec-9"]


def test_route_results_are_stored_by_command(api):
    client, store = api
    body = {"command_id": "cmd-1", "result": "1000"}
    assert client.post("/mango/result/route", data=mango_form(body)).json()["duplicate"] is False
    assert client.post("/mango/result/route", data=mango_form(body)).json()["duplicate"] is True
    assert len(store.list_call_events("acme", "command:cmd-1")) == 1


def test_generic_pbx_events_make_a_classified_attributed_call(api, keys):
    client, store = api
    v = visit(client)
    at = T0 + timedelta(minutes=1)
    events = [
        ("started", at),
        ("answered", at + timedelta(seconds=8)),
        ("ended", at + timedelta(seconds=98)),
    ]
    for event, when in events:
        body = {
            "event": event,
            "call_id": "x1",
            "at": when.isoformat(),
            "caller": "+79161234567",
            "tracking_number": v["number"],
            "employee": "7",
        }
        r = client.post("/v1/pbx/events", json=body, headers=keys["acme"])
        assert r.status_code == 200 and r.json()["duplicate"] is False
    again = client.post("/v1/pbx/events", json=body, headers=keys["acme"])
    assert again.json()["duplicate"] is True
    call = store.get_call("acme", "pbx:x1")
    assert (call.session_id, call.talk_seconds, call.wait_seconds) == (v["session_id"], 90, 8)
    assert call.is_target and call.employee_extension == "7"
    assert client.post("/v1/pbx/events", json=body).status_code == 401
    naive = {**body, "at": "2026-11-18T09:00:00"}
    assert client.post("/v1/pbx/events", json=naive, headers=keys["acme"]).status_code == 422


def test_live_report_counts_today_by_source(api, keys, clock):
    client, _ = api
    mango_call(client, "E1", visit(client, "yandex")["number"].lstrip("+"), talk=45)
    mango_call(
        client, "E2", visit(client, "google")["number"].lstrip("+"), talk=0, caller="79160000002"
    )
    mango_call(client, "E3", "74955559999", caller="79160000003")  # billboard
    report = client.get(
        "/v1/reports/live", params={"date": T0.date().isoformat()}, headers=keys["acme"]
    ).json()
    by_source = {row["source"]: row for row in report["sources"]}
    assert by_source["yandex"] == {
        "source": "yandex",
        "calls": 1,
        "target_calls": 1,
        "missed_calls": 0,
        "leads": 1,
    }
    assert by_source["google"]["missed_calls"] == 1
    assert by_source["offline/billboard"]["calls"] == 1
    assert report["totals"]["calls"] == 3 and report["totals"]["leads"] == 3
    other = client.get(
        "/v1/reports/live", params={"date": T0.date().isoformat()}, headers=keys["globex"]
    ).json()
    assert other["totals"]["calls"] == 0
