"""The authenticated company as a record (its time zone and thresholds are needed)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from fastapi import Depends

from realtime.auth.dependencies import company_id as authenticated_company_id
from realtime.dependencies import get_store
from realtime.domain import Company, day_bounds_utc
from realtime.errors import BadInput, Unauthorized
from realtime.store import EventStore


async def current_company(
    company_id: str = Depends(authenticated_company_id),
    store: EventStore = Depends(get_store),
) -> Company:
    company = store.get_company(company_id)
    if company is None:  # a key outliving its company
        raise Unauthorized("API key's company no longer exists")
    return company


def local_day_bounds(company: Company, day: date) -> tuple[datetime, datetime]:
    """[start, end) of a calendar day in the company's time zone, in UTC."""
    try:
        return day_bounds_utc(day, company.timezone)
    except OverflowError as exc:
        raise BadInput(f"date {day.isoformat()} is out of range") from exc


def as_utc(company: Company, value: datetime | None) -> datetime | None:
    """A naive datetime from a query means the company's local time."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(company.timezone))
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise BadInput(f"{value.isoformat()} is out of range") from exc
