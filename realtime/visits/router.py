from __future__ import annotations

import ipaddress

from fastapi import APIRouter, Depends, Request

from realtime.clock import SystemClock
from realtime.dependencies import get_clock, get_pool_service, get_settings_dep, get_store
from realtime.pool.service import PoolService
from realtime.settings import Settings
from realtime.store import EventStore
from realtime.visits import service
from realtime.visits.schemas import PingIn, VisitIn, VisitOut

router = APIRouter(prefix="/v1/visits", tags=["visits"])

# The handlers are `async` on purpose although the stores are synchronous: a visit costs
# ~0.3 ms of store work, far less than a hop through the threadpool, and running on the
# event loop avoids 40 threads fighting over the GIL and the store's lock. Measured in
# BENCHMARKS.md.


def client_ip(request: Request, settings: Settings) -> str | None:
    """The visitor's IP: the peer, or X-Forwarded-For only when the peer is a trusted proxy.

    We walk X-Forwarded-For from the right and stop at the first address that is not
    one of our proxies: anything further left was written by the client and can lie.
    """
    peer = request.client.host if request.client else None
    if peer is None or not settings.trusted_proxies:
        return peer
    networks = [ipaddress.ip_network(p, strict=False) for p in settings.trusted_proxies]

    def trusted(addr: str) -> bool:
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            return False
        return any(ip in net for net in networks)

    if not trusted(peer):
        return peer
    forwarded = [
        a.strip() for a in request.headers.get("x-forwarded-for", "").split(",") if a.strip()
    ]
    for addr in reversed(forwarded):
        if not trusted(addr):
            return addr
    return peer


@router.post("", response_model=VisitOut, summary="Record a page view and lease a tracking number")
async def post_visit(
    visit: VisitIn,
    request: Request,
    store: EventStore = Depends(get_store),
    pool: PoolService = Depends(get_pool_service),
    settings: Settings = Depends(get_settings_dep),
    clock: SystemClock = Depends(get_clock),
) -> VisitOut:
    return service.record_visit(
        store,
        request.app.state.sites,
        pool,
        settings,
        visit,
        client_ip(request, settings),
        request.headers.get("user-agent"),
        clock.now(),
    )


@router.post(
    "/{session_id}/ping",
    response_model=VisitOut,
    summary="Heartbeat: keep the session and its tracking number alive",
)
async def post_ping(
    session_id: str,
    ping: PingIn,
    request: Request,
    store: EventStore = Depends(get_store),
    pool: PoolService = Depends(get_pool_service),
    settings: Settings = Depends(get_settings_dep),
    clock: SystemClock = Depends(get_clock),
) -> VisitOut:
    return service.ping(
        store, request.app.state.sites, pool, settings, ping.site_key, session_id, clock.now()
    )
