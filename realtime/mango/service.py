"""Mango event intake: authenticate, store the raw event durably, then derive the call."""

from __future__ import annotations

import json
from datetime import datetime

from pydantic import BaseModel, ValidationError

from realtime.calls.service import rebuild_call
from realtime.domain import CallEvent, Company
from realtime.errors import BadInput, Unauthorized
from realtime.mango import signing
from realtime.mango.schemas import CallStateEvent, SummaryEvent
from realtime.pool.base import PoolStore
from realtime.store import EventStore

EVENT_MODELS: dict[str, type[BaseModel]] = {"call": CallStateEvent, "summary": SummaryEvent}


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
    if not isinstance(payload, dict):
        raise BadInput("field 'json' must be a JSON object")
    try:
        model = EVENT_MODELS[event_type].model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "json"
        raise BadInput(f"{event_type} event: {where}: {first['msg']}") from exc
    return payload, model


def ingest(
    store: EventStore,
    pool: PoolStore,
    company: Company,
    event_type: str,
    json_text: str,
    now: datetime,
) -> bool:
    """Store one event and refresh its call. Returns False for a duplicate event."""
    payload, model = parse_payload(event_type, json_text)
    event = CallEvent(
        company_id=company.id,
        event_type=event_type,
        entry_id=model.entry_id,
        call_id=getattr(model, "call_id", ""),
        seq=getattr(model, "seq", 0),
        received_at=now,
        payload=payload,
    )
    is_new = store.append_call_event(event)
    # Rebuild even for a duplicate: a crash between storing the event and saving the
    # call would otherwise leave the call stale until the next event.
    rebuild_call(store, pool, company, event.entry_id)
    return is_new
