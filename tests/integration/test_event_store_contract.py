"""One contract, every backend: SQLite, mongomock, and a real MongoDB when
CALLPATH_TEST_MONGODB_URI is set. mongomock is an in-memory imitation of pymongo's
API; it checks our queries and indexes, not MongoDB's server behaviour."""

from __future__ import annotations

from datetime import timedelta

import pytest

from realtime.domain import (
    Call,
    CallbackTask,
    CallEvent,
    Changes,
    Company,
    CrmContact,
    CrmUserExtension,
    Lead,
    LeadTouch,
    Lease,
    OutboxMessage,
    RedirectConfig,
    RedirectDecision,
    Session,
    WebhookSubscription,
)
from realtime.store import StoreError
from tests.conftest import ACME, T0, seed_tenants


@pytest.fixture
def seeded(store):
    seed_tenants(store)
    return store


def test_company_lookup_by_mango_key_finds_only_that_company(seeded):
    assert seeded.find_company_by_mango_key("acme-key").id == "acme"
    assert seeded.find_company_by_mango_key("globex-key").id == "globex"
    assert seeded.find_company_by_mango_key("nope") is None
    assert [c.id for c in seeded.list_companies()] == ["acme", "globex"]


def test_duplicate_company_or_site_key_is_refused(seeded):
    with pytest.raises(StoreError):
        seeded.create_company(ACME)
    with pytest.raises(StoreError):
        seeded.create_company(Company(id="other", name="x", mango_api_key="acme-key"))


def _lease(i: int, number: str, start_min: int, end_min: int, company: str = "acme") -> Lease:
    return Lease(
        id=f"ls{i}",
        company_id=company,
        number=number,
        session_id=f"s{i}",
        leased_from=T0 + timedelta(minutes=start_min),
        last_seen_at=T0 + timedelta(minutes=start_min),
        leased_until=T0 + timedelta(minutes=end_min),
    )


def test_lease_history_answers_who_held_a_number_at_an_instant(seeded):
    seeded.save_lease(_lease(1, "+74955550000", 0, 20))
    seeded.save_lease(_lease(2, "+74955550000", 25, 45))
    at = seeded.find_lease_at
    assert at("acme", "+74955550000", T0).session_id == "s1"
    assert at("acme", "+74955550000", T0 + timedelta(minutes=20)).session_id == "s1"  # inclusive
    assert at("acme", "+74955550000", T0 + timedelta(minutes=22)) is None
    assert at("acme", "+74955550000", T0 + timedelta(minutes=30)).session_id == "s2"
    assert at("acme", "+74955550000", T0 - timedelta(seconds=1)) is None


def test_an_extended_lease_is_saved_over_the_old_one(seeded):
    lease = _lease(1, "+74955550000", 0, 20)
    seeded.save_lease(lease)
    seeded.save_lease(lease.model_copy(update={"leased_until": T0 + timedelta(minutes=50)}))
    assert seeded.get_lease("acme", "ls1").leased_until == T0 + timedelta(minutes=50)
    assert seeded.find_lease_at("acme", "+74955550000", T0 + timedelta(minutes=49)).id == "ls1"


def test_overlapping_shared_leases_resolve_to_the_latest(seeded):
    seeded.save_lease(_lease(1, "+74955550000", 0, 30))
    seeded.save_lease(_lease(2, "+74955550000", 10, 40).model_copy(update={"is_shared": True}))
    found = seeded.find_lease_at("acme", "+74955550000", T0 + timedelta(minutes=15))
    assert (found.session_id, found.is_shared) == ("s2", True)


def test_leases_are_scoped_to_their_company(seeded):
    seeded.save_lease(_lease(1, "+74955550000", 0, 20))
    assert seeded.find_lease_at("globex", "+74955550000", T0) is None
    assert seeded.get_lease("globex", "ls1") is None


def _session(i: int, company: str = "acme", visitor: str = "v1", minutes: int = 0) -> Session:
    at = T0 + timedelta(minutes=minutes)
    return Session(
        id=f"s{i}",
        company_id=company,
        site_id=f"site_{company}",
        visitor_id=visitor,
        started_at=at,
        last_seen_at=at,
        landing_url="https://x.example/",
        utm_source="yandex",
    )


