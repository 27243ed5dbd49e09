"""The realtime service: `create_app()` wires settings, store, clock and the domain routers."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from realtime.clock import SystemClock
from realtime.errors import install_error_handlers
from realtime.mango.router import router as mango_router
from realtime.settings import Settings, get_settings
from realtime.store import EventStore, open_event_store
from realtime.visits.router import router as visits_router


def create_app(
    settings: Settings | None = None,
    store: EventStore | None = None,
    clock: object | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    owns_store = store is None

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        if owns_store:
            app.state.store.close()

    app = FastAPI(
        title="callpath realtime",
        version="0.1.0",
        summary="Dynamic call tracking: visits, tracking numbers and PBX events.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = store if store is not None else open_event_store(settings)
    app.state.clock = clock or SystemClock()

    @app.middleware("http")
    async def limit_body_size(request: Request, call_next):
        # Refuse early on the declared length; a lying client is still cut off by uvicorn's limits.
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > settings.max_body_bytes:
            return JSONResponse(
                status_code=413,
                content={
                    "error": "payload_too_large",
                    "message": f"body over {settings.max_body_bytes} bytes",
                },
            )
        return await call_next(request)

    install_error_handlers(app)
    app.include_router(visits_router)
    app.include_router(mango_router)

    @app.get("/healthz", tags=["ops"], summary="Liveness")
    def healthz() -> dict:
        return {"status": "ok"}

    return app
