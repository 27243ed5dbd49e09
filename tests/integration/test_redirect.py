"""Smart redirect end to end: signed Mango events in, decisions on calls, and route
commands out to a local fake Mango command API that checks our signatures, enforces
Mango's route limit and can answer 429."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from connectors.amocrm import AmoCrmConfig, AmoCrmConnector
from connectors.bitrix24 import Bitrix24Config, Bitrix24Connector
from connectors.fakes.amocrm import FakeAmoCrm
from connectors.fakes.bitrix24 import FakeBitrix24, contact_row
from connectors.fakes.mango_commands import FakeMangoCommands
from realtime.app import create_app
from realtime.clock import ManualClock
from realtime.domain import Company, RedirectDecision
from realtime.redirect.crm_sync import sync_contacts
from realtime.redirect.schemas import RedirectConfigIn
from realtime.store.sqlite import SQLiteEventStore
from tests.conftest import T0, mango_form, seed_tenants

LINE = "+74951234567"
OTHER_LINE = "+74957654321"
CALLER = "+79161110001"
# T0 is Wednesday 2026-11-18 09:00 UTC (12:00 in Moscow).


@pytest.fixture
def fake_mango() -> Iterator[tuple[FakeMangoCommands, str]]:
    fake = FakeMangoCommands(
        {"acme-key": "acme-salt", "globex-key": "globex-salt"}, route_interval=0.3
    )
    with fake.serve() as url:
        yield fake, url


def _redirect_setup(settings, pool_store, url: str, max_delay: float):
    """Settings pointing at the fake Mango (0.3 s route interval) and a seeded store."""
    settings = settings.model_copy(
        update={
            "mango_api_url": url,
            "mango_route_interval_seconds": 0.3,
            "redirect_max_delay_seconds": max_delay,
        }
    )
    store = SQLiteEventStore(settings.sqlite_path())
    seed_tenants(store, pool_store)
    return settings, store


@pytest.fixture
def world(settings, clock, pool_store, fake_mango) -> Iterator[World]:
    fake, url = fake_mango
    settings, store = _redirect_setup(settings, pool_store, url, max_delay=3.0)
    app = create_app(settings, store=store, clock=clock, pool=pool_store)
    with TestClient(app) as client:
        yield World(client, store, fake, clock)
    store.close()


class World:
    def __init__(self, client, store, fake, clock) -> None:
        self.client: TestClient = client
        self.store: SQLiteEventStore = store
        self.fake: FakeMangoCommands = fake
        self.clock: ManualClock = clock

    def configure(self, company: str = "acme", **config) -> None:
        body = {"enabled": True, "lines": [LINE], **config}
        # The API has its own test; here the store is set straight (still validated).
        self.store.save_redirect_config(RedirectConfigIn(**body).for_company(company))

    def post(self, path: str, payload: dict, company: str = "acme") -> dict:
        key, salt = {"acme": ("acme-key", "acme-salt"), "globex": ("globex-key", "globex-salt")}[
            company
        ]
        response = self.client.post(f"/mango{path}", data=mango_form(payload, key, salt))
        assert response.status_code == 200, response.text
        return response.json()

    def appeared(
        self,
        entry: str,
        caller: str = CALLER,
        at: datetime = T0,
        line: str = LINE,
        location: str = "ivr",
        company: str = "acme",
    ) -> None:
        self.post("/events/call", appeared(entry, caller, at, line, location), company)

    def history(
        self,
        entry: str,
        at: datetime,
        extension: str,
        client: str = CALLER,
        direction: int = 1,
        answered: bool = True,
    ) -> None:
        """A finished earlier call, as its summary event."""
        ts = int(at.timestamp())
        outside, employee = {"number": client.lstrip("+")}, {"extension": extension}
        self.post(
            "/events/summary",
            {
                "entry_id": entry,
                "call_direction": direction,
                "from": outside if direction == 1 else employee,
                "to": employee if direction == 1 else outside,
                "line_number": LINE.lstrip("+"),
                "create_time": ts,
                "forward_time": ts + 5 if answered else 0,
                "talk_time": ts + 10 if answered else 0,
                "end_time": ts + 100,
                "entry_result": 1 if answered else 0,
            },
        )

    def decision(self, entry: str, company: str = "acme") -> RedirectDecision | None:
        return self.store.get_redirect_decision(company, entry)

    def settled(self, entry: str, company: str = "acme") -> RedirectDecision:
        """The decision once its command has left (or failed, or expired)."""
        wait_until(lambda: self.decision(entry, company).status != "queued")
        return self.decision(entry, company)


def appeared(entry: str, caller: str, at: datetime, line: str, location: str = "ivr") -> dict:
    return {
        "entry_id": entry,
        "call_id": f"{entry}-leg1",
        "timestamp": str(int(at.timestamp())),
        "seq": "1",
        "call_state": "Appeared",
        "location": location,
        "from": {"number": caller.lstrip("+")},
        "to": {"line_number": line.lstrip("+")},
    }


def wait_until(condition: Callable[[], bool], timeout: float = 8.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


# --- rule 1: the last employee ------------------------------------------------------------


def test_last_employee_who_talked_with_the_caller_gets_the_call(world):
    world.configure(last_employee=True)
    world.history("H1", T0 - timedelta(hours=3), extension="101")
    world.history("H2", T0 - timedelta(hours=1), extension="102")
    world.appeared("E1")

    decision = world.settled("E1")
    assert (decision.rule, decision.to_number, decision.status) == ("last_employee", "102", "sent")
    [route] = world.fake.routes()
    assert route.api_key == "acme-key"
    assert route.payload == {
        "command_id": decision.command_id,
        "call_id": "E1-leg1",
        "to_number": "102",
    }
    call = world.store.get_call("acme", "E1")
    assert call.redirect.command_id == decision.command_id
    assert call.redirect.rule == "last_employee"


def test_an_employee_who_dialled_the_client_without_answer_counts(world):
    world.configure(last_employee=True)
    world.history("H1", T0 - timedelta(hours=2), extension="101")
    world.history("H2", T0 - timedelta(hours=1), extension="107", direction=2, answered=False)
    world.appeared("E1")
    assert world.settled("E1").to_number == "107"


def test_an_employee_who_missed_the_callers_call_does_not_count(world):
    world.configure(last_employee=True, crm_manager=False)
    world.history("H1", T0 - timedelta(hours=1), extension="105", answered=False)
    world.appeared("E1")
    decision = world.decision("E1")
    assert (decision.rule, decision.status) == ("none", "skipped")
    assert world.fake.commands == []


@pytest.mark.parametrize(
    ("age", "routed"),
    [
        (timedelta(hours=24), True),  # the window includes its start
        (timedelta(hours=24, seconds=1), False),
        (timedelta(hours=23, minutes=59, seconds=59), True),
    ],
)
def test_the_last_employee_window_is_24_hours(world, age, routed):
    world.configure(last_employee=True, crm_manager=False)
    world.history("H1", T0 - age, extension="101")
    world.appeared("E1")
    decision = world.decision("E1")
    if routed:
        assert (decision.rule, decision.to_number) == ("last_employee", "101")
    else:
        assert (decision.rule, decision.reason, decision.to_number) == (
            "none",
            "no_rule_matched",
            None,
        )


def test_the_window_is_configurable(world):
    world.configure(last_employee=True, last_employee_hours=2, crm_manager=False)
    world.history("H1", T0 - timedelta(hours=3), extension="101")
    world.appeared("E1")
    assert world.decision("E1").rule == "none"


# --- rule 2: the CRM's responsible manager -------------------------------------------------


def test_crm_manager_synced_from_amocrm_gets_the_call(world):
    amo = FakeAmoCrm()
    amo.add_contact(7, phones=["+7 916 111-00-01"], responsible_user_id=501, updated_at=T0)
    with amo.serve() as base_url:
        connector = AmoCrmConnector(
            AmoCrmConfig(
                base_url=base_url, long_lived_token=amo.long_lived_token, company_id="acme"
            )
        )
        counts = sync_contacts(world.store, [connector], T0 - timedelta(days=30))
        connector.close()
    assert list(counts.values()) == [1]
    world.configure(crm_users=[{"crm": "amocrm", "user_id": "501", "extension": "201"}])
    world.appeared("E1")
    decision = world.settled("E1")
    assert (decision.rule, decision.to_number, decision.crm, decision.crm_user_id) == (
        "crm_manager",
        "201",
        "amocrm",
        "501",
    )
    assert world.fake.routes()[0].payload["to_number"] == "201"


def test_crm_manager_synced_from_bitrix24_gets_the_call(world):
    row = contact_row(9, modified=T0, phones=[CALLER], assigned_by_id=17)
    portal = FakeBitrix24(contacts=[row])
    with portal.start() as webhook_url:
        connector = Bitrix24Connector(
            Bitrix24Config(_env_file=None, webhook_url=webhook_url, company_id="acme")
        )
        sync_contacts(world.store, [connector], T0 - timedelta(days=30))
        connector.close()
    world.configure(crm_users=[{"crm": "bitrix24", "user_id": "17", "extension": "301"}])
    world.appeared("E1")
    assert world.settled("E1").to_number == "301"


def test_last_employee_wins_over_the_crm_manager(world):
    world.store.save_crm_contacts([_contact("501")])
    world.history("H1", T0 - timedelta(hours=1), extension="101")
    world.configure(
        last_employee=True, crm_users=[{"crm": "amocrm", "user_id": "501", "extension": "201"}]
    )
    world.appeared("E1")
    assert world.settled("E1").to_number == "101"


def test_without_last_employee_the_crm_manager_is_used_despite_recent_talk(world):
    world.store.save_crm_contacts([_contact("501")])
    world.history("H1", T0 - timedelta(hours=1), extension="101")
    world.configure(crm_users=[{"crm": "amocrm", "user_id": "501", "extension": "201"}])
    world.appeared("E1")
    assert world.settled("E1").to_number == "201"


def test_a_manager_without_an_extension_routes_nothing(world):
    world.store.save_crm_contacts([_contact("999")])
    world.configure(crm_users=[{"crm": "amocrm", "user_id": "501", "extension": "201"}])
    world.appeared("E1")
    decision = world.decision("E1")
    assert (decision.rule, decision.reason, decision.crm_user_id) == (
        "none",
        "manager_without_extension",
        "999",
    )
    time.sleep(0.2)
    assert world.fake.commands == []


def test_a_contact_without_a_responsible_manager_routes_nothing(world):
    world.store.save_crm_contacts([_contact(None)])
    world.configure()
    world.appeared("E1")
    assert world.decision("E1").reason == "no_responsible_manager"


def test_an_unknown_caller_follows_the_pbx_scenario(world):
    world.configure(last_employee=True)
    world.appeared("E1", caller="+79169998877")
    decision = world.decision("E1")
    assert (decision.rule, decision.reason, decision.command_id) == ("none", "new_caller", None)
    call = world.store.get_call("acme", "E1")
    assert call.redirect.reason == "new_caller"
    time.sleep(0.2)
    assert world.fake.commands == []


def test_a_returning_caller_missing_from_the_crm_is_a_crm_miss(world):
    world.history("H1", T0 - timedelta(days=10), extension="101")
    world.configure(last_employee=True)
    world.appeared("E1")
    assert (world.decision("E1").rule, world.decision("E1").reason) == ("none", "not_in_crm")


def test_a_hidden_number_routes_nothing(world):
    world.configure()
    payload = appeared("E1", CALLER, T0, LINE)
    payload["from"] = {}
    world.post("/events/call", payload)
    assert world.decision("E1").reason == "hidden_number"


# --- where it applies ------------------------------------------------------------------------


def test_only_listed_lines_are_redirected_and_all_lines_is_explicit(world):
    world.store.save_crm_contacts([_contact("501")])
    users = [{"crm": "amocrm", "user_id": "501", "extension": "201"}]
    world.configure(crm_users=users)
    world.appeared("E1", line=OTHER_LINE)
    assert world.decision("E1") is None
    world.configure(lines=[], crm_users=users)  # no lines is not "all lines"
    world.appeared("E2", line=OTHER_LINE)
    assert world.decision("E2") is None
    world.configure(lines=[], all_lines=True, crm_users=users)
    world.appeared("E3", line=OTHER_LINE)
    assert world.decision("E3").to_number == "201"


def test_redirect_is_off_until_enabled(world):
    world.store.save_crm_contacts([_contact("501")])
    users = [{"crm": "amocrm", "user_id": "501", "extension": "1"}]
    world.configure(enabled=False, crm_users=users)
    world.appeared("E1")
    assert world.decision("E1") is None


@pytest.mark.parametrize(
    ("event", "triggers"),
    [
        ({"call_state": "Appeared", "location": "queue"}, True),
        ({"call_state": "Appeared", "location": "abonent"}, False),
        ({"call_state": "Connected", "location": "ivr"}, False),
    ],
)
def test_only_a_call_appearing_in_the_ivr_or_a_queue_triggers(world, event, triggers):
    world.store.save_crm_contacts([_contact("501")])
    world.configure(crm_users=[{"crm": "amocrm", "user_id": "501", "extension": "201"}])
    world.post("/events/call", {**appeared("E1", CALLER, T0, LINE), **event})
    assert (world.decision("E1") is not None) == triggers


def test_a_call_moving_from_the_ivr_to_a_queue_is_decided_once(world):
    world.store.save_crm_contacts([_contact("501")])
    world.configure(crm_users=[{"crm": "amocrm", "user_id": "501", "extension": "201"}])
    world.appeared("E1")
    first = world.settled("E1")
    queue = {**appeared("E1", CALLER, T0 + timedelta(seconds=5), LINE, "queue"), "seq": "2"}
    world.post("/events/call", queue)
    world.post("/events/call", appeared("E1", CALLER, T0, LINE))  # a duplicate
    assert world.decision("E1").command_id == first.command_id
    time.sleep(0.4)
    assert len(world.fake.routes()) == 1


# --- working hours in the company's time zone ----------------------------------------------


@pytest.mark.parametrize(
    ("utc_hour", "outside_setting", "routed"),
    [
        (3, False, True),  # 10:00 in Novosibirsk (UTC+7): open, although 03:00 UTC
        (12, False, False),  # 19:00 in Novosibirsk: closed, although 12:00 UTC
        (12, True, True),  # closed, but the company routes outside hours too
        (1, False, False),  # 08:00 local: not open yet
    ],
)
def test_working_hours_are_read_in_the_companys_time_zone(world, utc_hour, outside_setting, routed):
    world.store.create_company(
        Company(id="nsk", name="Nsk", timezone="Asia/Novosibirsk", mango_api_key="acme-key2",
                mango_api_salt="s2")
    )  # fmt: skip
    world.fake.products["acme-key2"] = "s2"
    world.store.save_crm_contacts([_contact("501", company="nsk")])
    world.configure(
        company="nsk",
        crm_users=[{"crm": "amocrm", "user_id": "501", "extension": "201"}],
        working_hours=[{"days": [1, 2, 3, 4, 5], "start": "09:00", "end": "18:00"}],
        route_outside_hours=outside_setting,
    )
    at = T0.replace(hour=utc_hour)
    payload = appeared("E1", CALLER, at, LINE)
    response = world.client.post(
        "/mango/events/call", data=mango_form(payload, "acme-key2", "s2")
    )
    assert response.status_code == 200
    decision = world.store.get_redirect_decision("nsk", "E1")
    assert (decision.rule == "crm_manager") == routed
    if not routed:
        assert decision.reason == "outside_working_hours"


def test_weekends_are_outside_working_hours(world):
    world.store.save_crm_contacts([_contact("501")])
    world.configure(
        crm_users=[{"crm": "amocrm", "user_id": "501", "extension": "201"}],
        working_hours=[{"days": [1, 2, 3, 4, 5], "start": "00:00", "end": "23:59"}],
    )
    saturday = T0 + timedelta(days=3)
    world.appeared("E1", at=saturday)
    assert world.decision("E1").reason == "outside_working_hours"


# --- the command: limit, 429, signature, answering at once ------------------------------------


def test_route_commands_of_one_product_keep_mangos_interval_without_429(world):
    world.store.save_crm_contacts([_contact("501")])
    world.configure(crm_users=[{"crm": "amocrm", "user_id": "501", "extension": "201"}])
    for i in range(3):
        world.appeared(f"E{i}")
    for i in range(3):
        assert world.settled(f"E{i}").status == "sent"
    sent = [c.at for c in world.fake.routes()]
    assert len(sent) == 3
    assert all(b - a >= 0.3 for a, b in itertools.pairwise(sent))
    assert world.fake.refused == []


def test_two_products_do_not_wait_for_each_other(world):
    for company in ("acme", "globex"):
        world.store.save_crm_contacts([_contact("501", company=company)])
        world.configure(
            company=company, crm_users=[{"crm": "amocrm", "user_id": "501", "extension": "201"}]
        )
    world.appeared("E1")
    world.appeared("E2", company="globex")
    world.settled("E1"), world.settled("E2", "globex")
    acme, globex = (c.at for c in world.fake.routes())
    assert abs(globex - acme) < 0.3
    assert world.fake.refused == []


def test_a_429_is_retried_after_the_interval(world):
    world.store.save_crm_contacts([_contact("501")])
    world.configure(crm_users=[{"crm": "amocrm", "user_id": "501", "extension": "201"}])
    world.fake.fail_next(429)
    world.appeared("E1")
    assert world.settled("E1").status == "sent"
    assert [r.status for r in world.fake.refused] == [429]
    assert len(world.fake.routes()) == 1


def test_a_command_that_cannot_leave_before_the_greeting_ends_expires(world):
    world.store.save_crm_contacts([_contact("501")])
    world.configure(crm_users=[{"crm": "amocrm", "user_id": "501", "extension": "201"}])
    world.fake.fail_next(429, times=100)  # Mango keeps refusing
    world.appeared("E1")
    decision = world.settled("E1")
    assert decision.status == "expired"
    assert world.store.get_call("acme", "E1").redirect.status == "expired"


def test_mango_refusing_our_signature_fails_the_command(world):
    world.fake.products["acme-key"] = "another-salt"  # Mango knows a different salt
    world.store.save_crm_contacts([_contact("501")])
    world.configure(crm_users=[{"crm": "amocrm", "user_id": "501", "extension": "201"}])
    world.appeared("E1")
    decision = world.settled("E1")
    assert decision.status == "failed"
    assert "HTTP 401" in decision.error
    assert world.fake.commands == []


def test_the_event_is_answered_before_the_command_is_sent(world):
    slow = []
    world.fake.on_command = lambda command: (time.sleep(1.0), slow.append(command))
    world.store.save_crm_contacts([_contact("501")])
    world.configure(crm_users=[{"crm": "amocrm", "user_id": "501", "extension": "201"}])
    started = time.monotonic()
    world.appeared("E1")
    assert time.monotonic() - started < 0.5
    assert world.decision("E1").status == "queued"
    assert world.settled("E1").status == "sent"


# --- the result callback and whether the target answered ---------------------------------------


def test_route_result_is_linked_to_the_decision_and_the_call(world):
    world.store.save_crm_contacts([_contact("501")])
    world.configure(crm_users=[{"crm": "amocrm", "user_id": "501", "extension": "201"}])
    world.appeared("E1")
    decision = world.settled("E1")
    world.post("/result/route", {"command_id": decision.command_id, "result": "1000"})
    assert world.decision("E1").result == 1000
    assert world.store.get_call("acme", "E1").redirect.result == 1000
    # A result for a command we never sent is stored and changes nothing.
    world.post("/result/route", {"command_id": "rt_unknown", "result": 1000})
    assert world.decision("E1").command_id == decision.command_id


def test_the_call_records_whether_the_routed_employee_answered(world):
    world.store.save_crm_contacts([_contact("501")])
    world.configure(crm_users=[{"crm": "amocrm", "user_id": "501", "extension": "201"}])
    world.appeared("E1")
    world.settled("E1")
    leg = {"from": {"number": CALLER.lstrip("+")}, "to": {"extension": "201"}}
    ts = int(T0.timestamp())
    for seq, state, dt in ((2, "Connected", 8), (3, "Disconnected", 60)):
        world.post(
            "/events/call",
            {"entry_id": "E1", "call_id": "E1-leg2", "timestamp": ts + dt, "seq": seq,
             "call_state": state, "location": "abonent", **leg},
        )  # fmt: skip
    call = world.store.get_call("acme", "E1")
    assert call.redirect.target_answered is True
    assert world.decision("E1").target_answered is True


def test_a_routed_employee_who_did_not_answer_is_recorded(world):
    world.store.save_crm_contacts([_contact("501")])
    world.configure(crm_users=[{"crm": "amocrm", "user_id": "501", "extension": "201"}])
    world.appeared("E1")
    world.settled("E1")
    ts = int(T0.timestamp())
    world.post(
        "/events/summary",
        {"entry_id": "E1", "call_direction": 1, "from": {"number": CALLER.lstrip("+")},
         "to": {"extension": "202"}, "line_number": LINE.lstrip("+"), "create_time": ts,
         "forward_time": ts + 20, "talk_time": ts + 25, "end_time": ts + 90, "entry_result": 1},
    )  # fmt: skip
    assert world.store.get_call("acme", "E1").redirect.target_answered is False


# --- the API ------------------------------------------------------------------------------


def test_redirect_config_api_validates_and_is_per_company(world):
    from realtime.auth.service import create_key

    acme_key = create_key(world.store, "acme")[1]
    globex_key = create_key(world.store, "globex")[1]
    auth = {"Authorization": f"Bearer {acme_key}"}
    body = {
        "enabled": True,
        "lines": ["8 (495) 123-45-67"],
        "crm_users": [{"crm": "amocrm", "user_id": "501", "extension": "201"}],
        "working_hours": [{"days": [1, 2, 3, 4, 5], "start": "09:00", "end": "18:00"}],
    }
    response = world.client.put("/v1/redirect/config", json=body, headers=auth)
    assert response.status_code == 200, response.text
    assert response.json()["lines"] == [LINE]
    assert world.client.get("/v1/redirect/config", headers=auth).json()["enabled"] is True
    other = world.client.get(
        "/v1/redirect/config", headers={"Authorization": f"Bearer {globex_key}"}
    ).json()
    assert (other["company_id"], other["enabled"], other["lines"]) == ("globex", False, [])
    for bad in (
        {"lines": ["not a phone"]},
        {"working_hours": [{"days": [8], "start": "09:00", "end": "18:00"}]},
        {"working_hours": [{"days": [1], "start": "18:00", "end": "09:00"}]},
        {"auto_callback": True},
        {"crm_users": [{"crm": "amocrm", "user_id": "1", "extension": "1"}] * 2},
        {"surprise": 1},
    ):
        response = world.client.put("/v1/redirect/config", json=bad, headers=auth)
        assert response.status_code == 422, bad
    assert world.store.get_redirect_config("acme").lines == [LINE]  # nothing lost
    assert world.client.get("/v1/redirect/config").status_code == 401


def _contact(user: str | None, company: str = "acme", phone: str = CALLER):
    from realtime.domain import CrmContact

    return CrmContact(
        company_id=company,
        crm="amocrm",
        contact_id="c1",
        phones=[phone],
        responsible_user_id=user,
        updated_at=T0 - timedelta(days=1),
    )


def test_decisions_of_one_company_never_use_anothers_data(world):
    world.store.save_crm_contacts([_contact("501", company="globex")])
    world.configure(crm_users=[{"crm": "amocrm", "user_id": "501", "extension": "201"}])
    world.configure(
        company="globex",
        last_employee=True,
        crm_users=[{"crm": "amocrm", "user_id": "501", "extension": "201"}],
    )
    world.history("H1", T0 - timedelta(hours=1), extension="101")  # acme's call
    world.appeared("E1")  # acme: the contact is globex's
    assert world.decision("E1").reason == "not_in_crm"
    world.appeared("E2", company="globex")  # globex: the talk was acme's
    assert world.decision("E2", "globex").rule == "crm_manager"



def test_mango_reporting_the_route_result_over_http_completes_the_decision(
    settings, pool_store, tmp_path
):
    """The whole loop over real HTTP: event in, command out, Mango's `/result/route` back."""
    from connectors.fakes.serving import serve_in_thread

    store = SQLiteEventStore(settings.sqlite_path())
    seed_tenants(store, pool_store)
    store.save_crm_contacts([_contact("501")])
    store.save_redirect_config(
        RedirectConfigIn(
            enabled=True,
            lines=[LINE],
            crm_users=[{"crm": "amocrm", "user_id": "501", "extension": "201"}],
        ).for_company("acme")
    )
    fake = FakeMangoCommands({"acme-key": "acme-salt"})
    try:
        with fake.serve() as mango_url:
            app = create_app(
                settings.model_copy(update={"mango_api_url": mango_url}),
                store=store,
                clock=ManualClock(T0),
                pool=pool_store,
            )
            with serve_in_thread(app) as app_url:
                fake.result_url = f"{app_url}/mango"
                response = httpx.post(
                    f"{app_url}/mango/events/call",
                    data=mango_form(appeared("E1", CALLER, T0, LINE)),
                )
                assert response.status_code == 200
                def settled() -> bool:
                    decision = store.get_redirect_decision("acme", "E1")
                    done = decision.result is not None and decision.status != "queued"
                    return done and bool(fake.results_posted)

                wait_until(settled)
                decision = store.get_redirect_decision("acme", "E1")
                assert (decision.status, decision.result) == ("sent", 1000)
                assert fake.results_posted == [(decision.command_id, 200)]
                assert store.get_call("acme", "E1").redirect.result == 1000
    finally:
        store.close()


