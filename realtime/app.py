"""The realtime service: `create_app()` wires settings, stores, clock and the domain routers."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from realtime.callbacks.router import router as callbacks_router
from realtime.calls.router import router as calls_router
from realtime.clock import SystemClock
from realtime.errors import install_error_handlers
from realtime.leads.router import router as leads_router
from realtime.live.router import router as live_router
from realtime.mango.router import router as mango_router
from realtime.middleware import BodySizeLimit
from realtime.pbx.router import router as pbx_router
from realtime.pool import PoolStore, open_pool_store
from realtime.pool.geo import open_resolver
from realtime.pool.router import router as pool_router
from realtime.pool.service import PoolService
from realtime.redirect.commands import MangoCommands
from realtime.redirect.pace import shared_route_pace
from realtime.redirect.router import router as redirect_router
from realtime.reports.router import router as reports_router
from realtime.settings import Settings, get_settings
from realtime.sites import SiteCache
from realtime.store import EventStore, open_event_store
from realtime.visits.router import router as visits_router
from realtime.visits.sessions_router import router as sessions_router
from realtime.webhooks.router import router as webhooks_router
from realtime.webhooks.worker import start_in_background as start_webhook_worker
from realtime.widget.router import router as widget_router


def create_app(
    settings: Settings | None = None,
    store: EventStore | None = None,
    clock: object | None = None,
    pool: PoolStore | None = None,
) -> FastAPI:
    """Build the app. Stores passed in stay the caller's to close; stores opened here
    from settings are closed on shutdown."""
    settings = settings or get_settings()
    owned = []
    if store is None:
        store = open_event_store(settings)
        owned.append(store)
    if pool is None:
        pool = open_pool_store(settings)
        owned.append(pool)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        webhooks = (
            start_webhook_worker(app.state.store, app.state.clock, settings)
            if settings.webhooks_worker_enabled
            else None
        )
        app.state.mango_commands.ensure_poller()  # due automatic callbacks
        yield
        await app.state.mango_commands.close()
        if webhooks is not None:
            await webhooks.stop()
        for resource in owned:
            resource.close()

    app = FastAPI(
        title="callpath realtime",
        version="0.1.0",
        summary="Dynamic call tracking: visits, tracking numbers and PBX events.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.pool = pool
    app.state.clock = clock or SystemClock()
    app.state.sites = SiteCache(store)
    app.state.mango_commands = MangoCommands(
        store, app.state.clock, settings, shared_pace=shared_route_pace(settings)
    )
    geo = open_resolver(str(settings.geoip_path)) if settings.geoip_path else None
    app.state.pool_service = PoolService(
        pool, store, geo, new_sessions_per_ip_per_minute=settings.new_sessions_per_ip_per_minute
    )

    # The widget calls us from clients' own sites. No cookies cross origins (the visitor
    # id is the client's first-party cookie), so any origin may call without credentials.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["GET", "POST"],
        allow_headers=["Content-Type", "Authorization", "X-Api-Key"],
        max_age=86400,
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    install_error_handlers(app)
    app.include_router(visits_router)
    app.include_router(mango_router)
    app.include_router(widget_router)
    app.include_router(pool_router)
    app.include_router(webhooks_router)
    app.include_router(sessions_router)
    app.include_router(calls_router)
    app.include_router(leads_router)
    app.include_router(callbacks_router)
    app.include_router(reports_router)
    app.include_router(live_router)
    app.include_router(pbx_router)
    app.include_router(redirect_router)

    @app.get("/healthz", tags=["ops"], summary="Liveness")
    async def healthz() -> dict:
        return {"status": "ok"}

    return app
