from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query, Request

from realtime.auth.tenancy import as_utc, current_company
from realtime.clock import SystemClock
from realtime.dependencies import get_clock, get_store
from realtime.domain import Company, Lead
from realtime.errors import NotFound
from realtime.leads import service
from realtime.leads.schemas import LeadAccepted, LeadIn, LeadPage
from realtime.pagination import decode_cursor, encode_cursor
from realtime.store import EventStore

router = APIRouter(prefix="/v1/leads", tags=["leads"])


@router.post(
    "",
    response_model=LeadAccepted,
    status_code=201,
    summary="Submit a web form or a callback request (site key, no API key)",
)
async def post_lead(
    body: LeadIn,
    request: Request,
    store: EventStore = Depends(get_store),
    clock: SystemClock = Depends(get_clock),
) -> LeadAccepted:
    return service.submit(store, request.app.state.sites, body, clock.now())


@router.get("", response_model=LeadPage, summary="List leads by creation time")
async def list_leads(
    date_from: datetime | None = Query(None, description="Created at or after; naive = local"),
    date_to: datetime | None = Query(None, description="Created before; naive = company time"),
    cursor: str | None = Query(None, max_length=500),
    limit: int = Query(100, ge=1, le=1000),
    company: Company = Depends(current_company),
    store: EventStore = Depends(get_store),
) -> LeadPage:
    leads = store.list_leads(
        company.id, as_utc(company, date_from), as_utc(company, date_to),
        decode_cursor(cursor), limit,
    )  # fmt: skip
    next_cursor = encode_cursor(leads[-1].created_at, leads[-1].id) if len(leads) == limit else None
    return LeadPage(items=leads, next_cursor=next_cursor)


@router.get("/{lead_id}", response_model=Lead, summary="One lead with every touch")
async def get_lead(
    lead_id: str,
    company: Company = Depends(current_company),
    store: EventStore = Depends(get_store),
) -> Lead:
    lead = store.get_lead(company.id, lead_id)
    if lead is None:
        raise NotFound(f"no lead {lead_id!r}")
    return lead