def test_two_events_of_one_call_arriving_together_route_it_once(
    settings, pool_store, fake_mango
):
    """The IVR and queue events of one call in flight at once (the first one waits for
    its command to be written): one decision, one route command."""
    fake, url = fake_mango
    store = SQLiteEventStore(settings.sqlite_path())
    seed_tenants(store, pool_store)
    store.save_crm_contacts([_contact("501")])
    store.save_redirect_config(
        RedirectConfigIn(
            enabled=True,
            lines=[LINE],
            crm_users=[{"crm": "amocrm", "user_id": "501", "extension": "201"}],
        ).for_company("acme")
    )
    app = create_app(
        settings.model_copy(update={"mango_api_url": url}),
        store=store,
        clock=ManualClock(T0),
        pool=pool_store,
    )
    ivr = appeared("E1", CALLER, T0, LINE)
    queue = {**appeared("E1", CALLER, T0, LINE, "queue"), "seq": "2"}

    async def both() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            answers = await asyncio.gather(
                *(client.post("/mango/events/call", data=mango_form(e)) for e in (ivr, queue))
            )
            assert [a.status_code for a in answers] == [200, 200]
            await app.state.mango_commands.drain()
            await app.state.mango_commands.close()

    try:
        asyncio.run(both())
        assert len(fake.routes()) == 1
        assert store.get_redirect_decision("acme", "E1").status == "sent"
        assert len(store.list_call_events("acme", "E1")) == 2  # both events kept
    finally:
        store.close()


