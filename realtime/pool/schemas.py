from __future__ import annotations

from pydantic import BaseModel, Field


class RegionPool(BaseModel):
    region: str
    size: int = Field(description="Numbers bound to the company in this region")
    leased_now: int
    utilisation: float = Field(description="leased_now / size (0 when size is 0)")
    free_inventory: int = Field(description="Unbound, out-of-quarantine numbers left to grow")
    peak_arrivals_per_hour: float
    mean_hold_minutes: float
    offered_load_erlangs: float
    recommended_size: int


class SitePool(BaseModel):
    site_id: str
    company_id: str
    window_days: int
    target_blocking: float
    size: int
    leased_now: int
    utilisation: float
    exhaustion_events: int = Field(description="Visitors who found no free number in the window")
    recommended_size: int
    regions: list[RegionPool]
