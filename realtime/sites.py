"""A short-lived in-process cache of sites by key: every widget request names its site,
and site settings change rarely. A change reaches every replica within `ttl` seconds."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from realtime.domain import Site
from realtime.store import EventStore


class SiteCache:
    def __init__(
        self,
        store: EventStore,
        ttl: float = 30.0,
        miss_ttl: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store, self._ttl, self._miss_ttl, self._clock = store, ttl, miss_ttl, clock
        self._entries: dict[str, tuple[float, Site | None]] = {}
        self._lock = threading.Lock()

    def get(self, site_key: str) -> Site | None:
        now = self._clock()
        with self._lock:
            entry = self._entries.get(site_key)
        if entry and entry[0] > now:
            return entry[1]
        site = self._store.get_site_by_key(site_key)
        # Unknown keys are remembered briefly too, so a bogus key cannot hammer the store.
        expires = now + (self._ttl if site else self._miss_ttl)
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[site_key] = (expires, site)
        return site
