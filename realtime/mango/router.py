"""Mango VPBX webhooks. Mango appends `/events/<type>` to the base URL the client sets;
we mount that under `/mango`."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request

from realtime.clock import SystemClock
from realtime.dependencies import get_clock, get_store
from realtime.errors import BadInput
from realtime.mango import service
from realtime.redirect import service as redirect
from realtime.store import EventStore

router = APIRouter(prefix="/mango", tags=["mango"])


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


def _handle(event_type: str):
    async def endpoint(
        request: Request,
        store: EventStore = Depends(get_store),
        clock: SystemClock = Depends(get_clock),
    ) -> dict:
        form = await read_form(request)
        company = service.authenticate(store, form)
        now = clock.now()
        is_new, event = service.ingest(
            store, request.app.state.pool, company, event_type, form["json"], now
        )
        if is_new and event_type == "call":
            # Smart redirect: decide now (milliseconds), send the route command from a
            # background queue, so Mango gets its answer at once.
            decision = redirect.on_call_event(store, company, event, now)
            if decision is not None and decision.to_number is not None:
                request.app.state.mango_commands.submit_route(company, decision)
        elif event_type == "route_result":
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
