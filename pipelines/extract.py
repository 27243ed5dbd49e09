"""Event store → warehouse raw, one company-day partition at a time.

`extract_events` copies what happened on a day (sessions, leases, calls, lead touches,
callback tasks); `extract_pool_snapshot` records the pool and the sizing advisor's
recommendation for the day. Both replace the company's `_day` partition, so running
them again for a day gives the same rows.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd

from pipelines.raw_schema import RAW_TABLES
from pipelines.warehouse import Warehouse, naive_utc
from realtime.domain import Company, Lead, day_bounds_utc
from realtime.pool.advisor import servers_needed, traffic_from_leases
from realtime.pool.base import PoolStore
from realtime.store import EventStore

# The store lists leads by creation time only, so the touches of a day are found
# among leads created up to this many days before it. A lead touched again and
# again for longer than this loses its later touches from the warehouse (the
# realtime dedupe window is 30 days by default, so that takes a year of touches
# less than a month apart).
LEAD_LOOKBACK_DAYS = 365
_PAGE = 1000
# list_callbacks has a limit but no time filter or cursor: one read of them all.
_CALLBACK_READ_LIMIT = 1_000_000


def raw_columns(table: str) -> list[str]:
    """Column names of a raw table, in DDL order."""
    return [line.split()[0] for line in RAW_TABLES[table].strip().splitlines()]


def _frame(rows: list[dict], table: str) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=raw_columns(table))


def _in_day(at: datetime, start: datetime, end: datetime) -> bool:
    return start <= at < end


def _leads_created_between(store: EventStore, company_id: str, start: datetime,
                           end: datetime) -> list[Lead]:  # fmt: skip
    leads: list[Lead] = []
    after = None
    while True:
        page = store.list_leads(company_id, start, end, after, _PAGE)
        leads += page
        if len(page) < _PAGE:
            return leads
        after = (page[-1].created_at, page[-1].id)


def lead_touch_rows(store: EventStore, company: Company, day: date) -> list[dict]:
    """Every touch (call, form, callback request) made on the company's local `day`."""
    start, end = day_bounds_utc(day, company.timezone)
    since = start - timedelta(days=LEAD_LOOKBACK_DAYS)
    return [
        {
            "company_id": lead.company_id,
            "lead_id": lead.id,
            "touch_type": touch.type,
            "touch_ref": touch.ref,
            "touched_at": naive_utc(touch.at),
            "session_id": touch.session_id,
            "phone": lead.phone,
            "email": lead.email,
            "page": touch.page,
            "_day": day,
        }
        for lead in _leads_created_between(store, company.id, since, end)
        if lead.last_touch_at >= start
        for touch in lead.touches
        if _in_day(touch.at, start, end)
    ]


def callback_task_rows(store: EventStore, company: Company, day: date) -> list[dict]:
    """Callback tasks created on the company's local `day`, copied field by field:
    every CallbackTask field with a column of that name in raw.callback_tasks lands,
    so a new field needs only its column in pipelines/raw_schema.py."""
    start, end = day_bounds_utc(day, company.timezone)
    columns = set(raw_columns("callback_tasks"))
    tasks = store.list_callbacks(company.id, None, _CALLBACK_READ_LIMIT)
    if len(tasks) >= _CALLBACK_READ_LIMIT:  # some may be cut off: refuse, land nothing
        raise RuntimeError(
            f"{company.id} has {_CALLBACK_READ_LIMIT}+ callback tasks, more than the"
            " extract reads at once; it needs a time-filtered store query"
        )
    rows = []
    for task in tasks:
        if not _in_day(task.created_at, start, end):
            continue
        fields: dict[str, Any] = {"task_id": task.id, **task.model_dump(exclude={"id"})}
        row = {
            name: naive_utc(value) if isinstance(value, datetime) else value
            for name, value in fields.items()
            if name in columns
        }
        rows.append({**row, "_day": day})
    return rows


