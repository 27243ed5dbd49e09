"""Mango event intake: authenticate, store the raw event durably, then derive the call."""

from __future__ import annotations

import json
from datetime import datetime

from pydantic import BaseModel, ValidationError

from realtime.calls.service import rebuild_call
from realtime.domain import CallEvent, Company
from realtime.errors import BadInput, Unauthorized
from realtime.mango import signing
from realtime.mango.schemas import (
    CallStateEvent,
    RecordAddedEvent,
    RecordingEvent,
    RouteResult,
    SummaryEvent,
)
from realtime.pool.base import PoolStore
from realtime.store import EventStore

EVENT_MODELS: dict[str, type[BaseModel]] = {
    "call": CallStateEvent,
    "summary": SummaryEvent,
    "recording": RecordingEvent,
    "record_added": RecordAddedEvent,
    "route_result": RouteResult,
}


MAX_DEPTH = 32


def _depth(value: object) -> int:
    """Nesting depth of a JSON value, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def dedupe_key(event_type: str, model: BaseModel) -> tuple[str, str, int]:
    """(entry_id, call_id, seq) under which an event is stored once.

    A route result belongs to our command, not to a call entry, so it is keyed by the
    command id; a "record added" notice by its recording id.
    """
    if event_type == "route_result":
        return f"command:{model.command_id}", "", 0
    if event_type == "record_added":
        return model.entry_id, model.recording_id, 0
    if event_type == "recording":
        return model.entry_id, f"{model.call_id}:{model.recording_id}", model.seq
    if event_type == "call":
        return model.entry_id, model.call_id, model.seq
    # A summary has no call_id or seq of its own (extra keys of those names are ignored).
    return model.entry_id, "", 0


def authenticate(store: EventStore, form: dict[str, str]) -> Company:
    """Find the integration by `vpbx_api_key` and check `sign` over the raw `json` field."""
    api_key, signature, json_text = form.get("vpbx_api_key"), form.get("sign"), form.get("json")
    if not api_key or not signature:
        raise Unauthorized("vpbx_api_key and sign are required")
    company = store.find_company_by_mango_key(api_key)
    if company is None or not company.mango_api_salt:
        raise Unauthorized("unknown vpbx_api_key")
    if json_text is None or not signing.is_valid(
        api_key, json_text, company.mango_api_salt, signature
    ):
        raise Unauthorized("signature does not match: check the integration's salt")
    return company


def parse_payload(event_type: str, json_text: str) -> tuple[dict, BaseModel]:
    try:
        payload = json.loads(json_text)
    except json.JSONDecodeError as exc:
        raise BadInput(f"field 'json' is not valid JSON: {exc.msg} at char {exc.pos}") from exc
    except RecursionError as exc:
        raise BadInput(f"field 'json' nests deeper than {MAX_DEPTH} levels") from exc
    if not isinstance(payload, dict):
        raise BadInput("field 'json' must be a JSON object")
    if _depth(payload) > MAX_DEPTH:
        # Mango's events are 3 levels deep; deeper junk would be stored and then fail
        # to read back on every rebuild.
        raise BadInput(f"field 'json' nests deeper than {MAX_DEPTH} levels")
    try:
        model = EVENT_MODELS[event_type].model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "json"
        raise BadInput(f"{event_type} event: {where}: {first['msg']}") from exc
    return payload, model


def store_event(
    store: EventStore,
    pool: PoolStore,
    company: Company,
    event_type: str,
    payload: dict,
    model: BaseModel,
    now: datetime,
) -> bool:
    """Store one parsed event and refresh its call; False for a duplicate event."""
    entry_id, call_id, seq = dedupe_key(event_type, model)
    event = CallEvent(
        company_id=company.id,
        event_type=event_type,
        entry_id=entry_id,
        call_id=call_id,
        seq=seq,
        received_at=now,
        payload=payload,
    )
    is_new = store.append_call_event(event)
    if event_type != "route_result" and _has_timed_event(store, company.id, entry_id):
        # Rebuild even for a duplicate: a crash between storing the event and saving the
        # call would otherwise leave the call stale until the next event.
        rebuild_call(store, pool, company, entry_id, now)
    return is_new


def _has_timed_event(store: EventStore, company_id: str, entry_id: str) -> bool:
    """A recording notice can beat the call's first event; the call waits for that."""
    return any(
        e.event_type in ("call", "summary") for e in store.list_call_events(company_id, entry_id)
    )
