"""An injectable clock: production reads the wall clock, the demo and tests set time."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from realtime.domain import to_ms, utcnow


class SystemClock:
    def now(self) -> datetime:
        return utcnow()


class ManualClock:
    """A clock that only moves when told to; thread-safe for the service's threadpool."""

    def __init__(self, start: datetime) -> None:
        self._now = to_ms(start)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, value: datetime) -> None:
        with self._lock:
            self._now = to_ms(value)

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._now = to_ms(self._now + delta)