def extract_events(store: EventStore, wh: Warehouse, company: Company, day: date) -> dict[str, int]:
    """Replace the company's `day` partition (local calendar day) of sessions, leases
    and calls. Idempotent: running it twice leaves the same rows."""
    start, end = day_bounds_utc(day, company.timezone)
    sessions = [
        {
            "company_id": s.company_id,
            "site_id": s.site_id,
            "session_id": s.id,
            "visitor_id": s.visitor_id,
            "started_at": naive_utc(s.started_at),
            "last_seen_at": naive_utc(s.last_seen_at),
            "landing_url": s.landing_url,
            "referrer": s.referrer,
            "utm_source": s.utm_source,
            "utm_medium": s.utm_medium,
            "utm_campaign": s.utm_campaign,
            "utm_content": s.utm_content,
            "utm_term": s.utm_term,
            "gclid": s.gclid,
            "yclid": s.yclid,
            "client_ip": s.client_ip,
            "region": s.region,
            "_day": day,
        }
        for s in store.sessions_between(company.id, start, end)
    ]
    leases = [
        {
            "company_id": lease.company_id,
            "lease_id": lease.id,
            "number": lease.number,
            "session_id": lease.session_id,
            "leased_from": naive_utc(lease.leased_from),
            "last_seen_at": naive_utc(lease.last_seen_at),
            "leased_until": naive_utc(lease.leased_until),
            "is_shared": lease.is_shared,
            "_day": day,
        }
        for lease in store.leases_between(company.id, start, end)
    ]
    calls = [
        {
            "company_id": c.company_id,
            "entry_id": c.entry_id,
            "tracking_number": c.tracking_number,
            "caller_number": c.caller_number,
            "direction": c.direction,
            "started_at": naive_utc(c.started_at),
            "answered_at": naive_utc(c.answered_at),
            "ended_at": naive_utc(c.ended_at),
            "wait_seconds": c.wait_seconds,
            "talk_seconds": c.talk_seconds,
            "employee_extension": c.employee_extension,
            "disconnect_reason": c.disconnect_reason,
            "session_id": c.session_id,
            "attribution_reason": c.attribution_reason,
            "is_first_call": c.is_first_call,
            "is_target": c.is_target,
            "is_missed": c.is_missed,
            "_day": day,
        }
        for c in store.calls_between(company.id, start, end)
    ]
    tables = (
        ("sessions", sessions),
        ("number_leases", leases),
        ("calls", calls),
        ("lead_touches", lead_touch_rows(store, company, day)),
        ("callback_tasks", callback_task_rows(store, company, day)),
    )
    where, params = "company_id = %s and _day = %s", [company.id, day]
    with wh.transaction():  # all tables or none
        return {
            table: wh.replace_rows(table, _frame(rows, table), where, params)
            for table, rows in tables
        }


def extract_pool_snapshot(
    store: EventStore,
    pool: PoolStore,
    wh: Warehouse,
    company: Company,
    day: date,
    target_blocking: float,
    taken_at: datetime | None = None,
) -> dict[str, int]:
    """Replace the company's `day` partition of raw.pool_snapshots (per region: size,
    leases, shared leases, exhaustion events, the advisor's recommended size for the
    day's traffic at `target_blocking`) and raw.tracking_numbers (its numbers now).

    Size, the numbers and their quarantine are pool state at `taken_at` (default
    now), not a history: run it for yesterday, as the daily job does. Exhaustion
    events count from the day's start up to `taken_at`."""
    start, end = day_bounds_utc(day, company.timezone)
    taken_at = taken_at or datetime.now(UTC)
    stats = pool.stats(company.id, taken_at, start)
    states = {s.number: s for s in pool.list_states(None)}
    leases_by_region: dict[str, list] = defaultdict(list)
    for lease in store.leases_between(company.id, start, end):
        state = states.get(lease.number)
        leases_by_region[state.region if state else "unknown"].append(lease)
    region_stats = {r.region: r for r in stats.regions}
    used = {r.region for r in stats.regions if r.bound} | set(leases_by_region)
    if stats.exhaustion_events and not used:
        used = {"unknown"}  # exhausted with no number at all: keep the events
    snapshot = []
    # regions of the inventory the company never used are left out, as in the pool API
    for region in sorted(used):
        leases = leases_by_region.get(region, [])
        traffic = traffic_from_leases(leases)
        r = region_stats.get(region)
        snapshot.append(
            {
                "company_id": company.id,
                "region": region,
                "size": r.bound if r else 0,
                "leased_at_snapshot": r.leased_now if r else 0,
                "free_inventory": r.free_inventory if r else 0,
                "leases": len(leases),
                "shared_leases": sum(lease.is_shared for lease in leases),
                # the pool counts exhaustion per company, not per region
                "exhaustion_events": 0,
                "peak_arrivals_per_hour": traffic.peak_arrivals_per_hour,
                "mean_hold_minutes": traffic.mean_hold_minutes,
                "offered_load_erlangs": traffic.offered_load,
                "target_blocking": target_blocking,
                "recommended_size": servers_needed(traffic.offered_load, target_blocking),
                "taken_at": naive_utc(taken_at),
                "_day": day,
            }
        )
    if snapshot:
        snapshot[0]["exhaustion_events"] = stats.exhaustion_events
    numbers = [
        {
            "company_id": company.id,
            "number": s.number,
            "region": s.region,
            "kind": s.kind,
            "channel": s.channel,
            "is_former": s.company_id != company.id,
            "quarantine_until": naive_utc(s.quarantine_until),
            "_day": day,
        }
        for s in states.values()
        if s.company_id == company.id or s.former_company_id == company.id
    ]
    where, params = "company_id = %s and _day = %s", [company.id, day]
    with wh.transaction():
        return {
            table: wh.replace_rows(table, _frame(rows, table), where, params)
            for table, rows in (("pool_snapshots", snapshot), ("tracking_numbers", numbers))
        }
