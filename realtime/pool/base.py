"""The pool-state interface. SQLite (embedded) and Redis (production) implement it
and pass one contract suite (`tests/integration/test_pool_contract.py`).

A pool store is the single authority on which number is free. Every operation that
could race (acquire, renew, sweep) is atomic inside the store: a SQLite
`BEGIN IMMEDIATE` transaction or a Redis Lua script.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from realtime.pool.models import Grant, InventoryNumber, NumberState, PoolPolicy, PoolStats, Release


class PoolStore(Protocol):
    def import_numbers(self, numbers: list[InventoryNumber]) -> int:
        """Add numbers to the inventory; numbers already known are left alone."""
        ...

    def acquire(
        self,
        company_id: str,
        session_id: str,
        regions: list[str],
        now: datetime,
        until: datetime,
        share_when_exhausted: bool,
    ) -> Grant:
        """Lease a number to a session, trying `regions` in order:
        1. a number already bound to the company, free now (least recently active first);
        2. growth: bind a free inventory number (unbound, out of quarantine);
        3. exhausted: share the company's least recently active number, or give up.
        Exhaustion is counted either way."""
        ...

    def renew(self, company_id: str, number: str, now: datetime, until: datetime) -> bool:
        """Extend the lease a live session holds; False if the number left the company."""
        ...

    def record_call(self, company_id: str, number: str, at: datetime) -> None:
        """A call keeps the binding alive (14 days after the last call or show)."""
        ...

    def state(self, number: str) -> NumberState | None: ...

    def list_states(self, company_id: str | None = None) -> list[NumberState]: ...

    def sweep(self, now: datetime, policy: PoolPolicy) -> list[Release]:
        """End bindings idle for `policy.binding_days` and quarantine those numbers."""
        ...

    def stats(self, company_id: str, now: datetime, since: datetime) -> PoolStats: ...

    def hit_rate_limit(self, key: str, now: datetime, window_seconds: int) -> int:
        """Count one hit for `key` in the current fixed window; returns the count."""
        ...

    def close(self) -> None: ...
