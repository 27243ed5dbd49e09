"""FastAPI dependencies shared by every domain router.

They are `async` although they only read app state: FastAPI runs a plain `def`
dependency in the threadpool, and four thread hops per request cost more than the
whole visit (BENCHMARKS.md).
"""

from __future__ import annotations

from fastapi import Request

from realtime.clock import SystemClock
from realtime.pool.service import PoolService
from realtime.settings import Settings
from realtime.store import EventStore


async def get_store(request: Request) -> EventStore:
    return request.app.state.store


async def get_pool_service(request: Request) -> PoolService:
    return request.app.state.pool_service


async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


async def get_clock(request: Request) -> SystemClock:
    return request.app.state.clock
