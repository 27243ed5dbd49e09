"""Mango VPBX events: signature, typing, dedupe, ordering, attribution."""

from __future__ import annotations

import json

from tests.conftest import T0, mango_form

TS = int(T0.timestamp())


def call_event(seq, state, ts_offset=0, strings=True, line="74955550000", entry="E1", **extra):
    value = str if strings else int
    payload = {
        "entry_id": entry,
        "call_id": f"{entry}-1",
        "timestamp": value(TS + ts_offset),
        "seq": value(seq),
        "call_state": state,
        "location": "abonent",
        "from": {"number": "79161234567" if strings else 79161234567},
        "to": {"line_number": line, "extension": "101"},
        "dct": {"number": line, "type": "1"},
    }
    return {**payload, **extra}


def summary(entry="E1", talk=60, line="74955550000"):
    return {
        "entry_id": entry,
        "call_direction": "1",
        "from": {"number": "79161234567"},
        "to": {"extension": "101"},
        "line_number": line,
        "create_time": str(TS),
        "forward_time": str(TS + 5) if talk else "0",
        "talk_time": str(TS + 10) if talk else "0",
        "end_time": str(TS + 10 + talk),
        "entry_result": "1" if talk else "0",
        "disconnect_reason": "1110",
    }


def post(client, path, form):
    return client.post(path, data=form)


def test_signed_event_with_string_numbers_is_stored_and_builds_a_call(api):
    client, store = api
    r = post(client, "/mango/events/call", mango_form(call_event(1, "Appeared")))
    assert r.status_code == 200, r.text
    call = store.get_call("acme", "E1")
    assert call.tracking_number == "+74955550000"
    assert call.caller_number == "+79161234567"


def test_integer_typed_numbers_are_accepted_too(api):
    client, store = api
    r = post(client, "/mango/events/call", mango_form(call_event(1, "Appeared", strings=False)))
    assert r.status_code == 200, r.text
    assert store.get_call("acme", "E1").caller_number == "+79161234567"


def test_forged_signature_is_refused_and_nothing_stored(api):
    client, store = api
    form = mango_form(call_event(1, "Appeared"), salt="wrong-salt")
    r = post(client, "/mango/events/call", form)
    assert r.status_code == 401
    assert store.list_call_events("acme", "E1") == []
    assert store.get_call("acme", "E1") is None


def test_tampered_json_is_refused(api):
    client, store = api
    form = mango_form(call_event(1, "Appeared"))
    form["json"] = form["json"].replace("79161234567", "79990000000")
    assert post(client, "/mango/events/call", form).status_code == 401
    assert store.list_call_events("acme", "E1") == []


def test_missing_signature_or_key_is_refused(api):
    client, store = api
    form = mango_form(call_event(1, "Appeared"))
    assert (
        post(
            client, "/mango/events/call", {k: v for k, v in form.items() if k != "sign"}
        ).status_code
        == 401
    )
    assert (
        post(client, "/mango/events/call", {**form, "vpbx_api_key": "unknown"}).status_code == 401
    )
    assert store.list_call_events("acme", "E1") == []


def test_another_companys_key_cannot_sign_for_us(api):
    client, store = api
    form = mango_form(call_event(1, "Appeared"), key="globex-key", salt="globex-salt")
    assert post(client, "/mango/events/call", form).status_code == 200
    assert store.get_call("acme", "E1") is None
    call = store.get_call("globex", "E1")
    assert call.attribution_reason == "unknown_number"  # acme's number means nothing to globex


def test_malformed_json_gets_400_with_a_reason(api):
    client, store = api
    r = post(client, "/mango/events/call", mango_form("{not json"))
    assert r.status_code == 400
    assert store.list_call_events("acme", "E1") == []
    assert "not valid JSON" in r.json()["message"]


def test_event_missing_required_fields_gets_400_naming_the_field(api):
    client, _ = api
    payload = call_event(1, "Appeared")
    del payload["seq"]
    r = post(client, "/mango/events/call", mango_form(payload))
    assert r.status_code == 400
    assert "seq" in r.json()["message"]


def test_wrong_type_gets_400(api):
    client, _ = api
    payload = {**call_event(1, "Appeared"), "seq": "one"}
    r = post(client, "/mango/events/call", mango_form(payload))
    assert "seq" in r.json()["message"]
    assert r.status_code == 400


def test_non_form_body_gets_400(api):
    client, _ = api
    r = client.post("/mango/events/call", json={"json": "{}"})
    assert r.status_code == 400


