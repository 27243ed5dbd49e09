"""Number pool records: the platform's inventory, company bindings and live leases."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field

from realtime.domain import NumberKind

Outcome = Literal["free", "grown", "shared", "exhausted"]


class InventoryNumber(BaseModel):
    """A number the platform owns. Static numbers belong to one company and channel."""

    number: str  # E.164
    region: str  # ISO 3166-2, e.g. RU-MOW
    city_code: str | None = None
    kind: NumberKind = "dynamic"
    company_id: str | None = None  # static numbers only
    channel: str | None = None  # static numbers only, e.g. "offline/billboard-msk"


class NumberState(BaseModel):
    """Everything the pool knows about one number right now."""

    number: str
    region: str
    city_code: str | None = None
    kind: NumberKind
    channel: str | None = None
    company_id: str | None = None  # bound company (dynamic) or owner (static)
    bound_at: datetime | None = None
    last_shown_at: datetime | None = None
    last_call_at: datetime | None = None
    quarantine_until: datetime | None = None
    former_company_id: str | None = None
    leased_until: datetime | None = None
    session_id: str | None = None

    def is_quarantined(self, at: datetime) -> bool:
        return (
            self.company_id is None
            and self.quarantine_until is not None
            and at < self.quarantine_until
        )


class Grant(BaseModel):
    """The answer to "give this session a number"."""

    outcome: Outcome
    number: str | None = None
    region: str | None = None
    leased_until: datetime | None = None

    @property
    def is_shared(self) -> bool:
        return self.outcome == "shared"


class Release(BaseModel):
    number: str
    company_id: str
    released_at: datetime
    quarantine_until: datetime


class PoolPolicy(BaseModel):
    """How long bindings last and how long released numbers rest. All configurable."""

    binding_days: int = Field(14, ge=1)
    quarantine_min_days: int = Field(90, ge=0)
    quarantine_max_days: int = Field(180, ge=0)
    # At or above this share of free inventory in a region, quarantine is the maximum.
    quarantine_ample_free_ratio: float = Field(0.25, gt=0, le=1)

    @property
    def binding(self) -> timedelta:
        return timedelta(days=self.binding_days)

    def quarantine_days(self, free: int, total: int) -> int:
        """Q = min + (max − min) · clamp(free_ratio / ample_ratio, 0, 1).

        The scarcer the free inventory, the shorter the rest: with nothing free a
        released number rests the minimum (90 days by default); with a quarter of the
        region free, the full 180.
        """
        ratio = free / total if total else 0.0
        scale = min(1.0, max(0.0, ratio / self.quarantine_ample_free_ratio))
        span = self.quarantine_max_days - self.quarantine_min_days
        # floor(x + 0.5), not round(): the Redis script computes the same in Lua.
        return math.floor(self.quarantine_min_days + span * scale + 0.5)


class RegionStats(BaseModel):
    region: str
    bound: int
    leased_now: int
    free_inventory: int


class PoolStats(BaseModel):
    company_id: str
    regions: list[RegionStats]
    exhaustion_events: int

    @property
    def bound(self) -> int:
        return sum(r.bound for r in self.regions)

    @property
    def leased_now(self) -> int:
        return sum(r.leased_now for r in self.regions)
