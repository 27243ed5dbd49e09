"""Smart redirect rules: which employee should take a returning client's call.

Mango holds the call on a short greeting ("wait until it ends = yes") while we decide;
the decision reads only our own store (two indexed lookups) so it stays within a few
milliseconds, and the route command is sent afterwards by `realtime.redirect.commands`.

Decision order, for a call that appears in the IVR or a queue on an enabled line:
1. "last employee" (when on): the extension that talked with this caller, or dialled
   them without an answer, within the last `last_employee_hours` (from our calls);
2. the responsible manager of the caller's CRM contact, through the company's
   CRM user → extension map;
3. nothing: the PBX scenario goes on.
Outside working hours nothing fires unless `route_outside_hours` is set.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from time import perf_counter
from zoneinfo import ZoneInfo

from realtime.domain import (
    Company,
    RedirectConfig,
    RedirectDecision,
    RedirectRule,
    new_id,
    to_ms,
)
from realtime.mango.schemas import CallStateEvent, RouteResult
from realtime.phones import to_e164
from realtime.store import EventStore

TRIGGER_LOCATIONS = ("ivr", "queue")


def is_trigger(event: CallStateEvent) -> bool:
    """An inbound call from outside that just appeared in the IVR or a queue."""
    return (
        event.call_state == "Appeared"
        and event.location in TRIGGER_LOCATIONS
        and not event.from_.extension
    )


def line_enabled(config: RedirectConfig, line_number: str | None) -> bool:
    """"All lines" is an explicit choice; otherwise only the listed lines."""
    if not config.enabled:
        return False
    if config.all_lines:
        return True
    return line_number is not None and line_number in config.lines


def within_working_hours(config: RedirectConfig, timezone: str, at: datetime) -> bool:
    """No periods means always open. Periods are local time in the company's zone."""
    if not config.working_hours:
        return True
    local = at.astimezone(ZoneInfo(timezone))
    weekday, moment = local.isoweekday(), local.time().replace(tzinfo=None)
    return any(
        weekday in period.days and period.start <= moment < period.end
        for period in config.working_hours
    )


def last_employee(
    store: EventStore, company_id: str, caller: str, entry_id: str, at: datetime, hours: float
) -> str | None:
    """The extension that last talked with the caller (either direction) or dialled them
    without an answer, within `hours` before `at`. A call they missed does not count."""
    since = at - timedelta(hours=hours)
    for call in store.recent_employee_calls(company_id, caller, since, at):
        if call.entry_id == entry_id or not call.employee_extension:
            continue
        if call.answered_at is not None or call.direction == "outbound":
            return call.employee_extension
    return None


def decide(
    store: EventStore,
    company: Company,
    config: RedirectConfig,
    event: CallStateEvent,
    now: datetime,
) -> RedirectDecision:
    """The decision for one triggering event (rules in the module docstring)."""
    started = perf_counter()
    at = datetime.fromtimestamp(event.timestamp, tz=UTC)
    caller = to_e164(event.from_.number)
    decision = RedirectDecision(
        company_id=company.id,
        entry_id=event.entry_id,
        call_id=event.call_id,
        caller_number=caller,
        line_number=to_e164(event.to.line_number),
        decided_at=to_ms(now),
        rule="none",
        reason="",
    )
    rule, reason, target = _choose(store, company, config, decision, at)
    decision.rule, decision.reason, decision.to_number = rule, reason, target
    if target is not None:
        decision.command_id = new_id("rt")
        decision.status = "queued"
    decision.decision_ms = round((perf_counter() - started) * 1000, 3)
    return decision


def _choose(
    store: EventStore,
    company: Company,
    config: RedirectConfig,
    decision: RedirectDecision,
    at: datetime,
) -> tuple[RedirectRule, str, str | None]:
    caller = decision.caller_number
    if caller is None:
        return "none", "hidden_number", None
    if not config.route_outside_hours and not within_working_hours(config, company.timezone, at):
        return "none", "outside_working_hours", None
    if config.last_employee:
        extension = last_employee(
            store, company.id, caller, decision.entry_id, at, config.last_employee_hours
        )
        if extension is not None:
            return "last_employee", "last_employee", extension
    if not config.crm_manager:
        return "none", "no_rule_matched", None
    contact = store.find_crm_contact(company.id, caller)
    if contact is None:
        known = store.has_earlier_call(company.id, caller, at, decision.entry_id)
        return "none", "not_in_crm" if known else "new_caller", None
    decision.crm = contact.crm
    decision.crm_user_id = contact.responsible_user_id
    if not contact.responsible_user_id:
        return "none", "no_responsible_manager", None
    extension = next(
        (
            u.extension
            for u in config.crm_users
            if u.crm == contact.crm and u.user_id == contact.responsible_user_id
        ),
        None,
    )
    if extension is None:
        return "none", "manager_without_extension", None
    return "crm_manager", "crm_manager", extension


def decide_for_event(
    store: EventStore, company: Company, event: CallStateEvent, now: datetime
) -> RedirectDecision | None:
    """The decision for this event, or None when redirect does not apply to it (not a
    trigger, a line without redirect, or a call decided already: a call moving from
    the IVR to a queue, or Mango resending the event). The caller stores it."""
    if not is_trigger(event):
        return None
    config = store.get_redirect_config(company.id)
    if config is None or not line_enabled(config, to_e164(event.to.line_number)):
        return None
    if store.get_redirect_decision(company.id, event.entry_id) is not None:
        return None
    return decide(store, company, config, event, now)


def link_route_result(
    store: EventStore, company: Company, result: RouteResult, now: datetime
) -> RedirectDecision | None:
    """`/result/route` for one of our commands: record it on the decision and the call."""
    decision = store.find_redirect_decision_by_command(company.id, result.command_id)
    if decision is None:
        return None
    decision.result, decision.result_at = result.result, to_ms(now)
    store.save_redirect_decision(decision)
    return decision
