"""Pool housekeeping for the `callpath_pool_maintenance` DAG (one function per task).

- `run_pool_sweep`: release bindings idle for `CALLPATH_POOL_BINDING_DAYS` into
  quarantine (the same as `callpath pool maintain`).
- `check_pool_health`: per company and region, two warnings:
  - "busy now": the share of bound numbers leased right now (leased_now / bound) is
    at or above `threshold`;
  - "undersized": over the last `HEALTH_WINDOW` the traffic (peak arrivals per hour ×
    mean lease time, from the lease history) needed more numbers than are bound, by
    the sizing advisor (`realtime/pool/advisor.py`: Erlang B at
    `CALLPATH_ADVISOR_TARGET_BLOCKING`). That is utilisation staying above the
    advisor's threshold for the whole window, not a momentary peak.
  Warnings are logged, sent as one alert (`pipelines.alerts.notify`: the log and the
  optional webhook) and returned, never raised: a busy region is a reason to grow
  the inventory, not to fail the run.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from realtime.settings import Settings, get_settings

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.8
HEALTH_WINDOW = timedelta(days=1)


def run_pool_sweep(settings: Settings | None = None) -> list[dict]:
    """Sweep the pool now; return the releases as JSON-ready dicts."""
    from realtime.domain import utcnow
    from realtime.pool import open_pool_store

    settings = settings or get_settings()
    pool = open_pool_store(settings)
    try:
        released = pool.sweep(utcnow(), settings.pool_policy())
    finally:
        pool.close()
    log.info("pool sweep released %d number(s)", len(released))
    return [r.model_dump(mode="json") for r in released]


def check_pool_health(
    settings: Settings | None = None, threshold: float = DEFAULT_THRESHOLD
) -> list[str]:
    """Warnings for every (company, region) busy now (utilisation >= `threshold`) or
    undersized for the last `HEALTH_WINDOW` of traffic by the sizing advisor."""
    from collections import defaultdict

    from pipelines import alerts
    from realtime.domain import utcnow
    from realtime.pool import open_pool_store
    from realtime.pool.advisor import servers_needed, traffic_from_leases
    from realtime.store import open_event_store

    settings = settings or get_settings()
    now = utcnow()
    since = now - HEALTH_WINDOW
    target = settings.advisor_target_blocking
    warnings: list[str] = []
    store = open_event_store(settings)
    pool = open_pool_store(settings)
    try:
        for company in store.list_companies():
            stats = pool.stats(company.id, now, since)
            region_of: dict[str, str] = {}
            leases_by_region = defaultdict(list)
            for lease in store.leases_between(company.id, since, now):
                if lease.number not in region_of:
                    state = pool.state(lease.number)
                    region_of[lease.number] = state.region if state else "unknown"
                leases_by_region[region_of[lease.number]].append(lease)
            for region in stats.regions:
                if region.bound > 0 and region.leased_now / region.bound >= threshold:
                    utilisation = region.leased_now / region.bound
                    warnings.append(
                        f"{company.id} {region.region}: {region.leased_now}/{region.bound} "
                        f"bound numbers leased ({utilisation:.0%} >= {threshold:.0%}), "
                        f"{region.free_inventory} free in inventory"
                    )
                traffic = traffic_from_leases(leases_by_region.get(region.region, []))
                if traffic.offered_load <= 0:
                    continue
                needed = servers_needed(traffic.offered_load, target)
                if needed > region.bound:
                    warnings.append(
                        f"{company.id} {region.region}: undersized for the last "
                        f"{HEALTH_WINDOW.days * 24} h: the advisor recommends {needed} numbers "
                        f"({traffic.offered_load:.2f} erlangs, peak "
                        f"{traffic.peak_arrivals_per_hour:.0f} sessions/h, target blocking "
                        f"{target:.1%}), {region.bound} bound, "
                        f"{region.free_inventory} free in inventory"
                    )
    finally:
        pool.close()
        store.close()
    for line in warnings:
        logging.warning("pool health: %s", line)
    if warnings:
        alerts.notify(
            f"callpath pool health: {len(warnings)} warning(s)\n" + "\n".join(warnings),
            {"kind": "pool_health", "warnings": warnings},
            settings,
        )
    return warnings
