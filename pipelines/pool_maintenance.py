"""Pool housekeeping for the `callpath_pool_maintenance` DAG (one function per task).

- `run_pool_sweep`: release bindings idle for `CALLPATH_POOL_BINDING_DAYS` into
  quarantine (the same as `callpath pool maintain`).
- `check_pool_health`: per company and region, the share of bound numbers leased
  right now (leased_now / bound); a warning line for every region at or above
  `threshold`.  Warnings are logged and returned, never raised: a busy region is
  a reason to grow the inventory, not to fail the run.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from realtime.settings import Settings, get_settings

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.8


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
    """Warnings for every (company, region) whose current utilisation >= `threshold`."""
    from realtime.domain import utcnow
    from realtime.pool import open_pool_store
    from realtime.store import open_event_store

    settings = settings or get_settings()
    store = open_event_store(settings)
    try:
        company_ids = [c.id for c in store.list_companies()]
    finally:
        store.close()

    now = utcnow()
    warnings: list[str] = []
    pool = open_pool_store(settings)
    try:
        for company_id in company_ids:
            stats = pool.stats(company_id, now, now - timedelta(days=1))
            for region in stats.regions:
                if region.bound <= 0:
                    continue
                utilisation = region.leased_now / region.bound
                if utilisation >= threshold:
                    warnings.append(
                        f"{company_id} {region.region}: {region.leased_now}/{region.bound} "
                        f"bound numbers leased ({utilisation:.0%} >= {threshold:.0%}), "
                        f"{region.free_inventory} free in inventory"
                    )
    finally:
        pool.close()
    for line in warnings:
        logging.warning("pool health: %s", line)
    return warnings
