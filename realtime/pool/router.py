from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from fastapi import APIRouter, Depends, Query, Request

from realtime.auth.dependencies import company_id as authenticated_company
from realtime.clock import SystemClock
from realtime.dependencies import get_clock, get_settings_dep, get_store
from realtime.errors import NotFound
from realtime.pool.advisor import servers_needed, traffic_from_leases
from realtime.pool.schemas import RegionPool, SitePool
from realtime.settings import Settings
from realtime.store import EventStore

router = APIRouter(prefix="/v1/sites", tags=["pool"])


@router.get(
    "/{site_id}/pool",
    response_model=SitePool,
    summary="Pool size, utilisation, exhaustion and the advisor's recommended size",
)
def site_pool(
    site_id: str,
    request: Request,
    window_days: int = Query(7, ge=1, le=90),
    company_id: str = Depends(authenticated_company),
    store: EventStore = Depends(get_store),
    settings: Settings = Depends(get_settings_dep),
    clock: SystemClock = Depends(get_clock),
) -> SitePool:
    site = store.get_site(company_id, site_id)
    if site is None:
        raise NotFound(f"no site {site_id!r} in your company")
    pool = request.app.state.pool
    now = clock.now()
    since = now - timedelta(days=window_days)
    stats = pool.stats(company_id, now, since)
    region_of: dict[str, str] = {}
    leases_by_region = defaultdict(list)
    # +1 s: the window is half-open and a lease taken this instant counts.
    for lease in store.leases_between(company_id, since, now + timedelta(seconds=1)):
        if lease.number not in region_of:
            state = pool.state(lease.number)
            region_of[lease.number] = state.region if state else "unknown"
        leases_by_region[region_of[lease.number]].append(lease)
    regions = []
    for r in stats.regions:
        traffic = traffic_from_leases(leases_by_region.get(r.region, []))
        if r.bound == 0 and traffic.offered_load == 0:
            continue
        regions.append(
            RegionPool(
                region=r.region,
                size=r.bound,
                leased_now=r.leased_now,
                utilisation=r.leased_now / r.bound if r.bound else 0.0,
                free_inventory=r.free_inventory,
                peak_arrivals_per_hour=traffic.peak_arrivals_per_hour,
                mean_hold_minutes=round(traffic.mean_hold_minutes, 2),
                offered_load_erlangs=round(traffic.offered_load, 3),
                recommended_size=servers_needed(
                    traffic.offered_load, settings.advisor_target_blocking
                ),
            )
        )
    size = sum(r.size for r in regions)
    leased = sum(r.leased_now for r in regions)
    return SitePool(
        site_id=site.id,
        company_id=company_id,
        window_days=window_days,
        target_blocking=settings.advisor_target_blocking,
        size=size,
        leased_now=leased,
        utilisation=leased / size if size else 0.0,
        exhaustion_events=stats.exhaustion_events,
        recommended_size=sum(r.recommended_size for r in regions),
        regions=regions,
    )
