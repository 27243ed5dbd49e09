"""Event-store backends behind one `EventStore` protocol."""

from __future__ import annotations

from realtime.settings import Settings
from realtime.store.base import EventStore, StoreError

__all__ = ["EventStore", "StoreError", "open_event_store"]


def open_event_store(settings: Settings) -> EventStore:
    """Open the store named by `CALLPATH_EVENT_STORE_URL`."""
    url = settings.event_store_url
    if url.startswith("sqlite:///"):
        from realtime.store.sqlite import SQLiteEventStore

        return SQLiteEventStore(settings.sqlite_path(), settings.sqlite_synchronous)
    if url.startswith(("mongodb://", "mongodb+srv://")):
        from realtime.store.mongo import MongoEventStore

        return MongoEventStore.from_url(url, settings.mongodb_database)
    raise ValueError(
        f"CALLPATH_EVENT_STORE_URL={url!r} is not supported: use sqlite:///PATH or mongodb://HOST"
    )
