"""Outgoing webhooks against a real receiver on loopback: subscriptions, signatures,
retries on the jittered schedule, dead letters and redrive, racing workers, isolation.

Time is a ManualClock: the tests call `run_once()` and move the clock to the next
attempt, so no test sleeps through a backoff. Only timeouts are real (0.3 s).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from typer.testing import CliRunner

from realtime.app import create_app
from realtime.auth.service import create_key
from realtime.domain import Changes, OutboxMessage, utcnow
from realtime.settings import Settings, get_settings
from realtime.store.sqlite import SQLiteEventStore
from realtime.webhooks.service import build_messages
from realtime.webhooks.signing import sign, verify_signature
from realtime.webhooks.worker import WebhookWorker, backoff
from tests.servers import serve_in_thread

TIMEOUT = 0.3
CALL = {
    "entry_id": "E1",
    "caller": "+79161234567",
    "tracking_number": "+74955550000",
    "session_id": "s_1",
    "landing_page": "https://acme.example/?utm_source=yandex",
    "referrer": "https://yandex.ru/",
    "utm_source": "yandex",
    "utm_medium": "cpc",
    "utm_campaign": "autumn",
    "is_first_call": True,
    "talk_seconds": 42,
    "is_target": True,
}


# --- a receiver that can be told to fail, hang and recover ------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str = ""
    mode: str = "ok"  # ok | fail | slow
    path_modes: dict[str, str] = field(default_factory=dict)
    requests: list[Received] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def got(self, path: str | None = None) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if path is None or r.path == path]

    def app(self) -> Starlette:
        async def hook(request: Request) -> PlainTextResponse:
            body = await request.body()
            path = request.url.path
            with self.lock:
                self.requests.append(Received(path, dict(request.headers), body))
            mode = self.path_modes.get(path, self.mode)
            if mode == "fail":
                return PlainTextResponse("receiver is down", status_code=500)
            if mode == "slow":
                deadline = time.monotonic() + 5
                while not self.released.is_set() and time.monotonic() < deadline:
                    await asyncio.sleep(0.02)
            return PlainTextResponse("ok")

        return Starlette(routes=[Route("/{path:path}", hook, methods=["POST"])])


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    with serve_in_thread(rec.app()) as base_url:
        rec.url = base_url
        yield rec
        rec.released.set()  # let hanging handlers finish so the server stops at once


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.webhooks_worker_enabled = False  # each test drives `run_once` itself
    settings.webhooks_allow_private_targets = True  # the receiver is on loopback
    settings.webhooks_timeout_seconds = TIMEOUT
    return settings


@pytest.fixture
def keys(api) -> dict[str, str]:
    _, store = api
    return {company: create_key(store, company)[1] for company in ("acme", "globex")}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def subscribe(client, key, url, events=("call.ended", "lead.created"), **extra) -> dict:
    r = client.post(
        "/v1/webhooks/subscriptions",
        json={"url": url, "events": list(events), **extra},
        headers=auth(key),
    )
    assert r.status_code == 201, r.text
    return r.json()


def queue(store, clock, company="acme", event="call.ended", payload=CALL) -> list[OutboxMessage]:
    """What the call and lead services do: messages saved with the change they report."""
    messages = build_messages(store.list_subscriptions(company), event, payload, clock.now())
    store.save_changes(Changes(outbox=messages))
    return messages


def deliver(store, clock, settings, rng=None) -> int:
    """One worker pass, with its own HTTP client, as the service loop would run it."""

    async def once() -> int:
        async with httpx.AsyncClient() as http:
            return await WebhookWorker(store, clock, http, settings, rng=rng).run_once()

    return asyncio.run(once())


class JitterAt:
    """A random source pinned to one end of every range: the schedule's bounds."""

    def __init__(self, end: str) -> None:
        self.end = end

    def uniform(self, low: float, high: float) -> float:
        return high if self.end == "max" else low


# --- subscriptions --------------------------------------------------------------------


def test_secret_is_returned_once_at_creation_and_never_listed(api, keys, receiver):
    client, _ = api
    created = subscribe(client, keys["acme"], f"{receiver.url}/hook")
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 40
    assert created["events"] == ["call.ended", "lead.created"]
    listed = client.get("/v1/webhooks/subscriptions", headers=auth(keys["acme"])).json()
    assert [s["id"] for s in listed] == [created["id"]]
    assert "secret" not in listed[0]
    assert created["secret"] not in str(listed)


