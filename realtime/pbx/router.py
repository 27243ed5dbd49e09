"""A generic PBX intake for PBXs other than Mango, authenticated with the company API key.

Each event is stored in the same raw log as Mango's, shaped as the equivalent Mango
call event, so merging, attribution, classification, leads and webhooks are shared.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from realtime.auth.tenancy import current_company
from realtime.calls.service import rebuild_call
from realtime.clock import SystemClock
from realtime.dependencies import get_clock, get_store
from realtime.domain import CallEvent, Company
from realtime.pbx.schemas import PbxAccepted, PbxEvent
from realtime.store import EventStore

router = APIRouter(prefix="/v1/pbx", tags=["pbx"])

STATES = {"started": ("Appeared", 1), "answered": ("Connected", 2), "ended": ("Disconnected", 3)}


def as_mango_call_event(event: PbxEvent) -> dict:
    state, seq = STATES[event.event]
    caller = {"number": event.caller} if event.caller else {}
    line = {"line_number": event.tracking_number} if event.tracking_number else {}
    employee = {"extension": event.employee} if event.employee else {}
    inbound = event.direction == "inbound"
    return {
        "entry_id": f"pbx:{event.call_id}",
        "call_id": event.call_id,
        "timestamp": int(event.at.timestamp()),
        "seq": seq,
        "call_state": state,
        "location": "abonent",
        "from": caller if inbound else {**employee},
        "to": {**line, **employee} if inbound else {**caller},
        "dct": {"number": event.tracking_number, "type": 1} if event.tracking_number else None,
        "source": "generic_pbx",
    }


@router.post("/events", response_model=PbxAccepted, summary="A call event from any PBX")
async def post_event(
    body: PbxEvent,
    request: Request,
    company: Company = Depends(current_company),
    store: EventStore = Depends(get_store),
    clock: SystemClock = Depends(get_clock),
) -> PbxAccepted:
    payload = as_mango_call_event(body)
    if payload["dct"] is None:
        del payload["dct"]
    now = clock.now()
    event = CallEvent(
        company_id=company.id,
        event_type="call",
        entry_id=payload["entry_id"],
        call_id=body.call_id,
        seq=payload["seq"],
        received_at=now,
        payload=payload,
    )
    is_new = store.append_call_event(event)
    rebuild_call(store, request.app.state.pool, company, event.entry_id, now)
    return PbxAccepted(duplicate=not is_new)
