"""The dynamic number pool: inventory, bindings, leases, quarantine, sizing."""

from __future__ import annotations

from realtime.pool.base import PoolStore
from realtime.settings import Settings

__all__ = ["PoolStore", "open_pool_store"]


def open_pool_store(settings: Settings) -> PoolStore:
    """Open the store named by `CALLPATH_POOL_STORE_URL`."""
    url = settings.pool_store_url
    if url.startswith("sqlite:///"):
        from pathlib import Path

        from realtime.pool.sqlite import SQLitePoolStore

        return SQLitePoolStore(Path(url.removeprefix("sqlite:///")), settings.sqlite_synchronous)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from realtime.pool.redis import RedisPoolStore

        return RedisPoolStore.from_url(url)
    raise ValueError(
        f"CALLPATH_POOL_STORE_URL={url!r} is not supported: use sqlite:///PATH or redis://HOST"
    )