def test_sessions_round_trip_and_latest_of_visitor(seeded):
    seeded.save_session(_session(1, minutes=0))
    seeded.save_session(_session(2, minutes=40))
    assert seeded.get_session("acme", "s1") == _session(1)
    assert seeded.latest_session_of_visitor("acme", "v1").id == "s2"
    assert seeded.get_session("globex", "s1") is None
    assert seeded.latest_session_of_visitor("globex", "v1") is None


def _event(seq: int, etype: str = "call", company: str = "acme") -> CallEvent:
    return CallEvent(
        company_id=company,
        event_type=etype,
        entry_id="E1",
        call_id="C1",
        seq=seq,
        received_at=T0,
        payload={"seq": str(seq)},
    )


def test_the_same_event_twice_is_stored_once(seeded):
    assert seeded.append_call_event(_event(1)) is True
    assert seeded.append_call_event(_event(1)) is False
    assert seeded.append_call_event(_event(2)) is True
    assert seeded.append_call_event(_event(1, "summary")) is True
    assert [e.seq for e in seeded.list_call_events("acme", "E1")] == [1, 1, 2]
    assert seeded.list_call_events("globex", "E1") == []


def test_same_entry_id_in_two_companies_does_not_collide(seeded):
    assert seeded.append_call_event(_event(1, company="acme"))
    assert seeded.append_call_event(_event(1, company="globex"))


def _call(entry: str, minutes: int, caller: str = "+79161234567", company: str = "acme") -> Call:
    return Call(
        company_id=company,
        entry_id=entry,
        caller_number=caller,
        started_at=T0 + timedelta(minutes=minutes),
        direction="inbound",
        attribution_reason="lease",
    )


def test_calls_upsert_by_entry_id_and_know_earlier_calls(seeded):
    seeded.save_call(_call("E1", 0))
    seeded.save_call(_call("E1", 0).model_copy(update={"talk_seconds": 42}))
    seeded.save_call(_call("E2", 10))
    assert seeded.get_call("acme", "E1").talk_seconds == 42
    assert seeded.has_earlier_call("acme", "+79161234567", T0 + timedelta(minutes=10), "E2")
    assert not seeded.has_earlier_call("acme", "+79161234567", T0, "E1")
    assert not seeded.has_earlier_call("globex", "+79161234567", T0 + timedelta(hours=1), "X")


def test_between_queries_are_half_open_and_company_scoped(seeded):
    for i, minutes in enumerate([0, 30, 60]):
        seeded.save_session(_session(i, minutes=minutes))
        seeded.save_call(_call(f"E{i}", minutes))
    seeded.save_session(_session(9, company="globex", minutes=10))
    start, end = T0, T0 + timedelta(minutes=60)
    assert [s.id for s in seeded.sessions_between("acme", start, end)] == ["s0", "s1"]
    assert [c.entry_id for c in seeded.calls_between("acme", start, end)] == ["E0", "E1"]
    seeded.save_lease(_lease(7, "+74955550000", 0, 20))
    seeded.save_lease(_lease(8, "+74955550000", 60, 80))
    assert [x.id for x in seeded.leases_between("acme", start, end)] == ["ls7"]
    assert seeded.leases_between("globex", start, end) == []


def test_a_visit_saves_the_session_and_its_lease_together(seeded):
    lease = _lease(1, "+74955550000", 0, 20)
    session = _session(1).model_copy(update={"lease_id": "ls1", "number": lease.number})
    seeded.save_visit(session, lease)
    assert seeded.get_session("acme", "s1").lease_id == "ls1"
    assert seeded.get_lease("acme", "ls1") == lease
    seeded.save_visit(session.model_copy(update={"lease_id": None}), None)
    assert seeded.get_session("acme", "s1").lease_id is None


# --- calls listing, leads, callbacks, webhooks (issue 4) -------------------------------


def _listed(seeded, **query):
    from realtime.domain import CallQuery

    return [c.entry_id for c in seeded.list_calls("acme", CallQuery(**query))]


