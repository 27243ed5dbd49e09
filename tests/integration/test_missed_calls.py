"""Missed-call protection through the HTTP API: signed Mango events in, callback tasks
and `call.missed` webhooks out, tasks closed by a later answered call, and the
automatic Mango callback sent to a local fake command API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from connectors.fakes.mango_commands import FakeMangoCommands
from realtime.app import create_app
from realtime.auth.service import create_key
from realtime.redirect.commands import MangoCommands
from realtime.redirect.schemas import RedirectConfigIn
from realtime.store.sqlite import SQLiteEventStore
from realtime.webhooks.service import create_subscription
from tests.conftest import T0, mango_form, seed_tenants

CALLER = "+79161110001"
LINE = "74951234567"


class World:
    def __init__(self, client: TestClient, store: SQLiteEventStore, fake, clock, app) -> None:
        self.client, self.store, self.fake, self.clock, self.app = client, store, fake, clock, app
        self.key = create_key(store, "acme")[1]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def post(self, path: str, payload: dict) -> None:
        response = self.client.post(f"/mango{path}", data=mango_form(payload))
        assert response.status_code == 200, response.text

    def summary(
        self,
        entry: str,
        at: datetime,
        answered: bool,
        direction: int = 1,
        client: str = CALLER,
        extension: str = "101",
        talk: int = 90,
    ) -> None:
        ts = int(at.timestamp())
        outside, employee = {"number": client.lstrip("+")}, {"extension": extension}
        self.post(
            "/events/summary",
            {
                "entry_id": entry,
                "call_direction": direction,
                "from": outside if direction == 1 else employee,
                "to": employee if direction == 1 else outside,
                "line_number": LINE,
                "create_time": ts,
                "forward_time": ts + 5 if answered else 0,
                "talk_time": ts + 10 if answered else 0,
                "end_time": ts + 10 + talk if answered else ts + 30,
                "entry_result": 1 if answered else 0,
            },
        )

    def pending(self) -> list[dict]:
        response = self.client.get("/v1/callbacks?status=pending", headers=self.auth)
        assert response.status_code == 200
        return response.json()

    def task(self, task_id: str) -> dict:
        [task] = [t for t in self.client.get("/v1/callbacks", headers=self.auth).json()
                  if t["id"] == task_id]  # fmt: skip
        return task

    def run_due_callbacks(self) -> int:
        commands: MangoCommands = self.app.state.mango_commands
        return self.client.portal.call(commands.run_due_callbacks)


@pytest.fixture
def world(settings, clock, pool_store) -> Iterator[World]:
    fake = FakeMangoCommands({"acme-key": "acme-salt", "globex-key": "globex-salt"})
    with fake.serve() as url:
        settings = settings.model_copy(
            update={"mango_api_url": url, "auto_callback_poll_seconds": 3600}
        )
        store = SQLiteEventStore(settings.sqlite_path())
        seed_tenants(store, pool_store)
        app = create_app(settings, store=store, clock=clock, pool=pool_store)
        with TestClient(app) as client:
            yield World(client, store, fake, clock, app)
        store.close()


def test_a_missed_call_becomes_a_pending_task_and_fires_call_missed(world):
    create_subscription(
        world.store, "acme", "https://crm.example/hook", ["call.missed"], None, T0, True
    )
    world.summary("E1", T0, answered=False)
    [task] = world.pending()
    assert task["reason"] == "missed_call"
    assert task["phone"] == CALLER
    assert task["ref"] == "E1"
    assert task["lead_id"] == world.store.get_call("acme", "E1").lead_id
    assert task["created_at"].startswith("2026-11-18T09:00:30")  # when the call ended
    messages = world.store.list_messages("acme", None, 10)
    assert [(m.event, m.payload["entry_id"]) for m in messages] == [("call.missed", "E1")]


def test_a_call_that_never_connected_counts_as_missed_without_a_summary(world):
    ts = int(T0.timestamp())
    leg = {"entry_id": "E1", "call_id": "L1", "location": "ivr",
           "from": {"number": CALLER.lstrip("+")}, "to": {"line_number": LINE}}  # fmt: skip
    world.post("/events/call", {**leg, "timestamp": ts, "seq": 1, "call_state": "Appeared"})
    assert world.pending() == []  # still ringing
    ended = {**leg, "timestamp": ts + 20, "seq": 2, "call_state": "Disconnected"}
    world.post("/events/call", ended)
    assert [t["ref"] for t in world.pending()] == ["E1"]


def test_answered_calls_outbound_calls_and_hidden_numbers_make_no_task(world):
    world.summary("E1", T0, answered=True)
    world.summary("E2", T0, answered=False, direction=2)  # our unanswered dial-out
    world.post(
        "/events/summary",
        {"entry_id": "E3", "call_direction": 1, "from": {}, "to": {"extension": "101"},
         "create_time": int(T0.timestamp()), "end_time": int(T0.timestamp()) + 5,
         "entry_result": 0},
    )  # fmt: skip
    assert world.pending() == []


def test_duplicate_events_and_a_second_miss_keep_one_task(world):
    world.summary("E1", T0, answered=False)
    world.summary("E1", T0, answered=False)  # Mango retries
    world.summary("E2", T0 + timedelta(minutes=5), answered=False)
    assert [t["ref"] for t in world.pending()] == ["E1"]


@pytest.mark.parametrize("direction", [1, 2], ids=["caller-rings-again", "we-call-back"])
def test_a_later_answered_call_with_the_same_person_closes_the_task(world, direction):
    world.summary("E1", T0, answered=False)
    [task] = world.pending()
    back = T0 + timedelta(minutes=20)
    world.summary("E2", back, answered=True, direction=direction, talk=90)
    assert world.pending() == []
    closed = world.task(task["id"])
    assert closed["status"] == "done"
    assert closed["closed_by"] == "answered_call"
    assert closed["closed_by_entry_id"] == "E2"
    assert closed["closed_by_target_call"] is True  # 90 s >= the 30 s target
    assert closed["done_at"].startswith("2026-11-18T09:20:10")  # when they talked


def test_an_unanswered_dial_out_or_another_persons_call_leaves_the_task_open(world):
    world.summary("E1", T0, answered=False)
    world.summary("E2", T0 + timedelta(minutes=5), answered=False, direction=2)
    world.summary("E3", T0 + timedelta(minutes=6), answered=True, client="+79169990000")
    assert [t["ref"] for t in world.pending()] == ["E1"]


def test_a_short_call_back_closes_the_task_but_is_not_a_target_call(world):
    world.summary("E1", T0, answered=False)
    world.summary("E2", T0 + timedelta(minutes=5), answered=True, direction=2, talk=10)
    [task] = world.client.get("/v1/callbacks", headers=world.auth).json()
    assert (task["status"], task["closed_by_target_call"]) == ("done", False)


def test_a_task_closed_by_hand_stays_closed_by_hand(world):
    world.summary("E1", T0, answered=False)
    [task] = world.pending()
    world.clock.advance(timedelta(minutes=3))
    response = world.client.post(f"/v1/callbacks/{task['id']}/done", headers=world.auth)
    assert response.status_code == 200
    assert response.json()["closed_by"] == "manual"
    world.summary("E2", T0 + timedelta(minutes=20), answered=True)
    closed = world.task(task["id"])
    assert (closed["closed_by"], closed["closed_by_entry_id"]) == ("manual", None)


def test_a_callback_request_is_closed_by_the_answered_call_too(world):
    response = world.client.post(
        "/v1/leads", json={"site_key": "acme-site", "type": "callback", "phone": CALLER}
    )
    assert response.status_code == 201
    world.summary("E1", T0 + timedelta(minutes=2), answered=True, direction=2)
    [task] = world.client.get("/v1/callbacks", headers=world.auth).json()
    assert (task["reason"], task["status"], task["closed_by_entry_id"]) == (
        "callback_request",
        "done",
        "E1",
    )


def _auto_callback(world, delay: int = 60) -> None:
    world.store.save_redirect_config(
        RedirectConfigIn(
            auto_callback=True,
            auto_callback_delay_seconds=delay,
            auto_callback_from_extension="100",
            auto_callback_line_number="+74951234567",
        ).for_company("acme")
    )


def test_an_automatic_callback_starts_after_the_delay(world):
    _auto_callback(world, delay=60)
    world.summary("E1", T0, answered=False)  # ends at T0 + 30 s
    [task] = world.pending()
    assert task["auto_callback_status"] == "scheduled"
    world.clock.set(T0 + timedelta(seconds=89))
    assert world.run_due_callbacks() == 0
    assert world.fake.callbacks() == []
    world.clock.set(T0 + timedelta(seconds=90))
    assert world.run_due_callbacks() == 1
    [command] = world.fake.callbacks()
    task = world.task(task["id"])
    assert command.payload == {
        "command_id": task["auto_callback_command_id"],
        "from": {"extension": "100"},
        "to_number": CALLER.lstrip("+"),
        "line_number": "74951234567",
    }
    assert (task["auto_callback_status"], task["status"]) == ("sent", "pending")
    assert world.run_due_callbacks() == 0  # sent once
    # The employee's call reaches the client: that answered outbound call closes it.
    world.summary("E2", T0 + timedelta(minutes=2), answered=True, direction=2, extension="100")
    assert world.task(task["id"])["status"] == "done"


def test_two_service_replicas_call_a_missed_caller_back_once(world):
    _auto_callback(world, delay=0)
    world.summary("E1", T0, answered=False)
    world.clock.set(T0 + timedelta(minutes=1))
    # A second replica: its own connection to the store and its own command sender.
    settings = world.app.state.settings
    other_store = SQLiteEventStore(settings.sqlite_path())
    other = MangoCommands(other_store, world.clock, settings)
    mine: MangoCommands = world.app.state.mango_commands

    async def both_poll() -> list[int]:
        try:
            return list(await asyncio.gather(mine.run_due_callbacks(), other.run_due_callbacks()))
        finally:
            await other.close()

    try:
        attempted = world.client.portal.call(both_poll)
    finally:
        other_store.close()
    assert sorted(attempted) == [0, 1]
    assert len(world.fake.callbacks()) == 1
    assert world.pending()[0]["auto_callback_status"] == "sent"
    # the claim does not outlive the send: nothing is due any more
    world.clock.set(T0 + timedelta(hours=1))
    assert world.run_due_callbacks() == 0


def test_a_task_closed_before_its_time_is_not_called_back(world):
    _auto_callback(world, delay=600)
    world.summary("E1", T0, answered=False)
    world.summary("E2", T0 + timedelta(minutes=2), answered=True)  # they rang again
    world.clock.set(T0 + timedelta(hours=1))
    assert world.run_due_callbacks() == 0
    assert world.fake.callbacks() == []
    [task] = world.client.get("/v1/callbacks", headers=world.auth).json()
    assert task["auto_callback_status"] == "skipped"


def test_a_rate_limited_callback_stays_scheduled_and_a_refused_one_fails(world):
    _auto_callback(world, delay=0)
    world.summary("E1", T0, answered=False)
    world.clock.set(T0 + timedelta(minutes=1))
    world.fake.fail_next(429)
    assert world.run_due_callbacks() == 1
    assert world.pending()[0]["auto_callback_status"] == "scheduled"
    world.fake.fail_next(400)
    assert world.run_due_callbacks() == 1
    task = world.pending()[0]
    assert task["auto_callback_status"] == "failed"
    assert "HTTP 400" in task["auto_callback_error"]


def test_callback_tasks_are_per_company(world):
    world.summary("E1", T0, answered=False)
    globex_key = create_key(world.store, "globex")[1]
    other = {"Authorization": f"Bearer {globex_key}"}
    assert world.client.get("/v1/callbacks", headers=other).json() == []
    [task] = world.pending()
    response = world.client.post(f"/v1/callbacks/{task['id']}/done", headers=other)
    assert response.status_code == 404
    assert world.pending()[0]["status"] == "pending"


def test_the_poller_sends_due_callbacks_by_itself(world, settings):
    _auto_callback(world, delay=0)
    world.summary("E1", T0, answered=False)
    world.clock.set(T0 + timedelta(minutes=1))
    commands: MangoCommands = world.app.state.mango_commands
    commands.settings = commands.settings.model_copy(update={"auto_callback_poll_seconds": 0.05})

    async def restart_poller() -> None:
        if commands._poller is not None:
            commands._poller.cancel()
        commands._poller = None
        commands.ensure_poller()
        await asyncio.sleep(0)

    world.client.portal.call(restart_poller)
    end = time.monotonic() + 5
    while not world.fake.callbacks() and time.monotonic() < end:
        time.sleep(0.02)
    assert len(world.fake.callbacks()) == 1