def test_a_secret_given_by_the_company_is_used(api, keys, receiver):
    client, store = api
    mine = "a-long-enough-shared-secret"
    subscribe(client, keys["acme"], f"{receiver.url}/hook", secret=mine)
    assert store.list_subscriptions("acme")[0].secret == mine


@pytest.mark.parametrize(
    "body",
    [
        {"url": "ftp://hooks.example.com/x", "events": ["call.ended"]},
        {"url": "http://", "events": ["call.ended"]},
        {"url": "/relative/hook", "events": ["call.ended"]},
        {"url": "https://hooks.example.com:99999/x", "events": ["call.ended"]},
        {"url": "https://hooks.example.com/x", "events": []},
        {"url": "https://hooks.example.com/x", "events": ["call.exploded"]},
        {"url": "https://hooks.example.com/x", "events": ["call.ended"], "secret": "short"},
        {"events": ["call.ended"]},
    ],
    ids=[
        "ftp",
        "no-host",
        "relative",
        "bad-port",
        "no-events",
        "unknown-event",
        "short-secret",
        "no-url",
    ],
)
def test_bad_subscription_input_is_refused_with_422(api, keys, body):
    client, store = api
    r = client.post("/v1/webhooks/subscriptions", json=body, headers=auth(keys["acme"]))
    assert r.status_code == 422, r.text
    assert store.list_subscriptions("acme") == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://api.localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
    ],
)
def test_loopback_and_private_targets_are_refused_unless_allowed(api, keys, settings, url):
    client, store = api
    settings.webhooks_allow_private_targets = False
    r = client.post(
        "/v1/webhooks/subscriptions",
        json={"url": url, "events": ["call.ended"]},
        headers=auth(keys["acme"]),
    )
    assert r.status_code == 400, r.text
    assert "private" in r.json()["message"]
    assert store.list_subscriptions("acme") == []


def test_public_targets_are_accepted_when_private_ones_are_refused(api, keys, settings):
    client, _ = api
    settings.webhooks_allow_private_targets = False
    subscribe(client, keys["acme"], "https://hooks.example.com/callpath")


def test_requests_without_a_valid_api_key_get_401(api):
    client, _ = api
    assert client.get("/v1/webhooks/subscriptions").status_code == 401
    r = client.get("/v1/webhooks/deliveries", headers=auth("cp_nope_nope"))
    assert r.status_code == 401


# --- signing --------------------------------------------------------------------------


def test_delivery_is_signed_and_verifies_with_the_documented_function(
    api, keys, receiver, clock, settings
):
    client, store = api
    sub = subscribe(client, keys["acme"], f"{receiver.url}/hook")
    [message] = queue(store, clock)
    assert deliver(store, clock, settings) == 1

    [got] = receiver.got()
    h = got.headers
    assert h["x-callpath-event"] == "call.ended"
    assert h["x-callpath-delivery"] == message.id
    assert h["x-callpath-timestamp"] == str(int(clock.now().timestamp()))
    assert h["content-type"] == "application/json"
    body = httpx.Response(200, content=got.body).json()
    assert body == {"event": "call.ended", **CALL, "delivery_id": message.id}

    ts, sig, now = h["x-callpath-timestamp"], h["x-callpath-signature"], clock.now()
    assert sig.startswith("v1=")
    assert verify_signature(sub["secret"], ts, got.body, sig, now=now)
    assert verify_signature(sub["secret"], ts, got.body.decode(), sig, now=now.timestamp())
    # Wrong secret, tampered body, moved timestamp, forged or missing signature: refused.
    assert not verify_signature("whsec_someone_else", ts, got.body, sig, now=now)
    assert not verify_signature(sub["secret"], ts, got.body.replace(b"42", b"43"), sig, now=now)
    assert not verify_signature(sub["secret"], str(int(ts) + 1), got.body, sig, now=now)
    forged = sign("guessed-secret", int(ts), got.body)
    assert not verify_signature(sub["secret"], ts, got.body, forged, now=now)
    assert not verify_signature(sub["secret"], ts, got.body, "", now=now)
    assert not verify_signature(sub["secret"], "not-a-time", got.body, sig, now=now)
    # A genuine request replayed after the tolerance (or arriving from the future) is stale.
    assert verify_signature(sub["secret"], ts, got.body, sig, now=now + timedelta(seconds=300))
    assert not verify_signature(sub["secret"], ts, got.body, sig, now=now + timedelta(seconds=301))
    assert not verify_signature(sub["secret"], ts, got.body, sig, now=now - timedelta(seconds=301))
    assert not verify_signature(
        sub["secret"], ts, got.body, sig, tolerance=10, now=now.timestamp() + 11
    )
    # During a secret rotation several signatures may be listed; one match is enough.
    assert verify_signature(sub["secret"], ts, got.body, f"{forged}, {sig}", now=now)

    delivered = store.get_message("acme", message.id)
    assert (delivered.status, delivered.attempts, delivered.delivered_at) == (
        "delivered",
        1,
        clock.now(),
    )