def test_calls_list_by_time_with_filters_and_a_cursor(seeded):
    calls = [
        _call("E1", 0).model_copy(update={"utm_source": "yandex", "is_target": True}),
        _call("E2", 10).model_copy(update={"utm_source": "google", "is_missed": True}),
        _call("E3", 10).model_copy(update={"utm_source": "yandex"}),
        _call("E4", 30, company="globex").model_copy(update={"utm_source": "yandex"}),
    ]
    seeded.save_changes(Changes(calls=calls))
    assert _listed(seeded) == ["E1", "E2", "E3"]
    assert _listed(seeded, utm_source="yandex") == ["E1", "E3"]
    assert _listed(seeded, is_missed=True) == ["E2"]
    assert _listed(seeded, is_target=False) == ["E2", "E3"]
    assert _listed(seeded, start=T0 + timedelta(minutes=5)) == ["E2", "E3"]
    assert _listed(seeded, end=T0 + timedelta(minutes=10)) == ["E1"]
    assert _listed(seeded, limit=2) == ["E1", "E2"]
    assert _listed(seeded, after=(T0 + timedelta(minutes=10), "E2")) == ["E3"]


def _lead(lead_id: str, phone: str | None, last_min: int, company: str = "acme") -> Lead:
    at = T0 + timedelta(minutes=last_min)
    return Lead(
        id=lead_id,
        company_id=company,
        phone=phone,
        email=f"{lead_id}@x.example",
        created_at=at,
        last_touch_at=at,
        first_touch_type="call",
        touches=[LeadTouch(type="call", ref=f"c-{lead_id}", at=at)],
    )


def test_recent_lead_is_found_by_phone_or_email_within_the_window(seeded):
    seeded.save_changes(
        Changes(
            leads=[
                _lead("L1", "+79161234567", 0),
                _lead("L2", "+79161234567", 60),
                _lead("G1", "+79161234567", 90, company="globex"),
            ]
        )
    )
    find = seeded.find_recent_lead
    assert find("acme", "+79161234567", None, T0).id == "L2"
    assert find("acme", "+79161234567", None, T0 + timedelta(minutes=61)) is None
    assert find("acme", None, "L1@x.example", T0).id == "L1"
    assert find("acme", "+70000000000", "L1@x.example", T0).id == "L1"
    assert find("globex", "+79161234567", None, T0).id == "G1"
    assert seeded.get_lead("globex", "L1") is None
    assert [x.id for x in seeded.list_leads("acme", None, None, None, 10)] == ["L1", "L2"]
    assert [x.id for x in seeded.list_leads("acme", None, None, (T0, "L1"), 10)] == ["L2"]


def test_callback_tasks_list_by_status_and_company(seeded):
    tasks = [
        CallbackTask(
            id="T1",
            company_id="acme",
            phone="+79161234567",
            reason="missed_call",
            ref="E1",
            created_at=T0,
        ),
        CallbackTask(
            id="T2",
            company_id="acme",
            phone="+79161234568",
            reason="callback_request",
            ref="F1",
            created_at=T0,
            status="done",
            done_at=T0,
        ),
        CallbackTask(
            id="T3",
            company_id="globex",
            phone="+79161234569",
            reason="missed_call",
            ref="E9",
            created_at=T0,
        ),
    ]
    seeded.save_changes(Changes(callbacks=tasks))
    assert [t.id for t in seeded.list_callbacks("acme", "pending", 10)] == ["T1"]
    assert [t.id for t in seeded.list_callbacks("acme", None, 10)] == ["T1", "T2"]
    assert seeded.get_callback("acme", "T3") is None


def _message(mid: str, due_min: int, company: str = "acme") -> OutboxMessage:
    return OutboxMessage(
        id=mid,
        company_id=company,
        subscription_id="W1",
        event="call.started",
        payload={"entry_id": mid},
        created_at=T0,
        next_attempt_at=T0 + timedelta(minutes=due_min),
    )


