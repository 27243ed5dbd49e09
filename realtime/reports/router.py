"""Intraday numbers straight from the event store. The daily marts are the truth for
analysis; this is the glance at today that cannot wait for the nightly build."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from realtime.auth.tenancy import current_company, local_day_bounds
from realtime.clock import SystemClock
from realtime.dependencies import get_clock, get_store
from realtime.domain import Call, CallQuery, Company, Session
from realtime.store import EventStore

router = APIRouter(prefix="/v1/reports", tags=["reports"])
MAX_ROWS = 100_000


class SourceRow(BaseModel):
    source: str
    calls: int = 0
    target_calls: int = 0
    missed_calls: int = 0
    leads: int = 0


class LiveReport(BaseModel):
    date: date
    timezone: str
    generated_at: datetime
    totals: SourceRow
    sources: list[SourceRow]


def source_of(utm_source: str | None, referrer: str | None, reason: str | None) -> str:
    """utm_source, else the offline channel of a static number, else the referrer's host."""
    if utm_source:
        return utm_source
    if reason and reason.startswith("static:"):
        return reason.removeprefix("static:")
    if reason in ("no_lease", "unknown_number", "stray", "no_tracking_number"):
        return "(unattributed)"
    host = urlsplit(referrer).hostname if referrer else None
    return host or "(direct)"


@router.get("/live", response_model=LiveReport, summary="Today's calls, leads and target calls")
async def live(
    day: date | None = Query(None, alias="date", description="Local date; default today"),
    company: Company = Depends(current_company),
    store: EventStore = Depends(get_store),
    clock: SystemClock = Depends(get_clock),
) -> LiveReport:
    now = clock.now()
    day = day or now.astimezone(ZoneInfo(company.timezone)).date()
    start, end = local_day_bounds(company, day)
    rows: dict[str, SourceRow] = defaultdict(lambda: SourceRow(source=""))
    calls: list[Call] = store.list_calls(
        company.id, CallQuery(start=start, end=end, limit=MAX_ROWS)
    )
    for call in calls:
        if call.direction == "outbound":
            continue
        row = rows[source_of(call.utm_source, call.referrer, call.attribution_reason)]
        row.calls += 1
        row.target_calls += call.is_target
        row.missed_calls += call.is_missed
    first_call_of_lead: dict[str, Call] = {}
    for call in calls:
        if call.lead_id:
            first_call_of_lead.setdefault(call.lead_id, call)
    sessions: dict[str, Session | None] = {}
    for lead in store.list_leads(company.id, start, end, None, MAX_ROWS):
        if lead.session_id and lead.session_id not in sessions:
            sessions[lead.session_id] = store.get_session(company.id, lead.session_id)
        session = sessions.get(lead.session_id) if lead.session_id else None
        first_call = first_call_of_lead.get(lead.id)
        reason = first_call.attribution_reason if first_call else None
        source = source_of(
            session.utm_source if session else None, session.referrer if session else None,
            reason,
        )  # fmt: skip
        rows[source].leads += 1
    sources = []
    for name, row in sorted(rows.items(), key=lambda kv: (-kv[1].leads, -kv[1].calls, kv[0])):
        row.source = name
        sources.append(row)
    totals = SourceRow(
        source="(all)",
        calls=sum(r.calls for r in sources),
        target_calls=sum(r.target_calls for r in sources),
        missed_calls=sum(r.missed_calls for r in sources),
        leads=sum(r.leads for r in sources),
    )
    return LiveReport(date=day, timezone=company.timezone, generated_at=now, totals=totals,
                      sources=sources)
