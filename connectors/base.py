"""The one shape every connector has: a pydantic config, and `fetch(...)` yielding
typed records. Spend connectors take a date range; CRM connectors an `updated_since`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Literal, Protocol

from pydantic import BaseModel


class SourceError(Exception):
    """A source failed in a way a person must act on. The message names the source,
    the account and what to do."""

    def __init__(self, source: str, account: str, problem: str, action: str) -> None:
        super().__init__(f"{source} [{account}]: {problem}. {action}")
        self.source, self.account = source, account


class SpendRecord(BaseModel):
    """One campaign-day of ad spend, in Fivetran ad_reporting's unified shape."""

    date_day: date
    platform: Literal["yandex_direct", "google_ads"]
    account_id: str
    campaign_id: str
    campaign_name: str | None = None
    clicks: int
    impressions: int
    spend: Decimal
    currency: str


class DealRecord(BaseModel):
    """One CRM deal at its latest known state."""

    crm: Literal["amocrm", "bitrix24"]
    deal_id: str
    company_id: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None
    status: Literal["open", "won", "lost"]
    amount: Decimal
    currency: str
    contact_phone: str | None = None
    session_id: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None


class SpendConnector(Protocol):
    source: str
    account: str

    def fetch(self, start: date, end: date) -> Iterator[SpendRecord]: ...


class CrmConnector(Protocol):
    source: str
    account: str

    def fetch(self, updated_since: datetime) -> Iterator[DealRecord]: ...