def test_due_webhook_messages_are_claimed_once_until_their_lease_ends(seeded):
    seeded.save_changes(
        Changes(outbox=[_message("M1", 0), _message("M2", 5), _message("M3", 0, company="globex")])
    )
    lease = timedelta(minutes=1)
    first = seeded.claim_due_messages(T0, 10, lease)
    assert sorted(m.id for m in first) == ["M1", "M3"]
    assert seeded.claim_due_messages(T0 + timedelta(seconds=59), 10, lease) == []
    again = seeded.claim_due_messages(T0 + timedelta(minutes=1), 10, lease)
    assert sorted(m.id for m in again) == ["M1", "M3"]  # never acknowledged: comes back
    delivered = seeded.get_message("acme", "M1").model_copy(update={"status": "delivered"})
    seeded.save_message(delivered)
    later = seeded.claim_due_messages(T0 + timedelta(minutes=10), 10, lease)
    assert sorted(m.id for m in later) == ["M2", "M3"]
    assert [m.id for m in seeded.list_messages("acme", "delivered", 10)] == ["M1"]
    assert seeded.get_message("globex", "M1") is None


def test_webhook_subscriptions_are_per_company(seeded):
    sub = WebhookSubscription(
        id="W1",
        company_id="acme",
        url="https://hook.example/",
        events=["call.started"],
        secret="s",
        created_at=T0,
    )
    seeded.save_subscription(sub)
    assert seeded.list_subscriptions("acme") == [sub]
    assert seeded.list_subscriptions("globex") == []
    assert not seeded.delete_subscription("globex", "W1")
    assert seeded.delete_subscription("acme", "W1")
    assert seeded.list_subscriptions("acme") == []


# --- smart redirect and missed calls ---------------------------------------------------


def test_redirect_config_round_trips_per_company(seeded):
    config = RedirectConfig(
        company_id="acme",
        enabled=True,
        lines=["+74951234567"],
        crm_users=[CrmUserExtension(crm="amocrm", user_id="501", extension="101")],
        working_hours=[{"days": [1, 2, 3], "start": "09:00", "end": "18:30"}],
    )
    seeded.save_redirect_config(config)
    assert seeded.get_redirect_config("acme") == config
    assert seeded.get_redirect_config("globex") is None
    seeded.save_redirect_config(config.model_copy(update={"enabled": False}))
    assert seeded.get_redirect_config("acme").enabled is False


def _contact(cid: str, phones: list[str], user: str | None, minutes: int, **kw) -> CrmContact:
    return CrmContact(
        company_id=kw.get("company", "acme"),
        crm=kw.get("crm", "amocrm"),
        contact_id=cid,
        phones=phones,
        responsible_user_id=user,
        updated_at=T0 + timedelta(minutes=minutes),
    )


def test_crm_contacts_are_found_by_phone_latest_update_first_and_per_company(seeded):
    seeded.save_crm_contacts(
        [
            _contact("1", ["+79161110001", "+79161110002"], "501", 0),
            _contact("2", ["+79161110002"], "502", 5, crm="bitrix24"),
            _contact("3", ["+79161110003"], "509", 0, company="globex"),
        ]
    )
    assert seeded.find_crm_contact("acme", "+79161110001").responsible_user_id == "501"
    found = seeded.find_crm_contact("acme", "+79161110002")
    assert (found.crm, found.contact_id) == ("bitrix24", "2")  # updated later
    assert seeded.find_crm_contact("acme", "+79161110003") is None
    assert seeded.find_crm_contact("globex", "+79161110003").responsible_user_id == "509"


def test_a_resynced_contact_replaces_its_phones_and_manager(seeded):
    seeded.save_crm_contacts([_contact("1", ["+79161110001"], "501", 0)])
    seeded.save_crm_contacts([_contact("1", ["+79161110009"], "777", 10)])
    assert seeded.find_crm_contact("acme", "+79161110001") is None
    assert seeded.find_crm_contact("acme", "+79161110009").responsible_user_id == "777"


def test_recent_employee_calls_are_by_outside_party_window_and_company(seeded):
    def call(entry, minutes, client, ext, company="acme"):
        return _call(entry, minutes, caller=client, company=company).model_copy(
            update={"client_number": client, "employee_extension": ext}
        )

    seeded.save_changes(
        Changes(
            calls=[
                call("E1", 0, "+79161110001", "101"),
                call("E2", 30, "+79161110001", "102"),
                call("E3", 40, "+79161110001", None),  # nobody took it
                call("E4", 50, "+79161110002", "103"),
                call("E5", 50, "+79161110001", "104", company="globex"),
            ]
        )
    )
    found = seeded.recent_employee_calls(
        "acme", "+79161110001", T0, T0 + timedelta(minutes=45)
    )
    assert [c.entry_id for c in found] == ["E2", "E1"]  # newest first, since inclusive
    later = seeded.recent_employee_calls(
        "acme", "+79161110001", T0 + timedelta(minutes=1), T0 + timedelta(minutes=30)
    )
    assert later == []  # E2 starts at the exclusive end


