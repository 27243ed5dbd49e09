"""Commands to Mango (`commands/route`, `commands/callback`), sent in the background.

The event endpoint only decides and queues; this module sends. Mango allows one route
command per 2 s per product (its API key), so each product has its own queue and
worker task: a burst of calls on one product waits its turn there, never in the event
endpoint, and never holds up another product. A route command that could not leave
within `redirect_max_delay_seconds` of its event is dropped as `expired`: by then the
greeting is over and the call has moved on along the PBX scenario. A 429 is retried
after the interval while the command is still young enough.

The automatic callback for missed calls is a durable schedule in the store (the task's
`auto_callback_due_at`), polled here, so a restart loses no callback. Every replica
polls; a task is claimed in the store before its command is sent, so one replica calls
the client back, once. Route commands keep Mango's pace per process, and across
replicas through Redis when the pool lives there (realtime/redirect/pace.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx

from realtime.domain import CallbackTask, Changes, Company, RedirectDecision, new_id, to_ms
from realtime.mango.signing import sign
from realtime.redirect.pace import RedisRoutePace
from realtime.settings import Settings
from realtime.store import EventStore

log = logging.getLogger(__name__)

SUCCESS = 1000  # Mango's result code for an accepted command
ERROR_CHARS = 200
# How long a command's outcome waits for the event endpoint to store its decision.
RECORD_WAIT_SECONDS = 5.0
# How long a replica's claim on an automatic callback hides it from the others: far
# longer than one command takes (mango_command_timeout_seconds), so a slow send is
# never repeated, short enough that a crashed replica's callback is soon retried.
AUTO_CALLBACK_CLAIM_SECONDS = 120


class Clock(Protocol):
    def now(self) -> datetime: ...


class MangoCommandError(Exception):
    """Mango refused a command or could not be reached."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class MangoCommandClient:
    """Signed form POSTs to `{base}/commands/<name>`, as Mango expects them."""

    def __init__(self, base_url: str, timeout: float, transport: Any = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport)

    async def send(
        self,
        company: Company,
        command: str,
        payload: dict[str, Any],
        on_wire: asyncio.Event | None = None,
    ) -> int:
        """Send one command; the `result` code of Mango's answer (1000 = accepted).
        `on_wire` is set once the request has been written to the socket."""
        if not company.mango_api_key or not company.mango_api_salt:
            raise MangoCommandError("the company has no Mango API key and salt")
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        form = {
            "vpbx_api_key": company.mango_api_key,
            "sign": sign(company.mango_api_key, body, company.mango_api_salt),
            "json": body,
        }
        extensions = {}
        if on_wire is not None:

            async def trace(event: str, info: dict) -> None:
                # httpcore's trace hook: the request body is out, the answer not yet in.
                if event.endswith(("send_request_body.complete", "send_request_body.failed")):
                    on_wire.set()

            extensions["trace"] = trace
        try:
            response = await self._http.post(
                f"{self.base_url}/commands/{command}", data=form, extensions=extensions
            )
        except httpx.HTTPError as exc:
            raise MangoCommandError(f"{command}: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            raise MangoCommandError(
                f"{command}: HTTP {response.status_code}: {response.text[:ERROR_CHARS]}",
                response.status_code,
            )
        try:
            result = int(response.json().get("result"))
        except (ValueError, TypeError, AttributeError) as exc:
            raise MangoCommandError(f"{command}: unreadable answer {response.text[:80]!r}") from exc
        return result

    async def close(self) -> None:
        await self._http.aclose()


@dataclass
class RouteJob:
    company: Company
    entry_id: str
    command_id: str
    call_id: str
    to_number: str
    queued_at: float  # loop time when the event was received
    leaves_now: bool = False  # no earlier command of the product holds it back
    # Set once the request is written; the event endpoint waits for that, briefly.
    on_wire: asyncio.Event = field(default_factory=asyncio.Event)
    # Set once the endpoint has stored the decision: results are recorded after it.
    recorded: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class _Product:
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    next_route_at: float = 0.0
    task: asyncio.Task | None = None