def _route_four_commands(settings, pool_store, url: str, paces: list) -> list[str]:
    """Four route commands of acme's product, dealt to one replica per pace in turn;
    returns their decisions' final statuses."""
    from realtime.domain import RedirectDecision
    from realtime.redirect.commands import MangoCommands

    settings, store = _redirect_setup(settings, pool_store, url, max_delay=5.0)
    company = store.get_company("acme")

    async def run() -> None:
        replicas = [
            MangoCommands(store, ManualClock(T0), settings, shared_pace=pace) for pace in paces
        ]
        try:
            for i in range(4):
                decision = RedirectDecision(
                    company_id="acme", entry_id=f"E{i}", call_id=f"E{i}-leg1", decided_at=T0,
                    rule="crm_manager", reason="crm_manager", to_number="201",
                    command_id=f"rt_{i}", status="queued",
                )  # fmt: skip
                store.save_redirect_decision(decision)
                job = replicas[i % len(replicas)].submit_route(company, decision)
                job.recorded.set()
            for replica in replicas:
                await replica.drain()
        finally:
            for replica in replicas:
                await replica.close()

    try:
        asyncio.run(run())
        return [store.get_redirect_decision("acme", f"E{i}").status for i in range(4)]
    finally:
        store.close()


def test_replicas_take_turns_on_one_product_through_redis(settings, pool_store, fake_mango):
    """Two service processes on one Mango product: the Redis pace makes them take
    turns, so Mango sees one route command per interval and answers no 429."""
    import uuid

    import redis.asyncio

    from realtime.redirect.pace import RedisRoutePace

    fake, url = fake_mango
    prefix = f"cptest:{uuid.uuid4().hex[:8]}:"
    paces = [
        RedisRoutePace(redis.asyncio.Redis(host="127.0.0.1", port=6379), 0.3, 5.0, prefix)
        for _ in range(2)
    ]
    statuses = _route_four_commands(settings, pool_store, url, paces)
    assert statuses == ["sent"] * 4
    assert fake.refused == []
    arrivals = sorted(c.at for c in fake.routes())
    assert len(arrivals) == 4
    assert all(b - a >= 0.3 for a, b in itertools.pairwise(arrivals))


def test_without_redis_a_replica_keeps_its_own_pace(settings, pool_store, fake_mango):
    """Redis unreachable: commands still leave, one process keeping Mango's pace."""
    import redis.asyncio

    from realtime.redirect.pace import RedisRoutePace

    fake, url = fake_mango
    down = redis.asyncio.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    statuses = _route_four_commands(settings, pool_store, url, [RedisRoutePace(down, 0.3, 5.0)])
    assert statuses == ["sent"] * 4
    assert fake.refused == []