def _decision(entry: str, command: str | None, company: str = "acme") -> RedirectDecision:
    return RedirectDecision(
        company_id=company,
        entry_id=entry,
        call_id=f"{entry}-leg",
        decided_at=T0,
        rule="crm_manager" if command else "none",
        reason="crm_manager" if command else "new_caller",
        to_number="101" if command else None,
        command_id=command,
        status="queued" if command else "skipped",
    )


def test_a_redirect_decision_is_copied_onto_its_call_and_found_by_command(seeded):
    seeded.save_call(_call("E1", 0))
    seeded.save_redirect_decision(_decision("E1", "rt_1"))
    seeded.save_redirect_decision(_decision("E1", "rt_1", company="globex"))
    assert seeded.get_call("acme", "E1").redirect.command_id == "rt_1"
    sent = _decision("E1", "rt_1").model_copy(update={"status": "sent", "result": 1000})
    seeded.save_redirect_decision(sent)
    assert seeded.get_call("acme", "E1").redirect == sent
    assert seeded.get_redirect_decision("acme", "E1") == sent
    assert seeded.find_redirect_decision_by_command("acme", "rt_1") == sent
    assert seeded.find_redirect_decision_by_command("acme", "rt_2") is None
    # A decision for a call not stored yet waits in its own table.
    seeded.save_redirect_decision(_decision("E2", None))
    assert seeded.get_call("acme", "E2") is None
    assert seeded.get_redirect_decision("acme", "E2").reason == "new_caller"


def test_callback_tasks_by_phone_schedule_and_day(seeded):
    def task(tid, phone, minutes, company="acme", **kw):
        return CallbackTask(
            id=tid,
            company_id=company,
            phone=phone,
            reason="missed_call",
            ref=tid,
            created_at=T0 + timedelta(minutes=minutes),
            **kw,
        )

    seeded.save_changes(
        Changes(
            callbacks=[
                task(
                    "T1", "+79161110001", 5, auto_callback_status="scheduled",
                    auto_callback_due_at=T0 + timedelta(minutes=10),
                ),
                task("T2", "+79161110001", 1),
                task("T3", "+79161110001", 2, status="done", done_at=T0),
                task(
                    "T4", "+79161110001", 3, company="globex", auto_callback_status="scheduled",
                    auto_callback_due_at=T0 + timedelta(minutes=8),
                ),
                task(
                    "T5", "+79161110005", 4, status="done", done_at=T0,
                    auto_callback_status="scheduled", auto_callback_due_at=T0,
                ),
                task("T6", "+79161110006", 6, auto_callback_status="sent", auto_callback_due_at=T0),
            ]
        )
    )  # fmt: skip
    assert [t.id for t in seeded.pending_callbacks_for_phone("acme", "+79161110001")] == [
        "T2",
        "T1",
    ]
    # Automatic callbacks: only pending, scheduled and due tasks, of any company; a
    # claim hides a task until its lease runs out (another replica then may retry).
    def claim(minutes: float, limit: int = 10) -> list[str]:
        now = T0 + timedelta(minutes=minutes)
        return [t.id for t in seeded.claim_due_auto_callbacks(now, limit, timedelta(minutes=2))]

    assert claim(7) == []
    assert claim(9) == ["T4"]
    assert seeded.get_callback("globex", "T4").auto_callback_due_at == T0 + timedelta(minutes=11)
    assert claim(10.5) == ["T1"]
    assert claim(10.5) == []  # both claimed
    assert claim(12.5, limit=1) == ["T4"]  # T4's claim ran out first; the oldest first
    assert claim(12.5) == ["T1"]
    day = seeded.callbacks_between("acme", T0 + timedelta(minutes=1), T0 + timedelta(minutes=5))
    assert [t.id for t in day] == ["T2", "T3", "T5"]
