"""Property tests of the pool's invariants, on both backends, under random histories of
visits, renewals, calls, sweeps and time passing (hypothesis stateful testing):

- no number is leased to two live sessions unless the later lease is flagged shared;
- no number is bound to two companies;
- a quarantined number is never bound before its quarantine ends;
- the lease intervals of one number never overlap, except shared ones.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from realtime.pool.models import InventoryNumber, PoolPolicy
from realtime.pool.redis import RedisPoolStore
from realtime.pool.sqlite import SQLitePoolStore
from tests.conftest import T0

POLICY = PoolPolicy(binding_days=2, quarantine_min_days=1, quarantine_max_days=3)
HOLD = timedelta(minutes=20)
COMPANIES = ["acme", "globex"]
REGIONS = ["RU-MOW", "RU-SPE"]
INVENTORY = [InventoryNumber(number=f"+7495800{i:04d}", region="RU-MOW") for i in range(3)] + [
    InventoryNumber(number=f"+7812800{i:04d}", region="RU-SPE") for i in range(2)
]


@dataclass
class ModelLease:
    number: str
    company: str
    start: datetime
    until: datetime
    shared: bool


class PoolMachine(RuleBasedStateMachine):
    backend = "sqlite"

    @initialize()
    def open_pool(self):
        self.now = T0
        self.leases: list[ModelLease] = []
        self.quarantine_until: dict[str, datetime] = {}
        self.bound_to: dict[str, str] = {}
        if self.backend == "sqlite":
            self.pool = SQLitePoolStore(":memory:")
        else:
            self.client = redis.Redis(host="127.0.0.1", decode_responses=True)
            self.prefix = f"cpprop:{uuid.uuid4().hex[:8]}:"
            self.pool = RedisPoolStore(self.client, self.prefix)
        self.pool.import_numbers(INVENTORY)

    def teardown(self):
        if self.backend == "redis":
            keys = list(self.client.scan_iter(match=f"{self.prefix}*", count=1000))
            if keys:
                self.client.delete(*keys)
            self.client.close()
        else:
            self.pool.close()

    @rule(
        company=st.sampled_from(COMPANIES),
        regions=st.lists(st.sampled_from(REGIONS), min_size=1, max_size=2, unique=True),
        share=st.booleans(),
    )
    def visit(self, company, regions, share):
        grant = self.pool.acquire(company, "s", regions, self.now, self.now + HOLD, share)
        if grant.number is None:
            return
        if grant.outcome == "grown":
            assert self.now >= self.quarantine_until.get(grant.number, T0), "quarantine violated"
            assert grant.number not in self.bound_to, "grew a number that is already bound"
            self.bound_to[grant.number] = company
        assert self.bound_to.get(grant.number) == company, "number leased outside its binding"
        self.leases.append(
            ModelLease(grant.number, company, self.now, self.now + HOLD, grant.is_shared)
        )

    @precondition(lambda self: any(lease.until > self.now for lease in self.leases))
    @rule(data=st.data())
    def heartbeat(self, data):
        live = [lease for lease in self.leases if lease.until > self.now]
        lease = data.draw(st.sampled_from(live))
        if self.pool.renew(lease.company, lease.number, self.now, self.now + HOLD):
            lease.until = max(lease.until, self.now + HOLD)

    @rule(minutes=st.sampled_from([1, 10, 19, 21, 60, 60 * 24, 60 * 24 * 3]))
    def time_passes(self, minutes):
        self.now += timedelta(minutes=minutes)

    @precondition(lambda self: bool(self.bound_to))
    @rule(data=st.data())
    def call(self, data):
        number = data.draw(st.sampled_from(sorted(self.bound_to)))
        self.pool.record_call(self.bound_to[number], number, self.now)

    @rule()
    def sweep(self):
        for release in self.pool.sweep(self.now, POLICY):
            assert self.bound_to.pop(release.number) == release.company_id
            assert not any(
                lease.number == release.number and lease.until > self.now for lease in self.leases
            ), "released a number with a live lease"
            self.quarantine_until[release.number] = release.quarantine_until

    @invariant()
    def one_exclusive_live_lease_per_number(self):
        live = [lease for lease in getattr(self, "leases", []) if lease.until > self.now]
        exclusive = [lease.number for lease in live if not lease.shared]
        assert len(exclusive) == len(set(exclusive))

    @invariant()
    def one_company_per_number(self):
        if not hasattr(self, "pool"):
            return
        for state in self.pool.list_states():
            if state.kind == "dynamic":
                assert state.company_id == self.bound_to.get(state.number)

    @invariant()
    def exclusive_intervals_never_overlap(self):
        by_number: dict[str, list[ModelLease]] = {}
        for lease in getattr(self, "leases", []):
            if not lease.shared:
                by_number.setdefault(lease.number, []).append(lease)
        for leases in by_number.values():
            leases.sort(key=lambda lease: lease.start)
            for earlier, later in itertools.pairwise(leases):
                assert later.start >= earlier.until, "exclusive leases overlap"


RUN = settings(
    max_examples=40,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@RUN
class SQLitePoolMachine(PoolMachine):
    backend = "sqlite"


@RUN
class RedisPoolMachine(PoolMachine):
    backend = "redis"


TestSQLitePoolInvariants = SQLitePoolMachine.TestCase
TestRedisPoolInvariants = RedisPoolMachine.TestCase
