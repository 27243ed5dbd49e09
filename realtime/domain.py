"""Domain records shared by the service, the stores and the pipelines.

Times are timezone-aware UTC with millisecond precision everywhere: MongoDB keeps
milliseconds only, and one precision for every store keeps the contract tests honest.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

NumberKind = Literal["dynamic", "static"]


def utcnow() -> datetime:
    return to_ms(datetime.now(UTC))


def to_ms(value: datetime) -> datetime:
    """Normalise to aware UTC, truncated to milliseconds."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


class Company(BaseModel):
    id: str
    name: str
    timezone: str = "Europe/Moscow"
    mango_api_key: str | None = None
    mango_api_salt: str | None = None
    target_talk_seconds: int = 30


ExhaustionPolicy = Literal["shared", "fallback"]


class Site(BaseModel):
    id: str
    company_id: str
    site_key: str
    domain: str
    # Every visitor gets numbers of this region, whatever their IP says.
    home_region: str | None = None
    # Where a visitor goes when their own region has no numbers (or is unknown).
    default_region: str = "RU-MOW"
    hold_minutes: int = 20
    exhaustion_policy: ExhaustionPolicy = "shared"
    # Shown to bots, rate-capped IPs and, under the `fallback` policy, when the pool is dry.
    fallback_number: str | None = None


class ApiKey(BaseModel):
    """A company's API key. Only the SHA-256 of the secret is stored."""

    id: str
    company_id: str
    secret_sha256: str
    label: str = ""
    created_at: datetime
    revoked_at: datetime | None = None


class Lease(BaseModel):
    id: str
    company_id: str
    number: str
    session_id: str
    leased_from: datetime
    last_seen_at: datetime
    leased_until: datetime
    is_shared: bool = False


class Session(BaseModel):
    id: str
    company_id: str
    site_id: str
    visitor_id: str
    started_at: datetime
    last_seen_at: datetime
    landing_url: str
    referrer: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_content: str | None = None
    utm_term: str | None = None
    gclid: str | None = None
    yclid: str | None = None
    client_ip: str | None = None
    region: str | None = None
    lease_id: str | None = None
    number: str | None = None


class CallEvent(BaseModel):
    """One raw PBX event, exactly as received (payload) plus its dedupe key."""

    company_id: str
    event_type: str  # "call" | "summary" | "recording" | "record_added" | "route_result"
    entry_id: str
    call_id: str = ""
    seq: int = 0
    received_at: datetime
    payload: dict[str, Any]

    @property
    def dedupe_key(self) -> tuple[str, str, str, int, str]:
        return (self.company_id, self.entry_id, self.call_id, self.seq, self.event_type)


class Call(BaseModel):
    """One call (all legs of a Mango `entry_id`), derived from its events."""

    company_id: str
    entry_id: str
    tracking_number: str | None = None
    caller_number: str | None = None
    direction: Literal["inbound", "outbound", "internal", "unknown"] = "unknown"
    started_at: datetime
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    wait_seconds: int | None = None
    talk_seconds: int | None = None
    employee_extension: str | None = None
    disconnect_reason: str | None = None
    entry_result: int | None = None
    states: list[dict[str, Any]] = Field(default_factory=list)
    session_id: str | None = None
    attribution_reason: str = "pending"
    is_first_call: bool = False
    is_target: bool = False
    is_missed: bool = False