def test_only_subscribed_events_are_sent(api, keys, receiver, clock, settings):
    client, store = api
    subscribe(client, keys["acme"], f"{receiver.url}/hook", events=["lead.created"])
    assert queue(store, clock, event="call.ended") == []
    queue(store, clock, event="lead.created", payload={"lead_id": "lead_1"})
    assert deliver(store, clock, settings) == 1
    assert [r.headers["x-callpath-event"] for r in receiver.got()] == ["lead.created"]


# --- retries --------------------------------------------------------------------------


def test_failed_attempts_retry_only_when_due_and_within_the_jitter_bounds(
    api, keys, receiver, clock, settings
):
    client, store = api
    subscribe(client, keys["acme"], f"{receiver.url}/hook")
    [message] = queue(store, clock)
    receiver.mode = "fail"
    base, cap = settings.webhooks_backoff_base_seconds, settings.webhooks_backoff_cap_seconds
    floor = settings.webhooks_backoff_floor_seconds
    for attempt in range(1, 9):
        assert deliver(store, clock, settings) == 1
        stored = store.get_message("acme", message.id)
        assert (stored.status, stored.attempts) == ("pending", attempt)
        assert stored.last_error == "HTTP 500: receiver is down"
        wait = (stored.next_attempt_at - clock.now()).total_seconds()
        assert floor <= wait <= max(floor, min(cap, base * 2**attempt)) + 0.001
        # Not a moment early: just before it is due, the worker leaves it alone.
        clock.set(stored.next_attempt_at - timedelta(milliseconds=1))
        assert deliver(store, clock, settings) == 0
        clock.set(stored.next_attempt_at)
    assert len(receiver.got()) == 8
    receiver.mode = "ok"
    assert deliver(store, clock, settings) == 1
    assert store.get_message("acme", message.id).status == "delivered"


def test_with_jitter_at_its_top_the_wait_doubles_up_to_the_cap(
    api, keys, receiver, clock, settings
):
    client, store = api
    subscribe(client, keys["acme"], f"{receiver.url}/hook")
    [message] = queue(store, clock)
    receiver.mode = "fail"
    waits = []
    for _ in range(10):
        deliver(store, clock, settings, rng=JitterAt("max"))
        due = store.get_message("acme", message.id).next_attempt_at
        waits.append((due - clock.now()).total_seconds())
        clock.set(due)
    assert waits == [20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]


def test_with_jitter_at_its_bottom_the_wait_is_the_floor(api, keys, receiver, clock, settings):
    client, store = api
    subscribe(client, keys["acme"], f"{receiver.url}/hook")
    [message] = queue(store, clock)
    receiver.mode = "fail"
    deliver(store, clock, settings, rng=JitterAt("min"))
    due = store.get_message("acme", message.id).next_attempt_at
    assert due - clock.now() == timedelta(seconds=settings.webhooks_backoff_floor_seconds)


def test_backoff_stays_in_bounds_for_any_attempt_count():
    import random

    rng = random.Random(7)
    for attempts in (0, 1, 5, 30, 1000):
        for _ in range(200):
            wait = backoff(attempts, base=10, cap=3600, floor=2, rng=rng).total_seconds()
            assert 2 <= wait <= max(2, min(3600, 10 * 2**attempts))


