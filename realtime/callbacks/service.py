"""Missed-call protection: a missed inbound call becomes a callback task, a later
answered call with the same person closes it, and (when the company turns it on) a
scheduled Mango `commands/callback` rings an employee and then the client.

Everything here is derived from a rebuilt call, so duplicate and late events change
nothing: the task id is deterministic and a closed task is never reopened.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from realtime.domain import Call, CallbackTask, Company, to_ms
from realtime.store import EventStore


def missed_task_id(company_id: str, entry_id: str) -> str:
    return f"cb_{company_id}_missed_{entry_id}"


def task_for_missed_call(store: EventStore, company: Company, call: Call) -> CallbackTask | None:
    """A new callback task for this call if it is an ended, missed inbound call and
    nobody is already due to call this person back."""
    if not (call.direction == "inbound" and call.is_missed and call.ended_at):
        return None
    if not call.caller_number:
        return None  # a hidden number cannot be called back
    task_id = missed_task_id(company.id, call.entry_id)
    if store.get_callback(company.id, task_id) is not None:
        return None
    if store.pending_callbacks_for_phone(company.id, call.caller_number):
        return None  # one open task per person: a second miss adds no work
    task = CallbackTask(
        id=task_id,
        company_id=company.id,
        phone=call.caller_number,
        reason="missed_call",
        lead_id=call.lead_id,
        ref=call.entry_id,
        created_at=call.ended_at,
    )
    config = store.get_redirect_config(company.id)
    if config is not None and config.auto_callback and config.auto_callback_from_extension:
        task.auto_callback_status = "scheduled"
        task.auto_callback_due_at = to_ms(
            call.ended_at + timedelta(seconds=config.auto_callback_delay_seconds)
        )
    return task


def close_tasks_answered_by(store: EventStore, call: Call) -> list[CallbackTask]:
    """Pending tasks for this call's outside party that an answered call (either
    direction) settles: the person has been spoken to. Closed when the call has ended,
    so the task also records whether the conversation was a target call."""
    if call.answered_at is None or call.ended_at is None or not call.client_number:
        return []
    closed = []
    for task in store.pending_callbacks_for_phone(call.company_id, call.client_number):
        if task.created_at > call.started_at:
            continue  # a call that began before the task existed did not answer it
        task.status, task.done_at = "done", call.answered_at
        task.closed_by, task.closed_by_entry_id = "answered_call", call.entry_id
        task.closed_by_target_call = call.is_target
        if task.auto_callback_status == "scheduled":
            task.auto_callback_status = "skipped"
        closed.append(task)
    return closed


def mark_done(task: CallbackTask, now: datetime) -> bool:
    """Close by hand; False when it was already closed (the first completion stays)."""
    if task.status == "done":
        return False
    task.status, task.done_at, task.closed_by = "done", now, "manual"
    if task.auto_callback_status == "scheduled":
        task.auto_callback_status = "skipped"
    return True