def test_duplicate_event_is_stored_once(api):
    client, store = api
    form = mango_form(call_event(1, "Appeared"))
    assert post(client, "/mango/events/call", form).json()["duplicate"] is False
    assert post(client, "/mango/events/call", form).json()["duplicate"] is True
    assert len(store.list_call_events("acme", "E1")) == 1


def test_out_of_order_events_give_the_same_call(api):
    client, store = api
    for seq, state, offset in [(3, "Disconnected", 70), (1, "Appeared", 0), (2, "Connected", 10)]:
        post(client, "/mango/events/call", mango_form(call_event(seq, state, offset)))
    call = store.get_call("acme", "E1")
    assert [s["state"] for s in call.states] == ["Appeared", "Connected", "Disconnected"]
    assert call.talk_seconds == 60
    assert call.wait_seconds == 10
    assert not call.is_missed


def test_summary_sets_talk_time_and_target_flag(api):
    client, store = api
    post(client, "/mango/events/call", mango_form(call_event(1, "Appeared")))
    post(client, "/mango/events/summary", mango_form(summary(talk=45)))
    call = store.get_call("acme", "E1")
    assert (call.talk_seconds, call.wait_seconds, call.is_target, call.is_missed) == (
        45,
        10,
        True,
        False,
    )


def test_missed_call_is_flagged_missed_and_not_target(api):
    client, store = api
    post(client, "/mango/events/summary", mango_form(summary(talk=0)))
    call = store.get_call("acme", "E1")
    assert call.is_missed and not call.is_target and call.talk_seconds == 0


def test_call_is_attributed_to_the_session_holding_the_number(api, clock):
    client, store = api
    visit = client.post(
        "/v1/visits",
        json={"site_key": "acme-site", "page_url": "https://acme.example/?utm_source=google"},
    ).json()
    line = visit["number"].lstrip("+")
    post(
        client, "/mango/events/call", mango_form(call_event(1, "Appeared", ts_offset=60, line=line))
    )
    call = store.get_call("acme", "E1")
    assert call.session_id == visit["session_id"]
    assert call.attribution_reason == "lease"
    assert call.is_first_call


def test_calls_to_static_unknown_and_unleased_numbers_are_kept_with_a_reason(api, clock):
    client, store = api
    # A visit binds +74955550000 to acme; an hour later its lease is long over.
    client.post("/v1/visits", json={"site_key": "acme-site", "page_url": "https://acme.example/"})
    cases = {
        "E1": ("74955559999", "static:offline/billboard"),
        "E2": ("74950000000", "unknown_number"),
        "E3": ("74955550000", "no_lease"),
        "E4": ("74955550002", "unknown_number"),  # inventory, never bound to acme
        "E5": ("78125559999", "unknown_number"),  # globex's static number
    }
    for entry, (line, _) in cases.items():
        event = call_event(1, "Appeared", ts_offset=3600, line=line, entry=entry)
        post(client, "/mango/events/call", mango_form(event))
    for entry, (_, reason) in cases.items():
        call = store.get_call("acme", entry)
        assert (entry, call.attribution_reason) == (entry, reason)
        assert call.session_id is None


def test_second_call_from_the_same_caller_is_not_first(api):
    client, store = api
    post(client, "/mango/events/call", mango_form(call_event(1, "Appeared", entry="E1")))
    post(
        client,
        "/mango/events/call",
        mango_form(call_event(1, "Appeared", ts_offset=3600, entry="E2")),
    )
    assert store.get_call("acme", "E1").is_first_call
    assert not store.get_call("acme", "E2").is_first_call


def test_json_field_is_verified_byte_for_byte_as_received(api):
    client, store = api
    pretty = json.dumps(call_event(1, "Appeared"), indent=2, ensure_ascii=False)
    assert post(client, "/mango/events/call", mango_form(pretty)).status_code == 200
    assert store.get_call("acme", "E1") is not None


def test_an_oversized_event_is_refused_before_it_is_read(api):
    client, store = api
    event = call_event(1, "Appeared", padding="x" * 70_000)
    r = post(client, "/mango/events/call", mango_form(event))
    assert r.status_code == 413
    assert store.list_call_events("acme", "E1") == []


def test_a_replayed_event_changes_nothing(api):
    """Mango signs no timestamp, so a replay is indistinguishable from Mango's own retry:
    it is acknowledged as a duplicate and stores nothing new."""
    client, store = api
    form = mango_form(call_event(1, "Appeared"))
    post(client, "/mango/events/call", form)
    before = store.get_call("acme", "E1")
    for _ in range(3):
        assert post(client, "/mango/events/call", form).json() == {
            "result": "ok",
            "duplicate": True,
        }
    assert store.get_call("acme", "E1") == before
    assert len(store.list_call_events("acme", "E1")) == 1
