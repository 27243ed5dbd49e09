"""Domain records shared by the service, the stores and the pipelines.

Times are timezone-aware UTC with millisecond precision everywhere: MongoDB keeps
milliseconds only, and one precision for every store keeps the contract tests honest.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

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


def day_bounds_utc(day: date, timezone: str) -> tuple[datetime, datetime]:
    """[start, end) of a local calendar day, in UTC. DST-safe: both ends are localised."""
    tz = ZoneInfo(timezone)
    start = datetime.combine(day, time.min, tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


class Company(BaseModel):
    id: str
    name: str
    timezone: str = "Europe/Moscow"
    mango_api_key: str | None = None
    mango_api_salt: str | None = None
    target_talk_seconds: int = 30
    # A caller is "first" if they never called within this many days; None = ever.
    first_call_depth_days: int | None = None
    # Touches with the same phone or email within this many days are one lead.
    lead_dedupe_days: int = 30


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
    # The outside party: the caller of an inbound call, the callee of an outbound one.
    client_number: str | None = None
    disconnect_reason: str | None = None
    entry_result: int | None = None
    states: list[dict[str, Any]] = Field(default_factory=list)
    session_id: str | None = None
    attribution_reason: str = "pending"
    is_first_call: bool = False
    is_target: bool = False
    is_missed: bool = False
    recording_ids: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    lead_id: str | None = None
    # Copied from the attributed session, so calls filter and export without a join.
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_content: str | None = None
    utm_term: str | None = None
    landing_url: str | None = None
    referrer: str | None = None
    # Smart redirect: what we decided for this call and how the route command went.
    redirect: RedirectDecision | None = None


LeadTouchType = Literal["call", "form", "callback"]


class LeadTouch(BaseModel):
    """One contact that belongs to a lead: a call, a form, a callback request."""

    type: LeadTouchType
    ref: str  # entry_id of a call, id of a form or callback request
    at: datetime
    session_id: str | None = None
    page: str | None = None
    message: str | None = None


class Lead(BaseModel):
    """One person who reached out. Touches with the same phone (or email) within the
    dedupe window belong to one lead; the first touch sets its time and attribution."""

    id: str
    company_id: str
    phone: str | None = None
    email: str | None = None
    name: str | None = None
    created_at: datetime
    last_touch_at: datetime
    first_touch_type: LeadTouchType
    session_id: str | None = None  # the first touch's session: the lead's attribution
    touches: list[LeadTouch] = Field(default_factory=list)


class CallbackTask(BaseModel):
    """Somebody is waiting for a call back: a callback request, or a missed call."""

    id: str
    company_id: str
    phone: str
    reason: Literal["callback_request", "missed_call"]
    lead_id: str | None = None
    ref: str  # the request id or the missed call's entry_id
    created_at: datetime
    status: Literal["pending", "done"] = "pending"
    done_at: datetime | None = None
    # How the task was closed: by hand (`POST .../done`) or by a later answered call.
    closed_by: Literal["manual", "answered_call"] | None = None
    closed_by_entry_id: str | None = None  # the answered call that closed it
    closed_by_target_call: bool | None = None  # ...and whether that call was a target call
    # Automatic Mango `commands/callback` for a missed call (when the company turns it on).
    auto_callback_status: Literal["scheduled", "sent", "failed", "skipped"] | None = None
    auto_callback_due_at: datetime | None = None
    auto_callback_command_id: str | None = None
    auto_callback_error: str | None = None


RedirectRule = Literal["last_employee", "crm_manager", "none"]
RedirectStatus = Literal["skipped", "queued", "sent", "failed", "expired"]


class RedirectDecision(BaseModel):
    """What smart redirect decided for one inbound call, and how its command went."""

    company_id: str
    entry_id: str
    call_id: str  # the leg that the route command moves
    caller_number: str | None = None
    line_number: str | None = None
    decided_at: datetime
    decision_ms: float = 0.0  # how long the decision took
    rule: RedirectRule
    # Why: "last_employee", "crm_manager", or why nothing fired ("unknown_caller", ...).
    reason: str
    to_number: str | None = None  # the extension we routed to
    crm: str | None = None
    crm_user_id: str | None = None
    command_id: str | None = None
    status: RedirectStatus = "skipped"
    sent_at: datetime | None = None
    error: str | None = None
    result: int | None = None  # the `/result/route` code (1000 = success)
    result_at: datetime | None = None
    target_answered: bool | None = None  # known once the call has ended


class CrmContact(BaseModel):
    """A CRM contact synced for smart redirect: its phones and responsible manager."""

    company_id: str
    crm: Literal["amocrm", "bitrix24"]
    contact_id: str
    phones: list[str] = Field(default_factory=list)  # E.164
    name: str | None = None
    responsible_user_id: str | None = None
    updated_at: datetime


class CrmUserExtension(BaseModel):
    """A CRM user who answers calls on a PBX extension."""

    crm: Literal["amocrm", "bitrix24"]
    user_id: str = Field(min_length=1, max_length=64)
    extension: str = Field(min_length=1, max_length=32)


class WorkingPeriod(BaseModel):
    """Working hours on some weekdays (ISO: 1 = Monday), local time, `start` < `end`."""

    days: list[int] = Field(min_length=1, max_length=7)
    start: time
    end: time


class RedirectConfig(BaseModel):
    """A company's smart redirect and missed-call settings."""

    company_id: str
    enabled: bool = False
    # Lines (E.164) where redirect works; every line only when `all_lines` is set.
    lines: list[str] = Field(default_factory=list)
    all_lines: bool = False
    last_employee: bool = False
    last_employee_hours: float = 24.0
    crm_manager: bool = True
    crm_users: list[CrmUserExtension] = Field(default_factory=list)
    # Empty: always working hours. Times are in the company's time zone.
    working_hours: list[WorkingPeriod] = Field(default_factory=list)
    route_outside_hours: bool = False
    # Missed calls: an automatic Mango `commands/callback` from this extension.
    auto_callback: bool = False
    auto_callback_delay_seconds: int = 60
    auto_callback_from_extension: str | None = None
    auto_callback_line_number: str | None = None


WebhookEvent = Literal["call.started", "call.answered", "call.ended", "call.missed", "lead.created"]


class WebhookSubscription(BaseModel):
    id: str
    company_id: str
    url: str
    events: list[WebhookEvent]
    secret: str
    created_at: datetime
    active: bool = True


class OutboxMessage(BaseModel):
    """One webhook delivery, written in the same transaction as the change it reports."""

    id: str  # also the receiver's idempotency key
    company_id: str
    subscription_id: str
    event: WebhookEvent
    payload: dict[str, Any]
    created_at: datetime
    next_attempt_at: datetime
    attempts: int = 0
    status: Literal["pending", "delivered", "dead"] = "pending"
    last_error: str | None = None
    delivered_at: datetime | None = None


class CallQuery(BaseModel):
    """Filters for listing calls; `after` is the opaque cursor of the previous page."""

    start: datetime | None = None
    end: datetime | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    is_missed: bool | None = None
    is_target: bool | None = None
    is_first_call: bool | None = None
    after: tuple[datetime, str] | None = None  # (started_at, entry_id) of the last row seen
    limit: int = 100


class Changes(BaseModel):
    """Records that must be stored together (one transaction where the store has them)."""

    calls: list[Call] = Field(default_factory=list)
    leads: list[Lead] = Field(default_factory=list)
    callbacks: list[CallbackTask] = Field(default_factory=list)
    outbox: list[OutboxMessage] = Field(default_factory=list)


Call.model_rebuild()