class MangoCommands:
    """Per-product route queues and the automatic-callback poller."""

    def __init__(
        self,
        store: EventStore,
        clock: Clock,
        settings: Settings,
        client: MangoCommandClient | None = None,
        shared_pace: RedisRoutePace | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings
        self.client = client or MangoCommandClient(
            settings.mango_api_url, settings.mango_command_timeout_seconds
        )
        # Turns shared with the other replicas (realtime/redirect/pace.py), on top of
        # this process's own pace; None when this process is the only one.
        self.shared_pace = shared_pace
        self._products: dict[str, _Product] = {}
        # (company, entry_id) of calls whose decision is being stored right now: a
        # second event of the same call arriving meanwhile must not decide again.
        self.deciding: set[tuple[str, str]] = set()
        self._poller: asyncio.Task | None = None
        self._closed = False

    # route ---------------------------------------------------------------------
    def submit_route(self, company: Company, decision: RedirectDecision) -> RouteJob | None:
        """Queue the decision's route command and return at once: the event endpoint
        must answer Mango without waiting for the command. The endpoint stores the
        decision and then calls `job.recorded.set()`; if `job.leaves_now`, it may first
        wait (briefly) for `job.on_wire`, so the command leaves before its own writes."""
        if decision.to_number is None or decision.command_id is None:
            return None
        loop = asyncio.get_running_loop()
        key = company.mango_api_key or company.id
        product = self._products.get(key)
        if product is None:
            product = self._products[key] = _Product()
        if product.task is None or product.task.done():
            product.task = loop.create_task(self._route_worker(key, product))
        job = RouteJob(
            company=company,
            entry_id=decision.entry_id,
            command_id=decision.command_id,
            call_id=decision.call_id,
            to_number=decision.to_number,
            queued_at=loop.time(),
            leaves_now=product.queue.empty() and product.next_route_at <= loop.time(),
        )
        product.queue.put_nowait(job)
        self.ensure_poller()
        return job

    async def _route_worker(self, key: str, product: _Product) -> None:
        loop = asyncio.get_running_loop()
        interval = self.settings.mango_route_interval_seconds
        max_delay = self.settings.redirect_max_delay_seconds
        while True:
            job: RouteJob = await product.queue.get()
            try:
                while True:
                    wait = product.next_route_at - loop.time()
                    if wait <= 0 and self.shared_pace is not None:
                        wait = await self._shared_turn(key)
                    if loop.time() + max(wait, 0) - job.queued_at > max_delay:
                        if wait <= 0:
                            await self._release_shared(key)  # a turn we will not use
                        await self._update(job, status="expired", error="rate limit: greeting over")
                        break
                    if wait > 0:
                        await asyncio.sleep(wait)
                        continue  # ask again: another replica may have taken the turn
                    try:
                        result = await self.client.send(
                            job.company,
                            "route",
                            {
                                "command_id": job.command_id,
                                "call_id": job.call_id,
                                "to_number": job.to_number,
                            },
                            job.on_wire,
                        )
                    except MangoCommandError as exc:
                        await self._turn_over(key, product, interval)
                        if exc.status == 429:
                            continue  # Mango's own limit: try again after the interval
                        await self._update(job, status="failed", error=str(exc))
                        break
                    finally:
                        job.on_wire.set()
                    # The next slot counts from Mango's answer: the request reached
                    # Mango before that, so two arrivals are never closer than the limit.
                    await self._turn_over(key, product, interval)
                    if result == SUCCESS:
                        await self._update(job, status="sent", sent_at=self.clock.now())
                    else:
                        await self._update(job, status="failed", error=f"mango result {result}")
                    break
            except Exception:  # pragma: no cover - a bug must not stop the product's queue
                log.exception("route command %s", job.command_id)
            finally:
                product.queue.task_done()

    async def _shared_turn(self, key: str) -> float:
        try:
            return await self.shared_pace.reserve(key)
        except Exception:
            # Redis unreachable: keep this process's own pace rather than stall calls;
            # at worst Mango answers 429 and the command is retried.
            log.warning("route pace shared through Redis unavailable", exc_info=True)
            return 0.0

    async def _turn_over(self, key: str, product: _Product, interval: float) -> None:
        product.next_route_at = asyncio.get_running_loop().time() + interval
        await self._release_shared(key)

    async def _release_shared(self, key: str) -> None:
        if self.shared_pace is None:
            return
        try:
            await self.shared_pace.release(key)
        except Exception:  # the hold runs out by itself; never stop the queue
            log.warning("releasing a route turn shared through Redis failed", exc_info=True)

    async def _update(self, job: RouteJob, **changes: Any) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(job.recorded.wait(), RECORD_WAIT_SECONDS)
        decision = self.store.get_redirect_decision(job.company.id, job.entry_id)
        if decision is None or decision.command_id != job.command_id:
            return
        if "sent_at" in changes:
            changes["sent_at"] = to_ms(changes["sent_at"])
        self.store.save_redirect_decision(decision.model_copy(update=changes))

    async def drain(self) -> None:
        """Wait until every queued route command has been sent, failed or expired."""
        for product in list(self._products.values()):
            await product.queue.join()

    # automatic callbacks -------------------------------------------------------
    def ensure_poller(self) -> None:
        if self._poller is None or self._poller.done():
            self._poller = asyncio.get_running_loop().create_task(self._poll_callbacks())

    async def _poll_callbacks(self) -> None:
        while not self._closed:
            try:
                await self.run_due_callbacks()
            except Exception:  # pragma: no cover - keep polling after a store hiccup
                log.exception("automatic callbacks")
            await asyncio.sleep(self.settings.auto_callback_poll_seconds)

    async def run_due_callbacks(self, limit: int = 100) -> int:
        """Start Mango callbacks for pending missed-call tasks that are due. Returns how
        many commands were attempted. Every replica of the service polls; the store's
        claim makes one of them call each client back, once."""
        tasks = self.store.claim_due_auto_callbacks(
            self.clock.now(), limit, timedelta(seconds=AUTO_CALLBACK_CLAIM_SECONDS)
        )
        for task in tasks:
            await self._callback(task)
        return len(tasks)

    async def _callback(self, task: CallbackTask) -> None:
        company = self.store.get_company(task.company_id)
        config = self.store.get_redirect_config(task.company_id)
        if company is None or config is None or not config.auto_callback_from_extension:
            task.auto_callback_status = "skipped"
            self.store.save_changes(Changes(callbacks=[task]))
            return
        task.auto_callback_command_id = task.auto_callback_command_id or new_id("cb")
        payload: dict[str, Any] = {
            "command_id": task.auto_callback_command_id,
            "from": {"extension": config.auto_callback_from_extension},
            "to_number": task.phone.lstrip("+"),
        }
        if config.auto_callback_line_number:
            payload["line_number"] = config.auto_callback_line_number.lstrip("+")
        try:
            result = await self.client.send(company, "callback", payload)
        except MangoCommandError as exc:
            if exc.status == 429:
                # stays scheduled, and the claim is let go: the next poll tries again
                task.auto_callback_due_at = to_ms(self.clock.now())
            else:
                task.auto_callback_status, task.auto_callback_error = "failed", str(exc)
        else:
            if result == SUCCESS:
                task.auto_callback_status = "sent"
            else:
                task.auto_callback_status = "failed"
                task.auto_callback_error = f"mango result {result}"
        # Re-read: an answered call may have closed the task while we were sending.
        current = self.store.get_callback(task.company_id, task.id)
        if current is not None and current.status == "done":
            task = current.model_copy(
                update={
                    "auto_callback_status": task.auto_callback_status,
                    "auto_callback_due_at": task.auto_callback_due_at,
                    "auto_callback_command_id": task.auto_callback_command_id,
                    "auto_callback_error": task.auto_callback_error,
                }
            )
        self.store.save_changes(Changes(callbacks=[task]))

    async def close(self) -> None:
        self._closed = True
        tasks = [p.task for p in self._products.values() if p.task] + (
            [self._poller] if self._poller else []
        )
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.client.close()
        if self.shared_pace is not None:
            await self.shared_pace.close()