def test_a_receiver_that_hangs_past_the_timeout_counts_as_a_failed_attempt(
    api, keys, receiver, clock, settings
):
    client, store = api
    subscribe(client, keys["acme"], f"{receiver.url}/hook")
    [message] = queue(store, clock)
    receiver.mode = "slow"
    started = time.monotonic()
    assert deliver(store, clock, settings) == 1
    assert time.monotonic() - started < TIMEOUT + 1.5
    stored = store.get_message("acme", message.id)
    assert (stored.status, stored.attempts) == ("pending", 1)
    assert stored.last_error == f"timed out after {TIMEOUT:g} s"


def test_a_refused_connection_counts_as_a_failed_attempt(api, keys, clock, settings):
    client, store = api
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    subscribe(client, keys["acme"], f"http://127.0.0.1:{port}/hook")
    [message] = queue(store, clock)
    assert deliver(store, clock, settings) == 1
    stored = store.get_message("acme", message.id)
    assert (stored.status, stored.attempts) == ("pending", 1)
    assert stored.last_error.startswith("ConnectError")


def test_a_host_resolving_to_a_private_address_is_refused_at_delivery(
    api, keys, receiver, clock, settings
):
    client, store = api
    # Registered while private targets were allowed; by delivery time they no longer are.
    subscribe(client, keys["acme"], f"{receiver.url.replace('127.0.0.1', 'localhost')}/hook")
    [message] = queue(store, clock)
    strict = settings.model_copy(update={"webhooks_allow_private_targets": False})
    assert deliver(store, clock, strict) == 1
    assert receiver.got() == []
    stored = store.get_message("acme", message.id)
    assert stored.status == "pending"
    assert "private address" in stored.last_error


def test_a_slow_receiver_does_not_hold_up_other_subscriptions(api, keys, receiver, clock, settings):
    client, store = api
    subscribe(client, keys["acme"], f"{receiver.url}/slow", events=["call.ended"])
    receiver.path_modes["/slow"] = "slow"
    slow = [m for _ in range(6) for m in queue(store, clock)]
    subscribe(client, keys["acme"], f"{receiver.url}/fast", events=["lead.created"])
    [fast] = queue(store, clock, event="lead.created", payload={"lead_id": "lead_1"})

    started = time.monotonic()
    attempted = deliver(store, clock, settings)
    # Every attempt of a run is concurrent: one timeout, not one per slow message.
    assert time.monotonic() - started < TIMEOUT + 1.5
    cap = settings.webhooks_per_subscription_concurrency
    assert attempted == cap + 1
    assert store.get_message("acme", fast.id).status == "delivered"
    states = [store.get_message("acme", m.id) for m in slow]
    assert sorted(m.attempts for m in states) == [0] * (len(slow) - cap) + [1] * cap
    # The ones over the cap went back to the queue untouched, due at once.
    assert all(m.next_attempt_at == clock.now() for m in states if m.attempts == 0)


# --- dead letters, redrive, at least once ---------------------------------------------


def fail_until_dead(store, clock, settings, message_id) -> list[OutboxMessage]:
    """Attempt, jump to the next attempt, repeat: the message's life while the receiver
    stays down. One worker and one event loop for the whole run keep it quick."""

    async def run() -> list[OutboxMessage]:
        history = []
        async with httpx.AsyncClient() as http:
            worker = WebhookWorker(store, clock, http, settings)
            for _ in range(500):
                await worker.run_once()
                stored = store.get_message("acme", message_id)
                history.append(stored)
                if stored.status == "dead":
                    return history
                clock.set(stored.next_attempt_at)
        raise AssertionError("the message never went dead")

    return asyncio.run(run())


