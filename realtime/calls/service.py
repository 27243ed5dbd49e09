"""Calls from raw PBX events: merge, attribute to a session, classify.

A call is always rebuilt from *all* of its stored events, sorted by `seq` within
each leg. That makes late and duplicated events harmless: the result depends on
the set of events, never on the order they arrived in.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from realtime.callbacks.service import close_tasks_answered_by, task_for_missed_call
from realtime.domain import (
    Call,
    CallEvent,
    Changes,
    Company,
    LeadTouch,
    RedirectDecision,
    WebhookEvent,
)
from realtime.leads.service import add_touch, lead_payload, window_start
from realtime.mango.schemas import CallStateEvent, SummaryEvent
from realtime.phones import to_e164
from realtime.pool.base import PoolStore
from realtime.store import EventStore
from realtime.webhooks.service import build_messages

DIRECTIONS = {0: "internal", 1: "inbound", 2: "outbound"}


def _at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def merge_events(company: Company, entry_id: str, events: list[CallEvent]) -> Call:
    legs = [CallStateEvent.model_validate(e.payload) for e in events if e.event_type == "call"]
    legs.sort(key=lambda ev: (ev.timestamp, ev.call_id, ev.seq))
    summaries = [
        SummaryEvent.model_validate(e.payload) for e in events if e.event_type == "summary"
    ]
    summary = summaries[-1] if summaries else None

    tracking = caller = extension = callee = caller_extension = None
    answered_at = ended_at = None
    disconnect_reason = None
    direction = "unknown"
    states = []
    for ev in legs:
        states.append(
            {
                "call_id": ev.call_id,
                "seq": ev.seq,
                "state": ev.call_state,
                "at": _at(ev.timestamp),
                "location": ev.location,
                "extension": ev.to.extension,
            }
        )
        tracking = (
            tracking or (ev.dct.number if ev.dct and ev.dct.number else None) or ev.to.line_number
        )
        caller = caller or ev.from_.number
        callee = callee or ev.to.number
        caller_extension = caller_extension or ev.from_.extension
        if ev.call_state == "Connected" and answered_at is None:
            answered_at = _at(ev.timestamp)
            extension = ev.to.extension or extension
        if ev.call_state == "Disconnected":
            ended_at = _at(ev.timestamp)
            disconnect_reason = ev.disconnect_reason
        if direction == "unknown" and ev.from_.number and not ev.from_.extension:
            direction = "inbound"

    started_at = _at(legs[0].timestamp) if legs else None
    wait = talk = entry_result = None
    if summary is not None:
        direction = DIRECTIONS.get(summary.call_direction, direction)
        started_at = _at(summary.create_time)
        ended_at = _at(summary.end_time)
        tracking = tracking or summary.line_number
        caller = caller or summary.from_.number
        callee = summary.to.number or callee
        caller_extension = summary.from_.extension or caller_extension
        entry_result = summary.entry_result
        disconnect_reason = summary.disconnect_reason or disconnect_reason
        if summary.talk_time > 0:
            answered_at = _at(summary.talk_time)
            talk = summary.end_time - summary.talk_time
            wait = summary.talk_time - summary.create_time
            extension = summary.to.extension or extension
        else:
            talk = 0
            wait = summary.end_time - summary.create_time
    elif answered_at and ended_at:
        talk = int((ended_at - answered_at).total_seconds())
        wait = int((answered_at - started_at).total_seconds())

    recordings = sorted(
        {
            str(e.payload.get("recording_id"))
            for e in events
            if e.event_type in ("recording", "record_added") and e.payload.get("recording_id")
        }
    )
    if started_at is None:  # pragma: no cover - the router never stores an event without a time
        raise ValueError(f"call {entry_id} has no timed event")
    ended = ended_at is not None
    is_missed = entry_result == 0 or (ended and answered_at is None)
    client = caller
    if direction == "outbound":
        # The employee dialled out: they are the extension, the callee is the client.
        extension = caller_extension or extension
        client = callee
    return Call(
        company_id=company.id,
        entry_id=entry_id,
        tracking_number=to_e164(tracking),
        caller_number=to_e164(caller),
        direction=direction,
        started_at=started_at,
        answered_at=answered_at,
        ended_at=ended_at,
        wait_seconds=max(wait, 0) if wait is not None else None,
        talk_seconds=max(talk, 0) if talk is not None else None,
        employee_extension=extension,
        client_number=to_e164(client),
        disconnect_reason=str(disconnect_reason) if disconnect_reason is not None else None,
        entry_result=entry_result,
        states=states,
        is_missed=is_missed,
        is_target=(talk or 0) >= company.target_talk_seconds,
        recording_ids=recordings,
    )


def attribute(store: EventStore, pool: PoolStore, call: Call) -> Call:
    """Link the call to the session whose lease covered the tracking number at call start.

    Otherwise say why not: a static number (its channel), a stray call to a number this
    company gave up and that now rests in quarantine, a bound number nobody held, or a
    number we do not know for this company. The call is kept in every case.
    """
    call.session_id = None
    if call.tracking_number is None:
        call.attribution_reason = "no_tracking_number"
    else:
        state = pool.state(call.tracking_number)
        lease = store.find_lease_at(call.company_id, call.tracking_number, call.started_at)
        if state is not None and state.kind == "static" and state.company_id == call.company_id:
            call.attribution_reason = f"static:{state.channel or 'offline'}"
        elif lease is not None:
            call.session_id = lease.session_id
            call.attribution_reason = "shared_lease" if lease.is_shared else "lease"
        elif state is not None and state.company_id == call.company_id:
            call.attribution_reason = "no_lease"
        elif (
            state is not None
            and state.former_company_id == call.company_id
            and state.is_quarantined(call.started_at)
        ):
            call.attribution_reason = "stray"
        else:
            call.attribution_reason = "unknown_number"
        # A call keeps the number bound to the company (14 days after the last call).
        pool.record_call(call.company_id, call.tracking_number, call.started_at)
    return call


def classify_first_call(store: EventStore, company: Company, call: Call) -> Call:
    """First call: no earlier call from this number to this company within the depth."""
    if call.caller_number:
        since = (
            call.started_at - timedelta(days=company.first_call_depth_days)
            if company.first_call_depth_days
            else None
        )
        call.is_first_call = not store.has_earlier_call(
            call.company_id, call.caller_number, call.started_at, call.entry_id, since
        )
    return call


def copy_session_marks(store: EventStore, call: Call) -> Call:
    """Carry the session's landing page, referrer and UTMs on the call itself."""
    session = store.get_session(call.company_id, call.session_id) if call.session_id else None
    for name in (
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_content",
        "utm_term",
        "landing_url",
        "referrer",
    ):
        setattr(call, name, getattr(session, name) if session else None)
    return call


