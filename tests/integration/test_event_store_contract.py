"""One contract, every backend: SQLite, mongomock, and a real MongoDB when
CALLPATH_TEST_MONGODB_URI is set. mongomock is an in-memory imitation of pymongo's
API; it checks our queries and indexes, not MongoDB's server behaviour."""

from __future__ import annotations

from datetime import timedelta

import pytest

from realtime.domain import Call, CallEvent, Company, Session
from realtime.store import StoreError
from tests.conftest import ACME, GLOBEX, T0, seed_tenants

HOLD = timedelta(minutes=20)


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


def test_adding_the_same_number_twice_keeps_one(seeded):
    before = len(seeded.list_numbers("acme"))
    assert seeded.add_numbers(seeded.list_numbers("acme")) == 0
    assert len(seeded.list_numbers("acme")) == before


def test_free_numbers_are_leased_once_each_then_shared(seeded):
    leases = [seeded.acquire_lease("acme", f"s{i}", T0, HOLD) for i in range(4)]
    dynamic = {n.number for n in seeded.list_numbers("acme") if n.kind == "dynamic"}
    assert {lease.number for lease in leases[:3]} == dynamic
    assert [lease.is_shared for lease in leases] == [False, False, False, True]
    assert all(lease.company_id == "acme" for lease in leases)


def test_expired_lease_frees_its_number(seeded):
    first = [seeded.acquire_lease("acme", f"s{i}", T0, HOLD) for i in range(3)]
    later = seeded.acquire_lease("acme", "late", T0 + HOLD + timedelta(seconds=1), HOLD)
    assert not later.is_shared
    assert later.number in {lease.number for lease in first}


def test_static_numbers_are_never_leased(seeded):
    leases = [seeded.acquire_lease("acme", f"s{i}", T0, HOLD) for i in range(10)]
    assert not any(lease.number.endswith("9999") for lease in leases)


def test_company_without_numbers_gets_no_lease(store):
    store.create_company(Company(id="empty", name="Empty"))
    assert store.acquire_lease("empty", "s1", T0, HOLD) is None


def test_extending_a_live_lease_moves_its_end_and_history_covers_it(seeded):
    lease = seeded.acquire_lease("acme", "s1", T0, HOLD)
    later = T0 + timedelta(minutes=15)
    extended = seeded.extend_lease("acme", lease.id, later, HOLD)
    assert extended.leased_until == later + HOLD
    found = seeded.find_lease_at("acme", lease.number, later + timedelta(minutes=19))
    assert found.session_id == "s1"
    assert seeded.find_lease_at("acme", lease.number, later + HOLD + timedelta(seconds=1)) is None


def test_expired_lease_cannot_be_extended(seeded):
    lease = seeded.acquire_lease("acme", "s1", T0, HOLD)
    assert seeded.extend_lease("acme", lease.id, T0 + HOLD + timedelta(minutes=1), HOLD) is None


def test_leases_are_scoped_to_their_company(seeded):
    lease = seeded.acquire_lease("acme", "s1", T0, HOLD)
    assert seeded.find_lease_at("globex", lease.number, T0) is None
    assert seeded.extend_lease("globex", lease.id, T0, HOLD) is None


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
    lease = seeded.acquire_lease("acme", "s0", T0, HOLD)
    assert [x.id for x in seeded.leases_between("acme", start, end)] == [lease.id]
    assert seeded.leases_between("globex", start, end) == []


def test_two_tenants_are_seeded_apart(seeded):
    assert {n.company_id for n in seeded.list_numbers("globex")} == {GLOBEX.id}
