from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from realtime.auth.tenancy import as_utc, current_company
from realtime.calls.schemas import CSV_COLUMNS, CallPage, TagsIn
from realtime.dependencies import get_store
from realtime.domain import Call, CallQuery, Company
from realtime.errors import NotFound
from realtime.pagination import decode_cursor, encode_cursor
from realtime.store import EventStore

router = APIRouter(prefix="/v1/calls", tags=["calls"])


@router.get(
    "",
    response_model=CallPage,
    summary="List calls, oldest first, with filters and cursor pagination",
    responses={200: {"content": {"text/csv": {}}, "description": "JSON page, or CSV"}},
)
async def list_calls(
    request: Request,
    date_from: datetime | None = Query(None, description="Start (inclusive); naive = company time"),
    date_to: datetime | None = Query(None, description="End (exclusive); naive = company time"),
    utm_source: str | None = Query(None, max_length=200),
    utm_medium: str | None = Query(None, max_length=200),
    utm_campaign: str | None = Query(None, max_length=200),
    missed: bool | None = None,
    target: bool | None = None,
    first: bool | None = Query(None, description="Only first (new-caller) calls, or only repeats"),
    cursor: str | None = Query(None, max_length=500),
    limit: int = Query(100, ge=1, le=1000),
    format: Literal["json", "csv"] = "json",
    company: Company = Depends(current_company),
    store: EventStore = Depends(get_store),
):
    query = CallQuery(
        start=as_utc(company, date_from), end=as_utc(company, date_to),
        utm_source=utm_source, utm_medium=utm_medium, utm_campaign=utm_campaign,
        is_missed=missed, is_target=target, is_first_call=first,
        after=decode_cursor(cursor), limit=limit,
    )  # fmt: skip
    calls = store.list_calls(company.id, query)
    next_cursor = (
        encode_cursor(calls[-1].started_at, calls[-1].entry_id) if len(calls) == limit else None
    )
    if format == "csv":
        return _csv(calls, next_cursor)
    return CallPage(items=calls, next_cursor=next_cursor)


def _csv(calls: list[Call], next_cursor: str | None) -> Response:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for call in calls:
        row = call.model_dump(mode="json")
        row["tags"] = ";".join(call.tags)
        writer.writerow(row)
    headers = {"Content-Disposition": 'attachment; filename="calls.csv"'}
    if next_cursor:
        headers["X-Next-Cursor"] = next_cursor
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/{entry_id}", response_model=Call, summary="One call with its attribution")
async def get_call(
    entry_id: str,
    company: Company = Depends(current_company),
    store: EventStore = Depends(get_store),
) -> Call:
    call = store.get_call(company.id, entry_id)
    if call is None:
        raise NotFound(f"no call {entry_id!r}")
    return call


@router.put("/{entry_id}/tags", response_model=Call, summary="Replace a call's tags")
async def put_tags(
    entry_id: str,
    body: TagsIn,
    company: Company = Depends(current_company),
    store: EventStore = Depends(get_store),
) -> Call:
    call = store.get_call(company.id, entry_id)
    if call is None:
        raise NotFound(f"no call {entry_id!r}")
    call.tags = list(dict.fromkeys(body.tags))  # keep order, drop repeats
    store.save_call(call)
    return call