def call_payload(call: Call) -> dict[str, Any]:
    """What webhook receivers learn about a call (attribution included)."""
    return {
        "entry_id": call.entry_id,
        "direction": call.direction,
        "caller": call.caller_number,
        "tracking_number": call.tracking_number,
        "started_at": call.started_at.isoformat(),
        "answered_at": call.answered_at.isoformat() if call.answered_at else None,
        "ended_at": call.ended_at.isoformat() if call.ended_at else None,
        "session_id": call.session_id,
        "attribution": call.attribution_reason,
        "landing_page": call.landing_url,
        "referrer": call.referrer,
        "utm_source": call.utm_source,
        "utm_medium": call.utm_medium,
        "utm_campaign": call.utm_campaign,
        "utm_content": call.utm_content,
        "utm_term": call.utm_term,
        "is_first_call": call.is_first_call,
        "employee_extension": call.employee_extension,
        "talk_seconds": call.talk_seconds if call.ended_at else None,
        "is_target": call.is_target if call.ended_at else None,
        "is_missed": call.is_missed if call.ended_at else None,
        "lead_id": call.lead_id,
    }


def call_transitions(before: Call | None, after: Call) -> list[WebhookEvent]:
    """Webhook events this rebuild reveals. Derived from state, not from which event
    arrived, so duplicates and late events never fire an event twice."""
    events: list[WebhookEvent] = []
    if before is None:
        events.append("call.started")
    if after.answered_at and not (before and before.answered_at):
        events.append("call.answered")
    if after.ended_at and not (before and before.ended_at):
        events.append("call.ended")
    ended_missed = after.ended_at is not None and after.is_missed
    if ended_missed and not (before and before.ended_at and before.is_missed):
        events.append("call.missed")
    return events


def rebuild_call(
    store: EventStore, pool: PoolStore, company: Company, entry_id: str, now: datetime
) -> Call:
    """Recompute the call from all its events and store it with its lead and webhooks."""
    before = store.get_call(company.id, entry_id)
    events = store.list_call_events(company.id, entry_id)
    call = merge_events(company, entry_id, events)
    call.tags = before.tags if before else []
    call = copy_session_marks(
        store, classify_first_call(store, company, attribute(store, pool, call))
    )

    changes = Changes(calls=[call])
    lead_created = None
    if call.direction == "inbound" and call.caller_number:
        touch = LeadTouch(
            type="call", ref=call.entry_id, at=call.started_at, session_id=call.session_id
        )
        existing = store.find_recent_lead(
            company.id, call.caller_number, None, window_start(company, call.started_at)
        )
        lead, created = add_touch(existing, company, touch, call.caller_number, None)
        call.lead_id = lead.id
        if existing is None or lead != existing:
            changes.leads.append(lead)
        if created:
            lead_created = lead

    subscriptions = store.list_subscriptions(company.id)
    if subscriptions:
        payload = call_payload(call)
        for event in call_transitions(before, call):
            changes.outbox += build_messages(subscriptions, event, payload, now)
        if lead_created is not None:
            changes.outbox += build_messages(
                subscriptions, "lead.created", lead_payload(lead_created), now
            )
    decision = store.get_redirect_decision(company.id, entry_id)
    if decision is not None:
        call.redirect = with_target_answered(decision, call)
    task = task_for_missed_call(store, company, call)
    if task is not None:
        changes.callbacks.append(task)
    changes.callbacks += close_tasks_answered_by(store, call)
    store.save_changes(changes)
    if decision is not None and call.redirect != decision:
        store.save_redirect_decision(call.redirect)
    return call


def with_target_answered(decision: RedirectDecision, call: Call) -> RedirectDecision:
    """Did the employee we routed to pick up? Known once the call has ended."""
    if decision.to_number is None or call.ended_at is None:
        return decision
    answered = any(
        s.get("state") == "Connected" and s.get("extension") == decision.to_number
        for s in call.states
    ) or (call.answered_at is not None and call.employee_extension == decision.to_number)
    return decision.model_copy(update={"target_answered": answered})
