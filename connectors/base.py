"""The one shape every connector has: a pydantic config, and `fetch(...)` yielding
typed records. Spend connectors take a date range; CRM connectors an `updated_since`.

Shared here, so that a newcomer who has read one connector knows them all:
- the records (`SpendRecord`, `DealRecord`, `ContactRecord`), money as Decimal + currency;
- `SourceError`, the one error a person sees: source, account, problem, what to do;
- `Retryable` and `with_retries`: retries that honour the provider's own hints
  (`retryIn`, `Retry-After`, quota `retry_delay`), exponential backoff with jitter otherwise;
- `RateLimiter`: a client-side limiter set to the provider's published limit.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Literal, Protocol, TypeVar

import httpx
from pydantic import BaseModel, Field
from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
)

T = TypeVar("T")


class SourceError(Exception):
    """A source failed in a way a person must act on. The message names the source,
    the account and what to do."""

    def __init__(self, source: str, account: str, problem: str, action: str) -> None:
        super().__init__(f"{source} [{account}]: {problem}. {action}")
        self.source, self.account = source, account


class Retryable(Exception):
    """A failure worth retrying (429, 5xx, queued report, quota). `retry_after` is the
    provider's own hint in seconds, when it gave one."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


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
    url_template: str | None = None  # tracking template / URL suffix: how UTMs are built


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
    contact_id: str | None = None
    contact_phone: str | None = None  # E.164
    responsible_user_id: str | None = None
    session_id: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None


class ContactRecord(BaseModel):
    """A CRM contact: its phones (E.164) and its responsible manager."""

    crm: Literal["amocrm", "bitrix24"]
    contact_id: str
    company_id: str
    phones: list[str] = Field(default_factory=list)
    name: str | None = None
    responsible_user_id: str | None = None
    updated_at: datetime


class SpendConnector(Protocol):
    source: str
    account: str

    def fetch(self, start: date, end: date) -> Iterator[SpendRecord]: ...


class CrmConnector(Protocol):
    source: str
    account: str

    def fetch(self, updated_since: datetime) -> Iterator[DealRecord]: ...

    def fetch_contacts(self, updated_since: datetime) -> Iterator[ContactRecord]: ...


def retry_after_header(response: httpx.Response) -> float | None:
    """`Retry-After` in seconds (the HTTP-date form is rare from these APIs)."""
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def with_retries(
    call: Callable[[], T],
    *,
    source: str,
    account: str,
    attempts: int = 6,
    max_seconds: float = 600,
    base_delay: float = 1.0,
    max_delay: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
    action: str = "Try again later; if it keeps failing, check the provider's status page",
) -> T:
    """Run `call`, retrying `Retryable` and network errors.

    Waits the provider's hint when it gave one, else exponential backoff with full
    jitter. After `attempts` (or `max_seconds`) it raises `SourceError`.
    """

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hint = getattr(exc, "retry_after", None)
        backoff = random.uniform(0, min(max_delay, base_delay * 2 ** (state.attempt_number - 1)))
        return min(max_delay * 5, hint) if hint is not None else backoff

    retrying = Retrying(
        retry=retry_if_exception_type((Retryable, httpx.TransportError)),
        stop=stop_after_attempt(attempts) | stop_after_delay(max_seconds),
        wait=wait,
        sleep=sleep,
        reraise=False,
    )
    try:
        return retrying(call)
    except RetryError as exc:
        last = exc.last_attempt.exception()
        raise SourceError(
            source, account, f"gave up after {exc.last_attempt.attempt_number} attempts: {last}",
            action,
        ) from last


class RateLimiter:
    """At most `rate` calls per `per` seconds (a token bucket, thread-safe)."""

    def __init__(
        self,
        rate: float,
        per: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.capacity = rate
        self.refill_per_second = rate / per
        self._tokens = rate
        self._clock, self._sleep = clock, sleep
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(
                    self.capacity, self._tokens + (now - self._last) * self.refill_per_second
                )
                self._last = now
                if self._tokens >= 1 - 1e-9:  # tolerance: float refill never quite reaches 1
                    self._tokens = max(0.0, self._tokens - 1)
                    return
                wait = (1 - self._tokens) / self.refill_per_second
            self._sleep(wait)
