"""FastAPI dependencies shared by every domain router."""

from __future__ import annotations

from fastapi import Request

from realtime.clock import SystemClock
from realtime.pool.service import PoolService
from realtime.settings import Settings
from realtime.store import EventStore


def get_store(request: Request) -> EventStore:
    return request.app.state.store


def get_pool_service(request: Request) -> PoolService:
    return request.app.state.pool_service


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_clock(request: Request) -> SystemClock:
    return request.app.state.clock