def test_a_message_failing_for_24_hours_goes_dead_and_redrive_delivers_it_once_recovered(
    api, keys, receiver, clock, settings
):
    client, store = api
    subscribe(client, keys["acme"], f"{receiver.url}/hook")
    [message] = queue(store, clock)
    receiver.mode = "fail"

    history = fail_until_dead(store, clock, settings, message.id)
    window = timedelta(hours=24)
    # The last attempt lands exactly on the window's end, not before and not after.
    assert clock.now() == message.created_at + window
    assert all(h.status == "pending" for h in history[:-1])
    dead = history[-1]
    assert dead.attempts == len(history) == len(receiver.got())
    assert dead.last_error == "HTTP 500: receiver is down"

    listed = client.get("/v1/webhooks/deliveries?status=dead", headers=auth(keys["acme"]))
    assert [d["id"] for d in listed.json()] == [message.id]
    assert listed.json()[0]["last_error"] == "HTTP 500: receiver is down"
    pending = client.get("/v1/webhooks/deliveries?status=pending", headers=auth(keys["acme"]))
    assert pending.json() == []
    # Dead stays dead: the worker does not pick it up again, however long we wait.
    clock.advance(timedelta(days=3))
    assert deliver(store, clock, settings) == 0

    receiver.mode = "ok"
    r = client.post(f"/v1/webhooks/deliveries/{message.id}/redrive", headers=auth(keys["acme"]))
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["attempts"]) == ("pending", 0)
    assert deliver(store, clock, settings) == 1
    assert store.get_message("acme", message.id).status == "delivered"
    # Every attempt, the last one included, carried the same delivery id.
    ids = {r.headers["x-callpath-delivery"] for r in receiver.got()}
    assert ids == {message.id}
    delivered = client.get("/v1/webhooks/deliveries?status=delivered", headers=auth(keys["acme"]))
    assert [d["id"] for d in delivered.json()] == [message.id]


def test_a_redriven_message_gets_a_fresh_retry_window(api, keys, receiver, clock, settings):
    client, store = api
    subscribe(client, keys["acme"], f"{receiver.url}/hook")
    [message] = queue(store, clock)
    receiver.mode = "fail"
    fail_until_dead(store, clock, settings, message.id)
    r = client.post(f"/v1/webhooks/deliveries/{message.id}/redrive", headers=auth(keys["acme"]))
    assert r.status_code == 200
    deliver(store, clock, settings)  # still failing: retried later, not dead at once
    assert store.get_message("acme", message.id).status == "pending"


@pytest.mark.parametrize("status", ["pending", "delivered"])
def test_redrive_of_a_message_that_is_not_dead_is_a_conflict(
    api, keys, receiver, clock, settings, status
):
    client, store = api
    subscribe(client, keys["acme"], f"{receiver.url}/hook")
    [message] = queue(store, clock)
    if status == "delivered":
        deliver(store, clock, settings)
    r = client.post(f"/v1/webhooks/deliveries/{message.id}/redrive", headers=auth(keys["acme"]))
    assert r.status_code == 409, r.text
    assert store.get_message("acme", message.id).status == status


def test_redrive_of_an_unknown_delivery_is_404(api, keys):
    client, _ = api
    r = client.post("/v1/webhooks/deliveries/wh_nope/redrive", headers=auth(keys["acme"]))
    assert r.status_code == 404


def test_an_answer_lost_to_a_timeout_is_redelivered_with_the_same_delivery_id(
    api, keys, receiver, clock, settings
):
    client, store = api
    subscribe(client, keys["acme"], f"{receiver.url}/hook")
    [message] = queue(store, clock)
    receiver.mode = "slow"  # the receiver gets it, but answers too late
    deliver(store, clock, settings)
    receiver.mode = "ok"
    clock.set(store.get_message("acme", message.id).next_attempt_at)
    deliver(store, clock, settings)
    first, second = receiver.got()
    assert first.headers["x-callpath-delivery"] == second.headers["x-callpath-delivery"]
    assert first.body == second.body  # same payload and delivery_id: dedupe on it
    assert store.get_message("acme", message.id).status == "delivered"


def test_a_worker_that_dies_holding_a_claim_leaves_the_message_to_another_after_the_lease(
    api, keys, receiver, clock, settings
):
    client, store = api
    subscribe(client, keys["acme"], f"{receiver.url}/hook")
    [message] = queue(store, clock)
    lease = WebhookWorker(store, clock, None, settings).lease
    assert store.claim_due_messages(clock.now(), 10, lease) != []  # ...and then it crashed
    assert deliver(store, clock, settings) == 0  # hidden while the lease lasts
    clock.advance(lease)
    assert deliver(store, clock, settings) == 1
    assert [r.headers["x-callpath-delivery"] for r in receiver.got()] == [message.id]


