"""Event store → warehouse raw, one company-day partition at a time."""

from __future__ import annotations

from datetime import date

import pandas as pd

from pipelines.raw_schema import RAW_TABLES
from pipelines.warehouse import Warehouse, naive_utc
from realtime.domain import Company, day_bounds_utc
from realtime.store import EventStore


def _frame(rows: list[dict], table: str) -> pd.DataFrame:
    columns = [line.split()[0] for line in RAW_TABLES[table].strip().splitlines()]
    return pd.DataFrame(rows, columns=columns)


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
    where, params = "company_id = %s and _day = %s", [company.id, day]
    with wh.transaction():  # all three tables or none
        return {
            table: wh.replace_rows(table, _frame(rows, table), where, params)
            for table, rows in (("sessions", sessions), ("number_leases", leases), ("calls", calls))
        }
