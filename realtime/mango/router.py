"""Mango VPBX webhooks. Mango appends `/events/<type>` to the base URL the client sets;
we mount that under `/mango`."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request

from realtime.clock import SystemClock
from realtime.dependencies import get_clock, get_store
from realtime.domain import Company
from realtime.errors import BadInput
from realtime.mango import service
from realtime.mango.schemas import CallStateEvent
from realtime.redirect import service as redirect
from realtime.store import EventStore

router = APIRouter(prefix="/mango", tags=["mango"])

# The longest an event waits for its route command to be written to Mango's socket.
WIRE_WAIT_SECONDS = 0.05


async def read_form(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("application/x-www-form-urlencoded"):
        raise BadInput("expected application/x-www-form-urlencoded with vpbx_api_key, sign, json")
    body = await request.body()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput("body is not UTF-8") from exc
    return dict(parse_qsl(text, keep_blank_values=True))


async def _redirect(
    request: Request, store: EventStore, company: Company, event: CallStateEvent, now: datetime
) -> None:
    """Smart redirect decides from what is already stored (milliseconds) and queues the
    route command before the event is written: the command leaves while the event's
    writes wait for the disk, and Mango gets its answer without waiting for it."""
    commands = request.app.state.mango_commands
    key = (company.id, event.entry_id)
    if key in commands.deciding:
        return  # the same call's other event is mid-decision (it awaits below)
    decision = redirect.decide_for_event(store, company, event, now)
    if decision is None:
        return
    commands.deciding.add(key)
    job = None
    try:
        job = commands.submit_route(company, decision)
        if job is not None and job.leaves_now:
            # Wait (briefly, bounded) for the request to be written, never for Mango's
            # answer: then the event's disk writes follow.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(job.on_wire.wait(), WIRE_WAIT_SECONDS)
        store.save_redirect_decision(decision)
    finally:
        commands.deciding.discard(key)
        if job is not None:
            job.recorded.set()


def _handle(event_type: str):
    async def endpoint(
        request: Request,
        store: EventStore = Depends(get_store),
        clock: SystemClock = Depends(get_clock),
    ) -> dict:
        form = await read_form(request)
        company = service.authenticate(store, form)
        now = clock.now()
        payload, event = service.parse_payload(event_type, form["json"])
        if event_type == "call":
            await _redirect(request, store, company, event, now)
        is_new = service.store_event(
            store, request.app.state.pool, company, event_type, payload, event, now
        )
        if event_type == "route_result":
            redirect.link_route_result(store, company, event, now)
        return {"result": "ok", "duplicate": not is_new}

    return endpoint


router.add_api_route(
    "/events/call", _handle("call"), methods=["POST"], summary="Mango call state event"
)
router.add_api_route(
    "/events/summary", _handle("summary"), methods=["POST"], summary="Mango call summary event"
)
router.add_api_route(
    "/events/recording", _handle("recording"), methods=["POST"], summary="Mango recording event"
)
router.add_api_route(
    "/events/record/added",
    _handle("record_added"),
    methods=["POST"],
    summary="Mango: a recording file is ready",
)
router.add_api_route(
    "/result/route", _handle("route_result"), methods=["POST"], summary="Result of a route command"
)