def test_two_workers_racing_deliver_each_message_exactly_once(api, keys, receiver, clock, settings):
    client, store = api
    subscribe(client, keys["acme"], f"{receiver.url}/a")
    subscribe(client, keys["acme"], f"{receiver.url}/b")
    messages = [m for _ in range(15) for m in queue(store, clock)]
    settings.webhooks_concurrency = 4  # small claims, so the workers interleave
    start = threading.Barrier(2)
    counts = []

    def work() -> None:
        start.wait()
        handled = 0
        while (n := deliver(store, clock, settings)) > 0:
            handled += n
        counts.append(handled)

    workers = [threading.Thread(target=work) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    ids = [r.headers["x-callpath-delivery"] for r in receiver.got()]
    assert sorted(ids) == sorted(m.id for m in messages)  # 30, none twice
    assert sum(counts) == 30
    assert all(store.get_message("acme", m.id).status == "delivered" for m in messages)


def test_deleting_a_subscription_sends_its_queued_messages_to_the_dead_letters(
    api, keys, receiver, clock, settings
):
    client, store = api
    sub = subscribe(client, keys["acme"], f"{receiver.url}/hook")
    [message] = queue(store, clock)
    r = client.delete(f"/v1/webhooks/subscriptions/{sub['id']}", headers=auth(keys["acme"]))
    assert r.status_code == 204
    assert client.get("/v1/webhooks/subscriptions", headers=auth(keys["acme"])).json() == []
    deliver(store, clock, settings)
    assert receiver.got() == []
    stored = store.get_message("acme", message.id)
    assert (stored.status, stored.last_error) == ("dead", "subscription deleted or inactive")


# --- tenant isolation ------------------------------------------------------------------


def test_another_company_cannot_see_redrive_or_delete_ours(api, keys, receiver, clock, settings):
    client, store = api
    sub = subscribe(client, keys["acme"], f"{receiver.url}/hook")
    [message] = queue(store, clock)
    store.save_message(message.model_copy(update={"status": "dead"}))
    theirs = auth(keys["globex"])

    assert client.get("/v1/webhooks/subscriptions", headers=theirs).json() == []
    for status in ("", "?status=dead", "?status=pending", "?status=delivered"):
        assert client.get(f"/v1/webhooks/deliveries{status}", headers=theirs).json() == []
    r = client.post(f"/v1/webhooks/deliveries/{message.id}/redrive", headers=theirs)
    assert r.status_code == 404
    r = client.delete(f"/v1/webhooks/subscriptions/{sub['id']}", headers=theirs)
    assert r.status_code == 404

    assert store.get_message("acme", message.id).status == "dead"
    assert [s.id for s in store.list_subscriptions("acme")] == [sub["id"]]
    # globex's own events never reach acme's subscription.
    assert queue(store, clock, company="globex") == []


# --- the worker in the service and on its own ---------------------------------------------


def test_the_service_delivers_on_its_own_when_the_worker_is_enabled(
    settings, clock, pool_store, receiver
):
    settings.webhooks_worker_enabled = True
    settings.webhooks_poll_seconds = 0.05
    store = SQLiteEventStore(settings.sqlite_path())
    try:
        from tests.conftest import seed_tenants

        seed_tenants(store, pool_store)
        key = create_key(store, "acme")[1]
        app = create_app(settings, store=store, clock=clock, pool=pool_store)
        with TestClient(app) as client:
            subscribe(client, key, f"{receiver.url}/hook")
            [message] = queue(store, clock)
            deadline = time.monotonic() + 10
            while not receiver.got() and time.monotonic() < deadline:
                time.sleep(0.02)
        assert [r.headers["x-callpath-delivery"] for r in receiver.got()] == [message.id]
        assert store.get_message("acme", message.id).status == "delivered"
    finally:
        store.close()


def test_callpath_webhooks_work_once_delivers_what_is_due(
    api, keys, receiver, clock, settings, monkeypatch
):
    from realtime.cli import app as cli

    client, store = api
    subscribe(client, keys["acme"], f"{receiver.url}/hook")
    # The CLI runs on the wall clock: queue the message as due now.
    [message] = build_messages(store.list_subscriptions("acme"), "call.ended", CALL, utcnow())
    store.save_changes(Changes(outbox=[message]))
    monkeypatch.setenv("CALLPATH_EVENT_STORE_URL", settings.event_store_url)
    monkeypatch.setenv("CALLPATH_WEBHOOKS_ALLOW_PRIVATE_TARGETS", "true")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["webhooks", "work", "--once"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "Attempted 1" in result.output
    assert [r.headers["x-callpath-delivery"] for r in receiver.got()] == [message.id]
