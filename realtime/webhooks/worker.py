"""The webhook delivery worker: claims due outbox messages and POSTs them, signed.

Delivery is at least once. A claim hides a message from other workers (and replicas)
for a lease longer than any attempt can take, so two workers never send it at the same
time; but a worker that dies after the receiver answered and before the result was
stored leaves the message to be sent again, with the same delivery id. Receivers
deduplicate on X-Callpath-Delivery.

A failed attempt waits a full-jitter backoff (random between the floor and
min(cap, base·2^attempts)), so receivers recovering from an outage are not hit by every
sender in lock step. Once a message has failed for the retry window since it was
queued it goes dead and waits for a redrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import socket
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Protocol
from urllib.parse import urlsplit

import httpx

from realtime.domain import OutboxMessage, WebhookSubscription, to_ms
from realtime.settings import Settings
from realtime.store import EventStore
from realtime.webhooks.service import is_private_address
from realtime.webhooks.signing import sign

log = logging.getLogger(__name__)

USER_AGENT = "callpath-webhooks/1"
ERROR_BODY_CHARS = 200
# Bounded so a hanging receiver cannot hold up a deploy (or a test's teardown).
SHUTDOWN_GRACE = 5.0


class Clock(Protocol):
    def now(self) -> datetime: ...


class RefusedTarget(Exception):
    """The URL resolves to an address we do not send to (SSRF guard)."""


def backoff(
    attempts: int, base: float, cap: float, floor: float, rng: random.Random | None = None
) -> timedelta:
    """Full jitter: uniform in [0, min(cap, base·2^attempts)], but never under `floor`."""
    ceiling = min(cap, base * 2 ** min(attempts, 32))
    return timedelta(seconds=max(floor, (rng or random).uniform(0, ceiling)))


def request_body(message: OutboxMessage) -> bytes:
    """What the receiver gets: the event payload plus its delivery id."""
    document = {**message.payload, "delivery_id": message.id}
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def signed_headers(message: OutboxMessage, secret: str, body: bytes, now: datetime) -> dict:
    timestamp = int(now.timestamp())
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Callpath-Event": message.event,
        "X-Callpath-Delivery": message.id,
        "X-Callpath-Timestamp": str(timestamp),
        "X-Callpath-Signature": sign(secret, timestamp, body),
    }


class WebhookWorker:
    def __init__(
        self,
        store: EventStore,
        clock: Clock,
        http: httpx.AsyncClient | None,
        settings: Settings,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings
        self.rng = rng or random.Random()
        self._http = http
        self._owns_http = http is None
        self.timeout = settings.webhooks_timeout_seconds
        # Longer than the slowest attempt (DNS check and request share one deadline),
        # so a message is never claimed again while its first attempt is still running.
        self.lease = timedelta(seconds=2 * self.timeout + 30)

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                follow_redirects=False,  # a redirect could point inside our network
                limits=httpx.Limits(max_connections=self.settings.webhooks_concurrency),
            )
        return self._http

    async def aclose(self) -> None:
        if self._owns_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    async def run_once(self) -> int:
        """Claim what is due, attempt it, record the outcomes; returns messages attempted.

        Every attempt of one run runs concurrently, so a run lasts about one timeout at
        most. At most `webhooks_per_subscription_concurrency` messages per subscription
        are attempted; the rest go back to the queue at once, behind messages that were
        already due, so a slow or dead receiver cannot take every slot."""
        now = self.clock.now()
        claimed = await asyncio.to_thread(
            self.store.claim_due_messages, now, self.settings.webhooks_concurrency, self.lease
        )
        if not claimed:
            return 0
        subscriptions = await asyncio.to_thread(self._subscriptions_of, claimed)
        per_subscription: dict[str, int] = defaultdict(int)
        attempts, deferred = [], []
        for message in claimed:
            per_subscription[message.subscription_id] += 1
            if per_subscription[message.subscription_id] > (
                self.settings.webhooks_per_subscription_concurrency
            ):
                deferred.append(message)
            else:
                sub = subscriptions.get((message.company_id, message.subscription_id))
                attempts.append(self._attempt(message, sub))
        for message in deferred:
            message.next_attempt_at = to_ms(now)
            await asyncio.to_thread(self.store.save_message, message)
        for outcome in await asyncio.gather(*attempts, return_exceptions=True):
            if isinstance(outcome, Exception):
                # Most likely the store: the message stays claimed and is retried after
                # its lease, which is what at-least-once needs.
                log.error("webhook worker: could not record an attempt: %r", outcome)
        return len(attempts)

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set; back to back while there is a backlog."""
        poll = self.settings.webhooks_poll_seconds
        while not stop.is_set():
            try:
                busy = await self.run_once() > 0
            except Exception:
                # A store outage must not kill the worker: log and try again next poll.
                log.exception("webhook worker: run failed")
                busy = False
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=poll)

    # --- one message ---------------------------------------------------------------

    def _subscriptions_of(
        self, messages: list[OutboxMessage]
    ) -> dict[tuple[str, str], WebhookSubscription]:
        found = {}
        for company_id in {m.company_id for m in messages}:
            for sub in self.store.list_subscriptions(company_id):
                found[(company_id, sub.id)] = sub
        return found

    async def _attempt(self, message: OutboxMessage, sub: WebhookSubscription | None) -> None:
        if sub is None or not sub.active:
            # Nobody to send to any more: keep it visible, as a dead letter.
            message.status = "dead"
            message.last_error = "subscription deleted or inactive"
            await asyncio.to_thread(self.store.save_message, message)
            return
        error = await self._post(message, sub)
        now = self.clock.now()
        message.attempts += 1
        if error is None:
            message.status = "delivered"
            message.delivered_at = to_ms(now)
            message.next_attempt_at = to_ms(now)
        else:
            message.last_error = error
            self._schedule_retry(message, now)
        await asyncio.to_thread(self.store.save_message, message)

    def _schedule_retry(self, message: OutboxMessage, now: datetime) -> None:
        window_ends = message.created_at + timedelta(
            hours=self.settings.webhooks_retry_window_hours
        )
        if now >= window_ends:
            message.status = "dead"
            return
        wait = backoff(
            message.attempts,
            self.settings.webhooks_backoff_base_seconds,
            self.settings.webhooks_backoff_cap_seconds,
            self.settings.webhooks_backoff_floor_seconds,
            self.rng,
        )
        # The last attempt lands on the window's end, not somewhere past it.
        message.next_attempt_at = to_ms(min(now + wait, window_ends))

    async def _post(self, message: OutboxMessage, sub: WebhookSubscription) -> str | None:
        """None if the receiver answered 2xx, else what went wrong."""
        body = request_body(message)
        headers = signed_headers(message, sub.secret, body, self.clock.now())
        try:
            async with asyncio.timeout(self.timeout):
                if not self.settings.webhooks_allow_private_targets:
                    await self._refuse_private(sub.url)
                async with self.http.stream(
                    "POST", sub.url, content=body, headers=headers, timeout=self.timeout
                ) as response:
                    if response.is_success:
                        return None
                    excerpt = await self._excerpt(response)
                    return f"HTTP {response.status_code}" + (f": {excerpt}" if excerpt else "")
        except (TimeoutError, httpx.TimeoutException):
            return f"timed out after {self.timeout:g} s"
        except RefusedTarget as exc:
            return str(exc)
        except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
            return f"{type(exc).__name__}: {exc}"[:ERROR_BODY_CHARS]
        except Exception as exc:
            # Whatever else breaks is this attempt's failure, not the whole run's.
            log.exception("webhook worker: unexpected error delivering %s", message.id)
            return f"{type(exc).__name__}: {exc}"[:ERROR_BODY_CHARS]

    @staticmethod
    async def _excerpt(response: httpx.Response) -> str:
        # Read a little of the body: enough to explain the error, never a whole large one.
        chunks = []
        size = 0
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size >= ERROR_BODY_CHARS:
                break
        return b"".join(chunks)[:ERROR_BODY_CHARS].decode("utf-8", "replace").strip()

    @staticmethod
    async def _refuse_private(url: str) -> None:
        """Resolve the host and refuse private addresses. httpx resolves again when it
        connects, so a DNS answer that changes in between (rebinding) is not caught:
        block private ranges at the network egress too (docs/webhooks.md)."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise RefusedTarget(f"cannot resolve {host!r}: {exc}") from None
        for info in infos:
            address = str(info[4][0])
            if is_private_address(address):
                raise RefusedTarget(f"refused: {host!r} resolves to private address {address}")


class BackgroundWorker:
    """The worker as a task of the service's event loop (the app lifespan)."""

    def __init__(self, worker: WebhookWorker) -> None:
        self.worker = worker
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(worker.run_forever(self._stop), name="webhook-worker")

    async def stop(self) -> None:
        """Give in-flight attempts a few seconds to finish, then cancel and close. Anything
        cut short stays claimed until its lease ends and is then sent again."""
        self._stop.set()
        try:
            await asyncio.wait_for(self._task, timeout=min(self.worker.timeout + 1, SHUTDOWN_GRACE))
        except TimeoutError:
            pass
        except Exception:
            log.exception("webhook worker: failed while stopping")
        await self.worker.aclose()


def start_in_background(store: EventStore, clock: Clock, settings: Settings) -> BackgroundWorker:
    return BackgroundWorker(WebhookWorker(store, clock, None, settings))
